import OCIRegistry

/// A registry endpoint whose every request passes through its registry's `RequestGate`.
public struct GatedEndpoint: RegistryEndpoint {
    public let inner: any RegistryEndpoint
    public let gate: RequestGate

    public init(_ inner: any RegistryEndpoint, gate: RequestGate) {
        self.inner = inner
        self.gate = gate
    }

    public var host: String { inner.host }

    public func declare(repository: String, actions: [String]) async {
        await inner.declare(repository: repository, actions: actions)
    }

    public func headManifest(repository: String, reference: String) async throws -> RegistryClient.ManifestHead? {
        try await gate.run { try await inner.headManifest(repository: repository, reference: reference) }
    }

    public func manifest(repository: String, reference: String) async throws -> ManifestDocument {
        try await gate.run { try await inner.manifest(repository: repository, reference: reference) }
    }

    @discardableResult
    public func putManifest(repository: String, reference: String, document: ManifestDocument) async throws -> String {
        try await gate.run { try await inner.putManifest(repository: repository, reference: reference, document: document) }
    }

    public func headBlob(repository: String, digest: String) async throws -> Int64? {
        try await gate.run { try await inner.headBlob(repository: repository, digest: digest) }
    }

    public func mount(repository: String, digest: String, from source: String) async throws -> RegistryClient.MountResult {
        try await gate.run { try await inner.mount(repository: repository, digest: digest, from: source) }
    }

    /// Holds a slot on both registries for the whole stream: always the source's first, so two copies
    /// can never wait on each other's gate.
    public func copyBlob(_ blob: Descriptor, from source: any RegistryEndpoint, sourceRepository: String,
                         to repository: String, session: String?, progress: (@Sendable (Int64) -> Void)?) async throws {
        let gatedSource = source as? GatedEndpoint
        let rawSource = gatedSource?.inner ?? source
        let inner = self.inner
        let copy: @Sendable () async throws -> Void = {
            try await gate.run {
                try await inner.copyBlob(blob, from: rawSource, sourceRepository: sourceRepository, to: repository,
                                         session: session, progress: progress)
            }
        }
        if let sourceGate = gatedSource?.gate, sourceGate !== gate {
            try await sourceGate.run { try await copy() }
        } else {
            try await copy()
        }
    }

    public func tags(repository: String) async throws -> [String] {
        try await gate.run { try await inner.tags(repository: repository) }
    }

    public func deleteTag(repository: String, tag: String) async throws {
        try await gate.run { try await inner.deleteTag(repository: repository, tag: tag) }
    }
}
