import XCTest
@testable import OpenShiftCredentials

final class ExecPluginTests: XCTestCase {
    func kubeconfig(_ dir: TempDir, command: String, args: [String] = [], apiVersion: String = "client.authentication.k8s.io/v1",
                    interactiveMode: String = "Never") -> String {
        dir.write("config", """
        clusters: [{name: c, cluster: {server: "https://h:6443", certificate-authority-data: \(Base64.encode("CA"))}}]
        users:
        - name: e
          user:
            exec:
              apiVersion: \(apiVersion)
              command: \(command)
              args: [\(args.map { "\"\($0)\"" }.joined(separator: ", "))]
              env: [{name: OUT_DIR, value: "\(dir.path)"}]
              interactiveMode: \(interactiveMode)
              provideClusterInfo: true
              installHint: "install the plugin"
        contexts: [{name: x, context: {cluster: c, user: e}}]
        """)
    }

    func testTokenPluginGetsArgsEnvAndClusterInfoButNoSecrets() async throws {
        let dir = TempDir()
        dir.write("bin/plugin", """
        #!/bin/sh
        printf '%s\\n' "$@" > "$OUT_DIR/args"
        env > "$OUT_DIR/env"
        echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"sha256~fromexec"}}'
        """, mode: 0o755)
        let config = kubeconfig(dir, command: "./bin/plugin", args: ["get-token", "--flag=a b"])
        // The caller's environment reaches the plugin as given (the caller leaves out its secrets).
        let env = ["PATH": "/usr/bin:/bin", "KEEP": "1"]
        let s = try await ClusterSession.open(ClusterSideOptions(context: "x", kubeconfigPaths: [config]), http: testHTTP, environment: env,
                                              inClusterDirectory: "/none", log: { _ in })
        XCTAssertEqual(s.token(), "sha256~fromexec")
        let args = String(decoding: FileSystem.read(dir.path + "/args") ?? [], as: UTF8.self)
        XCTAssertEqual(args, "get-token\n--flag=a b\n")
        let childEnv = String(decoding: FileSystem.read(dir.path + "/env") ?? [], as: UTF8.self)
        XCTAssertTrue(childEnv.contains("KEEP=1"))
        XCTAssertTrue(childEnv.contains("OUT_DIR=\(dir.path)"))
        XCTAssertTrue(childEnv.contains(#"KUBERNETES_EXEC_INFO={"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"cluster":{"certificate-authority-data":"Q0E=","server":"https://h:6443"},"interactive":false}}"#), childEnv)
    }

    func testClientCertificatePlugin() async throws {
        let dir = TempDir()
        dir.write("plugin", """
        #!/bin/sh
        printf '%s\\n' '{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"clientCertificateData":"-----BEGIN CERTIFICATE-----\\nX\\n-----END CERTIFICATE-----\\n","clientKeyData":"KEY"}}'
        """, mode: 0o755)
        let config = kubeconfig(dir, command: "certplugin", apiVersion: "client.authentication.k8s.io/v1beta1")
        _ = system("mkdir -p '\(dir.path)/path' && cp '\(dir.path)/plugin' '\(dir.path)/path/certplugin'")
        let s = try await ClusterSession.open(ClusterSideOptions(context: "x", kubeconfigPaths: [config]), http: testHTTP,
                                              environment: ["PATH": dir.path + "/path:/usr/bin:/bin"], inClusterDirectory: "/none", log: { _ in })
        XCTAssertFalse(s.hasToken)
        XCTAssertEqual(s.tls.clientKeyPEM, Array("KEY".utf8))
        XCTAssertTrue(String(decoding: s.tls.clientCertPEM ?? [], as: UTF8.self).hasPrefix("-----BEGIN CERTIFICATE-----\nX"))
        await assertOpenShiftErrorAsync(.authentication, contains: ["client certificate"]) { try await s.registryCredential() }
    }

    func testPluginFailures() async {
        let dir = TempDir()
        dir.write("fail", "#!/bin/sh\necho oops >&2\nexit 3\n", mode: 0o755)
        dir.write("garbage", "#!/bin/sh\necho not json\n", mode: 0o755)
        dir.write("wrongversion", "#!/bin/sh\necho '{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"t\"}}'\n", mode: 0o755)
        func attempt(_ command: String, _ mode: String = "Never") async throws {
            let config = kubeconfig(dir, command: command, interactiveMode: mode)
            _ = try await ClusterSession.open(ClusterSideOptions(context: "x", kubeconfigPaths: [config]), http: testHTTP,
                                              environment: ["PATH": "/usr/bin:/bin"], inClusterDirectory: "/none", log: { _ in })
        }
        await assertOpenShiftErrorAsync(.authentication, contains: ["exit status 3"]) { try await attempt(dir.path + "/fail") }
        await assertOpenShiftErrorAsync(.protocolError, contains: ["ExecCredential"]) { try await attempt(dir.path + "/garbage") }
        await assertOpenShiftErrorAsync(.protocolError, contains: ["apiVersion"]) { try await attempt(dir.path + "/wrongversion") }
        await assertOpenShiftErrorAsync(.invalidInput, contains: ["not found", "install the plugin"]) { try await attempt("no-such-plugin-xyz") }
        await assertOpenShiftErrorAsync(.invalidInput, contains: ["interactive"]) { try await attempt(dir.path + "/garbage", "Always") }
    }
}

/// The spawner behind exec plugins: deadline, signals, descriptors.
final class ExecPluginProcessTests: XCTestCase {
    static func config(_ command: String) -> Kubeconfig.ExecConfig {
        Kubeconfig.ExecConfig(apiVersion: "client.authentication.k8s.io/v1", command: command, args: [], env: [],
                              interactiveMode: "Never", installHint: nil, provideClusterInfo: false)
    }

    func run(_ command: String, timeout: Double? = nil) async throws -> ExecCredentialResult {
        try await ExecPlugin.run(Self.config(command), user: "e", cluster: nil, environment: ["PATH": "/usr/bin:/bin"],
                                 interactive: false, timeoutSeconds: timeout, log: { _ in })
    }

    static let tokenScript = #"echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"'"$TOKEN"'"}}'"#

    func testHangingPluginTimesOutWithAClearError() async throws {
        let dir = TempDir()
        let plugin = dir.write("hang", "#!/bin/sh\nsleep 8\n" + Self.tokenScript + "\n", mode: 0o755)
        let start = ContinuousClock.now
        await assertOpenShiftErrorAsync(.authentication, contains: ["did not finish within 1 s", "hang"]) {
            _ = try await self.run(plugin, timeout: 1)
        }
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(6), "stopped at the deadline, not when the plugin chose to exit")
    }

    func testPluginIgnoringSIGTERMIsKilled() async throws {
        let dir = TempDir()
        let plugin = dir.write("stubborn", "#!/bin/sh\ntrap '' TERM\nwhile :; do sleep 1; done\n", mode: 0o755)
        let start = ContinuousClock.now
        await assertOpenShiftErrorAsync(.authentication, contains: ["did not finish within 1 s"]) {
            _ = try await self.run(plugin, timeout: 1)
        }
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(8), "SIGKILL follows SIGTERM")
    }

    func testCancellingTheTaskStopsThePlugin() async throws {
        let dir = TempDir()
        let plugin = dir.write("slow", "#!/bin/sh\nsleep 20\n", mode: 0o755)
        let start = ContinuousClock.now
        let task = Task {
            try await ExecPlugin.run(ExecPluginProcessTests.config(plugin), user: "e", cluster: nil,
                                     environment: ["PATH": "/usr/bin:/bin"], interactive: false, log: { _ in })
        }
        try await Task.sleep(nanoseconds: 300_000_000)
        task.cancel()
        do {
            _ = try await task.value
            XCTFail("a cancelled plugin produced a credential")
        } catch let e as OpenShiftError {
            XCTAssertTrue(e.message.contains("interrupted"), e.message)
        }
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(10), "stopped on cancellation, not after its 20 s")
    }

    /// We ignore SIGINT/SIGTERM (dispatch sources) and maybe SIGPIPE; the plugin must start with defaults.
    func testPluginStartsWithDefaultSignalDispositions() async throws {
        let dir = TempDir()
        let plugin = dir.write("sig", "#!/bin/sh\nTOKEN=ign-$(awk '/^SigIgn/{print $2}' /proc/$$/status)-blk-$(awk '/^SigBlk/{print $2}' /proc/$$/status)\n"
                               + Self.tokenScript + "\n", mode: 0o755)
        let saved = [SIGINT, SIGTERM, SIGPIPE].map { ($0, signal($0, SIG_IGN)) }
        defer { for (sig, handler) in saved { signal(sig, handler) } }
        let token = try await run(plugin).token ?? ""
        let parts = token.split(separator: "-")
        XCTAssertEqual(parts.count, 4, token)
        let ignored = UInt64(parts.count == 4 ? parts[1] : "", radix: 16) ?? .max
        let blocked = UInt64(parts.count == 4 ? parts[3] : "", radix: 16) ?? .max
        for sig in [SIGINT, SIGTERM, SIGPIPE] {
            XCTAssertEqual(ignored & (1 << UInt64(sig - 1)), 0, "signal \(sig) ignored in the plugin: \(token)")
        }
        XCTAssertEqual(blocked, 0, "no signal blocked in the plugin: \(token)")
    }

    /// Plugins run side by side never hold each other's pipes: no fd 3+ of a plugin is a pipe or socket
    /// other than its own stdin/stdout/stderr (the shell keeps a saved copy of stdout while redirecting).
    func testConcurrentPluginsInheritNoDescriptors() async throws {
        let dir = TempDir()
        let plugin = dir.write("fds", "#!/bin/sh\nout=$(readlink /proc/$$/fd/1)\nls -l /proc/$$/fd > \"$0.$$\"\nTOKEN=pipes-$(awk -v out=\"$out\" '$9 < 3 { std[$11] = 1 } $9 >= 3 && /pipe:|socket:/ && !($11 in std) && $11 != out' \"$0.$$\" | wc -l | tr -d ' ')\n"
                               + Self.tokenScript + "\n", mode: 0o755)
        let tokens = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<12 {
                group.addTask {
                    try await ExecPlugin.run(ExecPluginProcessTests.config(plugin), user: "e", cluster: nil,
                                             environment: ["PATH": "/usr/bin:/bin"], interactive: false, log: { _ in }).token ?? ""
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        XCTAssertEqual(tokens, Array(repeating: "pipes-0", count: 12))
    }
}
