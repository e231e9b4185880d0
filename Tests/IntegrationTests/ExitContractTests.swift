import ClusterEmulator
import Foundation
import HTTPTransport
import TestSupport
import XCTest

/// The exit contract through the built binary: tokens created by a password login are revoked on
/// every exit path (and kept on every path with --keep-tokens), kubeconfig files are found as kubectl
/// finds them, and every failure is one line with its exit status.
final class ExitContractTests: WorkspaceTestCase {
    static let password = "alice-Exit:contract pw"

    override class var workspacePrefix: String { "imgpromote-exit" }

    func cluster(_ name: String, expose: EmulatorConfig.RegistryExposure = .imagestream) async throws -> ClusterEmulator {
        let c = try await ClusterEmulator.start(
            config: EmulatorConfig(name: name, users: [.init(name: "alice", password: Self.password)],
                                   projects: [.init(name: "shop", pullers: ["alice"], pushers: ["alice"]),
                                              .init(name: "openshift", pullers: ["system:authenticated"], pushers: [])],
                                   imageStreams: [.init(namespace: "openshift", name: "cli")],
                                   exposeRegistry: expose),
            workDirectory: try dir.subdirectory(name))
        cleanups.append { c.stop() }
        return c
    }

    func environment(_ extra: [String: String]) -> [String: String] {
        var environment = Subprocess.currentEnvironment()
        environment["HOME"] = dir.path
        environment["XDG_RUNTIME_DIR"] = dir.path
        environment["REGISTRY_AUTH_FILE"] = nil
        environment["KUBECONFIG"] = nil
        for k in environment.keys where k.hasPrefix("IMGPROMOTE_") { environment[k] = nil }
        for (k, v) in extra { environment[k] = v }
        return environment
    }

    func imgpromote(_ args: [String], env: [String: String] = [:]) async throws -> ProcessResult {
        let r = try await Subprocess.runAsync(try XCTUnwrap(BuiltProducts.imgpromote), args, environment: environment(env),
                                              timeoutSeconds: 120)
        XCTAssertFalse((r.stdoutText + r.stderrText).contains(Self.password), "password leaked by \(args)")
        return r
    }

    func active(_ c: ClusterEmulator) -> Int { c.tokens().filter { !$0.revoked && !$0.expired }.count }

    // MARK: help

    /// Help is a success: the usage on stdout, exit 0 (the run path once turned it into exit 1 and
    /// printed ArgumentParser's internal error).
    func testHelpExitsZeroWithTheUsage() async throws {
        for args in [["--help"], ["copy", "--help"], ["help", "promote"], ["tag", "-h"], []] {
            let r = try await imgpromote(args)
            XCTAssertEqual(r.exitCode, 0, "\(args): \(r.stderrText)")
            XCTAssertTrue(r.stdoutText.contains("USAGE:"), "\(args): \(r.stdoutText)")
            XCTAssertFalse(r.stderrText.contains("CommandError"), "\(args): \(r.stderrText)")
        }
    }

    /// `imgpromote CMD ARGS` is parsed by CMD directly (main.swift, `parseCommandLine`), except when the root
    /// answers an argument itself: help spelled any way, `--help-hidden`, completion scripts, dump-help and a
    /// stray `help` still behave as under the root (parsed by CMD alone they would name CMD as the tool, or
    /// print help where the root reports an unexpected argument).
    func testWhatTheRootAnswersBehavesAsUnderTheRoot() async throws {
        for (args, expected) in [(["promote", "-qh"], "USAGE: imgpromote promote"),
                                 (["copy", "a", "b", "-vh"], "USAGE: imgpromote copy"),
                                 (["plan", "--help-hidden"], "--tag-page-size"),
                                 (["copy", "--generate-completion-script", "bash"], "__imgpromote_"),
                                 (["plan", "--experimental-dump-help"], "\"superCommands\" : [\n      \"imgpromote\"\n    ]")] {
            let r = try await imgpromote(args)
            XCTAssertEqual(r.exitCode, 0, "\(args): \(r.stderrText)")
            XCTAssertTrue(r.stdoutText.contains(expected), "\(args): \(r.stdoutText.prefix(300))")
        }
        let stray = try await imgpromote(["promote", "-f", "x", "help"])
        XCTAssertEqual(stray.exitCode, 2)
        XCTAssertEqual(stray.stderrText, "imgpromote: Unexpected argument 'help' (see 'imgpromote promote --help')\n")
        XCTAssertEqual(stray.stdoutText, "")
    }

    // MARK: tokens

    /// Discovery fails after the login (the registry is not exposed): the login's token is revoked anyway.
    func testTokenFromPasswordLoginIsRevokedWhenDiscoveryFails() async throws {
        let dev = try await cluster("dev", expose: .none)
        let r = try await imgpromote(["copy", "--src-cluster", dev.apiURL, "--src-ca-file", dev.caBundlePath,
                                      "--src-username", "alice", "shop/app:1.0", "127.0.0.1:9/shop/app:1.0"],
                                     env: ["IMGPROMOTE_SRC_PASSWORD": Self.password])
        XCTAssertEqual(r.exitCode, 1, r.stderrText)
        XCTAssertTrue(r.stderrText.contains("not exposed"), r.stderrText)
        XCTAssertTrue(r.stderrText.contains("or pass --src-registry HOST[:PORT]"), r.stderrText)
        XCTAssertEqual(dev.tokens().count, 1, "the login issued one token")
        XCTAssertEqual(active(dev), 0, "the token is revoked although discovery failed: \(r.stderrText)")

        // login --authfile fails the same way after its login: that token goes too.
        let login = try await imgpromote(["login", "--cluster", dev.apiURL, "--ca-file", dev.caBundlePath,
                                          "--username", "alice", "--authfile", dir.file("auth.json")],
                                         env: ["IMGPROMOTE_PASSWORD": Self.password])
        XCTAssertEqual(login.exitCode, 1, login.stderrText)
        XCTAssertEqual(dev.tokens().count, 2)
        XCTAssertEqual(active(dev), 0, login.stderrText)
    }

    /// The destination side fails to resolve after the source side logged in.
    func testTokenIsRevokedWhenTheOtherSideFails() async throws {
        let dev = try await cluster("dev")
        let r = try await imgpromote(["copy", "--src-cluster", dev.apiURL, "--src-ca-file", dev.caBundlePath,
                                      "--src-username", "alice", "--dest-authfile", dir.file("missing.json"),
                                      "shop/app:1.0", "127.0.0.1:9/shop/app:1.0"],
                                     env: ["IMGPROMOTE_SRC_PASSWORD": Self.password])
        XCTAssertEqual(r.exitCode, 2, r.stderrText)
        XCTAssertEqual(dev.tokens().count, 1)
        XCTAssertEqual(active(dev), 0, r.stderrText)
    }

    /// SIGTERM with --keep-tokens: the token survives, as it does on a normal exit.
    func testKeepTokensIsHonouredOnSIGTERM() async throws {
        let dev = try await cluster("dev")
        let identity = try TLSIdentity.generate()
        cleanups.append { identity.remove() }
        let front = try FaultProxy(upstream: "https://\(dev.registryHost)", tls: identity,
                                   rules: [.init(method: "GET", pathContains: "/v2/", fault: .stall(seconds: 60))])
        cleanups.append { front.stop() }
        let bundle = dir.file("bundle.pem")
        try FileSystem.write(try FileSystem.read(dev.caBundlePath) + Array("\n".utf8) + (try FileSystem.read(identity.caPath ?? "")),
                             to: bundle)
        for keep in [true, false] {
            let before = dev.tokens().count
            let err = dir.file("sigterm-\(keep).err")
            let child = try Subprocess.launch(
                try XCTUnwrap(BuiltProducts.imgpromote),
                ["copy", "-v"] + (keep ? ["--keep-tokens"] : []) + ["--src-cluster", dev.apiURL, "--src-ca-file", bundle,
                 "--src-registry", front.authority, "--src-username", "alice", "shop/app:1.0", "127.0.0.1:9/shop/app:1.0"],
                environment: environment(["IMGPROMOTE_SRC_PASSWORD": Self.password]),
                stdoutPath: dir.file("sigterm.out"), stderrPath: err)
            // Logged in (the token exists), then stalled at the registry behind the proxy.
            var loggedIn = false
            for _ in 0..<300 where !loggedIn {
                loggedIn = dev.tokens().count > before
                if !loggedIn { try await Task.sleep(nanoseconds: 100_000_000) }
            }
            XCTAssertTrue(loggedIn, (try? FileSystem.readText(err)) ?? "")
            try await Task.sleep(nanoseconds: 700_000_000)
            child.signal(SIGTERM)
            XCTAssertEqual(child.wait(timeoutSeconds: 15), Termination.exited(128 + SIGTERM), (try? FileSystem.readText(err)) ?? "")
            XCTAssertEqual(dev.tokens().count, before + 1)
            XCTAssertEqual(active(dev), keep ? 1 : 0, "keep=\(keep): \((try? FileSystem.readText(err)) ?? "")")
            dev.expireAllTokens()
        }
    }

    /// SIGTERM while an exec plugin runs: imgpromote exits 143 and the plugin does not outlive it.
    func testExecPluginDoesNotOutliveAnInterruptedRun() async throws {
        let pidFile = dir.file("plugin.pid")
        let plugin = dir.file("hanging-plugin")
        try FileSystem.write("#!/bin/sh\necho $$ > \(pidFile)\nexec sleep 60\n", to: plugin, mode: 0o755)
        let kubeconfig = dir.file("kc-exec")
        try FileSystem.write("""
        clusters: [{name: c, cluster: {server: "https://127.0.0.1:9"}}]
        users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: "\(plugin)", interactiveMode: Never}}}]
        contexts: [{name: x, context: {cluster: c, user: u}}]
        """, to: kubeconfig, mode: 0o600)
        let err = dir.file("exec.err")
        let child = try Subprocess.launch(try XCTUnwrap(BuiltProducts.imgpromote), ["whoami", "--kubeconfig", kubeconfig, "--context", "x"],
                                          environment: environment([:]), stdoutPath: dir.file("exec.out"), stderrPath: err)
        var pid: Int32 = 0
        for _ in 0..<300 where pid == 0 {
            pid = Int32(((try? FileSystem.readText(pidFile)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
            if pid == 0 { try await Task.sleep(nanoseconds: 50_000_000) }
        }
        XCTAssertGreaterThan(pid, 0, (try? FileSystem.readText(err)) ?? "")
        defer { if pid > 0 { kill(pid, SIGKILL) } }
        child.signal(SIGTERM)
        XCTAssertEqual(child.wait(timeoutSeconds: 15), Termination.exited(128 + SIGTERM), (try? FileSystem.readText(err)) ?? "")
        var gone = false
        for _ in 0..<40 where !gone {
            // Gone, or a zombie waiting for init: either way no longer running.
            let state = ((try? FileSystem.readText("/proc/\(pid)/stat")) ?? "").split(separator: " ").dropFirst(2).first
            gone = state == nil || state == "Z"
            if !gone { try await Task.sleep(nanoseconds: 50_000_000) }
        }
        XCTAssertTrue(gone, "the exec plugin (pid \(pid)) outlived imgpromote")
    }

    // MARK: kubeconfig files

    func kubeconfig(_ dev: ClusterEmulator, token: String = "sha256~not-a-real-token-0123456789") throws -> String {
        let path = dir.file("kc-\(UInt32.random(in: 0...UInt32.max))")
        try FileSystem.write("""
        apiVersion: v1
        kind: Config
        clusters:
        - name: dev
          cluster: {server: "\(dev.apiURL)", certificate-authority: "\(dev.caBundlePath)"}
        users:
        - name: u
          user: {token: "\(token)"}
        contexts:
        - name: dev
          context: {cluster: dev, user: u}
        current-context: dev
        """, to: path, mode: 0o600)
        return path
    }

    func testExplicitKubeconfigMustExist() async throws {
        let missing = dir.file("no-such-kubeconfig")
        let r = try await imgpromote(["whoami", "--kubeconfig", missing, "--context", "dev"])
        XCTAssertEqual(r.exitCode, 2, r.stderrText)
        XCTAssertTrue(r.stderrText.contains("stat \(missing): no such file or directory"), r.stderrText)
        XCTAssertFalse(r.stderrText.contains("context"), "the context is not the problem: \(r.stderrText)")
        XCTAssertEqual(r.stderrText.split(separator: "\n").count, 1, r.stderrText)
    }

    func testMissingEntriesOfKubeconfigListAreSkipped() async throws {
        let dev = try await cluster("dev")
        let good = try kubeconfig(dev)
        let missing = dir.file("gone")
        // The context is found in the one file that exists; the token is bogus, so the cluster answers 401 (exit 3).
        let r = try await imgpromote(["whoami", "--context", "dev"], env: ["KUBECONFIG": missing + ":" + good])
        XCTAssertEqual(r.exitCode, 3, r.stderrText)
        XCTAssertTrue(r.stderrText.contains("rejected"), r.stderrText)

        let none = try await imgpromote(["whoami", "--context", "dev"], env: ["KUBECONFIG": missing + ":" + dir.file("gone2")])
        XCTAssertEqual(none.exitCode, 2, none.stderrText)
        XCTAssertTrue(none.stderrText.contains("no kubeconfig file exists"), none.stderrText)
        XCTAssertTrue(none.stderrText.contains(missing), none.stderrText)
    }

    // MARK: one line, one exit status

    /// The cluster library's errors name the inputs and remedies; the CLI words them as the failing
    /// side's flags and variables (no library field names reach the user).
    func testClusterErrorsNameTheFailingSidesFlagsAndVariables() async throws {
        let nowhere = "https://127.0.0.1:9"
        let cases: [(args: [String], env: [String: String], expected: [String])] = [
            (["copy", "--src-cluster", nowhere, "--src-username", "alice", "shop/app:1.0", "127.0.0.1:9/shop/app:1.0"], [:],
             ["--src-username alice was given without a password", "set IMGPROMOTE_SRC_PASSWORD, --src-password-file or --src-password-stdin",
              "or set IMGPROMOTE_SRC_TOKEN or --src-token-file"]),
            (["copy", "--dest-cluster", nowhere, "127.0.0.1:9/shop/app:1.0", "shop/app:1.0"], [:],
             ["no credentials for \(nowhere)", "set IMGPROMOTE_DEST_TOKEN or --dest-token-file",
              "or log in with --dest-username and a password", "or use --dest-context NAME"]),
            (["copy", "--dest-cluster", nowhere, "--dest-ca-file", dir.file("no-ca.pem"), "127.0.0.1:9/shop/app:1.0", "shop/app:1.0"],
             ["IMGPROMOTE_DEST_TOKEN": "t0ken-value"], ["cannot read --dest-ca-file \(dir.file("no-ca.pem"))"]),
            (["whoami", "--cluster", nowhere], ["IMGPROMOTE_PASSWORD": "pw"], ["a password was given without --username"]),
            (["whoami", "--context", "x", "--kubeconfig", try kubeconfigWithPasswordUser()], [:],
             ["uses a user name and password, which the OpenShift API does not accept",
              "log in with --username and a password (IMGPROMOTE_PASSWORD, --password-file or --password-stdin)"]),
        ]
        for c in cases {
            let r = try await imgpromote(c.args, env: c.env)
            XCTAssertEqual(r.exitCode, 2, "\(c.args): \(r.stderrText)")
            XCTAssertEqual(r.stderrText.split(separator: "\n").count, 1, r.stderrText)
            for needle in c.expected { XCTAssertTrue(r.stderrText.contains(needle), "\(c.args): '\(needle)' not in \(r.stderrText)") }
            XCTAssertFalse(r.stderrText.contains("ClusterSideOptions"), r.stderrText)
            XCTAssertFalse(r.stderrText.contains("t0ken-value"), r.stderrText)
        }
    }

    func kubeconfigWithPasswordUser() throws -> String {
        let path = dir.file("kc-basic")
        try FileSystem.write("""
        clusters: [{name: c, cluster: {server: "https://127.0.0.1:9"}}]
        users: [{name: basic, user: {username: a, password: b}}]
        contexts: [{name: x, context: {cluster: c, user: basic}}]
        """, to: path, mode: 0o600)
        return path
    }

    /// A credential helper that fails mid-copy: one line naming the helper, exit 3 (no credentials).
    func testFailingCredentialHelperIsOneLineWithExitThree() async throws {
        let registry = try await RegistryProcess.start(auth: .htpasswd(users: ["bob": "bobs-password"]))
        cleanups.append { registry.stop() }
        let bin = try dir.subdirectory("bin")
        try FileSystem.write("#!/bin/sh\necho 'keychain locked: unlock it first' >&2\nexit 1\n",
                             to: bin + "/docker-credential-broken", mode: 0o755)
        let auth = dir.file("auth.json")
        try FileSystem.write("{\"credHelpers\":{\"\(registry.host)\":\"broken\"}}", to: auth, mode: 0o600)
        let r = try await imgpromote(["copy", "--src-tls-verify=false", "--dest-tls-verify=false", "--src-authfile", auth,
                                      "\(registry.host)/team/app:1", "\(registry.host)/team/app:2"],
                                     env: ["PATH": bin + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")])
        XCTAssertEqual(r.exitCode, 3, r.stderrText)
        let lines = r.stderrText.split(separator: "\n").filter { !$0.contains("warning: TLS verification is off") }
        XCTAssertEqual(lines.count, 1, r.stderrText)
        XCTAssertTrue(lines.first?.hasPrefix("imgpromote: ") == true, r.stderrText)
        XCTAssertTrue(r.stderrText.contains("docker-credential-broken"), r.stderrText)
        XCTAssertTrue(r.stderrText.contains("keychain locked"), r.stderrText)
    }
}
