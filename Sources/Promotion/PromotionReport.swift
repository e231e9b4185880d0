import OCIRegistry

/// The outcome of a promotion; `--json` prints it.
public struct PromotionReport: Sendable, Codable {
    public struct Side: Sendable, Codable {
        public var reference: String
        public var digest: String
    }
    public struct Blobs: Sendable, Codable {
        public var copied = 0
        public var mounted = 0
        public var skipped = 0
    }
    public struct Bytes: Sendable, Codable {
        public var copied: Int64 = 0
        public var total: Int64 = 0
    }
    public struct PlannedBlob: Sendable, Codable {
        public var digest: String
        public var size: Int64
        public var action: BlobAction
    }

    public var source: Side
    public var destination: Side
    public var mediaType: String
    public var platforms: [String]
    public var blobs = Blobs()
    public var bytes = Bytes()
    public var manifests = 0
    /// True when the destination already had the image: nothing was written.
    public var alreadyPresent = false
    public var dryRun = false
    /// For --dry-run: what would happen to each blob.
    public var plan: [PlannedBlob]?
    public var seconds: Double = 0

    /// `HOST[:PORT]/REPO@sha256:HEX` — the one line printed on success.
    public var pinnedDestination: String { destination.reference.split(separator: "@").first.map(String.init)!
        .replacingTagWith(digest: destination.digest) }
}

extension String {
    /// "host:5000/repo:tag" → "host:5000/repo@digest" (the port's colon is before the last slash).
    func replacingTagWith(digest: String) -> String {
        let slash = lastIndex(of: "/") ?? startIndex
        let name = self[slash...].firstIndex(of: ":").map { String(self[..<$0]) } ?? self
        return "\(name)@\(digest)"
    }
}
