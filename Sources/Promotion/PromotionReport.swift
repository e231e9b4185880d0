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
    /// What travelled with the image (nil when no attachment work ran).
    public var attachments: AttachmentCounts?
    public var seconds: Double = 0

    /// `HOST[:PORT]/REPO@sha256:HEX` — the one line printed on success.
    public var pinnedDestination: String { destination.reference.split(separator: "@").first.map(String.init)!
        .replacingTagWith(digest: destination.digest) }
}

/// Attachments that travelled with an image, by kind (manifests: a `.sig` tag counts once however many
/// signatures it holds), and how many of those the destination already had.
public struct AttachmentCounts: Sendable, Codable, Equatable {
    public var signatures = 0
    public var attestations = 0
    public var sboms = 0
    public var referrers = 0
    /// Promotion records attached by this promotion.
    public var records = 0
    /// Found at the source and already at the destination as they are: nothing written for them.
    public var alreadyPresent = 0

    public init(signatures: Int = 0, attestations: Int = 0, sboms: Int = 0, referrers: Int = 0, records: Int = 0,
                alreadyPresent: Int = 0) {
        self.signatures = signatures
        self.attestations = attestations
        self.sboms = sboms
        self.referrers = referrers
        self.records = records
        self.alreadyPresent = alreadyPresent
    }

    /// Attachments written (not counting those already present).
    public var written: Int { signatures + attestations + sboms + referrers + records - alreadyPresent }
    public var total: Int { signatures + attestations + sboms + referrers + records }

    /// "2 signatures, 1 SBOM (1 already there)"; empty when nothing travelled.
    public var summary: String {
        let parts = [(signatures, "signature"), (attestations, "attestation"), (sboms, "SBOM"), (referrers, "referrer"),
                     (records, "record")].filter { $0.0 > 0 }.map { "\($0.0) \($0.1)\($0.0 == 1 ? "" : "s")" }
        guard !parts.isEmpty else { return "" }
        return parts.joined(separator: ", ") + (alreadyPresent > 0 ? " (\(alreadyPresent) already there)" : "")
    }
}

extension String {
    /// "host:5000/repo:tag" → "host:5000/repo@digest" (the port's colon is before the last slash).
    func replacingTagWith(digest: String) -> String {
        let slash = lastIndex(of: "/") ?? startIndex
        let name = self[slash...].firstIndex(of: ":").map { String(self[..<$0]) } ?? self
        return "\(name)@\(digest)"
    }
}
