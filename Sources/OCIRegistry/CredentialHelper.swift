import ProcessSpawn
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs docker credential helpers (`docker-credential-NAME get`): the server URL goes to the
/// helper's stdin, never argv, and the answer `{"ServerURL","Username","Secret"}` comes back on stdout.
enum CredentialHelper {
    /// A helper that hangs (a locked keychain waiting for a GUI prompt) must not hang a pipeline.
    static let timeoutSeconds = 30
    static let maxOutput = 1 << 20
    static let defaultPATH = "/usr/local/bin:/usr/bin:/bin"

    /// Credentials from helper `name` for `serverURL`; nil when the helper is not installed or has
    /// nothing for this server. Throws when it fails or answers garbage.
    static func get(helper name: String, serverURL: String, environment: [String: String]) async throws -> RegistryCredential? {
        let program = "docker-credential-" + name
        // The helper name comes from a config file: it must stay a file name, not a path.
        guard !name.isEmpty, name.utf8.allSatisfy({
            ImageReference.isAlnum($0) || $0 == 0x2D || $0 == 0x5F || $0 == 0x2E || $0 == 0x2B
        }) else {
            throw AuthFileError(path: DiagnosticText.sanitize(program, limit: 100), reason: "invalid credential helper name")
        }
        guard let executable = findExecutable(program, path: environment["PATH"] ?? defaultPATH) else { return nil }

        let result = try await run(executable: executable, arguments: [program, "get"], input: Array(serverURL.utf8),
                             environment: environment)
        if result.timedOut {
            throw AuthFileError(path: program, reason: "did not finish within \(timeoutSeconds) s and was stopped (waiting for a prompt or a locked keychain?)", kind: .helper)
        }
        if result.status != 0 {
            let out = String(decoding: result.stdout.prefix(4096), as: UTF8.self)
            let err = String(decoding: result.stderr.prefix(4096), as: UTF8.self)
            // docker-credential-helpers' ErrCredentialsNotFound text.
            if (out + err).lowercased().contains("credentials not found") { return nil }
            let detail = DiagnosticText.sanitize(err.isEmpty ? out : err, limit: 200)
            let how = result.status < 0 ? "was killed by signal \(-result.status)" : "exited with status \(result.status)"
            throw AuthFileError(path: program, reason: detail.isEmpty ? how : "\(how): \(detail)", kind: .helper)
        }
        // stdout holds a secret: errors below never quote it.
        guard let json = try? AuthJSON.parse(result.stdout), json.isObject else {
            throw AuthFileError(path: program, reason: "returned output that is not a JSON object", kind: .helper)
        }
        func field(_ key: String) throws -> String? {
            switch json[key] {
            case nil, .null?: return nil
            case .string(let s)?: return s
            default: throw AuthFileError(path: program, reason: "\"\(key)\" in its output is not a string", kind: .helper)
            }
        }
        let username = try field("Username")
        guard let secret = try field("Secret"), !secret.isEmpty else { return nil }
        // Docker's convention: Username "<token>" means Secret is an identity (refresh) token.
        if username == "<token>" { return RegistryCredential(identityToken: secret) }
        return RegistryCredential(username: (username?.isEmpty ?? true) ? nil : username, password: secret)
    }

    static func findExecutable(_ program: String, path: String) -> String? {
        for dir in path.split(separator: ":", omittingEmptySubsequences: true) {
            let candidate = "\(dir)/\(program)"
            var st = stat()
            if stat(candidate, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, access(candidate, X_OK) == 0 {
                return candidate
            }
        }
        return nil
    }

    struct Result {
        var status: Int32       // exit status, or -signal
        var stdout: [UInt8]
        var stderr: [UInt8]
        var timedOut: Bool
    }

    /// The helper with the server URL on stdin, through the shared spawner (own thread, deadline,
    /// signals reset in the child, descriptors close-on-exec, stdout and stderr read together).
    static func run(executable: String, arguments: [String], input: [UInt8], environment: [String: String],
                    timeoutSeconds: Int = timeoutSeconds) async throws -> Result {
        let program = arguments.first ?? executable
        let request = Spawner.Request(executable: executable, arguments: arguments,
                                      environment: environment.map { "\($0.key)=\($0.value)" }.sorted(),
                                      input: .bytes(input), errorOutput: .capture,
                                      timeoutSeconds: Double(timeoutSeconds), maxOutputBytes: maxOutput)
        let outcome: Spawner.Outcome
        do {
            outcome = try await Spawner.run(request)
        } catch {
            throw AuthFileError(path: program, reason: "cannot run \(executable): \(String(cString: strerror(error.errno)))", kind: .helper)
        }
        if outcome.cancelled { throw CancellationError() }
        if outcome.truncated {
            throw AuthFileError(path: program, reason: "produced more than \(maxOutput) bytes of output", kind: .helper)
        }
        let status: Int32
        switch outcome.termination {
        case .exited(let code): status = code
        case .signalled(let sig): status = -sig
        }
        return Result(status: status, stdout: outcome.stdout, stderr: outcome.stderr, timedOut: outcome.timedOut)
    }
}
