import CCrypto
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Signs compact JWS tokens with ES256 (EC P-256, raw r||s signature) and puts its certificate in the
/// `x5c` header, which is how CNCF distribution's `auth: token` mode finds and trusts the signing key
/// (the certificate must chain to the registry's `rootcertbundle`; a self-signed one listed there
/// works).
public final class JWTSigner: @unchecked Sendable {
    private let key: OpaquePointer
    /// Serialises use of the EVP key. Holds an Int, not Void: a zero-sized value trips a TSan false
    /// positive on the exclusivity check (swiftlang/swift#72487).
    private let lock = Protected(0)
    /// DER of the signing certificate.
    public let certificateDER: [UInt8]
    /// PEM text of the signing certificate (what the registry's `rootcertbundle` file must contain).
    public let certificatePEM: String
    /// Files the signer was loaded from or generated into.
    public let privateKeyPath: String?
    public let certificatePath: String?
    /// Set when `generate` created a temporary directory (see `removeGeneratedFiles`).
    public let generatedDirectory: String?

    /// From PEM bytes: an EC P-256 private key and its certificate.
    public init(privateKeyPEM: [UInt8], certificatePEM: [UInt8], privateKeyPath: String? = nil,
                certificatePath: String? = nil, generatedDirectory: String? = nil) throws {
        let loaded: OpaquePointer? = privateKeyPEM.withUnsafeBytes { raw -> OpaquePointer? in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_PrivateKey(bio, nil, nil, nil)
        }
        guard let key = loaded else { throw LoopbackError("cannot parse the EC private key PEM") }
        guard EVP_PKEY_get_base_id(key) == EVP_PKEY_EC, EVP_PKEY_get_bits(key) == 256 else {
            EVP_PKEY_free(key)
            throw LoopbackError("the signing key must be EC P-256 (ES256)")
        }
        let pem = String(decoding: certificatePEM, as: UTF8.self)
        guard let der = JWTSigner.firstCertificateDER(pem) else {
            EVP_PKEY_free(key)
            throw LoopbackError("no CERTIFICATE block in the certificate PEM")
        }
        self.key = key
        certificateDER = der
        self.certificatePEM = pem
        self.privateKeyPath = privateKeyPath
        self.certificatePath = certificatePath
        self.generatedDirectory = generatedDirectory
    }

    /// From PEM files.
    public convenience init(privateKeyPath: String, certificatePath: String) throws {
        try self.init(privateKeyPEM: try FileSystem.read(privateKeyPath), certificatePEM: try FileSystem.read(certificatePath),
                      privateKeyPath: privateKeyPath, certificatePath: certificatePath)
    }

    /// Generates an EC P-256 key (`token-key.pem`) and a self-signed certificate (`token-cert.pem`)
    /// with the `openssl` CLI, in `directory` or a new temporary directory.
    public static func generate(commonName: String = "imgpromote test token signer", directory: String? = nil,
                                validDays: Int = 30) throws -> JWTSigner {
        let dir: String
        var generated: String? = nil
        if let directory {
            try FileSystem.createDirectory(directory)
            dir = directory
        } else {
            dir = try FileSystem.makeTemporaryDirectory(prefix: "jwt-signer")
            generated = dir
        }
        let key = dir + "/token-key.pem", cert = dir + "/token-cert.pem"
        let r = try Subprocess.run("openssl", ["req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                                               "-nodes", "-keyout", key, "-out", cert, "-days", String(validDays),
                                               "-subj", "/CN=\(commonName)"], timeoutSeconds: 30)
        guard r.succeeded else { throw LoopbackError("openssl req failed: \(r.stderrText)") }
        return try JWTSigner(privateKeyPEM: try FileSystem.read(key), certificatePEM: try FileSystem.read(cert),
                             privateKeyPath: key, certificatePath: cert, generatedDirectory: generated)
    }

    deinit { EVP_PKEY_free(key) }

    /// Deletes the directory `generate` created (no-op otherwise).
    public func removeGeneratedFiles() {
        if let generatedDirectory { FileSystem.removeTree(generatedDirectory) }
    }

    /// The `x5c` header value: the certificate as standard base64 DER.
    public var x5c: [String] { [Base64.encode(certificateDER)] }

    /// `{"typ":"JWT","alg":"ES256","x5c":[...]}`.
    public var headerJSON: String { "{\"typ\":\"JWT\",\"alg\":\"ES256\",\"x5c\":[\(x5c.map(jsonQuote).joined(separator: ","))]}" }

    /// A compact JWS: base64url(header).base64url(claims).base64url(r||s).
    public func sign(claimsJSON: String, headerJSON: String? = nil) throws -> String {
        let input = Base64.urlEncode(Array((headerJSON ?? self.headerJSON).utf8)) + "." + Base64.urlEncode(Array(claimsJSON.utf8))
        let signature = try sign(Array(input.utf8))
        return input + "." + Base64.urlEncode(signature)
    }

    /// ECDSA P-256 / SHA-256 over `message`, as the 64-byte r||s JWS form.
    public func sign(_ message: [UInt8]) throws -> [UInt8] {
        try lock.withLock { _ in
            guard let ctx = EVP_MD_CTX_new() else { throw LoopbackError("EVP_MD_CTX_new failed") }
            defer { EVP_MD_CTX_free(ctx) }
            guard EVP_DigestSignInit(ctx, nil, EVP_sha256(), nil, key) == 1 else { throw LoopbackError("EVP_DigestSignInit failed") }
            var len = 0
            guard message.withUnsafeBufferPointer({ EVP_DigestSign(ctx, nil, &len, $0.baseAddress, $0.count) }) == 1 else {
                throw LoopbackError("EVP_DigestSign failed")
            }
            var der = [UInt8](repeating: 0, count: len)
            guard message.withUnsafeBufferPointer({ m in
                der.withUnsafeMutableBufferPointer { EVP_DigestSign(ctx, $0.baseAddress, &len, m.baseAddress, m.count) }
            }) == 1 else { throw LoopbackError("EVP_DigestSign failed") }
            let parsed: OpaquePointer? = der.withUnsafeBufferPointer { b in
                var p: UnsafePointer<UInt8>? = b.baseAddress
                return d2i_ECDSA_SIG(nil, &p, len)
            }
            guard let sig = parsed else { throw LoopbackError("cannot decode the ECDSA signature") }
            defer { ECDSA_SIG_free(sig) }
            var out = [UInt8](repeating: 0, count: 64)
            out.withUnsafeMutableBufferPointer { o in
                _ = BN_bn2binpad(ECDSA_SIG_get0_r(sig), o.baseAddress!, 32)
                _ = BN_bn2binpad(ECDSA_SIG_get0_s(sig), o.baseAddress! + 32, 32)
            }
            return out
        }
    }

    /// Checks a compact JWS signed by this signer's key.
    public func verify(_ token: String) -> Bool {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let raw = Base64.decode(String(parts[2])), raw.count == 64 else { return false }
        let input = Array((parts[0] + "." + parts[1]).utf8)
        return lock.withLock { _ -> Bool in
            guard let sig = ECDSA_SIG_new() else { return false }
            defer { ECDSA_SIG_free(sig) }
            let r = raw.withUnsafeBufferPointer { BN_bin2bn($0.baseAddress, 32, nil) }
            let s = raw.withUnsafeBufferPointer { BN_bin2bn($0.baseAddress! + 32, 32, nil) }
            guard ECDSA_SIG_set0(sig, r, s) == 1 else { BN_free(r); BN_free(s); return false }
            var derPtr: UnsafeMutablePointer<UInt8>? = nil
            let derLen = i2d_ECDSA_SIG(sig, &derPtr)
            guard derLen > 0, let der = derPtr else { return false }
            defer { CRYPTO_free(der, #fileID, #line) }
            guard let ctx = EVP_MD_CTX_new() else { return false }
            defer { EVP_MD_CTX_free(ctx) }
            guard EVP_DigestVerifyInit(ctx, nil, EVP_sha256(), nil, key) == 1 else { return false }
            return input.withUnsafeBufferPointer { EVP_DigestVerify(ctx, der, Int(derLen), $0.baseAddress, $0.count) } == 1
        }
    }

    static func firstCertificateDER(_ pem: String) -> [UInt8]? {
        var body: [String] = []
        var inside = false
        for line in pem.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            if line.hasPrefix("-----BEGIN CERTIFICATE-----") { inside = true; continue }
            if line.hasPrefix("-----END CERTIFICATE-----") { break }
            if inside { body.append(String(line)) }
        }
        return body.isEmpty ? nil : Base64.decode(body.joined())
    }
}

/// Splits a compact JWS without verifying it (for assertions in tests).
public enum JWT {
    public struct Parts: Sendable {
        public var headerJSON: String
        public var claimsJSON: String
        public var signature: [UInt8]
    }

    public static func decode(_ token: String) -> Parts? {
        let p = token.split(separator: ".", omittingEmptySubsequences: false)
        guard p.count == 3, let h = Base64.decode(String(p[0])), let c = Base64.decode(String(p[1])),
              let s = Base64.decode(String(p[2])) else { return nil }
        return Parts(headerJSON: String(decoding: h, as: UTF8.self), claimsJSON: String(decoding: c, as: UTF8.self), signature: s)
    }
}

/// One `access` entry of a registry token: `{"type":"repository","name":"app","actions":["pull"]}`.
public struct RegistryAccess: Sendable, Hashable, CustomStringConvertible {
    public var type: String
    public var name: String
    public var actions: [String]

    public init(type: String = "repository", name: String, actions: [String]) {
        self.type = type
        self.name = name
        self.actions = actions
    }

    /// Parses one scope `type[(class)]:name:action1,action2`; the name may itself contain `:`.
    public init?(scope: String) {
        guard let first = scope.firstIndex(of: ":"), let last = scope.lastIndex(of: ":"), first < last else { return nil }
        var t = String(scope[..<first])
        if let paren = t.firstIndex(of: "(") { t = String(t[..<paren]) }
        type = t
        name = String(scope[scope.index(after: first)..<last])
        actions = scope[scope.index(after: last)...].split(separator: ",").map(String.init)
    }

    /// Every scope in a list of `scope` parameters (each may hold several, space-separated).
    public static func parse(scopes: [String]) -> [RegistryAccess] {
        scopes.flatMap { $0.split(separator: " ") }.compactMap { RegistryAccess(scope: String($0)) }
    }

    public var scope: String { "\(type):\(name):\(actions.joined(separator: ","))" }
    public var description: String { scope }

    var json: String {
        "{\"type\":\(jsonQuote(type)),\"name\":\(jsonQuote(name)),\"actions\":[\(actions.map(jsonQuote).joined(separator: ","))]}"
    }
}

/// A token as minted, with what the Docker token endpoint returns about it.
public struct MintedToken: Sendable {
    public var token: String
    public var claimsJSON: String
    public var issuedAt: Int
    public var expiresAt: Int
    public var expiresIn: Int
    public var jti: String

    /// RFC 3339 UTC time of `issuedAt`.
    public var issuedAtText: String { rfc3339(issuedAt) }

    /// The Docker token endpoint's answer: token, access_token, expires_in, issued_at (and
    /// refresh_token when given).
    public func responseJSON(refreshToken: String? = nil) -> String {
        var s = "{\"token\":\(jsonQuote(token)),\"access_token\":\(jsonQuote(token)),\"expires_in\":\(expiresIn),\"issued_at\":\(jsonQuote(issuedAtText))"
        if let refreshToken { s += ",\"refresh_token\":\(jsonQuote(refreshToken))" }
        return s + "}"
    }
}

/// Mints registry bearer tokens exactly as CNCF distribution 2.8.2 verifies them: claims
/// iss/sub/aud(string)/exp/nbf/iat/jti/access, ES256 with x5c. The registry accepts a token while
/// `now <= exp + 60 s` and `now >= nbf - 60 s` (its leeway), so an expired token needs
/// `exp < now - 60`: use a negative `clockOffsetSeconds`.
public struct RegistryTokenMinter: Sendable {
    public var signer: JWTSigner
    public var issuer: String
    public var lifetimeSeconds: Int
    /// Shifts iat/nbf/exp relative to the wall clock (negative = in the past).
    public var clockOffsetSeconds: Int

    public init(signer: JWTSigner, issuer: String, lifetimeSeconds: Int = 300, clockOffsetSeconds: Int = 0) {
        self.signer = signer
        self.issuer = issuer
        self.lifetimeSeconds = lifetimeSeconds
        self.clockOffsetSeconds = clockOffsetSeconds
    }

    public func mint(subject: String, audience: String, access: [RegistryAccess], lifetimeSeconds: Int? = nil) throws -> MintedToken {
        let life = lifetimeSeconds ?? self.lifetimeSeconds
        let now = unixTime() + clockOffsetSeconds
        let jti = randomHex(16)
        let claims = "{\"iss\":\(jsonQuote(issuer)),\"sub\":\(jsonQuote(subject)),\"aud\":\(jsonQuote(audience)),"
            + "\"exp\":\(now + life),\"nbf\":\(now),\"iat\":\(now),\"jti\":\(jsonQuote(jti)),"
            + "\"access\":[\(access.map(\.json).joined(separator: ","))]}"
        let token = try signer.sign(claimsJSON: claims)
        return MintedToken(token: token, claimsJSON: claims, issuedAt: now, expiresAt: now + life, expiresIn: life, jti: jti)
    }
}

/// `n` random bytes from libcrypto, hex-encoded.
public func randomHex(_ n: Int) -> String {
    var b = [UInt8](repeating: 0, count: n)
    _ = b.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32(n)) }
    let digits = Array("0123456789abcdef".utf8)
    return String(decoding: b.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] }, as: UTF8.self)
}

/// `2006-01-02T15:04:05Z` for a Unix time.
public func rfc3339(_ t: Int) -> String {
    var time = time_t(t)
    var tm = Glibc.tm()
    gmtime_r(&time, &tm)
    func pad(_ v: Int32, _ w: Int) -> String {
        let s = String(v)
        return String(repeating: "0", count: max(0, w - s.count)) + s
    }
    return "\(pad(tm.tm_year + 1900, 4))-\(pad(tm.tm_mon + 1, 2))-\(pad(tm.tm_mday, 2))T\(pad(tm.tm_hour, 2)):\(pad(tm.tm_min, 2)):\(pad(tm.tm_sec, 2))Z"
}
