import OCIRegistry

extension ReleaseEngine {
    /// `copy`: one image through the release pipeline (a release of one). Each registry gets a gate of
    /// `request.jobs` requests at once (one shared gate when both sides are one registry), so at most
    /// that many blobs stream at a time.
    public static func copy(_ request: PromotionRequest, source: any RegistryEndpoint, destination: any RegistryEndpoint,
                            events: @escaping @Sendable (PromotionEvent) -> Void = { _ in }) async throws -> PromotionReport {
        let sourceGate = RequestGate(limit: max(1, request.jobs))
        let destinationGate = source.host == destination.host ? sourceGate : RequestGate(limit: max(1, request.jobs))
        let engine = ReleaseEngine(source: GatedEndpoint(source, gate: sourceGate),
                                   destination: GatedEndpoint(destination, gate: destinationGate),
                                   options: ReleaseOptions(dryRun: request.dryRun, parallelImages: 1), events: events)
        return try await engine.promote(request)
    }

    /// One image as `copy` names it; the engine's options decide whether this is a dry run.
    public func promote(_ request: PromotionRequest) async throws -> PromotionReport {
        let clock = ContinuousClock()
        let started = clock.now
        var hooks = request.hooks
        if let wanted = request.destination.digest {
            // A destination named by digest must receive exactly that digest; checked with the source's.
            let verify = hooks.verifySource
            hooks.verifySource = { digest, namedDigest in
                try await verify?(digest, namedDigest)
                if wanted != digest {
                    throw RegistryError(.integrity, "destination digest \(wanted) differs from the source's \(digest)")
                }
            }
        }
        let image = ReleaseImage(name: request.source.description, sourceRepository: request.source.repository,
                                 sourceReference: request.source.identifier,
                                 destinationRepository: request.destination.repository,
                                 tags: request.destination.tag.map { [$0] } ?? [], platform: request.platform, hooks: hooks)
        await declareScopes([image], destination: true)
        let outcome: (ResolvedImage, PromotionReport?, ReleaseImageStatus)
        do {
            outcome = try await promoteOne(image, fetchPinned: true)
        } catch {
            await pool.cancelAll()   // the image failed: stop its blobs still streaming (pool tasks are unstructured)
            throw error
        }
        let (resolved, report, _) = outcome
        guard var report else { throw RegistryError(.other, "\(request.source): the engine returned no report") }
        // The source as the user named it: by tag when it had one, else by the digest promoted.
        report.source.reference = "\(source.host)/\(request.source.repository)"
            + (request.source.tag.map { ":\($0)" } ?? "@\(resolved.digest)")
        report.seconds = Self.seconds(clock.now - started)
        return report
    }
}
