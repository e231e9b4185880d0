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
    static func get(helper name: String, serverURL: String, environment: [String: String]) throws -> RegistryCredential? {
        let program = "docker-credential-" + name
        // The helper name comes from a config file: it must stay a file name, not a path.
        guard !name.isEmpty, name.utf8.allSatisfy({
            ImageReference.isAlnum($0) || $0 == 0x2D || $0 == 0x5F || $0 == 0x2E || $0 == 0x2B
        }) else {
            throw AuthFileError(path: DiagnosticText.sanitize(program, limit: 100), reason: "invalid credential helper name")
        }
        guard let executable = findExecutable(program, path: environment["PATH"] ?? defaultPATH) else { return nil }

        let result = try run(executable: executable, arguments: [program, "get"], input: Array(serverURL.utf8),
                             environment: environment)
        if result.timedOut {
            throw AuthFileError(path: program, reason: "timed out after \(timeoutSeconds) s", kind: .helper)
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

    /// posix_spawn with stdin written with MSG_NOSIGNAL (a helper that exits early cannot SIGPIPE
    /// us) and stdout/stderr drained together with poll (no full-buffer deadlock).
    static func run(executable: String, arguments: [String], input: [UInt8], environment: [String: String],
                    timeoutSeconds: Int = timeoutSeconds) throws -> Result {
        let program = arguments.first ?? executable
        func fail(_ what: String, _ e: Int32) -> AuthFileError {
            AuthFileError(path: program, reason: "\(what): \(String(cString: strerror(e)))", kind: .helper)
        }

        // Socket pairs rather than pipes: SOCK_CLOEXEC is atomic (pipe2 is not visible to Swift
        // on glibc), so no other thread's child can inherit our ends.
        #if canImport(Darwin)
        let socketType = SOCK_STREAM
        #else
        let socketType = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        #endif
        var stdinPair: [Int32] = [-1, -1], outPipe: [Int32] = [-1, -1], errPipe: [Int32] = [-1, -1]
        let r1 = socketpair(AF_UNIX, socketType, 0, &stdinPair)
        let r2 = socketpair(AF_UNIX, socketType, 0, &outPipe)
        let r3 = socketpair(AF_UNIX, socketType, 0, &errPipe)
        var openFDs = Set(stdinPair + outPipe + errPipe).filter { $0 >= 0 }
        func closeFD(_ fd: Int32) { if openFDs.remove(fd) != nil { close(fd) } }
        defer { for fd in openFDs { close(fd) } }
        guard r1 == 0, r2 == 0, r3 == 0 else { throw fail("socketpair", errno) }

        #if canImport(Darwin)
        var actions: posix_spawn_file_actions_t? = nil
        var attr: posix_spawnattr_t? = nil
        #else
        var actions = posix_spawn_file_actions_t()
        var attr = posix_spawnattr_t()
        #endif
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdinPair[1], 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        // The parent may ignore SIGPIPE (libcurl users do); dispositions are inherited, so reset it.
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attr, &defaults)
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attr, &mask)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for p in argv { free(p) }
            for p in envp { free(p) }
        }
        var pid: pid_t = 0
        var rc = posix_spawn(&pid, executable, &actions, &attr, argv, envp)
        // ETXTBSY: another thread's child briefly inherited a write descriptor to a freshly
        // installed helper (the fork/exec window); it goes away within milliseconds.
        for _ in 0..<10 where rc == ETXTBSY {
            usleep(20_000)
            rc = posix_spawn(&pid, executable, &actions, &attr, argv, envp)
        }
        guard rc == 0 else { throw fail("cannot run \(executable)", rc) }
        closeFD(stdinPair[1])
        closeFD(outPipe[1])
        closeFD(errPipe[1])

        // Feed stdin, then EOF. A tiny write fits the socket buffer; EPIPE (helper gone) is harmless.
        var sent = 0
        while sent < input.count {
            #if canImport(Darwin)
            let flags: Int32 = 0
            #else
            let flags = Int32(MSG_NOSIGNAL)
            #endif
            let n = input.withUnsafeBytes { send(stdinPair[0], $0.baseAddress! + sent, $0.count - sent, flags) }
            if n < 0 { if errno == EINTR { continue } else { break } }
            sent += n
        }
        closeFD(stdinPair[0])

        var result = Result(status: 0, stdout: [], stderr: [], timedOut: false)
        let deadline = monotonicMillis() + Int64(timeoutSeconds) * 1000
        var fds = [pollfd(fd: outPipe[0], events: Int16(POLLIN), revents: 0),
                   pollfd(fd: errPipe[0], events: Int16(POLLIN), revents: 0)]
        var buffer = [UInt8](repeating: 0, count: 16384)
        while fds.contains(where: { $0.fd >= 0 }) {
            let remaining = deadline - monotonicMillis()
            if remaining <= 0 { result.timedOut = true; break }
            let n = poll(&fds, nfds_t(fds.count), Int32(min(remaining, 1000)))
            if n < 0 {
                if errno == EINTR { continue }
                break
            }
            for k in fds.indices where fds[k].fd >= 0 && fds[k].revents != 0 {
                let got = buffer.withUnsafeMutableBytes { read(fds[k].fd, $0.baseAddress, $0.count) }
                if got > 0 {
                    // Keep at most maxOutput; keep draining so the helper never blocks on a full pipe.
                    if k == 0, result.stdout.count < maxOutput { result.stdout += buffer[0..<got] }
                    if k == 1, result.stderr.count < maxOutput { result.stderr += buffer[0..<got] }
                } else if got == 0 || (errno != EINTR && errno != EAGAIN) {
                    closeFD(fds[k].fd)
                    fds[k].fd = -1
                }
            }
        }
        if result.timedOut { kill(pid, SIGKILL) }

        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { throw fail("waitpid", errno) }
        }
        // WIFEXITED / WEXITSTATUS / WTERMSIG are macros; decode by hand.
        let signal = status & 0x7F
        result.status = signal == 0 ? (status >> 8) & 0xFF : -signal
        if result.stdout.count > maxOutput || result.stderr.count > maxOutput {
            throw AuthFileError(path: program, reason: "produced more than \(maxOutput) bytes of output", kind: .helper)
        }
        return result
    }

    static func monotonicMillis() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}
