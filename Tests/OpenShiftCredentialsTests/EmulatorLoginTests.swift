#if canImport(Glibc)
import Glibc
#endif
import XCTest
import ClusterEmulator
import HTTPTransport
@testable import OpenShiftCredentials

/// Emulated clusters shared by the end-to-end tests (each starts servers and a registry process).
final class Emulators: Sendable {
    static let shared = Emulators()
    private let running = Locked<[String: ClusterEmulator]>([:])
    private let root: String = {
        var template = Array("/tmp/osc-emu-XXXXXX".utf8CString)
        return template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }.map { String(cString: $0) } ?? "/tmp"
    }()

    static let password = "s3cret-Pa55word"
    static let mappingPassword = "map-Pa55word"
    static let saToken = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImVtdSJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6ZGV2OnBpcGVsaW5lIn0.c2ln"

    static func config(_ name: String) -> EmulatorConfig {
        var c = EmulatorConfig(
            name: name,
            users: [.init(name: "alice", password: password, groups: ["developers"]),
                    .init(name: "mallory", password: mappingPassword)],
            mappingFailureUsers: ["mallory"],
            serviceAccounts: [.init(namespace: "dev", name: "pipeline", token: saToken)],
            projects: [.init(name: "dev", pushers: ["alice", "system:serviceaccount:dev:pipeline"]),
                       .init(name: "openshift", pullers: ["system:authenticated"])],
            imageStreams: [.init(namespace: "openshift", name: "cli")])
        switch name {
        case "browser": c.identityProvider = .browser
        case "plain-pkce": c.pkceMethods = ["plain"]
        case "imagesconfig": c.exposeRegistry = .imagesconfig; c.clusterReaders = ["alice"]
        case "route": c.exposeRegistry = .route; c.clusterReaders = ["alice"]
        case "hidden": c.exposeRegistry = .none; c.clusterReaders = ["alice"]
        default: break
        }
        return c
    }

    func get(_ name: String) throws -> ClusterEmulator {
        if let e = running.withLock({ $0[name] }) { return e }
        let e = try ClusterEmulator(config: Self.config(name), workDirectory: root + "/" + name)
        running.withLock { $0[name] = e }
        return e
    }

    func stopAll() {
        let all = running.withLock { m -> [ClusterEmulator] in
            defer { m.removeAll() }
            return Array(m.values)
        }
        all.forEach { $0.stop() }
        _ = system("rm -rf '\(root)'")
    }
}

final class EmulatorLoginTests: XCTestCase {
    override class func tearDown() {
        Emulators.shared.stopAll()
        super.tearDown()
    }

    func emulator(_ name: String = "main") throws -> ClusterEmulator { try Emulators.shared.get(name) }

    func options(_ emu: ClusterEmulator, username: String? = "alice", password: String? = Emulators.password,
                 caFile: String? = nil, useBundle: Bool = true) -> ClusterSideOptions {
        ClusterSideOptions(clusterURL: emu.apiURL, kubeconfigPaths: [], username: username, password: password,
                           caFile: caFile ?? (useBundle ? emu.caBundlePath : nil),
                           side: .source)
    }

    func open(_ o: ClusterSideOptions, tokens: TokenLedger? = nil, sink: LogSink = LogSink(),
              inCluster: String = "/nonexistent") async throws -> ClusterSession {
        try await ClusterSession.open(o, tokens: tokens, http: testHTTP, environment: [:], inClusterDirectory: inCluster, log: sink.closure)
    }

    func assertNoSecrets(_ sink: LogSink, _ secrets: [String], file: StaticString = #filePath, line: UInt = #line) {
        let text = sink.all.joined(separator: "\n")
        if getenv("OSC_PRINT_ERRORS") != nil { print(text) }
        XCTAssertFalse(text.isEmpty, "expected -v log lines", file: file, line: line)
        for s in secrets where !s.isEmpty {
            XCTAssertFalse(text.contains(s), "log leaks a secret: \(text)", file: file, line: line)
        }
    }

    // MARK: password login

    func testPasswordLoginWhoamiRegistryAndRevocation() async throws {
        let emu = try emulator()
        let sink = LogSink()
        let session = try await open(options(emu), sink: sink)
        let token = session.token()
        XCTAssertTrue(token.hasPrefix("sha256~"), "OAuth access token")
        XCTAssertTrue(session.createdToken)
        XCTAssertEqual(session.apiURL, emu.apiURL)
        XCTAssertEqual(session.tls.caFile, emu.caBundlePath)
        let me = try await session.whoami()
        XCTAssertEqual(me, "alice")

        let record = try XCTUnwrap(emu.tokens().first { $0.name == OpenShiftToken.objectName(token) },
                                   "the emulator stores the token under the name we derive")
        XCTAssertEqual(record.clientName, "openshift-challenging-client")
        XCTAssertEqual(record.userName, "alice")
        XCTAssertFalse(record.revoked)

        let cred = try await session.registryCredential()
        XCTAssertEqual(cred.username, "user")
        XCTAssertEqual(cred.password, token)
        let host = try await session.registryHost(project: "dev", imageStream: nil)
        XCTAssertEqual(host, emu.registryHost, "found through the image streams of the openshift namespace")
        let named = try await session.registryHost(project: "openshift", imageStream: "cli")
        XCTAssertEqual(named, emu.registryHost)

        await session.revokeIfCreated()
        XCTAssertEqual(emu.tokens().first { $0.name == record.name }?.revoked, true, "revocation is visible in the emulator")
        await session.revokeIfCreated()   // idempotent, no request

        // The revoked token no longer works.
        let reuse = try await open(ClusterSideOptions(clusterURL: emu.apiURL, token: token, caFile: emu.caBundlePath,
                                                      side: .source))
        await assertOpenShiftErrorAsync(.authentication, contains: ["401", "invalid or expired"], remedies: [.renewToken], side: .source) {
            try await reuse.whoami()
        }
        assertNoSecrets(sink, [Emulators.password, token, String(token.dropFirst(7))])
    }

    func testLoginRequestsAreExactlyOcs() async throws {
        let emu = try emulator()
        let sink = LogSink()
        let session = try await open(options(emu), sink: sink)
        await session.revokeIfCreated()
        let lines = sink.all
        let authorize = try XCTUnwrap(lines.first { $0.hasPrefix("GET ") && $0.contains("/oauth/authorize?") })
        XCTAssertTrue(authorize.contains("?client_id=openshift-challenging-client&code_challenge="), authorize)
        XCTAssertTrue(authorize.contains("&code_challenge_method=S256&redirect_uri=" + URLTools.queryEscape(emu.oauthURL + "/oauth/token/implicit") + "&response_type=code"), authorize)
        XCTAssertEqual(lines.filter { $0.contains("/oauth/authorize?") && $0.hasPrefix("GET ") }.count, 2, "challenge, then Basic")
        XCTAssertTrue(lines.contains { $0.hasPrefix("POST ") && $0.hasSuffix("/oauth/token") })
        XCTAssertTrue(lines.contains { $0.hasPrefix("DELETE ") && $0.contains("/apis/oauth.openshift.io/v1/oauthaccesstokens/") })
    }

    func testPlainPKCEWhenS256IsNotAdvertised() async throws {
        let emu = try emulator("plain-pkce")
        let sink = LogSink()
        let session = try await open(options(emu), sink: sink)
        XCTAssertTrue(sink.all.contains { $0.contains("code_challenge_method=plain") })
        let me = try await session.whoami()
        XCTAssertEqual(me, "alice")
        await session.revokeIfCreated()
    }

    func testWrongPassword() async throws {
        let emu = try emulator()
        let sink = LogSink()
        let wrong = "Wr0ng-password"
        await assertOpenShiftErrorAsync(.authentication, contains: ["login failed", "alice"]) {
            try await self.open(self.options(emu, password: wrong), sink: sink)
        }
        do {
            _ = try await open(options(emu, password: wrong))
        } catch let e as OpenShiftError {
            XCTAssertEqual(e.kind, .authentication)
            XCTAssertEqual(e.host, emu.apiURL)
            XCTAssertFalse(e.message.contains(wrong))
        }
        assertNoSecrets(sink, [wrong])
    }

    func testUserMappingFailure() async throws {
        let emu = try emulator()
        await assertOpenShiftErrorAsync(.authentication, contains: ["mallory", "could not map", "mappingMethod"]) {
            try await self.open(self.options(emu, username: "mallory", password: Emulators.mappingPassword))
        }
    }

    func testBrowserOnlyProvider() async throws {
        let emu = try emulator("browser")
        await assertOpenShiftErrorAsync(.browserOnlyProvider,
                                        contains: [emu.oauthURL + "/oauth/token/request"], remedies: [.giveToken], side: .source) {
            try await self.open(self.options(emu))
        }
    }

    func testColonInUserNameIsRejectedBeforeAnyRequest() async throws {
        let emu = try emulator()
        await assertOpenShiftErrorAsync(.invalidInput, contains: ["kube:admin", "':'"]) {
            try await self.open(self.options(emu, username: "kube:admin"))
        }
    }

    // MARK: TLS and URLs

    func testOAuthHostSignedByAnotherCA() async throws {
        let emu = try emulator()
        // The kubeconfig-style CA of the API server only: the OAuth host's ingress CA is missing.
        await assertOpenShiftErrorAsync(.tls, contains: ["not trusted", "ingress"], remedies: [.trustCA, .disableTLSVerification],
                                        side: .source) {
            try await self.open(self.options(emu, caFile: emu.apiCAPath))
        }
    }

    func testUntrustedAPIServer() async throws {
        let emu = try emulator()
        do {
            _ = try await open(options(emu, useBundle: false))
            XCTFail("expected a TLS error")
        } catch let e as OpenShiftError {
            XCTAssertEqual(e.kind, .tls, e.message)
            XCTAssertEqual(e.remedies, [.trustCA, .disableTLSVerification], e.message)
            XCTAssertEqual(e.side, .source)
            XCTAssertTrue(e.underlying is TransportError, "the transport failure underneath is kept")
        }
    }

    func testTLSVerifyFalse() async throws {
        let emu = try emulator()
        var o = options(emu, useBundle: false)
        o.tlsVerify = false
        let session = try await open(o)
        XCTAssertFalse(session.tls.verify)
        let me = try await session.whoami()
        XCTAssertEqual(me, "alice")
        await session.revokeIfCreated()
    }

    func testConsoleURLInsteadOfAPIURL() async throws {
        let emu = try emulator()
        var o = options(emu)
        o.clusterURL = emu.consoleURL
        await assertOpenShiftErrorAsync(.invalidInput, contains: ["web console URL", "https://api.<cluster>:6443"]) { try await self.open(o) }
        let withToken = try await open(ClusterSideOptions(clusterURL: emu.consoleURL, token: "sha256~x", caFile: emu.caBundlePath))
        await assertOpenShiftErrorAsync(.invalidInput, contains: ["web console URL"]) { try await withToken.whoami() }
    }

    func testUnreachableCluster() async throws {
        await assertOpenShiftErrorAsync(.network, contains: ["127.0.0.1:1"]) {
            try await self.open(ClusterSideOptions(clusterURL: "https://127.0.0.1:1", username: "a", password: "b"))
        }
    }

    // MARK: other credentials

    func testServiceAccountToken() async throws {
        let emu = try emulator()
        let sink = LogSink()
        let session = try await open(ClusterSideOptions(clusterURL: emu.apiURL, token: Emulators.saToken, caFile: emu.caBundlePath), sink: sink)
        XCTAssertFalse(session.createdToken)
        let me = try await session.whoami()
        XCTAssertEqual(me, "system:serviceaccount:dev:pipeline")
        let host = try await session.registryHost(project: "dev", imageStream: nil)
        XCTAssertEqual(host, emu.registryHost)
        await session.revokeIfCreated()   // not ours: nothing deleted
        assertNoSecrets(sink, [Emulators.saToken])

        // The same token mounted in a pod.
        let dir = TempDir()
        dir.write("sa/token", Emulators.saToken + "\n")
        dir.write("sa/namespace", "dev")
        let pod = try await open(ClusterSideOptions(clusterURL: emu.apiURL, caFile: emu.caBundlePath), inCluster: dir.path + "/sa")
        let podUser = try await pod.whoami()
        XCTAssertEqual(podUser, "system:serviceaccount:dev:pipeline")
        XCTAssertEqual(pod.namespace, "dev")
    }

    func testKubeconfigTokenContext() async throws {
        let emu = try emulator()
        let login = try await open(options(emu))
        let dir = TempDir()
        let kubeconfig = dir.write("kubeconfig", """
        apiVersion: v1
        kind: Config
        current-context: other
        clusters:
        - name: emu
          cluster:
            server: \(emu.apiURL)
            certificate-authority-data: \(Base64.encode(FileSystem.read(emu.caBundlePath) ?? []))
        users:
        - name: alice/emu
          user:
            token: \(login.token())
        contexts:
        - name: dev/emu/alice
          context:
            cluster: emu
            namespace: dev
            user: alice/emu
        """)
        let session = try await open(ClusterSideOptions(context: "dev/emu/alice", kubeconfigPaths: [kubeconfig]))
        XCTAssertFalse(session.createdToken)
        XCTAssertEqual(session.namespace, "dev")
        let me = try await session.whoami()
        XCTAssertEqual(me, "alice")
        let host = try await session.registryHost(project: "dev", imageStream: nil)
        XCTAssertEqual(host, emu.registryHost)

        // An expired token is reported as such.
        emu.expireAllTokens()
        let stale = try await open(ClusterSideOptions(context: "dev/emu/alice", kubeconfigPaths: [kubeconfig]))
        await assertOpenShiftErrorAsync(.authentication, contains: ["dev/emu/alice", "invalid or expired"]) { try await stale.whoami() }
        await login.revokeIfCreated()
    }

    func testClientCertificateOnlyContext() async throws {
        let emu = try emulator()
        let dir = TempDir()
        let rc = system("openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=system:admin -days 1 -keyout '\(dir.path)/tls.key' -out '\(dir.path)/tls.crt' >/dev/null 2>&1")
        try XCTSkipIf(rc != 0, "openssl is needed to make a client certificate")
        let kubeconfig = dir.write("kubeconfig", """
        clusters: [{name: emu, cluster: {server: "\(emu.apiURL)", certificate-authority: "\(emu.caBundlePath)"}}]
        users: [{name: admin, user: {client-certificate: tls.crt, client-key: tls.key}}]
        contexts: [{name: admin, context: {cluster: emu, user: admin}}]
        current-context: admin
        """)
        let session = try await open(ClusterSideOptions(kubeconfigPaths: [kubeconfig], side: .source))
        XCTAssertFalse(session.hasToken)
        XCTAssertEqual(session.tls.clientCertFile, dir.path + "/tls.crt")
        await assertOpenShiftErrorAsync(.authentication, contains: ["client certificate"], remedies: [.giveToken, .logInWithPassword]) {
            try await session.registryCredential()
        }
        // The emulator does not do mutual TLS: the API sees an anonymous request.
        await assertOpenShiftErrorAsync(.authentication) { try await session.whoami() }
    }

    // MARK: registry discovery

    func testRegistryDiscoveryFromImagesConfigAndRoute() async throws {
        for name in ["imagesconfig", "route"] {
            let emu = try emulator(name)
            let session = try await open(options(emu))
            let host = try await session.registryHost(project: "dev", imageStream: "missing")
            XCTAssertEqual(host, emu.registryHost, name)
            await session.revokeIfCreated()
        }
    }

    func testRegistryNotExposed() async throws {
        let emu = try emulator("hidden")
        let session = try await open(options(emu))
        await assertOpenShiftErrorAsync(.registryNotExposed, contains: ["defaultRoute", "ClusterSideOptions.registryOverride", "image-registry.openshift-image-registry.svc"],
                                        remedies: [.exposeRegistry, .nameRegistryHost], side: .source) {
            try await session.registryHost(project: "dev", imageStream: nil)
        }
        var o = options(emu)
        o.registryOverride = "registry.example.com:5000"
        let overridden = try await open(o)
        let host = try await overridden.registryHost(project: "dev", imageStream: nil)
        XCTAssertEqual(host, "registry.example.com:5000")
        await session.revokeIfCreated()
        await overridden.revokeIfCreated()
    }

    // MARK: signal-handler path

    /// The caller's ledger: what its sessions' password logins created, revoked together (the exit and
    /// signal paths), except what the caller keeps; a keeping ledger tracks nothing.
    func testTokenLedgerRevokesWhatItsSessionsCreated() async throws {
        let emu = try emulator()
        func revoked(_ s: ClusterSession) -> Bool? { emu.tokens().first { $0.name == OpenShiftToken.objectName(s.token()) }?.revoked }
        let ledger = TokenLedger()
        let a = try await open(options(emu), tokens: ledger)
        let b = try await open(options(emu), tokens: ledger)
        let kept = try await open(options(emu), tokens: ledger)
        let byToken = try await open(ClusterSideOptions(clusterURL: emu.apiURL, token: kept.token(), caFile: emu.caBundlePath),
                                     tokens: ledger)
        let elsewhere = try await open(options(emu), tokens: TokenLedger())
        XCTAssertEqual(ledger.count, 3, "only password logins create tokens")
        XCTAssertFalse(byToken.createdToken)
        ledger.keep(kept)
        XCTAssertEqual(ledger.count, 2)
        await ledger.revokeAll()
        XCTAssertEqual(ledger.count, 0)
        for s in [a, b] { XCTAssertEqual(revoked(s), true) }
        XCTAssertEqual(revoked(kept), false, "a kept token outlives the ledger's revocation")
        XCTAssertEqual(revoked(elsewhere), false, "another caller's ledger is not touched")
        await ledger.revokeAll()   // nothing left, no error

        let keeping = TokenLedger(keepingTokens: true)
        let c = try await open(options(emu), tokens: keeping)
        XCTAssertEqual(keeping.count, 0)
        await keeping.revokeAll()
        XCTAssertEqual(revoked(c), false)
        for s in [kept, elsewhere, c] { await s.revokeIfCreated() }
        for s in [kept, elsewhere, c] { XCTAssertEqual(revoked(s), true, "revokeIfCreated still revokes on request") }
    }
}
