import OCIRegistry

/// A promotion file (YAML) or an `oc image mirror` mapping file, parsed and checked, with the side
/// defaults already applied. Knows nothing of registries: tag selection is resolved later against
/// the source (`expand`).
public struct ReleaseFile: Sendable, Equatable {
    public enum Format: String, Sendable { case yaml, mapping }
    public var format: Format
    public var entries: [ReleaseEntry]

    /// Mapping file when every line that is not blank or a `#` comment is `SRC=DST`; else YAML.
    public static func parse(_ text: String) throws(ReleaseFileError) -> ReleaseFile {
        if MappingFile.looksLikeMapping(text) {
            return ReleaseFile(format: .mapping, entries: try MappingFile.parse(text))
        }
        return ReleaseFile(format: .yaml, entries: try PromotionFileParser.parse(text))
    }
}

/// One entry of the file: one source image (or a tag selection from one source repository) and
/// where it goes.
public struct ReleaseEntry: Sendable, Equatable {
    /// 1-based line of the entry in the file (for messages).
    public var line: Int
    /// Registry nil when the entry is host-less (the source side's registry).
    public var source: ImageReference
    /// Destination repository (registry nil: the destination side's).
    public var destination: ImageReference
    /// Destination tags for a single image; empty with `selection` (each selected tag keeps its name)
    /// or for a by-digest promotion.
    public var tags: [String]
    public var selection: TagSelection?
    public var platform: Platform?
    /// Refuse unless the source resolves to this digest.
    public var expectedDigest: String?

    public init(line: Int, source: ImageReference, destination: ImageReference, tags: [String],
                selection: TagSelection? = nil, platform: Platform? = nil, expectedDigest: String? = nil) {
        self.line = line
        self.source = source
        self.destination = destination
        self.tags = tags
        self.selection = selection
        self.platform = platform
        self.expectedDigest = expectedDigest
    }

    /// How reports name the entry: the source as written, with its selection.
    public var name: String {
        var s = source.description
        switch selection {
        case .list(let tags)?: s += " [\(tags.joined(separator: ","))]"
        case .regex(let r)?: s += " [tagRegex \(r)]"
        case .semver(let r)?: s += " [semver \(r.text)]"
        case nil: break
        }
        return s
    }
}

/// A problem in the file, at a line when one is known.
public struct ReleaseFileError: Error, Sendable, Equatable, CustomStringConvertible {
    public var line: Int
    public var message: String

    public init(line: Int, _ message: String) {
        self.line = line
        self.message = message
    }

    public var description: String { line > 0 ? "line \(line): \(message)" : message }
}

/// One image after tag selection: what the engine promotes.
public struct ExpandedEntry: Sendable, Equatable {
    public var entryLine: Int
    public var name: String
    public var sourceRepository: String
    public var sourceReference: String
    public var destinationRepository: String
    public var tags: [String]
    public var platform: Platform?
    public var expectedDigest: String?
}

extension ReleaseEntry {
    /// The images of this entry; `sourceTags` is the source repository's tag list (only read for
    /// entries with a selection).
    public func expand(sourceTags: [String]?) throws(ReleaseFileError) -> [ExpandedEntry] {
        guard let selection else {
            return [ExpandedEntry(entryLine: line, name: source.description, sourceRepository: source.repository,
                                  sourceReference: source.identifier, destinationRepository: destination.repository,
                                  tags: tags, platform: platform, expectedDigest: expectedDigest)]
        }
        let chosen = try selection.select(from: sourceTags ?? [], line: line)
        return chosen.map { tag in
            ExpandedEntry(entryLine: line, name: "\(source.repository):\(tag)", sourceRepository: source.repository,
                          sourceReference: tag, destinationRepository: destination.repository, tags: [tag],
                          platform: platform, expectedDigest: nil)
        }
    }
}

/// Refuses two images writing one destination tag (the later would silently win).
public func checkDistinctDestinations(_ images: [ExpandedEntry]) throws(ReleaseFileError) {
    var owner: [String: Int] = [:]
    for image in images {
        for tag in image.tags {
            let key = "\(image.destinationRepository):\(tag)"
            if let first = owner[key] {
                throw ReleaseFileError(line: image.entryLine, "destination \(key) is also written by the entry at line \(first)")
            }
            owner[key] = image.entryLine
        }
    }
}
