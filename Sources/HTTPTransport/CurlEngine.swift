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
/// Only `curl_multi_wakeup` touches the multi handle from other threads (it is documented thread-safe).
final class CurlEngine: @unchecked Sendable {
    let configuration: HTTPClient.Configuration
    let multi: UnsafeMutableRawPointer
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var pending: [Job] = []
    private var cancelIDs: [UInt64] = []
    /// Operations with an id up to this are cancelled: work submitted after `cancelAll` (token
    /// revocation on SIGTERM) must still run.
    private var cancelUpTo: UInt64 = 0
    private var counter: UInt64 = 0
    private var stats = HTTPClient.Statistics(requests: 0, bytesReceived: 0, bytesSent: 0)

    init(configuration: HTTPClient.Configuration) {
        precondition(curlGlobalReady, "curl_global_init failed")
        self.configuration = configuration
        multi = curl_multi_init()!
        _ = ccurl_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, 64)
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        let loop = EngineLoop(engine: self)
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { arg in
            let loop = Unmanaged<EngineLoop>.fromOpaque(arg!).takeRetainedValue()
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

    func submit(_ job: Job) {
        locked { pending.append(job) }
        curl_multi_wakeup(multi)
    }

    func wake() { curl_multi_wakeup(multi) }

    func cancel(id: UInt64) {
        locked { cancelIDs.append(id) }
        curl_multi_wakeup(multi)
    }

    func cancelAll() {
        locked { cancelUpTo = counter }
        curl_multi_wakeup(multi)
    }

    /// Engine thread: takes the queued work and cancellations.
    func take() -> (jobs: [Job], cancels: [UInt64], upTo: UInt64) {
        locked {
            defer { pending = []; cancelIDs = [] }
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
final class EngineLoop {
    let engine: CurlEngine
    let multi: UnsafeMutableRawPointer
    var operations: [UInt64: any Operation] = [:]
    var easies: [UnsafeMutableRawPointer: Easy] = [:]

    init(engine: CurlEngine) {
        self.engine = engine
        multi = engine.multi
    }

    func run() -> Never {
        while true {
            let (jobs, cancels, upTo) = engine.take()
            for job in jobs {
                if job.id <= upTo { fail(job) } else { start(job) }
            }
            for id in cancels { operations[id]?.fail(cancelledError(), loop: self) }
            for op in Array(operations.values) where op.id <= upTo { op.fail(cancelledError(), loop: self) }

            var actionable = service()
            var running: Int32 = 0
            curl_multi_perform(multi, &running)
            actionable = readMessages() || actionable
            actionable = service() || actionable
            if !actionable {
                // Sleep until a socket is ready, a timer is due, or submit() wakes us.
                var wait = 1000
                for op in operations.values { if let ms = op.wakeAfterMillis() { wait = min(wait, ms) } }
                curl_multi_poll(multi, nil, 0, Int32(max(wait, 0)), nil)
            }
        }
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
                               pipeBytes: engine.configuration.pipeBufferBytes)
        }
        operations[op.id] = op
        op.begin(loop: self)
    }

    /// Gives each operation a chance to unpause, start its upload or resume; true if anything moved.
    private func service() -> Bool {
        var moved = false
        for op in Array(operations.values) { moved = op.service(loop: self) || moved }
        return moved
    }

    private func readMessages() -> Bool {
        var any = false
        var left: Int32 = 0
        while let msg = curl_multi_info_read(multi, &left) {
            guard msg.pointee.msg == CURLMSG_DONE, let handle = msg.pointee.easy_handle,
                  let easy = easies[handle] else { continue }
            let code = msg.pointee.data.result
            any = true
            easy.op?.finished(easy, code: code, loop: self)
        }
        return any
    }

    // MARK: helpers for operations

    func add(_ easy: Easy) {
        easies[easy.handle] = easy
        curl_multi_add_handle(multi, easy.handle)
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

    func finish(_ op: any Operation) { operations.removeValue(forKey: op.id) }
}

protocol Operation: AnyObject {
    var id: UInt64 { get }
    func begin(loop: EngineLoop)
    func service(loop: EngineLoop) -> Bool
    func finished(_ easy: Easy, code: CURLcode, loop: EngineLoop)
    func fail(_ error: any Error, loop: EngineLoop)
    func wakeAfterMillis() -> Int?
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

    func service(loop: EngineLoop) -> Bool { false }
    func wakeAfterMillis() -> Int? { nil }

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
