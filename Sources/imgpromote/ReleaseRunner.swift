import FoundationEssentials
import HTTPTransport
import OCIRegistry
import OpenShiftCredentials
import Promotion
import Release
import SupplyChain

/// Runs `plan`, `apply` and `promote`: reads the file or lock, logs each side in once, selects tags,
/// hands the images to the release engine and reports.
struct ReleaseRunner {
    enum Mode {
        case plan(file: String, output: String?)
        case apply(lock: String)
        case promote(file: String)
    }

    let options: ReleaseRunOptions
    let environment = Environment.all()
    /// One listing per source repository for the whole release (attachment lookups).
    let tagListings = TagListings()

    /// One image to run, or an entry that failed before reaching the engine (its tag list).
    enum Item {
        case image(ReleaseImage, line: Int, platform: String?)
        case failed(ReleaseImageResult)
    }

    /// `--report-file`: the `--json` object whenever the images were reported on (all promoted, or some
    /// failed: each failed image carries its error), else `{"error":{...}}` like `copy`.
    func run(_ mode: Mode) async throws {
        let imagesFailed: CLIError?
        do {
            imagesFailed = try await execute(mode)
        } catch {
            if let path = options.reportFile { ReportFile.writeFailure(error, to: path) }
            throw error
        }
        if let imagesFailed { throw imagesFailed }
    }

    /// The release; returns the failure of the first failed image after every image was reported on.
    private func execute(_ mode: Mode) async throws -> CLIError? {
        let log = options.global.log
        let shard = options.shard.flatMap(Shard.parse)

        // 1. What to promote, checked before any request.
        var entries: [ReleaseEntry] = []
        var locked: LockFile?
        let path: String
        switch mode {
        case .plan(let file, _), .promote(let file):
            path = file
            do {
                entries = try ReleaseFile.parse(try readText(file, what: "promotion file")).entries
            } catch let error as ReleaseFileError {
                throw CLIError.usage("\(file): \(error)")
            }
            if let shard { entries = entries.filter { shard.contains(destinationRepository: $0.destination.repository) } }
        case .apply(let lock):
            path = lock
            let bytes = try readInputFile(lock, what: "lock")
            do {
                var l = try LockFile.decode(bytes)
                if let shard { l.images = l.images.filter { shard.contains(destinationRepository: $0.destination.repository) } }
                locked = l
            } catch {
                throw CLIError.usage("\(lock): \(error)")
            }
        }
        let empty = locked.map { $0.images.isEmpty } ?? entries.isEmpty
        if empty {
            printErr("imgpromote: \(path): nothing to do" + (shard.map { " in shard \($0)" } ?? ""))
            if case .plan(_, let output) = mode, let output {
                try writeFile(output, try LockFile(source: .init(registry: "empty.invalid"), destination: .init(registry: "empty.invalid"), images: []).encoded())
            }
            if let reportFile = options.reportFile { try ReportFile.write(Array("{\"images\":[]}\n".utf8), to: reportFile) }
            if options.json { print("{\"images\":[]}") }
            if let junit = options.junit { try writeFile(junit, Array(ReleaseJUnit.render([], suite: path).utf8)) }
            return nil
        }

        try SideResolver(options: options.src, global: options.global, environment: environment, log: log).checkRegistryCredentialKinds()
        try SideResolver(options: options.dest, global: options.global, environment: environment, log: log).checkRegistryCredentialKinds()

        // 2. Each side logged in once for the whole release; every request to a registry through its gate.
        let gates = RegistryGates(limit: options.jobs, requestsPerSecond: options.requestsPerSecond)
        var retry = options.global.retryPolicy
        retry.onThrottle = { host, after in gates.throttle(host: host, seconds: after) }
        let (sourceText, destinationText): (String, String)
        if let locked {
            let first = locked.images[0]
            sourceText = "\(locked.source.registry)/\(first.source.repository)@\(first.source.digest)"
            destinationText = "\(locked.destination.registry)/\(first.destination.repository)"
        } else {
            sourceText = entries[0].source.description
            destinationText = entries[0].destination.description
        }
        // Before any login: the exit and signal paths revoke what this ledger holds (nothing with --keep-tokens).
        let tokens = RunTokens.shared.ledger(keepingTokens: options.keepTokens)
        var sessions: [ClusterSession] = []
        let imagesFailed: CLIError?
        do {
            let srcSide = try await SideResolver(options: options.src, global: options.global, environment: environment,
                                                 log: log, retry: retry).resolve(sourceText, tokens: tokens)
            if let s = srcSide.session { sessions.append(s) }
            let destSide = try await SideResolver(options: options.dest, global: options.global, environment: environment,
                                                  log: log, retry: retry).resolve(destinationText, tokens: tokens)
            if let s = destSide.session { sessions.append(s) }
            imagesFailed = try await run(mode, entries: entries, locked: locked, path: path, source: srcSide, destination: destSide, gates: gates)
        } catch {
            if !options.keepTokens { for s in sessions { await s.revokeIfCreated() } }
            throw error
        }
        if !options.keepTokens { for s in sessions { await s.revokeIfCreated() } }
        return imagesFailed
    }

    private func run(_ mode: Mode, entries: [ReleaseEntry], locked: LockFile?, path: String, source: ResolvedSide,
                     destination: ResolvedSide, gates: RegistryGates) async throws -> CLIError? {
        let sourceHost = source.reference.registry ?? source.client.host
        let destinationHost = destination.reference.registry ?? destination.client.host
        // One registry per side and run: entries naming another host are refused before anything moves.
        for entry in entries {
            if options.src.registry == nil, let r = entry.source.registry, r != sourceHost {
                throw CLIError.usage("\(path): line \(entry.line): source registry \(r) differs from \(sourceHost); one source registry per run")
            }
            if options.dest.registry == nil, let r = entry.destination.registry, r != destinationHost {
                throw CLIError.usage("\(path): line \(entry.line): destination registry \(r) differs from \(destinationHost); one destination registry per run")
            }
        }
        let sourceEndpoint = GatedEndpoint(source.client, gate: gates.gate(host: source.client.host))
        let destinationEndpoint = GatedEndpoint(destination.client, gate: gates.gate(host: destination.client.host))

        // 3. Tag selection: one tag list per selecting entry, read from the source.
        var items: [Item] = []
        if let locked {
            for (i, image) in locked.images.enumerated() {
                let e = image.expanded(line: image.line ?? i + 1)
                items.append(.image(try await releaseImage(e, source: source, destination: destination), line: e.entryLine, platform: image.platform))
            }
        } else {
            var expanded: [(ReleaseEntry, Result<[ExpandedEntry], any Error>)] = []
            var listed: [String: [String]] = [:]   // one listing per source repository
            for entry in entries {
                var tags: [String]?
                if entry.selection != nil {
                    do {
                        let repo = entry.source.repository
                        let client = source.client
                        let pageSize = options.tagPageSize
                        if let known = listed[repo] {
                            tags = known
                        } else {
                            let all = try await sourceEndpoint.gate.run { try await client.tagList(repository: repo, pageSize: pageSize) }
                            listed[repo] = all
                            tagListings.keep(all, client: client, repository: repo)   // attachment lookups reuse it
                            tags = all
                        }
                    } catch {
                        expanded.append((entry, .failure(error)))
                        continue
                    }
                }
                do {
                    expanded.append((entry, .success(try entry.expand(sourceTags: tags))))
                } catch {
                    expanded.append((entry, .failure(RegistryError(.notFound, "\(path): \(error)"))))
                }
            }
            do {
                try checkDistinctDestinations(expanded.flatMap { (try? $0.1.get()) ?? [] })
            } catch {
                throw CLIError.usage("\(path): \(error)")
            }
            for (entry, result) in expanded {
                switch result {
                case .success(let images):
                    if images.isEmpty { printErr("imgpromote: \(path): line \(entry.line): \(entry.name) selects no tag") }
                    for e in images { items.append(.image(try await releaseImage(e, source: source, destination: destination), line: e.entryLine, platform: entry.platform?.description)) }
                case .failure(let error):
                    let placeholder = ReleaseImage(name: entry.name, sourceRepository: entry.source.repository,
                                                   sourceReference: entry.source.identifier,
                                                   destinationRepository: entry.destination.repository, tags: entry.tags)
                    items.append(.failed(ReleaseImageResult(image: placeholder, status: .failed, error: error)))
                }
            }
        }

        // 4. The engine.
        let isPlan: Bool
        if case .plan = mode { isPlan = true } else { isPlan = false }
        if !isPlan, !options.dryRun, options.supplyChain.selection != .none {
            // Each image's attachment lookup needs its repository's tag list: read them beside the
            // manifest GETs rather than after them (a no-op rerun is then one round trip per image).
            // Like every attachment lookup they bypass the gate: queued behind the images' own requests
            // they would add round trips at a distance.
            var repositories: [String] = [], seen = Set<String>()
            for case .image(let image, _, _) in items where seen.insert(image.sourceRepository).inserted {
                repositories.append(image.sourceRepository)
                // Every repository in the first token, as the engine would declare them.
                await source.client.declare(repository: image.sourceRepository, actions: ["pull"])
            }
            if let first = repositories.first { tagListings.probeReferrers(client: source.client, repository: first) }
            for repository in repositories { tagListings.prefetch(client: source.client, repository: repository) }
        }
        let engine = ReleaseEngine(source: sourceEndpoint, destination: destinationEndpoint,
                                   options: ReleaseOptions(failFast: options.failFast, dryRun: options.dryRun || isPlan,
                                                           parallelImages: options.imagesAtOnce))
        var images: [ReleaseImage] = []
        var slots: [Int] = []   // item index of each engine image
        for (i, item) in items.enumerated() {
            if case .image(let image, _, _) = item {
                images.append(image)
                slots.append(i)
            }
        }
        var results: [ReleaseImageResult] = items.map { item in
            switch item {
            case .failed(let r): return r
            case .image(let image, _, _): return ReleaseImageResult(image: image, status: .cancelled)   // until it runs
            }
        }
        let human = HumanLines(quiet: options.global.quiet, destinationHost: destinationHost, plan: isPlan)
        for r in results where r.status == .failed { human.print(r) }
        if options.failFast, results.contains(where: { $0.status == .failed }) {
            images = []   // a tag list already failed: nothing else starts
        }
        let engineResults = isPlan
            ? await engine.plan(images, onResult: { _, r in human.print(r) })
            : await engine.promote(images, onResult: { _, r in human.print(r) })
        for (slot, r) in zip(slots, engineResults) { results[slot] = r }

        // 5. Reports.
        let failed = results.filter { $0.status == .failed }
        if case .plan(_, let output) = mode {
            if failed.isEmpty {
                let lock = makeLock(results, items: items, sourceHost: sourceHost, destinationHost: destinationHost)
                let bytes = try lock.encoded()
                if let output { try writeFile(output, bytes) } else if !options.json { print(String(decoding: bytes, as: UTF8.self), terminator: "") }
                if let output, !options.global.quiet { printErr("imgpromote: lock for \(lock.images.count) image(s) written to \(output)") }
            } else {
                printErr("imgpromote: no lock written: \(failed.count) image(s) could not be resolved")
            }
        } else if !options.json {
            for r in results where r.status == .promoted || r.status == .present || r.status == .planned {
                if let d = r.resolved?.digest { print("\(destinationHost)/\(r.image.destinationRepository)@\(d)") }
            }
        }
        // Rendered only when asked for: JSON encoding is a measurable share of a no-op rerun's CPU.
        if options.reportFile != nil || options.json {
            let document = ReleaseJSON.render(results, destinationHost: destinationHost)
            if let reportFile = options.reportFile { try ReportFile.write(Array(document.utf8) + [0x0A], to: reportFile) }
            if options.json { print(document) }
        }
        if let junit = options.junit { try writeFile(junit, Array(ReleaseJUnit.render(results, suite: path).utf8)) }
        summarize(results)

        if let first = failed.first {
            let (code, message) = exitStatus(for: first.error ?? CLIError(message: "failed", exitCode: 1))
            return CLIError(message: "\(failed.count) of \(results.count) image(s) failed; first: \(first.image.name): \(message)",
                            exitCode: code)
        }
        return nil
    }

    /// The engine's image, with the same hooks `copy` would give it: the permission preflight of each
    /// cluster side (reviews cached per project in the session, so a release asks once per project).
    private func releaseImage(_ e: ExpandedEntry, source: ResolvedSide, destination: ResolvedSide) async throws -> ReleaseImage {
        var s = source, d = destination
        let pinned = e.sourceReference.hasPrefix("sha256:")
        s.reference = ImageReference(registry: source.reference.registry, repository: e.sourceRepository,
                                     tag: pinned ? nil : e.sourceReference, digest: pinned ? e.sourceReference : nil)
        d.reference = ImageReference(registry: destination.reference.registry, repository: e.destinationRepository,
                                     tag: e.tags.first)
        // The signature gate, attachments and the record, exactly as `copy` sets them up for one image.
        var hooks = try await options.supplyChain.hooks(source: s, destination: d, jobs: options.jobs,
                                                        quiet: options.global.quiet || options.json,
                                                        environment: environment, tagListings: tagListings)
        if !options.noPreflight { hooks.preflight = permissionPreflight(source: s, destination: d) }
        return ReleaseImage(name: e.name, sourceRepository: e.sourceRepository, sourceReference: e.sourceReference,
                            destinationRepository: e.destinationRepository, tags: e.tags, platform: e.platform,
                            expectedDigest: e.expectedDigest, hooks: hooks)
    }

    private func makeLock(_ results: [ReleaseImageResult], items: [Item], sourceHost: String, destinationHost: String) -> LockFile {
        var images: [LockFile.Image] = []
        for (item, r) in zip(items, results) {
            guard case .image(let image, let line, let platform) = item, let resolved = r.resolved else { continue }
            images.append(.init(name: image.name, line: line,
                                source: .init(repository: image.sourceRepository, reference: image.sourceReference, digest: resolved.digest),
                                destination: .init(repository: image.destinationRepository, tags: image.tags),
                                platform: platform,
                                resolved: .init(referenceDigest: resolved.referenceDigest, mediaType: resolved.mediaType,
                                                platforms: resolved.platforms)))
        }
        return LockFile(source: .init(registry: sourceHost), destination: .init(registry: destinationHost), images: images)
    }

    private func summarize(_ results: [ReleaseImageResult]) {
        guard !options.global.quiet else { return }
        var counts: [ReleaseImageStatus: Int] = [:]
        for r in results { counts[r.status, default: 0] += 1 }
        let order: [ReleaseImageStatus] = [.promoted, .present, .planned, .failed, .cancelled]
        let words = order.compactMap { s in counts[s].map { "\($0) \(s == .present ? "already present" : s.rawValue)" } }
        let copied = results.compactMap(\.report).reduce(Int64(0)) { $0 + $1.bytes.copied }
        printErr("imgpromote: release: \(words.joined(separator: ", ")); \(formatBytes(copied)) copied")
    }

    private func readText(_ path: String, what: String) throws -> String {
        let bytes = try readInputFile(path, what: what)
        guard let text = String(validating: bytes, as: UTF8.self) else { throw CLIError.usage("\(path) is not UTF-8 text") }
        return text
    }
}

/// One gate per registry host, shared by both sides when they are one registry.
final class RegistryGates: Sendable {
    let limit: Int
    let requestsPerSecond: Double?
    private let gates = Locked<[String: RequestGate]>([:])

    init(limit: Int, requestsPerSecond: Double?) {
        self.limit = limit
        self.requestsPerSecond = requestsPerSecond
    }

    func gate(host: String) -> RequestGate {
        gates.withLock { g in
            if let gate = g[host] { return gate }
            let gate = RequestGate(limit: limit, requestsPerSecond: requestsPerSecond)
            g[host] = gate
            return gate
        }
    }

    func throttle(host: String, seconds: Double?) {
        let gate = gate(host: host)
        Task { await gate.throttle(seconds: seconds) }
    }
}

/// The per-image lines on stderr, as each image ends.
struct HumanLines: Sendable {
    let quiet: Bool
    let destinationHost: String
    let plan: Bool

    func print(_ r: ReleaseImageResult) {
        let name = r.image.name
        switch r.status {
        case .failed:
            let message = r.error.map { exitStatus(for: $0).1 } ?? "failed"
            printErr("imgpromote: FAILED \(name): \(message)")
        case .cancelled:
            if !quiet { printErr("imgpromote: cancelled \(name) (--fail-fast)") }
        case .present, .promoted, .planned:
            guard !quiet else { return }
            let digest = r.resolved?.digest ?? "?"
            let target = "\(destinationHost)/\(r.image.destinationRepository)@\(digest)"
            let tags = r.image.tags.isEmpty ? "" : " tags \(r.image.tags.joined(separator: ","))"
            let attached = r.report?.attachments.map(\.summary).flatMap { $0.isEmpty ? nil : "; attachments: \($0)" } ?? ""
            if r.status == .present {
                printErr("imgpromote: present \(name) -> \(target)\(tags)" + (attached.isEmpty ? "" : " (\(attached.dropFirst(2)))"))
            } else if plan {
                printErr("imgpromote: planned \(name) -> \(target)\(tags)")
            } else {
                let b = (copied: r.report?.blobs.copied ?? 0, mounted: r.report?.blobs.mounted ?? 0,
                         skipped: r.report?.blobs.skipped ?? 0)
                let verb = r.status == .planned ? "would promote" : "promoted"
                printErr("imgpromote: \(verb) \(name) -> \(target)\(tags) (\(b.copied) copied, \(b.mounted) mounted, "
                         + "\(b.skipped) present; \(formatBytes(r.report?.bytes.copied ?? 0))\(attached); \(String(format1: r.seconds)) s)")
            }
        }
    }
}

extension String {
    /// One decimal, without Foundation's String(format:).
    init(format1 value: Double) {
        let tenths = Int((value * 10).rounded())
        self = "\(tenths / 10).\(tenths % 10)"
    }
}
