import FoundationEssentials
import HTTPTransport
@testable import SupplyChain
import TestSupport
import XCTest

/// Signing keys, DSSE envelopes and records, checked against implementations nobody here wrote:
/// PyNaCl (secretbox), Python's hashlib scrypt + pyca/cryptography (cosign-format keys) and
/// securesystemslib's DSSE verifier (installed from PyPI by `PythonTools` when missing; skipped when
/// that cannot be done).
final class RecordCryptoTests: XCTestCase {
    var dir: TemporaryDirectory!

    override func setUp() async throws { dir = try TemporaryDirectory(prefix: "imgpromote-record") }
    override func tearDown() async throws { dir.remove() }

    func python(_ script: String, _ args: [String] = [], modules: [String]) throws -> ProcessResult {
        let (env, problem) = PythonTools.environment()
        guard let env else { throw XCTSkip(problem) }
        let path = dir.file("script-\(UInt32.random(in: 0...UInt32.max)).py")
        try FileSystem.write(script, to: path)
        return try Subprocess.run("python3", [path] + args, environment: env, timeoutSeconds: 120)
    }

    func testSecretBoxMatchesPyNaCl() throws {
        let key = (0..<32).map { UInt8($0 &* 7 &+ 1) }, nonce = (0..<24).map { UInt8(200 &- $0) }
        for length in [0, 1, 31, 32, 63, 64, 65, 200, 1000] {
            let plain = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 5) }
            let sealed = SecretBox.seal(plain, nonce: nonce, key: key)
            let r = try python("""
                import sys, nacl.secret
                key, nonce, plain = (bytes.fromhex(a) for a in sys.argv[1:4])
                print(nacl.secret.SecretBox(key).encrypt(plain, nonce).ciphertext.hex())
                """, [SHA256.hex(key), SHA256.hex(nonce), SHA256.hex(plain)], modules: ["nacl"])
            XCTAssertTrue(r.succeeded, r.stderrText)
            XCTAssertEqual(SHA256.hex(sealed), r.stdoutText.trimmingCharacters(in: "\n"), "length \(length)")
            XCTAssertEqual(SecretBox.open(sealed, nonce: nonce, key: key), plain)
            var tampered = sealed
            tampered[tampered.count - 1] ^= 0x80
            XCTAssertNil(SecretBox.open(tampered, nonce: nonce, key: key))
        }
    }

    /// A cosign-format key made by Python (scrypt + PyNaCl secretbox around PKCS#8 from pyca/cryptography).
    func pythonCosignKey(password: String, label: String) throws -> (privatePEM: String, publicPEM: String) {
        let r = try python("""
            import os, sys, json, base64, hashlib, nacl.secret
            from cryptography.hazmat.primitives.asymmetric import ec
            from cryptography.hazmat.primitives import serialization
            k = ec.generate_private_key(ec.SECP256R1())
            der = k.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
            salt = os.urandom(32)
            key = hashlib.scrypt(sys.argv[1].encode(), salt=salt, n=32768, r=8, p=1, dklen=32, maxmem=64 << 20)
            nonce = os.urandom(24)
            ct = nacl.secret.SecretBox(key).encrypt(der, nonce).ciphertext
            doc = {"kdf": {"name": "scrypt", "params": {"N": 32768, "r": 8, "p": 1}, "salt": base64.b64encode(salt).decode()},
                   "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(nonce).decode()},
                   "ciphertext": base64.b64encode(ct).decode()}
            b64 = base64.b64encode(json.dumps(doc).encode()).decode()
            lines = [b64[i:i+64] for i in range(0, len(b64), 64)]
            print("-----BEGIN " + sys.argv[2] + "-----\\n" + "\\n".join(lines) + "\\n-----END " + sys.argv[2] + "-----")
            print(k.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode())
            """, [password, label], modules: ["nacl", "cryptography"])
        XCTAssertTrue(r.succeeded, r.stderrText)
        let text = r.stdoutText
        let split = try XCTUnwrap(text.range(of: "-----BEGIN PUBLIC KEY-----"))
        return (String(text[..<split.lowerBound]), String(text[split.lowerBound...]))
    }

    func testCosignEncryptedKeysDecryptWithThePasswordOnly() throws {
        for label in ["ENCRYPTED SIGSTORE PRIVATE KEY", "ENCRYPTED COSIGN PRIVATE KEY"] {
            let (priv, pub) = try pythonCosignKey(password: "s3cret pass", label: label)
            let key = try PrivateKey(pem: priv, password: "s3cret pass")
            XCTAssertEqual(key.publicKey.fingerprint, try PublicKey(pem: pub).fingerprint, label)
            XCTAssertThrowsError(try PrivateKey(pem: priv, password: "wrong")) { e in
                XCTAssertTrue("\(e)".contains("wrong password"), "\(e)")
                XCTAssertFalse("\(e)".contains("s3cret"), "no secret in messages")
            }
            XCTAssertThrowsError(try PrivateKey(pem: priv, password: nil)) { XCTAssertTrue("\($0)".contains("password"), "\($0)") }
            let message = Array("hello".utf8)
            XCTAssertTrue(try PublicKey(pem: pub).verify(signature: try key.sign(message), message: message))
        }
    }

    func testOwnEncryptedKeyRoundTripsAndPlainPKCS8Works() throws {
        let r = try Subprocess.run("openssl", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"], timeoutSeconds: 30)
        XCTAssertTrue(r.succeeded, r.stderrText)
        let plain = try PrivateKey(pem: r.stdoutText, password: nil)
        XCTAssertEqual(plain.publicKey.algorithm, "ECDSA P-256")
        let der = try XCTUnwrap(PEMBlock.first(in: r.stdoutText, labels: ["PRIVATE KEY"])).der
        let pem = try CosignKeyEncryption.pem(pkcs8: der, password: "pw", n: 1024)
        XCTAssertEqual(try PrivateKey(pem: pem, password: "pw").publicKey.fingerprint, plain.publicKey.fingerprint)
        // Nasty inputs.
        for bad in ["", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
                    "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\ne30=\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n",
                    PEMBlock.encode(label: "ENCRYPTED SIGSTORE PRIVATE KEY", der: Array(#"{"kdf":{"name":"scrypt","params":{"N":1073741824,"r":8,"p":1},"salt":""},"cipher":{"name":"nacl/secretbox","nonce":""},"ciphertext":""}"#.utf8)),
                    "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"] {
            XCTAssertThrowsError(try PrivateKey(pem: bad, password: "pw"), bad)
        }
    }

    func testRecordEnvelopeVerifiesWithSecuresystemslib() throws {
        let (priv, pub) = try pythonCosignKey(password: "pw", label: "ENCRYPTED SIGSTORE PRIVATE KEY")
        let key = try PrivateKey(pem: priv, password: "pw")
        let digest = "sha256:" + String(repeating: "ab", count: 32)
        let record = PromotionRecord(
            source: .init(reference: "dev.example/shop/app:1.4", digest: digest, user: "alice", cluster: "https://api.dev:6443"),
            destination: .init(reference: "prod.example/shop/app:1.4", digest: digest, user: "system:serviceaccount:ci:promoter"),
            destinationName: "prod.example/shop/app", promotedAt: Date(timeIntervalSince1970: 1_700_000_000), toolVersion: "0.1.0",
            environment: ["BUILD_URL": "https://jenkins/job/x/7/", "JOB_NAME": "x", "BUILD_NUMBER": "7"])
        let envelope = try record.envelope(signedBy: key)
        XCTAssertEqual(envelope.verifiedBy([try PublicKey(pem: pub)]), [key.publicKey.fingerprint])
        XCTAssertEqual(PromotionRecord.from(envelope), record)
        let envPath = dir.file("envelope.json"), pubPath = dir.file("key.pub")
        try FileSystem.write(try envelope.encoded(), to: envPath)
        try FileSystem.write(pub, to: pubPath)
        let script = """
            import sys, json, base64
            from cryptography.hazmat.primitives import serialization
            from securesystemslib.dsse import Envelope
            from securesystemslib.signer import SSlibKey
            env = Envelope.from_dict(json.load(open(sys.argv[1])))
            pub = serialization.load_pem_public_key(open(sys.argv[2], "rb").read())
            key = SSlibKey.from_crypto(pub, keyid=env.signatures and list(env.signatures)[0])
            env.verify([key], 1)
            st = json.loads(env.payload)
            assert env.payload_type == "application/vnd.in-toto+json", env.payload_type
            assert st["_type"] == "https://in-toto.io/Statement/v1"
            print(st["subject"][0]["name"], st["subject"][0]["digest"]["sha256"], st["predicate"]["source"]["user"],
                  st["predicate"]["run"]["buildNumber"], st["predicate"]["promotedAt"])
            """
        let ok = try python(script, [envPath, pubPath], modules: ["securesystemslib.dsse", "cryptography"])
        XCTAssertTrue(ok.succeeded, ok.stderrText)
        XCTAssertEqual(ok.stdoutText, "prod.example/shop/app \(String(repeating: "ab", count: 32)) alice 7 2023-11-14T22:13:20Z\n")

        // A changed payload must not verify, for them or for us.
        var forged = envelope
        forged.payload = Data(try record.statementBytes().map { $0 == UInt8(ascii: "7") ? UInt8(ascii: "8") : $0 }).base64EncodedString()
        XCTAssertEqual(forged.verifiedBy([try PublicKey(pem: pub)]), [])
        try FileSystem.write(try forged.encoded(), to: envPath)
        let bad = try python(script, [envPath, pubPath], modules: ["securesystemslib.dsse", "cryptography"])
        XCTAssertFalse(bad.succeeded, "securesystemslib accepted a forged payload")
        XCTAssertTrue(bad.stderrText.contains("VerificationError"), bad.stderrText)
    }

    func testRecordWithoutCIHasNoRun() throws {
        let record = PromotionRecord(source: .init(reference: "a/b:1", digest: "sha256:00"), destination: .init(reference: "c/d:1", digest: "sha256:00"),
                                     destinationName: "c/d", toolVersion: "0.1.0", environment: ["BUILD_URL": ""])
        XCTAssertNil(record.predicate.run)
        let env = try record.envelope(signedBy: nil)
        XCTAssertEqual(env.signatures, [])
        XCTAssertEqual(PromotionRecord.from(env), record)
    }
}
