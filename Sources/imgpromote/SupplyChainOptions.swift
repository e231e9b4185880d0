import ArgumentParser
import HTTPTransport
import Promotion
import SupplyChain

/// Flags of the supply-chain work: the signature gate, attachments, the promotion record.
struct SupplyChainOptions: ParsableArguments {
    @Option(name: .customLong("attachments"), help: ArgumentHelp(
        "What travels with the image, written before the destination tag: all (cosign .sig/.att/.sbom tags and OCI referrers), signatures, or none.",
        valueName: "all|signatures|none"))
    var attachments: String = AttachmentSelection.all.rawValue

    /// Checked in `validate()` rather than by the parser (whose invalid-value path leaks under LSan).
    var selection: AttachmentSelection { AttachmentSelection(rawValue: attachments) ?? .all }

    @Option(name: .customLong("require-signature"), help: ArgumentHelp(
        "Refuse (exit 8) unless the source digest has a cosign signature by this public key (PEM, as cosign writes it). Repeatable: any one key suffices.",
        valueName: "key.pub"))
    var requireSignature: [String] = []

    @Option(name: .customLong("signature-identity"), help: ArgumentHelp(
        "With --require-signature: the signature must also name this repository (docker-reference, e.g. quay.io/team/app).",
        valueName: "repo"))
    var signatureIdentity: String?

    @Flag(name: .customLong("record"), help: ArgumentHelp(
        "Attach a promotion record to the destination digest: an in-toto statement in a DSSE envelope (cosign attestation layout), saying from where, by whom, when and in which CI run."))
    var record = false

    @Option(name: .customLong("record-key"), help: ArgumentHelp(
        "Sign the record with this key: a cosign private key (password from IMGPROMOTE_RECORD_KEY_PASSWORD, else COSIGN_PASSWORD) or an unencrypted PKCS#8 PEM. Implies --record.",
        valueName: "cosign.key"))
    var recordKey: String?

    func validate() throws {
        guard AttachmentSelection(rawValue: attachments) != nil else {
            throw ValidationError("--attachments must be all, signatures or none")
        }
        if signatureIdentity != nil && requireSignature.isEmpty {
            throw ValidationError("--signature-identity needs --require-signature")
        }
    }

    /// The signature policy, or nil when no signature is required.
    func policy() throws -> SignaturePolicy? {
        guard !requireSignature.isEmpty else { return nil }
        let keys = try requireSignature.map { path -> PublicKey in
            let bytes = try readInputFile(path, what: "--require-signature key", limit: 1 << 20)
            do {
                return try PublicKey(pem: String(decoding: bytes, as: UTF8.self))
            } catch {
                throw CLIError.usage("--require-signature \(path): \(error)")
            }
        }
        return SignaturePolicy(keys: keys, identity: signatureIdentity)
    }

    /// The record key; its password only ever comes from the environment.
    func signingKey(environment: [String: String]) throws -> PrivateKey? {
        guard let path = recordKey else { return nil }
        let bytes = try readInputFile(path, what: "--record-key key", limit: 1 << 20)
        let password = [environment["IMGPROMOTE_RECORD_KEY_PASSWORD"], environment["COSIGN_PASSWORD"]].compactMap { $0 }.first
        do {
            return try PrivateKey(pem: String(decoding: bytes, as: UTF8.self), password: password)
        } catch {
            throw CLIError.usage("--record-key \(path): \(error)" + (password == nil && "\(error)".contains("password")
                ? " (set IMGPROMOTE_RECORD_KEY_PASSWORD or COSIGN_PASSWORD)" : ""))
        }
    }

    /// The engine hooks for one promotion between these two sides.
    func hooks(source: ResolvedSide, destination: ResolvedSide, jobs: Int, quiet: Bool,
               environment: [String: String], tagListings: TagListings? = nil) async throws -> PromotionHooks {
        let log: @Sendable (String) -> Void = { line in if !quiet { printErr("imgpromote: " + line) } }
        var recordSettings: RecordSettings?
        if record || recordKey != nil {
            func side(_ s: ResolvedSide) async -> PromotionRecord.Side {
                let host = s.client.host, repo = s.reference.repository
                let reference = "\(host)/\(repo)" + (s.reference.tag.map { ":\($0)" } ?? s.reference.digest.map { "@\($0)" } ?? "")
                return PromotionRecord.Side(reference: reference, digest: "", user: try? await s.session?.whoami(),
                                            cluster: s.session?.apiURL)
            }
            recordSettings = RecordSettings(source: await side(source), destination: await side(destination),
                                            destinationName: "\(destination.client.host)/\(destination.reference.repository)",
                                            key: try signingKey(environment: environment), toolVersion: imgpromoteVersion,
                                            environment: environment)
        }
        return SupplyChainHooks(source: PromotionSide(client: source.client, repository: source.reference.repository),
                                destination: PromotionSide(client: destination.client, repository: destination.reference.repository),
                                policy: try policy(), attachments: selection, jobs: jobs, record: recordSettings,
                                tagListings: tagListings, log: log).hooks()
    }
}

