#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A value behind a pthread mutex with a condition variable, for state shared between the server's
/// pthreads and test code. The pthread objects live on the heap so their addresses never move.
public final class Protected<Value>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let cond: UnsafeMutablePointer<pthread_cond_t>
    private var value: Value

    public init(_ value: Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        cond = .allocate(capacity: 1)
        var attr = pthread_condattr_t()
        pthread_condattr_init(&attr)
        #if os(Linux)
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
        #endif
        pthread_cond_init(cond, &attr)
        pthread_condattr_destroy(&attr)
    }

    deinit {
        pthread_cond_destroy(cond)
        pthread_mutex_destroy(mutex)
        cond.deallocate()
        mutex.deallocate()
    }

    /// Runs `body` with the lock held and wakes every waiter afterwards.
    @discardableResult
    public func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        pthread_mutex_lock(mutex)
        defer {
            pthread_cond_broadcast(cond)
            pthread_mutex_unlock(mutex)
        }
        return try body(&value)
    }

    /// A copy of the value.
    public var snapshot: Value { withLock { $0 } }

    /// Waits (bounded) until `predicate` holds; returns whether it does. Other threads' `withLock`
    /// calls wake the waiter.
    @discardableResult
    public func wait(timeoutSeconds: Double, until predicate: (inout Value) -> Bool) -> Bool {
        let deadline = Deadline(seconds: timeoutSeconds)
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while !predicate(&value) {
            if deadline.expired { return false }
            var ts = deadline.absoluteTimespec
            pthread_cond_timedwait(cond, mutex, &ts)
        }
        return true
    }
}

/// A point on the monotonic clock.
public struct Deadline: Sendable {
    public let nanos: UInt64

    public init(seconds: Double) {
        let delta = seconds <= 0 ? 0 : UInt64(min(seconds, 1e9) * 1e9)
        nanos = monotonicNanos() &+ delta
    }

    public var expired: Bool { monotonicNanos() >= nanos }
    public var remainingSeconds: Double {
        let now = monotonicNanos()
        return now >= nanos ? 0 : Double(nanos - now) / 1e9
    }
    public var remainingMilliseconds: Int {
        let now = monotonicNanos()
        return now >= nanos ? 0 : Int((nanos - now + 999_999) / 1_000_000)
    }

    var absoluteTimespec: timespec {
        timespec(tv_sec: Int(nanos / 1_000_000_000), tv_nsec: Int(nanos % 1_000_000_000))
    }
}

/// Nanoseconds on CLOCK_MONOTONIC.
public func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// Seconds since the Unix epoch (wall clock).
public func unixTime() -> Int {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int(ts.tv_sec)
}

/// Sleeps the calling pthread (not for async code).
public func sleepMilliseconds(_ ms: Int) {
    guard ms > 0 else { return }
    var req = timespec(tv_sec: ms / 1000, tv_nsec: (ms % 1000) * 1_000_000)
    var rem = timespec()
    while nanosleep(&req, &rem) != 0 && errno == EINTR { req = rem }
}

private final class ThreadStart: @unchecked Sendable {
    let name: String
    let body: @Sendable () -> Void
    init(name: String, body: @escaping @Sendable () -> Void) {
        self.name = name
        self.body = body
    }
}

/// Starts a detached pthread running `body`.
public func startThread(name: String, _ body: @escaping @Sendable () -> Void) throws {
    _ = try startThread(name: name, joinable: false, body)
}

func startThread(name: String, joinable: Bool, _ body: @escaping @Sendable () -> Void) throws -> pthread_t {
    let start = ThreadStart(name: name, body: body)
    var thread = pthread_t()
    let rc = pthread_create(&thread, nil, { arg in
        let start = Unmanaged<ThreadStart>.fromOpaque(arg!).takeRetainedValue()
        GNU.setThreadName(start.name)
        start.body()
        return nil
    }, Unmanaged.passRetained(start).toOpaque())
    if rc != 0 {
        Unmanaged.passUnretained(start).release()
        throw LoopbackError("pthread_create failed", code: rc)
    }
    if !joinable { pthread_detach(thread) }
    return thread
}

/// Runs blocking work (sockets, subprocesses, server start-up) on a fresh pthread and awaits it, so
/// async tests never block Swift's cooperative pool (only core-count wide).
public func runOnThread<T: Sendable>(name: String = "blocking-work",
                                     _ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, any Error>) in
        do {
            try startThread(name: name) {
                do { c.resume(returning: try body()) } catch { c.resume(throwing: error) }
            }
        } catch {
            c.resume(throwing: error)
        }
    }
}

/// Runs async work from a plain pthread (a request handler) and blocks until it finishes.
/// Never call this from async code: it would block a cooperative-pool thread.
public func blockingAwait<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let box = Protected<Result<T, any Error>?>(nil)
    Task {
        let r: Result<T, any Error>
        do { r = .success(try await body()) } catch { r = .failure(error) }
        box.withLock { $0 = r }
    }
    box.wait(timeoutSeconds: 1e9) { $0 != nil }
    return try box.withLock { $0! }.get()
}

/// Errors from LoopbackHTTP and TestSupport: a message plus the errno (or other code) when one applies.
public struct LoopbackError: Error, Sendable, CustomStringConvertible, Equatable {
    public var message: String
    public var code: Int32

    public init(_ message: String, code: Int32 = 0) {
        self.message = message
        self.code = code
    }

    /// An error for the current `errno`.
    public static func posix(_ what: String, _ err: Int32 = errno) -> LoopbackError {
        LoopbackError("\(what): \(String(cString: strerror(err))) (errno \(err))", code: err)
    }

    public var description: String { message }
}
