import HTTPTransport
import OCIRegistry

/// Tag listings of source repositories, shared by the images of one release: ten images from one
/// repository read its (possibly paginated) tag list once. A listing is taken when first asked for
/// and kept for the run.
public final class TagListings: Sendable {
    private let listings = Locked([String: Task<[String]?, any Error>]())

    public init() {}

    /// Every tag of `repository` (all pages), or nil when the registry has no such repository.
    public func tags(client: RegistryClient, repository: String) async throws -> [String]? {
        try await listing(client: client, repository: repository).value
    }

    func listing(client: RegistryClient, repository: String) -> Task<[String]?, any Error> {
        listings.withLock { all in
            let key = "\(client.host)/\(repository)"
            if let task = all[key] { return task }
            let task = Task { try await Self.list(client: client, repository: repository) }
            all[key] = task
            return task
        }
    }

    static func list(client: RegistryClient, repository: String) async throws -> [String]? {
        do {
            // Every page (`Link: rel="next"`): a cosign tag on page 2 must not be missed.
            return try await client.tagList(repository: repository)
        } catch let error as RegistryError where error.kind == .notFound {
            return nil
        }
    }
}
