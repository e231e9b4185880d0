import FoundationEssentials
import HTTPTransport

/// Lookups for what is attached to a manifest: tags, the referrers API, manifests that may be absent,
/// and manifest pushes that report whether the registry indexed a `subject`.
extension RegistryClient {
    /// A manifest by tag or digest, or nil when the registry has none (404).
    public func manifestIfPresent(repository: String, reference: String) async throws -> ManifestDocument? {
        do {
            return try await manifest(repository: repository, reference: reference)
        } catch let error as RegistryError where error.kind == .notFound {
            return nil
        }
    }

    /// What the referrers API says about a digest.
    public enum ReferrersAnswer: Sendable {
        /// The registry implements the API; these are the referrers' descriptors (maybe none).
        case listed([Descriptor])
        /// No referrers API here (404, 400, 405, 501): use the `sha256-HEX` fallback tag.
        case unsupported
        /// As `unsupported`, and the answer speaks for the whole registry: a 404 that is not a
        /// distribution error (the route does not exist; a registry with the API never answers 404 for a
        /// repository it has, OCI distribution spec), 405 or 501. Later queries to this host may be skipped.
        case unsupportedByRegistry
    }

    /// `GET /v2/NAME/referrers/DIGEST`, following `Link` pages (bounded).
    public func referrers(repository: String, digest: String) async throws -> ReferrersAnswer {
        var next: String? = url("\(repository)/referrers/\(digest)")
        var all: [Descriptor] = []
        var pages = 0
        while let page = next, pages < 32 {
            pages += 1
            let request = HTTPRequest(method: "GET", url: page, headers: ["Accept": MediaType.ociIndex],
                                      maxResponseBytes: ManifestDocument.maxSize, timeouts: .init(totalSeconds: 120))
            let response = try await execute(request, repository: repository, actions: ["pull"],
                                             what: "GET referrers \(repository)@\(digest)")
            switch response.status {
            case 200:
                guard let index = try? JSONDecoder().decode(ImageIndex.self, from: Data(response.body)) else {
                    // Not an image index: whatever answered is not a referrers API (a proxy's HTML page).
                    log("GET referrers \(repository)@\(digest): the answer is not an image index; using the fallback tag")
                    return .unsupported
                }
                all += index.manifests.filter { ImageReference.isValidDigest($0.digest) }
                next = try Self.nextPage(link: response.headers["Link"], host: host, scheme: knownScheme,
                                         repository: repository, listing: "referrers list")
            case 404 where pages == 1:
                // `NAME_UNKNOWN` and friends: this repository is unknown, which says nothing about the API.
                let body = RegistryErrorResponse.decode(status: response.status, body: response.body)
                return body.errors.isEmpty ? .unsupportedByRegistry : .unsupported
            case 405, 501:
                return .unsupportedByRegistry
            case 400 where pages == 1:
                return .unsupported
            default:
                throw RegistryError.from(response: response, host: host, what: "referrers of \(repository)@\(digest)")
            }
        }
        return .listed(all)
    }

    /// PUT a manifest's bytes; reports the stored digest and whether the registry answered `OCI-Subject`
    /// (it indexed the manifest's `subject` for the referrers API, so no fallback tag is needed).
    public func pushManifest(repository: String, reference: String,
                             document: ManifestDocument) async throws -> (digest: String, subjectIndexed: Bool) {
        let request = HTTPRequest(method: "PUT", url: url("\(repository)/manifests/\(reference)"),
                                  headers: ["Content-Type": document.mediaType], body: document.bytes,
                                  timeouts: .init(totalSeconds: 300))
        let what = "PUT manifest \(repository):\(reference)"
        let response = try await execute(request, repository: repository, actions: ["pull", "push"], what: what)
        guard (200..<300).contains(response.status) else {
            throw RegistryError.from(response: response, host: host, what: what)
        }
        let reported = response.headers["Docker-Content-Digest"] ?? document.digest
        if reported != document.digest {
            throw RegistryError(.integrity, "\(host)/\(repository):\(reference): registry stored the manifest as \(reported), expected \(document.digest)")
        }
        return (reported, response.headers["OCI-Subject"] != nil)
    }

    /// Uploads a small blob in one request (`POST` then `PUT ?digest=`); skipped when present.
    public func pushBlob(repository: String, bytes: [UInt8], mediaType: String) async throws -> Descriptor {
        let digest = SHA256.digest(bytes)
        let descriptor = Descriptor(mediaType: mediaType, digest: digest, size: Int64(bytes.count))
        if try await headBlob(repository: repository, digest: digest) != nil { return descriptor }
        let location = try await startUpload(repository: repository)
        let request = HTTPRequest(method: "PUT", url: Self.appending(query: "digest=\(digest)", to: location),
                                  headers: ["Content-Type": "application/octet-stream"], body: bytes,
                                  timeouts: .init(totalSeconds: 300))
        let response = try await execute(request, repository: repository, actions: ["pull", "push"],
                                         what: "upload blob \(digest) to \(repository)", retryable: false)
        guard response.status == 201 || response.status == 204 || response.status == 200 else {
            throw RegistryError.from(response: response, host: host, what: "upload blob \(digest) to \(repository)")
        }
        return descriptor
    }
}
