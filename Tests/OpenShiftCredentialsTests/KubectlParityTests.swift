import Foundation
import XCTest
@testable import OpenShiftCredentials

/// Differential test: what our Kubeconfig reads from a corpus of real-world kubeconfigs, compared with
/// what the real kubectl reads (`kubectl config view --raw -o json`), context by context: server, CA,
/// TLS mode, credentials, namespace, exec stanza. Files kubectl rejects must be rejected too.
final class KubectlParityTests: XCTestCase {
    var kubectl: String!
    /// kubectl 1.22 introduced exec `interactiveMode`; an older one (Debian 12's kubernetes-client is
    /// 1.20) drops the field, so it is compared only with a kubectl that knows it.
    var knowsInteractiveMode = true

    override func setUpWithError() throws {
        let found = ["/usr/bin/kubectl", "/usr/local/bin/kubectl", "/snap/bin/kubectl"]
            .first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let found else { throw XCTSkip("kubectl is not installed (.ci/install-deps.sh installs it)") }
        kubectl = found
        let p = Process()
        p.executableURL = URL(fileURLWithPath: found)
        p.arguments = ["version", "--client", "-o", "json"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let version = ((try? JSONSerialization.jsonObject(with: data)) as? [String: Any])?["clientVersion"] as? [String: Any]
        let minor = Int((version?["minor"] as? String ?? "").prefix { $0.isNumber }) ?? 99
        knowsInteractiveMode = minor >= 22
    }

    // MARK: corpus

    static let caData = Data("-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n".utf8).base64EncodedString()

    /// `oc login` output: contexts named project/server/user, users named user/server, tokens.
    static let ocWritten = """
    apiVersion: v1
    clusters:
    - cluster:
        insecure-skip-tls-verify: true
        server: https://api.crc.testing:6443
      name: api-crc-testing:6443
    - cluster:
        certificate-authority-data: \(caData)
        server: https://api.prod.example.com:6443
      name: api-prod-example-com:6443
    contexts:
    - context:
        cluster: api-crc-testing:6443
        namespace: default
        user: kube:admin/api-crc-testing:6443
      name: default/api-crc-testing:6443/kube:admin
    - context:
        cluster: api-prod-example-com:6443
        namespace: shop
        user: alice/api-prod-example-com:6443
      name: shop/api-prod-example-com:6443/alice
    current-context: shop/api-prod-example-com:6443/alice
    kind: Config
    preferences: {}
    users:
    - name: kube:admin/api-crc-testing:6443
      user:
        token: sha256~AbCdEf0123456789-_AbCdEf0123456789-_abcdef
    - name: alice/api-prod-example-com:6443
      user:
        token: sha256~ZyXw-9876543210_zyxw9876543210zyxw9876543
    """

    /// Cloud exec plugins as the cloud CLIs write them.
    static let cloudPlugins = """
    apiVersion: v1
    kind: Config
    clusters:
    - name: arn:aws:eks:eu-west-1:123456789012:cluster/prod
      cluster:
        server: https://ABCDEF0123456789.gr7.eu-west-1.eks.amazonaws.com
        certificate-authority-data: \(caData)
    - name: gke_proj_europe-west1_gke1
      cluster: {certificate-authority-data: "\(caData)", server: "https://34.1.2.3"}
    - name: aks1
      cluster:
        certificate-authority-data: >-
          \(caData)
        server: https://aks1-dns-abc.hcp.westeurope.azmk8s.io:443
    contexts:
    - name: eks
      context: {cluster: "arn:aws:eks:eu-west-1:123456789012:cluster/prod", user: "arn:aws:eks:eu-west-1:123456789012:cluster/prod"}
    - name: gke
      context:
        cluster: gke_proj_europe-west1_gke1
        user: gke_proj_europe-west1_gke1
        namespace: 'team-a'
    - name: aks
      context: {cluster: aks1, user: clusterUser_rg_aks1}
    current-context: gke
    users:
    - name: arn:aws:eks:eu-west-1:123456789012:cluster/prod
      user:
        exec:
          apiVersion: client.authentication.k8s.io/v1beta1
          args:
          - --region
          - eu-west-1
          - eks
          - get-token
          - --cluster-name
          - prod
          command: aws
          env:
          - name: AWS_PROFILE
            value: "prod"
    - name: gke_proj_europe-west1_gke1
      user:
        exec:
          apiVersion: client.authentication.k8s.io/v1beta1
          command: gke-gcloud-auth-plugin
          installHint: |
            Install gke-gcloud-auth-plugin for use with kubectl by following
            https://cloud.google.com/kubernetes-engine/docs/how-to/cluster-access-for-kubectl#install_plugin
          provideClusterInfo: true
          interactiveMode: IfAvailable
    - name: clusterUser_rg_aks1
      user:
        exec:
          apiVersion: client.authentication.k8s.io/v1
          args: ["get-token", "--environment", "AzurePublicCloud", "--server-id", "6dae42f8-4368-4678-94ff-3960e28e3630",
                 "--login", "azurecli"]
          command: kubelogin
          env: null
          interactiveMode: Never
          provideClusterInfo: false
    """

    /// Anchors, merge keys in both orders, a merge list, YAML 1.1 booleans, block and quoted scalars.
    static let anchorsAndMerges = """
    kind: Config
    apiVersion: v1
    x-defaults: &defaults
      server: https://base.example.com:6443
      certificate-authority-data: \(caData)
      tls-server-name: base.internal
    x-proxy: &proxy {proxy-url: "http://proxy:3128", tls-server-name: proxy.internal}
    clusters:
    - name: merged-first
      cluster:
        <<: *defaults
        server: https://after-merge.example.com:6443
    - name: merged-last
      cluster:
        server: https://before-merge.example.com:6443
        <<: *defaults
    - name: merge-list
      cluster:
        <<: [*proxy, *defaults]
    - name: yaml11
      cluster: {server: "https://yaml11:6443", insecure-skip-tls-verify: yes}
    users:
    - name: base-user
      user: &baseuser
        token: "tok\\u0065n-with-escape"
    - name: copied-user
      user: *baseuser
    - name: block
      user:
        token: |-
          multi-line-token
        username: null
    contexts:
    - name: a
      context: &ctx {cluster: merged-first, user: base-user, namespace: ns-a}
    - name: b
      context:
        <<: *ctx
        cluster: merged-last
        user: copied-user
    - name: c
      context: {cluster: merge-list, user: block}
    - name: d
      context: {cluster: yaml11, user: block, namespace: ~}
    current-context: b
    """

    static let jsonForm = """
    {"apiVersion":"v1","kind":"Config","clusters":[{"name":"j","cluster":{"server":"https://json:6443",
    "insecure-skip-tls-verify":false,"certificate-authority-data":"\(caData)"}}],"users":[{"name":"j",
    "user":{"client-certificate-data":"\(caData)","client-key-data":"S0VZ"}}],"contexts":[{"name":"j",
    "context":{"cluster":"j","user":"j","namespace":"json-ns"}}],"current-context":"j"}
    """

    static let duplicateKeys = """
    apiVersion: v1
    kind: Config
    clusters:
    - name: dup
      cluster:
        server: https://first:6443
        server: https://second:6443
        insecure-skip-tls-verify: true
        insecure-skip-tls-verify: false
    users:
    - name: dup
      user: {token: first}
      user: {token: second}
    contexts:
    - name: dup
      context: {cluster: dup, user: dup, namespace: one, namespace: two}
    current-context: dup
    current-context: dup
    """

    static let severalDocuments = """
    apiVersion: v1
    kind: Config
    clusters:
    - name: first-doc
      cluster: {server: "https://first-doc:6443"}
    contexts:
    - name: first-doc
      context: {cluster: first-doc}
    ---
    apiVersion: v1
    kind: Config
    clusters:
    - name: second-doc
      cluster: {server: "https://second-doc:6443"}
    contexts:
    - name: second-doc
      context: {cluster: second-doc}
    """

    /// Relative paths, client certificates by file, CRLF line endings.
    static let relativePaths = [
        "apiVersion: v1", "kind: Config", "clusters:", "- name: rel", "  cluster:", "    server: https://rel:6443",
        "    certificate-authority: certs/ca.crt", "users:", "- name: rel", "  user:", "    tokenFile: ./token",
        "- name: cert", "  user:", "    client-certificate: certs/tls.crt", "    client-key: /abs/tls.key",
        "contexts:", "- name: rel", "  context: {cluster: rel, user: rel}", "- name: cert",
        "  context: {cluster: rel, user: cert}", "current-context: rel", "",
    ].joined(separator: "\r\n")

    // Several files in KUBECONFIG: the first file to define a name wins entirely.
    static let firstOfList = """
    apiVersion: v1
    kind: Config
    clusters:
    - name: shared
      cluster: {server: "https://from-first:6443"}
    users:
    - name: shared
      user: {token: from-first}
    contexts:
    - name: shared
      context: {cluster: shared, user: shared}
    """

    static let secondOfList = """
    apiVersion: v1
    kind: Config
    clusters:
    - name: shared
      cluster: {server: "https://from-second:6443", insecure-skip-tls-verify: true}
    - name: only-second
      cluster: {server: "https://only-second:6443"}
    users:
    - name: shared
      user: {token: from-second, username: ignored}
    contexts:
    - name: shared
      context: {cluster: only-second, user: shared, namespace: ignored}
    - name: second
      context: {cluster: only-second, user: shared, namespace: second-ns}
    current-context: second
    """

    /// Date-like scalars where strings belong: go-yaml v2 resolves them as timestamps, then hands
    /// an interface{} the text as written (`2001-12-14t21:59:43.10-05:00` stays just that). Explicit
    /// `!!timestamp` on a real timestamp, a custom tag and `!!binary` (decoded) are strings too.
    static let dateLike = """
    apiVersion: v1
    kind: Config
    clusters:
    - name: 2024-01-01
      cluster:
        server: https://dates:6443
        tls-server-name: 2024-01-01
        proxy-url: 2001-12-14 21:59:43.10 -5
    - name: tagged
      cluster: {server: "https://tagged:6443", tls-server-name: !!timestamp 2024-1-2T3:4:5Z, proxy-url: !custom 123}
    users:
    - name: 2002-12-14
      user:
        token: 2001-12-14t21:59:43.10-05:00
        tokenFile: 2024-01-01T10:00:00Z
    - name: basic
      user: {username: !!timestamp 2000-02-29 23:59:59.5, password: !!binary c2VjcmV0LTIwMjQtMDEtMDE=}
    contexts:
    - name: 2024-01-02
      context: {cluster: 2024-01-01, user: 2002-12-14, namespace: 2024-01-01}
    - name: tagged
      context: {cluster: tagged, user: basic, namespace: !!timestamp "2024-12-31"}
    current-context: 2024-01-02
    """

    /// Names client-go reads as "": `name: ""`, a `name:` with no value, no name at all; a context,
    /// cluster or user named "" is a real entry, and `current-context: ""` selects the context "".
    static let emptyNames = """
    apiVersion: v1
    kind: Config
    clusters:
    - name: ""
      cluster: {server: "https://127.0.0.1:1"}
    - name: other
      cluster: {server: "https://127.0.0.1:2"}
    users:
    - name:
      user: {token: token-of-the-empty-user}
    contexts:
    - context: {cluster: "", user: ""}
    - name: other
      context: {cluster: other, user: "", namespace: ""}
    current-context: ""
    """

    /// Tags on every kind of field: `!!binary` decoded before the base64 field decodes it again, a
    /// custom tag's text, `!!null`, and names left out.
    static let tagged = """
    clusters:
    - name: ""
      cluster: {server: "https://127.0.0.1:1", tls-server-name: !!timestamp 2024-1-2T3:4:5.6+01:00, proxy-url: 2001-12-14 21:59:43.10 -5}
    - name: x
      cluster: {server: !custom 123, certificate-authority-data: !!binary UTBFPQ==}
    users:
    - name:
      user: {token: 2024-01-01, username: !!timestamp 2000-02-29 23:59:59.5}
    contexts:
    - context: {cluster: "", user: ""}
    - name: 2024-01-02
      context: {cluster: x, namespace: !!null ~}
    current-context: ""
    """

    // MARK: tests

    func testSingleFilesMatchKubectl() throws {
        for (name, text) in [("oc-written", Self.ocWritten), ("cloud-plugins", Self.cloudPlugins),
                             ("anchors-and-merges", Self.anchorsAndMerges), ("json", Self.jsonForm),
                             ("duplicate-keys", Self.duplicateKeys), ("several-documents", Self.severalDocuments),
                             ("relative-paths", Self.relativePaths), ("date-like", Self.dateLike),
                             ("empty-names", Self.emptyNames), ("tagged", Self.tagged)] {
            let dir = TempDir()
            let file = dir.write("sub/\(name).kubeconfig", text)
            try compare([file], label: name)
        }
    }

    func testSeveralFilesInKUBECONFIGMatchKubectl() throws {
        let dir = TempDir()
        let first = dir.write("first", Self.firstOfList)
        let second = dir.write("other/second", Self.secondOfList)
        try compare([first, dir.path + "/missing", second], label: "list")
        try compare([second, first], label: "list reversed")
    }

    func testFilesKubectlRejectsAreRejected() throws {
        let cluster = "clusters:\n- name: a\n  cluster:\n"
        for text in [cluster + "    server: 12345\n", cluster + "    server: yes\n", cluster + "    server: 0x1F\n",
                     cluster + "    insecure-skip-tls-verify: \"true\"\n", cluster + "    insecure-skip-tls-verify: 1\n",
                     "- just\n- a list\n", "kind: Pod\n", "clusters: {a: b}\n", cluster + "    <<: [a, b]\n",
                     cluster + "    certificate-authority-data: Q0E\n", cluster + "    certificate-authority-data: \"Q0 E=\"\n",
                     cluster + "    certificate-authority-data: Q0E=Q0E=\n",
                     // Explicit tags on text that is not of that kind (go-yaml: "cannot decode !!str `x` as a !!timestamp").
                     cluster + "    server: !!timestamp notadate\n", cluster + "    server: !!timestamp 2024-02-30\n",
                     cluster + "    server: !!timestamp 1900-02-29\n", cluster + "    server: !!timestamp 2024-01-01T24:00:00Z\n",
                     cluster + "    server: !!timestamp 2024-01-01T10:00:60Z\n", cluster + "    server: !!timestamp 2024-01-01 10:00:00Z\n",
                     cluster + "    server: !!timestamp 2024-01-01T10:00:00+25:00\n", cluster + "    server: !!timestamp 2024\n",
                     cluster + "    server: !!bool foo\n", cluster + "    server: !!int abc\n", cluster + "    server: !!null foo\n",
                     cluster + "    server: !!binary 12\n", cluster + "    server: 2024-01-01\n    insecure-skip-tls-verify: 2024-01-01\n",
                     // Several entries named "" (written, or left out).
                     "contexts:\n- name: \"\"\n  context: {cluster: a}\n- context: {cluster: b}\n",
                     "clusters:\n- name:\n  cluster: {server: a}\n- cluster: {server: b}\n"] {
            let dir = TempDir()
            let file = dir.write("bad", text)
            let k = try kubectlView([file])
            XCTAssertNotEqual(k.status, 0, "kubectl accepts \(text)")
            XCTAssertThrowsError(try Kubeconfig.load(paths: [file], mustExist: true), "we accept what kubectl rejects: \(text)")
        }
        // …and what kubectl accepts that a strict reader might not.
        for text in [cluster + "    server: \"12345\"\n", cluster + "    insecure-skip-tls-verify: on\n",
                     cluster + "    server: !!str 0x1F\n", "", "# only a comment\n", cluster + "    server: 2001:db8::1\n",
                     cluster + "    certificate-authority-data: \"Q0\\nE=\"\n", cluster + "    certificate-authority-data: Q0E=\n",
                     cluster + "    server: !!timestamp 2000-02-29\n", cluster + "    server: !!timestamp 2024-01-01T10:00:00.123456789123-05:30\n",
                     cluster + "    server: !!timestamp 0024-1-1 0:0:0\n", cluster + "    server: !!timestamp 2024-01-01t23:59:59+24:00\n",
                     cluster + "    server: !!str 2024-01-01\n", cluster + "    server: !foo true\n", cluster + "    insecure-skip-tls-verify: !!bool yes\n"] {
            let dir = TempDir()
            let file = dir.write("ok", text)
            try compare([file], label: text)
        }
    }

    /// go-yaml's timestamp forms (Go's time.Parse with one- or two-digit fields, ranges, the day of
    /// the month, zones), told apart by an explicit `!!timestamp`: we accept exactly what kubectl does.
    func testExplicitTimestampsAreReadLikeKubectl() throws {
        let values = ["2024-", "2024-1-", "2024-01-01T", "2024-01-01T10:00:00+05", "2024-01-01T10:00:00+0500", "2024-01-01T10:00:00.Z",
                      "2024-01-01T10:00", "2024-001-01", "20240-01-01", "2024-01-01T1:2:3.4-00:00", "2024-1-1 1:2:3", "2024-1-1 1:2:3.",
                      "2024-01-01T10:00:00+24:60", "2024-01-01T10:00:00+24:61", "2024-01-01T10:00:00z", "2024-01-01t10:00:00+01:00",
                      "2024-02-29", "2023-02-29", "2024-04-31", "2100-02-29", "2000-02-29", "2024-1-1T1:2:3Z", "2024-01-01T100:00:00Z",
                      "2024-01-01 23:59:59.999999999999", "2024-12-31T23:59:59-24:00", "2024-00-10", "2024-10-00", "abcd-01-01"]
        let dir = TempDir()
        for value in values {
            let file = dir.write("ts", "clusters:\n- name: a\n  cluster:\n    server: !!timestamp \(value)\n")
            let kubectlAccepts = try kubectlView([file]).status == 0
            let weAccept = (try? Kubeconfig.load(paths: [file])) != nil
            XCTAssertEqual(weAccept, kubectlAccepts, "!!timestamp \(value)")
            if weAccept { XCTAssertEqual(try Kubeconfig.load(paths: [file]).clusters["a"]?.server, value) }
        }
    }

    /// Which context, cluster and user an unset name selects: kubectl (client-go) takes the context
    /// named "" for `current-context: ""`, and its cluster "" and user "". The server kubectl then
    /// dials (a closed loopback port) is the one we resolve.
    func testEmptyNamesSelectTheEntriesNamedEmptyLikeKubectl() throws {
        let dir = TempDir()
        let file = dir.write("empty.kubeconfig", Self.emptyNames)
        let ours = try Kubeconfig.load(paths: [file]).resolve(context: nil)
        XCTAssertEqual(ours.contextName, "")
        XCTAssertEqual(ours.cluster.server, "https://127.0.0.1:1")
        XCTAssertEqual(ours.user?.token, "token-of-the-empty-user")
        XCTAssertEqual(try Kubeconfig.load(paths: [file]).resolve(context: "other").user?.token, "token-of-the-empty-user",
                       "user \"\" is a user like any other")
        for (context, server) in [(nil, "https://127.0.0.1:1"), ("other", "https://127.0.0.1:2")] as [(String?, String)] {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: kubectl)
            p.arguments = (context.map { ["--context", $0] } ?? []) + ["get", "--raw", "/version", "--request-timeout=5s"]
            p.environment = ["KUBECONFIG": file, "HOME": "/nonexistent", "PATH": "/usr/bin:/bin"]
            let err = Pipe()
            p.standardOutput = FileHandle.nullDevice
            p.standardError = err
            try p.run()
            let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            XCTAssertNotEqual(p.terminationStatus, 0)
            XCTAssertTrue(text.contains("server \(server.dropFirst("https://".count)) was refused"), "kubectl dialled another server: \(text)")
            if let context { XCTAssertEqual(try Kubeconfig.load(paths: [file]).resolve(context: context).cluster.server, server) }
        }
        // Without a context named "", an unset current-context is still "no context".
        let none = dir.write("none.kubeconfig", "clusters:\n- name: a\n  cluster: {server: \"https://127.0.0.1:1\"}\ncontexts:\n- name: a\n  context: {cluster: a}\ncurrent-context: \"\"\n")
        XCTAssertThrowsError(try Kubeconfig.load(paths: [none]).resolve(context: nil))
    }

    // MARK: comparison

    func kubectlView(_ files: [String]) throws -> (status: Int32, json: [String: Any]) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: kubectl)
        p.arguments = ["config", "view", "--raw", "-o", "json"]
        var env = ProcessInfo.processInfo.environment
        env["KUBECONFIG"] = files.joined(separator: ":")
        env["HOME"] = "/nonexistent"
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        _ = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
        return (p.terminationStatus, json)
    }

    /// Which file of `files` defines entry `name` of list `field` first (kubectl does not say).
    func definingFile(_ files: [String], _ field: String, _ name: String) throws -> String {
        for f in files where FileManager.default.fileExists(atPath: f) {
            let k = try kubectlView([f])
            if (k.json[field] as? [[String: Any]] ?? []).contains(where: { $0["name"] as? String == name }) { return f }
        }
        return files[0]
    }

    func compare(_ files: [String], label: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let k = try kubectlView(files)
        XCTAssertEqual(k.status, 0, "kubectl rejects \(label)", file: file, line: line)
        let ours: Kubeconfig
        do {
            ours = try Kubeconfig.load(paths: files)
        } catch {
            XCTFail("\(label): kubectl reads it, we fail: \(error)", file: file, line: line)
            return
        }
        func entries(_ field: String, _ body: String) -> [String: [String: Any]] {
            var out: [String: [String: Any]] = [:]
            for e in k.json[field] as? [[String: Any]] ?? [] {
                if let n = e["name"] as? String { out[n] = e[body] as? [String: Any] ?? [:] }
            }
            return out
        }
        let clusters = entries("clusters", "cluster"), users = entries("users", "user"), contexts = entries("contexts", "context")
        XCTAssertEqual(Set(ours.clusters.keys), Set(clusters.keys), "\(label): cluster names", file: file, line: line)
        XCTAssertEqual(Set(ours.users.keys), Set(users.keys), "\(label): user names", file: file, line: line)
        XCTAssertEqual(Set(ours.contexts.keys), Set(contexts.keys), "\(label): context names", file: file, line: line)
        let current = k.json["current-context"] as? String ?? ""
        XCTAssertEqual(ours.currentContext ?? "", current, "\(label): current-context", file: file, line: line)

        func path(_ value: Any?, _ defining: String) -> String? {
            guard let s = value as? String, !s.isEmpty else { return nil }
            return s.hasPrefix("/") ? s : FileSystem.resolve(s, against: FileSystem.directory(of: defining))
        }
        func data(_ value: Any?) -> String? { (value as? String).flatMap { $0.isEmpty ? nil : $0 } }
        func text(_ value: Any?) -> String? { (value as? String).flatMap { $0.isEmpty ? nil : $0 } }
        func b64(_ bytes: [UInt8]?) -> String? { bytes.map { Data($0).base64EncodedString() } }

        for (name, c) in contexts {
            let ctx = try XCTUnwrap(ours.contexts[name], "\(label): context \(name)", file: file, line: line)
            let what = "\(label) context \(name)"
            XCTAssertEqual(ctx.cluster, c["cluster"] as? String ?? "", "\(what): cluster", file: file, line: line)
            XCTAssertEqual(ctx.user, c["user"] as? String ?? "", "\(what): user", file: file, line: line)
            XCTAssertEqual(ctx.namespace, text(c["namespace"]), "\(what): namespace", file: file, line: line)
            if let kc = clusters[ctx.cluster], let oc = ours.clusters[ctx.cluster] {
                let defining = try definingFile(files, "clusters", ctx.cluster)
                XCTAssertEqual(oc.server, kc["server"] as? String ?? "", "\(what): server", file: file, line: line)
                XCTAssertEqual(oc.certificateAuthority, path(kc["certificate-authority"], defining), "\(what): CA file", file: file, line: line)
                XCTAssertEqual(b64(oc.certificateAuthorityData), data(kc["certificate-authority-data"]), "\(what): CA data", file: file, line: line)
                XCTAssertEqual(oc.insecureSkipTLSVerify, kc["insecure-skip-tls-verify"] as? Bool ?? false, "\(what): TLS mode", file: file, line: line)
                XCTAssertEqual(oc.tlsServerName, text(kc["tls-server-name"]), "\(what): tls-server-name", file: file, line: line)
                XCTAssertEqual(oc.proxyURL, text(kc["proxy-url"]), "\(what): proxy-url", file: file, line: line)
            }
            if let ku = users[ctx.user], let ou = ours.users[ctx.user] {
                let defining = try definingFile(files, "users", ctx.user)
                XCTAssertEqual(ou.token, text(ku["token"]), "\(what): token", file: file, line: line)
                XCTAssertEqual(ou.tokenFile, path(ku["tokenFile"], defining), "\(what): tokenFile", file: file, line: line)
                XCTAssertEqual(ou.clientCertificate, path(ku["client-certificate"], defining), "\(what): client-certificate", file: file, line: line)
                XCTAssertEqual(ou.clientKey, path(ku["client-key"], defining), "\(what): client-key", file: file, line: line)
                XCTAssertEqual(b64(ou.clientCertificateData), data(ku["client-certificate-data"]), "\(what): client-certificate-data", file: file, line: line)
                XCTAssertEqual(b64(ou.clientKeyData), data(ku["client-key-data"]), "\(what): client-key-data", file: file, line: line)
                XCTAssertEqual(ou.username, text(ku["username"]), "\(what): username", file: file, line: line)
                XCTAssertEqual(ou.password, text(ku["password"]), "\(what): password", file: file, line: line)
                XCTAssertEqual(ou.authProviderName, (ku["auth-provider"] as? [String: Any])?["name"] as? String, "\(what): auth-provider", file: file, line: line)
                let ke = ku["exec"] as? [String: Any]
                XCTAssertEqual(ou.exec == nil, ke == nil, "\(what): exec", file: file, line: line)
                if let ke, let oe = ou.exec {
                    var command = ke["command"] as? String ?? ""
                    if command.contains("/") { command = path(command, defining) ?? command }
                    XCTAssertEqual(oe.command, command, "\(what): exec command", file: file, line: line)
                    XCTAssertEqual(oe.args, ke["args"] as? [String] ?? [], "\(what): exec args", file: file, line: line)
                    let env = (ke["env"] as? [[String: Any]] ?? []).map { Kubeconfig.ExecEnvVar(name: $0["name"] as? String ?? "", value: $0["value"] as? String ?? "") }
                    XCTAssertEqual(oe.env, env, "\(what): exec env", file: file, line: line)
                    XCTAssertEqual(oe.apiVersion, ke["apiVersion"] as? String ?? "", "\(what): exec apiVersion", file: file, line: line)
                    if knowsInteractiveMode {
                        XCTAssertEqual(oe.interactiveMode, text(ke["interactiveMode"]), "\(what): exec interactiveMode", file: file, line: line)
                    }
                    XCTAssertEqual(oe.installHint, text(ke["installHint"]), "\(what): exec installHint", file: file, line: line)
                    XCTAssertEqual(oe.provideClusterInfo, ke["provideClusterInfo"] as? Bool ?? false, "\(what): exec provideClusterInfo", file: file, line: line)
                }
            }
        }
    }
}
