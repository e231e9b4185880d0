import ClusterEmulator
import Foundation
import HTTPTransport
import TestSupport
import XCTest

/// Permission refusals on emulated clusters whose registry answers as OpenShift's does (a bad token and a
/// missing role get the same 401): the preflight, the classification of refusals, `tag`, and a token that
/// dies mid-copy.
final class OpenShiftRBACTests: XCTestCase {
    static let alicePassword = "alice-rbac-Pa55word"
    static let builder = "sa-dev-builder-rbac-0123456789"
    static let reader = "sa-prod-reader-rbac-0123456789"       // system:image-puller in prod/shop
    static let pusher = "sa-prod-pusher-rbac-0123456789"       // system:image-pusher in prod/stage (no streams)
    static let promoter = "sa-prod-promoter-rbac-0123456789"   // registry-editor in prod/shop
    var secrets: [String] { [Self.alicePassword, Self.builder, Self.reader, Self.pusher, Self.promoter] }

    var dir: TemporaryDirectory!
    var dev: ClusterEmulator!
    var prod: ClusterEmulator!
    var expected: String!
    var extra: [ClusterEmulator] = []

    static func prodConfig(name: String = "prod", accessReviewAPI: Bool = true) -> EmulatorConfig {
        EmulatorConfig(
            name: name,
            users: [.init(name: "alice", password: alicePassword)],
            serviceAccounts: [.init(namespace: "ci", name: "reader", token: reader),
                              .init(namespace: "ci", name: "pusher", token: pusher),
                              .init(namespace: "ci", name: "promoter", token: promoter)],
            projects: [.init(name: "shop", roles: ["system:image-puller": ["system:serviceaccount:ci:reader"],
                                                   "registry-editor": ["alice", "system:serviceaccount:ci:promoter"]]),
                       .init(name: "stage", roles: ["system:image-pusher": ["system:serviceaccount:ci:pusher"]]),
                       .init(name: "openshift", pullers: ["system:authenticated"])],
            imageStreams: [.init(namespace: "openshift", name: "cli")],
            accessReviewAPI: accessReviewAPI)
    }

    override func setUp() async throws {
        guard Subprocess.find("docker-registry") != nil, Subprocess.find("skopeo") != nil else {
            throw XCTSkip("docker-registry and skopeo are needed")
        }
        dir = try TemporaryDirectory(prefix: "imgpromote-rbac")
        dev = try await ClusterEmulator.start(config: EmulatorConfig(
            name: "dev",
            users: [.init(name: "alice", password: Self.alicePassword)],
            serviceAccounts: [.init(namespace: "ci", name: "builder", token: Self.builder)],
            projects: [.init(name: "shop", pullers: ["alice", "system:serviceaccount:ci:reader"],
                             pushers: ["system:serviceaccount:ci:builder"]),
                       .init(name: "release", roles: ["edit": ["alice"]]),
                       .init(name: "locked", roles: ["system:image-puller": ["alice"]]),
                       .init(name: "openshift", pullers: ["system:authenticated"])],
            imageStreams: [.init(namespace: "openshift", name: "cli")]), workDirectory: try dir.subdirectory("dev"))
        prod = try await ClusterEmulator.start(config: Self.prodConfig(), workDirectory: try dir.subdirectory("prod"))
        let image = TestImage.random(layerSizes: [256 << 10, 4096], platforms: [.linuxAMD64, .linuxARM64], seed: 91)
        let layout = try dir.subdirectory("layout")
        try ImageSeeder.writeOCILayout(image, to: layout, tag: "1.0")
        let auth = try authfile(host: dev.registryHost, token: Self.builder, name: "builder")
        let r = try await skopeo(["copy", "--all", "--authfile", auth, "--dest-cert-dir", try certDir(dev),
                                  "oci:\(layout):1.0", "docker://\(dev.registryHost)/shop/app:1.0"])
        XCTAssertTrue(r.succeeded, r.stderrText)
        let inspect = try await skopeo(["inspect", "--raw", "--authfile", auth, "--cert-dir", try certDir(dev),
                                        "docker://\(dev.registryHost)/shop/app:1.0"])
        expected = SHA256.digest(inspect.stdout)
    }

    override func tearDown() async throws {
        for c in extra { c.stop() }
        dev?.stop()
        prod?.stop()
        dir?.remove()
    }

    // MARK: helpers

    func certDir(_ cluster: ClusterEmulator) throws -> String {
        let d = try dir.subdirectory("certs-\(cluster.config.name)")
        try FileSystem.write(try FileSystem.read(cluster.caBundlePath), to: d + "/ca.crt")
        return d
    }

    func authfile(host: String, token: String, name: String) throws -> String {
        let path = dir.file("auth-\(name).json")
        let auth = Data("unused:\(token)".utf8).base64EncodedString()
        try FileSystem.write("{\"auths\":{\"\(host)\":{\"auth\":\"\(auth)\"}}}", to: path, mode: 0o600)
        return path
    }

    func skopeo(_ args: [String]) async throws -> ProcessResult {
        try await Subprocess.runAsync("skopeo", ["--insecure-policy"] + args,
                                      environment: Subprocess.environment(adding: ["HOME": dir.path]), timeoutSeconds: 120)
    }

    /// The digest `cluster` serves for REPO:TAG (read by skopeo as `token`), nil when there is none.
    func digest(_ cluster: ClusterEmulator, _ reference: String, token: String) async throws -> String? {
        let auth = try authfile(host: cluster.registryHost, token: token, name: "check-\(cluster.config.name)")
        let r = try await skopeo(["inspect", "--raw", "--authfile", auth, "--cert-dir", try certDir(cluster),
                                  "docker://\(cluster.registryHost)/\(reference)"])
        return r.succeeded ? SHA256.digest(r.stdout) : nil
    }

    func flags(_ src: ClusterEmulator, _ dst: ClusterEmulator) -> [String] {
        ["--src-cluster", src.apiURL, "--src-ca-file", src.caBundlePath, "--dest-cluster", dst.apiURL, "--dest-ca-file", dst.caBundlePath]
    }

    func imgpromote(_ args: [String], env: [String: String] = [:]) async throws -> ProcessResult {
        let bin = try XCTUnwrap(BuiltProducts.imgpromote)
        var environment = Subprocess.currentEnvironment()
        environment["HOME"] = dir.path
        environment["KUBECONFIG"] = nil
        for k in environment.keys where k.hasPrefix("IMGPROMOTE_") { environment[k] = nil }
        for (k, v) in env { environment[k] = v }
        let r = try await Subprocess.runAsync(bin, args, environment: environment, timeoutSeconds: 120)
        let leaked = secrets.filter { (r.stdoutText + r.stderrText).contains($0) }
        XCTAssertEqual(leaked, [], "secret leaked by \(args.joined(separator: " "))")
        return r
    }

    /// Requests that carried blob bytes into `cluster`'s registry (uploads), and upload sessions opened.
    func uploads(_ cluster: ClusterEmulator) -> (bytes: Int64, sessions: Int) {
        let log = cluster.registryFront.log.filter { $0.path.contains("/blobs/uploads/") }
        return (log.filter { $0.method == "PUT" || $0.method == "PATCH" }.reduce(0) { $0 + $1.requestBodyBytes },
                log.filter { $0.method == "POST" && ($0.status == 202 || $0.status == 201) }.count)
    }

    // MARK: pull-only user pushing

    func testPullOnlyUserPushingIsDeniedByThePreflightBeforeAnyBlobMoves() async throws {
        let r = try await imgpromote(["copy"] + flags(dev, prod) + ["shop/app:1.0", "shop/app:1.0"],
                                     env: ["IMGPROMOTE_SRC_TOKEN": Self.builder, "IMGPROMOTE_DEST_TOKEN": Self.reader])
        XCTAssertEqual(r.exitCode, 4, r.stderrText)
        XCTAssertEqual(r.stderrText.split(separator: "\n").count, 1, r.stderrText)
        XCTAssertTrue(r.stderrText.contains("permission denied"), r.stderrText)
        XCTAssertTrue(r.stderrText.contains("system:serviceaccount:ci:reader"), r.stderrText)
        XCTAssertTrue(r.stderrText.contains("may not push to shop/app"), r.stderrText)
        XCTAssertTrue(r.stderrText.contains("system:image-pusher or registry-editor"), r.stderrText)
        XCTAssertTrue(r.stderrText.contains("oc policy add-role-to-user system:image-pusher system:serviceaccount:ci:reader -n shop"),
                      r.stderrText)
        XCTAssertEqual(r.stdout, [])
        let moved = uploads(prod)
        XCTAssertEqual(moved.bytes, 0, "no blob bytes may reach the destination")
        XCTAssertEqual(moved.sessions, 0, "not even an upload session")
        XCTAssertEqual(prod.registryFront.count(method: "PUT"), 0)
        let tagged = try await digest(prod, "shop/app:1.0", token: Self.promoter)
        XCTAssertNil(tagged)
    }

    func testWithoutPreflightTheRegistryRefusalIsStillExitFourAndNoTag() async throws {
        let r = try await imgpromote(["copy", "--no-preflight"] + flags(dev, prod) + ["shop/app:1.0", "shop/app:1.0"],
                                     env: ["IMGPROMOTE_SRC_TOKEN": Self.builder, "IMGPROMOTE_DEST_TOKEN": Self.reader])
        XCTAssertEqual(r.exitCode, 4, r.stderrText)
        XCTAssertTrue(r.stderrText.contains("may not push to shop/app (the registry refused it"), r.stderrText)
        XCTAssertTrue(r.stderrText.contains("system:image-pusher or registry-editor"), r.stderrText)
        // The registry did say no, the OpenShift way.
        let refused = prod.registryFront.log.filter { $0.status == 401 && $0.path.contains("/blobs/uploads/") }
        XCTAssertFalse(refused.isEmpty)
        XCTAssertEqual(uploads(prod).bytes, 0)
        XCTAssertEqual(prod.registryFront.count(method: "PUT", pathContains: "/manifests/"), 0)
        let tagged = try await digest(prod, "shop/app:1.0", token: Self.promoter)
        XCTAssertNil(tagged)
    }

    func testPusherWithoutStreamCreationIsDeniedBeforeAnyBlobMoves() async throws {
        let r = try await imgpromote(["copy"] + flags(dev, prod) + ["shop/app:1.0", "stage/app:1.0"],
                                     env: ["IMGPROMOTE_SRC_TOKEN": Self.builder, "IMGPROMOTE_DEST_TOKEN": Self.pusher])
        XCTAssertEqual(r.exitCode, 4, r.stderrText)
        XCTAssertTrue(r.stderrText.contains("may not create image streams in project stage"), r.stderrText)
        XCTAssertTrue(r.stderrText.contains("registry-editor or edit"), r.stderrText)
        XCTAssertEqual(uploads(prod).bytes, 0)

        // Without the preflight the blobs go in and the manifest is DENIED (403): explained the same way.
        let raw = try await imgpromote(["copy", "--no-preflight"] + flags(dev, prod) + ["shop/app:1.0", "stage/app:1.0"],
                                       env: ["IMGPROMOTE_SRC_TOKEN": Self.builder, "IMGPROMOTE_DEST_TOKEN": Self.pusher])
        XCTAssertEqual(raw.exitCode, 4, raw.stderrText)
        XCTAssertTrue(raw.stderrText.contains("may not create image streams in project stage"), raw.stderrText)
        XCTAssertGreaterThan(prod.registryFront.count(method: "PUT", pathContains: "/manifests/1.0", status: 403), 0)
    }

    func testSourceWithoutPullRightsIsDeniedWithThePullerRole() async throws {
        let r = try await imgpromote(["copy"] + flags(dev, prod) + ["locked/app:1.0", "shop/app:1.0"],
                                     env: ["IMGPROMOTE_SRC_TOKEN": Self.builder, "IMGPROMOTE_DEST_TOKEN": Self.promoter])
        XCTAssertEqual(r.exitCode, 4, r.stderrText)
        XCTAssertTrue(r.stderrText.contains("may not pull from locked/app"), r.stderrText)
        XCTAssertTrue(r.stderrText.contains("system:image-puller"), r.stderrText)
    }

    // MARK: bad tokens stay authentication failures

    func testBadTokenExitsThreeWithAndWithoutPreflight() async throws {
        let bogus = "sha256~" + String(repeating: "x", count: 43)
        for extraFlags in [[], ["--no-preflight"]] {
            let r = try await imgpromote(["copy"] + extraFlags + flags(dev, prod)
                                            + ["--dest-registry", prod.registryHost, "shop/app:1.0", "shop/app:1.0"],
                                         env: ["IMGPROMOTE_SRC_TOKEN": Self.builder, "IMGPROMOTE_DEST_TOKEN": bogus])
            XCTAssertEqual(r.exitCode, 3, "\(extraFlags): \(r.stderrText)")
            XCTAssertFalse(r.stderrText.contains("permission denied"), r.stderrText)
            XCTAssertFalse(r.stderrText.contains(bogus), r.stderrText)
        }
        XCTAssertEqual(uploads(prod).bytes, 0)
    }

    // MARK: a token that dies mid-copy

    func testTokenExpiredMidCopyIsRenewedOnceAndAllTokensRevoked() async throws {
        // The first upload to prod finds every OAuth token expired (as after 24 h, or `oc logout` elsewhere).
        let fired = Locked(false)
        let target = prod!
        prod.observeRegistryRequests { method, path in
            guard method == "POST", path.hasSuffix("/blobs/uploads/") else { return }
            if fired.withLock({ f -> Bool in defer { f = true }; return !f }) { target.expireAllTokens() }
        }
        let r = try await imgpromote(["copy", "--dest-username", "alice"] + flags(dev, prod) + ["shop/app:1.0", "shop/app:1.0"],
                                     env: ["IMGPROMOTE_SRC_TOKEN": Self.builder, "IMGPROMOTE_DEST_PASSWORD": Self.alicePassword])
        XCTAssertEqual(r.exitCode, 0, r.stderrText)
        XCTAssertTrue(fired.withLock { $0 }, "the token was not expired mid-copy")
        XCTAssertTrue(r.stderrText.contains("rejected the token mid-run"), r.stderrText)
        XCTAssertTrue(r.stderrText.contains("logged in again"), r.stderrText)
        XCTAssertEqual(r.stderrText.components(separatedBy: "logged in again").count, 2, "renewed once: \(r.stderrText)")
        XCTAssertEqual(r.stdoutText, "\(prod.registryHost)/shop/app@\(expected!)\n")
        let seen = try await digest(prod, "shop/app:1.0", token: Self.promoter)
        XCTAssertEqual(seen, expected)
        let tokens = prod.tokens()
        XCTAssertEqual(tokens.count, 2, "one login, one re-login")
        XCTAssertEqual(tokens.filter { !$0.revoked }.count, 0, "every token created is revoked at the end")
    }

    func testTokenFileRotatedMidCopyIsReadAgain() async throws {
        // A token file (as a projected service-account token) whose token dies mid-copy and is replaced.
        let login = try await imgpromote(["login", "--cluster", prod.apiURL, "--ca-file", prod.caBundlePath, "--username", "alice",
                                          "--show-token"], env: ["IMGPROMOTE_PASSWORD": Self.alicePassword])
        XCTAssertEqual(login.exitCode, 0, login.stderrText)
        let file = dir.file("dest-token")
        try FileSystem.write(login.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines), to: file, mode: 0o600)
        let target = prod!
        let fired = Locked(false)
        prod.observeRegistryRequests { method, path in
            guard method == "POST", path.hasSuffix("/blobs/uploads/"), fired.withLock({ f -> Bool in defer { f = true }; return !f })
            else { return }
            target.expireAllTokens()
            try? FileSystem.write(Self.promoter, to: file, mode: 0o600)
        }
        let r = try await imgpromote(["copy", "--dest-token-file", file] + flags(dev, prod) + ["shop/app:1.0", "shop/app:1.0"],
                                     env: ["IMGPROMOTE_SRC_TOKEN": Self.builder])
        XCTAssertEqual(r.exitCode, 0, r.stderrText)
        XCTAssertTrue(r.stderrText.contains("re-read \(file)"), r.stderrText)
        let seen = try await digest(prod, "shop/app:1.0", token: Self.promoter)
        XCTAssertEqual(seen, expected)
    }

    func testTokenRejectedMidCopyWithoutCredentialsToRenewIsExitThree() async throws {
        // An OAuth token given by the user (nothing to log in again with) expires mid-copy.
        let login = try await imgpromote(["login", "--cluster", prod.apiURL, "--ca-file", prod.caBundlePath, "--username", "alice",
                                          "--show-token"], env: ["IMGPROMOTE_PASSWORD": Self.alicePassword])
        XCTAssertEqual(login.exitCode, 0, login.stderrText)
        let token = login.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
        let target = prod!
        prod.observeRegistryRequests { method, path in
            if method == "POST", path.hasSuffix("/blobs/uploads/") { target.expireAllTokens() }
        }
        let r = try await imgpromote(["copy"] + flags(dev, prod) + ["shop/app:1.0", "shop/app:1.0"],
                                     env: ["IMGPROMOTE_SRC_TOKEN": Self.builder, "IMGPROMOTE_DEST_TOKEN": token])
        XCTAssertEqual(r.exitCode, 3, r.stderrText)
        XCTAssertTrue(r.stderrText.contains("rejects the token too"), r.stderrText)
        XCTAssertFalse(r.stderrText.contains(token))
        let tagged = try await digest(prod, "shop/app:1.0", token: Self.promoter)
        XCTAssertNil(tagged)
    }

    // MARK: tag

    func testTagWithinOneClusterMovesNoBytes() async throws {
        let before = dev.registryFront.log.count
        let r = try await imgpromote(["tag", "--cluster", dev.apiURL, "--ca-file", dev.caBundlePath, "--username", "alice",
                                      "--reference-policy", "local", "shop/app:1.0", "release/app:1.0"],
                                     env: ["IMGPROMOTE_PASSWORD": Self.alicePassword])
        XCTAssertEqual(r.exitCode, 0, r.stderrText)
        XCTAssertEqual(r.stdoutText, "\(dev.registryHost)/release/app@\(expected!)\n")
        XCTAssertEqual(dev.registryFront.log.count, before, "tag must not send a single request to the registry")
        XCTAssertEqual(dev.tokens().filter { !$0.revoked }.count, 0)
        let seen = try await digest(dev, "release/app:1.0", token: Self.builder)
        XCTAssertNil(seen, "the builder has no rights in release")
        let alice = try await imgpromote(["login", "--cluster", dev.apiURL, "--ca-file", dev.caBundlePath, "--username", "alice",
                                          "--show-token"], env: ["IMGPROMOTE_PASSWORD": Self.alicePassword])
        let token = alice.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
        let tagged = try await digest(dev, "release/app:1.0", token: token)
        XCTAssertEqual(tagged, expected)
        let stream = try await integrationHTTP.send(HTTPRequest(
            url: dev.apiURL + "/apis/image.openshift.io/v1/namespaces/release/imagestreams/app",
            headers: HTTPHeaders([("Authorization", "Bearer \(token)")]), tls: TLSOptions(caFile: dev.caBundlePath)))
        XCTAssertTrue(stream.bodyText.contains(#""from":{"kind":"ImageStreamImage","namespace":"shop","name":"app@\#(expected!)"}"#),
                      stream.bodyText)
        XCTAssertTrue(stream.bodyText.contains(#""referencePolicy":{"type":"Local"}"#), stream.bodyText)

        // By digest, again: idempotent update.
        let again = try await imgpromote(["tag", "--cluster", dev.apiURL, "--ca-file", dev.caBundlePath,
                                          "shop/app@\(expected!)", "release/app:1.0"], env: ["IMGPROMOTE_TOKEN": token])
        XCTAssertEqual(again.exitCode, 0, again.stderrText)
        XCTAssertEqual(again.stdoutText, "\(dev.registryHost)/release/app@\(expected!)\n")

        // No tag rights in the destination: exit 4 naming the role; a missing source tag: exit 5.
        let denied = try await imgpromote(["tag", "--cluster", dev.apiURL, "--ca-file", dev.caBundlePath,
                                           "shop/app:1.0", "locked/app:1.0"], env: ["IMGPROMOTE_TOKEN": token])
        XCTAssertEqual(denied.exitCode, 4, denied.stderrText)
        XCTAssertTrue(denied.stderrText.contains("may not tag images in project locked"), denied.stderrText)
        XCTAssertTrue(denied.stderrText.contains("registry-editor or edit"), denied.stderrText)
        let missing = try await imgpromote(["tag", "--cluster", dev.apiURL, "--ca-file", dev.caBundlePath,
                                            "shop/app:9.9", "release/app:9.9"], env: ["IMGPROMOTE_TOKEN": token])
        XCTAssertEqual(missing.exitCode, 5, missing.stderrText)
        let usage = try await imgpromote(["tag", "--cluster", dev.apiURL, "\(dev.registryHost)/shop/app:1.0", "release/app:1.0"])
        XCTAssertEqual(usage.exitCode, 2, usage.stderrText)
        XCTAssertEqual(dev.registryFront.log.dropFirst(before).filter { $0.path.contains("/blobs/") }.count, 0,
                       "zero blob requests")
    }

    /// `tag --report-file`: the --json object on success (also without --json), `{"error":...}` on a
    /// refusal; mode 0600, and neither the password nor the token in it.
    func testTagReportFile() async throws {
        let path = dir.file("tag-report.json")
        func report() throws -> [String: Any] {
            var st = stat()
            XCTAssertEqual(stat(path, &st), 0, "no report file")
            XCTAssertEqual(st.st_mode & 0o777, 0o600)
            let text = String(decoding: try FileSystem.read(path), as: UTF8.self)
            for secret in secrets {
                XCTAssertFalse(text.contains(secret), "a secret is in the report")
            }
            return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], text)
        }
        let base = ["tag", "--cluster", dev.apiURL, "--ca-file", dev.caBundlePath, "--report-file", path]
        let r = try await imgpromote(base + ["--username", "alice", "shop/app:1.0", "release/app:2.0"],
                                     env: ["IMGPROMOTE_PASSWORD": Self.alicePassword])
        XCTAssertEqual(r.exitCode, 0, r.stderrText)
        XCTAssertEqual(r.stdoutText, "\(dev.registryHost)/release/app@\(expected!)\n", "stdout is unchanged by --report-file")
        let ok = try report()
        XCTAssertEqual(ok["pinned"] as? String, "\(dev.registryHost)/release/app@\(expected!)")
        XCTAssertEqual(ok["referencePolicy"] as? String, "source")
        XCTAssertEqual(ok["destination"] as? [String: String],
                       ["reference": "\(dev.registryHost)/release/app:2.0", "digest": expected!])
        XCTAssertEqual(ok["source"] as? [String: String], ["reference": "\(dev.registryHost)/shop/app:1.0", "digest": expected!])
        XCTAssertEqual(dev.tokens().filter { !$0.revoked }.count, 0)

        // --json: stdout and the file are the same object.
        let json = try await imgpromote(base + ["--json", "--username", "alice", "shop/app@\(expected!)", "release/app:2.0"],
                                        env: ["IMGPROMOTE_PASSWORD": Self.alicePassword])
        XCTAssertEqual(json.exitCode, 0, json.stderrText)
        XCTAssertEqual(json.stdoutText, String(decoding: try FileSystem.read(path), as: UTF8.self))
        XCTAssertEqual((try report()["source"] as? [String: String])?["reference"], "\(dev.registryHost)/shop/app@\(expected!)")

        // Refused (no tag rights in locked): exit 4, the error in the file with stderr's message.
        let denied = try await imgpromote(base + ["shop/app:1.0", "locked/app:1.0"], env: ["IMGPROMOTE_TOKEN": Self.builder])
        XCTAssertNotEqual(denied.exitCode, 0, denied.stderrText)
        let failure = try report()
        XCTAssertNil(failure["pinned"])
        let error = try XCTUnwrap(failure["error"] as? [String: Any])
        XCTAssertEqual(error["exitCode"] as? Int, Int(denied.exitCode))
        let message = try XCTUnwrap(error["message"] as? String)
        XCTAssertEqual(denied.stderrText, "imgpromote: \(message)\n")
    }


    func testClusterWithoutAccessReviewAPIStillPromotes() async throws {
        let legacy = try await ClusterEmulator.start(config: Self.prodConfig(name: "legacy", accessReviewAPI: false),
                                                     workDirectory: try dir.subdirectory("legacy"))
        extra.append(legacy)
        let r = try await imgpromote(["copy", "-v"] + flags(dev, legacy) + ["shop/app:1.0", "shop/app:1.0"],
                                     env: ["IMGPROMOTE_SRC_TOKEN": Self.builder, "IMGPROMOTE_DEST_TOKEN": Self.promoter])
        XCTAssertEqual(r.exitCode, 0, r.stderrText)
        XCTAssertTrue(r.stderrText.contains("does not answer SelfSubjectAccessReviews"), r.stderrText)
        XCTAssertEqual(r.stdoutText, "\(legacy.registryHost)/shop/app@\(expected!)\n")
        // And a refusal there is still told apart without the preflight's help.
        let denied = try await imgpromote(["copy"] + flags(dev, legacy) + ["shop/app:1.0", "shop/other:1.0"],
                                          env: ["IMGPROMOTE_SRC_TOKEN": Self.builder, "IMGPROMOTE_DEST_TOKEN": Self.reader])
        XCTAssertEqual(denied.exitCode, 4, denied.stderrText)
        XCTAssertTrue(denied.stderrText.contains("system:image-pusher"), denied.stderrText)
    }

    // MARK: login --authfile

    func testLoginAuthfileChecksTheRegistryAndClassifiesRefusals() async throws {
        let path = dir.file("auth.json")
        let ok = try await imgpromote(["login", "--cluster", prod.apiURL, "--ca-file", prod.caBundlePath, "--authfile", path],
                                      env: ["IMGPROMOTE_TOKEN": Self.reader])
        XCTAssertEqual(ok.exitCode, 0, ok.stderrText)
        XCTAssertTrue(FileSystem.exists(path))
        let bad = try await imgpromote(["login", "--cluster", prod.apiURL, "--ca-file", prod.caBundlePath, "--registry",
                                        prod.registryHost, "--authfile", dir.file("bad.json")],
                                       env: ["IMGPROMOTE_TOKEN": "sha256~" + String(repeating: "y", count: 43)])
        XCTAssertEqual(bad.exitCode, 3, bad.stderrText)
        XCTAssertFalse(FileSystem.exists(dir.file("bad.json")))
    }
}
