import FoundationEssentials
import OCIRegistry

/// What `plan` resolved and `apply` promotes: per image the source repository and digest, the
/// destination repository and tags, the platform selection, and what the source said. No secret is
/// ever in it (no credentials, no tokens, no cluster URLs with users): it is made to be reviewed,
/// approved and archived.
public struct LockFile: Codable, Sendable, Equatable {
    public static let currentVersion = "imgpromote.lock/v1"

    public struct Side: Codable, Sendable, Equatable {
        /// `host[:port]` of the side's registry, as resolved at plan time.
        public var registry: String
        public init(registry: String) { self.registry = registry }
    }

    public struct Image: Codable, Sendable, Equatable {
        public struct Source: Codable, Sendable, Equatable {
            public var repository: String
            /// The tag (or digest) the file named; informative: apply reads `digest`.
            public var reference: String
            /// The digest promoted (after platform selection).
            public var digest: String
            public init(repository: String, reference: String, digest: String) {
                self.repository = repository
                self.reference = reference
                self.digest = digest
            }
        }
        public struct Destination: Codable, Sendable, Equatable {
            public var repository: String
            /// Empty: by digest only.
            public var tags: [String]
            public init(repository: String, tags: [String]) {
                self.repository = repository
                self.tags = tags
            }
        }
        public struct Resolved: Codable, Sendable, Equatable {
            /// What `source.reference` pointed at (the index, when a platform was selected).
            public var referenceDigest: String
            public var mediaType: String
            public var platforms: [String]
            public init(referenceDigest: String, mediaType: String, platforms: [String]) {
                self.referenceDigest = referenceDigest
                self.mediaType = mediaType
                self.platforms = platforms
            }
        }
        public var name: String
        /// Line of the entry in the promotion file.
        public var line: Int?
        public var source: Source
        public var destination: Destination
        public var platform: String?
        public var resolved: Resolved

        public init(name: String, line: Int?, source: Source, destination: Destination, platform: String?, resolved: Resolved) {
            self.name = name
            self.line = line
            self.source = source
            self.destination = destination
            self.platform = platform
            self.resolved = resolved
        }
    }

    public var version: String
    public var source: Side
    public var destination: Side
    public var images: [Image]

    public init(source: Side, destination: Side, images: [Image]) {
        self.version = Self.currentVersion
        self.source = source
        self.destination = destination
        self.images = images
    }

    public func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(self)) + [0x0A]
    }

    /// Reads and checks a lock: version, digests, repositories and tags must be well-formed, and no
    /// destination tag may be written twice.
    public static func decode(_ bytes: [UInt8]) throws(ReleaseFileError) -> LockFile {
        let lock: LockFile
        do {
            lock = try JSONDecoder().decode(LockFile.self, from: Data(bytes))
        } catch {
            throw ReleaseFileError(line: 0, "not a lock written by `imgpromote plan` (\(Self.describe(error)))")
        }
        guard lock.version == currentVersion else {
            throw ReleaseFileError(line: 0, "lock version \(lock.version.debugDescription) is not \(currentVersion)")
        }
        for host in [lock.source.registry, lock.destination.registry] {
            guard (try? ImageReference.parse("\(host)/x/y"))?.registry == host.lowercased() else {
                throw ReleaseFileError(line: 0, "registry \(host.debugDescription) in the lock is not HOST[:PORT]")
            }
        }
        var expanded: [ExpandedEntry] = []
        for (i, image) in lock.images.enumerated() {
            let which = "images[\(i)] (\(image.name))"
            guard ImageReference.isValidDigest(image.source.digest) else {
                throw ReleaseFileError(line: 0, "\(which): source.digest is not a digest")
            }
            for repo in [image.source.repository, image.destination.repository] {
                guard (try? ImageReference.parse("h.example/\(repo)"))?.repository == repo else {
                    throw ReleaseFileError(line: 0, "\(which): \(repo.debugDescription) is not a repository")
                }
            }
            for tag in image.destination.tags { try PromotionFileParser.checkTag(tag, line: 0, what: "\(which) destination.tags") }
            expanded.append(image.expanded(line: i))
        }
        try checkDistinctDestinations(expanded)
        return lock
    }

    static func describe(_ error: any Error) -> String {
        guard let e = error as? DecodingError else { return "not JSON" }
        switch e {
        case .keyNotFound(let key, let ctx): return "missing \((ctx.codingPath + [key]).map(\.stringValue).joined(separator: "."))"
        case .typeMismatch(_, let ctx), .valueNotFound(_, let ctx):
            return "wrong type at \(ctx.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: "."))"
        case .dataCorrupted: return "not valid JSON"
        @unknown default: return "undecodable"
        }
    }
}

extension LockFile.Image {
    /// The image as the engine takes it: read by digest, never by tag.
    public func expanded(line: Int? = nil) -> ExpandedEntry {
        ExpandedEntry(entryLine: line ?? self.line ?? 0, name: name, sourceRepository: source.repository,
                      sourceReference: source.digest, destinationRepository: destination.repository,
                      tags: destination.tags, platform: nil, expectedDigest: source.digest)
    }
}
