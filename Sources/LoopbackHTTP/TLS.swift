import CTLS
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A server certificate and key (PEM files), plus the CA that issued it when known.
public struct TLSIdentity: Sendable, Hashable {
    /// PEM certificate (leaf first; may contain the chain).
    public var certificatePath: String
    /// PEM private key of the certificate.
    public var privateKeyPath: String
    /// PEM CA certificate clients should trust (nil when unknown).
    public var caPath: String?
    /// Private key of the CA (generated identities only), to issue more certificates.
    public var caKeyPath: String?
    /// Directory holding generated files (nil for identities made from existing files).
    public var directory: String?

    public init(certificatePath: String, privateKeyPath: String, caPath: String? = nil,
                caKeyPath: String? = nil, directory: String? = nil) {
        self.certificatePath = certificatePath
        self.privateKeyPath = privateKeyPath
        self.caPath = caPath
        self.caKeyPath = caKeyPath
        self.directory = directory
    }

    /// Generates a self-signed CA (`ca.pem`, `ca-key.pem`) and a server certificate signed by it
    /// (`cert.pem`, `key.pem`, EC P-256) with the given subject alternative names, using the `openssl`
    /// CLI. Entries of `sans` that parse as IPv4/IPv6 literals become `IP:` names, others `DNS:`.
    /// Files go into `directory` (created if missing) or a fresh temporary directory; remove it with
    /// `remove()` when done.
    public static func generate(commonName: String = "127.0.0.1", sans: [String] = ["127.0.0.1", "localhost"],
                                directory: String? = nil, validDays: Int = 30,
                                caCommonName: String = "imgpromote test CA") throws -> TLSIdentity {
        let dir: String
        if let directory {
            try FileSystem.createDirectory(directory)
            dir = directory
        } else {
            dir = try FileSystem.makeTemporaryDirectory(prefix: "tls-identity")
        }
        let openssl = "openssl"
        func run(_ args: [String]) throws {
            let r = try Subprocess.run(openssl, args, timeoutSeconds: 30)
            guard r.exitCode == 0 else {
                throw LoopbackError("openssl \(args.first ?? "") failed (\(r.exitCode)): \(r.stderrText)")
            }
        }
        let ca = dir + "/ca.pem", caKey = dir + "/ca-key.pem"
        let cert = dir + "/cert.pem", key = dir + "/key.pem", csr = dir + "/server.csr", ext = dir + "/server.ext"
        try run(["req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-keyout", caKey, "-out", ca, "-days", String(validDays + 1), "-subj", "/CN=\(caCommonName)",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        try run(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-keyout", key, "-out", csr, "-subj", "/CN=\(commonName)"])
        let names = sans.map { isIPLiteral($0) ? "IP:\($0)" : "DNS:\($0)" }.joined(separator: ",")
        var extText = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        extText += "extendedKeyUsage=serverAuth,clientAuth\n"
        if !names.isEmpty { extText += "subjectAltName=\(names)\n" }
        try FileSystem.write(Array(extText.utf8), to: ext)
        try run(["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", caKey, "-CAcreateserial", "-out", cert,
                 "-days", String(validDays), "-sha256", "-extfile", ext])
        return TLSIdentity(certificatePath: cert, privateKeyPath: key, caPath: ca, caKeyPath: caKey, directory: dir)
    }

    /// Deletes the generated directory (no-op for identities made from existing files).
    public func remove() {
        if let directory { FileSystem.removeTree(directory) }
    }

    static func isIPLiteral(_ s: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, s, &v4) == 1 || inet_pton(AF_INET6, s, &v6) == 1
    }
}

/// An OpenSSL SSL_CTX (server with a certificate, or a non-verifying client).
final class TLSContext: @unchecked Sendable {
    let ctx: OpaquePointer

    /// Server context for `identity`.
    init(server identity: TLSIdentity) throws {
        _ = ignoreSIGPIPE
        guard let c = SSL_CTX_new(TLS_server_method()) else { throw LoopbackError("SSL_CTX_new failed") }
        ctx = c
        _ = ctls_ctx_set_min_proto(c, TLS1_2_VERSION)
        guard SSL_CTX_use_certificate_chain_file(c, identity.certificatePath) == 1 else {
            throw LoopbackError("cannot load certificate \(identity.certificatePath): \(TLSContext.lastError())")
        }
        guard SSL_CTX_use_PrivateKey_file(c, identity.privateKeyPath, SSL_FILETYPE_PEM) == 1,
              SSL_CTX_check_private_key(c) == 1 else {
            throw LoopbackError("cannot load key \(identity.privateKeyPath): \(TLSContext.lastError())")
        }
    }

    /// Client context that does not verify the peer (tooling talking to its own loopback servers).
    init(insecureClient: Void) throws {
        _ = ignoreSIGPIPE
        guard let c = SSL_CTX_new(TLS_client_method()) else { throw LoopbackError("SSL_CTX_new failed") }
        ctx = c
        SSL_CTX_set_verify(c, SSL_VERIFY_NONE, nil)
    }

    deinit { SSL_CTX_free(ctx) }

    static func lastError() -> String {
        var out: [String] = []
        var buf = [CChar](repeating: 0, count: 256)
        for _ in 0..<8 {
            let e = ERR_get_error()
            if e == 0 { break }
            ERR_error_string_n(e, &buf, buf.count)
            out.append(buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
        }
        return out.isEmpty ? "unknown TLS error" : out.joined(separator: "; ")
    }

    static let sharedClient: TLSContext? = try? TLSContext(insecureClient: ())
}
