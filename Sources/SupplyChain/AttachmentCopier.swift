import FoundationEssentials
import HTTPTransport
import OCIRegistry

/// Copies attachments into the destination repository: blobs first (skipped when present, mounted on
/// one registry, else streamed), then manifests. Cosign tags are merged with what the destination already
/// has under them (never dropping another signer's layers); referrers go in by digest, and where the
/// registry does not index their `subject` (no `OCI-Subject` answer) the `sha256-HEX` fallback index is
/// updated, keeping every entry already there.
public struct AttachmentCopier: Sendable {
    public let source: PromotionSide
    public let destination: PromotionSide
    public let jobs: Int

    public struct Outcome: Sendable, Equatable {
        public var manifests = 0
        public var blobsCopied = 0
        public var blobsMounted = 0
        public var blobsSkipped = 0
        /// Cosign tags written as a merge with existing content.
        public var merged = 0
        public var fallbackTagsWritten = 0
        /// Cosign tags the destination already had with everything in them: nothing written.
        public var present = 0
        public init() {}
    }

    public init(source: PromotionSide, destination: PromotionSide, jobs: Int = 8) {
        self.source = source
        self.destination = destination
        self.jobs = jobs
    }

    public func copy(_ attachments: [Attachment]) async throws -> Outcome {
        var outcome = Outcome()
        guard !attachments.isEmpty else { return outcome }
        // Whole trees (an attachment may be an index), then every blob once.
        var trees: [[ManifestDocument]] = []
        for a in attachments { trees.append(try await tree(a.document)) }
        var blobs: [Descriptor] = []
        var seen = Set<String>()
        for doc in trees.joined() { for b in doc.blobs where seen.insert(b.digest).inserted { blobs.append(b) } }
        // What the destination has tagged, learned while the blobs move: a tag it does not have is written
        // without first reading it back for a merge.
        async let listing = destinationTags()
        try await transfer(blobs, &outcome)
        let absent = try await listing

        var fallback: [String: [Descriptor]] = [:]
        for depth in Set(attachments.map(\.depth)).sorted() {
            try await withThrowingTaskGroup(of: (String, Descriptor?, CosignTagWriter.Result).self) { group in
                for (a, docs) in zip(attachments, trees) where a.depth == depth {
                    group.addTask {
                        for child in docs.dropLast() {
                            _ = try await destination.client.pushManifest(repository: destination.repository,
                                                                          reference: child.digest, document: child)
                        }
                        if let tag = a.tag {
                            let result = try await CosignTagWriter(side: destination)
                                .write(a.document, tag: tag, knownAbsent: absent?(tag) ?? false)
                            return (a.subject, nil, result)
                        }
                        let pushed = try await destination.client.pushManifest(repository: destination.repository,
                                                                               reference: a.document.digest, document: a.document)
                        return (a.subject, pushed.subjectIndexed ? nil : a.indexEntry, .written)
                    }
                }
                for try await (subject, entry, result) in group {
                    switch result {
                    case .written: outcome.manifests += 1
                    case .merged:
                        outcome.manifests += 1
                        outcome.merged += 1
                    case .present: outcome.present += 1
                    }
                    if let entry { fallback[subject, default: []].append(entry) }
                }
            }
        }
        for (subject, entries) in fallback.sorted(by: { $0.key < $1.key }) {
            let knownAbsent = absent?(Cosign.fallbackTag(for: subject)) ?? false
            if try await updateFallbackTag(subject: subject, adding: entries, knownAbsent: knownAbsent) {
                outcome.fallbackTagsWritten += 1
            }
        }
        return outcome
    }

    /// For an image the destination already has: asks the destination about each attachment (one request
    /// each, in parallel) and copies only what it lacks: a referrer not there by digest, a cosign tag that
    /// is absent or lacks one of the source's layers (then merged). The outcome's `present` counts the
    /// attachments left alone.
    public func copyMissing(_ attachments: [Attachment]) async throws -> Outcome {
        guard !attachments.isEmpty else { return Outcome() }
        let missing = try await withThrowingTaskGroup(of: (Int, Bool).self) { group in
            for (i, a) in attachments.enumerated() {
                group.addTask {
                    guard let tag = a.tag else {
                        let head = try await destination.client.headManifest(repository: destination.repository,
                                                                             reference: a.document.digest)
                        return (i, head == nil)
                    }
                    // A cosign tag is read, not HEADed: after a merge with the destination's own signatures its
                    // digest differs from the source's for good, yet it may hold every source layer.
                    guard let have = try await destination.client.manifestIfPresent(repository: destination.repository,
                                                                                    reference: tag) else { return (i, true) }
                    if have.digest == a.document.digest { return (i, false) }
                    guard case .image(let h) = have.content, case .image(let add) = a.document.content else { return (i, true) }
                    let lacking = add.layers.contains { l in
                        !h.layers.contains { $0.digest == l.digest && ($0.annotations ?? [:]) == (l.annotations ?? [:]) }
                    }
                    return (i, lacking)
                }
            }
            var flags = [Bool](repeating: true, count: attachments.count)
            for try await (i, m) in group { flags[i] = m }
            return flags
        }
        let copy = zip(attachments, missing).filter(\.1).map(\.0)
        var outcome = try await self.copy(copy)
        outcome.present += attachments.count - copy.count
        return outcome
    }

    /// A test "is this tag surely absent at the destination", from the complete tag listing (every
    /// page); nil when the registry refuses the listing or its pagination (then each tag is looked up).
    func destinationTags() async throws -> (@Sendable (String) -> Bool)? {
        do {
            let tags = Set(try await destination.client.tagList(repository: destination.repository))
            return { !tags.contains($0) }
        } catch let error as RegistryError where error.kind == .notFound {
            return { _ in true }
        } catch let error as RegistryError where error.kind == .denied || error.kind == .other {
            return nil
        }
    }

    /// The attachment and, for an index, its children (children first).
    func tree(_ doc: ManifestDocument) async throws -> [ManifestDocument] {
        var out: [ManifestDocument] = []
        for child in doc.children.prefix(64) {
            let c = try await source.client.manifest(repository: source.repository, reference: child.digest)
            guard !c.isIndex else { throw RegistryError(.integrity, "attachment \(doc.digest) nests indexes; not copied") }
            out.append(c)
        }
        return out + [doc]
    }

    private func transfer(_ blobs: [Descriptor], _ outcome: inout Outcome) async throws {
        let sameRegistry = source.client.host == destination.client.host
        let results = try await withThrowingTaskGroup(of: Int.self) { group in
            var next = 0
            var counts = [0, 0, 0]
            func launch() {
                let blob = blobs[next]
                next += 1
                group.addTask { try await self.transfer(blob, sameRegistry: sameRegistry) }
            }
            while next < min(max(1, jobs), blobs.count) { launch() }
            for try await r in group {
                counts[r] += 1
                if next < blobs.count { launch() }
            }
            return counts
        }
        outcome.blobsSkipped += results[0]
        outcome.blobsMounted += results[1]
        outcome.blobsCopied += results[2]
    }

    /// 0 skipped, 1 mounted, 2 copied.
    private func transfer(_ blob: Descriptor, sameRegistry: Bool) async throws -> Int {
        let dst = destination.client, repo = destination.repository
        if !sameRegistry, try await dst.headBlob(repository: repo, digest: blob.digest) != nil { return 0 }
        var session: String?
        if sameRegistry {
            switch try await dst.mount(repository: repo, digest: blob.digest, from: source.repository) {
            case .mounted: return 1
            case .uploadSession(let location): session = location
            }
        }
        try await dst.copyBlob(blob, from: source.client, sourceRepository: source.repository, to: repo, session: session)
        return 2
    }

    /// Adds `entries` to the destination's `sha256-HEX` index for `subject`; true when it was written.
    func updateFallbackTag(subject: String, adding entries: [Descriptor], knownAbsent: Bool = false) async throws -> Bool {
        let tag = Cosign.fallbackTag(for: subject)
        let existing = knownAbsent ? nil
            : try await destination.client.manifestIfPresent(repository: destination.repository, reference: tag)
        var index: ImageIndex
        if let existing, case .index(let i) = existing.content {
            index = i
        } else if existing != nil {
            throw RegistryError(.integrity, "\(destination.client.host)/\(destination.repository):\(tag) is not an image index; not touching it")
        } else {
            index = ImageIndex(manifests: [])
        }
        let present = Set(index.manifests.map(\.digest))
        let added = entries.filter { !present.contains($0.digest) }
        guard !added.isEmpty else { return false }
        index.manifests += added
        let doc = try ManifestDocument.encode(index)
        _ = try await destination.client.pushManifest(repository: destination.repository, reference: tag, document: doc)
        return true
    }
}

/// Writes a cosign tag (`.sig`, `.att`, `.sbom`) at a destination, merging with what is already there
/// the way containers/image and cosign do: layers not yet present are appended, the config's
/// `rootfs.diff_ids` lists every layer, nothing already there is dropped.
struct CosignTagWriter: Sendable {
    let side: PromotionSide

    enum Result: Sendable {
        /// Written as is (the tag was absent).
        case written
        /// Merged into other content under the tag.
        case merged
        /// Everything in it was there already: nothing written.
        case present
    }

    /// Puts `incoming` under `tag`.
    func write(_ incoming: ManifestDocument, tag: String, knownAbsent: Bool = false) async throws -> Result {
        let existing = knownAbsent ? nil : try await side.client.manifestIfPresent(repository: side.repository, reference: tag)
        guard let existing else {
            _ = try await side.client.pushManifest(repository: side.repository, reference: tag, document: incoming)
            return .written
        }
        if existing.digest == incoming.digest { return .present }
        guard case .image(let have) = existing.content, case .image(let add) = incoming.content else {
            throw RegistryError(.integrity, "\(side.client.host)/\(side.repository):\(tag) is not an image manifest; not merging into it")
        }
        return try await append(add.layers, to: have, tag: tag) ? .merged : .present
    }

    /// Appends `layers` (blobs already in the repository) to the manifest under `tag` (or a new one).
    func append(_ layers: [Descriptor], tag: String) async throws {
        if let existing = try await side.client.manifestIfPresent(repository: side.repository, reference: tag) {
            guard case .image(let have) = existing.content else {
                throw RegistryError(.integrity, "\(side.client.host)/\(side.repository):\(tag) is not an image manifest; not merging into it")
            }
            _ = try await append(layers, to: have, tag: tag)
        } else {
            _ = try await append(layers, to: nil, tag: tag)
        }
    }

    private func append(_ layers: [Descriptor], to have: ImageManifest?, tag: String) async throws -> Bool {
        var all = have?.layers ?? []
        for l in layers where !all.contains(where: { $0.digest == l.digest && ($0.annotations ?? [:]) == (l.annotations ?? [:]) }) {
            all.append(l)
        }
        if let have, all.count == have.layers.count { return false }   // everything is there already
        let config = AttachmentConfig(rootfs: .init(diff_ids: all.map(\.digest)))
        let configBytes = Array(try JSONEncoder.sorted.encode(config))
        let configDescriptor = try await side.client.pushBlob(repository: side.repository, bytes: configBytes,
                                                              mediaType: MediaType.ociConfig)
        let manifest = ImageManifest(mediaType: MediaType.ociManifest, config: configDescriptor, layers: all,
                                     annotations: have?.annotations)
        let doc = try ManifestDocument.encode(manifest)
        _ = try await side.client.pushManifest(repository: side.repository, reference: tag, document: doc)
        return true
    }
}

/// The config of an attachment manifest, as containers/image writes it.
struct AttachmentConfig: Codable {
    struct RootFS: Codable {
        var type = "layers"
        var diff_ids: [String]
    }
    var architecture = ""
    var os = ""
    var config: [String: String] = [:]
    var rootfs: RootFS
}

extension JSONEncoder {
    static var sorted: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }
}

extension ManifestDocument {
    /// Serialises a manifest or index we build ourselves.
    static func encode<T: Encodable>(_ value: T) throws -> ManifestDocument {
        let bytes = Array(try JSONEncoder.sorted.encode(value))
        do {
            return try ManifestDocument.parse(bytes: bytes, contentType: nil)
        } catch {
            throw RegistryError(.integrity, "built an invalid manifest: \(error)")
        }
    }
}
