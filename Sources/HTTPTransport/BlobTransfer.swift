/// One blob streamed from a source GET into a destination upload request, never held whole:
/// bytes flow through a bounded ring, are hashed on the fly, and the upload's last byte is held back
/// until the digest is verified, so a corrupt blob is never committed.
public struct BlobTransfer: Sendable {
    /// The GET of the blob (redirects are followed; Authorization stays with its host).
    public var source: HTTPRequest
    /// The upload (PUT or PATCH) fed with the body; nil only verifies the download.
    public var destination: HTTPRequest?
    /// `sha256:<hex>` the bytes must hash to.
    public var expectedDigest: String
    /// Size from the descriptor; the source must deliver exactly this many bytes.
    public var expectedSize: Int64?
    /// How many times a broken source GET is resumed with `Range`.
    public var maxResumes: Int
    /// Called on the engine thread (cheap work only) with the bytes received so far.
    public var progress: (@Sendable (Int64) -> Void)?
    /// The upload request arrives later (its session is still being opened): the GET starts now and
    /// fills the ring meanwhile, so the source's first-byte latency overlaps the session's.
    public var pendingDestination: PendingUpload?

    public init(source: HTTPRequest, destination: HTTPRequest?, expectedDigest: String, expectedSize: Int64?,
                maxResumes: Int = 3, progress: (@Sendable (Int64) -> Void)? = nil) {
        self.source = source
        self.destination = destination
        self.expectedDigest = expectedDigest
        self.expectedSize = expectedSize
        self.maxResumes = maxResumes
        self.progress = progress
    }
}

/// The destination of a `BlobTransfer` handed over after the transfer started; see
/// `HTTPClient.pendingUpload()`. Provide exactly once: a request, or the error that prevented it.
public final class PendingUpload: Sendable {
    private let slot = Locked<Result<HTTPRequest, any Error>?>(nil)
    private let engine: CurlEngine

    init(engine: CurlEngine) { self.engine = engine }

    public func provide(_ request: HTTPRequest) { hand(.success(request)) }

    /// The upload cannot happen: the transfer fails with `error`.
    public func abandon(_ error: any Error) { hand(.failure(error)) }

    private func hand(_ result: Result<HTTPRequest, any Error>) {
        slot.withLock { if $0 == nil { $0 = result } }
        engine.wake()
    }

    /// Engine thread: the request or error, once provided.
    func take() -> Result<HTTPRequest, any Error>? { slot.withLock { $0 } }
}

public enum BlobTransferOutcome: Sendable {
    /// The source delivered the verified bytes; `destination` is the upload's answer (any status).
    case completed(bytes: Int64, resumes: Int, destination: HTTPResponse?)
    /// The source answered with a non-success status; nothing was uploaded.
    case sourceFailed(HTTPResponse)
}
