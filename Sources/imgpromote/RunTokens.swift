import HTTPTransport
import OpenShiftCredentials

/// The token ledgers of this run's command, for the ways out that cannot be handed a value: the
/// SIGINT/SIGTERM handler (a dispatch source set up before any command is parsed) and `finish` (every
/// exit). Commands own their ledgers (whether tokens are kept is a property of each) and register them
/// here; this one hook is the only process-wide token state.
final class RunTokens: Sendable {
    static let shared = RunTokens()
    private let ledgers = Locked<[TokenLedger]>([])

    /// A ledger for a command's sessions, registered for the exit and signal paths. Call it before any
    /// login: a signal may arrive at any time.
    func ledger(keepingTokens: Bool) -> TokenLedger {
        let ledger = TokenLedger(keepingTokens: keepingTokens)
        ledgers.withLock { $0.append(ledger) }
        return ledger
    }

    /// Tokens still to be revoked.
    var count: Int { ledgers.withLock { $0 }.reduce(0) { $0 + $1.count } }

    func revokeAll() async {
        for ledger in ledgers.withLock({ $0 }) { await ledger.revokeAll() }
    }
}
