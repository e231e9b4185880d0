#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How a child process ended.
public enum Termination: Sendable, Equatable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)

    init(waitStatus s: Int32) {
        if s & 0x7f == 0 { self = .exited((s >> 8) & 0xff) } else { self = .signaled(s & 0x7f) }
    }

    public var description: String {
        switch self {
        case .exited(let c): return "exit \(c)"
        case .signaled(let s): return "signal \(s)"
        }
    }
}

/// The result of `Subprocess.run`.
public struct ProcessResult: Sendable {
    public var termination: Termination
    public var stdout: [UInt8]
    public var stderr: [UInt8]
    /// The process was killed because it outlived its timeout.
    public var timedOut: Bool

    /// The exit code, or 128 + signal number when killed by a signal.
    public var exitCode: Int32 {
        switch termination {
        case .exited(let c): return c
        case .signaled(let s): return 128 + s
        }
    }
    public var succeeded: Bool { termination == .exited(0) && !timedOut }
    public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    public var stderrText: String { String(decoding: stderr, as: UTF8.self) }
}

/// A child started with `Subprocess.launch`. `terminate()` it when done (deinit does too).
public final class ChildProcess: Sendable {
    public let pid: pid_t
    public let executable: String
    private let ended = Protected<Termination?>(nil)

    init(pid: pid_t, executable: String) {
        self.pid = pid
        self.executable = executable
    }

    /// The termination if the child has exited (reaps it); nil while it runs.
    public func poll() -> Termination? {
        ended.withLock { t in
            if let t { return t }
            var status: Int32 = 0
            let rc = waitpid(pid, &status, WNOHANG)
            if rc == pid { t = Termination(waitStatus: status) }
            else if rc < 0 && errno == ECHILD { t = .exited(-1) }
            return t
        }
    }

    public var isRunning: Bool { poll() == nil }

    /// Waits up to `timeoutSeconds` for the child to exit.
    public func wait(timeoutSeconds: Double) -> Termination? {
        let deadline = Deadline(seconds: timeoutSeconds)
        var pause = 1
        while true {
            if let t = poll() { return t }
            if deadline.expired { return nil }
            sleepMilliseconds(min(pause, max(1, deadline.remainingMilliseconds)))
            pause = min(pause * 2, 50)
        }
    }

    /// Sends `signal` to the child's process group (it leads its own group).
    public func signal(_ sig: Int32) {
        if poll() == nil { kill(-pid, sig); kill(pid, sig) }
    }

    /// SIGTERM, wait up to `graceSeconds`, then SIGKILL and reap. Idempotent.
    @discardableResult
    public func terminate(graceSeconds: Double = 3) -> Termination {
        if let t = poll() { return t }
        signal(SIGTERM)
        if let t = wait(timeoutSeconds: graceSeconds) { return t }
        signal(SIGKILL)
        return wait(timeoutSeconds: 10) ?? .signaled(SIGKILL)
    }

    deinit { _ = terminate(graceSeconds: 1) }
}

/// posix_spawn without Foundation. Children get their own process group, default SIGPIPE handling and
/// no inherited descriptors beyond 0–2.
public enum Subprocess {
    /// The current environment as a dictionary.
    public static func currentEnvironment() -> [String: String] {
        var out: [String: String] = [:]
        var p = environ
        while let entry = p.pointee {
            let s = String(cString: entry)
            if let eq = s.firstIndex(of: "=") { out[String(s[..<eq])] = String(s[s.index(after: eq)...]) }
            p += 1
        }
        return out
    }

    /// The current environment with `changes` applied (nil values remove a variable).
    public static func environment(adding changes: [String: String?]) -> [String: String] {
        var env = currentEnvironment()
        for (k, v) in changes { env[k] = v }
        return env
    }

    /// Full path of `name` on `$PATH`, or nil.
    public static func find(_ name: String) -> String? {
        if name.contains("/") { return FileSystem.isExecutable(name) ? name : nil }
        let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") where FileSystem.isExecutable("\(dir)/\(name)") {
            return "\(dir)/\(name)"
        }
        return nil
    }

    /// Runs `executable` (looked up on `$PATH` unless it contains a slash) to completion, capturing
    /// stdout and stderr. `environment` nil inherits ours. `stdin` bytes are fed through a pipe
    /// (secrets stay out of argv); nil gives /dev/null. The child's process group is killed after
    /// `timeoutSeconds` and the result says `timedOut`. Blocking: from async code use `runAsync`.
    public static func run(_ executable: String, _ arguments: [String] = [], environment: [String: String]? = nil,
                           stdin: [UInt8]? = nil, workingDirectory: String? = nil,
                           timeoutSeconds: Double = 60) throws -> ProcessResult {
        var outPipe: [Int32] = [-1, -1], errPipe: [Int32] = [-1, -1], inPipe: [Int32] = [-1, -1]
        guard GNU.pipe(&outPipe) == 0 else { throw LoopbackError.posix("pipe2") }
        guard GNU.pipe(&errPipe) == 0 else {
            close(outPipe[0]); close(outPipe[1])
            throw LoopbackError.posix("pipe2")
        }
        if stdin != nil {
            guard GNU.pipe(&inPipe) == 0 else {
                for fd in outPipe + errPipe { close(fd) }
                throw LoopbackError.posix("pipe2")
            }
        }
        let child: ChildProcess
        do {
            child = try spawn(executable, arguments, environment: environment, workingDirectory: workingDirectory,
                              stdinFD: stdin != nil ? inPipe[0] : nil, stdoutFD: outPipe[1], stderrFD: errPipe[1],
                              stdoutPath: nil, stderrPath: nil, append: false)
        } catch {
            for fd in outPipe + errPipe + inPipe where fd >= 0 { close(fd) }
            throw error
        }
        close(outPipe[1]); close(errPipe[1])
        if stdin != nil { close(inPipe[0]) }

        var out = [UInt8](), err = [UInt8]()
        var fds: [pollfd] = [pollfd(fd: outPipe[0], events: Int16(POLLIN), revents: 0),
                             pollfd(fd: errPipe[0], events: Int16(POLLIN), revents: 0)]
        var input = stdin ?? []
        var inputOffset = 0
        var inFD: Int32 = stdin != nil ? inPipe[1] : -1
        if inFD >= 0 {
            _ = fcntl(inFD, F_SETFL, fcntl(inFD, F_GETFL) | O_NONBLOCK)
            if input.isEmpty { close(inFD); inFD = -1 }
        }
        let deadline = Deadline(seconds: timeoutSeconds)
        var timedOut = false
        var buf = [UInt8](repeating: 0, count: 65536)
        while fds[0].fd >= 0 || fds[1].fd >= 0 {
            if deadline.expired { timedOut = true; break }
            var set = fds.filter { $0.fd >= 0 }
            if inFD >= 0 { set.append(pollfd(fd: inFD, events: Int16(POLLOUT), revents: 0)) }
            let rc = poll(&set, nfds_t(set.count), Int32(min(100, max(1, deadline.remainingMilliseconds))))
            if rc < 0 && errno != EINTR { break }
            for p in set where p.revents != 0 {
                if p.fd == inFD {
                    let n = input.withUnsafeBytes { Glibc.write(inFD, $0.baseAddress! + inputOffset, $0.count - inputOffset) }
                    if n > 0 { inputOffset += n }
                    if n < 0 && errno != EAGAIN && errno != EINTR { inputOffset = input.count }
                    if inputOffset >= input.count { close(inFD); inFD = -1; input = [] }
                    continue
                }
                let n = buf.withUnsafeMutableBytes { Glibc.read(p.fd, $0.baseAddress!, $0.count) }
                if n > 0 {
                    if p.fd == fds[0].fd { out += buf[0..<n] } else { err += buf[0..<n] }
                } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
                    close(p.fd)
                    for i in fds.indices where fds[i].fd == p.fd { fds[i].fd = -1 }
                }
            }
        }
        if inFD >= 0 { close(inFD) }
        for p in fds where p.fd >= 0 { close(p.fd) }
        var termination: Termination
        if timedOut {
            termination = child.terminate(graceSeconds: 0.2)
        } else if let t = child.wait(timeoutSeconds: max(deadline.remainingSeconds, 0.5)) {
            termination = t
        } else {
            timedOut = true
            termination = child.terminate(graceSeconds: 0.2)
        }
        return ProcessResult(termination: termination, stdout: out, stderr: err, timedOut: timedOut)
    }

    /// `run` on a dedicated thread, for async callers.
    public static func runAsync(_ executable: String, _ arguments: [String] = [], environment: [String: String]? = nil,
                                stdin: [UInt8]? = nil, workingDirectory: String? = nil,
                                timeoutSeconds: Double = 60) async throws -> ProcessResult {
        try await runOnThread(name: "subprocess") {
            try run(executable, arguments, environment: environment, stdin: stdin,
                    workingDirectory: workingDirectory, timeoutSeconds: timeoutSeconds)
        }
    }

    /// Starts a long-running child with stdout/stderr appended to files (nil: /dev/null; the same
    /// path for both interleaves them) and stdin from /dev/null.
    public static func launch(_ executable: String, _ arguments: [String] = [], environment: [String: String]? = nil,
                              workingDirectory: String? = nil, stdoutPath: String?, stderrPath: String?) throws -> ChildProcess {
        try spawn(executable, arguments, environment: environment, workingDirectory: workingDirectory,
                  stdinFD: nil, stdoutFD: nil, stderrFD: nil, stdoutPath: stdoutPath, stderrPath: stderrPath, append: true)
    }

    private static func spawn(_ executable: String, _ arguments: [String], environment: [String: String]?,
                              workingDirectory: String?, stdinFD: Int32?, stdoutFD: Int32?, stderrFD: Int32?,
                              stdoutPath: String?, stderrPath: String?, append: Bool) throws -> ChildProcess {
        guard let path = find(executable) else { throw LoopbackError("executable not found: \(executable)", code: ENOENT) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }

        if let fd = stdinFD { posix_spawn_file_actions_adddup2(&actions, fd, 0) }
        else { posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0) }
        let flags = O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC)
        if let fd = stdoutFD { posix_spawn_file_actions_adddup2(&actions, fd, 1) }
        else { posix_spawn_file_actions_addopen(&actions, 1, stdoutPath ?? "/dev/null", flags, 0o644) }
        if let fd = stderrFD { posix_spawn_file_actions_adddup2(&actions, fd, 2) }
        else if let e = stderrPath, e == stdoutPath { posix_spawn_file_actions_adddup2(&actions, 1, 2) }
        else { posix_spawn_file_actions_addopen(&actions, 2, stderrPath ?? "/dev/null", flags, 0o644) }
        _ = GNU.closeFromFn?(&actions, 3)
        if let dir = workingDirectory {
            guard let chdir = GNU.addChdirFn else { throw LoopbackError("posix_spawn_file_actions_addchdir_np unavailable") }
            _ = chdir(&actions, dir)
        }

        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        sigaddset(&defaults, SIGTERM)
        sigaddset(&defaults, SIGINT)
        posix_spawnattr_setsigdefault(&attr, &defaults)
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attr, &mask)
        posix_spawnattr_setpgroup(&attr, 0)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP))

        let env = environment ?? currentEnvironment()
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for p in argv { free(p) }
            for p in envp { free(p) }
        }
        var pid: pid_t = 0
        let rc = argv.withUnsafeBufferPointer { a in
            envp.withUnsafeBufferPointer { e in
                posix_spawn(&pid, path, &actions, &attr, a.baseAddress!, e.baseAddress!)
            }
        }
        if rc != 0 { throw LoopbackError.posix("posix_spawn \(path)", rc) }
        return ChildProcess(pid: pid, executable: path)
    }
}
