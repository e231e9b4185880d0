import OCIRegistry

/// One image of a release, as the engine takes it: where it comes from on the source side, where
/// it goes on the destination side. Hosts are the endpoints'; only repositories and references here.
public struct ReleaseImage: Sendable {
    /// How reports name it (the entry as the user wrote it, or the source reference).
    public var name: String
    public var sourceRepository: String
    /// Tag or digest to read. A digest is read as is (a lock is applied by digest, never by tag).
    public var sourceReference: String
    public var destinationRepository: String
    /// Destination tags, all pointed at the one digest, written last. Empty: by digest only.
    public var tags: [String]
    /// Promote only this instance of a multi-arch image (its own digest is kept).
    public var platform: Platform?
    /// Refuse the image unless the source resolves to this digest (the source tag moved).
    public var expectedDigest: String?
    public var hooks: PromotionHooks

    public init(name: String, sourceRepository: String, sourceReference: String, destinationRepository: String,
                tags: [String], platform: Platform? = nil, expectedDigest: String? = nil,
                hooks: PromotionHooks = PromotionHooks()) {
        self.name = name
        self.sourceRepository = sourceRepository
        self.sourceReference = sourceReference
        self.destinationRepository = destinationRepository
        self.tags = tags
        self.platform = platform
        self.expectedDigest = expectedDigest
        self.hooks = hooks
    }

    var sourceIsDigest: Bool { sourceReference.hasPrefix("sha256:") || sourceReference.hasPrefix("sha512:") }
}

/// What planning found for one image: the digest that will be promoted.
public struct ResolvedImage: Sendable, Equatable {
    /// The digest promoted (after platform selection).
    public var digest: String
    /// What the source reference itself resolved to (the index, when a platform was selected).
    public var referenceDigest: String
    public var mediaType: String
    public var platforms: [String]
}

/// How one image of a release ended.
public enum ReleaseImageStatus: String, Sendable, Codable {
    /// Written to the destination.
    case promoted
    /// Every destination tag already had the digest: nothing written.
    case present
    /// Dry run or plan: nothing written.
    case planned
    case failed
    /// Not finished because `--fail-fast` stopped the release.
    case cancelled
}

/// The outcome of one image.
public struct ReleaseImageResult: Sendable {
    public var image: ReleaseImage
    public var status: ReleaseImageStatus
    public var resolved: ResolvedImage?
    /// Copy statistics in the shape of `copy`'s report (nil when the image failed before resolving).
    public var report: PromotionReport?
    public var error: (any Error)?
    public var seconds: Double = 0

    public init(image: ReleaseImage, status: ReleaseImageStatus, error: (any Error)? = nil) {
        self.image = image
        self.status = status
        self.error = error
    }
}

/// Whole-release options.
public struct ReleaseOptions: Sendable {
    /// Stop at the first failed image (the others are cancelled, none gets a tag after that).
    public var failFast: Bool
    /// Plan and report blob by blob; write nothing.
    public var dryRun: Bool
    /// Images worked on at once (blobs and manifests are further limited by each registry's gate).
    public var parallelImages: Int

    public init(failFast: Bool = false, dryRun: Bool = false, parallelImages: Int = 16) {
        self.failFast = failFast
        self.dryRun = dryRun
        self.parallelImages = max(1, parallelImages)
    }
}
