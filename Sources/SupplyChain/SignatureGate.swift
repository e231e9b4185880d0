import OCIRegistry

/// The gate: before anything moves, the source digest must carry a sigstore signature the policy
/// accepts. Reads the source's `sha256-HEX.sig` manifest and its payload blobs.
public struct SignatureGate: Sendable {
    public let client: RegistryClient
    public let repository: String
    public let policy: SignaturePolicy
    /// At most this many signature layers are read (a hostile `.sig` could list thousands).
    public static let maxLayers = 64
    /// Simple-signing payloads are a few hundred bytes.
    public static let maxPayloadBytes = 64 << 10

    public init(client: RegistryClient, repository: String, policy: SignaturePolicy) {
        self.client = client
        self.repository = repository
        self.policy = policy
    }

    /// Throws `PolicyRefusal` unless `digest` is signed as the policy requires; returns the accepting
    /// key's fingerprint.
    @discardableResult
    public func verify(digest: String) async throws -> String {
        let layers = try await Self.signatureLayers(client: client, repository: repository, digest: digest)
        switch policy.check(layers, digest: digest, subject: "\(client.host)/\(repository)@\(digest)") {
        case .success(let key): return key
        case .failure(let refusal): throw refusal
        }
    }

    /// The layers of `sha256-HEX.sig` with their payloads (empty when there is no such tag).
    public static func signatureLayers(client: RegistryClient, repository: String,
                                       digest: String) async throws -> [SignatureLayer] {
        guard let sig = try await client.manifestIfPresent(repository: repository,
                                                           reference: Cosign.tag(for: digest, .signature)),
              case .image(let manifest) = sig.content else { return [] }
        let layers = Array(manifest.layers.prefix(maxLayers))
        return try await withThrowingTaskGroup(of: (Int, SignatureLayer?).self) { group in
            for (i, layer) in layers.enumerated() {
                group.addTask {
                    guard layer.mediaType == Cosign.simpleSigningMediaType, layer.size <= Int64(maxPayloadBytes) else {
                        return (i, SignatureLayer(mediaType: layer.mediaType, payload: [], annotations: layer.annotations ?? [:]))
                    }
                    let bytes = try await client.blob(repository: repository, descriptor: layer, limit: maxPayloadBytes)
                    return (i, SignatureLayer(mediaType: layer.mediaType, payload: bytes, annotations: layer.annotations ?? [:]))
                }
            }
            var out = [SignatureLayer?](repeating: nil, count: layers.count)
            for try await (i, l) in group { out[i] = l }
            return out.compactMap { $0 }
        }
    }
}
