import HTTPTransport
import OCIRegistry

/// The release's one blob pool: each digest is transferred once into the destination registry; the
/// first repository that receives it becomes the one later repositories mount it from. A repository
/// that already held an image from an earlier run lends its blobs the same way.
actor BlobPool {
    typealias Transfer = Task<BlobAction, any Error>

    enum Claim {
        /// This caller's repository receives the blob first: await the transfer.
        case first(Transfer)
        /// Another repository receives (or received) it: wait, then mount from `holder`.
        case shared(holder: String, Transfer)
    }

    private struct Entry {
        var holder: String
        var transfer: Transfer
    }
    private var entries: [String: Entry] = [:]
    private var started: [Transfer] = []
    /// Repositories that held a blob before this run, by digest.
    private var lenders: [String: String] = [:]

    /// Hands out the digest's transfer, starting `work` when nobody holds it yet, or when the holder's
    /// transfer is `failed` (a failure of one image must not sink the others that share its blob).
    func claim(_ digest: String, repository: String, replacing failed: Transfer?,
               work: @escaping @Sendable () async throws -> BlobAction) -> Claim {
        if let entry = entries[digest], entry.transfer != failed {
            return .shared(holder: entry.holder, entry.transfer)
        }
        let transfer = Transfer { try await work() }
        entries[digest] = Entry(holder: repository, transfer: transfer)
        started.append(transfer)
        return .first(transfer)
    }

    /// `repository` holds `digests` already (an image found in the destination, whose manifest names
    /// them): repositories that claim them later mount them from it; one that claimed them meanwhile
    /// finds it through `lender`. A holder of this run is kept.
    func lend(_ digests: [String], from repository: String) {
        for digest in digests {
            if lenders[digest] == nil { lenders[digest] = repository }
            if entries[digest] == nil { entries[digest] = Entry(holder: repository, transfer: Transfer { .skipped }) }
        }
    }

    /// A repository other than `repository` that held `digest` before this run.
    func lender(of digest: String, other repository: String) -> String? {
        lenders[digest].flatMap { $0 == repository ? nil : $0 }
    }

    /// `--fail-fast`: stop every transfer still running.
    func cancelAll() {
        for t in started { t.cancel() }
    }
}

/// Which images of a release may still turn out to be in the destination already (and so lend their
/// blobs). An image about to copy a blob first lets those answer: a base pushed by an earlier run is
/// then mounted, not uploaded again. An image leaves this set as soon as its destination tag is absent
/// or its presence is decided, so a cold release waits for nobody's manifest.
final class PresenceChecks: Sendable {
    private struct State {
        var next = 0
        var pending = Set<Int>()
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state = Locked(State())

    @TaskLocal static var current: Int?

    /// A launched image whose presence is not known yet.
    func begin() -> Int {
        state.withLock { s in
            s.next += 1
            s.pending.insert(s.next)
            return s.next
        }
    }

    /// Its presence is decided (or it ended); idempotent.
    func end(_ token: Int?) {
        guard let token else { return }
        let ready: [CheckedContinuation<Void, Never>] = state.withLock { s in
            guard s.pending.remove(token) != nil, s.pending.isEmpty else { return [] }
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in ready { w.resume() }
    }

    /// Returns once no launched image's presence is pending.
    func settled() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now: Bool = state.withLock { s in
                if s.pending.isEmpty { return true }
                s.waiters.append(c)
                return false
            }
            if now { c.resume() }
        }
    }
}
