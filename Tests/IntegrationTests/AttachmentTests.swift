import Foundation
import HTTPTransport
import TestSupport
import XCTest

/// Supply chain end to end on real docker-registry instances: the signature gate, attachments that
/// travel, the promotion record. Signatures are made with openssl (keys as cosign writes them) and their
/// `.sig` tags written by skopeo (containers/image's layout, not ours); skopeo reads them back.
final class AttachmentTests: XCTestCase {
    var cleanups: [() -> Void] = []
    var dir: TemporaryDirectory!

    override func setUp() async throws {
        dir = try TemporaryDirectory(prefix: "imgpromote-attach")
        guard Subprocess.find("skopeo") != nil, Subprocess.find("openssl") != nil else {
            throw XCTSkip("skopeo and openssl are needed")
        }
    }

    override func tearDown() async throws {
        for c in cleanups.reversed() { c() }
        cleanups = []
        dir.remove()
    }

    func registry() async throws -> RegistryProcess {
        let r = try await RegistryProcess.start()
        cleanups.append { r.stop() }
        return r
    }

    func run(_ exe: String, _ args: [String], stdin: [UInt8]? = nil, env: [String: String] = [:],
             timeout: Double = 120) async throws -> ProcessResult {
        var environment = Subprocess.currentEnvironment()
        environment["HOME"] = dir.path
        environment["XDG_RUNTIME_DIR"] = dir.path
        environment["REGISTRY_AUTH_FILE"] = nil
        for (k, v) in env { environment[k] = v }
        return try await Subprocess.runAsync(exe, args, environment: environment, stdin: stdin, timeoutSeconds: timeout)
    }

    func copy(_ from: String, _ to: String, _ extra: [String] = [], env: [String: String] = [:]) async throws -> ProcessResult {
        let bin = try XCTUnwrap(BuiltProducts.imgpromote, "imgpromote binary not built")
        return try await run(bin, ["copy", "--src-tls-verify=false", "--dest-tls-verify=false"] + extra + [from, to], env: env)
    }

    // MARK: keys and signatures made with openssl

    struct Key {
        var privatePath: String
        var publicPath: String
    }

    /// An ECDSA P-256 key pair; the public half is a PKIX `PUBLIC KEY` PEM, as `cosign generate-key-pair` writes.
    func makeKey(_ name: String) async throws -> Key {
        let priv = dir.file("\(name).key"), pub = dir.file("\(name).pub")
        let g = try await run("openssl", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", priv])
        XCTAssertTrue(g.succeeded, g.stderrText)
        let p = try await run("openssl", ["pkey", "-in", priv, "-pubout", "-out", pub])
        XCTAssertTrue(p.succeeded, p.stderrText)
        return Key(privatePath: priv, publicPath: pub)
    }

    /// A containers/image sigstore signature file: cosign's simple-signing payload for `digest`, signed by `key`.
    func signatureFile(digest: String, identity: String, key: Key) async throws -> [UInt8] {
        let payload = "{\"critical\":{\"identity\":{\"docker-reference\":\"\(identity)\"},\"image\":{\"docker-manifest-digest\":\"\(digest)\"},\"type\":\"cosign container image signature\"},\"optional\":null}"
        let payloadPath = dir.file("payload-\(UInt32.random(in: 0...UInt32.max))")
        try FileSystem.write(payload, to: payloadPath)
        let s = try await run("openssl", ["dgst", "-sha256", "-sign", key.privatePath, payloadPath])
        XCTAssertTrue(s.succeeded, s.stderrText)
        let json = "{\"mimeType\":\"application/vnd.dev.cosign.simplesigning.v1+json\",\"payload\":\"\(Data(payload.utf8).base64EncodedString())\","
            + "\"annotations\":{\"dev.cosignproject.cosign/signature\":\"\(Data(s.stdout).base64EncodedString())\"}}"
        return Array("\u{0}sigstore-json\n".utf8) + Array(json.utf8)
    }

    /// A registries.d directory turning sigstore attachments on for `hosts`.
    func registriesD(_ hosts: [String]) throws -> String {
        let d = try dir.subdirectory("registries.d-\(UInt32.random(in: 0...UInt32.max))")
        try FileSystem.write("docker:\n" + hosts.map { "  \($0):\n    use-sigstore-attachments: true\n" }.joined(), to: d + "/attachments.yaml")
        return d
    }

    /// Pushes `image` to `reference` and lets skopeo attach `signatures` (signature files for the top
    /// manifest) as sigstore `.sig` tags: skopeo copies the image to a dir:, the files go next to it, and
    /// skopeo copies it back with attachments on.
    func pushSigned(_ image: TestImage, to r: RegistryProcess, repository: String, tag: String,
                    signatures: [[UInt8]], instanceSignatures: [String: [[UInt8]]] = [:]) async throws {
        try await ImageSeeder.pushAsync(image, to: r.baseURL, repository: repository, tag: tag)
        let layout = try dir.subdirectory("dir-\(UInt32.random(in: 0...UInt32.max))")
        let ref = "docker://\(r.host)/\(repository):\(tag)"
        let out = try await run("skopeo", ["copy", "--all", "--src-tls-verify=false", ref, "dir:" + layout])
        XCTAssertTrue(out.succeeded, out.stderrText)
        for (i, s) in signatures.enumerated() { try FileSystem.write(s, to: "\(layout)/signature-\(i + 1)") }
        for (digest, sigs) in instanceSignatures {
            let hex = digest.dropFirst("sha256:".count)
            for (i, s) in sigs.enumerated() { try FileSystem.write(s, to: "\(layout)/\(hex).signature-\(i + 1)") }
        }
        let back = try await run("skopeo", ["copy", "--all", "--registries.d", try registriesD([r.host]),
                                            "--dest-tls-verify=false", "dir:" + layout, ref])
        XCTAssertTrue(back.succeeded, back.stderrText)
    }

    func tags(_ r: RegistryProcess, _ repository: String) async throws -> [String] {
        let res = try await run("skopeo", ["list-tags", "--tls-verify=false", "docker://\(r.host)/\(repository)"])
        guard res.succeeded else { return [] }
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(res.stdout)) as? [String: Any])
        return (json["Tags"] as? [String]) ?? []
    }

    func sigTag(_ digest: String, _ suffix: String = "sig") -> String {
        digest.replacingOccurrences(of: ":", with: "-") + "." + suffix
    }

    // MARK: the gate

    func testGateAcceptsTheRequiredKeyAndRefusesEverythingElseBeforeWriting() async throws {
        let a = try await registry(), b = try await registry()
        let key = try await makeKey("release"), other = try await makeKey("other")
        let image = TestImage.random(layerSizes: [4096], seed: 41)
        let identity = "\(a.host)/dev/app"
        try await pushSigned(image, to: a, repository: "dev/app", tag: "1.0",
                             signatures: [try await signatureFile(digest: image.digest, identity: identity, key: key)])
        // Another digest's signature stored under this image's .sig tag (a replayed signature).
        let decoy = TestImage.random(layerSizes: [512], seed: 42)
        try await pushSigned(decoy, to: a, repository: "dev/app", tag: "decoy",
                             signatures: [try await signatureFile(digest: image.digest, identity: identity, key: key)])
        let unsigned = TestImage.random(layerSizes: [512], seed: 43)
        try await ImageSeeder.pushAsync(unsigned, to: a.baseURL, repository: "dev/app", tag: "unsigned")

        func refused(_ src: String, _ extra: [String], _ why: String) async throws {
            let before = b.count(method: "PUT") + b.count(method: "POST")
            let r = try await copy("\(a.host)/dev/app:\(src)", "\(b.host)/prod/app:\(src)", extra)
            XCTAssertEqual(r.exitCode, 8, "\(src): \(r.stderrText)")
            XCTAssertTrue(r.stderrText.contains(why), "\(src): \(r.stderrText)")
            XCTAssertEqual(r.stderrText.split(separator: "\n").filter { !$0.contains("warning") }.count, 1,
                           "one line: \(r.stderrText)")
            XCTAssertEqual(b.count(method: "PUT") + b.count(method: "POST"), before, "nothing written for \(src)")
        }
        try await refused("1.0", ["--require-signature", other.publicPath], "none by the required key")
        try await refused("decoy", ["--require-signature", key.publicPath], "names another image (\(image.digest))")
        try await refused("unsigned", ["--require-signature", key.publicPath], "no sigstore signature")
        try await refused("1.0", ["--require-signature", key.publicPath, "--signature-identity", "\(a.host)/dev/other"],
                          "not \(a.host)/dev/other")

        let ok = try await copy("\(a.host)/dev/app:1.0", "\(b.host)/prod/app:1.0",
                                ["--require-signature", other.publicPath, "--require-signature", key.publicPath,
                                 "--signature-identity", identity])
        XCTAssertEqual(ok.exitCode, 0, ok.stderrText)
        XCTAssertEqual(ok.stdoutText, "\(b.host)/prod/app@\(image.digest)\n")
    }

    func testUnreadableKeyIsAUsageError() async throws {
        let a = try await registry()
        let bad = dir.file("bad.pub")
        try FileSystem.write("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", to: bad)
        for key in [bad, dir.file("missing.pub")] {
            let r = try await copy("\(a.host)/dev/app:1", "\(a.host)/prod/app:1", ["--require-signature", key])
            XCTAssertEqual(r.exitCode, 2, r.stderrText)
            XCTAssertTrue(r.stderrText.contains("--require-signature"), r.stderrText)
        }
    }
}
