#if canImport(Glibc)
import Glibc
import CSpawn
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs a short-lived helper program (docker credential helpers, kubeconfig exec plugins) the one way
/// this tool runs programs:
/// - on a dedicated thread, never on Swift's cooperative pool (the caller awaits a continuation);
/// - with a deadline: at the timeout the child gets SIGTERM, and SIGKILL `killGraceSeconds` later;
/// - with SIGPIPE, SIGINT, SIGTERM, SIGHUP and SIGQUIT reset to their defaults and no signal blocked in
///   the child (our process ignores SIGINT/SIGTERM for its dispatch sources; ignored dispositions
///   survive exec);
/// - with every descriptor it creates close-on-exec from birth (pipe2(O_CLOEXEC)), so a child spawned
///   by another thread at the same moment inherits none of them;
/// - with stdout and stderr read together (poll) so a chatty child never blocks on a full pipe, each
///   kept up to `maxOutputBytes` and the rest drained and dropped.
/// Without a terminal the child runs in its own process group, so the timeout also reaches the
/// grandchildren that hold its pipes open.
public enum Spawner {
    public enum Input: Sendable {
        /// /dev/null.
        case none
        /// These bytes, then end of file.
        case bytes([UInt8])
        /// Our own stdin (an exec plugin that may prompt on the terminal).
        case inherit
    }

    public enum ErrorOutput: Sendable {
        case capture
        /// Our own stderr (an exec plugin's hints are meant for the user).
        case inherit
    }

    public struct Request: Sendable {
        public var executable: String
        /// argv, including argv[0].
        public var arguments: [String]
        /// `NAME=value` entries: the child's whole environment.
        public var environment: [String]
        public var input: Input
        public var errorOutput: ErrorOutput
        public var timeoutSeconds: Double
        public var killGraceSeconds: Double
        public var maxOutputBytes: Int

        public init(executable: String, arguments: [String], environment: [String], input: Input = .none,
                    errorOutput: ErrorOutput = .capture, timeoutSeconds: Double, killGraceSeconds: Double = 2,
                    maxOutputBytes: Int = 1 << 20) {
            self.executable = executable
            self.arguments = arguments.isEmpty ? [executable] : arguments
            self.environment = environment
            self.input = input
            self.errorOutput = errorOutput
            self.timeoutSeconds = timeoutSeconds
            self.killGraceSeconds = killGraceSeconds
            self.maxOutputBytes = maxOutputBytes
        }
    }

    public enum Termination: Sendable, Equatable {
        case exited(Int32)
        case signalled(Int32)
    }

    public struct Outcome: Sendable {
        public var termination: Termination
        public var stdout: [UInt8]
        /// Empty when stderr was inherited.
        public var stderr: [UInt8]
        /// The deadline passed and the child was stopped (its termination says by which signal).
        public var timedOut: Bool
        /// The task was cancelled and the child was stopped.
        public var cancelled: Bool
        /// stdout or stderr exceeded `maxOutputBytes`; the excess was dropped.
        public var truncated: Bool
    }

    public struct SpawnError: Error, Sendable, CustomStringConvertible {
        /// What failed ("pipe", "posix_spawn").
        public var operation: String
        public var errno: Int32
        public var description: String { "\(operation): \(String(cString: strerror(errno)))" }
    }

    /// Runs `request` to completion (or to its deadline, or until the calling task is cancelled).
    public static func run(_ request: Request) async throws(SpawnError) -> Outcome {
        let stop = StopSignal()
        let result: Result<Outcome, SpawnError> = await withTaskCancellationHandler {
            await onDedicatedThread { runBlocking(request, stop: stop) }
        } onCancel: {
            stop.fire()
        }
        return try result.get()
    }

    // MARK: - the blocking part (dedicated thread)

    static func runBlocking(_ request: Request, stop: StopSignal) -> Result<Outcome, SpawnError> {
        var fds = Descriptors()
        defer { fds.closeAll() }
        // Our thread writes the child's stdin: a child that exits early must not SIGPIPE the process.
        var pipeSet = sigset_t(), previousMask = sigset_t()
        sigemptyset(&pipeSet)
        sigaddset(&pipeSet, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &pipeSet, &previousMask)
        defer {
            drainPendingSIGPIPE()
            pthread_sigmask(SIG_SETMASK, &previousMask, nil)
        }

        guard let outPipe = fds.pipe(), let errPipe = request.errorOutput == .capture ? fds.pipe() : (-1, -1),
              let wake = fds.pipe() else {
            return .failure(SpawnError(operation: "pipe", errno: errno))
        }
        var inPipe: (read: Int32, write: Int32) = (-1, -1)
        if case .bytes = request.input {
            guard let p = fds.pipe() else { return .failure(SpawnError(operation: "pipe", errno: errno)) }
            inPipe = p
        }
        guard stop.attach(wakeFD: wake.write) else {
            return .success(Outcome(termination: .signalled(SIGKILL), stdout: [], stderr: [], timedOut: false,
                                    cancelled: true, truncated: false))
        }
        defer { stop.detach() }

        #if canImport(Darwin)
        var actions: posix_spawn_file_actions_t? = nil
        var attr: posix_spawnattr_t? = nil
        #else
        var actions = posix_spawn_file_actions_t()
        var attr = posix_spawnattr_t()
        #endif
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        switch request.input {
        case .none: posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        case .bytes: posix_spawn_file_actions_adddup2(&actions, inPipe.read, 0)
        case .inherit: break
        }
        posix_spawn_file_actions_adddup2(&actions, outPipe.write, 1)
        if request.errorOutput == .capture { posix_spawn_file_actions_adddup2(&actions, errPipe.write, 2) }
        #if os(Linux) && canImport(Glibc)
        // Ours are close-on-exec already; this also keeps out what other code opened without it.
        posix_spawn_file_actions_addclosefrom_np(&actions, 3)
        #endif

        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for sig in [SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT] { sigaddset(&defaults, sig) }
        posix_spawnattr_setsigdefault(&attr, &defaults)
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigmask(&attr, &emptyMask)
        var flags = Int32(POSIX_SPAWN_SETSIGDEF) | Int32(POSIX_SPAWN_SETSIGMASK)
        // A child that may read the terminal stays in our (foreground) process group.
        let ownGroup: Bool
        if case .inherit = request.input { ownGroup = false } else { ownGroup = true }
        if ownGroup {
            flags |= Int32(POSIX_SPAWN_SETPGROUP)
            posix_spawnattr_setpgroup(&attr, 0)
        }
        posix_spawnattr_setflags(&attr, Int16(flags))

        let argv = request.arguments.map { strdup($0) } + [nil]
        let envp = request.environment.map { strdup($0) } + [nil]
        defer {
            for p in argv { free(p) }
            for p in envp { free(p) }
        }
        var pid: pid_t = 0
        var rc = posix_spawn(&pid, request.executable, &actions, &attr, argv, envp)
        // ETXTBSY: a program written a moment ago may still be open for writing in a child another
        // thread is spawning (the fork/exec window); it passes within milliseconds.
        for _ in 0..<10 where rc == ETXTBSY {
            usleep(20_000)
            rc = posix_spawn(&pid, request.executable, &actions, &attr, argv, envp)
        }
        guard rc == 0 else { return .failure(SpawnError(operation: "posix_spawn \(request.executable)", errno: rc)) }
        live.add(pid, group: ownGroup)
        fds.close(outPipe.write)
        fds.close(errPipe.write)
        fds.close(inPipe.read)

        var pending: [UInt8] = []
        if case .bytes(let b) = request.input { pending = b }
        if inPipe.write >= 0 {
            _ = fcntl(inPipe.write, F_SETFL, fcntl(inPipe.write, F_GETFL) | O_NONBLOCK)
            if pending.isEmpty { fds.close(inPipe.write) }
        }

        var outcome = Outcome(termination: .exited(0), stdout: [], stderr: [], timedOut: false, cancelled: false, truncated: false)
        let start = monotonicSeconds()
        var killAt: Double?       // set once SIGTERM was sent
        var buffer = [UInt8](repeating: 0, count: 16384)
        var stdinOffset = 0
        var exitStatus: Int32?
        var drainUntil: Double?   // after the child exits, a grandchild may still hold its pipes

        func signalChild(_ sig: Int32) { _ = ownGroup ? kill(-pid, sig) : kill(pid, sig) }
        func beginStop() {
            guard killAt == nil else { return }
            signalChild(SIGTERM)
            killAt = monotonicSeconds() + request.killGraceSeconds
        }

        while true {
            let readers = [outPipe.read, errPipe.read].filter { fds.isOpen($0) }
            let writing = fds.isOpen(inPipe.write)
            // Done when the child has exited and its pipes are drained; after a kill, when it is reaped.
            if exitStatus == nil, let status = reap(pid, block: false) {
                exitStatus = status
                drainUntil = monotonicSeconds() + 1
            }
            let now = monotonicSeconds()
            if exitStatus != nil && (readers.isEmpty || killAt != nil || now >= drainUntil!) { break }
            if killAt == nil && now - start >= request.timeoutSeconds {
                outcome.timedOut = true
                beginStop()
            }
            if let k = killAt, now >= k {
                signalChild(SIGKILL)
                exitStatus = reap(pid, block: true)
                break
            }
            var polled = readers.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            if writing { polled.append(pollfd(fd: inPipe.write, events: Int16(POLLOUT), revents: 0)) }
            polled.append(pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0))
            let deadline = killAt ?? (start + request.timeoutSeconds)
            // Wake at least every 100 ms: the child may exit while a grandchild keeps its pipes open.
            let waitMillis = Int32(max(0, min(100, (deadline - now) * 1000)).rounded(.up))
            let n = poll(&polled, nfds_t(polled.count), waitMillis)
            if n < 0 && errno != EINTR { break }
            if n <= 0 { continue }
            for p in polled where p.revents != 0 {
                if p.fd == wake.read {
                    outcome.cancelled = true
                    beginStop()
                    _ = buffer.withUnsafeMutableBytes { read(wake.read, $0.baseAddress, $0.count) }
                } else if p.fd == inPipe.write {
                    let w = pending.withUnsafeBytes { write(inPipe.write, $0.baseAddress! + stdinOffset, $0.count - stdinOffset) }
                    if w > 0 { stdinOffset += w }
                    // EPIPE (the child stopped reading) and a finished input both end our stdin.
                    if stdinOffset >= pending.count || (w < 0 && errno != EAGAIN && errno != EINTR) { fds.close(inPipe.write) }
                } else {
                    let got = buffer.withUnsafeMutableBytes { read(p.fd, $0.baseAddress, $0.count) }
                    if got > 0 {
                        let isOut = p.fd == outPipe.read
                        let kept = isOut ? outcome.stdout.count : outcome.stderr.count
                        let room = max(0, request.maxOutputBytes - kept)
                        if got > room { outcome.truncated = true }
                        if room > 0 {
                            if isOut { outcome.stdout += buffer[0..<min(got, room)] } else { outcome.stderr += buffer[0..<min(got, room)] }
                        }
                    } else if got == 0 || (errno != EINTR && errno != EAGAIN) {
                        fds.close(p.fd)
                    }
                }
            }
        }
        let status = exitStatus ?? reap(pid, block: true) ?? 0
        // WIFEXITED / WEXITSTATUS / WTERMSIG are macros Swift cannot import; decode by hand.
        let sig = status & 0x7F
        outcome.termination = sig == 0 ? .exited((status >> 8) & 0xFF) : .signalled(sig)
        if ownGroup && (outcome.timedOut || outcome.cancelled) { _ = kill(-pid, SIGKILL) }   // stray grandchildren
        return .success(outcome)
    }

    /// The raw wait status, or nil while the child runs (`block: false`). The child leaves the live
    /// set before its pid can be reused.
    static func reap(_ pid: pid_t, block: Bool) -> Int32? {
        guard block else { return live.reapIfExited(pid) }
        live.remove(pid)   // before the wait: once reaped, the pid may belong to someone else
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { return 0 }
        }
        return status
    }

    /// Process-wide on purpose: a pid belongs to the process, not to a caller, and the one that must
    /// reach every child is a signal handler (SIGINT/SIGTERM, `signalAll`), which no caller can hand a
    /// value to. Children are spawned deep inside libraries (credential helpers, exec plugins) that
    /// have no handle of the command that runs them. Reaping under the same lock keeps a reused pid
    /// from being signalled, which only one list of children can guarantee.
    static let live = LiveChildren()

    /// Sends `signal` to every child running now (its process group when it has one): the process
    /// is about to exit on SIGINT/SIGTERM, and a helper or plugin must not outlive it.
    public static func signalAll(_ signal: Int32) { live.signalAll(signal) }

    /// A SIGPIPE raised by our write to a closed pipe is pending on this (blocking) thread: consume it
    /// before the mask is restored, or it would be delivered and kill the process.
    static func drainPendingSIGPIPE() {
        var pendingSet = sigset_t()
        sigpending(&pendingSet)
        guard sigismember(&pendingSet, SIGPIPE) == 1 else { return }
        var only = sigset_t()
        sigemptyset(&only)
        sigaddset(&only, SIGPIPE)
        #if canImport(Darwin)
        var sig: Int32 = 0
        sigwait(&only, &sig)
        #else
        var zero = timespec(tv_sec: 0, tv_nsec: 0)
        _ = sigtimedwait(&only, nil, &zero)
        #endif
    }

    static func monotonicSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

/// The descriptors one run opened; each closed once.
struct Descriptors {
    private var open: Set<Int32> = []

    /// A pipe whose both ends are close-on-exec from birth.
    mutating func pipe() -> (read: Int32, write: Int32)? {
        var p: [Int32] = [-1, -1]
        #if canImport(Darwin)
        guard Darwin.pipe(&p) == 0 else { return nil }
        for fd in p { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }   // no pipe2 on Darwin
        #else
        guard pipe2(&p, O_CLOEXEC) == 0 else { return nil }
        #endif
        open.insert(p[0])
        open.insert(p[1])
        return (p[0], p[1])
    }

    func isOpen(_ fd: Int32) -> Bool { fd >= 0 && open.contains(fd) }

    mutating func close(_ fd: Int32) {
        if fd >= 0, open.remove(fd) != nil { _ = SpawnerC.close(fd) }
    }

    mutating func closeAll() {
        for fd in open { _ = SpawnerC.close(fd) }
        open.removeAll()
    }
}

enum SpawnerC {
    static func close(_ fd: Int32) -> Int32 {
        #if canImport(Darwin)
        Darwin.close(fd)
        #else
        Glibc.close(fd)
        #endif
    }
}

/// Children between spawn and reap, for `Spawner.signalAll`. A pid is signalled only under the lock
/// and reaped (non-blocking) under it too, so a reaped and reused pid is never signalled.
final class LiveChildren: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t> = .allocate(capacity: 1)
    private var children: [pid_t: Bool] = [:]   // pid -> leads its own process group

    init() { pthread_mutex_init(mutex, nil) }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    func add(_ pid: pid_t, group: Bool) {
        pthread_mutex_lock(mutex)
        children[pid] = group
        pthread_mutex_unlock(mutex)
    }

    func remove(_ pid: pid_t) {
        pthread_mutex_lock(mutex)
        children[pid] = nil
        pthread_mutex_unlock(mutex)
    }

    /// waitpid(WNOHANG) under the lock: a child reaped here leaves the set before anyone can signal
    /// its (now reusable) pid.
    func reapIfExited(_ pid: pid_t) -> Int32? {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        var status: Int32 = 0
        while true {
            let r = waitpid(pid, &status, WNOHANG)
            if r == 0 { return nil }
            if r == pid || errno != EINTR {
                children[pid] = nil
                return r == pid ? status : 0
            }
        }
    }

    func signalAll(_ signal: Int32) {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        for (pid, group) in children { _ = group ? kill(-pid, signal) : kill(pid, signal) }
    }
}

/// Cancellation reaches the blocking thread through a pipe it polls. The lock makes sure the write
/// never hits a descriptor the thread has already closed (and the number reused).
final class StopSignal: @unchecked Sendable {
    // Allocated: a pthread mutex must not move, and `&storedProperty` promises no stable address.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t> = .allocate(capacity: 1)
    private var fd: Int32 = -1
    private var fired = false

    init() { pthread_mutex_init(mutex, nil) }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    func fire() {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        fired = true
        if fd >= 0 {
            var byte: UInt8 = 1
            _ = write(fd, &byte, 1)
        }
    }

    /// False when cancellation came first (do not start the child).
    func attach(wakeFD: Int32) -> Bool {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        fd = wakeFD
        return !fired
    }

    func detach() {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        fd = -1
    }
}

/// Runs blocking work on a thread of its own and resumes the caller when it is done.
func onDedicatedThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { (c: CheckedContinuation<T, Never>) in
        let job = ThreadJob { c.resume(returning: body()) }
        let arg = Unmanaged.passRetained(job).toOpaque()
        #if canImport(Darwin)
        var tid: pthread_t? = nil
        #else
        var tid = pthread_t()
        #endif
        let rc = pthread_create(&tid, nil, { arg in
            Unmanaged<ThreadJob>.fromOpaque(arg!).takeRetainedValue().run()
            return nil
        }, arg)
        if rc == 0 {
            #if canImport(Darwin)
            if let tid { pthread_detach(tid) }
            #else
            pthread_detach(tid)
            #endif
        } else {
            Unmanaged<ThreadJob>.fromOpaque(arg).release()
            c.resume(returning: body())   // no thread to be had: run inline rather than fail
        }
    }
}

private final class ThreadJob: Sendable {
    let run: @Sendable () -> Void
    init(_ run: @escaping @Sendable () -> Void) { self.run = run }
}
