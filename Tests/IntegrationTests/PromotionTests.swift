import Foundation
import HTTPTransport
import TestSupport
import XCTest

/// `imgpromote copy` end to end, through its command line, between real docker-registry instances;
/// every result cross-checked with skopeo.
final class PromotionTests: WorkspaceTestCase {
    override class var workspacePrefix: String { "imgpromote-promotion" }

    func registry(_ auth: RegistryProcess.Auth = .none) async throws -> RegistryProcess {
        let r = try await RegistryProcess.start(auth: auth)
        cleanups.append { r.stop() }
        return r
    }

    func proxy(_ upstream: RegistryProcess, rules: [FaultProxy.Rule]) throws -> FaultProxy {
        let p = try FaultProxy(upstream: upstream.baseURL, rules: rules)
        cleanups.append { p.stop() }
        return p
    }

    /// Runs the imgpromote binary; plain-HTTP test registries need `--*-tls-verify=false`.
    func imgpromote(_ args: [String], env: [String: String] = [:], timeout: Double = 120) async throws -> ProcessResult {
        let bin = try XCTUnwrap(BuiltProducts.imgpromote, "imgpromote binary not built")
        var environment = Subprocess.currentEnvironment()
        environment["HOME"] = dir.path   // no stray ~/.docker/config.json
        environment["XDG_RUNTIME_DIR"] = dir.path
        environment["REGISTRY_AUTH_FILE"] = nil
        for (k, v) in env { environment[k] = v }
        return try await Subprocess.runAsync(bin, args, environment: environment, timeoutSeconds: timeout)
    }

    func copy(_ from: String, _ to: String, _ extra: [String] = [], env: [String: String] = [:]) async throws -> ProcessResult {
        try await imgpromote(["copy", "--src-tls-verify=false", "--dest-tls-verify=false"] + extra + [from, to], env: env)
    }

    /// sha256 of what skopeo reads from the registry: the digest a real client sees.
    func skopeoDigest(_ reference: String, authfile: String? = nil) async throws -> String? {
        var args = ["inspect", "--raw", "--tls-verify=false"]
        if let authfile { args += ["--authfile", authfile] }
        let r = try await Subprocess.runAsync("skopeo", args + ["docker://" + reference], timeoutSeconds: 60)
        return r.succeeded ? SHA256.digest(r.stdout) : nil
    }

    func report(_ r: ProcessResult) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout)) as? [String: Any], r.stderrText)
    }

    func authfile(_ entries: [String: (String, String)]) throws -> String {
        let auths = entries.map { host, cred in
            "\"\(host)\":{\"auth\":\"\(Data("\(cred.0):\(cred.1)".utf8).base64EncodedString())\"}"
        }
        let path = dir.file("auth-\(UInt32.random(in: 0...UInt32.max)).json")
        try FileSystem.write("{\"auths\":{\(auths.joined(separator: ","))}}", to: path, mode: 0o600)
        return path
    }

    // MARK: tests

    func testSingleArchCopyPrintsPinnedReferenceAndMatchesSkopeo() async throws {
        let a = try await registry(), b = try await registry()
        let image = TestImage.random(layerSizes: [3 << 20, 1 << 20, 17], seed: 1)
        try await ImageSeeder.pushAsync(image, to: a.baseURL, repository: "dev/app", tag: "1.0")
        let r = try await copy("\(a.host)/dev/app:1.0", "\(b.host)/prod/app:1.0")
        XCTAssertEqual(r.exitCode, 0, r.stderrText)
        XCTAssertEqual(r.stdoutText, "\(b.host)/prod/app@\(image.digest)\n", "stdout is exactly the pinned reference")
        let seen = try await skopeoDigest("\(b.host)/prod/app:1.0")
        XCTAssertEqual(seen, image.digest)
        for blob in image.blobs {
            XCTAssertEqual(b.count(method: "PUT", pathContains: "digest=\(blob.digest)", status: 201), 1, "blob \(blob.digest) uploaded once")
        }
    }

    func testMultiArchIndexKeepsDigestAndChildren() async throws {
        let a = try await registry(), b = try await registry()
        let image = TestImage.random(layerSizes: [256 << 10, 64 << 10], platforms: [.linuxAMD64, .linuxARM64],
                                     sharedLayerSizes: [512 << 10], seed: 2)
        try await ImageSeeder.pushAsync(image, to: a.baseURL, repository: "dev/multi", tag: "v2")
        let r = try await copy("\(a.host)/dev/multi:v2", "\(b.host)/prod/multi:v2", ["--json"])
        XCTAssertEqual(r.exitCode, 0, r.stderrText)
        let seen = try await skopeoDigest("\(b.host)/prod/multi:v2")
        XCTAssertEqual(seen, image.digest)
        for m in image.manifests {
            let child = try await skopeoDigest("\(b.host)/prod/multi@\(m.digest)")
            XCTAssertEqual(child, m.digest)
        }
        let json = try report(r)
        let blobs = try XCTUnwrap(json["blobs"] as? [String: Any])
        XCTAssertEqual(blobs["copied"] as? Int, image.blobs.count, "shared layer copied once")
        XCTAssertEqual((json["destination"] as? [String: Any])?["digest"] as? String, image.digest)
        XCTAssertEqual((json["source"] as? [String: Any])?["digest"] as? String, image.digest)
        XCTAssertEqual((json["bytes"] as? [String: Any])?["copied"] as? Int, Int(image.totalBlobBytes))
        XCTAssertNotNil(json["seconds"] as? Double)
        XCTAssertEqual(b.count(method: "PUT", pathContains: "/blobs/uploads/"), image.blobs.count, "one PUT per unique blob")
    }

    func testNoOpRerunUsesAtMostThreeDestinationRequests() async throws {
        let a = try await registry(), b = try await registry()
        let image = TestImage.random(layerSizes: [128 << 10], platforms: [.linuxAMD64, .linuxARM64], seed: 3)
        try await ImageSeeder.pushAsync(image, to: a.baseURL, repository: "dev/app", tag: "v1")
        let first = try await copy("\(a.host)/dev/app:v1", "\(b.host)/prod/app:v1")
        XCTAssertEqual(first.exitCode, 0, first.stderrText)
        let before = b.accessLog().count
        let again = try await copy("\(a.host)/dev/app:v1", "\(b.host)/prod/app:v1", ["--json"])
        XCTAssertEqual(again.exitCode, 0, again.stderrText)
        XCTAssertTrue(b.waitForAccessLog { $0.count > before })
        let during = Array(b.accessLog().dropFirst(before))
        XCTAssertLessThanOrEqual(during.count, 3, "requests: \(during)")
        // An anonymous registry is not pinged: the tag HEAD is the first and only word with it.
        XCTAssertEqual(during.map { "\($0.method) \($0.path)" }, ["HEAD /v2/prod/app/manifests/v1"])
        XCTAssertFalse(during.contains { $0.method != "GET" && $0.method != "HEAD" }, "a no-op writes nothing: \(during)")
        XCTAssertEqual(try report(again)["alreadyPresent"] as? Bool, true)
        let plain = try await copy("\(a.host)/dev/app:v1", "\(b.host)/prod/app:v1", ["-q"])
        XCTAssertEqual(plain.stdoutText, "\(b.host)/prod/app@\(image.digest)\n")
    }

    func testSameRegistryPromotionMountsEveryBlobIncludingConfigs() async throws {
        let a = try await registry()
        let image = TestImage.random(layerSizes: [1 << 20, 2048], platforms: [.linuxAMD64, .linuxARM64], seed: 4)
        try await ImageSeeder.pushAsync(image, to: a.baseURL, repository: "dev/app", tag: "1.2")
        let uploadsBefore = a.count(method: "PUT", pathContains: "/blobs/uploads/")
        let r = try await copy("\(a.host)/dev/app:1.2", "\(a.host)/prod/app:1.2", ["--json"])
        XCTAssertEqual(r.exitCode, 0, r.stderrText)
        let blobs = try XCTUnwrap(try report(r)["blobs"] as? [String: Any])
        XCTAssertEqual(blobs["mounted"] as? Int, image.blobs.count)
        XCTAssertEqual(blobs["copied"] as? Int, 0)
        XCTAssertEqual(a.count(method: "PUT", pathContains: "/blobs/uploads/"), uploadsBefore, "zero blob bytes uploaded")
        XCTAssertEqual(a.count(method: "POST", pathContains: "mount=", status: 201), image.blobs.count)
        let seen = try await skopeoDigest("\(a.host)/prod/app:1.2")
        XCTAssertEqual(seen, image.digest)
    }

    func testBlobsAlreadyPresentAreSkippedWithOneHead() async throws {
        let a = try await registry(), b = try await registry()
        let image = TestImage.random(layerSizes: [64 << 10, 64 << 10, 64 << 10], seed: 5)
        try await ImageSeeder.pushAsync(image, to: a.baseURL, repository: "dev/app", tag: "v1")
        // The destination already holds the whole image under another tag of the same repository.
        try await ImageSeeder.pushAsync(image, to: b.baseURL, repository: "prod/app", tag: "old")
        let headsBefore = image.blobs.map { b.count(method: "HEAD", pathContains: "/blobs/\($0.digest)") }
        let r = try await copy("\(a.host)/dev/app:v1", "\(b.host)/prod/app:v1", ["--json"])
        XCTAssertEqual(r.exitCode, 0, r.stderrText)
        let blobs = try XCTUnwrap(try report(r)["blobs"] as? [String: Any])
        XCTAssertEqual(blobs["skipped"] as? Int, image.blobs.count)
        for (blob, before) in zip(image.blobs, headsBefore) {
            XCTAssertEqual(b.count(method: "HEAD", pathContains: "/blobs/\(blob.digest)") - before, 1, "one HEAD per blob, not two")
        }
        XCTAssertEqual(a.count(method: "GET", pathContains: "/blobs/"), 0, "nothing fetched from the source")
    }

    func testPlatformCopiesOneInstanceKeepingItsDigest() async throws {
        let a = try await registry(), b = try await registry()
        let image = TestImage.random(layerSizes: [32 << 10], platforms: [.linuxAMD64, .linuxARM64], seed: 6)
        try await ImageSeeder.pushAsync(image, to: a.baseURL, repository: "dev/app", tag: "v1")
        let arm = try XCTUnwrap(image.manifests.first { $0.platform?.architecture == "arm64" })
        let r = try await copy("\(a.host)/dev/app:v1", "\(b.host)/prod/app:arm", ["--platform", "linux/arm64"])
        XCTAssertEqual(r.exitCode, 0, r.stderrText)
        XCTAssertEqual(r.stdoutText, "\(b.host)/prod/app@\(arm.digest)\n")
        let seen = try await skopeoDigest("\(b.host)/prod/app:arm")
        XCTAssertEqual(seen, arm.digest)
        let missing = try await copy("\(a.host)/dev/app:v1", "\(b.host)/prod/app:s390x", ["--platform", "linux/s390x"])
        XCTAssertEqual(missing.exitCode, 5, missing.stderrText)
        XCTAssertTrue(missing.stderrText.contains("linux/arm64"), "lists what exists: \(missing.stderrText)")
    }

    func testMissingSourceExitsFiveAndBadReferenceExitsTwo() async throws {
        let a = try await registry(), b = try await registry()
        let r = try await copy("\(a.host)/dev/nothing:v1", "\(b.host)/prod/nothing:v1")
        XCTAssertEqual(r.exitCode, 5, r.stderrText)
        XCTAssertEqual(r.stdoutText, "")
        XCTAssertEqual(r.stderrText.split(separator: "\n").filter { !$0.contains("warning") }.count, 1, "one line: \(r.stderrText)")
        let bad = try await copy("\(a.host)/Dev/UPPER:v1", "\(b.host)/prod/x:v1")
        XCTAssertEqual(bad.exitCode, 2, bad.stderrText)
        XCTAssertTrue(bad.stderrText.contains("Dev/UPPER"), "quotes the input: \(bad.stderrText)")
        let unknown = try await imgpromote(["copy", "--no-such-flag", "a/b", "c/d"])
        XCTAssertEqual(unknown.exitCode, 2)
    }

    func testDeniedPushExitsFourAndCreatesNoTag() async throws {
        let issuer = try await TokenIssuer.start(users: [
            "reader": .init(password: "reader-pw", repositories: ["dev/*": ["pull"], "prod/*": ["pull"]]),
            "admin": .init(password: "admin-pw", repositories: ["*": ["pull", "push"]]),
        ])
        cleanups.append { issuer.stop() }
        let a = try await registry(issuer.registryAuth)
        let image = TestImage.random(layerSizes: [64 << 10], seed: 7)
        try await ImageSeeder.pushAsync(image, to: a.baseURL, repository: "dev/app", tag: "v1",
                                        credentials: .basic(username: "admin", password: "admin-pw"))
        let auth = try authfile([a.host: ("reader", "reader-pw")])
        let manifestPutsBefore = a.count(method: "PUT", pathContains: "/manifests/")
        let r = try await copy("\(a.host)/dev/app:v1", "\(a.host)/prod/app:v1", ["--src-authfile", auth, "--dest-authfile", auth])
        XCTAssertEqual(r.exitCode, 4, r.stderrText)
        XCTAssertEqual(a.count(method: "PUT", pathContains: "/manifests/"), manifestPutsBefore, "no manifest or tag written")
        let adminAuth = try authfile([a.host: ("admin", "admin-pw")])
        let tag = try await skopeoDigest("\(a.host)/prod/app:v1", authfile: adminAuth)
        XCTAssertNil(tag)

        let wrong = try authfile([a.host: ("admin", "not-the-password")])
        let refused = try await copy("\(a.host)/dev/app:v1", "\(a.host)/prod/app:v1", ["--src-authfile", wrong, "--dest-authfile", wrong])
        XCTAssertEqual(refused.exitCode, 3, refused.stderrText)
        XCTAssertFalse(refused.stderrText.contains("not-the-password"))

        let ok = try await copy("\(a.host)/dev/app:v1", "\(a.host)/prod/app:v1", ["--src-authfile", adminAuth, "--dest-authfile", adminAuth])
        XCTAssertEqual(ok.exitCode, 0, ok.stderrText)
        let promoted = try await skopeoDigest("\(a.host)/prod/app:v1", authfile: adminAuth)
        XCTAssertEqual(promoted, image.digest)
    }

    /// An image with several destination tags whose last tag write is refused: the tag that pointed at an
    /// older image points at it again, and the one docker-registry cannot delete is named in the error.
    func testRefusedLaterTagPutsBackTheEarlierTagsAndNamesWhatCouldNotBeUndone() async throws {
        let a = try await registry(), b = try await registry()
        let image = TestImage.random(layerSizes: [32 << 10], seed: 21)
        let old = TestImage.random(layerSizes: [16 << 10], seed: 22)
        try await ImageSeeder.pushAsync(image, to: a.baseURL, repository: "dev/app", tag: "2.0")
        try await ImageSeeder.pushAsync(old, to: b.baseURL, repository: "dev/app", tag: "1.0")
        let denied = "{\"errors\":[{\"code\":\"DENIED\",\"message\":\"requested access to the resource is denied\"}]}"
        let front = try proxy(b, rules: [.init(method: "PUT", pathContains: "/manifests/latest", fault: .status(403, body: denied))])
        let file = dir.file("release.yaml")
        try FileSystem.write("source: {registry: \"\(a.host)\"}\ndestination: {registry: \"\(front.authority)\"}\n"
                             + "images:\n  - source: dev/app:2.0\n    tags: [1.0, stable, latest]\n", to: file)
        let r = try await imgpromote(["promote", "--src-tls-verify=false", "--dest-tls-verify=false", "-f", file])
        XCTAssertEqual(r.exitCode, 4, r.stderrText)
        XCTAssertTrue(r.stderrText.contains("put back tag 1.0"), r.stderrText)
        XCTAssertTrue(r.stderrText.contains("tag stable still points at the new image (complete"), r.stderrText)
        XCTAssertTrue(r.stderrText.contains("does not delete tags"), r.stderrText)
        let restored = try await skopeoDigest("\(b.host)/dev/app:1.0")
        XCTAssertEqual(restored, old.digest, "the earlier tag is back on its previous image")
        let left = try await skopeoDigest("\(b.host)/dev/app:stable")
        XCTAssertEqual(left, image.digest, "as the error says: complete, and still there")
        let latest = try await skopeoDigest("\(b.host)/dev/app:latest")
        XCTAssertNil(latest)
    }

    func testHtpasswdRegistriesWithAuthFiles() async throws {
        let a = try await registry(.htpasswd(users: ["dev": "dev-secret"]))
        let b = try await registry(.htpasswd(users: ["prod": "prod-secret"]))
        let image = TestImage.random(layerSizes: [100 << 10], seed: 8)
        try await ImageSeeder.pushAsync(image, to: a.baseURL, repository: "dev/app", tag: "v1",
                                        credentials: .basic(username: "dev", password: "dev-secret"))
        let auth = try authfile([a.host: ("dev", "dev-secret"), b.host: ("prod", "prod-secret")])
        let r = try await copy("\(a.host)/dev/app:v1", "\(b.host)/prod/app:v1", ["-v"], env: ["REGISTRY_AUTH_FILE": auth])
        XCTAssertEqual(r.exitCode, 0, r.stderrText)
        XCTAssertFalse(r.stderrText.contains("secret"), "no password in -v output")
        XCTAssertFalse(r.stderrText.contains(Data("prod:prod-secret".utf8).base64EncodedString()))
        let seen = try await skopeoDigest("\(b.host)/prod/app:v1", authfile: auth)
        XCTAssertEqual(seen, image.digest)
    }

    /// Registries that let anyone read manifests but challenge on blobs or pushes: the challenge is
    /// learned from the first 401, whichever request gets it, and the copy goes on with credentials.
    func testChallengeLearnedFromTheFirstRefusedRequest() async throws {
        let a = try await registry(.htpasswd(users: ["dev": "dev-secret"]))
        let b = try await registry(.htpasswd(users: ["prod": "prod-secret"]))
        let image = TestImage.random(layerSizes: [300 << 10, 2 << 20], seed: 21)
        try await ImageSeeder.pushAsync(image, to: a.baseURL, repository: "dev/app", tag: "v1",
                                        credentials: .basic(username: "dev", password: "dev-secret"))
        // Fronts that answer manifest reads and the attachment lookups (and, on the destination, blob HEADs)
        // without credentials by adding them on the way: the source first refuses at the blob GET, the
        // destination at the POST.
        func basic(_ user: String, _ pass: String) -> String { "Basic " + Data("\(user):\(pass)".utf8).base64EncodedString() }
        let src = try proxy(a, rules: [.init(where: { ($0.path.contains("/manifests/") || $0.path.contains("/tags/list")
                                                      || $0.path.contains("/referrers/")) && $0.method != "PUT" },
                                             fault: .setRequestHeader("Authorization", basic("dev", "dev-secret")))])
        let dst = try proxy(b, rules: [.init(where: { $0.method == "HEAD" },
                                             fault: .setRequestHeader("Authorization", basic("prod", "prod-secret")))])
        let auth = try authfile([src.authority: ("dev", "dev-secret"), dst.authority: ("prod", "prod-secret")])
        let r = try await copy("\(src.authority)/dev/app:v1", "\(dst.authority)/prod/app:v1", ["--json", "--jobs", "1"],
                               env: ["REGISTRY_AUTH_FILE": auth])
        XCTAssertEqual(r.exitCode, 0, r.stderrText)
        XCTAssertEqual(try XCTUnwrap(try report(r)["blobs"] as? [String: Any])["copied"] as? Int, image.blobs.count)
        // Exactly one refusal per side: after it every request carries credentials.
        XCTAssertEqual(src.count(status: 401), 1, "\(src.log.map { "\($0.method) \($0.path) \($0.status)" })")
        XCTAssertEqual(dst.count(status: 401), 1, "\(dst.log.map { "\($0.method) \($0.path) \($0.status)" })")
        XCTAssertEqual(src.log.first { $0.status == 401 }.map { $0.method + " " + ($0.path.contains("/blobs/sha256:") ? "blob" : $0.path) }, "GET blob")
        XCTAssertEqual(dst.log.first { $0.status == 401 }?.method, "POST")
        XCTAssertEqual(src.log.filter { $0.path == "/v2/" }.count + dst.log.filter { $0.path == "/v2/" }.count, 0, "no ping")
        let seen = try await skopeoDigest("\(b.host)/prod/app:v1", authfile: try authfile([b.host: ("prod", "prod-secret")]))
        XCTAssertEqual(seen, image.digest)
    }

    /// A front that refuses anonymous requests with 403 instead of a challenge: with credentials at hand,
    /// imgpromote asks /v2/ for the challenge once and goes on, instead of reporting a denial.
    func testForbiddenAnonymousRequestLeadsToTheChallengeNotADenial() async throws {
        let a = try await registry(.htpasswd(users: ["dev": "dev-secret"]))
        let b = try await registry()
        let image = TestImage.random(layerSizes: [100 << 10], seed: 23)
        try await ImageSeeder.pushAsync(image, to: a.baseURL, repository: "dev/app", tag: "v1",
                                        credentials: .basic(username: "dev", password: "dev-secret"))
        let denied = #"{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}"#
        let front = try proxy(a, rules: [.init(where: { $0.headers["Authorization"] == nil && $0.pathWithoutQuery != "/v2/" },
                                               fault: .status(403, body: denied))])
        let auth = try authfile([front.authority: ("dev", "dev-secret")])
        let r = try await copy("\(front.authority)/dev/app:v1", "\(b.host)/prod/app:v1", ["-v"], env: ["REGISTRY_AUTH_FILE": auth])
        XCTAssertEqual(r.exitCode, 0, r.stderrText)
        XCTAssertEqual(front.log.filter { $0.status == 403 }.count, 1, "\(front.log.map { "\($0.method) \($0.path) \($0.status)" })")
        XCTAssertEqual(front.log.filter { $0.path == "/v2/" }.map(\.status), [401])
        let seen = try await skopeoDigest("\(b.host)/prod/app:v1")
        XCTAssertEqual(seen, image.digest)

        // Without credentials the 403 stands: a denial, exit 4, one line.
        let anonymous = try await copy("\(front.authority)/dev/app:v1", "\(b.host)/prod/other:v1")
        XCTAssertEqual(anonymous.exitCode, 4, anonymous.stderrText)
    }

    /// An insecure side tries TLS and plain HTTP at once; a registry that speaks TLS must be used over TLS
    /// although its port answers the plain attempt too (Go's "400: HTTP request to an HTTPS server").
    func testInsecureSideSpeakingTLSIsUsedOverTLS() async throws {
        let a = try await registry()
        let b = try await RegistryProcess.start(auth: .htpasswd(users: ["prod": "prod-secret"]), tls: try TLSIdentity.generate())
        cleanups.append { b.stop() }
        let image = TestImage.random(layerSizes: [200 << 10], seed: 22)
        try await ImageSeeder.pushAsync(image, to: a.baseURL, repository: "dev/app", tag: "v1")
        let auth = try authfile([b.host: ("prod", "prod-secret")])
        let r = try await copy("\(a.host)/dev/app:v1", "\(b.host)/prod/app:v1", ["-v"], env: ["REGISTRY_AUTH_FILE": auth])
        XCTAssertEqual(r.exitCode, 0, r.stderrText)
        XCTAssertTrue(r.stderrText.contains("\(a.host) does not speak TLS"), r.stderrText)
        XCTAssertFalse(r.stderrText.contains("\(b.host) does not speak TLS"), r.stderrText)
        let seen = try await skopeoDigest("\(b.host)/prod/app:v1", authfile: auth)
        XCTAssertEqual(seen, image.digest)
    }

    /// A verifying side that meets a plain-HTTP registry, or a certificate it cannot trust, fails with
    /// exit 6 and one line naming the flag of that side that fixes it; with the CA given, it works.
    func testTLSFailuresNameTheFlagOfTheirSide() async throws {
        let a = try await registry()
        let identity = try TLSIdentity.generate()
        let b = try await RegistryProcess.start(auth: .none, tls: identity)
        cleanups.append { b.stop() }
        let image = TestImage.random(layerSizes: [4096], seed: 24)
        try await ImageSeeder.pushAsync(image, to: a.baseURL, repository: "dev/app", tag: "v1")
        func oneLine(_ r: ProcessResult) -> String {
            let lines = r.stderrText.split(separator: "\n").filter { !$0.contains("warning:") }
            XCTAssertEqual(lines.count, 1, r.stderrText)
            XCTAssertEqual(r.stdoutText, "")
            return lines.first.map(String.init) ?? ""
        }

        let plain = try await imgpromote(["copy", "-q", "--dest-tls-verify=false", "\(a.host)/dev/app:v1", "\(a.host)/prod/app:v1"])
        XCTAssertEqual(plain.exitCode, 6, plain.stderrText)
        let plainLine = oneLine(plain)
        XCTAssertTrue(plainLine.contains("plain HTTP") && plainLine.contains("--src-tls-verify=false"), plainLine)
        XCTAssertFalse(plainLine.contains("--dest-"), plainLine)

        let untrusted = try await imgpromote(["copy", "-q", "--src-tls-verify=false", "\(a.host)/dev/app:v1", "\(b.host)/prod/app:v1"])
        XCTAssertEqual(untrusted.exitCode, 6, untrusted.stderrText)
        let untrustedLine = oneLine(untrusted)
        XCTAssertTrue(untrustedLine.contains("not trusted") && untrustedLine.contains("--dest-ca-file"), untrustedLine)
        XCTAssertFalse(untrustedLine.contains("plain HTTP"), untrustedLine)

        let ca = try XCTUnwrap(identity.caPath)
        let trusted = try await imgpromote(["copy", "-q", "--src-tls-verify=false", "--dest-ca-file", ca,
                                            "\(a.host)/dev/app:v1", "\(b.host)/prod/app:v1"])
        XCTAssertEqual(trusted.exitCode, 0, trusted.stderrText)
        let seen = try await skopeoDigest("\(b.host)/prod/app:v1")
        XCTAssertEqual(seen, image.digest)
    }

    func testCorruptedBlobExitsSevenAndWritesNoTag() async throws {
        let a = try await registry(), b = try await registry()
        let image = TestImage.random(layerSizes: [2 << 20], seed: 9)
        try await ImageSeeder.pushAsync(image, to: a.baseURL, repository: "dev/app", tag: "v1")
        let layer = image.manifests[0].layers[0].digest
        let front = try proxy(a, rules: [.init(method: "GET", pathContains: "/blobs/\(layer)", fault: .corruptByte(at: 1_000_000))])
        let r = try await copy("\(front.authority)/dev/app:v1", "\(b.host)/prod/app:v1")
        XCTAssertEqual(r.exitCode, 7, r.stderrText)
        XCTAssertTrue(r.stderrText.contains(layer), r.stderrText)
        XCTAssertEqual(b.count(method: "PUT", pathContains: "/manifests/"), 0, "no manifest, no tag")
        XCTAssertEqual(b.count(method: "PUT", pathContains: "digest=\(layer)", status: 201), 0, "corrupt blob never committed")
        let tag = try await skopeoDigest("\(b.host)/prod/app:v1")
        XCTAssertNil(tag)
    }

    func testConnectionCutMidBlobIsResumed() async throws {
        let a = try await registry(), b = try await registry()
        let image = TestImage.random(layerSizes: [4 << 20], seed: 10)
        try await ImageSeeder.pushAsync(image, to: a.baseURL, repository: "dev/app", tag: "v1")
        let layer = image.manifests[0].layers[0].digest
        let front = try proxy(a, rules: [.init(method: "GET", pathContains: "/blobs/\(layer)", fault: .cutAfter(bytes: 1_500_000), times: 1)])
        let r = try await copy("\(front.authority)/dev/app:v1", "\(b.host)/prod/app:v1", ["-v"])
        XCTAssertEqual(r.exitCode, 0, r.stderrText)
        XCTAssertTrue(front.log.contains { $0.path.contains(layer) && $0.requestHeaders["Range"]?.hasPrefix("bytes=") == true },
                      "the second GET asked for the rest with Range")
        let seen = try await skopeoDigest("\(b.host)/prod/app:v1")
        XCTAssertEqual(seen, image.digest)
    }

    func testTooManyRequestsHonoursRetryAfter() async throws {
        let a = try await registry(), b = try await registry()
        let image = TestImage.random(layerSizes: [16 << 10], seed: 11)
        try await ImageSeeder.pushAsync(image, to: a.baseURL, repository: "dev/app", tag: "v1")
        let front = try proxy(a, rules: [.init(method: "GET", pathContains: "/manifests/v1", fault: .tooManyRequests(retryAfterSeconds: 1), times: 2)])
        let clock = ContinuousClock()
        let start = clock.now
        let r = try await copy("\(front.authority)/dev/app:v1", "\(b.host)/prod/app:v1")
        let elapsed = clock.now - start
        XCTAssertEqual(r.exitCode, 0, r.stderrText)
        XCTAssertGreaterThanOrEqual(elapsed, .seconds(2), "waited Retry-After twice")
        XCTAssertEqual(front.count(pathContains: "/manifests/v1", status: 429), 2)
        let seen = try await skopeoDigest("\(b.host)/prod/app:v1")
        XCTAssertEqual(seen, image.digest)
    }

    func testDryRunWritesNothing() async throws {
        let a = try await registry(), b = try await registry()
        let image = TestImage.random(layerSizes: [64 << 10, 1024], seed: 12)
        try await ImageSeeder.pushAsync(image, to: a.baseURL, repository: "dev/app", tag: "v1")
        let r = try await copy("\(a.host)/dev/app:v1", "\(b.host)/prod/app:v1", ["--dry-run", "--json"])
        XCTAssertEqual(r.exitCode, 0, r.stderrText)
        let json = try report(r)
        XCTAssertEqual((json["plan"] as? [Any])?.count, image.blobs.count)
        XCTAssertEqual(json["dryRun"] as? Bool, true)
        XCTAssertFalse(b.accessLog().contains { $0.method == "PUT" || $0.method == "POST" || $0.method == "PATCH" })
    }
}
