import HTTPTransport
import OCIRegistry
import Promotion

/// One side of a promotion as the supply-chain hooks see it.
public struct PromotionSide: Sendable {
    public var client: RegistryClient
    public var repository: String
    public init(client: RegistryClient, repository: String) {
        self.client = client
        self.repository = repository
    }
}

/// Everything the supply-chain work of one image needs, turned into the engine's hooks. The closures
/// carry their own clients and repositories, so any engine (one copy, a release) can run them per image.
public struct SupplyChainHooks: Sendable {
    public var source: PromotionSide
    public var destination: PromotionSide
    /// Signature gate (nil: no signature required).
    public var policy: SignaturePolicy?
    /// What travels with the image (default: everything attached).
    public var attachments: AttachmentSelection
    /// Parallel blob transfers for attachments.
    public var jobs: Int
    /// Attach a promotion record to the destination digest (nil: no record).
    public var record: RecordSettings?
    /// One line per event worth telling the user ("3 attachments copied").
    public var log: @Sendable (String) -> Void
    /// Source tag listings shared with the other images of a release (nil: listed per image).
    public var tagListings: TagListings?

    public init(source: PromotionSide, destination: PromotionSide, policy: SignaturePolicy? = nil,
                attachments: AttachmentSelection = .all, jobs: Int = 8, record: RecordSettings? = nil,
                tagListings: TagListings? = nil, log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.tagListings = tagListings
        self.source = source
        self.destination = destination
        self.policy = policy
        self.attachments = attachments
        self.jobs = jobs
        self.record = record
        self.log = log
    }

    /// The hooks; `base` keeps whatever else the caller set (e.g. a permission preflight).
    public func hooks(_ base: PromotionHooks = PromotionHooks()) -> PromotionHooks {
        var hooks = base
        if let policy {
            let gate = SignatureGate(client: source.client, repository: source.repository, policy: policy)
            let previous = base.verifySource
            hooks.verifySource = { digest, namedDigest in
                try await previous?(digest, namedDigest)
                try await gate.verify(digest: digest, namedDigest: namedDigest)
            }
        }
        // Lookups started by `lookAhead` while the blobs travel, taken by the hook that needs them.
        let lookups = AttachmentLookups()
        if attachments != .none {
            let work = self
            let writesAnyway = base.beforeTag != nil || base.lookAhead != nil || record != nil
            hooks.lookAhead = { digests in
                let found = work.lookup(digests, in: lookups)
                if writesAnyway { return true }
                return try await !found.value.isEmpty
            }
        }
        if attachments != .none || record != nil {
            let previous = base.beforeTag
            let work = self
            hooks.beforeTag = { digests in
                var counts = try await previous?(digests) ?? AttachmentCounts()
                if work.attachments != .none { counts.add(try await work.bringAttachments(digests, lookups: lookups)) }
                if let record = work.record, let top = digests.last {
                    try await work.attachRecord(record, digest: top)
                    counts.records += 1
                }
                return counts
            }
        }
        if attachments != .none {
            // No record on the no-op path: nothing was promoted.
            let previous = base.whenPresent
            let work = self
            hooks.whenPresent = { digests in
                var counts = try await previous?(digests) ?? AttachmentCounts()
                counts.add(try await work.bringAttachments(digests, alreadyPromoted: true, lookups: lookups))
                return counts
            }
        }
        return hooks
    }

    func finder() -> AttachmentFinder {
        AttachmentFinder(client: source.client, repository: source.repository, selection: attachments, listings: tagListings)
    }

    /// The image's one lookup of what hangs off `digests`: the one `lookups` holds, else started now.
    func lookup(_ digests: [String], in lookups: AttachmentLookups) -> Task<[Attachment], any Error> {
        let work = self
        return lookups.start(digests) { try await work.finder().find(for: digests) }
    }

    /// Writes the promotion record for `digest` into the destination's `.att`.
    public func attachRecord(_ settings: RecordSettings, digest: String) async throws {
        var src = settings.source, dst = settings.destination
        src.digest = digest
        dst.digest = digest
        let record = PromotionRecord(source: src, destination: dst, destinationName: settings.destinationName,
                                     toolVersion: settings.toolVersion, environment: settings.environment)
        let envelope = try record.envelope(signedBy: settings.key)
        try await RecordWriter(destination: destination).attach(envelope, predicateType: PromotionRecord.predicateType, to: digest)
        log("record: promotion record attached to \(digest)" + (settings.key.map { " (signed by \($0.publicKey.fingerprint.prefix(19)))" } ?? " (unsigned)"))
    }

    /// Finds what hangs off `digests` in the source and writes it to the destination. With
    /// `alreadyPromoted` (the image was already there) the destination is asked first and only what it
    /// lacks is written; when the source has nothing attached, the destination is not asked at all.
    /// `lookups`: where a look-ahead may already have found them.
    @discardableResult
    public func bringAttachments(_ digests: [String], alreadyPromoted: Bool = false,
                                 lookups: AttachmentLookups? = nil) async throws -> AttachmentCounts {
        let found: [Attachment]
        if let lookups {
            // The look-ahead's lookup, whether it started already or not (then it is started here and the
            // look-ahead finds it): never two lookups of one image.
            found = try await lookup(digests, in: lookups).value
        } else {
            found = try await finder().find(for: digests)
        }
        var counts = AttachmentCounts(found)
        guard !found.isEmpty else { return counts }
        let copier = AttachmentCopier(source: source, destination: destination, jobs: jobs)
        let outcome = alreadyPromoted ? try await copier.copyMissing(found) : try await copier.copy(found)
        counts.alreadyPresent = outcome.present
        if alreadyPromoted && outcome.present == found.count { return counts }   // nothing new: say nothing
        let kinds = Dictionary(grouping: found, by: \.label).map { "\($0.value.count) \($0.key)" }.sorted()
        log("attachments: \(found.count - outcome.present) copied (\(kinds.joined(separator: ", "))"
            + (outcome.present > 0 ? "; \(outcome.present) already there" : "") + "); blobs \(outcome.blobsCopied) copied, "
            + "\(outcome.blobsMounted) mounted, \(outcome.blobsSkipped) present"
            + (outcome.fallbackTagsWritten > 0 ? "; \(outcome.fallbackTagsWritten) referrers fallback tag(s) updated" : ""))
        return counts
    }
}

/// What the promotion record says beyond the digests (filled in per image by the hook).
public struct RecordSettings: Sendable {
    public var source: PromotionRecord.Side
    public var destination: PromotionRecord.Side
    /// `host/repo` of the destination: the in-toto subject's name.
    public var destinationName: String
    public var key: PrivateKey?
    public var toolVersion: String
    /// Where BUILD_URL, JOB_NAME and BUILD_NUMBER come from.
    public var environment: [String: String]

    public init(source: PromotionRecord.Side, destination: PromotionRecord.Side, destinationName: String,
                key: PrivateKey?, toolVersion: String, environment: [String: String]) {
        self.source = source
        self.destination = destination
        self.destinationName = destinationName
        self.key = key
        self.toolVersion = toolVersion
        self.environment = environment
    }
}

extension AttachmentCounts {
    /// Counts `found` by kind.
    init(_ found: [Attachment]) {
        self.init()
        for a in found {
            switch a.kind {
            case .cosign(.signature): signatures += 1
            case .cosign(.attestation): attestations += 1
            case .cosign(.sbom): sboms += 1
            case .referrer: referrers += 1
            }
        }
    }

    mutating func add(_ other: AttachmentCounts) {
        signatures += other.signatures
        attestations += other.attestations
        sboms += other.sboms
        referrers += other.referrers
        records += other.records
        alreadyPresent += other.alreadyPresent
    }
}

/// Attachment lookups of one image's hooks, one per set of manifest digests: whichever of the look-ahead
/// (`PromotionHooks.lookAhead`) and the hook that needs the answer comes first starts it, the other waits
/// for the same answer.
public final class AttachmentLookups: Sendable {
    private let started = Locked([Set<String>: Task<[Attachment], any Error>]())

    public init() {}

    /// The lookup for `digests`: the one already started, else `find` started now.
    func start(_ digests: [String], find: @escaping @Sendable () async throws -> [Attachment]) -> Task<[Attachment], any Error> {
        started.withLock { all in
            if let task = all[Set(digests)] { return task }
            let task = Task { try await find() }
            all[Set(digests)] = task
            return task
        }
    }
}
