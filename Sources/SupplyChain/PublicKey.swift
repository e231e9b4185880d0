import CCrypto
import FoundationEssentials
import HTTPTransport

/// A signature-verification key as cosign writes it: a PEM `PUBLIC KEY` block (PKIX
/// SubjectPublicKeyInfo). ECDSA keys (cosign's default, P-256) and RSA keys verify over SHA-256;
/// Ed25519 keys verify the message itself.
public final class PublicKey: @unchecked Sendable {
    // EVP_PKEY is immutable after parsing; verification uses a fresh context per call.
    let pkey: OpaquePointer
    /// What the key is, for messages: "ECDSA P-256", "RSA 2048", "Ed25519".
    public let algorithm: String
    /// `sha256:` of the DER SubjectPublicKeyInfo: names the key in messages and DSSE key ids.
    public let fingerprint: String

    /// Parses the first `PUBLIC KEY` block of `pem`.
    public init(pem: String) throws(KeyError) {
        guard let block = PEMBlock.first(in: pem, labels: ["PUBLIC KEY"]) else {
            if PEMBlock.first(in: pem, labels: nil) != nil {
                throw KeyError("not a public key: expected a PEM \"PUBLIC KEY\" block (cosign.pub)")
            }
            throw KeyError("no PEM block found (expected -----BEGIN PUBLIC KEY-----)")
        }
        let der = block.der
        let parsed: OpaquePointer? = der.withUnsafeBufferPointer { buf in
            var p: UnsafePointer<UInt8>? = buf.baseAddress
            return d2i_PUBKEY(nil, &p, buf.count)
        }
        guard let key = parsed else {
            ERR_clear_error()
            throw KeyError("the PUBLIC KEY block is not a valid SubjectPublicKeyInfo")
        }
        guard let name = Self.describe(key) else {
            EVP_PKEY_free(key)
            throw KeyError("unsupported public key type (supported: ECDSA P-256/P-384/P-521, RSA, Ed25519)")
        }
        pkey = key
        algorithm = name
        fingerprint = SHA256.digest(der)
    }

    deinit { EVP_PKEY_free(pkey) }

    static func describe(_ key: OpaquePointer) -> String? {
        switch EVP_PKEY_get_base_id(key) {
        case EVP_PKEY_EC:
            var name = [CChar](repeating: 0, count: 64)
            var len = 0
            guard EVP_PKEY_get_utf8_string_param(key, "group", &name, name.count, &len) == 1 else { return nil }
            switch String(decoding: name.prefix(len).map { UInt8(bitPattern: $0) }, as: UTF8.self) {
            case "prime256v1", "P-256": return "ECDSA P-256"
            case "secp384r1", "P-384": return "ECDSA P-384"
            case "secp521r1", "P-521": return "ECDSA P-521"
            default: return nil
            }
        case EVP_PKEY_RSA: return "RSA \(EVP_PKEY_get_bits(key))"
        case EVP_PKEY_ED25519: return "Ed25519"
        default: return nil
        }
    }

    /// True when `signature` (DER ECDSA, PKCS#1 v1.5 RSA or raw Ed25519) signs `message` with this key.
    public func verify(signature: [UInt8], message: [UInt8]) -> Bool {
        guard let ctx = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(ctx) }
        let md = EVP_PKEY_get_base_id(pkey) == EVP_PKEY_ED25519 ? nil : EVP_sha256()
        guard EVP_DigestVerifyInit(ctx, nil, md, nil, pkey) == 1 else {
            ERR_clear_error()
            return false
        }
        let ok = signature.withUnsafeBufferPointer { sig in
            message.withUnsafeBufferPointer { msg in
                EVP_DigestVerify(ctx, sig.baseAddress, sig.count, msg.baseAddress, msg.count)
            }
        }
        ERR_clear_error()
        return ok == 1
    }
}

/// A key that cannot be used, with why (one line, never key material).
public struct KeyError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// One PEM block: label and DER bytes.
struct PEMBlock {
    var label: String
    var der: [UInt8]

    /// The first block whose label is in `labels` (any block when nil). Headers (`Key: value` lines)
    /// inside a block are skipped.
    static func first(in text: String, labels: Set<String>?) -> PEMBlock? {
        var label: String?
        var body = ""
        for raw in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters(in: " \t\r")
            if label == nil {
                if line.hasPrefix("-----BEGIN "), line.hasSuffix("-----") {
                    let name = String(line.dropFirst(11).dropLast(5))
                    if labels == nil || labels!.contains(name) {
                        label = name
                        body = ""
                    }
                }
                continue
            }
            if line == "-----END \(label!)-----" {
                guard let der = Data(base64Encoded: body) else { return nil }
                return PEMBlock(label: label!, der: Array(der))
            }
            if line.contains(":") { continue }
            body += line
        }
        return nil
    }

    static func encode(label: String, der: [UInt8]) -> String {
        let b64 = Data(der).base64EncodedString()
        var out = "-----BEGIN \(label)-----\n"
        var i = b64.startIndex
        while i < b64.endIndex {
            let j = b64.index(i, offsetBy: 64, limitedBy: b64.endIndex) ?? b64.endIndex
            out += b64[i..<j] + "\n"
            i = j
        }
        return out + "-----END \(label)-----\n"
    }
}
