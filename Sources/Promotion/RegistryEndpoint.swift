import OCIRegistry

/// What the promotion engines need from one registry, and nothing else: the seam between orchestration
/// (which knows no HTTP) and the protocol client. `RegistryClient` is the real one; tests plug in an
/// in-process registry and run the planner, ordering and failure logic in milliseconds.
public protocol RegistryEndpoint: Sendable {
    /// `host[:port]`: two endpoints with the same host are one registry (mounts instead of copies).
    var host: String { get }
    /// Ask for these actions on `repository` in every token (no-op without token auth).
    func declare(repository: String, actions: [String]) async
    func headManifest(repository: String, reference: String) async throws -> RegistryClient.ManifestHead?
    /// The manifest's original bytes, digest verified.
    func manifest(repository: String, reference: String) async throws -> ManifestDocument
    @discardableResult
    func putManifest(repository: String, reference: String, document: ManifestDocument) async throws -> String
    func headBlob(repository: String, digest: String) async throws -> Int64?
    /// Cross-repository mount within this registry.
    func mount(repository: String, digest: String, from source: String) async throws -> RegistryClient.MountResult
    /// Streams `blob` from `source` into `repository` here, verifying its digest; `session` reuses an
    /// upload a refused mount opened.
    func copyBlob(_ blob: Descriptor, from source: any RegistryEndpoint, sourceRepository: String,
                  to repository: String, session: String?, progress: (@Sendable (Int64) -> Void)?) async throws
    /// Every tag of `repository` (all pages of `/tags/list`).
    func tags(repository: String) async throws -> [String]
    /// Removes a tag, not its manifest; throws when the registry refuses (many only delete by digest).
    func deleteTag(repository: String, tag: String) async throws
}

extension RegistryClient: RegistryEndpoint {
    public func copyBlob(_ blob: Descriptor, from source: any RegistryEndpoint, sourceRepository: String,
                         to repository: String, session: String?, progress: (@Sendable (Int64) -> Void)?) async throws {
        guard let source = source as? RegistryClient else {
            throw RegistryError(.other, "\(host): cannot stream a blob from a source that is not a registry client")
        }
        try await copyBlob(blob, from: source, sourceRepository: sourceRepository, to: repository,
                           session: session, progress: progress)
    }

    public func tags(repository: String) async throws -> [String] {
        try await tagList(repository: repository)
    }
}
