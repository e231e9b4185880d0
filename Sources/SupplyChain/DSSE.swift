import FoundationEssentials

/// A DSSE envelope (secure-systems-lab/dsse v1), the form cosign stores attestations in.
public struct DSSEEnvelope: Sendable, Codable, Equatable {
    public struct Signature: Sendable, Codable, Equatable {
        public var keyid: String
        public var sig: String
    }
    public var payloadType: String
    /// Base64 of the payload bytes.
    public var payload: String
    public var signatures: [Signature]

    public static let inTotoPayloadType = "application/vnd.in-toto+json"

    public init(payloadType: String, payload: [UInt8], signatures: [Signature] = []) {
        self.payloadType = payloadType
        self.payload = Data(payload).base64EncodedString()
        self.signatures = signatures
    }

    /// Pre-authentication encoding: what is signed (`DSSEv1 LEN(type) type LEN(body) body`).
    public static func pae(payloadType: String, payload: [UInt8]) -> [UInt8] {
        let type = Array(payloadType.utf8)
        return Array("DSSEv1 \(type.count) ".utf8) + type + Array(" \(payload.count) ".utf8) + payload
    }

    public var payloadBytes: [UInt8]? { Data(base64Encoded: payload).map(Array.init) }

    /// Signs the payload with `key`; the key id is the public key's fingerprint.
    public static func signed(payloadType: String, payload: [UInt8], key: PrivateKey) throws(KeyError) -> DSSEEnvelope {
        let sig = try key.sign(pae(payloadType: payloadType, payload: payload))
        return DSSEEnvelope(payloadType: payloadType, payload: payload,
                            signatures: [Signature(keyid: key.publicKey.fingerprint, sig: Data(sig).base64EncodedString())])
    }

    /// Fingerprints of the `keys` with a valid signature on this envelope.
    public func verifiedBy(_ keys: [PublicKey]) -> [String] {
        guard let body = payloadBytes else { return [] }
        let message = Self.pae(payloadType: payloadType, payload: body)
        var out: [String] = []
        for s in signatures {
            guard let sig = Data(base64Encoded: s.sig) else { continue }
            for k in keys where !out.contains(k.fingerprint) && k.verify(signature: Array(sig), message: message) {
                out.append(k.fingerprint)
            }
        }
        return out
    }

    public func encoded() throws -> [UInt8] { Array(try JSONEncoder.sorted.encode(self)) }

    public static func decode(_ bytes: [UInt8]) -> DSSEEnvelope? { try? JSONDecoder().decode(DSSEEnvelope.self, from: Data(bytes)) }
}
