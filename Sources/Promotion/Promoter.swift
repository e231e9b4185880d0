import OCIRegistry

/// Promotes one image between two registries.
///
/// Order of work, chosen so a failure can never leave a tag pointing at something incomplete:
/// resolve the source once to a digest; stop early when the destination tag already has it; fetch
/// every manifest of the tree; copy the union of all blobs in one pool (skip what exists, mount when
/// the registry is the same, else stream); push manifests children first; write the tag last.
public final class Promoter: Sendable {
    let source: RegistryClient
    let destination: RegistryClient
    let events: @Sendable (PromotionEvent) -> Void

    public init(source: RegistryClient, destination: RegistryClient,
                events: @escaping @Sendable (PromotionEvent) -> Void = { _ in }) {
        self.source = source
        self.destination = destination
        self.events = events
    }

    public func promote(_ request: PromotionRequest) async throws -> PromotionReport {
        let clock = ContinuousClock()
        let started = clock.now
        let srcRepo = request.source.repository
        let dstRepo = request.destination.repository
        let sameRegistry = source.host == destination.host
        // One token per side covers every request; on one registry it also covers mounts.
        await source.declare(repository: srcRepo, actions: ["pull"])
        await destination.declare(repository: dstRepo, actions: ["pull", "push"])
        if sameRegistry { await destination.declare(repository: srcRepo, actions: ["pull"]) }

        // 1. Resolve once; everything after uses the digest. The destination tag is looked up at the same
        //    time: on a no-op that halves the round trips.
        async let taggedHead = headIfTagged(repository: dstRepo, tag: request.destination.tag)
        async let preflight: Void = runPreflight(request.hooks)
        var top = try await source.manifest(repository: srcRepo, reference: request.source.identifier)
        let namedDigest = top.digest
        if let platform = request.platform, !top.children.isEmpty {
            guard let child = top.children.first(where: { $0.platform.map(platform.matches) ?? false }) else {
                let available = top.children.compactMap { $0.platform?.description }.joined(separator: ", ")
                throw RegistryError(.notFound, "\(request.source) has no \(platform) instance (available: \(available))")
            }
            top = try await source.manifest(repository: srcRepo, reference: child.digest)
        }
        try await preflight
        if let verify = request.hooks.verifySource { try await verify(top.digest, namedDigest) }
        let platforms = top.children.compactMap { $0.platform?.description }
        events(.resolved(digest: top.digest, mediaType: top.mediaType, platforms: max(platforms.count, 1)))

        if let wanted = request.destination.digest, wanted != top.digest {
            throw RegistryError(.integrity, "destination digest \(wanted) differs from the source's \(top.digest)")
        }
        let destinationReference = request.destination.tag ?? top.digest
        var report = PromotionReport(
            source: .init(reference: "\(source.host)/\(srcRepo)" + (request.source.tag.map { ":\($0)" } ?? "@\(top.digest)"),
                          digest: top.digest),
            destination: .init(reference: "\(destination.host)/\(dstRepo):\(destinationReference)", digest: top.digest),
            mediaType: top.mediaType, platforms: platforms)
        if request.destination.tag == nil {
            report.destination.reference = "\(destination.host)/\(dstRepo)@\(top.digest)"
        }
        report.dryRun = request.dryRun

        // 2. No-op fast path: one HEAD.
        let head = request.destination.tag == nil
            ? try await destination.headManifest(repository: dstRepo, reference: destinationReference)
            : try await taggedHead
        if let head, head.digest == top.digest {
            events(.alreadyPresent(digest: top.digest))
            report.alreadyPresent = true
            if let whenPresent = request.hooks.whenPresent, !request.dryRun {
                // Attachments added to the source since the last promotion still travel (children first).
                report.attachments = try await whenPresent(top.children.map(\.digest) + [top.digest])
            }
            report.seconds = seconds(since: started, clock)
            return report
        }

        // 3. The whole tree, children before parents.
        let manifests = try await collect(top, repository: srcRepo, depth: 0)
        var blobs: [Descriptor] = []
        var seen = Set<String>()
        for m in manifests {
            for b in m.blobs where seen.insert(b.digest).inserted { blobs.append(b) }
        }
        let total = blobs.reduce(Int64(0)) { $0 + $1.size }
        report.bytes.total = total
        events(.planned(blobs: blobs.count, bytes: total))

        // 4. Blobs, all platforms in one pool.
        let outcomes = try await transferBlobs(blobs, request: request, sameRegistry: sameRegistry)
        for (blob, action) in outcomes {
            switch action {
            case .copied:
                report.blobs.copied += 1
                report.bytes.copied += blob.size
            case .mounted: report.blobs.mounted += 1
            case .skipped: report.blobs.skipped += 1
            }
        }
        if request.dryRun {
            report.plan = outcomes.map { .init(digest: $0.0.digest, size: $0.0.size, action: $0.1) }
            report.seconds = seconds(since: started, clock)
            return report
        }

        // 5. Manifests bottom-up, original bytes (digests preserved); the tag goes last.
        report.manifests += try await pushChildren(Array(manifests.dropLast()), repository: dstRepo)
        if let beforeTag = request.hooks.beforeTag {
            // What hangs off the image lands before anyone can see the tag: push the top by digest first.
            if request.destination.tag != nil {
                try await destination.putManifest(repository: dstRepo, reference: top.digest, document: top)
            }
            report.attachments = try await beforeTag(manifests.map(\.digest))
        }
        try await destination.putManifest(repository: dstRepo, reference: destinationReference, document: top)
        events(.manifestPushed(digest: top.digest, reference: destinationReference))
        report.manifests += 1
        report.seconds = seconds(since: started, clock)
        return report
    }

    private func runPreflight(_ hooks: PromotionHooks) async throws {
        if let preflight = hooks.preflight { try await preflight() }
    }

    private func headIfTagged(repository: String, tag: String?) async throws -> RegistryClient.ManifestHead? {
        guard let tag else { return nil }
        return try await destination.headManifest(repository: repository, reference: tag)
    }

    private func seconds(since start: ContinuousClock.Instant, _ clock: ContinuousClock) -> Double {
        let d = clock.now - start
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    /// Pushes index children by digest, in parallel per level: a nested index only after its own children
    /// (`manifests` is ordered children-first, so a manifest's dependencies always precede it).
    private func pushChildren(_ manifests: [ManifestDocument], repository: String) async throws -> Int {
        var pushed = Set<String>()
        var pending = manifests
        while !pending.isEmpty {
            let ready = pending.filter { m in m.children.allSatisfy { pushed.contains($0.digest) } }
            guard !ready.isEmpty else { throw RegistryError(.integrity, "image index refers to manifests it does not contain") }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for m in ready {
                    group.addTask {
                        try await self.destination.putManifest(repository: repository, reference: m.digest, document: m)
                        self.events(.manifestPushed(digest: m.digest, reference: m.digest))
                    }
                }
                try await group.waitForAll()
            }
            for m in ready { pushed.insert(m.digest) }
            pending.removeAll { pushed.contains($0.digest) }
        }
        return manifests.count
    }

    /// Fetches index children in parallel (nested indexes too, bounded depth); returns the tree
    /// ordered so every manifest comes after the ones it refers to.
    private func collect(_ document: ManifestDocument, repository: String, depth: Int) async throws -> [ManifestDocument] {
        guard !document.children.isEmpty else { return [document] }
        guard depth < 4 else { throw RegistryError(.integrity, "image index nested deeper than 4 levels") }
        let children = try await withThrowingTaskGroup(of: (Int, [ManifestDocument]).self) { group in
            for (i, child) in document.children.enumerated() {
                group.addTask {
                    let doc = try await self.source.manifest(repository: repository, reference: child.digest)
                    return (i, try await self.collect(doc, repository: repository, depth: depth + 1))
                }
            }
            var out = [[ManifestDocument]](repeating: [], count: document.children.count)
            for try await (i, docs) in group { out[i] = docs }
            return out.flatMap { $0 }
        }
        var unique: [ManifestDocument] = []
        var seen = Set<String>()
        for d in children where seen.insert(d.digest).inserted { unique.append(d) }
        return unique + [document]
    }

    /// Runs every blob through a pool of `jobs` workers; the first failure cancels the rest.
    private func transferBlobs(_ blobs: [Descriptor], request: PromotionRequest,
                               sameRegistry: Bool) async throws -> [(Descriptor, BlobAction)] {
        let jobs = max(1, request.jobs)
        return try await withThrowingTaskGroup(of: (Int, BlobAction).self) { group in
            var results = [BlobAction?](repeating: nil, count: blobs.count)
            var next = 0
            func launch() {
                let i = next
                next += 1
                let blob = blobs[i]
                group.addTask {
                    (i, try await self.transfer(blob, request: request, sameRegistry: sameRegistry))
                }
            }
            while next < min(jobs, blobs.count) { launch() }
            for try await (i, action) in group {
                results[i] = action
                if next < blobs.count { launch() }
            }
            return zip(blobs, results).map { ($0, $1!) }
        }
    }

    private func transfer(_ blob: Descriptor, request: PromotionRequest, sameRegistry: Bool) async throws -> BlobAction {
        let srcRepo = request.source.repository
        let dstRepo = request.destination.repository
        // On one registry a mount answers 201 whether the blob was already there or not: skip the HEAD.
        if !sameRegistry || request.dryRun,
           try await destination.headBlob(repository: dstRepo, digest: blob.digest) != nil {
            events(.blobDone(digest: blob.digest, size: blob.size, action: .skipped))
            return .skipped
        }
        if request.dryRun {
            return sameRegistry ? .mounted : .copied
        }
        events(.blobStarted(digest: blob.digest, size: blob.size))
        var session: String?
        if sameRegistry {
            switch try await destination.mount(repository: dstRepo, digest: blob.digest, from: srcRepo) {
            case .mounted:
                events(.blobDone(digest: blob.digest, size: blob.size, action: .mounted))
                return .mounted
            case .uploadSession(let location):
                session = location   // the registry could not mount: reuse its session, no extra POST
            }
        }
        let events = self.events
        let digest = blob.digest
        let size = blob.size
        try await destination.copyBlob(blob, from: source, sourceRepository: srcRepo, to: dstRepo, session: session,
                                       progress: { events(.blobProgress(digest: digest, bytes: $0, size: size)) })
        events(.blobDone(digest: blob.digest, size: blob.size, action: .copied))
        return .copied
    }
}
