import CCrypto
import FoundationEssentials

/// A signing key: cosign's encrypted private key (`ENCRYPTED SIGSTORE PRIVATE KEY`, or the older
/// `ENCRYPTED COSIGN PRIVATE KEY`: scrypt + NaCl secretbox around PKCS#8), or an unencrypted PKCS#8
/// `PRIVATE KEY` / SEC1 `EC PRIVATE KEY` PEM. Signs with SHA-256 (ECDSA DER, RSA PKCS#1 v1.5) or Ed25519.
public final class PrivateKey: @unchecked Sendable {
    // Immutable after parsing; each signature uses its own context.
    let pkey: OpaquePointer
    /// The matching public key (its fingerprint names the signer).
    public let publicKey: PublicKey

    public static let encryptedLabels: Set<String> = ["ENCRYPTED SIGSTORE PRIVATE KEY", "ENCRYPTED COSIGN PRIVATE KEY"]
    static let plainLabels: Set<String> = ["PRIVATE KEY", "EC PRIVATE KEY"]

    /// - Parameter password: for cosign's encrypted keys (cosign also accepts an empty one).
    public init(pem: String, password: String?) throws(KeyError) {
        var der: [UInt8]
        if let block = PEMBlock.first(in: pem, labels: Self.encryptedLabels) {
            guard let password else {
                throw KeyError("the key is encrypted (\(block.label)); give its password")
            }
            der = try CosignKeyEncryption.decrypt(block.der, password: Array(password.utf8))
        } else if let block = PEMBlock.first(in: pem, labels: Self.plainLabels) {
            der = block.der
        } else if PEMBlock.first(in: pem, labels: ["ENCRYPTED PRIVATE KEY"]) != nil {
            throw KeyError("PKCS#8 keys encrypted with a PBES2 password are not supported; use a cosign key (cosign generate-key-pair) or an unencrypted PKCS#8 key")
        } else {
            throw KeyError("no private key found (expected -----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY----- or -----BEGIN PRIVATE KEY-----)")
        }
        defer { for i in der.indices { der[i] = 0 } }
        let parsed: OpaquePointer? = der.withUnsafeBufferPointer { buf in
            var p: UnsafePointer<UInt8>? = buf.baseAddress
            return d2i_AutoPrivateKey(nil, &p, buf.count)
        }
        ERR_clear_error()
        guard let key = parsed else { throw KeyError("the private key is not a valid PKCS#8 or EC key") }
        guard PublicKey.describe(key) != nil else {
            EVP_PKEY_free(key)
            throw KeyError("unsupported private key type (supported: ECDSA P-256/P-384/P-521, RSA, Ed25519)")
        }
        var spki: UnsafeMutablePointer<UInt8>?
        let n = i2d_PUBKEY(key, &spki)
        guard n > 0, let spki else {
            EVP_PKEY_free(key)
            throw KeyError("cannot derive the public key")
        }
        let spkiBytes = Array(UnsafeBufferPointer(start: spki, count: Int(n)))
        CRYPTO_free(spki, #file, #line)
        pkey = key
        publicKey = try PublicKey(pem: PEMBlock.encode(label: "PUBLIC KEY", der: spkiBytes))
    }

    deinit { EVP_PKEY_free(pkey) }

    /// Signs `message`: DER ECDSA or PKCS#1 v1.5 over its SHA-256, or Ed25519 over the message.
    public func sign(_ message: [UInt8]) throws(KeyError) -> [UInt8] {
        guard let ctx = EVP_MD_CTX_new() else { throw KeyError("out of memory") }
        defer { EVP_MD_CTX_free(ctx) }
        let md = EVP_PKEY_get_base_id(pkey) == EVP_PKEY_ED25519 ? nil : EVP_sha256()
        guard EVP_DigestSignInit(ctx, nil, md, nil, pkey) == 1 else {
            ERR_clear_error()
            throw KeyError("cannot sign with this key")
        }
        var length = 0
        let sized = message.withUnsafeBufferPointer { EVP_DigestSign(ctx, nil, &length, $0.baseAddress, $0.count) }
        var signature = [UInt8](repeating: 0, count: length)
        let signed = sized == 1 ? message.withUnsafeBufferPointer { m in
            signature.withUnsafeMutableBufferPointer { EVP_DigestSign(ctx, $0.baseAddress, &length, m.baseAddress, m.count) }
        } : 0
        ERR_clear_error()
        guard signed == 1 else { throw KeyError("signing failed") }
        return Array(signature.prefix(length))
    }
}

/// go-securesystemslib's `encrypted` format, which cosign uses for private keys: JSON with scrypt
/// parameters and salt, a NaCl secretbox nonce, and the sealed PKCS#8 DER.
enum CosignKeyEncryption {
    struct Envelope: Codable {
        struct KDF: Codable {
            struct Params: Codable { var N: Int; var r: Int; var p: Int }
            var name: String
            var params: Params
            var salt: String
        }
        struct Cipher: Codable { var name: String; var nonce: String }
        var kdf: KDF
        var cipher: Cipher
        var ciphertext: String
    }

    static func decrypt(_ json: [UInt8], password: [UInt8]) throws(KeyError) -> [UInt8] {
        guard let e = try? JSONDecoder().decode(Envelope.self, from: Data(json)) else {
            throw KeyError("malformed encrypted cosign key (expected scrypt/secretbox JSON)")
        }
        guard e.kdf.name == "scrypt", e.cipher.name == "nacl/secretbox" else {
            throw KeyError("unsupported key encryption \(e.kdf.name)/\(e.cipher.name)")
        }
        let p = e.kdf.params
        // Bounds: cosign writes N = 2^15..2^17, r = 8, p = 1; refuse parameters that would take minutes or GiBs.
        guard p.N > 1, p.N <= 1 << 20, p.N & (p.N - 1) == 0, (1...32).contains(p.r), (1...16).contains(p.p) else {
            throw KeyError("unreasonable scrypt parameters in the key (N=\(p.N), r=\(p.r), p=\(p.p))")
        }
        guard let salt = Data(base64Encoded: e.kdf.salt), let nonce = Data(base64Encoded: e.cipher.nonce), nonce.count == 24,
              let sealed = Data(base64Encoded: e.ciphertext), sealed.count > 16 else {
            throw KeyError("malformed encrypted cosign key (salt, nonce or ciphertext)")
        }
        var key = try scrypt(password: password, salt: Array(salt), n: p.N, r: p.r, p: p.p)
        defer { for i in key.indices { key[i] = 0 } }
        guard let plain = SecretBox.open(Array(sealed), nonce: Array(nonce), key: key) else {
            throw KeyError("wrong password for the encrypted key (or the key is damaged)")
        }
        return plain
    }

    static func encrypt(_ plain: [UInt8], password: [UInt8], n: Int = 32768) throws(KeyError) -> [UInt8] {
        let salt = random(32), nonce = random(24)
        let key = try scrypt(password: password, salt: salt, n: n, r: 8, p: 1)
        let sealed = SecretBox.seal(plain, nonce: nonce, key: key)
        let e = Envelope(kdf: .init(name: "scrypt", params: .init(N: n, r: 8, p: 1), salt: Data(salt).base64EncodedString()),
                         cipher: .init(name: "nacl/secretbox", nonce: Data(nonce).base64EncodedString()),
                         ciphertext: Data(sealed).base64EncodedString())
        guard let bytes = try? JSONEncoder().encode(e) else { throw KeyError("cannot encode the key") }
        return Array(bytes)
    }

    static func scrypt(password: [UInt8], salt: [UInt8], n: Int, r: Int, p: Int) throws(KeyError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var pw = password.map { CChar(bitPattern: $0) } + [0]
        defer { for i in pw.indices { pw[i] = 0 } }
        let ok = salt.withUnsafeBufferPointer { s in
            out.withUnsafeMutableBufferPointer { o in
                EVP_PBE_scrypt(pw, password.count, s.baseAddress, s.count, UInt64(n), UInt64(r), UInt64(p),
                               UInt64(1) << 31, o.baseAddress, o.count)
            }
        }
        ERR_clear_error()
        guard ok == 1 else { throw KeyError("scrypt failed") }
        return out
    }

    static func random(_ n: Int) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: n)
        _ = b.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32(n)) }
        return b
    }

    /// Writes a cosign-format encrypted private key PEM for `key` (tests and `--record-key` setup).
    static func pem(pkcs8 der: [UInt8], password: String, label: String = "ENCRYPTED SIGSTORE PRIVATE KEY",
                    n: Int = 32768) throws(KeyError) -> String {
        PEMBlock.encode(label: label, der: try encrypt(der, password: Array(password.utf8), n: n))
    }
}
