import XCTest
import HTTPTransport
@testable import OpenShiftCredentials

/// `ClusterSession.open` paths that need no server (explicit tokens, kubeconfig tokens, exec plugins,
/// in-cluster files) and option validation.
final class SessionOfflineTests: XCTestCase {
    let nowhere = "/nonexistent-serviceaccount"

    func open(_ o: ClusterSideOptions, env: [String: String] = [:], inCluster: String? = nil,
              sink: LogSink = LogSink()) async throws -> ClusterSession {
        try await ClusterSession.open(o, http: testHTTP, environment: env, inClusterDirectory: inCluster ?? nowhere, log: sink.closure)
    }

    func testUsageErrors() async {
        // Errors name the caller's inputs as ClusterSideOptions fields and carry the side (the CLI words both).
        var o = ClusterSideOptions(clusterURL: "https://api.x:6443", username: "alice", side: .source)
        await assertOpenShiftErrorAsync(.invalidInput, contains: ["ClusterSideOptions.username alice", "without a password", "ClusterSideOptions.password"],
                                        remedies: [.givePassword, .giveToken], side: .source) { try await self.open(o) }
        o.password = ""
        await assertOpenShiftErrorAsync(.invalidInput, contains: ["without a password"], side: .source) { try await self.open(o) }
        o = ClusterSideOptions(clusterURL: "https://api.x:6443", password: "pw", side: .destination)
        await assertOpenShiftErrorAsync(.invalidInput, contains: ["without ClusterSideOptions.username"], side: .destination) { try await self.open(o) }
        o = ClusterSideOptions(clusterURL: "https://api.x:6443", token: " \n")
        await assertOpenShiftErrorAsync(.invalidInput, contains: ["ClusterSideOptions.token is empty"]) { try await self.open(o) }
        o = ClusterSideOptions(clusterURL: "https://api.x:6443", token: "t", caFile: "/no/such/ca.pem")
        await assertOpenShiftErrorAsync(.invalidInput, contains: ["ClusterSideOptions.caFile /no/such/ca.pem"]) { try await self.open(o) }
        o = ClusterSideOptions(token: "t")
        await assertOpenShiftErrorAsync(.invalidInput, contains: ["no cluster given", "ClusterSideOptions.clusterURL", "ClusterSideOptions.context"],
                                        remedies: [.nameCluster, .nameContext]) { try await self.open(o) }
        o = ClusterSideOptions(clusterURL: "https://api.x:6443")
        await assertOpenShiftErrorAsync(.invalidInput, contains: ["no credentials", "ClusterSideOptions.token"],
                                        remedies: [.giveToken, .logInWithPassword, .nameContext]) { try await self.open(o) }
        o = ClusterSideOptions(clusterURL: "https://api.x:6443", kubeconfigPaths: ["/no/such/kubeconfig"], kubeconfigExplicit: true, token: "t",
                               side: .source)
        await assertOpenShiftErrorAsync(.invalidInput, contains: ["stat /no/such/kubeconfig: no such file or directory"], side: .source) {
            try await self.open(o)
        }
        o = ClusterSideOptions(context: "ghost", kubeconfigPaths: ["/no/such/kubeconfig"])
        await assertOpenShiftErrorAsync(.invalidInput, contains: ["context \"ghost\" does not exist"]) { try await self.open(o) }
    }

    /// The parts a caller words: inputs inside the problem, remedies after it, in order.
    func testCallerWordsInputsAndRemedies() {
        let e = OpenShiftError(.invalidInput, "\(input: .username) alice was given without a password",
                               remedies: [.givePassword, .giveToken], side: .destination)
        XCTAssertEqual(e.problem.inputs, [.username])
        let worded = e.message(input: { "<\($0.rawValue)>" }, remedy: { "do \($0)" })
        XCTAssertEqual(worded, "<username> alice was given without a password; do givePassword, or do giveToken")
        XCTAssertEqual(e.message, "ClusterSideOptions.username alice was given without a password; give the password (ClusterSideOptions.password), or give a token (ClusterSideOptions.token)")
        // Text is scrubbed of secrets; the inputs stay.
        let leaky = OpenShiftError(.authentication, "\(input: .token) sha256~abcdef was rejected")
        XCTAssertEqual(leaky.message, "ClusterSideOptions.token sha256~<redacted> was rejected")
    }

    func testExplicitTokenWinsAndIsNeverLogged() async throws {
        let sink = LogSink()
        let o = ClusterSideOptions(clusterURL: "api.x:6443", username: "ignored", token: "sha256~SECRETTOKEN\n", registryOverride: "docker://reg.x:443/")
        let s = try await open(o, sink: sink)
        XCTAssertEqual(s.apiURL, "https://api.x:6443")
        XCTAssertEqual(s.token(), "sha256~SECRETTOKEN")
        XCTAssertFalse(s.createdToken)
        XCTAssertTrue(s.hasToken)
        let cred = try await s.registryCredential()
        XCTAssertEqual(cred.username, "user")
        XCTAssertEqual(cred.password, "sha256~SECRETTOKEN")
        let host = try await s.registryHost(project: "p", imageStream: "i")
        XCTAssertEqual(host, "reg.x:443")
        await s.revokeIfCreated()   // not created: no request, no crash
        XCTAssertFalse(sink.all.joined().contains("SECRETTOKEN"))
    }

    func testKubeconfigTokenFileCAAndNamespace() async throws {
        let dir = TempDir()
        dir.write("token", "sha256~fromfile\n")
        dir.write("ca.pem", "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
        let kubeconfig = dir.write("config", """
        current-context: dev
        clusters:
        - name: c
          cluster: {server: "https://api.dev:6443", certificate-authority: ca.pem}
        users:
        - name: u
          user: {tokenFile: token}
        contexts:
        - name: dev
          context: {cluster: c, user: u, namespace: team-a}
        """)
        let s = try await open(ClusterSideOptions(kubeconfigPaths: [kubeconfig]))
        XCTAssertEqual(s.apiURL, "https://api.dev:6443")
        XCTAssertEqual(s.token(), "sha256~fromfile")
        XCTAssertEqual(s.namespace, "team-a")
        XCTAssertEqual(s.tls.caFile, dir.path + "/ca.pem")
        XCTAssertTrue(s.tls.verify)
        XCTAssertTrue(s.credentialSource.contains("dev"))

        // A cluster URL matching the kubeconfig's server borrows that context's credentials and CA.
        let byURL = try await open(ClusterSideOptions(clusterURL: "https://api.dev:6443/", kubeconfigPaths: [kubeconfig]))
        XCTAssertEqual(byURL.token(), "sha256~fromfile")
        XCTAssertEqual(byURL.tls.caFile, dir.path + "/ca.pem")

        // The user's CA file is added to the kubeconfig's, not instead of it.
        let userCA = dir.write("user-ca.pem", "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
        let both = try await open(ClusterSideOptions(context: "dev", kubeconfigPaths: [kubeconfig], caFile: userCA))
        XCTAssertEqual(both.tls.caFile, userCA)
        XCTAssertNotNil(both.tls.caPEM)
    }

    func testInsecureKubeconfigClusterWarns() async throws {
        let dir = TempDir()
        let kubeconfig = dir.write("config", """
        clusters: [{name: c, cluster: {server: "https://h:6443", insecure-skip-tls-verify: true}}]
        users: [{name: u, user: {token: abc}}]
        contexts: [{name: x, context: {cluster: c, user: u}}]
        """)
        let warnings = LogSink()
        let s = try await ClusterSession.open(ClusterSideOptions(context: "x", kubeconfigPaths: [kubeconfig]), http: testHTTP, environment: [:],
                                              inClusterDirectory: nowhere, warn: warnings.closure, log: { _ in })
        XCTAssertFalse(s.tls.verify)
        XCTAssertTrue(warnings.all.contains { $0.contains("insecure-skip-tls-verify") })
    }

    func testClientCertificateOnlyUserHasNoRegistryCredential() async throws {
        let dir = TempDir()
        let kubeconfig = dir.write("config", """
        clusters: [{name: c, cluster: {server: "https://h:6443"}}]
        users: [{name: admin, user: {client-certificate-data: \(Base64.encode("CERT")), client-key-data: \(Base64.encode("KEY"))}}]
        contexts: [{name: x, context: {cluster: c, user: admin}}]
        """)
        let s = try await open(ClusterSideOptions(context: "x", kubeconfigPaths: [kubeconfig], side: .destination))
        XCTAssertFalse(s.hasToken)
        XCTAssertEqual(s.token(), "")
        XCTAssertEqual(s.tls.clientCertPEM, Array("CERT".utf8))
        XCTAssertEqual(s.tls.clientKeyPEM, Array("KEY".utf8))
        await assertOpenShiftErrorAsync(.authentication, contains: ["client certificate"], remedies: [.giveToken, .logInWithPassword],
                                        side: .destination) {
            try await s.registryCredential()
        }
    }

    func testUnsupportedKubeconfigCredentials() async {
        let dir = TempDir()
        let kubeconfig = dir.write("config", """
        clusters: [{name: c, cluster: {server: "https://h:6443"}}]
        users:
        - {name: basic, user: {username: a, password: b}}
        - {name: oidc, user: {auth-provider: {name: oidc}}}
        contexts:
        - {name: basic, context: {cluster: c, user: basic}}
        - {name: oidc, context: {cluster: c, user: oidc}}
        - {name: nobody, context: {cluster: c}}
        """)
        await assertOpenShiftErrorAsync(.invalidInput, contains: ["user name and password"]) {
            try await self.open(ClusterSideOptions(context: "basic", kubeconfigPaths: [kubeconfig]))
        }
        await assertOpenShiftErrorAsync(.invalidInput, contains: ["oidc auth-provider"]) {
            try await self.open(ClusterSideOptions(context: "oidc", kubeconfigPaths: [kubeconfig]))
        }
        await assertOpenShiftErrorAsync(.invalidInput, contains: ["has no credentials"]) {
            try await self.open(ClusterSideOptions(context: "nobody", kubeconfigPaths: [kubeconfig]))
        }
    }

    func testInClusterServiceAccount() async throws {
        let dir = TempDir()
        dir.write("sa/token", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2EifQ.c2ln\n")
        dir.write("sa/ca.crt", "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
        dir.write("sa/namespace", "ci\n")
        let sink = LogSink()
        let s = try await open(ClusterSideOptions(kubeconfigPaths: [dir.path + "/absent"]),
                               env: ["KUBERNETES_SERVICE_HOST": "172.30.0.1", "KUBERNETES_SERVICE_PORT": "443"],
                               inCluster: dir.path + "/sa", sink: sink)
        XCTAssertEqual(s.apiURL, "https://172.30.0.1:443")
        XCTAssertTrue(s.token().hasPrefix("eyJ"))
        XCTAssertEqual(s.tls.caFile, dir.path + "/sa/ca.crt")
        XCTAssertEqual(s.namespace, "ci")
        XCTAssertFalse(s.createdToken)
        XCTAssertFalse(sink.all.joined().contains("eyJzdWIi"), "\(sink.all)")

        // With a cluster URL (e.g. the external API name of the same cluster) the pod token is used too.
        let byURL = try await open(ClusterSideOptions(clusterURL: "https://api.x:6443"), env: ["POD_NAMESPACE": "other"], inCluster: dir.path + "/sa")
        XCTAssertEqual(byURL.apiURL, "https://api.x:6443")
        XCTAssertEqual(byURL.namespace, "other")
        // IPv6 service host.
        let v6 = try await open(ClusterSideOptions(), env: ["KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"], inCluster: dir.path + "/sa")
        XCTAssertEqual(v6.apiURL, "https://[fd00::1]:443")
    }
}
