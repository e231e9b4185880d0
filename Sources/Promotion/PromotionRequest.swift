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

    public init(source: ImageReference, destination: ImageReference, platform: Platform? = nil, jobs: Int = 8,
                dryRun: Bool = false) {
        self.source = source
        self.destination = destination
        self.platform = platform
        self.jobs = jobs
        self.dryRun = dryRun
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
