import HTTPTransport
import OCIRegistry

/// What the source registry said, shared by the images of one release: ten images from one repository
/// read its (possibly paginated) tag list once, and once a registry has shown it has no referrers API
/// the other images skip that query. A listing is taken when first asked for (or prefetched) and kept
/// for the run.
public final class TagListings: Sendable {
    private let listings = Locked([String: Task<[String]?, any Error>]())

    /// Per registry host: what its first referrers query showed.
    private enum ReferrersState {
        /// A query is out; these callers wait for its answer.
        case probing([CheckedContinuation<Bool, Never>])
        /// The registry has the API, or its answer spoke only for one repository: everyone asks.
        case ask
        /// The registry has no referrers API: nobody asks again.
        case absent
    }
    private let referrers = Locked([String: ReferrersState]())

    public init() {}

    /// Every tag of `repository` (all pages), or nil when the registry has no such repository.
    public func tags(client: RegistryClient, repository: String) async throws -> [String]? {
        try await listing(client: client, repository: repository).value
    }

    /// Starts listing `repository` now (beside the manifest reads), unless a listing is already kept.
    public func prefetch(client: RegistryClient, repository: String) {
        _ = listing(client: client, repository: repository)
    }

    /// Keeps a complete listing the caller already read (every page), e.g. for tag selection.
    public func keep(_ tags: [String], client: RegistryClient, repository: String) {
        _ = listing(client: client, repository: repository) { tags }
    }

    func listing(client: RegistryClient, repository: String,
                 list: (@Sendable () async throws -> [String]?)? = nil) -> Task<[String]?, any Error> {
        listings.withLock { all in
            let key = "\(client.host)/\(repository)"
            if let task = all[key] { return task }
            let task = Task { try await (list ?? { try await Self.list(client: client, repository: repository) })() }
            all[key] = task
            return task
        }
    }

    static func list(client: RegistryClient, repository: String) async throws -> [String]? {
        do {
            // Every page (`Link: rel="next"`): a cosign tag on page 2 must not be missed.
            return try await client.tagList(repository: repository)
        } catch let error as RegistryError where error.kind == .notFound {
            return nil
        }
    }

    /// Asks `repository`'s registry now whether it has a referrers API, so the images' lookups do not
    /// wait for a first image to ask. The subject is the empty blob's digest: a registry with the API
    /// answers any valid digest with a (here empty) index, never 404 (OCI distribution spec); a plain 404,
    /// 405 or 501 means no API and spares every image its query. Any other answer leaves each image to ask.
    public func probeReferrers(client: RegistryClient, repository: String) {
        let started: Bool = referrers.withLock { $0[client.host] == nil }
        guard started else { return }
        Task {
            _ = try? await referrers(host: client.host) {
                try await client.referrers(repository: repository, digest: Self.emptyBlobDigest)
            }
        }
    }

    static let emptyBlobDigest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    /// The referrers query `query`, unless `host` already answered that it has no referrers API (nil:
    /// use the fallback tag). The first caller per host asks; callers arriving meanwhile wait for its
    /// answer instead of each sending a query the registry is about to refuse.
    func referrers(host: String, query: @Sendable () async throws -> RegistryClient.ReferrersAnswer)
        async throws -> RegistryClient.ReferrersAnswer? {
        enum Role { case probe, ask, skip, wait }
        let role: Role = referrers.withLock { all in
            switch all[host] {
            case nil: all[host] = .probing([]); return .probe
            case .ask: return .ask
            case .absent: return .skip
            case .probing: return .wait
            }
        }
        switch role {
        case .skip:
            return nil
        case .ask:
            return try await query()
        case .wait:
            let absent = await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
                let now: Bool? = referrers.withLock { all in
                    switch all[host] {
                    case .probing(var waiters):
                        waiters.append(c)
                        all[host] = .probing(waiters)
                        return nil
                    case .absent: return true
                    case .ask, nil: return false
                    }
                }
                if let now { c.resume(returning: now) }
            }
            return absent ? nil : try await query()
        case .probe:
            do {
                let answer = try await query()
                let absent: Bool
                if case .unsupportedByRegistry = answer { absent = true } else { absent = false }
                settle(host: host, absent: absent)
                return answer
            } catch {
                settle(host: host, absent: false)
                throw error
            }
        }
    }

    private func settle(host: String, absent: Bool) {
        let waiters: [CheckedContinuation<Bool, Never>] = referrers.withLock { all in
            guard case .probing(let waiters) = all[host] else { return [] }
            all[host] = absent ? .absent : .ask
            return waiters
        }
        for w in waiters { w.resume(returning: absent) }
    }
}
