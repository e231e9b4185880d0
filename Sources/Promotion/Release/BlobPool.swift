import OCIRegistry

/// The release's one blob pool: each digest is transferred once into the destination registry; the
/// first repository that receives it becomes the one later repositories mount it from.
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

    /// `--fail-fast`: stop every transfer still running.
    func cancelAll() {
        for t in started { t.cancel() }
    }
}
