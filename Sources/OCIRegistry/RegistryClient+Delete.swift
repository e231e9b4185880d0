import HTTPTransport

extension RegistryClient {
    /// DELETE a tag (OCI distribution 1.1 allows DELETE of a manifest by tag: the tag goes, the
    /// manifest stays). Registries that only delete by digest refuse (docker-registry 2.8 answers 400
    /// DIGEST_INVALID, or 405 UNSUPPORTED when deletes are disabled): that throws, like any other refusal.
    /// A tag that is already gone counts as deleted.
    public func deleteTag(repository: String, tag: String) async throws {
        let request = HTTPRequest(method: "DELETE", url: url("\(repository)/manifests/\(tag)"),
                                  timeouts: .init(totalSeconds: 60))
        let what = "DELETE tag \(repository):\(tag)"
        let response = try await execute(request, repository: repository, actions: ["pull", "push", "delete"], what: what)
        if (200..<300).contains(response.status) || response.status == 404 { return }
        let codes = RegistryErrorResponse.decode(status: response.status, body: response.body).errors.map(\.code)
        if response.status == 405 || (response.status == 400 && codes.contains { $0 == "DIGEST_INVALID" || $0 == "UNSUPPORTED" }) {
            // docker-registry 2.x reads the tag as a malformed digest (400 DIGEST_INVALID).
            throw RegistryError(.other, "\(host) does not delete tags, only manifests by digest (HTTP \(response.status))",
                                status: response.status)
        }
        throw RegistryError.from(response: response, host: host, what: what)
    }
}
