import ClusterEmulator
import Foundation
import HTTPTransport
import TestSupport
import XCTest

/// `imgpromote copy` between two emulated OpenShift clusters, from every credential source, with
/// revocation proven from the emulators' state and secrets hunted for in every output.
final class ClusterPromotionTests: XCTestCase {
    static let alicePassword = "alice-Pa55:word with spaces"
    static let devPromoter = "sa-dev-promoter-0123456789abcdef"
    static let devBuilder = "sa-dev-builder-0123456789abcdef"
    static let prodPromoter = "sa-prod-promoter-0123456789abcdef"
    var secrets: [String] { [Self.alicePassword, Self.devPromoter, Self.devBuilder, Self.prodPromoter] }

    var dir: TemporaryDirectory!
    var dev: ClusterEmulator!
    var prod: ClusterEmulator!
    var image: TestImage!
    /// The digest dev serves after seeding (skopeo compresses the layers on the way in).
    var expected: String!
    var cleanups: [() -> Void] = []

    static func config(_ name: String, promoterToken: String, shopPushers: [String], shopPullers: [String]) -> EmulatorConfig {
        EmulatorConfig(
            name: name,
            users: [.init(name: "alice", password: alicePassword), .init(name: "kube:admin", password: alicePassword)],
            serviceAccounts: [.init(namespace: "ci", name: "promoter", token: promoterToken),
                              .init(namespace: "ci", name: "builder", token: devBuilder)],
            projects: [.init(name: "shop", pullers: shopPullers, pushers: shopPushers),
                       .init(name: "locked", pullers: ["alice"], pushers: []),
                       .init(name: "openshift", pullers: ["system:authenticated"], pushers: [])],
            imageStreams: [.init(namespace: "openshift", name: "cli")])
    }

    override func setUp() async throws {
        dir = try TemporaryDirectory(prefix: "imgpromote-clusters")
        dev = try await ClusterEmulator.start(
            config: Self.config("dev", promoterToken: Self.devPromoter,
                                shopPushers: ["alice", "kube:admin", "system:serviceaccount:ci:builder"],
                                shopPullers: ["system:serviceaccount:ci:promoter"]),
            workDirectory: try dir.subdirectory("dev"))
        prod = try await ClusterEmulator.start(
            config: Self.config("prod", promoterToken: Self.prodPromoter,
                                shopPushers: ["alice", "kube:admin", "system:serviceaccount:ci:promoter"], shopPullers: []),
            workDirectory: try dir.subdirectory("prod"))
        image = TestImage.random(layerSizes: [512 << 10, 4096], platforms: [.linuxAMD64, .linuxARM64], seed: 77)
        let layout = try dir.subdirectory("layout")
        try ImageSeeder.writeOCILayout(image, to: layout, tag: "1.0")
        let auth = try authfile(host: dev.registryHost, token: Self.devBuilder, name: "builder")
        let r = try await skopeo(["copy", "--all", "--authfile", auth, "--dest-cert-dir", try certDir(dev),
                                  "oci:\(layout):1.0", "docker://\(dev.registryHost)/shop/app:1.0"])
        XCTAssertTrue(r.succeeded, r.stderrText)
        let inspect = try await skopeo(["inspect", "--raw", "--authfile", auth, "--cert-dir", try certDir(dev),
                                        "docker://\(dev.registryHost)/shop/app:1.0"])
        expected = SHA256.digest(inspect.stdout)
    }

    override func tearDown() async throws {
        for c in cleanups.reversed() { c() }
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

    /// The digest prod serves for shop/app:TAG, read by skopeo with the prod promoter's token.
    func prodDigest(_ tag: String = "1.0") async throws -> String? {
        let auth = try authfile(host: prod.registryHost, token: Self.prodPromoter, name: "prod-check")
        let r = try await skopeo(["inspect", "--raw", "--authfile", auth, "--cert-dir", try certDir(prod),
                                  "docker://\(prod.registryHost)/shop/app:\(tag)"])
        return r.succeeded ? SHA256.digest(r.stdout) : nil
    }

    var clusterFlags: [String] {
        ["--src-cluster", dev.apiURL, "--src-ca-file", dev.caBundlePath,
         "--dest-cluster", prod.apiURL, "--dest-ca-file", prod.caBundlePath]
    }

    func imgpromote(_ args: [String], env: [String: String] = [:], stdin: [UInt8]? = nil) async throws -> ProcessResult {
        let bin = try XCTUnwrap(BuiltProducts.imgpromote)
        var environment = Subprocess.currentEnvironment()
        environment["HOME"] = dir.path
        environment["KUBECONFIG"] = nil
        for k in environment.keys where k.hasPrefix("IMGPROMOTE_") { environment[k] = nil }
        for (k, v) in env { environment[k] = v }
        let r = try await Subprocess.runAsync(bin, args, environment: environment, stdin: stdin, timeoutSeconds: 120)
        assertNoSecrets(r.stdoutText + r.stderrText, context: args.joined(separator: " "))
        return r
    }

    /// No password or service-account token, and no OAuth token: every `sha256~…` in the text must be
    /// the name of a token object (a hash of the token, which is what `oc` prints too), never a token.
    func assertNoSecrets(_ text: String, context: String, file: StaticString = #filePath, line: UInt = #line) {
        let found = secrets.filter { text.contains($0) }
        XCTAssertEqual(found, [], "secret leaked by `\(context)`", file: file, line: line)
        let names = Set((dev.tokens() + prod.tokens()).map(\.name))
        var rest = Substring(text)
        while let r = rest.firstRange(of: "sha256~") {
            let value = "sha256~" + rest[r.upperBound...].prefix { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }
            if value.count > 20 {
                XCTAssertTrue(names.contains(value), "an OAuth token leaked by `\(context)`", file: file, line: line)
            }
            rest = rest[r.upperBound...]
        }
    }

    func activeTokens(_ c: ClusterEmulator) -> [TokenRecord] { c.tokens().filter { !$0.revoked && !$0.expired } }

    // MARK: credential sources

    func testTokensFromEnvironmentWithHostlessReferences() async throws {
        let r = try await imgpromote(["copy", "-v"] + clusterFlags + ["shop/app:1.0", "shop/app:1.0"],
                                     env: ["IMGPROMOTE_SRC_TOKEN": Self.devPromoter, "IMGPROMOTE_DEST_TOKEN": Self.prodPromoter])
        XCTAssertEqual(r.exitCode, 0, r.stderrText)
        XCTAssertEqual(r.stdoutText, "\(prod.registryHost)/shop/app@\(expected!)\n")
        let seen = try await prodDigest()
        XCTAssertEqual(seen, expected!)

        let inspect = try await imgpromote(["inspect", "-v", "--json", "--cluster", prod.apiURL, "--ca-file", prod.caBundlePath,
                                            "shop/app:1.0"], env: ["IMGPROMOTE_TOKEN": Self.prodPromoter])
        XCTAssertEqual(inspect.exitCode, 0, inspect.stderrText)
        XCTAssertTrue(inspect.stdoutText.contains(expected!), inspect.stdoutText)
        XCTAssertTrue(inspect.stdoutText.contains("linux/arm64"), inspect.stdoutText)
        let missing = try await imgpromote(["inspect", "-v", "--cluster", prod.apiURL, "--ca-file", prod.caBundlePath,
                                            "shop/app:9.9"], env: ["IMGPROMOTE_TOKEN": Self.prodPromoter])
        XCTAssertEqual(missing.exitCode, 5, missing.stderrText)
    }

    func testTokenFilesAndDiscoveryOverride() async throws {
        let src = dir.file("src-token"), dst = dir.file("dst-token")
        try FileSystem.write(Self.devPromoter + "\n", to: src, mode: 0o600)
        try FileSystem.write(Self.prodPromoter, to: dst, mode: 0o600)
        let r = try await imgpromote(["copy", "--src-token-file", src, "--dest-token-file", dst,
                                      "--dest-registry", prod.registryHost] + clusterFlags + ["shop/app:1.0", "shop/app:1.1"])
        XCTAssertEqual(r.exitCode, 0, r.stderrText)
        let seen = try await prodDigest("1.1")
        XCTAssertEqual(seen, expected!)
        let missing = try await imgpromote(["copy", "--src-token-file", dir.file("nope")] + clusterFlags + ["shop/app:1.0", "shop/app:1.0"])
        XCTAssertEqual(missing.exitCode, 2, missing.stderrText)
    }

    func testPasswordLoginOnBothSidesRevokesTokensItCreated() async throws {
        let r = try await imgpromote(["copy", "-v", "--src-username", "alice", "--dest-username", "alice"] + clusterFlags
                                        + ["shop/app:1.0", "shop/app:2.0"],
                                     env: ["IMGPROMOTE_SRC_PASSWORD": Self.alicePassword, "IMGPROMOTE_DEST_PASSWORD": Self.alicePassword])
        XCTAssertEqual(r.exitCode, 0, r.stderrText)
        let seen = try await prodDigest("2.0")
        XCTAssertEqual(seen, expected!)
        XCTAssertEqual(dev.tokens().count, 1, "one OAuth token issued on dev")
        XCTAssertEqual(prod.tokens().first?.userName, "alice")
        XCTAssertEqual(activeTokens(dev).count + activeTokens(prod).count, 0, "every token created was revoked")

        let kept = try await imgpromote(["copy", "--keep-tokens", "--src-password-stdin", "--src-username", "alice",
                                         "--dest-token-file", try { let p = dir.file("t"); try FileSystem.write(Self.prodPromoter, to: p, mode: 0o600); return p }()]
                                        + clusterFlags + ["shop/app:1.0", "shop/app:2.1"],
                                        stdin: Array((Self.alicePassword + "\n").utf8))
        XCTAssertEqual(kept.exitCode, 0, kept.stderrText)
        XCTAssertEqual(activeTokens(dev).count, 1, "--keep-tokens keeps the login token")
        XCTAssertEqual(prod.tokens().filter { $0.userName.hasPrefix("system:serviceaccount") && $0.revoked }.count, 0,
                       "user-supplied tokens are never revoked")
    }

    func testWrongPasswordExitsThreeAndFailedCopyStillRevokes() async throws {
        let wrong = try await imgpromote(["copy", "--src-username", "alice"] + clusterFlags + ["shop/app:1.0", "shop/app:1.0"],
                                         env: ["IMGPROMOTE_SRC_PASSWORD": "wrong", "IMGPROMOTE_DEST_TOKEN": Self.prodPromoter])
        XCTAssertEqual(wrong.exitCode, 3, wrong.stderrText)
        XCTAssertEqual(wrong.stderrText.split(separator: "\n").count, 1, wrong.stderrText)

        // alice may pull from dev but not push to prod's "locked" project: exit 4, no tag, tokens revoked.
        let denied = try await imgpromote(["copy", "--src-username", "alice", "--dest-username", "alice"] + clusterFlags
                                            + ["shop/app:1.0", "locked/app:1.0"],
                                          env: ["IMGPROMOTE_SRC_PASSWORD": Self.alicePassword, "IMGPROMOTE_DEST_PASSWORD": Self.alicePassword,
                                                "IMGPROMOTE_DEST_REGISTRY": ""])
        XCTAssertEqual(denied.exitCode, 4, denied.stderrText)
        XCTAssertEqual(dev.tokens().count, 1)
        XCTAssertEqual(prod.tokens().count, 1)
        XCTAssertEqual(activeTokens(dev).count + activeTokens(prod).count, 0, "revoked after a failed copy too")
    }

    func testKubeconfigContextsAndExecPluginKeepSecretsOutOfArgv() async throws {
        let argvLog = dir.file("plugin-argv")
        let envLog = dir.file("plugin-env")
        let plugin = dir.file("token-plugin")
        try FileSystem.write("""
        #!/bin/sh
        echo "$0 $*" >> \(argvLog)
        env >> \(envLog)
        printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s"}}' "$PROMOTER_TOKEN"
        """, to: plugin, mode: 0o700)
        let kubeconfig = dir.file("kubeconfig")
        try FileSystem.write("""
        apiVersion: v1
        kind: Config
        clusters:
        - name: dev
          cluster:
            server: \(dev.apiURL)
            certificate-authority: \(dev.caBundlePath)
        - name: prod
          cluster: {server: "\(prod.apiURL)", certificate-authority-data: "\(Data(try FileSystem.read(prod.caBundlePath)).base64EncodedString())"}
        users:
        - name: dev-promoter
          user:
            exec:
              apiVersion: client.authentication.k8s.io/v1
              command: \(plugin)
              args: ["--cluster", "dev"]
              env: [{name: PROMOTER_TOKEN, value: "\(Self.devPromoter)"}]
              interactiveMode: Never
        - name: prod-promoter
          user: {token: "\(Self.prodPromoter)"}
        contexts:
        - name: dev
          context: {cluster: dev, user: dev-promoter, namespace: shop}
        - name: prod
          context: {cluster: prod, user: prod-promoter}
        current-context: prod
        """, to: kubeconfig, mode: 0o600)
        // A variable of ours holding a secret (unused by copy) is set: the plugin must not inherit it.
        let r = try await imgpromote(["copy", "-v", "--kubeconfig", kubeconfig, "--src-context", "dev", "--dest-context", "prod",
                                      "shop/app:1.0", "shop/app:3.0"], env: ["IMGPROMOTE_PASSWORD": Self.alicePassword])
        XCTAssertEqual(r.exitCode, 0, r.stderrText)
        let seen = try await prodDigest("3.0")
        XCTAssertEqual(seen, expected!)
        let argv = try FileSystem.readText(argvLog)
        XCTAssertTrue(argv.contains("--cluster dev"), argv)
        for s in secrets { XCTAssertFalse(argv.contains(s), "secret in a child's argv") }
        let childEnv = try FileSystem.readText(envLog)
        XCTAssertTrue(childEnv.contains("PROMOTER_TOKEN="), "the stanza's env reaches the plugin")
        XCTAssertFalse(childEnv.contains("IMGPROMOTE_"), "our variables never reach an exec plugin: \(childEnv)")
        XCTAssertFalse(childEnv.contains(Self.alicePassword))

        let who = try await imgpromote(["whoami", "--kubeconfig", kubeconfig, "--context", "prod"])
        XCTAssertEqual(who.stdoutText, "system:serviceaccount:ci:promoter\n", who.stderrText)
        let nope = try await imgpromote(["whoami", "--kubeconfig", kubeconfig, "--context", "staging"])
        XCTAssertEqual(nope.exitCode, 2, nope.stderrText)
    }

    func testInPodServiceAccountIsNotUsedWithoutAContext() async throws {
        // Outside a pod the service-account directory is absent: a host-less reference with no cluster is a usage error.
        let r = try await imgpromote(["copy", "shop/app:1.0", "shop/app:1.0"])
        XCTAssertEqual(r.exitCode, 2, r.stderrText)
        XCTAssertTrue(r.stderrText.contains("shop/app:1.0"), r.stderrText)
    }

    func testUntrustedClusterCertificateExitsSixNamingTheFlag() async throws {
        let r = try await imgpromote(["copy", "--src-cluster", dev.apiURL, "--dest-cluster", prod.apiURL,
                                      "--dest-ca-file", prod.caBundlePath, "shop/app:1.0", "shop/app:1.0"],
                                     env: ["IMGPROMOTE_SRC_TOKEN": Self.devPromoter, "IMGPROMOTE_DEST_TOKEN": Self.prodPromoter])
        XCTAssertEqual(r.exitCode, 6, r.stderrText)
        XCTAssertTrue(r.stderrText.contains("--src-ca-file"), r.stderrText)
    }

    func testLoginWritesAuthFileAndWhoami() async throws {
        let authPath = dir.file("login/auth.json")
        let login = try await imgpromote(["login", "--cluster", prod.apiURL, "--ca-file", prod.caBundlePath,
                                          "--username", "alice", "--authfile", authPath],
                                         env: ["IMGPROMOTE_PASSWORD": Self.alicePassword])
        XCTAssertEqual(login.exitCode, 0, login.stderrText)
        XCTAssertTrue(login.stderrText.contains("Logged in to \(prod.apiURL) as alice"), login.stderrText)
        var st = stat()
        XCTAssertEqual(stat(authPath, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o600, "auth file is private")
        XCTAssertEqual(activeTokens(prod).count, 1, "a token written to an auth file is kept")
        // The auth file works for a real client.
        let r = try await skopeo(["inspect", "--raw", "--authfile", authPath, "--cert-dir", try certDir(prod),
                                  "docker://\(prod.registryHost)/shop/app:1.0"])
        XCTAssertTrue(r.stderrText.contains("manifest unknown") || r.succeeded, r.stderrText)
        XCTAssertFalse(r.stderrText.contains("unauthorized"), r.stderrText)

        let show = try await Subprocess.runAsync(try XCTUnwrap(BuiltProducts.imgpromote),
            ["login", "--cluster", dev.apiURL, "--ca-file", dev.caBundlePath, "--show-token"],
            environment: Subprocess.environment(adding: ["IMGPROMOTE_TOKEN": Self.devPromoter, "HOME": dir.path]))
        XCTAssertEqual(show.stdoutText, Self.devPromoter + "\n", "--show-token is the one way to print a secret")
    }

    func testSigtermMidCopyRevokesLeavesNoTagAndRerunCompletes() async throws {
        // Blob GETs from dev stall behind a proxy, so the copy is surely in flight when SIGTERM arrives.
        let identity = try TLSIdentity.generate()
        cleanups.append { identity.remove() }
        let front = try FaultProxy(upstream: "https://\(dev.registryHost)", tls: identity,
                                   rules: [.init(method: "GET", pathContains: "/blobs/", fault: .stall(seconds: 60))])
        cleanups.append { front.stop() }
        let bundle = dir.file("src-bundle.pem")
        try FileSystem.write(try FileSystem.read(dev.caBundlePath) + Array("\n".utf8) + (try FileSystem.read(identity.caPath ?? "")),
                             to: bundle)
        let args = ["copy", "-v", "--src-cluster", dev.apiURL, "--src-ca-file", bundle, "--src-registry", front.authority,
                    "--src-username", "alice", "--dest-cluster", prod.apiURL, "--dest-ca-file", prod.caBundlePath,
                    "--dest-username", "alice", "shop/app:1.0", "shop/app:4.0"]
        var env = Subprocess.currentEnvironment()
        env["HOME"] = dir.path
        env["IMGPROMOTE_SRC_PASSWORD"] = Self.alicePassword
        env["IMGPROMOTE_DEST_PASSWORD"] = Self.alicePassword
        let child = try Subprocess.launch(try XCTUnwrap(BuiltProducts.imgpromote), args, environment: env,
                                          stdoutPath: dir.file("sigterm.out"), stderrPath: dir.file("sigterm.err"))
        // The stalled GETs never finish, so wait for the uploads they feed to be opened.
        var started = false
        for _ in 0..<300 where !started {
            started = ((try? FileSystem.readText(dir.file("sigterm.err"))) ?? "").contains("blobs/uploads/ -> 202")
            if !started { try await Task.sleep(nanoseconds: 100_000_000) }
        }
        XCTAssertTrue(started, "copy reached the blobs: \((try? FileSystem.readText(dir.file("sigterm.err"))) ?? "")")
        try await Task.sleep(nanoseconds: 300_000_000)
        let clock = ContinuousClock()
        let start = clock.now
        child.signal(SIGTERM)
        let end = child.wait(timeoutSeconds: 15)
        XCTAssertEqual(end, Termination.exited(128 + SIGTERM), (try? FileSystem.readText(dir.file("sigterm.err"))) ?? "")
        assertNoSecrets((try? FileSystem.readText(dir.file("sigterm.err"))) ?? "", context: "SIGTERM run")
        XCTAssertLessThan(clock.now - start, .seconds(5), "exits promptly")
        XCTAssertEqual(activeTokens(dev).count + activeTokens(prod).count, 0,
                       "tokens revoked on SIGTERM: \((try? FileSystem.readText(dir.file("sigterm.err"))) ?? "")")
        let tag = try await prodDigest("4.0")
        XCTAssertNil(tag, "no tag after an interrupted promotion")

        front.setRules([])
        let rerun = try await imgpromote(args, env: ["IMGPROMOTE_SRC_PASSWORD": Self.alicePassword, "IMGPROMOTE_DEST_PASSWORD": Self.alicePassword])
        XCTAssertEqual(rerun.exitCode, 0, rerun.stderrText)
        let done = try await prodDigest("4.0")
        XCTAssertEqual(done, expected!)
    }
}
