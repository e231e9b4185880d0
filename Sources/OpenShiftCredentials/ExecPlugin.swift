import FoundationEssentials
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A credential produced by a kubeconfig exec plugin (`ExecCredential.status`).
struct ExecCredentialResult: Sendable {
    var token: String?
    var clientCertificatePEM: [UInt8]?
    var clientKeyPEM: [UInt8]?
}

/// Runs a kubeconfig `exec` credential plugin as client-go does: `command` looked up in `PATH`
/// (relative paths with a '/' were resolved against the kubeconfig's directory), `args` from the
/// kubeconfig only, environment = ours + the stanza's `env` + `KUBERNETES_EXEC_INFO`; stdout must be an
/// `ExecCredential` of the same apiVersion. Our own secrets never reach its argv, and variables
/// holding them (`IMGPROMOTE_*`) are removed from its environment.
enum ExecPlugin {
    struct Cluster: Sendable {
        var server: String
        var caData: [UInt8]?
        var insecure: Bool
    }

    static func run(_ config: Kubeconfig.ExecConfig, user: String, cluster: Cluster?, environment: [String: String],
                    interactive: Bool, log: @escaping @Sendable (String) -> Void) async throws(OpenShiftError) -> ExecCredentialResult {
        let known = ["client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"]
        guard known.contains(config.apiVersion) else {
            throw OpenShiftError(.usage, "exec plugin of user \"\(user)\": unsupported apiVersion \"\(config.apiVersion)\" (use client.authentication.k8s.io/v1)")
        }
        let mode = config.interactiveMode ?? (config.apiVersion.hasSuffix("/v1") ? "" : "IfAvailable")
        if config.apiVersion.hasSuffix("/v1") && mode.isEmpty {
            throw OpenShiftError(.usage, "exec plugin of user \"\(user)\": interactiveMode must be specified for client.authentication.k8s.io/v1")
        }
        if mode == "Always" && !interactive {
            throw OpenShiftError(.usage, "exec plugin \(config.command) of user \"\(user)\" needs an interactive terminal (interactiveMode: Always)")
        }
        let useTerminal = interactive && mode != "Never"

        guard let path = lookPath(config.command, environment: environment) else {
            var m = "exec plugin \"\(config.command)\" of user \"\(user)\" was not found"
            if let hint = config.installHint { m += "; " + hint.split(separator: "\n").joined(separator: " ") }
            throw OpenShiftError(.usage, m)
        }

        var env = environment.filter { !$0.key.hasPrefix("IMGPROMOTE_") }
        for v in config.env { env[v.name] = v.value }
        env["KUBERNETES_EXEC_INFO"] = execInfo(apiVersion: config.apiVersion, interactive: useTerminal,
                                               cluster: config.provideClusterInfo ? cluster : nil)

        log("exec plugin: running \(path) for user \(user)")
        let argv = [config.command] + config.args
        let envp = env.map { "\($0.key)=\($0.value)" }.sorted()
        let outcome = await runOnThread { spawnAndCollect(path: path, argv: argv, envp: envp, stdinFromTerminal: useTerminal) }
        switch outcome {
        case .spawnFailed(let err):
            throw OpenShiftError(.usage, "cannot run exec plugin \(config.command) of user \"\(user)\": \(String(cString: strerror(err)))")
        case .finished(let status, let stdout):
            guard status == 0 else {
                throw OpenShiftError(.authentication, "exec plugin \(config.command) of user \"\(user)\" failed (exit status \(status)); see its messages above")
            }
            return try parse(stdout, apiVersion: config.apiVersion, command: config.command, user: user)
        }
    }

    static func parse(_ stdout: [UInt8], apiVersion: String, command: String, user: String) throws(OpenShiftError) -> ExecCredentialResult {
        struct Output: Decodable {
            struct Status: Decodable {
                var token: String?
                var clientCertificateData: String?
                var clientKeyData: String?
            }
            var apiVersion: String?
            var kind: String?
            var status: Status?
        }
        let what = "exec plugin \(command) of user \"\(user)\""
        let decoded: Output
        do {
            decoded = try JSONDecoder().decode(Output.self, from: Data(stdout))
        } catch {
            throw OpenShiftError(.protocolError, "\(what) did not print an ExecCredential JSON object")
        }
        guard decoded.kind == "ExecCredential" else {
            throw OpenShiftError(.protocolError, "\(what) printed kind \"\(decoded.kind ?? "")\", expected ExecCredential")
        }
        guard decoded.apiVersion == apiVersion else {
            throw OpenShiftError(.protocolError, "\(what) answered apiVersion \"\(decoded.apiVersion ?? "")\", the kubeconfig asks for \(apiVersion)")
        }
        guard let status = decoded.status else { throw OpenShiftError(.protocolError, "\(what) returned no status") }
        let cert = status.clientCertificateData.flatMap { $0.isEmpty ? nil : Array($0.utf8) }
        let key = status.clientKeyData.flatMap { $0.isEmpty ? nil : Array($0.utf8) }
        if (cert == nil) != (key == nil) {
            throw OpenShiftError(.protocolError, "\(what) returned a client certificate without its key (or the reverse)")
        }
        let token = status.token.flatMap { $0.isEmpty ? nil : $0 }
        guard token != nil || cert != nil else {
            throw OpenShiftError(.protocolError, "\(what) returned neither a token nor a client certificate")
        }
        return ExecCredentialResult(token: token, clientCertificatePEM: cert, clientKeyPEM: key)
    }

    static func execInfo(apiVersion: String, interactive: Bool, cluster: Cluster?) -> String {
        var spec = "\"interactive\":\(interactive)"
        if let cluster {
            var c = "\"server\":\(jsonString(cluster.server))"
            if let ca = cluster.caData { c += ",\"certificate-authority-data\":\(jsonString(Base64.encode(ca)))" }
            if cluster.insecure { c += ",\"insecure-skip-tls-verify\":true" }
            spec += ",\"cluster\":{\(c)}"
        }
        return "{\"apiVersion\":\(jsonString(apiVersion)),\"kind\":\"ExecCredential\",\"spec\":{\(spec)}}"
    }

    static func lookPath(_ command: String, environment: [String: String]) -> String? {
        if command.contains("/") { return FileSystem.isExecutable(command) ? command : nil }
        let dirs = (environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":", omittingEmptySubsequences: false)
        for dir in dirs {
            let candidate = (dir.isEmpty ? "." : String(dir)) + "/" + command
            if FileSystem.isExecutable(candidate) { return candidate }
        }
        return nil
    }

    enum Outcome: Sendable {
        case spawnFailed(Int32)
        case finished(status: Int32, stdout: [UInt8])
    }

    /// posix_spawn with stdout on a pipe (1 MiB cap), stderr inherited (plugins print hints there),
    /// stdin from /dev/null unless the plugin may talk to the terminal. Blocks: call on a thread.
    static func spawnAndCollect(path: String, argv: [String], envp: [String], stdinFromTerminal: Bool) -> Outcome {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { return .spawnFailed(errno) }
        let readEnd = fds[0], writeEnd = fds[1]
        _ = fcntl(readEnd, F_SETFD, FD_CLOEXEC)
        _ = fcntl(writeEnd, F_SETFD, FD_CLOEXEC)

        #if canImport(Darwin)
        var actions: posix_spawn_file_actions_t? = nil
        #else
        var actions = posix_spawn_file_actions_t()
        #endif
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, writeEnd, 1)
        if !stdinFromTerminal {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }

        let cArgv = argv.map { strdup($0) } + [nil]
        let cEnvp = envp.map { strdup($0) } + [nil]
        defer {
            cArgv.forEach { free($0) }
            cEnvp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, nil, cArgv, cEnvp)
        close(writeEnd)
        guard rc == 0 else {
            close(readEnd)
            return .spawnFailed(rc)
        }
        var out = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = read(readEnd, &buf, buf.count)
            if n > 0 {
                if out.count < 1 << 20 { out += buf[0..<n] }
                continue
            }
            if n < 0 && errno == EINTR { continue }
            break
        }
        close(readEnd)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let exited = (status & 0x7f) == 0
        let code = exited ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return .finished(status: code, stdout: out)
    }
}
