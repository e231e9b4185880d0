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
    /// Told when a registry answers 429, before the request waits to retry: lets a caller slow every
    /// request to that host, not only the one that was refused.
    public var onThrottle: (@Sendable (_ host: String, _ retryAfterSeconds: Double?) -> Void)?

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
