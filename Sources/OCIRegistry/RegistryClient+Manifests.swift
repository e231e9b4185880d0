import HTTPTransport

extension RegistryClient {
    /// What a manifest HEAD says without downloading it.
    public struct ManifestHead: Sendable, Equatable {
        public var digest: String?
        public var mediaType: String?
        public var size: Int64?

        public init(digest: String?, mediaType: String?, size: Int64?) {
            self.digest = digest
            self.mediaType = mediaType
            self.size = size
        }
    }

    /// HEAD a manifest by tag or digest; nil when it does not exist.
    public func headManifest(repository: String, reference: String) async throws -> ManifestHead? {
        let request = HTTPRequest(method: "HEAD", url: url("\(repository)/manifests/\(reference)"),
                                  headers: ["Accept": MediaType.manifestAccept.joined(separator: ", ")],
                                  timeouts: .init(totalSeconds: 120))
        let response = try await execute(request, repository: repository, actions: ["pull"],
                                         what: "HEAD manifest \(repository):\(reference)")
        switch response.status {
        case 200:
            return ManifestHead(digest: response.headers["Docker-Content-Digest"],
                                mediaType: response.headers["Content-Type"].map(Self.stripParameters),
                                size: response.headers["Content-Length"].flatMap { Int64($0) })
        case 404:
            return nil
        default:
            throw RegistryError.from(response: response, host: host, what: "manifest \(repository):\(reference)")
        }
    }

    /// GET a manifest, keeping its bytes verbatim and verifying its digest: against the reference when
    /// it is a digest, and against Docker-Content-Digest when the registry sends one.
    public func manifest(repository: String, reference: String) async throws -> ManifestDocument {
        let request = HTTPRequest(method: "GET", url: url("\(repository)/manifests/\(reference)"),
                                  headers: ["Accept": MediaType.manifestAccept.joined(separator: ", ")],
                                  maxResponseBytes: 4 << 20, timeouts: .init(totalSeconds: 300))
        let what = "manifest \(repository):\(reference)"
        let response = try await execute(request, repository: repository, actions: ["pull"], what: "GET \(what)")
        guard response.status == 200 else {
            if response.status == 404 {
                throw RegistryError(.notFound, "\(host)/\(repository):\(reference) not found", status: 404)
            }
            throw RegistryError.from(response: response, host: host, what: what)
        }
        let document: ManifestDocument
        do {
            document = try ManifestDocument.parse(bytes: response.body, contentType: response.headers["Content-Type"])
        } catch let error as ManifestError {
            throw RegistryError(.integrity, "\(host)/\(repository):\(reference): \(error)")
        }
        if reference.hasPrefix("sha256:"), document.digest != reference {
            throw RegistryError(.integrity, "\(host)/\(repository)@\(reference): manifest content hashes to \(document.digest)")
        }
        if let header = response.headers["Docker-Content-Digest"], header.hasPrefix("sha256:"), header != document.digest {
            throw RegistryError(.integrity, "\(host)/\(repository):\(reference): registry says \(header) but the manifest hashes to \(document.digest)")
        }
        return document
    }

    /// PUT a manifest's original bytes under a tag or its digest; returns the digest the registry reports.
    @discardableResult
    public func putManifest(repository: String, reference: String, document: ManifestDocument) async throws -> String {
        let request = HTTPRequest(method: "PUT", url: url("\(repository)/manifests/\(reference)"),
                                  headers: ["Content-Type": document.mediaType], body: document.bytes,
                                  timeouts: .init(totalSeconds: 300))
        let what = "PUT manifest \(repository):\(reference)"
        // Every blob was verified present just before; a registry that still says a blob is unknown or
        // its link unreadable is catching up with concurrent writers (docker-registry's filesystem
        // storage rewrites link files in place): wait and try again before calling it corrupt.
        let response = try await execute(request, repository: repository, actions: ["pull", "push"], what: what) { response in
            let codes = RegistryErrorResponse.decode(status: response.status, body: response.body).errors.map(\.code)
            guard response.status == 400, codes.contains(where: { $0 == "DIGEST_INVALID" || $0 == "MANIFEST_BLOB_UNKNOWN" })
            else { return nil }
            return "registry answered \(codes.joined(separator: ","))"
        }
        guard (200..<300).contains(response.status) else {
            throw RegistryError.from(response: response, host: host, what: what)
        }
        let reported = response.headers["Docker-Content-Digest"] ?? document.digest
        if reported != document.digest {
            throw RegistryError(.integrity, "\(host)/\(repository):\(reference): registry stored the manifest as \(reported), expected \(document.digest)")
        }
        return reported
    }

    static func stripParameters(_ contentType: String) -> String {
        String(contentType.prefix { $0 != ";" }).trimmingCharacters(in: " \t")
    }
}
