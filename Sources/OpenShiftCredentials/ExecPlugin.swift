import FoundationEssentials
import ProcessSpawn
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
/// kubeconfig only, environment = the caller's (`ClusterSession.open`'s, which leaves out variables
/// holding the caller's secrets) + the stanza's `env` + `KUBERNETES_EXEC_INFO`; stdout must be an
/// `ExecCredential` of the same apiVersion. Our own secrets never reach its argv.
enum ExecPlugin {
    struct Cluster: Sendable {
        var server: String
        var caData: [UInt8]?
        var insecure: Bool
    }

    static func run(_ config: Kubeconfig.ExecConfig, user: String, cluster: Cluster?, environment: [String: String],
                    interactive: Bool, timeoutSeconds: Double? = nil,
                    log: @escaping @Sendable (String) -> Void) async throws(OpenShiftError) -> ExecCredentialResult {
        let known = ["client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"]
        guard known.contains(config.apiVersion) else {
            throw OpenShiftError(.invalidInput, "exec plugin of user \"\(user)\": unsupported apiVersion \"\(config.apiVersion)\" (use client.authentication.k8s.io/v1)")
        }
        let mode = config.interactiveMode ?? (config.apiVersion.hasSuffix("/v1") ? "" : "IfAvailable")
        if config.apiVersion.hasSuffix("/v1") && mode.isEmpty {
            throw OpenShiftError(.invalidInput, "exec plugin of user \"\(user)\": interactiveMode must be specified for client.authentication.k8s.io/v1")
        }
        if mode == "Always" && !interactive {
            throw OpenShiftError(.invalidInput, "exec plugin \(config.command) of user \"\(user)\" needs an interactive terminal (interactiveMode: Always)")
        }
        let useTerminal = interactive && mode != "Never"

        guard let path = lookPath(config.command, environment: environment) else {
            var m = "exec plugin \"\(config.command)\" of user \"\(user)\" was not found"
            if let hint = config.installHint { m += "; " + hint.split(separator: "\n").joined(separator: " ") }
            throw OpenShiftError(.invalidInput, ClusterWording(m))
        }

        var env = environment
        for v in config.env { env[v.name] = v.value }
        env["KUBERNETES_EXEC_INFO"] = execInfo(apiVersion: config.apiVersion, interactive: useTerminal,
                                               cluster: config.provideClusterInfo ? cluster : nil)

        log("exec plugin: running \(path) for user \(user)")
        // client-go waits forever; a pipeline must not. A plugin talking to the user (device code,
        // browser login) gets longer.
        let limit = timeoutSeconds ?? (useTerminal ? interactiveTimeoutSeconds : timeoutSecondsDefault)
        let request = Spawner.Request(executable: path, arguments: [config.command] + config.args,
                                      environment: env.map { "\($0.key)=\($0.value)" }.sorted(),
                                      input: useTerminal ? .inherit : .none,
                                      errorOutput: .inherit,   // its messages are for the user, as with kubectl
                                      timeoutSeconds: limit, maxOutputBytes: 1 << 20)
        let outcome: Spawner.Outcome
        do {
            outcome = try await Spawner.run(request)
        } catch {
            throw OpenShiftError(.invalidInput, "cannot run exec plugin \(config.command) of user \"\(user)\": \(String(cString: strerror(error.errno)))")
        }
        if outcome.cancelled {
            throw OpenShiftError(.authentication, "exec plugin \(config.command) of user \"\(user)\" was stopped: interrupted")
        }
        if outcome.timedOut {
            throw OpenShiftError(.authentication, "exec plugin \(config.command) of user \"\(user)\" did not finish within \(Self.seconds(limit)) s and was stopped; check that it can run without a prompt (interactiveMode), or use a token")
        }
        if outcome.truncated {
            throw OpenShiftError(.protocolError, "exec plugin \(config.command) of user \"\(user)\" printed more than 1 MiB")
        }
        switch outcome.termination {
        case .exited(0):
            return try parse(outcome.stdout, apiVersion: config.apiVersion, command: config.command, user: user)
        case .exited(let status):
            throw OpenShiftError(.authentication, "exec plugin \(config.command) of user \"\(user)\" failed (exit status \(status)); see its messages above")
        case .signalled(let sig):
            throw OpenShiftError(.authentication, "exec plugin \(config.command) of user \"\(user)\" was killed by signal \(sig)")
        }
    }

    /// Without a terminal: long enough for a cloud CLI's cold start and a token refresh round trip.
    static let timeoutSecondsDefault: Double = 60
    /// With a terminal, the user may be typing a password or finishing a browser login.
    static let interactiveTimeoutSeconds: Double = 300

    static func seconds(_ s: Double) -> String { s == s.rounded() ? String(Int(s)) : String(s) }

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

    /// KUBERNETES_EXEC_INFO: the ExecCredential (apiVersion, kind, spec) kubectl hands a plugin.
    struct ExecInfo: Encodable {
        struct Spec: Encodable {
            var interactive: Bool
            var cluster: ClusterInfo?
        }
        struct ClusterInfo: Encodable {
            var server: String
            var certificateAuthorityData: String?
            var insecureSkipTLSVerify: Bool?
            enum CodingKeys: String, CodingKey {
                case server
                case certificateAuthorityData = "certificate-authority-data"
                case insecureSkipTLSVerify = "insecure-skip-tls-verify"
            }
        }
        var apiVersion: String
        var kind = "ExecCredential"
        var spec: Spec
    }

    static func execInfo(apiVersion: String, interactive: Bool, cluster: Cluster?) -> String {
        let info = ExecInfo(apiVersion: apiVersion, spec: .init(interactive: interactive, cluster: cluster.map {
            .init(server: $0.server, certificateAuthorityData: $0.caData.map { Data($0).base64EncodedString() },
                  insecureSkipTLSVerify: $0.insecure ? true : nil)
        }))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Strings, Bools and optionals always encode; the fallback is unreachable.
        guard let bytes = try? encoder.encode(info) else { return "{}" }
        return String(decoding: bytes, as: UTF8.self)
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
}
