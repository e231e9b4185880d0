import HTTPTransport

/// One scheme discovery per endpoint at a time. A side allowed plain HTTP learns its scheme from the
/// first answer (TLS and plain HTTP raced); a request that finds the scheme unsettled while another is
/// finding it out waits for that answer instead of racing itself. A release's first wave is dozens of
/// requests at once: without this each opened a TLS connection the plain-HTTP registry had to refuse.
/// One per `RegistrySession`, like the schemes it settles.
final class SchemeDiscovery: Sendable {
    private let inFlight = Locked([String: [CheckedContinuation<Void, Never>]]())

    /// True: the caller finds the scheme out and must call `finish`. False: a discovery that was under
    /// way has ended (the scheme is known now, unless it failed).
    func lead(_ key: String) async -> Bool {
        var leads = false
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let follow: Bool = inFlight.withLock { all in
                guard all[key] != nil else {
                    all[key] = []
                    return false
                }
                all[key]!.append(c)
                return true
            }
            if !follow {
                leads = true
                c.resume()
            }
        }
        return leads
    }

    func finish(_ key: String) {
        let waiters = inFlight.withLock { $0.removeValue(forKey: key) } ?? []
        for w in waiters { w.resume() }
    }
}
