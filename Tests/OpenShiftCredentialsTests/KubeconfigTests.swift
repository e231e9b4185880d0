import XCTest
@testable import OpenShiftCredentials

final class KubeconfigTests: XCTestCase {
    let caPEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

    func testMergeFirstFileWinsPerNameAndCurrentContext() throws {
        let dir = TempDir()
        let a = dir.write("a/config", """
        clusters:
        - name: shared
          cluster:
            server: https://first:6443
        users:
        - name: u
          user:
            token: from-a
        contexts:
        - name: ctx
          context: {cluster: shared, user: u}
        """)
        let b = dir.write("b/config", """
        current-context: ctx-b
        clusters:
        - name: shared
          cluster:
            server: https://second:6443
            insecure-skip-tls-verify: true
        - name: only-b
          cluster:
            server: https://b:6443
        users:
        - name: u
          user:
            token: from-b
        contexts:
        - name: ctx
          context: {cluster: only-b, user: u}
        - name: ctx-b
          context: {cluster: only-b, user: u, namespace: team}
        """)
        let c = dir.write("c/config", "current-context: ctx\n")
        let kc = try Kubeconfig.load(paths: [a, b, c])
        XCTAssertEqual(kc.currentContext, "ctx-b", "first file that sets current-context wins")
        XCTAssertEqual(kc.clusters["shared"]?.server, "https://first:6443")
        XCTAssertEqual(kc.clusters["shared"]?.insecureSkipTLSVerify, false, "later same-named entries are discarded entirely")
        XCTAssertEqual(kc.users["u"]?.token, "from-a")
        XCTAssertEqual(kc.contexts["ctx"]?.cluster, "shared")
        let r = try kc.resolve(context: nil)
        XCTAssertEqual(r.contextName, "ctx-b")
        XCTAssertEqual(r.server, "https://b:6443")
        XCTAssertEqual(r.namespace, "team")
        XCTAssertEqual(r.user?.token, "from-a")
    }

    func testMissingFilesInListAreSkippedButExplicitMustExist() throws {
        let dir = TempDir()
        let real = dir.write("config", "current-context: x\n")
        let kc = try Kubeconfig.load(paths: [dir.path + "/nope", real, dir.path + "/nope2", real])
        XCTAssertEqual(kc.currentContext, "x")
        XCTAssertEqual(kc.files.count, 1, "duplicates are read once")
        XCTAssertEqual(kc.missingFiles.count, 2)
        XCTAssertTrue(try Kubeconfig.load(paths: [dir.path + "/nope"]).isEmpty)
        assertOpenShiftError(.invalidInput, contains: ["does not exist"]) { try Kubeconfig.load(paths: [dir.path + "/nope"], mustExist: true) }
    }

    func testRelativePathsResolveAgainstTheDefiningFile() throws {
        let dir = TempDir()
        dir.write("sub/ca.pem", caPEM)
        let file = dir.write("sub/config", """
        clusters:
        - name: c
          cluster: {server: "https://h:6443", certificate-authority: ca.pem}
        users:
        - name: u
          user:
            client-certificate: ./certs/tls.crt
            client-key: /abs/tls.key
            tokenFile: ../token
            exec:
              apiVersion: client.authentication.k8s.io/v1
              command: ./bin/plugin
              interactiveMode: Never
        - name: v
          user:
            exec:
              apiVersion: client.authentication.k8s.io/v1
              command: oc
              interactiveMode: Never
        contexts:
        - name: x
          context: {cluster: c, user: u}
        """)
        let kc = try Kubeconfig.load(paths: [file])
        XCTAssertEqual(kc.clusters["c"]?.certificateAuthority, dir.path + "/sub/ca.pem")
        XCTAssertEqual(kc.users["u"]?.clientCertificate, dir.path + "/sub/certs/tls.crt")
        XCTAssertEqual(kc.users["u"]?.clientKey, "/abs/tls.key")
        XCTAssertEqual(kc.users["u"]?.tokenFile, dir.path + "/sub/../token")
        XCTAssertEqual(kc.users["u"]?.exec?.command, dir.path + "/sub/bin/plugin")
        XCTAssertEqual(kc.users["v"]?.exec?.command, "oc", "a bare command is looked up in PATH")
    }

    func testBase64DataFields() throws {
        let b64 = Base64.encode(caPEM)
        // Line breaks inside the value are ignored, as Go's StdEncoding ignores them (kubectl agrees;
        // a line break folded into a space by YAML is not, and neither is a missing '=').
        let wrapped = String(b64.prefix(20)) + "\\n" + String(b64.dropFirst(20))
        let kc = try Kubeconfig.parse("""
        clusters:
        - name: c
          cluster:
            server: https://h:6443
            certificate-authority-data: "\(wrapped)"
        users:
        - name: u
          user:
            client-certificate-data: \(Base64.encode("CERT"))
            client-key-data: \(Base64.encode("KEY"))
        contexts:
        - name: x
          context: {cluster: c, user: u}
        current-context: x
        """, file: "/tmp/k")
        let r = try kc.resolve(context: "x")
        XCTAssertEqual(r.cluster.certificateAuthorityData.map { String(decoding: $0, as: UTF8.self) }, caPEM)
        XCTAssertEqual(r.user?.clientCertificateData.map { String(decoding: $0, as: UTF8.self) }, "CERT")
        XCTAssertEqual(r.user?.clientKeyData.map { String(decoding: $0, as: UTF8.self) }, "KEY")
        assertOpenShiftError(.invalidInput, contains: ["client-key-data", "base64"]) {
            try Kubeconfig.parse("users:\n- name: u\n  user: {client-key-data: \(Base64.encode("KEYS").replacingAll("=", with: ""))}\n", file: "/tmp/k")
        }
        assertOpenShiftError(.invalidInput, contains: ["certificate-authority-data", "base64"]) {
            try Kubeconfig.parse("clusters:\n- name: c\n  cluster: {server: x, certificate-authority-data: 'not base64!'}\n", file: "/tmp/k")
        }
    }

    func testInvalidYAMLAndShapesGiveClearErrors() {
        let dir = TempDir()
        let bad = dir.write("bad", "clusters:\n- name: c\n  cluster:\n    server: [unclosed\n")
        assertOpenShiftError(.invalidInput, contains: [bad, "not valid YAML", "line"]) { try Kubeconfig.load(paths: [bad]) }
        assertOpenShiftError(.invalidInput, contains: ["clusters must be a list"]) { try Kubeconfig.parse("clusters: {}\n", file: "f") }
        assertOpenShiftError(.invalidInput, contains: ["must be a mapping"]) { try Kubeconfig.parse("- a\n", file: "f") }
        assertOpenShiftError(.invalidInput, contains: ["duplicate name \"c\""]) {
            try Kubeconfig.parse("clusters:\n- name: c\n  cluster: {server: a}\n- name: c\n  cluster: {server: b}\n", file: "f")
        }
        assertOpenShiftError(.invalidInput, contains: ["insecure-skip-tls-verify must be true or false"]) {
            try Kubeconfig.parse("clusters:\n- name: c\n  cluster: {server: a, insecure-skip-tls-verify: sometimes}\n", file: "f")
        }
        assertOpenShiftError(.invalidInput, contains: ["kind is \"Pod\""]) { try Kubeconfig.parse("kind: Pod\n", file: "f") }
    }

    func testMissingContextClusterUserAndValidation() throws {
        let kc = try Kubeconfig.parse("""
        clusters:
        - name: c
          cluster: {server: "https://h:6443"}
        - name: noserver
          cluster: {}
        - name: both
          cluster: {server: "https://h", certificate-authority-data: QUJD, insecure-skip-tls-verify: true}
        users:
        - name: two
          user: {token: t, username: a, password: b}
        - name: certonly
          user: {client-certificate-data: QUJD}
        - name: ok
          user: {token: t}
        contexts:
        - name: nocluster
          context: {cluster: ghost, user: ok}
        - name: nouser
          context: {cluster: c, user: ghost}
        - name: empty-server
          context: {cluster: noserver, user: ok}
        - name: insecure-ca
          context: {cluster: both, user: ok}
        - name: two-methods
          context: {cluster: c, user: two}
        - name: cert-no-key
          context: {cluster: c, user: certonly}
        - name: anonymous
          context: {cluster: c}
        """, file: "/k")
        assertOpenShiftError(.invalidInput, contains: ["no current-context"]) { try kc.resolve(context: nil) }
        assertOpenShiftError(.invalidInput, contains: ["context \"zzz\" does not exist", "known contexts: anonymous"]) { try kc.resolve(context: "zzz") }
        assertOpenShiftError(.invalidInput, contains: ["cluster \"ghost\"", "not defined"]) { try kc.resolve(context: "nocluster") }
        assertOpenShiftError(.invalidInput, contains: ["user \"ghost\"", "not defined"]) { try kc.resolve(context: "nouser") }
        assertOpenShiftError(.invalidInput, contains: ["has no server"]) { try kc.resolve(context: "empty-server") }
        assertOpenShiftError(.invalidInput, contains: ["insecure flag is not allowed"]) { try kc.resolve(context: "insecure-ca") }
        assertOpenShiftError(.invalidInput, contains: ["more than one authentication method", "[token basicAuth]"]) { try kc.resolve(context: "two-methods") }
        assertOpenShiftError(.invalidInput, contains: ["client-key"]) { try kc.resolve(context: "cert-no-key") }
        XCTAssertNil(try kc.resolve(context: "anonymous").user)
    }

    func testMatchingContextsByNormalisedServer() throws {
        let kc = try Kubeconfig.parse("""
        current-context: b
        clusters:
        - name: one
          cluster: {server: "api.example.com"}
        - name: two
          cluster: {server: "https://api.example.com:443/"}
        contexts:
        - name: a
          context: {cluster: one}
        - name: b
          context: {cluster: two}
        """, file: "/k")
        XCTAssertEqual(kc.contexts(forServer: "https://api.example.com:443"), ["b", "a"], "current-context first")
        XCTAssertEqual(kc.cluster(forServer: "https://api.example.com:443")?.name, "two")
        XCTAssertTrue(kc.contexts(forServer: "https://other:6443").isEmpty)
    }

    func testExecStanzaParsing() throws {
        let kc = try Kubeconfig.parse("""
        users:
        - name: e
          user:
            exec:
              apiVersion: client.authentication.k8s.io/v1
              command: oc
              args:
              - get-token
              - --issuer-url=https://issuer
              env:
              - name: FOO
                value: bar
              - name: EMPTY
              interactiveMode: IfAvailable
              provideClusterInfo: true
              installHint: |
                install oc
                from the console
        """, file: "/k")
        let e = try XCTUnwrap(kc.users["e"]?.exec)
        XCTAssertEqual(e.args, ["get-token", "--issuer-url=https://issuer"])
        XCTAssertEqual(e.env, [.init(name: "FOO", value: "bar"), .init(name: "EMPTY", value: "")])
        XCTAssertEqual(e.interactiveMode, "IfAvailable")
        XCTAssertTrue(e.provideClusterInfo)
        XCTAssertEqual(e.installHint, "install oc\nfrom the console", "no line break at the end of the file: none kept (kubectl agrees)")
    }

    func testPrintingAResolvedContextShowsNoSecrets() throws {
        let kc = try Kubeconfig.parse("""
        clusters: [{name: c, cluster: {server: "https://h:6443"}}]
        users: [{name: u, user: {token: "sha256~SECRETSECRET"}}]
        contexts: [{name: x, context: {cluster: c, user: u}}]
        """, file: "/k")
        let text = "\(try kc.resolve(context: "x"))"
        XCTAssertFalse(text.contains("SECRET"), text)
        XCTAssertTrue(text.contains("token"))
    }
}
