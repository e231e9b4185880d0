import HTTPTransport
import OCIRegistry

/// Promotes a whole release between one source and one destination registry.
///
/// Every image runs its own pipeline (resolve → blobs → manifests bottom-up → tags), and they all
/// share one blob pool: a base layer used by ten images is uploaded once and mounted into the other
/// repositories. Nothing waits for a level to finish: a manifest's blobs start the moment it is
/// fetched, a manifest is pushed the moment what it refers to is there, and only the tags wait for
/// the whole image. A failed image is reported and the others go on (unless `failFast`); its tags
/// are never written. Requests to each registry pass through that registry's gate (hand the engine
/// `GatedEndpoint`s); the engine itself knows no HTTP.
public final class ReleaseEngine: Sendable {
    let source: any RegistryEndpoint
    let destination: any RegistryEndpoint
    let options: ReleaseOptions
    let pool = BlobPool()
    /// Progress as it happens (`copy` renders it; a release reports per image instead).
    let events: @Sendable (PromotionEvent) -> Void
    let presence = PresenceChecks()

    public init(source: any RegistryEndpoint, destination: any RegistryEndpoint, options: ReleaseOptions = ReleaseOptions(),
                events: @escaping @Sendable (PromotionEvent) -> Void = { _ in }) {
        self.source = source
        self.destination = destination
        self.options = options
        self.events = events
    }

    var sameRegistry: Bool { source.host == destination.host }

    // MARK: whole release

    /// Resolves every image to its digest (and runs its preflight and source checks); writes nothing
    /// and asks the destination nothing. Results in input order.
    public func plan(_ images: [ReleaseImage], onResult: @escaping @Sendable (Int, ReleaseImageResult) -> Void = { _, _ in })
        async -> [ReleaseImageResult] {
        await declareScopes(images, destination: false)
        return await forEach(images, onResult: onResult) { image in
            // A plan vouches for what it locks: a pinned digest is read too (it must exist at the source).
            let resolved = try await self.resolve(image, fetchPinned: true).resolved
            return (resolved, nil, .planned)
        }
    }

    /// Promotes every image; results in input order. `onResult` is called as each image ends.
    public func promote(_ images: [ReleaseImage], onResult: @escaping @Sendable (Int, ReleaseImageResult) -> Void = { _, _ in })
        async -> [ReleaseImageResult] {
        await declareScopes(images, destination: true)
        return await forEach(images, onResult: onResult) { image in try await self.promoteOne(image) }
    }

    /// One token per side covers the whole release: every repository is declared before the first request.
    func declareScopes(_ images: [ReleaseImage], destination withDestination: Bool) async {
        for image in images {
            await source.declare(repository: image.sourceRepository, actions: ["pull"])
            guard withDestination else { continue }
            await destination.declare(repository: image.destinationRepository, actions: ["pull", "push"])
            if sameRegistry { await destination.declare(repository: image.sourceRepository, actions: ["pull"]) }
        }
    }

    private typealias Work = @Sendable (ReleaseImage) async throws -> (ResolvedImage, PromotionReport?, ReleaseImageStatus)

    /// Runs `work` for every image, `parallelImages` at a time, isolating failures; with `failFast`
    /// the first failure cancels the rest.
    private func forEach(_ images: [ReleaseImage], onResult: @escaping @Sendable (Int, ReleaseImageResult) -> Void,
                         work: @escaping Work) async -> [ReleaseImageResult] {
        var results = images.map { ReleaseImageResult(image: $0, status: .cancelled) }
        let failFast = options.failFast
        await withTaskGroup(of: (Int, ReleaseImageResult).self) { group in
            var next = 0
            var stopped = false
            func launch() {
                let i = next
                next += 1
                let image = images[i]
                let token = presence.begin()
                group.addTask {
                    let clock = ContinuousClock()
                    let start = clock.now
                    var result = ReleaseImageResult(image: image, status: .failed)
                    do {
                        let (resolved, report, status) = try await PresenceChecks.$current.withValue(token) {
                            try await work(image)
                        }
                        result.resolved = resolved
                        result.report = report
                        result.status = status
                    } catch {
                        result.error = error
                        result.status = Task.isCancelled ? .cancelled : .failed
                    }
                    self.presence.end(token)
                    result.seconds = Self.seconds(clock.now - start)
                    result.report?.seconds = result.seconds
                    return (i, result)
                }
            }
            while next < min(options.parallelImages, images.count) { launch() }
            for await (i, result) in group {
                results[i] = result
                onResult(i, result)
                if result.status == .failed, failFast, !stopped {
                    stopped = true
                    group.cancelAll()
                    await pool.cancelAll()
                }
                if !stopped, next < images.count { launch() }
            }
        }
        return results
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    // MARK: one image

    struct Resolution {
        var resolved: ResolvedImage
        /// The promoted manifest, when it had to be fetched to resolve it.
        var document: ManifestDocument?
    }

    /// Source reference → promoted digest, with platform selection and the expected-digest check; runs
    /// the preflight alongside and the source check after.
    private func resolve(_ image: ReleaseImage, fetchPinned: Bool = false) async throws -> Resolution {
        async let preflight: Void = { if let p = image.hooks.preflight { try await p() } }()
        let resolution: Resolution
        do {
            resolution = try await resolveSource(image, fetchPinned: fetchPinned)
        } catch {
            _ = try? await preflight
            throw error
        }
        try await preflight
        if let verify = image.hooks.verifySource {
            try await verify(resolution.resolved.digest, resolution.resolved.referenceDigest)
        }
        return resolution
    }

    private func resolveSource(_ image: ReleaseImage, fetchPinned: Bool) async throws -> Resolution {
        let repo = image.sourceRepository
        if image.sourceIsDigest, image.platform == nil, !fetchPinned {
            // Pinned: nothing to ask yet. The manifest is fetched only if the destination lacks it.
            if let expected = image.expectedDigest, expected != image.sourceReference {
                throw RegistryError(.integrity, "\(image.name): pinned to \(image.sourceReference) but the expected digest is \(expected)")
            }
            return Resolution(resolved: ResolvedImage(digest: image.sourceReference, referenceDigest: image.sourceReference,
                                                      mediaType: "", platforms: []), document: nil)
        }
        let top = try await source.manifest(repository: repo, reference: image.sourceReference)
        var chosen = top
        if let platform = image.platform, top.isIndex {
            guard let child = top.children.first(where: { $0.platform.map(platform.matches) ?? false }) else {
                let available = top.children.compactMap { $0.platform?.description }.joined(separator: ", ")
                throw RegistryError(.notFound, "\(source.host)/\(repo):\(image.sourceReference) has no \(platform) instance (available: \(available))")
            }
            chosen = try await source.manifest(repository: repo, reference: child.digest)
        }
        if let expected = image.expectedDigest, expected != top.digest, expected != chosen.digest {
            throw RegistryError(.integrity, "\(source.host)/\(repo):\(image.sourceReference) now resolves to \(top.digest), "
                                + "not the expected \(expected): the source tag moved; plan again to promote the new digest")
        }
        let platforms = chosen.children.compactMap { $0.platform?.description }
        return Resolution(resolved: ResolvedImage(digest: chosen.digest, referenceDigest: top.digest,
                                                  mediaType: chosen.mediaType, platforms: platforms),
                          document: chosen)
    }

    /// Per-image counters, filled concurrently by its blob and manifest tasks.
    final class Tally: Sendable {
        struct Fields {
            var claimed = Set<String>()
            var blobs = PromotionReport.Blobs()
            var bytes = PromotionReport.Bytes()
            var plan: [PromotionReport.PlannedBlob] = []
            var manifests: [String] = []
            /// Manifests of the tree not fetched yet (the top is known before landing starts).
            var unknownManifests = 1
            var knownBlobs = Set<String>()
            var knownBytes: Int64 = 0
        }
        let fields = Locked(Fields())

        /// One more manifest of the image's tree is known: returns the whole tree's unique blobs and
        /// bytes once it was the last one (for the `.planned` event; blobs have started before).
        func discovered(_ document: ManifestDocument) -> (blobs: Int, bytes: Int64)? {
            fields.withLock { f in
                for b in document.blobs where f.knownBlobs.insert(b.digest).inserted { f.knownBytes += b.size }
                f.unknownManifests += Set(document.children.map(\.digest)).count - 1
                return f.unknownManifests == 0 ? (f.knownBlobs.count, f.knownBytes) : nil
            }
        }

        /// False when this image already counted the digest (a layer shared by two platforms).
        func claim(_ digest: String) -> Bool { fields.withLock { $0.claimed.insert(digest).inserted } }

        func record(_ blob: Descriptor, _ action: BlobAction) {
            fields.withLock { f in
                f.bytes.total += blob.size
                f.plan.append(.init(digest: blob.digest, size: blob.size, action: action))
                switch action {
                case .copied:
                    f.blobs.copied += 1
                    f.bytes.copied += blob.size
                case .mounted: f.blobs.mounted += 1
                case .skipped: f.blobs.skipped += 1
                }
            }
        }

        func pushed(_ digest: String) { fields.withLock { $0.manifests.append(digest) } }
    }

    /// `fetchPinned`: read a pinned source manifest alongside the destination HEADs (`copy` reports what
    /// it promotes before deciding anything) instead of only when the destination lacks it.
    func promoteOne(_ image: ReleaseImage, fetchPinned: Bool = false) async throws -> (ResolvedImage, PromotionReport?, ReleaseImageStatus) {
        let dst = image.destinationRepository
        let presenceToken = PresenceChecks.current
        // The destination tags are asked about while the source is resolved: a no-op costs one round trip.
        let heads = Task { () async throws -> [RegistryClient.ManifestHead?] in
            try await withThrowingTaskGroup(of: (Int, RegistryClient.ManifestHead?).self) { group in
                for (i, tag) in image.tags.enumerated() {
                    group.addTask { (i, try await self.destination.headManifest(repository: dst, reference: tag)) }
                }
                var out = [RegistryClient.ManifestHead?](repeating: nil, count: image.tags.count)
                for try await (i, head) in group { out[i] = head }
                // No tag there: this image has nothing to lend to the others' blobs.
                if !out.isEmpty, out.allSatisfy({ $0 == nil }) { self.presence.end(presenceToken) }
                return out
            }
        }
        let resolution: Resolution
        do {
            resolution = try await resolve(image, fetchPinned: fetchPinned)
        } catch {
            heads.cancel()
            throw error
        }
        var resolved = resolution.resolved
        let digest = resolved.digest
        var lookAhead = startLookAhead(image, resolution.document)
        events(.resolved(digest: digest, mediaType: resolved.mediaType, platforms: max(resolved.platforms.count, 1)))
        var tagHeads = try await heads.value
        if image.tags.isEmpty { tagHeads = [try await destination.headManifest(repository: dst, reference: digest)] }
        if tagHeads.allSatisfy({ $0?.digest == digest }) {
            // Pinned and already there: the source was not asked; the destination says what it is.
            if resolved.mediaType.isEmpty { resolved.mediaType = tagHeads.first??.mediaType ?? "" }
            var report = makeReport(image, resolved)
            report.dryRun = options.dryRun
            report.alreadyPresent = true
            events(.alreadyPresent(digest: digest))
            // Its blobs are in `dst` (the manifest read to resolve it names them): the others mount from it.
            if let document = resolution.document { await pool.lend(document.blobs.map(\.digest), from: dst) }
            presence.end(presenceToken)
            if let whenPresent = image.hooks.whenPresent, !options.dryRun {
                // Attachments added to the source since still travel. An index's children are known from
                // its manifest; a pinned index the source was not asked about yet is read once for them.
                var document = resolution.document
                if document == nil, let media = tagHeads.first??.mediaType, MediaType.isIndex(media) {
                    document = try await source.manifest(repository: image.sourceRepository, reference: digest)
                }
                report.attachments = try await whenPresent((document?.children.map(\.digest) ?? []) + [digest])
            }
            return (resolved, report, .present)
        }
        presence.end(presenceToken)
        var report = makeReport(image, resolved)
        report.dryRun = options.dryRun

        var top = resolution.document
        if top == nil {
            top = try await source.manifest(repository: image.sourceRepository, reference: digest)
            resolved.mediaType = top!.mediaType
            resolved.platforms = top!.children.compactMap { $0.platform?.description }
            report.mediaType = resolved.mediaType
            report.platforms = resolved.platforms
        }
        let document = top!
        if lookAhead == nil { lookAhead = startLookAhead(image, document) }
        let tally = Tally()
        var attachments: AttachmentCounts?
        if let total = tally.discovered(document) { events(.planned(blobs: total.blobs, bytes: total.bytes)) }
        try await land(document, image: image, tally: tally, depth: 0)

        if !options.dryRun {
            try Task.checkCancellation()
            let references = image.tags.isEmpty ? [digest] : image.tags
            if let beforeTag = image.hooks.beforeTag {
                // What hangs off the image names it by digest: put it first, unless the look-ahead found
                // nothing to write (then the tag PUT writes it: a request and a round trip fewer). A failed
                // look-ahead counts as "something": `beforeTag` runs its own lookup and reports the error.
                let writes = await ((try? lookAhead?.value) ?? true)
                if writes, !image.tags.isEmpty {
                    try await destination.putManifest(repository: dst, reference: digest, document: document)
                }
                tally.pushed(digest)
                attachments = try await beforeTag(tally.fields.withLock { $0.manifests })
            } else {
                tally.pushed(digest)
            }
            // Tags last, and only while the release still runs (`--fail-fast` may have stopped it); once
            // the first is written the others follow, or those written are put back.
            try Task.checkCancellation()
            try await writeTags(references, before: tagHeads, document: document, repository: dst)
        }
        tally.fields.withLock { f in
            report.blobs = f.blobs
            report.bytes = f.bytes
            report.manifests = options.dryRun ? 0 : f.manifests.count
            if options.dryRun { report.plan = f.plan }
        }
        report.attachments = attachments
        return (resolved, report, options.dryRun ? .planned : .promoted)
    }

    /// Starts the hooks' look-ahead (`PromotionHooks.lookAhead`) for the image whose promoted manifest is
    /// `document`: its lookups then overlap the destination check and the blobs. Not for a nested index,
    /// whose deeper manifests are not known yet (the hooks then look up everything at the end).
    private func startLookAhead(_ image: ReleaseImage, _ document: ManifestDocument?) -> Task<Bool, any Error>? {
        guard !options.dryRun, let lookAhead = image.hooks.lookAhead, let document,
              !document.children.contains(where: { MediaType.isIndex($0.mediaType) }) else { return nil }
        let digests = document.children.map(\.digest) + [document.digest]
        return Task { try await lookAhead(digests) }
    }

    private func makeReport(_ image: ReleaseImage, _ resolved: ResolvedImage) -> PromotionReport {
        let srcRef = "\(source.host)/\(image.sourceRepository)"
            + (image.sourceIsDigest ? "@\(image.sourceReference)" : ":\(image.sourceReference)")
        let dstRef = "\(destination.host)/\(image.destinationRepository)"
            + (image.tags.first.map { ":\($0)" } ?? "@\(resolved.digest)")
        return PromotionReport(source: .init(reference: srcRef, digest: resolved.digest),
                               destination: .init(reference: dstRef, digest: resolved.digest),
                               mediaType: resolved.mediaType, platforms: resolved.platforms)
    }

    /// Puts everything `document` refers to into the destination: an image's blobs through the pool;
    /// an index's children, each fetched, landed and pushed by digest as soon as its own content is in.
    private func land(_ document: ManifestDocument, image: ReleaseImage, tally: Tally, depth: Int) async throws {
        if document.isIndex {
            guard depth < 4 else { throw RegistryError(.integrity, "\(image.name): image index nested deeper than 4 levels") }
            var seen = Set<String>()
            let children = document.children.filter { seen.insert($0.digest).inserted }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for child in children {
                    group.addTask {
                        let doc = try await self.source.manifest(repository: image.sourceRepository, reference: child.digest)
                        if let total = tally.discovered(doc) { self.events(.planned(blobs: total.blobs, bytes: total.bytes)) }
                        try await self.land(doc, image: image, tally: tally, depth: depth + 1)
                        if !self.options.dryRun {
                            try await self.destination.putManifest(repository: image.destinationRepository,
                                                                   reference: doc.digest, document: doc)
                            self.events(.manifestPushed(digest: doc.digest, reference: doc.digest))
                        }
                        tally.pushed(doc.digest)
                    }
                }
                try await group.waitForAll()
            }
            return
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            // Every manifest waits for all of its blobs, also those a sibling platform transfers (the
            // pool makes that a wait, no request); each blob is counted once per image.
            for blob in document.blobs {
                let counted = tally.claim(blob.digest)
                group.addTask {
                    let action = try await self.obtain(blob, for: image)
                    guard counted else { return }
                    tally.record(blob, action)
                    if !self.options.dryRun || action == .skipped {
                        self.events(.blobDone(digest: blob.digest, size: blob.size, action: action))
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    // MARK: blobs

    /// Gets `blob` into the image's destination repository: the first repository to need it transfers it,
    /// the others wait for that and mount from it.
    func obtain(_ blob: Descriptor, for image: ReleaseImage) async throws -> BlobAction {
        let dst = image.destinationRepository
        var failed: BlobPool.Transfer?
        // Each round either returns or replaces a failed holder; bounded all the same.
        for _ in 0..<8 {
            let claim = await pool.claim(blob.digest, repository: dst, replacing: failed) {
                try await self.firstTransfer(blob, for: image)
            }
            switch claim {
            case .first(let transfer):
                return try await transfer.value
            case .shared(let holder, let transfer):
                do {
                    _ = try await transfer.value
                } catch {
                    try Task.checkCancellation()
                    failed = transfer
                    continue
                }
                if holder == dst { return .skipped }
                return try await mount(blob, into: image, from: holder)
            }
        }
        return try await firstTransfer(blob, for: image)
    }

    private func firstTransfer(_ blob: Descriptor, for image: ReleaseImage) async throws -> BlobAction {
        let dst = image.destinationRepository
        if sameRegistry, !options.dryRun {
            // One registry: a mount answers 201 whether or not the blob was there; no HEAD needed.
            return try await mount(blob, into: image, from: image.sourceRepository)
        }
        if try await destination.headBlob(repository: dst, digest: blob.digest) != nil { return .skipped }
        // An image still being checked may turn out to be there from an earlier run, holding this blob.
        await presence.settled()
        if let lender = await pool.lender(of: blob.digest, other: dst) { return try await mount(blob, into: image, from: lender) }
        if options.dryRun { return sameRegistry ? .mounted : .copied }
        events(.blobStarted(digest: blob.digest, size: blob.size))
        try await destination.copyBlob(blob, from: source, sourceRepository: image.sourceRepository, to: dst,
                                       session: nil, progress: progress(blob))
        return .copied
    }

    private func mount(_ blob: Descriptor, into image: ReleaseImage, from repository: String) async throws -> BlobAction {
        if options.dryRun { return .mounted }
        events(.blobStarted(digest: blob.digest, size: blob.size))
        switch try await destination.mount(repository: image.destinationRepository, digest: blob.digest, from: repository) {
        case .mounted:
            return .mounted
        case .uploadSession(let location):
            // The registry would not mount (the holder lost it, or refuses cross-repository mounts): stream it.
            try await destination.copyBlob(blob, from: source, sourceRepository: image.sourceRepository,
                                           to: image.destinationRepository, session: location, progress: progress(blob))
            return .copied
        }
    }

    private func progress(_ blob: Descriptor) -> @Sendable (Int64) -> Void {
        let events = self.events
        return { events(.blobProgress(digest: blob.digest, bytes: $0, size: blob.size)) }
    }
}
