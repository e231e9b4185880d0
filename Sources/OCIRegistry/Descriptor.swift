/// An OCI content descriptor (also the shape of Docker schema 2 descriptors).
public struct Descriptor: Sendable, Hashable, Codable {
    public var mediaType: String
    public var digest: String
    public var size: Int64
    public var platform: Platform?
    public var annotations: [String: String]?
    public var urls: [String]?
    public var artifactType: String?

    public init(mediaType: String, digest: String, size: Int64, platform: Platform? = nil,
                annotations: [String: String]? = nil, urls: [String]? = nil, artifactType: String? = nil) {
        self.mediaType = mediaType
        self.digest = digest
        self.size = size
        self.platform = platform
        self.annotations = annotations
        self.urls = urls
        self.artifactType = artifactType
    }

    /// Nil when the descriptor is usable; else why not. `field` names it in the message
    /// (e.g. "layers[2]").
    func validationProblem(field: String) -> String? {
        if mediaType.isEmpty { return "\(field): empty mediaType" }
        if !ImageReference.isValidDigest(digest) {
            return "\(field): invalid digest \(DiagnosticText.quote(digest, limit: 100))"
        }
        if size < 0 { return "\(field): negative size \(size)" }
        return nil
    }
}
