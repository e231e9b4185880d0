import HTTPTransport
import OCIRegistry

/// Which attachments travel with a promoted image.
public enum AttachmentSelection: String, Sendable, CaseIterable {
    /// Signatures, attestations, SBOMs and every other referrer.
    case all
    /// Only signatures: cosign `.sig` tags and referrers whose artifactType is a signature.
    case signatures
    /// Nothing but the image.
    case none
}

/// Something attached to a manifest digest: a cosign tag (`sha256-HEX.sig|.att|.sbom`) or an OCI referrer.
public struct Attachment: Sendable {
    public enum Kind: Sendable, Equatable {
        case cosign(Cosign.Suffix)
        case referrer
    }
    /// The digest it hangs off.
    public var subject: String
    public var kind: Kind
    /// The attachment's manifest as stored (bytes verbatim).
    public var document: ManifestDocument
    /// For referrers: the entry the referrers list gave (artifactType, annotations), else nil.
    public var listed: Descriptor?
    /// 0 for attachments of a promoted manifest, 1 for attachments of those, ...
    public var depth: Int

    /// The tag a cosign attachment lives under.
    public var tag: String? {
        if case .cosign(let suffix) = kind { return Cosign.tag(for: subject, suffix) }
        return nil
    }

    /// The artifactType a referrer is listed with (its own, else its config's media type).
    public var artifactType: String? {
        if let t = listed?.artifactType { return t }
        switch document.content {
        case .image(let m): return m.artifactType ?? m.config.mediaType
        case .index(let i): return i.artifactType
        }
    }

    /// The descriptor for a referrers index entry.
    public var indexEntry: Descriptor {
        var d = document.descriptor
        d.artifactType = artifactType
        switch document.content {
        case .image(let m): d.annotations = listed?.annotations ?? m.annotations
        case .index(let i): d.annotations = listed?.annotations ?? i.annotations
        }
        return d
    }

    /// Short text for listings: `.sig`, `.att`, or the referrer's artifactType.
    public var label: String {
        switch kind {
        case .cosign(let s): return "." + s.rawValue
        case .referrer: return artifactType ?? "referrer"
        }
    }
}

/// Finds what is attached to manifests in one repository, recursively (a signature of an SBOM), within
/// bounds. Costs per image when nothing is attached: one tag listing of the repository (shared by all its
/// manifests) and one referrers query, at the same time; a registry with a referrers API costs one query
/// more per further manifest, all in parallel. So two round trips at most.
public actor AttachmentFinder {
    public let client: RegistryClient
    public let repository: String
    public let selection: AttachmentSelection
    public static let maxDepth = 3
    public static let maxAttachments = 256

    private var tagSet: Set<String>?
    private var tagsComplete = false
    /// The one tag listing of the repository (every page), shared by every lookup that needs it.
    private var tagListing: Task<[String]?, any Error>?
    /// Learned from the first referrers query: nil until then.
    private var referrersSupported: Bool?

    /// Listings shared with other images of a release (nil: this finder lists the repository itself).
    let listings: TagListings?

    public init(client: RegistryClient, repository: String, selection: AttachmentSelection, listings: TagListings? = nil) {
        self.client = client
        self.repository = repository
        self.selection = selection
        self.listings = listings
    }

    /// Everything attached to `digests` (and to those attachments, recursively), shallowest first.
    public func find(for digests: [String]) async throws -> [Attachment] {
        guard selection != .none, !digests.isEmpty else { return [] }
        var found: [Attachment] = []
        var seen = Set(digests)
        var level = digests
        var depth = 0
        while !level.isEmpty, depth < Self.maxDepth {
            let next = try await findLevel(level, depth: depth)
            level = []
            for a in next where seen.insert(a.document.digest).inserted || a.tag != nil {
                guard found.count < Self.maxAttachments else {
                    throw RegistryError(.other, "\(client.host)/\(repository): more than \(Self.maxAttachments) attachments; refusing to copy an unbounded tree")
                }
                found.append(a)
                level.append(a.document.digest)
            }
            level = Array(Set(level)).sorted()
            depth += 1
        }
        return found
    }

    private func findLevel(_ digests: [String], depth: Int) async throws -> [Attachment] {
        // First round trip: the tag list and one referrers query (which tells whether the API exists).
        async let listing: Void = loadTags()
        let first = try await referrers(of: digests[0])
        try await listing
        var results: [[Attachment]] = []
        let tagsKnown = tagsComplete
        let tags = tagSet ?? []
        let supported = referrersSupported ?? false
        try await withThrowingTaskGroup(of: [Attachment].self) { group in
            for (i, digest) in digests.enumerated() {
                group.addTask {
                    var out: [Attachment] = []
                    for suffix in Cosign.Suffix.allCases {
                        if self.selection == .signatures && suffix != .signature { continue }
                        let tag = Cosign.tag(for: digest, suffix)
                        if tagsKnown && !tags.contains(tag) { continue }
                        if let doc = try await self.client.manifestIfPresent(repository: self.repository, reference: tag) {
                            out.append(Attachment(subject: digest, kind: .cosign(suffix), document: doc, listed: nil, depth: depth))
                        }
                    }
                    let listed: [Descriptor]
                    if i == 0 {
                        listed = first
                    } else if supported {
                        listed = try await self.referrersListed(digest)
                    } else {
                        listed = try await self.fallbackListed(digest, tagsKnown: tagsKnown, tags: tags)
                    }
                    for d in listed where self.wanted(d) {
                        let doc = try await self.client.manifest(repository: self.repository, reference: d.digest)
                        out.append(Attachment(subject: digest, kind: .referrer, document: doc, listed: d, depth: depth))
                    }
                    return out
                }
            }
            for try await r in group { results.append(r) }
        }
        return results.flatMap { $0 }.sorted { ($0.subject, $0.label, $0.document.digest) < ($1.subject, $1.label, $1.document.digest) }
    }

    nonisolated private func wanted(_ d: Descriptor) -> Bool {
        guard MediaType.isSupportedManifest(d.mediaType) else { return false }
        switch selection {
        case .all: return true
        case .signatures: return d.artifactType.map { Cosign.signatureArtifactTypes.contains($0) } ?? false
        case .none: return false
        }
    }

    private func loadTags() async throws {
        let listing: Task<[String]?, any Error>
        if let tagListing {
            listing = tagListing
        } else {
            let client = self.client, repository = self.repository
            listing = listings?.listing(client: client, repository: repository)
                ?? Task { try await TagListings.list(client: client, repository: repository) }
            tagListing = listing
        }
        do {
            if let tags = try await listing.value {
                tagSet = Set(tags)
                tagsComplete = true
            } else {
                tagSet = []   // no such repository: nothing is tagged in it
                tagsComplete = true
            }
        } catch let error as RegistryError where error.kind == .denied || error.kind == .other {
            tagsComplete = false   // listing not allowed here: look each tag up instead
        }
    }

    /// The referrers of the first digest: the API when the registry has it, else the fallback tag.
    private func referrers(of digest: String) async throws -> [Descriptor] {
        if referrersSupported != false {
            do {
                let client = self.client, repository = self.repository
                let query: @Sendable () async throws -> RegistryClient.ReferrersAnswer = {
                    try await client.referrers(repository: repository, digest: digest)
                }
                // Shared by the release: once the registry showed it has no API, nobody asks again.
                let answer: RegistryClient.ReferrersAnswer?
                if let listings {
                    answer = try await listings.referrers(host: client.host, query: query)
                } else {
                    answer = try await query()
                }
                switch answer {
                case .listed(let list):
                    referrersSupported = true
                    return list
                case .unsupported, .unsupportedByRegistry, nil:
                    referrersSupported = false
                }
            } catch let error as RegistryError where error.kind == .denied || error.kind == .other {
                // A front that refuses or garbles the endpoint has no usable referrers API: the fallback
                // tag still works, and a promotion must not fail over an optional lookup.
                referrersSupported = false
            }
        }
        try await loadTags()
        return try await fallbackListed(digest, tagsKnown: tagsComplete, tags: tagSet ?? [])
    }

    nonisolated private func referrersListed(_ digest: String) async throws -> [Descriptor] {
        if case .listed(let list) = try await client.referrers(repository: repository, digest: digest) { return list }
        return []
    }

    nonisolated private func fallbackListed(_ digest: String, tagsKnown: Bool, tags: Set<String>) async throws -> [Descriptor] {
        let tag = Cosign.fallbackTag(for: digest)
        if tagsKnown && !tags.contains(tag) { return [] }
        guard let doc = try await client.manifestIfPresent(repository: repository, reference: tag) else { return [] }
        return doc.children.filter { ImageReference.isValidDigest($0.digest) }
    }
}
