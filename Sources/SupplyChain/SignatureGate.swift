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

    /// Throws `PolicyRefusal` unless `digest` — or, when a platform was selected from an index, the index
    /// the user named (`namedDigest`) — is signed as the policy requires; returns the accepting key's
    /// fingerprint. A signature on the index vouches for its platform manifests: it names the index digest,
    /// which fixes every child digest. Both lookups run at once.
    @discardableResult
    public func verify(digest: String, namedDigest: String) async throws -> String {
        guard namedDigest != digest else { return try await verify(digest: digest) }
        async let platform = Result(catching: { try await verify(digest: digest) })
        async let index = Result(catching: { try await verify(digest: namedDigest) })
        let (p, i) = await (platform, index)
        if case .success(let key) = p { return key }
        if case .success(let key) = i { return key }
        guard case .failure(let pe) = p, case .failure(let ie) = i else { preconditionFailure() }
        guard let pr = pe as? PolicyRefusal else { throw pe }
        guard let ir = ie as? PolicyRefusal else { throw ie }
        // The reason that says most (a wrong signature beats a missing one), and what was checked.
        let order: [PolicyRefusal.Reason] = [.otherDigest, .otherIdentity, .otherKey, .noSignature]
        let reason = order.first { $0 == pr.reason || $0 == ir.reason } ?? pr.reason
        throw PolicyRefusal(reason, "\(client.host)/\(repository): no valid signature on the selected platform manifest "
                            + "\(digest) (\(pr.detail)) nor on the index \(namedDigest) (\(ir.detail)); refusing to promote")
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

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}
