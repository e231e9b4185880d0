import Foundation
import HTTPTransport
import TestSupport
import XCTest

/// Registry credentials of sides that name no cluster (Quay, Harbor, Artifactory, Nexus...), through
/// the built binary against real docker-registry instances: user name + password from the
/// environment or a file, a bearer registry token, what cannot apply, and the report file.
final class PlainRegistryCredentialsTests: WorkspaceTestCase {
    static let devPassword = "dev-Pa55'word $(x) with spaces"
    static let prodPassword = "prod-secret-0123456789"

    override class var workspacePrefix: String { "imgpromote-plain-creds" }

    func registry(_ auth: RegistryProcess.Auth) async throws -> RegistryProcess {
        let r = try await RegistryProcess.start(auth: auth)
        cleanups.append { r.stop() }
        return r
    }

    func imgpromote(_ args: [String], env: [String: String] = [:]) async throws -> ProcessResult {
        let bin = try XCTUnwrap(BuiltProducts.imgpromote, "imgpromote binary not built")
        var environment = Subprocess.currentEnvironment()
        environment["HOME"] = dir.path
        environment["XDG_RUNTIME_DIR"] = dir.path
        environment["REGISTRY_AUTH_FILE"] = nil
        for k in environment.keys where k.hasPrefix("IMGPROMOTE_") { environment[k] = nil }
        for (k, v) in env { environment[k] = v }
        return try await Subprocess.runAsync(bin, args, environment: environment, timeoutSeconds: 120)
    }

    func copy(_ from: String, _ to: String, _ extra: [String] = [], env: [String: String] = [:]) async throws -> ProcessResult {
        try await imgpromote(["copy", "--src-tls-verify=false", "--dest-tls-verify=false"] + extra + [from, to], env: env)
    }

    func skopeoDigest(_ reference: String, creds: String) async throws -> String? {
        // skopeo reads --creds from argv; fine for a test oracle on loopback.
        let r = try await Subprocess.runAsync("skopeo", ["inspect", "--raw", "--tls-verify=false", "--creds", creds,
                                                         "docker://" + reference], timeoutSeconds: 60)
        return r.succeeded ? SHA256.digest(r.stdout) : nil
    }

    func assertNoSecret(_ r: ProcessResult, _ secrets: [String], file: StaticString = #filePath, line: UInt = #line) {
        let text = r.stdoutText + r.stderrText
        for s in secrets {
            XCTAssertFalse(text.contains(s), "a secret is in the output", file: file, line: line)
            XCTAssertFalse(text.contains(Data(s.utf8).base64EncodedString()), "a secret (base64) is in the output", file: file, line: line)
        }
    }

    /// Two htpasswd registries and an image in the first.
    func htpasswdPair() async throws -> (RegistryProcess, RegistryProcess, TestImage) {
        let a = try await registry(.htpasswd(users: ["dev": Self.devPassword]))
        let b = try await registry(.htpasswd(users: ["prod": Self.prodPassword]))
        let image = TestImage.random(layerSizes: [64 << 10], seed: 141)
        try await ImageSeeder.pushAsync(image, to: a.baseURL, repository: "dev/app", tag: "1.4",
                                        credentials: .basic(username: "dev", password: Self.devPassword))
        return (a, b, image)
    }

    // MARK: tests

    func testUserAndPasswordFromEnvironmentAndFileWinOverTheAuthFile() async throws {
        let (a, b, image) = try await htpasswdPair()
        let passwordFile = dir.file("prod-password")
        try FileSystem.write(Self.prodPassword + "\n", to: passwordFile, mode: 0o600)
        // An auth file with wrong passwords for both hosts: the side's own credentials must win.
        let wrong = Data("dev:wrong".utf8).base64EncodedString()
        let auth = dir.file("auth.json")
        try FileSystem.write("{\"auths\":{\"\(a.host)\":{\"auth\":\"\(wrong)\"},\"\(b.host)\":{\"auth\":\"\(wrong)\"}}}",
                             to: auth, mode: 0o600)
        let r = try await copy("\(a.host)/dev/app:1.4", "\(b.host)/prod/app:1.4",
                               ["-v", "--dest-password-file", passwordFile],
                               env: ["REGISTRY_AUTH_FILE": auth,
                                     "IMGPROMOTE_SRC_USERNAME": "dev", "IMGPROMOTE_SRC_PASSWORD": Self.devPassword,
                                     "IMGPROMOTE_DEST_USERNAME": "prod"])
        XCTAssertEqual(r.exitCode, 0, r.stderrText)
        XCTAssertEqual(r.stdoutText, "\(b.host)/prod/app@\(image.digest)\n")
        assertNoSecret(r, [Self.devPassword, Self.prodPassword, "dev:" + Self.devPassword, "prod:" + Self.prodPassword])
        let seen = try await skopeoDigest("\(b.host)/prod/app:1.4", creds: "prod:" + Self.prodPassword)
        XCTAssertEqual(seen, image.digest)
    }

    func testWrongPasswordIsAnAuthFailureThatNamesNoSecret() async throws {
        let (a, b, _) = try await htpasswdPair()
        let r = try await copy("\(a.host)/dev/app:1.4", "\(b.host)/prod/app:1.4", [],
                               env: ["IMGPROMOTE_SRC_USERNAME": "dev", "IMGPROMOTE_SRC_PASSWORD": "not-" + Self.devPassword,
                                     "IMGPROMOTE_DEST_USERNAME": "prod", "IMGPROMOTE_DEST_PASSWORD": Self.prodPassword])
        XCTAssertEqual(r.exitCode, 3, r.stderrText)
        XCTAssertTrue(r.stderrText.contains(a.host), r.stderrText)
        assertNoSecret(r, [Self.devPassword, Self.prodPassword])
        XCTAssertEqual(b.count(method: "PUT"), 0)
    }

    func testBearerRegistryTokenIsSentAsIsWithoutAskingTheTokenService() async throws {
        let issuer = try await TokenIssuer.start(users: ["seed": .init(password: "seed-pw", repositories: ["*": ["pull", "push"]])])
        cleanups.append { issuer.stop() }
        let a = try await registry(issuer.registryAuth)
        let b = try await registry(issuer.registryAuth)
        let image = TestImage.random(layerSizes: [32 << 10], seed: 142)
        try await ImageSeeder.pushAsync(image, to: a.baseURL, repository: "dev/app", tag: "1.4",
                                        credentials: .basic(username: "seed", password: "seed-pw"))
        let pull = try issuer.mint(account: "ci", access: [.init(name: "dev/app", actions: ["pull"])]).token
        let push = try issuer.mint(account: "ci", access: [.init(name: "prod/app", actions: ["pull", "push"])]).token
        let tokenFile = dir.file("dest-token")
        try FileSystem.write(push, to: tokenFile, mode: 0o600)
        let before = issuer.requestCount
        let r = try await copy("\(a.host)/dev/app:1.4", "\(b.host)/prod/app:1.4", ["-v", "--dest-token-file", tokenFile],
                               env: ["IMGPROMOTE_SRC_TOKEN": pull])
        XCTAssertEqual(r.exitCode, 0, r.stderrText)
        XCTAssertEqual(r.stdoutText, "\(b.host)/prod/app@\(image.digest)\n")
        XCTAssertEqual(issuer.requestCount, before, "a registry token goes to the registry, not to the token service")
        assertNoSecret(r, [pull, push])
        let seen = try await skopeoDigest("\(b.host)/prod/app:1.4", creds: "seed:seed-pw")
        XCTAssertEqual(seen, image.digest)
        // A token without push scope for the destination is refused by the registry: not a success.
        let denied = try await copy("\(a.host)/dev/app:1.4", "\(b.host)/prod/app:other", [],
                                    env: ["IMGPROMOTE_SRC_TOKEN": pull, "IMGPROMOTE_DEST_TOKEN": pull])
        XCTAssertTrue([3, 4].contains(denied.exitCode), denied.stderrText)
        assertNoSecret(denied, [pull])
    }

    func testTokenForABasicAuthRegistrySaysWhatItWants() async throws {
        let (a, b, _) = try await htpasswdPair()
        let r = try await copy("\(a.host)/dev/app:1.4", "\(b.host)/prod/app:1.4", [],
                               env: ["IMGPROMOTE_SRC_TOKEN": "some-bearer-token-value",
                                     "IMGPROMOTE_DEST_USERNAME": "prod", "IMGPROMOTE_DEST_PASSWORD": Self.prodPassword])
        XCTAssertEqual(r.exitCode, 3, r.stderrText)
        XCTAssertTrue(r.stderrText.contains("asks for a user name and password (Basic auth), not a bearer token"), r.stderrText)
        assertNoSecret(r, ["some-bearer-token-value", Self.prodPassword])
    }

    func testCredentialsThatCannotApplyAreUsageErrorsBeforeAnyRequest() async throws {
        let (a, b, _) = try await htpasswdPair()
        let before = (a.accessLog().count, b.accessLog().count)
        let cases: [([String], [String: String], String)] = [
            ([], ["IMGPROMOTE_SRC_PASSWORD": Self.devPassword],
             "imgpromote: the source registry got a password but no user name: set IMGPROMOTE_SRC_USERNAME (or --src-username) as well\n"),
            (["--dest-username", "prod"], [:],
             "imgpromote: the destination registry got a user name but no password: set IMGPROMOTE_DEST_PASSWORD, or pass --dest-password-file or --dest-password-stdin\n"),
            ([], ["IMGPROMOTE_DEST_TOKEN": "tok-123", "IMGPROMOTE_DEST_USERNAME": "prod", "IMGPROMOTE_DEST_PASSWORD": Self.prodPassword],
             "imgpromote: the destination registry got a token (IMGPROMOTE_DEST_TOKEN or --dest-token-file) and a user name or password (IMGPROMOTE_DEST_USERNAME, IMGPROMOTE_DEST_PASSWORD); give one kind\n"),
            // The destination's problem is found before the source is touched.
            ([], ["IMGPROMOTE_SRC_USERNAME": "dev", "IMGPROMOTE_SRC_PASSWORD": Self.devPassword,
                  "IMGPROMOTE_DEST_PASSWORD": Self.prodPassword],
             "imgpromote: the destination registry got a password but no user name: set IMGPROMOTE_DEST_USERNAME (or --dest-username) as well\n"),
        ]
        for (args, env, expected) in cases {
            let r = try await copy("\(a.host)/dev/app:1.4", "\(b.host)/prod/app:1.4", args, env: env)
            XCTAssertEqual(r.exitCode, 2, r.stderrText)
            XCTAssertEqual(r.stderrText, expected)
            XCTAssertEqual(r.stdoutText, "")
            assertNoSecret(r, [Self.devPassword, Self.prodPassword, "tok-123"])
        }
        XCTAssertEqual(a.accessLog().count, before.0, "no request to the source")
        XCTAssertEqual(b.accessLog().count, before.1, "no request to the destination")
    }

    func testJobsOutOfRangeExitsTwoWithItsOneLine() async throws {
        for jobs in ["0", "65", "100"] {
            let r = try await imgpromote(["copy", "--jobs", jobs, "a.example.com/x/y:1", "b.example.com/x/y:1"])
            XCTAssertEqual(r.exitCode, 2, r.stderrText)
            XCTAssertEqual(r.stderrText, "imgpromote: --jobs must be between 1 and 64\n")
        }
        let r = try await imgpromote(["copy", "--retries", "21", "a.example.com/x/y:1", "b.example.com/x/y:1"])
        XCTAssertEqual(r.exitCode, 2, r.stderrText)
        XCTAssertEqual(r.stderrText, "imgpromote: --retries must be between 0 and 20\n")
    }

    func testReportFileHoldsTheOutcomeOnSuccessAndFailure() async throws {
        let (a, b, image) = try await htpasswdPair()
        let env = ["IMGPROMOTE_SRC_USERNAME": "dev", "IMGPROMOTE_SRC_PASSWORD": Self.devPassword,
                   "IMGPROMOTE_DEST_USERNAME": "prod", "IMGPROMOTE_DEST_PASSWORD": Self.prodPassword]
        let reportPath = dir.file("report.json")
        let r = try await copy("\(a.host)/dev/app:1.4", "\(b.host)/prod/app:1.4", ["--report-file", reportPath], env: env)
        XCTAssertEqual(r.exitCode, 0, r.stderrText)
        XCTAssertEqual(r.stdoutText, "\(b.host)/prod/app@\(image.digest)\n", "stdout is unchanged by --report-file")
        var st = stat()
        XCTAssertEqual(stat(reportPath, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o600)
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(try FileSystem.read(reportPath))) as? [String: Any])
        let destination = try XCTUnwrap(report["destination"] as? [String: Any])
        XCTAssertEqual(destination["digest"] as? String, image.digest)
        XCTAssertEqual(destination["reference"] as? String, "\(b.host)/prod/app:1.4")
        // The same object as --json prints.
        let json = try await copy("\(a.host)/dev/app:1.4", "\(b.host)/prod/app:1.4", ["--json", "--report-file", reportPath], env: env)
        XCTAssertEqual(json.exitCode, 0, json.stderrText)
        XCTAssertEqual(json.stdoutText, String(decoding: try FileSystem.read(reportPath), as: UTF8.self))

        let missing = try await copy("\(a.host)/dev/nothing:1", "\(b.host)/prod/app:1.4", ["--report-file", reportPath], env: env)
        XCTAssertEqual(missing.exitCode, 5, missing.stderrText)
        let failure = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(try FileSystem.read(reportPath))) as? [String: Any])
        let error = try XCTUnwrap(failure["error"] as? [String: Any])
        XCTAssertEqual(error["exitCode"] as? Int, 5)
        let message = try XCTUnwrap(error["message"] as? String)
        XCTAssertTrue(missing.stderrText.contains(message), "the file's message is the one stderr shows")
        XCTAssertNil(failure["destination"])
        XCTAssertFalse(FileSystem.exists(reportPath + ".tmp-0"))
    }
}
