/// Per-registry pacing: at most `limit` requests at once, optionally no more than `requestsPerSecond`
/// started per second, and a pause for everyone after the registry says 429 (honouring Retry-After).
/// Only the throttled registry slows down: every registry has its own gate.
public actor RequestGate {
    public nonisolated let limit: Int
    let interval: Duration?
    private var active = 0
    private var waiters: [CheckedContinuation<Void, Never>] = []
    private var nextSlot = ContinuousClock.now
    private var pausedUntil = ContinuousClock.now
    /// Highest number of requests in flight at once (tests check the limit held).
    public private(set) var peak = 0
    /// How many times the registry asked us to slow down.
    public private(set) var throttles = 0

    public init(limit: Int, requestsPerSecond: Double? = nil) {
        self.limit = max(1, limit)
        self.interval = requestsPerSecond.flatMap { $0 > 0 ? .nanoseconds(Int64(1e9 / $0)) : nil }
    }

    /// Waits for a slot (handed over by `release`, so no waiter is overtaken), then for the pace.
    func acquire() async {
        if active < limit {
            active += 1
        } else {
            await withCheckedContinuation { waiters.append($0) }   // `release` hands its slot over
        }
        peak = max(peak, active)
        while true {
            let now = ContinuousClock.now
            var start = max(now, pausedUntil)
            if interval != nil, nextSlot > start { start = nextSlot }
            if start <= now { break }
            // Reentrant: others may queue meanwhile; the loop re-reads a pause extended while asleep.
            try? await Task.sleep(until: start, clock: .continuous)
            if Task.isCancelled { break }
        }
        if let interval { nextSlot = max(nextSlot, ContinuousClock.now) + interval }
    }

    func release() {
        if waiters.isEmpty { active -= 1 } else { waiters.removeFirst().resume() }
    }

    /// The registry answered 429: nobody starts a request on it for `seconds` (Retry-After, else 1 s).
    public func throttle(seconds: Double?) {
        throttles += 1
        let wait = Duration.milliseconds(Int64(min(max(seconds ?? 1, 0), 60) * 1000))
        pausedUntil = max(pausedUntil, ContinuousClock.now + wait)
    }

    /// Runs `body` holding one slot.
    public nonisolated func run<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        await acquire()
        do {
            let value = try await body()
            await release()
            return value
        } catch {
            await release()
            throw error
        }
    }
}
