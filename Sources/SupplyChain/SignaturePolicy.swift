import FoundationEssentials

/// Why the gate refused an image. The CLI reports these as policy refusals (exit 8).
public struct PolicyRefusal: Error, Sendable, CustomStringConvertible {
    public enum Reason: String, Sendable {
        /// No sigstore signature at all (no `.sig` tag, or no simple-signing layer in it).
        case noSignature
        /// Signatures exist, but none verifies with a required key.
        case otherKey
        /// A required key signed a payload naming another manifest digest.
        case otherDigest
        /// A required key signed the digest, but for another repository than `--signature-identity`.
        case otherIdentity
    }
    public var reason: Reason
    /// One line, ready to print.
    public var message: String
    /// What is wrong, without naming the image ("no sigstore signature").
    public var detail: String

    public init(_ reason: Reason, _ message: String, detail: String? = nil) {
        self.reason = reason
        self.message = message
        self.detail = detail ?? message
    }

    public var description: String { message }
}

/// What must hold for an image to pass: a simple-signing signature by one of `keys`, over a payload
/// naming the image's digest (and, when set, `identity` as its docker-reference).
public struct SignaturePolicy: Sendable {
    public var keys: [PublicKey]
    public var identity: String?

    public init(keys: [PublicKey], identity: String? = nil) {
        self.keys = keys
        self.identity = identity
    }

    /// The outcome for one signature layer.
    public enum Verdict: Sendable, Equatable {
        case accepted(key: String)
        case notASignature(mediaType: String)
        case unverified
        case otherDigest(String)
        case otherIdentity(String)
        case malformedPayload
    }

    /// Checks one layer against `digest`. The signature is checked before the payload is read: an
    /// unsigned payload says nothing.
    public func evaluate(_ layer: SignatureLayer, digest: String) -> Verdict {
        guard layer.mediaType == Cosign.simpleSigningMediaType else { return .notASignature(mediaType: layer.mediaType) }
        guard let b64 = layer.annotations[Cosign.signatureAnnotation], let sig = Data(base64Encoded: b64) else {
            return .unverified
        }
        guard let key = keys.first(where: { $0.verify(signature: Array(sig), message: layer.payload) }) else {
            return .unverified
        }
        guard let payload = SimpleSigningPayload.parse(layer.payload) else { return .malformedPayload }
        guard payload.critical.image.dockerManifestDigest == digest else {
            return .otherDigest(payload.critical.image.dockerManifestDigest)
        }
        if let identity, !Self.identityMatches(payload.critical.identity.dockerReference, identity) {
            return .otherIdentity(payload.critical.identity.dockerReference)
        }
        return .accepted(key: key.fingerprint)
    }

    /// The signed reference names `wanted` itself, or `wanted` with a tag or digest.
    static func identityMatches(_ signed: String, _ wanted: String) -> Bool {
        if signed == wanted { return true }
        var repo = Substring(signed)
        if let at = repo.firstIndex(of: "@") { repo = repo[..<at] }
        if let colon = repo.lastIndex(of: ":"), !repo[colon...].contains("/") { repo = repo[..<colon] }
        return repo == wanted
    }

    /// Passes when any layer is accepted; else the refusal that says most about what is wrong.
    /// - Parameter subject: how to name the image in the message.
    public func check(_ layers: [SignatureLayer], digest: String, subject: String) -> Result<String, PolicyRefusal> {
        let verdicts = layers.map { evaluate($0, digest: digest) }
        var others: [String] = [], identities: [String] = [], unverified = 0, malformed = 0, foreign: [String] = []
        for v in verdicts {
            switch v {
            case .accepted(let key): return .success(key)
            case .otherDigest(let d): others.append(d)
            case .otherIdentity(let r): identities.append(r)
            case .unverified: unverified += 1
            case .malformedPayload: malformed += 1
            case .notASignature(let m): foreign.append(m)
            }
        }
        func refusal(_ reason: PolicyRefusal.Reason, _ detail: String, _ advice: String = "refusing to promote") -> Result<String, PolicyRefusal> {
            .failure(PolicyRefusal(reason, "\(subject): \(detail); \(advice)", detail: detail))
        }
        if let d = others.first {
            return refusal(.otherDigest, "the signature by the required key names another image (\(d))")
        }
        if let r = identities.first {
            return refusal(.otherIdentity, "signed by the required key for \(DiagnosticQuote.quote(r)), not \(identity ?? "")")
        }
        if unverified + malformed > 0 {
            let n = unverified + malformed
            return refusal(.otherKey, "\(n) signature\(n == 1 ? "" : "s") found, none by the required key\(keys.count == 1 ? "" : "s") (\(keys.map(\.fingerprint).map { String($0.prefix(19)) }.joined(separator: ", ")))")
        }
        let detail = foreign.isEmpty ? "no sigstore signature" : "no sigstore signature (only attachments of type \(Set(foreign).sorted().joined(separator: ", ")))"
        return refusal(.noSignature, detail, "sign it (cosign sign --key ...) or drop --require-signature")
    }
}

enum DiagnosticQuote {
    /// Quotes untrusted text for a one-line message: printable ASCII only, bounded.
    static func quote(_ s: String, limit: Int = 200) -> String {
        var out = ""
        for u in s.unicodeScalars.prefix(limit) {
            out.unicodeScalars.append(u.value >= 0x20 && u.value < 0x7F ? u : "?")
        }
        return "\"" + out + (s.unicodeScalars.count > limit ? "…" : "") + "\""
    }
}
