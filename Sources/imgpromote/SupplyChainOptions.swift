import ArgumentParser
import HTTPTransport
import Promotion
import SupplyChain

/// Flags of the supply-chain work: the signature gate, attachments, the promotion record.
struct SupplyChainOptions: ParsableArguments {
    @Option(name: .customLong("attachments"), help: ArgumentHelp(
        "What travels with the image, written before the destination tag: all (cosign .sig/.att/.sbom tags and OCI referrers), signatures, or none.",
        valueName: "all|signatures|none"))
    var attachments: AttachmentSelection = .all

    @Option(name: .customLong("require-signature"), help: ArgumentHelp(
        "Refuse (exit 8) unless the source digest has a cosign signature by this public key (PEM, as cosign writes it). Repeatable: any one key suffices.",
        valueName: "key.pub"))
    var requireSignature: [String] = []

    @Option(name: .customLong("signature-identity"), help: ArgumentHelp(
        "With --require-signature: the signature must also name this repository (docker-reference, e.g. quay.io/team/app).",
        valueName: "repo"))
    var signatureIdentity: String?

    func validate() throws {
        if signatureIdentity != nil && requireSignature.isEmpty {
            throw CLIError.usage("--signature-identity needs --require-signature")
        }
    }

    /// The signature policy, or nil when no signature is required.
    func policy() throws -> SignaturePolicy? {
        guard !requireSignature.isEmpty else { return nil }
        let keys = try requireSignature.map { path -> PublicKey in
            guard let bytes = LocalFile.read(path, limit: 1 << 20) else {
                throw CLIError.usage("--require-signature: cannot read \(path)")
            }
            do {
                return try PublicKey(pem: String(decoding: bytes, as: UTF8.self))
            } catch {
                throw CLIError.usage("--require-signature \(path): \(error)")
            }
        }
        return SignaturePolicy(keys: keys, identity: signatureIdentity)
    }

    /// The engine hooks for one promotion between these two sides.
    func hooks(source: ResolvedSide, destination: ResolvedSide, jobs: Int, quiet: Bool) throws -> PromotionHooks {
        let log: @Sendable (String) -> Void = { line in if !quiet { printErr("imgpromote: " + line) } }
        return SupplyChainHooks(source: PromotionSide(client: source.client, repository: source.reference.repository),
                                destination: PromotionSide(client: destination.client, repository: destination.reference.repository),
                                policy: try policy(), attachments: attachments, jobs: jobs, log: log).hooks()
    }
}

extension AttachmentSelection: ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument) }
}
