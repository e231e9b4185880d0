import Foundation
import HTTPTransport
import TestSupport
import XCTest

/// `--report-file` of the release commands (`plan`, `apply`, `promote`) through the built binary
/// against real htpasswd docker-registry instances, and the one-line usage errors of `tag` and of
/// files that cannot be read. (`tag --report-file` itself needs a cluster: OpenShiftRBACTests.)
final class ReportFileTests: WorkspaceTestCase {
    static let devPassword = "dev-report-Pa55word-0123"
    static let prodPassword = "prod-report-secret-4567"
    var secretsInUse: [String] = []
    var secrets: [String] { [Self.devPassword, Self.prodPassword] + secretsInUse }

    override class var workspacePrefix: String { "imgpromote-report-file" }

    func imgpromote(_ args: [String], env: [String: String] = [:]) async throws -> ProcessResult {
        let bin = try XCTUnwrap(BuiltProducts.imgpromote, "imgpromote binary not built")
        var environment = Subprocess.currentEnvironment()
        environment["HOME"] = dir.path
        environment["XDG_RUNTIME_DIR"] = dir.path
        environment["REGISTRY_AUTH_FILE"] = nil
        for k in environment.keys where k.hasPrefix("IMGPROMOTE_") || k == "KUBECONFIG" { environment[k] = nil }
        for (k, v) in env { environment[k] = v }
        return try await Subprocess.runAsync(bin, args, environment: environment, timeoutSeconds: 120)
    }

    var credentials: [String: String] {
        ["IMGPROMOTE_SRC_USERNAME": "dev", "IMGPROMOTE_SRC_PASSWORD": Self.devPassword,
         "IMGPROMOTE_DEST_USERNAME": "prod", "IMGPROMOTE_DEST_PASSWORD": Self.prodPassword]
    }

    func release(_ command: String, _ args: [String], env: [String: String]? = nil) async throws -> ProcessResult {
        try await imgpromote([command, "--src-tls-verify=false", "--dest-tls-verify=false"] + args, env: env ?? credentials)
    }

    /// Two htpasswd registries, dev/app:1.4 in the first.
    func pair() async throws -> (RegistryProcess, RegistryProcess, TestImage) {
        let a = try await RegistryProcess.start(auth: .htpasswd(users: ["dev": Self.devPassword]))
        cleanups.append { a.stop() }
        let b = try await RegistryProcess.start(auth: .htpasswd(users: ["prod": Self.prodPassword]))
        cleanups.append { b.stop() }
        let image = TestImage.random(layerSizes: [64 << 10], seed: 171)
        try await ImageSeeder.pushAsync(image, to: a.baseURL, repository: "dev/app", tag: "1.4",
                                        credentials: .basic(username: "dev", password: Self.devPassword))
        return (a, b, image)
    }

    func promotionFile(_ a: RegistryProcess, _ b: RegistryProcess, missing: Bool = false) throws -> String {
        var text = "source: {registry: \"\(a.host)\", project: dev}\ndestination: {registry: \"\(b.host)\", project: prod}\n"
            + "images:\n  - source: app:1.4\n"
        if missing { text += "  - source: missing:1.0\n" }
        let path = dir.file(missing ? "partial.yaml" : "release.yaml")
        try FileSystem.write(text, to: path)
        return path
    }

    /// The report: mode 0600, no secret in it (plain or base64), a JSON object.
    func report(_ path: String, file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        var st = stat()
        XCTAssertEqual(stat(path, &st), 0, "no report file", file: file, line: line)
        XCTAssertEqual(st.st_mode & 0o777, 0o600, "report file mode", file: file, line: line)
        let text = String(decoding: try FileSystem.read(path), as: UTF8.self)
        for s in secrets {
            XCTAssertFalse(text.contains(s), "a secret is in the report", file: file, line: line)
            XCTAssertFalse(text.contains(Data(s.utf8).base64EncodedString()), "a secret (base64) is in the report", file: file, line: line)
        }
        XCTAssertTrue(text.hasSuffix("}\n"), text, file: file, line: line)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], text, file: file, line: line)
    }

    func skopeoDigest(_ reference: String) async throws -> String? {
        let r = try await Subprocess.runAsync("skopeo", ["inspect", "--raw", "--tls-verify=false", "--creds", "prod:\(Self.prodPassword)",
                                                         "docker://" + reference], timeoutSeconds: 60)
        return r.succeeded ? SHA256.digest(r.stdout) : nil
    }

    // MARK: release commands

    func testPromoteWritesTheJSONObjectWithOrWithoutJSON() async throws {
        let (a, b, image) = try await pair()
        let file = try promotionFile(a, b)
        let path = dir.file("promote.json")
        let plain = try await release("promote", ["-f", file, "--report-file", path])
        XCTAssertEqual(plain.exitCode, 0, plain.stderrText)
        XCTAssertEqual(plain.stdoutText, "\(b.host)/prod/app@\(image.digest)\n", "stdout is unchanged by --report-file")
        let skopeo = try await skopeoDigest("\(b.host)/prod/app:1.4")
        XCTAssertEqual(skopeo, image.digest)
        let images = try XCTUnwrap(try report(path)["images"] as? [[String: Any]])
        XCTAssertEqual(images.count, 1)
        XCTAssertEqual(images[0]["status"] as? String, "promoted")
        XCTAssertEqual(images[0]["pinned"] as? String, "\(b.host)/prod/app@\(image.digest)")
        XCTAssertEqual((images[0]["destination"] as? [String: Any])?["digest"] as? String, image.digest)
        XCTAssertNil(images[0]["error"])

        // With --json: the file holds exactly what stdout holds.
        let json = try await release("promote", ["-f", file, "--json", "--report-file", path])
        XCTAssertEqual(json.exitCode, 0, json.stderrText)
        XCTAssertEqual(json.stdoutText, String(decoding: try FileSystem.read(path), as: UTF8.self))
        XCTAssertEqual((try report(path)["images"] as? [[String: Any]])?.first?["status"] as? String, "present")
        XCTAssertFalse(FileSystem.exists(path + ".tmp-0"))
    }

    /// Some images failed: the file is the whole per-image object (each failure with its error), not
    /// `{"error":...}`; the exit status is the first failure's.
    func testPartialFailureWritesEveryImageWithItsError() async throws {
        let (a, b, image) = try await pair()
        let file = try promotionFile(a, b, missing: true)
        let path = dir.file("partial.json")
        let r = try await release("promote", ["-f", file, "--report-file", path])
        XCTAssertEqual(r.exitCode, 5, r.stderrText)
        let document = try report(path)
        XCTAssertNil(document["error"], "per-image errors, no top-level error")
        let images = try XCTUnwrap(document["images"] as? [[String: Any]])
        XCTAssertEqual(images.map { $0["status"] as? String }, ["promoted", "failed"])
        XCTAssertEqual(images[0]["pinned"] as? String, "\(b.host)/prod/app@\(image.digest)")
        let error = try XCTUnwrap(images[1]["error"] as? [String: Any])
        XCTAssertEqual(error["exitCode"] as? Int, 5)
        XCTAssertEqual(error["class"] as? String, "notFound")
        let message = try XCTUnwrap(error["message"] as? String)
        XCTAssertTrue(r.stderrText.contains(message), "the file's message is the one stderr shows: \(message)")
        let missing = try await skopeoDigest("\(b.host)/prod/missing:1.0")
        XCTAssertNil(missing)
    }

    func testPlanAndApplyWriteTheirReports() async throws {
        let (a, b, image) = try await pair()
        let file = try promotionFile(a, b)
        let lock = dir.file("release.lock.json")
        let path = dir.file("plan.json")
        let plan = try await release("plan", ["-f", file, "-o", lock, "--report-file", path])
        XCTAssertEqual(plan.exitCode, 0, plan.stderrText)
        let planned = try XCTUnwrap(try report(path)["images"] as? [[String: Any]])
        XCTAssertEqual(planned.map { $0["status"] as? String }, ["planned"])
        XCTAssertEqual(planned[0]["pinned"] as? String, "\(b.host)/prod/app@\(image.digest)")
        let nothing = try await skopeoDigest("\(b.host)/prod/app:1.4")
        XCTAssertNil(nothing, "plan moves nothing")

        let applied = dir.file("apply.json")
        let apply = try await release("apply", [lock, "--report-file", applied])
        XCTAssertEqual(apply.exitCode, 0, apply.stderrText)
        let images = try XCTUnwrap(try report(applied)["images"] as? [[String: Any]])
        XCTAssertEqual(images.map { $0["status"] as? String }, ["promoted"])
        let skopeo = try await skopeoDigest("\(b.host)/prod/app:1.4")
        XCTAssertEqual(skopeo, image.digest)
    }

    /// A failure before any image is reported on (credentials that cannot apply, a lock that cannot be
    /// read): `copy`'s `{"error":{"exitCode":N,"message":"..."}}`, its message the one stderr shows. A
    /// refused password is a per-image failure: the images object, exit 3, and no password in it.
    func testFailureBeforeTheImagesWritesTheError() async throws {
        let (a, b, _) = try await pair()
        let file = try promotionFile(a, b)
        let path = dir.file("failed.json")
        var passwordOnly = credentials
        passwordOnly["IMGPROMOTE_DEST_USERNAME"] = nil
        let usage = try await release("promote", ["-f", file, "--report-file", path], env: passwordOnly)
        XCTAssertEqual(usage.exitCode, 2, usage.stderrText)
        let document = try report(path)
        XCTAssertNil(document["images"])
        let failure = try XCTUnwrap(document["error"] as? [String: Any])
        XCTAssertEqual(failure["exitCode"] as? Int, 2)
        let message = try XCTUnwrap(failure["message"] as? String)
        XCTAssertEqual(usage.stderrText, "imgpromote: \(message)\n")

        var wrong = credentials
        wrong["IMGPROMOTE_DEST_PASSWORD"] = "not-" + Self.prodPassword
        secretsInUse = ["not-" + Self.prodPassword]
        let refused = try await release("promote", ["-f", file, "--report-file", path], env: wrong)
        XCTAssertEqual(refused.exitCode, 3, refused.stderrText)
        let images = try XCTUnwrap(try report(path)["images"] as? [[String: Any]])
        XCTAssertEqual((images.first?["error"] as? [String: Any])?["class"] as? String, "auth")

        let lockPath = dir.file("absent.lock.json")
        let missing = try await release("apply", [lockPath, "--report-file", path])
        XCTAssertEqual(missing.exitCode, 2, missing.stderrText)
        XCTAssertEqual(missing.stderrText, "imgpromote: cannot read the lock \(lockPath): No such file or directory\n")
        let error = try XCTUnwrap(try report(path)["error"] as? [String: Any])
        XCTAssertEqual(error["exitCode"] as? Int, 2)
        XCTAssertEqual(error["message"] as? String, "cannot read the lock \(lockPath): No such file or directory")
    }

    // MARK: usage errors

    /// Usage errors are one line `imgpromote: ...`, exit 2, nothing on stdout, no report file (the
    /// options were not accepted).
    func testTagUsageErrorsAreOneLine() async throws {
        let path = dir.file("never.json")
        let cases: [([String], String)] = [
            (["tag"], "imgpromote: Missing expected argument '<source>' (see 'imgpromote tag --help')\n"),
            (["tag", "--cluster", "https://127.0.0.1:1", "shop/app:1"],
             "imgpromote: Missing expected argument '<destination>' (see 'imgpromote tag --help')\n"),
            (["tag", "shop/app:1", "shop/app:2"], "imgpromote: tag needs --cluster URL or --context NAME\n"),
            (["tag", "--cluster", "https://127.0.0.1:1", "--reference-policy", "remote", "shop/app:1", "shop/app:2"],
             "imgpromote: --reference-policy must be source or local, not 'remote'\n"),
            (["tag", "--cluster", "https://127.0.0.1:1", "registry.example.com/shop/app:1", "shop/app:2"],
             "imgpromote: SOURCE 'registry.example.com/shop/app:1' must be PROJECT/NAME:TAG or PROJECT/NAME@sha256:HEX (tag works within one cluster: no registry host)\n"),
            (["tag", "--cluster", "https://127.0.0.1:1", "shop/app:1", "shop/app@sha256:" + String(repeating: "a", count: 64)],
             "imgpromote: DESTINATION 'shop/app@sha256:\(String(repeating: "a", count: 64))' must be PROJECT/NAME:TAG\n"),
            (["tag", "--cluster", "https://127.0.0.1:1", "--no-such-flag", "shop/app:1", "shop/app:2"],
             "imgpromote: Unknown option '--no-such-flag' (see 'imgpromote tag --help')\n"),
            (["tag", "--cluster", "https://127.0.0.1:1", "--report-file", "", "shop/app:1", "shop/app:2"],
             "imgpromote: --report-file needs a file name\n"),
        ]
        for (args, expected) in cases {
            let r = try await imgpromote(args + (args.contains("--report-file") ? [] : ["--report-file", path]))
            XCTAssertEqual(r.exitCode, 2, "\(args): \(r.stderrText)")
            XCTAssertEqual(r.stderrText, expected, "\(args)")
            XCTAssertEqual(r.stdoutText, "", "\(args)")
            XCTAssertFalse(FileSystem.exists(path), "\(args): no report for options that were not accepted")
        }
    }

    /// A promotion file or lock that cannot be read says why, as the system puts it.
    func testUnreadableFilesSayWhy() async throws {
        let notADirectory = dir.file("plain")
        try FileSystem.write("x", to: notADirectory)
        let cases: [(String, String, String)] = [
            ("promote", dir.file("absent.yaml"), "No such file or directory"),
            ("plan", dir.path, "Is a directory"),
            ("promote", notADirectory + "/release.yaml", "Not a directory"),
            ("apply", dir.path, "Is a directory"),
        ]
        for (command, path, reason) in cases {
            let r = try await imgpromote(command == "apply" ? [command, path] : [command, "-f", path])
            let what = command == "apply" ? "lock" : "promotion file"
            XCTAssertEqual(r.exitCode, 2, r.stderrText)
            XCTAssertEqual(r.stderrText, "imgpromote: cannot read the \(what) \(path): \(reason)\n")
        }
        // The supply-chain keys too, before any request (port 1 would refuse the connection).
        let keyCases: [(String, String, String)] = [
            ("--require-signature", dir.file("absent.pem"), "No such file or directory"),
            ("--record-key", dir.path, "Is a directory"),
        ]
        for (flag, path, reason) in keyCases {
            let r = try await imgpromote(["copy", flag, path, "127.0.0.1:1/a:1", "127.0.0.1:1/b:1"])
            XCTAssertEqual(r.exitCode, 2, r.stderrText)
            XCTAssertEqual(r.stderrText, "imgpromote: cannot read the \(flag) key \(path): \(reason)\n")
        }
        if getuid() != 0 {   // root reads any file
            let locked = dir.file("locked.yaml")
            try FileSystem.write("images: []\n", to: locked, mode: 0o000)
            let r = try await imgpromote(["promote", "-f", locked])
            XCTAssertEqual(r.exitCode, 2, r.stderrText)
            XCTAssertEqual(r.stderrText, "imgpromote: cannot read the promotion file \(locked): Permission denied\n")
        }
    }
}
