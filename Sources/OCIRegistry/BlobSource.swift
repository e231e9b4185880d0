import HTTPTransport

/// A blob's GET on its source registry, as a destination streams it: the source client authorizes it
/// and heals it by its own rules, so the destination never touches the source's tokens or challenge.
/// The GET follows redirects to storage; libcurl sends Authorization to the registry's host only.
///
/// Use: `request()` for each attempt; when the source answers with something other than the blob,
/// `recover(from:)` returns when the GET is worth another try (it re-authorized once on a 401, or
/// waited out a 429/5xx) and throws the source's `RegistryError` otherwise.
public struct BlobSource: Sendable {
    public let repository: String
    public let digest: String
    /// The source registry's host (for messages and logs).
    public var host: String { exchange.client.host }
    private var exchange: Exchange

    init(client: RegistryClient, repository: String, digest: String) {
        self.repository = repository
        self.digest = digest
        exchange = Exchange(client: client, what: "GET blob \(repository)@\(digest)", repository: repository,
                            actions: ["pull"])
    }

    /// The GET as it goes out now: absolute URL (the scheme settled first, as a streamed GET cannot
    /// race TLS against plain HTTP), the source's current Authorization, redirects followed.
    public mutating func request() async throws -> HTTPRequest {
        let client = exchange.client
        let get = HTTPRequest(method: "GET", url: client.url("\(repository)/blobs/\(digest)"), followRedirects: true)
        return try await exchange.prepare(get, mayRace: false).request
    }

    /// The source answered `response` instead of the blob: returns when the GET should be sent again
    /// (after re-authorizing or waiting); throws the source's error otherwise.
    public mutating func recover(from response: HTTPResponse) async throws {
        guard let final = try await exchange.settle(response) else { return }
        throw RegistryError.from(response: final, host: exchange.client.host, what: exchange.what)
    }
}

extension RegistryClient {
    /// The GET of a blob in `repository` here, for another registry's `copyBlob` to stream.
    public func blobSource(repository: String, digest: String) -> BlobSource {
        BlobSource(client: self, repository: repository, digest: digest)
    }
}
