import HTTPTransport
import OCIRegistry
import Promotion
import XCTest

/// The release engine against in-process registries: planning, ordering, blob dedupe, mounts and
/// failure isolation, in milliseconds.
final class ReleaseEngineTests: XCTestCase {
    let src = FakeRegistry(host: "src.example:5000")
    let dst = FakeRegistry(host: "dst.example:5000")

    /// Three apps on one base: base layer + own layer each.
    func seedApps(_ names: [String] = ["a", "b", "c"], base: [UInt8] = FakeImage.blob("base-layer")) -> [String: FakeImage] {
        var out: [String: FakeImage] = [:]
        for n in names {
            let img = FakeImage.image(layers: [base, FakeImage.blob("own-\(n)")], config: n)
            img.seed(into: src, repository: "dev/\(n)", tag: "1.0")
            out[n] = img
        }
        return out
    }

    func image(_ n: String, tags: [String] = ["1.0"], reference: String = "1.0", expected: String? = nil,
               hooks: PromotionHooks = PromotionHooks()) -> ReleaseImage {
        ReleaseImage(name: "dev/\(n):\(reference)", sourceRepository: "dev/\(n)", sourceReference: reference,
                     destinationRepository: "prod/\(n)", tags: tags, expectedDigest: expected, hooks: hooks)
    }

    func engine(_ options: ReleaseOptions = ReleaseOptions(), source: (any RegistryEndpoint)? = nil,
                destination: (any RegistryEndpoint)? = nil) -> ReleaseEngine {
        ReleaseEngine(source: source ?? src, destination: destination ?? dst, options: options)
    }

    func testSharedBaseIsUploadedOnceAndMountedIntoTheOtherRepositories() async throws {
        let apps = seedApps()
        let base = SHA256.digest(FakeImage.blob("base-layer"))
        let results = await engine().promote(["a", "b", "c"].map { image($0) })
        XCTAssertEqual(results.map(\.status), [.promoted, .promoted, .promoted], "\(results.map { $0.error.map { "\($0)" } })")
        for n in ["a", "b", "c"] { XCTAssertEqual(dst.digest(repository: "prod/\(n)", tag: "1.0"), apps[n]!.digest) }
        let uploads = dst.requests.filter { $0.op == .upload && $0.reference == base }
        XCTAssertEqual(uploads.count, 1, "base uploaded once: \(dst.requests)")
        let holder = uploads[0].repository
        let mounts = dst.requests.filter { $0.op == .mount && $0.reference == base }
        XCTAssertEqual(Set(mounts.map(\.repository)), Set(["prod/a", "prod/b", "prod/c"]).subtracting([holder]))
        XCTAssertTrue(mounts.allSatisfy { $0.from == holder }, "mounted from the first repository: \(mounts)")
        // Every unique blob byte travelled once: the per-image copied bytes add up to the unique bytes.
        let copied = results.compactMap(\.report).reduce(Int64(0)) { $0 + $1.bytes.copied }
        let unique = Set(apps.values.flatMap(\.blobs).map { $0 }).reduce(Int64(0)) { $0 + Int64($1.count) }
        XCTAssertEqual(copied, unique)
        XCTAssertEqual(results.compactMap(\.report).map(\.blobs.mounted).reduce(0, +), 2)
    }

    func testARegistryThatRefusesMountsGetsTheBlobStreamedThroughTheSessionItOpened() async throws {
        _ = seedApps()
        dst.refuseMounts()
        let base = SHA256.digest(FakeImage.blob("base-layer"))
        let results = await engine().promote(["a", "b", "c"].map { image($0) })
        XCTAssertEqual(results.map(\.status), [.promoted, .promoted, .promoted])
        XCTAssertEqual(dst.requests.filter { $0.op == .upload && $0.reference == base }.count, 3, "one stream per repository")
        XCTAssertEqual(dst.requests.filter { $0.op == .mount }.count, 2, "each later repository asked once")
        for n in ["a", "b", "c"] { XCTAssertTrue(dst.hasBlob(base, repository: "prod/\(n)")) }
    }

    func testSameRegistryMountsFromTheSourceRepositoryAndUploadsNothing() async throws {
        let one = FakeRegistry(host: "one.example")
        let img = FakeImage.image(layers: [FakeImage.blob("l1")], config: "x")
        img.seed(into: one, repository: "dev/a", tag: "1.0")
        let results = await ReleaseEngine(source: one, destination: one).promote([image("a")])
        XCTAssertEqual(results[0].status, .promoted)
        XCTAssertFalse(one.requests.contains { $0.op == .upload || $0.op == .getBlob })
        XCTAssertTrue(one.requests.filter { $0.op == .mount }.allSatisfy { $0.from == "dev/a" })
        XCTAssertEqual(results[0].report?.blobs.mounted, 2)
        XCTAssertEqual(one.digest(repository: "prod/a", tag: "1.0"), img.digest)
    }

    func testAFailingImageDoesNotStopTheOthersAndGetsNoTag() async throws {
        _ = seedApps()
        src.corrupt(SHA256.digest(FakeImage.blob("own-b")))
        let results = await engine().promote(["a", "b", "c"].map { image($0) })
        XCTAssertEqual(results.map(\.status), [.promoted, .failed, .promoted])
        XCTAssertEqual((results[1].error as? RegistryError)?.kind, .integrity)
        XCTAssertEqual(dst.tagNames(repository: "prod/b"), [], "a failed image leaves no tag")
        XCTAssertEqual(dst.tagNames(repository: "prod/c"), ["1.0"])
    }

    func testAFailedHolderOfASharedBlobDoesNotSinkTheImagesWaitingForIt() async throws {
        _ = seedApps(["a", "b"])
        let base = SHA256.digest(FakeImage.blob("base-layer"))
        // The upload of the base into prod/a fails; prod/b must take it over and succeed.
        dst.fail(RegistryError(.denied, "prod/a: denied")) { $0.repository == "prod/a" && $0.op == .upload && $0.reference == base }
        // prod/a claims the base first (b's manifest arrives 50 ms later) and fails at 200 ms while b waits.
        dst.delay(.milliseconds(200)) { $0.op == .upload && $0.repository == "prod/a" }
        src.delay(.milliseconds(50)) { $0.op == .getManifest && $0.repository == "dev/b" }
        let results = await engine().promote([image("a"), image("b")])
        XCTAssertEqual(results.map(\.status), [.failed, .promoted])
        XCTAssertTrue(dst.hasBlob(base, repository: "prod/b"))
        XCTAssertEqual(dst.tagNames(repository: "prod/a"), [])
        XCTAssertEqual(dst.requests.filter { $0.op == .upload && $0.reference == base }.map(\.repository), ["prod/a", "prod/b"],
                       "b took over the failed transfer")
    }

    func testFailFastCancelsTheRestAndWritesNoFurtherTags() async throws {
        _ = seedApps(["a", "b", "c", "d"])
        src.fail(RegistryError(.notFound, "gone")) { $0.repository == "dev/a" && $0.op == .getManifest }
        src.delay(.milliseconds(200)) { $0.op == .getManifest && $0.repository != "dev/a" }
        let results = await engine(ReleaseOptions(failFast: true, parallelImages: 2)).promote(["a", "b", "c", "d"].map { image($0) })
        XCTAssertEqual(results[0].status, .failed)
        XCTAssertEqual(results[1].status, .cancelled)
        XCTAssertEqual(results[2].status, .cancelled, "never started")
        XCTAssertEqual(results[3].status, .cancelled)
        XCTAssertFalse(dst.requests.contains { $0.op == .putManifest }, "\(dst.requests)")
    }

    func testRerunOfAPinnedReleaseCostsOneDestinationHeadPerImageAndNothingAtTheSource() async throws {
        let apps = seedApps()
        _ = await engine().promote(["a", "b", "c"].map { image($0) })
        src.resetLog()
        dst.resetLog()
        let pinned = ["a", "b", "c"].map { image($0, reference: apps[$0]!.digest, expected: apps[$0]!.digest) }
        let again = await engine().promote(pinned)
        XCTAssertEqual(again.map(\.status), [.present, .present, .present])
        XCTAssertEqual(dst.requests.map(\.op), [.headManifest, .headManifest, .headManifest])
        XCTAssertEqual(src.requests, [], "a lock names digests: the source is not asked")
        XCTAssertEqual(again[0].report?.alreadyPresent, true)
        XCTAssertEqual(again[0].report?.mediaType, MediaType.ociManifest, "taken from the destination's HEAD")
    }

    /// A rerun that adds image c on the base image a pushed in an earlier run: a's destination
    /// repository lends the base (its manifest, read to resolve a, names it), so c mounts it from there.
    func testARerunMountsABaseAnEarlierRunPushedInsteadOfUploadingIt() async throws {
        _ = seedApps()
        let base = SHA256.digest(FakeImage.blob("base-layer"))
        _ = await engine().promote([image("a"), image("b")])
        src.resetLog()
        dst.resetLog()
        // a's and b's answers come late: c's base would be uploaded if c did not wait for them.
        dst.delay(.milliseconds(200)) { $0.op == .headManifest && $0.repository != "prod/c" }
        let results = await engine().promote([image("a"), image("b"), image("c")])
        XCTAssertEqual(results.map(\.status), [.present, .present, .promoted], "\(results.map { $0.error.map { "\($0)" } })")
        XCTAssertFalse(dst.requests.contains { $0.op == .upload && $0.reference == base }, "\(dst.requests)")
        let mounts = dst.requests.filter { $0.op == .mount && $0.reference == base }
        XCTAssertEqual(mounts.count, 1, "\(dst.requests)")
        XCTAssertEqual(mounts.first?.repository, "prod/c")
        XCTAssertTrue(["prod/a", "prod/b"].contains(mounts.first?.from ?? ""), "\(mounts)")
        XCTAssertEqual(results[2].report?.blobs.mounted, 1)
        XCTAssertEqual(results[2].report?.blobs.copied, 2, "its own layer and config")
        XCTAssertTrue(dst.hasBlob(base, repository: "prod/c"))
        // Present images cost what they cost before: one HEAD each at the destination.
        XCTAssertEqual(dst.requests.filter { ["prod/a", "prod/b"].contains($0.repository) }.map(\.op), [.headManifest, .headManifest])
    }

    /// A lender whose repository lost the blob (or a registry that will not mount): the mount opens an
    /// upload session and the blob is streamed into it; the image still lands.
    func testALenderThatCannotMountFallsBackToStreaming() async throws {
        _ = seedApps()
        let base = SHA256.digest(FakeImage.blob("base-layer"))
        _ = await engine().promote([image("a")])
        dst.refuseMounts()
        dst.resetLog()
        let results = await engine().promote([image("a"), image("c")])
        XCTAssertEqual(results.map(\.status), [.present, .promoted])
        XCTAssertEqual(dst.requests.filter { $0.op == .mount && $0.reference == base }.map(\.from), ["prod/a"])
        XCTAssertEqual(dst.requests.filter { $0.op == .upload && $0.reference == base }.count, 1)
        XCTAssertTrue(dst.hasBlob(base, repository: "prod/c"))
    }

    func testMovedSourceTagIsRefusedBeforeAnythingIsWritten() async throws {
        let apps = seedApps(["a"])
        let other = FakeImage.image(layers: [FakeImage.blob("new")], config: "moved")
        other.seed(into: src, repository: "dev/a", tag: "1.0")   // the tag moved since the plan
        let results = await engine().promote([image("a", expected: apps["a"]!.digest)])
        XCTAssertEqual(results[0].status, .failed)
        XCTAssertEqual((results[0].error as? RegistryError)?.kind, .integrity)
        XCTAssertTrue("\(results[0].error!)".contains("moved"), "\(results[0].error!)")
        XCTAssertFalse(dst.requests.contains { $0.op != .headManifest })
    }

    func testLockedDigestIsReadByDigestEvenAfterTheTagMoved() async throws {
        let apps = seedApps(["a"])
        let other = FakeImage.image(layers: [FakeImage.blob("new")], config: "moved")
        other.seed(into: src, repository: "dev/a", tag: "1.0")
        let locked = image("a", reference: apps["a"]!.digest, expected: apps["a"]!.digest)
        let results = await engine().promote([locked])
        XCTAssertEqual(results[0].status, .promoted)
        XCTAssertEqual(dst.digest(repository: "prod/a", tag: "1.0"), apps["a"]!.digest)
        XCTAssertFalse(src.requests.contains { $0.op == .getManifest && $0.reference == "1.0" })
    }

    func testMultiArchChildrenBeforeIndexBlobsBeforeManifestsTagsLast() async throws {
        let shared = FakeImage.blob("shared")
        let amd = FakeImage.image(layers: [shared, FakeImage.blob("amd")], config: "amd")
        let arm = FakeImage.image(layers: [shared, FakeImage.blob("arm")], config: "arm")
        let index = FakeImage.index([("linux/amd64", amd), ("linux/arm64", arm)])
        index.seed(into: src, repository: "dev/m", tag: "2.0")
        let results = await engine().promote([image("m", tags: ["2.0", "stable"], reference: "2.0")])
        XCTAssertEqual(results[0].status, .promoted, "\(String(describing: results[0].error))")
        XCTAssertEqual(dst.digest(repository: "prod/m", tag: "2.0"), index.digest)
        XCTAssertEqual(dst.digest(repository: "prod/m", tag: "stable"), index.digest)
        let puts = dst.requests.filter { $0.op == .putManifest }.map(\.reference)
        XCTAssertEqual(Array(puts.suffix(2)), ["2.0", "stable"], "tags last: \(puts)")
        XCTAssertEqual(Set(puts.prefix(2)), [amd.digest, arm.digest])
        XCTAssertEqual(dst.requests.filter { $0.op == .upload && $0.reference == SHA256.digest(shared) }.count, 1)
        XCTAssertEqual(results[0].report?.blobs.copied, 5, "2 configs + shared + 2 own, each counted once")
        XCTAssertEqual(results[0].report?.platforms, ["linux/amd64", "linux/arm64"])
    }

    func testBlobsStartWhileOtherManifestsAreStillBeingFetched() async throws {
        _ = seedApps(["a", "b"])
        src.delay(.milliseconds(300)) { $0.op == .getManifest && $0.repository == "dev/b" }
        _ = await engine().promote([image("a"), image("b")])
        let events = dst.events + src.events
        _ = events
        let srcEvents = src.events
        guard let slowEnd = srcEvents.firstIndex(of: .end(.init(op: .getManifest, repository: "dev/b", reference: "1.0"))),
              let firstBlobRead = srcEvents.firstIndex(where: { if case .start(let r) = $0 { return r.op == .getBlob } else { return false } })
        else { return XCTFail("missing events: \(srcEvents)") }
        XCTAssertLessThan(firstBlobRead, slowEnd, "image a's blobs moved while image b's manifest was in flight")
        // Image a's manifest went in before image b's was even fetched.
        XCTAssertTrue(dst.requests.contains { $0.op == .putManifest && $0.repository == "prod/a" })
    }

    func testPlatformSelectionPromotesTheChildWithItsOwnDigest() async throws {
        let amd = FakeImage.image(layers: [FakeImage.blob("amd")], config: "amd")
        let arm = FakeImage.image(layers: [FakeImage.blob("arm")], config: "arm")
        let index = FakeImage.index([("linux/amd64", amd), ("linux/arm64", arm)])
        index.seed(into: src, repository: "dev/m", tag: "2.0")
        var img = image("m", reference: "2.0")
        img.platform = try Platform.parse("linux/arm64")
        let results = await engine().promote([img])
        XCTAssertEqual(results[0].resolved?.digest, arm.digest)
        XCTAssertEqual(results[0].resolved?.referenceDigest, index.digest)
        XCTAssertEqual(dst.digest(repository: "prod/m", tag: "1.0"), arm.digest)
        XCTAssertFalse(dst.hasBlob(SHA256.digest(FakeImage.blob("amd")), repository: "prod/m"))
    }

    func testPlanReadsOnlyTheSourceAndWritesNothing() async throws {
        let apps = seedApps(["a", "b"])
        let planned = await engine().plan([image("a"), image("b")])
        XCTAssertEqual(planned.map(\.status), [.planned, .planned])
        XCTAssertEqual(planned.map { $0.resolved?.digest }, [apps["a"]!.digest, apps["b"]!.digest])
        XCTAssertEqual(dst.requests, [])
        XCTAssertEqual(src.requests.map(\.op), [.getManifest, .getManifest])
    }

    func testPlanReadsAPinnedDigestToVouchForIt() async throws {
        _ = seedApps(["a"])
        let missing = "sha256:" + String(repeating: "0", count: 64)
        let planned = await engine().plan([image("a", reference: missing)])
        XCTAssertEqual(planned[0].status, .failed)
        XCTAssertEqual((planned[0].error as? RegistryError)?.kind, .notFound)
    }

    func testDryRunReportsCopyMountSkipAndWritesNothing() async throws {
        _ = seedApps()
        let results = await engine(ReleaseOptions(dryRun: true)).promote(["a", "b", "c"].map { image($0) })
        XCTAssertEqual(results.map(\.status), [.planned, .planned, .planned])
        XCTAssertFalse(dst.requests.contains { [.putManifest, .upload, .mount].contains($0.op) }, "\(dst.requests)")
        XCTAssertEqual(results.compactMap(\.report).map(\.blobs.mounted).reduce(0, +), 2, "the shared base would be mounted twice")
        XCTAssertEqual(results.compactMap(\.report).map(\.blobs.copied).reduce(0, +), 7)
    }

    func testHooksRunPerImageAtTheirPointsAndAFailingHookStopsOnlyItsImage() async throws {
        _ = seedApps(["a", "b"])
        let seen = Locked([String]())
        let dst = self.dst
        let ok = PromotionHooks(preflight: { seen.withLock { $0.append("preflight a") } },
                                verifySource: { d, _ in seen.withLock { $0.append("verify a \(d.prefix(13))") } },
                                beforeTag: { digests in
                                    let tagged = dst.digest(repository: "prod/a", tag: "1.0") != nil
                                    seen.withLock { $0.append("beforeTag a \(digests.count) tagged=\(tagged)") }
                                    return nil
                                })
        let refuse = PromotionHooks(verifySource: { _, _ in throw RegistryError(.denied, "unsigned") })
        let results = await engine().promote([image("a", hooks: ok), image("b", hooks: refuse)])
        XCTAssertEqual(results.map(\.status), [.promoted, .failed])
        let log = seen.withLock { $0 }
        XCTAssertEqual(log.first, "preflight a")
        XCTAssertEqual(log.last, "beforeTag a 1 tagged=false")
        XCTAssertFalse(dst.requests.contains { $0.repository == "prod/b" && $0.op != .headManifest }, "nothing moved for b")
    }

    func testSourceCheckGetsThePlatformDigestAndTheIndexTheUserNamed() async throws {
        let amd = FakeImage.image(layers: [FakeImage.blob("amd")], config: "amd64")
        let arm = FakeImage.image(layers: [FakeImage.blob("arm")], config: "arm64")
        let index = FakeImage.index([("linux/amd64", amd), ("linux/arm64", arm)])
        index.seed(into: src, repository: "dev/m", tag: "1.0")
        _ = seedApps(["a"])
        let seen = Locked([String: [String]]())
        func hooks(_ name: String) -> PromotionHooks {
            PromotionHooks(verifySource: { d, named in seen.withLock { $0[name] = [d, named] } })
        }
        var multi = ReleaseImage(name: "m", sourceRepository: "dev/m", sourceReference: "1.0", destinationRepository: "prod/m",
                                 tags: ["1.0"], hooks: hooks("m"))
        multi.platform = Platform(architecture: "arm64", os: "linux")
        let results = await engine().promote([multi, image("a", hooks: hooks("a"))])
        XCTAssertEqual(results.map(\.status), [.promoted, .promoted], "\(results.map { $0.error.map { "\($0)" } })")
        XCTAssertEqual(seen.withLock { $0["m"] }, [arm.digest, index.digest], "the selected platform, then the index named")
        let a = results[1].resolved!.digest
        XCTAssertEqual(seen.withLock { $0["a"] }, [a, a], "no platform selected: the one digest twice")
    }

    func testAttachmentWorkRunsOnTheNoOpPathWithinOneDestinationHeadPerImage() async throws {
        let apps = seedApps(["a", "b"])
        let amd = FakeImage.image(layers: [FakeImage.blob("amd")], config: "amd64")
        let arm = FakeImage.image(layers: [FakeImage.blob("arm")], config: "arm64")
        let index = FakeImage.index([("linux/amd64", amd), ("linux/arm64", arm)])
        index.seed(into: src, repository: "dev/m", tag: "1.0")
        let present = Locked([String: [String]]())
        func hooks(_ name: String) -> PromotionHooks {
            PromotionHooks(beforeTag: { _ in AttachmentCounts(signatures: 1) },
                           whenPresent: { digests in
                               present.withLock { $0[name] = digests }
                               return AttachmentCounts(signatures: 1, alreadyPresent: 1)
                           })
        }
        let first = await engine().promote(["a", "b", "m"].map { image($0, hooks: hooks($0)) })
        XCTAssertEqual(first.map(\.status), [.promoted, .promoted, .promoted])
        XCTAssertEqual(first[0].report?.attachments, AttachmentCounts(signatures: 1), "beforeTag's counts reach the report")
        XCTAssertEqual(present.withLock { $0 }, [:], "not run when the image was promoted")
        dst.resetLog()
        src.resetLog()
        let again = await engine().promote(["a", "b", "m"].map { image($0, hooks: hooks($0)) })
        XCTAssertEqual(again.map(\.status), [.present, .present, .present])
        XCTAssertEqual(dst.requests.map(\.op), [.headManifest, .headManifest, .headManifest], "one HEAD per image")
        XCTAssertEqual(present.withLock { $0["a"] }, [apps["a"]!.digest])
        XCTAssertEqual(present.withLock { $0["m"] }, [amd.digest, arm.digest, index.digest], "children first, then the index")
        XCTAssertEqual(again[2].report?.attachments, AttachmentCounts(signatures: 1, alreadyPresent: 1))

        // Pinned: the source is asked only for an index's children, never for a single manifest.
        src.resetLog()
        present.withLock { $0 = [:] }
        let pinned = [image("a", reference: apps["a"]!.digest, hooks: hooks("a")), image("m", reference: index.digest, hooks: hooks("m"))]
        let third = await engine().promote(pinned)
        XCTAssertEqual(third.map(\.status), [.present, .present])
        XCTAssertEqual(src.requests.map(\.reference), [index.digest], "\(src.requests)")
        XCTAssertEqual(present.withLock { $0["m"] }, [amd.digest, arm.digest, index.digest])

        // Without the hook the no-op asks nothing more (as `--attachments none`).
        src.resetLog()
        let plain = await engine().promote(pinned.map { var i = $0; i.hooks = PromotionHooks(); return i })
        XCTAssertEqual(plain.map(\.status), [.present, .present])
        XCTAssertEqual(src.requests, [])
        XCTAssertNil(plain[0].report?.attachments)
    }

    /// The look-ahead starts once the manifests are known, before any manifest is pushed (its lookups
    /// overlap the blobs); when it finds nothing to write before the tag, the top manifest is written by
    /// the tag PUT alone, else by digest first so what hangs off it never names a missing manifest.
    func testLookAheadRunsBeforeTheBlobsLandAndSparesTheTopPutWhenNothingWillBeAttached() async throws {
        let amd = FakeImage.image(layers: [FakeImage.blob("amd")], config: "amd64")
        let arm = FakeImage.image(layers: [FakeImage.blob("arm")], config: "arm64")
        let index = FakeImage.index([("linux/amd64", amd), ("linux/arm64", arm)])
        index.seed(into: src, repository: "dev/m", tag: "1.0")
        index.seed(into: src, repository: "dev/n", tag: "1.0")
        dst.delay(.milliseconds(20)) { $0.op == .upload }
        let dst = self.dst
        let seen = Locked([String: (digests: [String], pushedBefore: Bool)]())
        func hooks(_ name: String, attaches: Bool) -> PromotionHooks {
            PromotionHooks(beforeTag: { _ in attaches ? AttachmentCounts(signatures: 1) : AttachmentCounts() },
                           lookAhead: { digests in
                               let pushed = dst.requests.contains { $0.op == .putManifest && $0.repository == "prod/\(name)" }
                               seen.withLock { $0[name] = (digests, pushed) }
                               return attaches
                           })
        }
        let results = await engine().promote([image("m", hooks: hooks("m", attaches: false)),
                                              image("n", hooks: hooks("n", attaches: true))])
        XCTAssertEqual(results.map(\.status), [.promoted, .promoted], "\(results.map { $0.error.map { "\($0)" } })")
        for name in ["m", "n"] {
            let s = try XCTUnwrap(seen.withLock { $0[name] })
            XCTAssertEqual(s.digests, [amd.digest, arm.digest, index.digest], "children first, then the index")
            XCTAssertFalse(s.pushedBefore, "\(name): asked before its blobs (20 ms each) landed and any manifest was pushed")
        }
        let puts = { (repo: String) in dst.requests.filter { $0.op == .putManifest && $0.repository == repo }.map(\.reference) }
        XCTAssertEqual(Set(puts("prod/m")), [amd.digest, arm.digest, "1.0"], "nothing attached: no PUT of the index by digest")
        XCTAssertEqual(puts("prod/m").last, "1.0")
        XCTAssertEqual(Array(puts("prod/n").suffix(2)), [index.digest, "1.0"], "attachments coming: by digest, then the tag")
        XCTAssertEqual(dst.digest(repository: "prod/m", tag: "1.0"), index.digest)

        // A dry run looks nothing up.
        seen.withLock { $0 = [:] }
        _ = await engine(ReleaseOptions(dryRun: true)).promote([image("m", tags: ["2.0"], hooks: hooks("m", attaches: false))])
        XCTAssertTrue(seen.withLock { $0.isEmpty })
    }

    func testGateHoldsTheConcurrencyLimitPerRegistry() async throws {
        _ = seedApps(["a", "b", "c", "d"])
        dst.delay(.milliseconds(20)) { _ in true }
        let gate = RequestGate(limit: 2)
        let results = await engine(destination: GatedEndpoint(dst, gate: gate)).promote(["a", "b", "c", "d"].map { image($0) })
        XCTAssertEqual(results.map(\.status), [.promoted, .promoted, .promoted, .promoted])
        XCTAssertLessThanOrEqual(dst.peakInFlight, 2)
        let peak = await gate.peak
        XCTAssertEqual(peak, 2)
    }

    func testThrottleSlowsOnlyItsRegistry() async throws {
        let slow = RequestGate(limit: 4), other = RequestGate(limit: 4)
        await slow.throttle(seconds: 0.3)
        let clock = ContinuousClock()
        let t0 = clock.now
        _ = try await other.run { 1 }
        let otherTook = clock.now - t0
        _ = try await slow.run { 1 }
        let slowTook = clock.now - t0
        XCTAssertLessThan(otherTook, .milliseconds(250))
        XCTAssertGreaterThanOrEqual(slowTook, .milliseconds(250))
        let throttles = await slow.throttles
        XCTAssertEqual(throttles, 1)
    }

    func testRequestsPerSecondBudgetSpacesRequests() async throws {
        let gate = RequestGate(limit: 8, requestsPerSecond: 20)
        let clock = ContinuousClock()
        let t0 = clock.now
        try await withThrowingTaskGroup(of: Int.self) { g in
            for i in 0..<5 { g.addTask { try await gate.run { i } } }
            try await g.waitForAll()
        }
        // 5 requests at 20/s: the last may start 200 ms after the first, not before.
        XCTAssertGreaterThanOrEqual(clock.now - t0, .milliseconds(190))
    }

    func testShardsPartitionByDestinationRepository() {
        let repos = (0..<200).map { "team\($0 % 7)/app\($0)" }
        for n in [1, 2, 3, 7] {
            var owners = [String: Int]()
            for i in 1...n {
                let shard = Shard(index: i, count: n)!
                for r in repos where shard.contains(destinationRepository: r) {
                    XCTAssertNil(owners[r], "\(r) in two shards")
                    owners[r] = i
                }
            }
            XCTAssertEqual(owners.count, repos.count, "every repository in exactly one of \(n) shards")
        }
        XCTAssertEqual(Shard.parse("2/3"), Shard(index: 2, count: 3))
        for bad in ["0/3", "4/3", "1/0", "a/b", "1", "1/2/3", "-1/2", ""] { XCTAssertNil(Shard.parse(bad), bad) }
    }
}
