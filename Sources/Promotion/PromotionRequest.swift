import OCIRegistry

/// What to promote, from where to where.
public struct PromotionRequest: Sendable {
    /// Fully resolved references (registry hosts filled in).
    public var source: ImageReference
    public var destination: ImageReference
    /// Copy only this instance of a multi-arch image (its manifest digest is kept).
    public var platform: Platform?
    /// Parallel blob transfers in the one global pool.
    public var jobs: Int
    /// Plan and report, write nothing.
    public var dryRun: Bool
    /// Checks and side work the caller plugs in (permission preflight, signature gate, attachments).
    public var hooks: PromotionHooks

    public init(source: ImageReference, destination: ImageReference, platform: Platform? = nil, jobs: Int = 8,
                dryRun: Bool = false, hooks: PromotionHooks = PromotionHooks()) {
        self.source = source
        self.destination = destination
        self.platform = platform
        self.jobs = jobs
        self.dryRun = dryRun
        self.hooks = hooks
    }
}

/// Work the engine runs at fixed points of a promotion, without knowing what it is. Any hook that
/// throws stops that image: nothing after its point is written.
public struct PromotionHooks: Sendable {
    /// Runs in parallel with resolving the source (the manifest GET); must succeed before any blob
    /// moves. Also runs on a dry run. (Permission preflight.)
    public var preflight: (@Sendable () async throws -> Void)?
    /// Runs once the source digest is known (after `--platform` selection), before any blob moves.
    /// Also runs on a dry run. (Signature gate.) `digest` is what is promoted; `namedDigest` is what the
    /// user's reference resolved to: the index when a platform was selected, else the same digest.
    public var verifySource: (@Sendable (_ digest: String, _ namedDigest: String) async throws -> Void)?
    /// Runs when every manifest of the image is in the destination by digest (children and top),
    /// before the destination tag is written; not on a dry run or when the image was already there.
    /// (Attachments: signatures, attestations, SBOMs, records.) `manifestDigests` lists children first.
    /// Returns what travelled, for the report (nil: nothing to say).
    public var beforeTag: (@Sendable (_ manifestDigests: [String]) async throws -> AttachmentCounts?)?
    /// Runs instead of `beforeTag` when the destination already had the image (the no-op path), so what
    /// was attached to the source since still travels; not on a dry run. Nil keeps the no-op at one HEAD.
    public var whenPresent: (@Sendable (_ manifestDigests: [String]) async throws -> AttachmentCounts?)?
    /// Runs as soon as the image's manifests are known (`manifestDigests`: the same list `whenPresent` gets),
    /// in parallel with the destination check and the blob transfers, so the lookups `beforeTag` or
    /// `whenPresent` need are done by the time they run; not on a dry run. Answers whether `beforeTag` will
    /// write anything: when it will not, the top manifest is not put by digest first and the tag PUT
    /// writes it (one request and one round trip fewer). Nil: `beforeTag` is assumed to write something.
    public var lookAhead: (@Sendable (_ manifestDigests: [String]) async throws -> Bool)?

    public init(preflight: (@Sendable () async throws -> Void)? = nil,
                verifySource: (@Sendable (_ digest: String, _ namedDigest: String) async throws -> Void)? = nil,
                beforeTag: (@Sendable (_ manifestDigests: [String]) async throws -> AttachmentCounts?)? = nil,
                whenPresent: (@Sendable (_ manifestDigests: [String]) async throws -> AttachmentCounts?)? = nil,
                lookAhead: (@Sendable (_ manifestDigests: [String]) async throws -> Bool)? = nil) {
        self.preflight = preflight
        self.verifySource = verifySource
        self.beforeTag = beforeTag
        self.whenPresent = whenPresent
        self.lookAhead = lookAhead
    }
}

/// Progress, reported as it happens (the CLI renders it live on a terminal, one line each otherwise).
public enum PromotionEvent: Sendable {
    case resolved(digest: String, mediaType: String, platforms: Int)
    case alreadyPresent(digest: String)
    case planned(blobs: Int, bytes: Int64)
    case blobStarted(digest: String, size: Int64)
    case blobProgress(digest: String, bytes: Int64, size: Int64)
    case blobDone(digest: String, size: Int64, action: BlobAction)
    case manifestPushed(digest: String, reference: String)
}

public enum BlobAction: String, Sendable, Codable {
    case copied, mounted, skipped
}
