import OCIRegistry
import Promotion

/// One side of a promotion as the supply-chain hooks see it.
public struct PromotionSide: Sendable {
    public var client: RegistryClient
    public var repository: String
    public init(client: RegistryClient, repository: String) {
        self.client = client
        self.repository = repository
    }
}

/// Everything the supply-chain work of one image needs, turned into the engine's hooks. The closures
/// carry their own clients and repositories, so any engine (one copy, a release) can run them per image.
public struct SupplyChainHooks: Sendable {
    public var source: PromotionSide
    public var destination: PromotionSide
    /// Signature gate (nil: no signature required).
    public var policy: SignaturePolicy?

    public init(source: PromotionSide, destination: PromotionSide, policy: SignaturePolicy? = nil) {
        self.source = source
        self.destination = destination
        self.policy = policy
    }

    /// The hooks; `base` keeps whatever else the caller set (e.g. a permission preflight).
    public func hooks(_ base: PromotionHooks = PromotionHooks()) -> PromotionHooks {
        var hooks = base
        if let policy {
            let gate = SignatureGate(client: source.client, repository: source.repository, policy: policy)
            let previous = base.verifySource
            hooks.verifySource = { digest in
                try await previous?(digest)
                try await gate.verify(digest: digest)
            }
        }
        return hooks
    }
}
