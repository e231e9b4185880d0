import CCurl
#if canImport(Glibc)
import Glibc
#endif

/// Work handed from async callers to the engine thread.
enum Job: Sendable {
    case request(id: UInt64, request: HTTPRequest, continuation: CheckedContinuation<HTTPResponse, any Error>)
    case blob(id: UInt64, transfer: BlobTransfer, continuation: CheckedContinuation<BlobTransferOutcome, any Error>)

    var id: UInt64 {
        switch self {
        case .request(let id, _, _), .blob(let id, _, _): return id
        }
    }
}

/// OpenSSL without atexit cleanup, SIGPIPE ignored, curl_global_init: once per process.
let curlGlobalReady: Bool = ccurl_global_init() == 0

/// The shared half of the engine: a queue guarded by a pthread mutex, read by the engine thread.
/// Other threads never touch the multi handle; they queue work and signal an eventfd the engine
/// thread's epoll set watches.
final class CurlEngine: @unchecked Sendable {
    let configuration: HTTPClient.Configuration
    let multi: UnsafeMutableRawPointer
    /// Wakes the engine thread (in its epoll set); written only when `signalled` was false.
    let wakeFD: Int32
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var pending: [Job] = []
    private var cancelIDs: [UInt64] = []
    /// Operations with an id up to this are cancelled: work submitted after `cancelAll` (token
    /// revocation on SIGTERM) must still run.
    private var cancelUpTo: UInt64 = 0
    private var counter: UInt64 = 0
    /// A wake is on its way and `take` has not run since: a burst of submits costs one write.
    private var signalled = false
    private var stats = HTTPClient.Statistics(requests: 0, bytesReceived: 0, bytesSent: 0)

    init(configuration: HTTPClient.Configuration) {
        precondition(curlGlobalReady, "curl_global_init failed")
        self.configuration = configuration
        multi = curl_multi_init()!
        _ = ccurl_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, 64)
        wakeFD = ccurl_eventfd()
        precondition(wakeFD >= 0, "cannot create the HTTP engine's eventfd")
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        let loop = EngineLoop(engine: self)
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { arg in
            let loop = Unmanaged<EngineLoop>.fromOpaque(arg!).takeRetainedValue()
            // Named, so profiles and `top -H` tell it from the cooperative pool it was started from.
            ccurl_name_thread("http-engine")
            loop.run()
        }, Unmanaged.passRetained(loop).toOpaque())
        precondition(rc == 0, "cannot start the HTTP engine thread")
        pthread_detach(thread)
    }

    private func locked<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body()
    }

    func nextID() -> UInt64 { locked { counter += 1; return counter } }

    /// Runs `change` under the lock and wakes the engine thread unless a wake is already pending.
    private func changeAndWake(_ change: () -> Void) {
        let write: Bool = locked {
            change()
            if signalled { return false }
            signalled = true
            return true
        }
        if write { ccurl_eventfd_signal(wakeFD) }
    }

    func submit(_ job: Job) { changeAndWake { pending.append(job) } }

    func wake() { changeAndWake {} }

    func cancel(id: UInt64) { changeAndWake { cancelIDs.append(id) } }

    func cancelAll() { changeAndWake { cancelUpTo = counter } }

    /// Engine thread, after draining the eventfd: takes the queued work and cancellations.
    func take() -> (jobs: [Job], cancels: [UInt64], upTo: UInt64) {
        locked {
            defer { pending = []; cancelIDs = []; signalled = false }
            return (pending, cancelIDs, cancelUpTo)
        }
    }

    func count(request: Bool, received: Int64, sent: Int64) {
        locked {
            if request { stats.requests += 1 }
            stats.bytesReceived += received
            stats.bytesSent += sent
        }
    }

    func statistics() -> HTTPClient.Statistics { locked { stats } }
}

/// Monotonic clock in nanoseconds.
func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// Everything the engine thread owns. Never touched from another thread.
///
/// Driven by curl's socket interface: curl tells us (socket callback) which sockets to watch, kept in
/// an epoll set, and (timer callback) when it wants `CURL_SOCKET_TIMEOUT`; each ready socket gets one
/// `curl_multi_socket_action`. Work from other threads arrives through the eventfd. Operations are
/// visited only when they asked for it (`needsService`) or their own timer is due, never all of them.
final class EngineLoop {
    let engine: CurlEngine
    let multi: UnsafeMutableRawPointer
    let epoll: Int32
    var operations: [UInt64: any Operation] = [:]
    var easies: [UnsafeMutableRawPointer: Easy] = [:]
    /// Blob operations whose state changed since they were last serviced (each listed once).
    private var dirty: [BlobOperation] = []
    /// Blob operations with a timer of their own (resume after a broken source).
    private var timed: [UInt64: BlobOperation] = [:]
    /// Blob operations waiting for their upload to be handed over (checked when the eventfd fires).
    private var awaitingUpload: [UInt64: BlobOperation] = [:]
    /// When curl wants `CURL_SOCKET_TIMEOUT` (monotonic ns), from the timer callback.
    private var curlDeadline: UInt64?
    /// Something curl must look at before we sleep: an unpause or a handle add.
    private var kick = false
    private var seenUpTo: UInt64 = 0
    private let readyFDs = UnsafeMutablePointer<Int32>.allocate(capacity: 64)
    private let readyBits = UnsafeMutablePointer<Int32>.allocate(capacity: 64)
    /// Marks a socket curl told us about (curl_multi_assign), so the next change is a modify.
    private let watchedMarker = UnsafeMutableRawPointer(bitPattern: 1)

    init(engine: CurlEngine) {
        self.engine = engine
        multi = engine.multi
        epoll = ccurl_epoll_create()
        precondition(epoll >= 0, "cannot create the HTTP engine's epoll instance")
        precondition(ccurl_epoll_watch(epoll, engine.wakeFD, 1, 0, 0) == 0, "cannot watch the engine's eventfd")
    }

    func run() -> Never {
        let me = Unmanaged.passUnretained(self).toOpaque()
        _ = ccurl_multi_setopt_socketcb(multi, engineSocketCallback)
        _ = ccurl_multi_setopt_ptr(multi, CURLMOPT_SOCKETDATA, me)
        _ = ccurl_multi_setopt_timercb(multi, engineTimerCallback)
        _ = ccurl_multi_setopt_ptr(multi, CURLMOPT_TIMERDATA, me)
        var external = true
        while true {
            if external {
                external = false
                takeExternalWork()
            }
            // Services and curl's timeouts until nothing is left to do without waiting.
            while true {
                serviceDirty()
                if let deadline = curlDeadline, deadline <= monotonicNanos() {
                    curlDeadline = nil
                    kick = true
                }
                guard kick else { break }
                kick = false
                socketAction(CCURL_SOCKET_TIMEOUT, 0)
                if curlDeadline == nil { refreshDeadline() }
            }
            let n = ccurl_epoll_wait(epoll, readyFDs, readyBits, 64, waitMillis())
            if n <= 0 { continue }   // timeout, or EINTR
            for i in 0..<Int(n) {
                let fd = readyFDs[i]
                if fd == engine.wakeFD {
                    ccurl_eventfd_drain(fd)
                    external = true
                } else {
                    socketAction(fd, readyBits[i])
                }
            }
        }
    }

    /// How long epoll may sleep: until curl's timer or an operation's own timer, at most 1 s.
    /// Also tends the operation timers on the way (one pass over them before every sleep): drops the
    /// operations with no timer left and queues those already due for service, which makes it 0.
    private func waitMillis() -> Int32 {
        if !dirty.isEmpty || kick { return 0 }
        var wait = 1000
        if let deadline = curlDeadline {
            let now = monotonicNanos()
            wait = deadline > now ? min(wait, Int((deadline - now + 999_999) / 1_000_000)) : 0
        }
        for op in timed.values {
            guard let ms = op.wakeAfterMillis() else { timed.removeValue(forKey: op.id); continue }
            if ms <= 0 { needsService(op) }
            wait = min(wait, max(ms, 0))
        }
        return dirty.isEmpty ? Int32(wait) : 0
    }

    /// curl calls the timer callback only when its next timeout changes; after we cleared ours (it
    /// fired) and curl kept the same one, ask for it.
    private func refreshDeadline() {
        var ms = -1
        curl_multi_timeout(multi, &ms)
        if ms >= 0 { curlDeadline = monotonicNanos() + UInt64(ms) * 1_000_000 }
    }

    private func socketAction(_ fd: curl_socket_t, _ bits: Int32) {
        var running: Int32 = 0
        curl_multi_socket_action(multi, fd, bits, &running)
        readMessages()
    }

    private func takeExternalWork() {
        let (jobs, cancels, upTo) = engine.take()
        for job in jobs {
            if job.id <= upTo { fail(job) } else { start(job) }
        }
        for id in cancels { operations[id]?.fail(cancelledError(), loop: self) }
        if upTo > seenUpTo {
            seenUpTo = upTo
            for op in Array(operations.values) where op.id <= upTo { op.fail(cancelledError(), loop: self) }
        }
        // A wake may be a handed-over upload.
        for op in awaitingUpload.values { needsService(op) }
    }

    private func cancelledError() -> TransportError {
        TransportError(kind: .cancelled, message: "transfer cancelled", host: "")
    }

    private func fail(_ job: Job) {
        switch job {
        case .request(_, _, let c): c.resume(throwing: cancelledError())
        case .blob(_, _, let c): c.resume(throwing: cancelledError())
        }
    }

    private func start(_ job: Job) {
        let op: any Operation
        switch job {
        case .request(let id, let request, let continuation):
            op = RequestOperation(id: id, request: request, continuation: continuation)
        case .blob(let id, let transfer, let continuation):
            op = BlobOperation(id: id, transfer: transfer, continuation: continuation,
                               pipeBytes: engine.configuration.pipeBufferBytes, loop: self)
        }
        operations[op.id] = op
        op.begin(loop: self)
    }

    /// Services the operations that asked for it; anything that moved (an unpause, a handle added)
    /// sets `kick` so curl looks at it before the loop sleeps.
    private func serviceDirty() {
        while !dirty.isEmpty {
            let ops = dirty
            dirty = []
            for op in ops {
                op.queued = false
                if op.service(loop: self) { kick = true }
            }
        }
    }

    private func readMessages() {
        var left: Int32 = 0
        while let msg = curl_multi_info_read(multi, &left) {
            guard msg.pointee.msg == CURLMSG_DONE, let handle = msg.pointee.easy_handle,
                  let easy = easies[handle] else { continue }
            let code = msg.pointee.data.result
            easy.op?.finished(easy, code: code, loop: self)
        }
    }

    // MARK: curl's socket and timer callbacks

    fileprivate func onSocket(_ fd: curl_socket_t, what: Int32, known: Bool) {
        if what == CCURL_POLL_REMOVE {
            _ = ccurl_epoll_unwatch(epoll, fd)   // may already be closed: nothing to undo then
            return
        }
        let rc = ccurl_epoll_watch(epoll, fd, what & CCURL_POLL_IN != 0 ? 1 : 0, what & CCURL_POLL_OUT != 0 ? 1 : 0,
                                   known ? 1 : 0)
        if rc == 0 && !known { curl_multi_assign(multi, fd, watchedMarker) }
    }

    fileprivate func onTimer(_ millis: Int) {
        if millis < 0 {
            curlDeadline = nil
        } else {
            curlDeadline = monotonicNanos() + UInt64(millis) * 1_000_000
            if millis == 0 { kick = true }
        }
    }

    // MARK: helpers for operations

    func add(_ easy: Easy) {
        easies[easy.handle] = easy
        curl_multi_add_handle(multi, easy.handle)
        kick = true
        engine.count(request: true, received: 0, sent: 0)
    }

    func remove(_ easy: Easy?) {
        guard let easy, easies.removeValue(forKey: easy.handle) != nil else { return }
        curl_multi_remove_handle(multi, easy.handle)
        var down: curl_off_t = 0
        var up: curl_off_t = 0
        _ = ccurl_getinfo_off(easy.handle, CURLINFO_SIZE_DOWNLOAD_T, &down)
        _ = ccurl_getinfo_off(easy.handle, CURLINFO_SIZE_UPLOAD_T, &up)
        engine.count(request: false, received: Int64(down), sent: Int64(up))
        easy.close()
    }

    func finish(_ op: any Operation) {
        operations.removeValue(forKey: op.id)
        timed.removeValue(forKey: op.id)
        awaitingUpload.removeValue(forKey: op.id)
    }

    /// The operation's state changed: service it before the loop sleeps.
    func needsService(_ op: BlobOperation) {
        if op.queued { return }
        op.queued = true
        dirty.append(op)
    }

    /// Watch (or stop watching) the operation's own timer (`wakeAfterMillis`).
    func setTimed(_ op: BlobOperation, _ on: Bool) {
        if on { timed[op.id] = op } else { timed.removeValue(forKey: op.id) }
    }

    /// Service the operation whenever another thread wakes the engine, until its upload is handed over.
    func setAwaitingUpload(_ op: BlobOperation, _ on: Bool) {
        if on { awaitingUpload[op.id] = op } else { awaitingUpload.removeValue(forKey: op.id) }
    }
}

private func engineSocketCallback(_ easy: UnsafeMutableRawPointer, _ fd: curl_socket_t, _ what: Int32,
                                  _ userp: UnsafeMutableRawPointer?, _ socketp: UnsafeMutableRawPointer?) -> Int32 {
    Unmanaged<EngineLoop>.fromOpaque(userp!).takeUnretainedValue().onSocket(fd, what: what, known: socketp != nil)
    return 0
}

private func engineTimerCallback(_ multi: UnsafeMutableRawPointer, _ millis: Int, _ userp: UnsafeMutableRawPointer?) -> Int32 {
    Unmanaged<EngineLoop>.fromOpaque(userp!).takeUnretainedValue().onTimer(millis)
    return 0
}

protocol Operation: AnyObject {
    var id: UInt64 { get }
    func begin(loop: EngineLoop)
    func finished(_ easy: Easy, code: CURLcode, loop: EngineLoop)
    func fail(_ error: any Error, loop: EngineLoop)
}

/// A plain request with a buffered, bounded response.
final class RequestOperation: Operation {
    let id: UInt64
    let request: HTTPRequest
    var continuation: CheckedContinuation<HTTPResponse, any Error>?
    var easy: Easy?

    init(id: UInt64, request: HTTPRequest, continuation: CheckedContinuation<HTTPResponse, any Error>) {
        self.id = id
        self.request = request
        self.continuation = continuation
    }

    func begin(loop: EngineLoop) {
        do {
            let e = try Easy(request: request, role: .plain, op: self, configuration: loop.engine.configuration)
            easy = e
            loop.add(e)
        } catch {
            fail(error, loop: loop)
        }
    }

    func finished(_ e: Easy, code: CURLcode, loop: EngineLoop) {
        if code == CURLE_OK {
            let response = e.response()
            loop.remove(e)
            easy = nil
            loop.finish(self)
            continuation?.resume(returning: response)
            continuation = nil
        } else {
            fail(e.error(for: code), loop: loop)
        }
    }

    func fail(_ error: any Error, loop: EngineLoop) {
        loop.remove(easy)
        easy = nil
        loop.finish(self)
        continuation?.resume(throwing: error)
        continuation = nil
    }
}
