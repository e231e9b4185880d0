#if canImport(Glibc)
import Glibc
#endif

/// Exponential backoff with jitter for idempotent registry requests.
public struct RetryPolicy: Sendable {
    public var maxRetries: Int
    public var baseDelaySeconds: Double
    public var maxDelaySeconds: Double
    /// Retry-After values above this are capped (a registry asking for an hour is not waited on).
    public var maxRetryAfterSeconds: Double
    /// A transfer that moves no byte for this long is treated as broken: resumed or retried.
    public var stallSeconds: Int

    public init(maxRetries: Int = 4, baseDelaySeconds: Double = 0.5, maxDelaySeconds: Double = 10,
                maxRetryAfterSeconds: Double = 60, stallSeconds: Int = 30) {
        self.stallSeconds = stallSeconds
        self.maxRetries = maxRetries
        self.baseDelaySeconds = baseDelaySeconds
        self.maxDelaySeconds = maxDelaySeconds
        self.maxRetryAfterSeconds = maxRetryAfterSeconds
    }

    /// 408, 429 and the 5xx a proxy or overloaded registry sends.
    public func shouldRetry(status: Int) -> Bool {
        status == 408 || status == 429 || status == 500 || status == 502 || status == 503 || status == 504
    }

    public func delay(attempt: Int, retryAfter: Double?) -> Double {
        if let retryAfter { return min(max(retryAfter, 0), maxRetryAfterSeconds) }
        let exp = min(baseDelaySeconds * Double(1 << min(attempt - 1, 16)), maxDelaySeconds)
        return exp / 2 + Double.random(in: 0...(exp / 2))   // "equal jitter": never zero, spreads herds
    }

    func sleep(attempt: Int, retryAfter: Double?) async throws {
        let d = delay(attempt: attempt, retryAfter: retryAfter)
        try await Task.sleep(nanoseconds: UInt64(d * 1_000_000_000))
    }

    /// Retry-After as delta-seconds (HTTP-dates are rare from registries and treated as absent).
    public static func retryAfterSeconds(_ value: String?) -> Double? {
        guard let v = value?.trimmingCharacters(in: " \t"), let n = Double(v), n >= 0, n.isFinite else { return nil }
        return n
    }
}

/// A value behind a lock.
final class Locked<Value>: @unchecked Sendable {
    private let lock = Lock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func with<T>(_ body: (inout Value) throws -> T) rethrows -> T { try lock.with { try body(&value) } }
}

/// A pthread mutex (curl-free code that must not block the cooperative pool for long).
final class Lock: @unchecked Sendable {
    private let m: UnsafeMutablePointer<pthread_mutex_t>
    init() {
        m = .allocate(capacity: 1)
        pthread_mutex_init(m, nil)
    }
    deinit {
        pthread_mutex_destroy(m)
        m.deallocate()
    }
    func with<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(m)
        defer { pthread_mutex_unlock(m) }
        return try body()
    }
}
