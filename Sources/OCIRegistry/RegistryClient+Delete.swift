import HTTPTransport

extension RegistryClient {
    /// DELETE a tag (OCI distribution 1.1 allows DELETE of a manifest by tag: the tag goes, the
    /// manifest stays). Registries that only delete by digest refuse (docker-registry 2.x answers
    /// 400/405 UNSUPPORTED, or 405 when deletes are disabled): that throws, like any other refusal.
    /// A tag that is already gone counts as deleted.
    public func deleteTag(repository: String, tag: String) async throws {
        let request = HTTPRequest(method: "DELETE", url: url("\(repository)/manifests/\(tag)"),
                                  timeouts: .init(totalSeconds: 60))
        let what = "DELETE tag \(repository):\(tag)"
        let response = try await execute(request, repository: repository, actions: ["pull", "push", "delete"], what: what)
        guard (200..<300).contains(response.status) || response.status == 404 else {
            throw RegistryError.from(response: response, host: host, what: what)
        }
    }
}
