import HTTPTransport
import OCIRegistry
import Promotion
import XCTest

/// `copy` on the release engine (`ReleaseEngine.copy`): its events, report, no-op fast path, the
/// pipeline inside one multi-arch image, and tags that are put back when a later tag write fails.
final class CopyEngineTests: XCTestCase {
    let src = FakeRegistry(host: "src.example:5000")
    let dst = FakeRegistry(host: "dst.example:5000")

    func request(_ from: String, _ to: String, platform: String? = nil, dryRun: Bool = false,
                 hooks: PromotionHooks = PromotionHooks()) throws -> PromotionRequest {
        PromotionRequest(source: try ImageReference.parse(from), destination: try ImageReference.parse(to),
                         platform: try platform.map { try Platform.parse($0) }, dryRun: dryRun, hooks: hooks)
    }

    func copy(_ request: PromotionRequest, events: Locked<[PromotionEvent]> = Locked([])) async throws -> PromotionReport {
        try await ReleaseEngine.copy(request, source: src, destination: dst, events: { e in events.withLock { $0.append(e) } })
    }

    /// Two platforms sharing a layer, seeded as dev/m:2.0.
    func seedIndex() -> (index: FakeImage, amd: FakeImage, arm: FakeImage) {
        let shared = FakeImage.blob("shared")
        let amd = FakeImage.image(layers: [shared, FakeImage.blob("amd")], config: "amd")
        let arm = FakeImage.image(layers: [shared, FakeImage.blob("arm")], config: "arm")
        let index = FakeImage.index([("linux/amd64", amd), ("linux/arm64", arm)])
        index.seed(into: src, repository: "dev/m", tag: "2.0")
        return (index, amd, arm)
    }

    func testIndexCopyReportsAndEventsAsCopyDid() async throws {
        let (index, amd, arm) = seedIndex()
        let events = Locked<[PromotionEvent]>([])
        let report = try await copy(try request("src.example:5000/dev/m:2.0", "dst.example:5000/prod/m:2.0"), events: events)
        XCTAssertEqual(dst.digest(repository: "prod/m", tag: "2.0"), index.digest)
        XCTAssertEqual(report.source.reference, "src.example:5000/dev/m:2.0")
        XCTAssertEqual(report.destination.reference, "dst.example:5000/prod/m:2.0")
        XCTAssertEqual(report.pinnedDestination, "dst.example:5000/prod/m@\(index.digest)")
        XCTAssertEqual(report.platforms, ["linux/amd64", "linux/arm64"])
        XCTAssertEqual(report.blobs.copied, 5)
        XCTAssertEqual(report.bytes.copied, report.bytes.total)
        XCTAssertEqual(report.manifests, 3, "two children and the index")
        XCTAssertFalse(report.alreadyPresent)
        let log = events.withLock { $0 }
        guard case .resolved(let digest, _, let platforms)? = log.first else { return XCTFail("\(log)") }
        XCTAssertEqual(digest, index.digest)
        XCTAssertEqual(platforms, 2)
        let planned = log.compactMap { if case .planned(let b, let n) = $0 { return (b, n) } else { return nil } }
        XCTAssertEqual(planned.count, 1, "one plan event, once the whole tree is known")
        XCTAssertEqual(planned.first?.0, 5)
        XCTAssertEqual(planned.first?.1, report.bytes.total)
        XCTAssertEqual(log.filter { if case .blobDone(_, _, .copied) = $0 { return true } else { return false } }.count, 5)
        XCTAssertEqual(log.filter { if case .blobStarted = $0 { return true } else { return false } }.count, 5)
        let pushed = log.compactMap { if case .manifestPushed(let d, let r) = $0 { return "\(d) \(r)" } else { return nil } }
        XCTAssertEqual(Set(pushed.prefix(2)), ["\(amd.digest) \(amd.digest)", "\(arm.digest) \(arm.digest)"])
        XCTAssertEqual(pushed.last, "\(index.digest) 2.0", "the tag last")
    }

    func testNoOpIsOneDestinationHeadAlongsideTheSourceGet() async throws {
        let (index, _, _) = seedIndex()
        let req = try request("src.example:5000/dev/m:2.0", "dst.example:5000/prod/m:2.0")
        _ = try await copy(req)
        dst.resetLog()
        src.resetLog()
        let events = Locked<[PromotionEvent]>([])
        let report = try await copy(req, events: events)
        XCTAssertTrue(report.alreadyPresent)
        XCTAssertEqual(report.destination.digest, index.digest)
        XCTAssertEqual(dst.requests, [.init(op: .headManifest, repository: "prod/m", reference: "2.0")])
        XCTAssertEqual(src.requests.filter { $0.op == .getManifest }.count, 1, "children not fetched on a no-op")
        XCTAssertTrue(events.withLock { $0 }.contains { if case .alreadyPresent = $0 { return true } else { return false } })
    }

    func testSourcePinnedByDigestIsReadToReportWhatIsPromoted() async throws {
        let (index, _, _) = seedIndex()
        let report = try await copy(try request("src.example:5000/dev/m@\(index.digest)", "dst.example:5000/prod/m:2.0"))
        XCTAssertEqual(report.source.reference, "src.example:5000/dev/m@\(index.digest)")
        XCTAssertEqual(report.mediaType, MediaType.ociIndex)
        XCTAssertEqual(report.platforms, ["linux/amd64", "linux/arm64"])
        XCTAssertEqual(src.requests.filter { $0.op == .getManifest && $0.reference == index.digest }.count, 1, "read once")
    }

    func testDestinationDigestMustMatchAndNothingIsWritten() async throws {
        let (index, amd, _) = seedIndex()
        do {
            _ = try await copy(try request("src.example:5000/dev/m:2.0", "dst.example:5000/prod/m@\(amd.digest)"))
            XCTFail("a destination digest that differs must be refused")
        } catch let error as RegistryError {
            XCTAssertEqual(error.kind, .integrity)
            XCTAssertTrue(error.message.contains(index.digest), error.message)
        }
        XCTAssertFalse(dst.requests.contains { $0.op == .putManifest || $0.op == .upload })
    }

    func testPlatformCopyKeepsTheChildDigestAndNamesItsSourceByTag() async throws {
        let (_, _, arm) = seedIndex()
        let report = try await copy(try request("src.example:5000/dev/m:2.0", "dst.example:5000/prod/m:arm", platform: "linux/arm64"))
        XCTAssertEqual(dst.digest(repository: "prod/m", tag: "arm"), arm.digest)
        XCTAssertEqual(report.source.digest, arm.digest)
        XCTAssertEqual(report.platforms, [])
        do {
            _ = try await copy(try request("src.example:5000/dev/m:2.0", "dst.example:5000/prod/m:s390", platform: "linux/s390x"))
            XCTFail("no such platform")
        } catch let error as RegistryError {
            XCTAssertEqual(error.kind, .notFound)
            XCTAssertTrue(error.message.contains("linux/amd64, linux/arm64"), error.message)
        }
    }

    func testDryRunPlansEveryBlobOnceAndWritesNothing() async throws {
        _ = seedIndex()
        let report = try await copy(try request("src.example:5000/dev/m:2.0", "dst.example:5000/prod/m:2.0", dryRun: true))
        XCTAssertTrue(report.dryRun)
        XCTAssertEqual(report.plan?.count, 5)
        XCTAssertEqual(Set(report.plan?.map(\.action) ?? []), [.copied])
        XCTAssertEqual(report.manifests, 0)
        XCTAssertFalse(dst.requests.contains { [.putManifest, .upload, .mount].contains($0.op) })
    }

    func testSameRegistryMountsEverythingAndUploadsNothing() async throws {
        let one = FakeRegistry(host: "one.example")
        let img = FakeImage.image(layers: [FakeImage.blob("l1")], config: "x")
        img.seed(into: one, repository: "dev/a", tag: "1.0")
        let report = try await ReleaseEngine.copy(try request("one.example/dev/a:1.0", "one.example/prod/a:1.0"),
                                                  source: one, destination: one)
        XCTAssertEqual(report.blobs.mounted, 2)
        XCTAssertFalse(one.requests.contains { $0.op == .upload || $0.op == .headBlob })
    }

    func testHooksRunAtTheirPointsOnCopy() async throws {
        let (index, amd, arm) = seedIndex()
        let seen = Locked<[String]>([])
        let dst = self.dst
        let hooks = PromotionHooks(
            preflight: { seen.withLock { $0.append("preflight") } },
            verifySource: { d, n in seen.withLock { $0.append("verify \(d == n)") } },
            beforeTag: { digests in
                // Every manifest is in by digest, the tag is not.
                seen.withLock { $0.append("beforeTag \(digests.count) tagged=\(dst.digest(repository: "prod/m", tag: "2.0") != nil)") }
                return AttachmentCounts(signatures: 1)
            })
        let report = try await copy(try request("src.example:5000/dev/m:2.0", "dst.example:5000/prod/m:2.0", hooks: hooks))
        XCTAssertEqual(seen.withLock { $0 }, ["preflight", "verify true", "beforeTag 3 tagged=false"])
        XCTAssertEqual(report.attachments?.signatures, 1)
        XCTAssertEqual(Set(dst.requests.filter { $0.op == .putManifest }.map(\.reference)),
                       [amd.digest, arm.digest, index.digest, "2.0"])
    }

    // MARK: no idle waits inside one multi-arch image

    func testEachPlatformIsPushedAsSoonAsItsOwnBlobsAreInIndexAfterTagLast() async throws {
        let (index, amd, arm) = seedIndex()
        let slowArm = SHA256.digest(FakeImage.blob("arm"))
        // Both child manifests take a while to fetch, arm64's longer; one of its layers is slow to upload.
        src.delay(.milliseconds(50)) { $0.op == .getManifest && $0.reference == amd.digest }
        src.delay(.milliseconds(200)) { $0.op == .getManifest && $0.reference == arm.digest }
        dst.delay(.milliseconds(300)) { $0.op == .upload && $0.reference == slowArm }
        _ = try await copy(try request("src.example:5000/dev/m:2.0", "dst.example:5000/prod/m:2.0"))
        let srcLog = src.events, dstLog = dst.events
        func at(_ log: [FakeRegistry.Event], _ event: FakeRegistry.Event) -> Int {
            log.firstIndex(of: event) ?? Int.max
        }
        // Both child manifests were requested before either answered.
        let armGet = FakeRegistry.Request(op: .getManifest, repository: "dev/m", reference: arm.digest)
        let amdGet = FakeRegistry.Request(op: .getManifest, repository: "dev/m", reference: amd.digest)
        XCTAssertLessThan(max(at(srcLog, .start(armGet)), at(srcLog, .start(amdGet))), min(at(srcLog, .end(armGet)), at(srcLog, .end(amdGet))))
        // amd64's blobs moved while arm64's manifest was still being fetched.
        let firstRead = srcLog.firstIndex { if case .start(let r) = $0 { return r.op == .getBlob } else { return false } } ?? Int.max
        XCTAssertLessThan(firstRead, at(srcLog, .end(armGet)))
        // amd64's manifest went in while arm64's slow layer was still uploading; the index after both; the tag last.
        let slowUpload = FakeRegistry.Request(op: .upload, repository: "prod/m", reference: slowArm)
        let amdPut = FakeRegistry.Request(op: .putManifest, repository: "prod/m", reference: amd.digest)
        let armPut = FakeRegistry.Request(op: .putManifest, repository: "prod/m", reference: arm.digest)
        XCTAssertLessThan(at(dstLog, .start(amdPut)), at(dstLog, .end(slowUpload)))
        XCTAssertLessThan(at(dstLog, .end(slowUpload)), at(dstLog, .start(armPut)))
        XCTAssertEqual(dst.requests.filter { $0.op == .putManifest }.last?.reference, "2.0")
        XCTAssertEqual(dst.digest(repository: "prod/m", tag: "2.0"), index.digest)
    }

    // MARK: a failed image leaves no tag

    /// prod/a: "1.0" already points at an older image; "stable" and "latest" are new.
    func seedRetag() -> (new: FakeImage, old: FakeImage) {
        let old = FakeImage.image(layers: [FakeImage.blob("old")], config: "old")
        old.seed(into: dst, repository: "prod/a", tag: "1.0")
        let new = FakeImage.image(layers: [FakeImage.blob("new")], config: "new")
        new.seed(into: src, repository: "dev/a", tag: "1.1")
        return (new, old)
    }

    func testAFailedLaterTagWritePutsBackTheTagsWrittenBeforeIt() async throws {
        let (new, old) = seedRetag()
        dst.fail(RegistryError(.denied, "dst.example:5000: PUT manifest prod/a:latest: denied", status: 403)) {
            $0.op == .putManifest && $0.reference == "latest"
        }
        let image = ReleaseImage(name: "dev/a:1.1", sourceRepository: "dev/a", sourceReference: "1.1",
                                 destinationRepository: "prod/a", tags: ["1.0", "stable", "latest"])
        let results = await ReleaseEngine(source: src, destination: dst).promote([image])
        XCTAssertEqual(results[0].status, .failed)
        let error = try XCTUnwrap(results[0].error as? RegistryError)
        XCTAssertEqual(error.kind, .denied, "the failure keeps its class (exit code)")
        XCTAssertTrue(error.message.contains("put back tag 1.0"), error.message)
        XCTAssertTrue(error.message.contains("deleted the new tag stable"), error.message)
        XCTAssertEqual(dst.digest(repository: "prod/a", tag: "1.0"), old.digest, "back to what it was")
        XCTAssertNil(dst.digest(repository: "prod/a", tag: "stable"))
        XCTAssertNil(dst.digest(repository: "prod/a", tag: "latest"))
        XCTAssertNotNil(dst.digest(repository: "prod/a", tag: new.digest), "the image itself stays, by digest")
        // The old manifest's own bytes went back (fetched by digest).
        XCTAssertTrue(dst.requests.contains(.init(op: .getManifest, repository: "prod/a", reference: old.digest)))
    }

    func testARegistryThatCannotDeleteTagsGetsThemNamedInTheError() async throws {
        let (new, _) = seedRetag()
        dst.fail(RegistryError(.other, "dst.example:5000: PUT manifest prod/a:latest: unavailable", status: 503)) {
            $0.op == .putManifest && $0.reference == "latest"
        }
        dst.fail(RegistryError(.other, "dst.example:5000: DELETE tag prod/a:stable: UNSUPPORTED", status: 405)) { $0.op == .deleteTag }
        let image = ReleaseImage(name: "dev/a:1.1", sourceRepository: "dev/a", sourceReference: "1.1",
                                 destinationRepository: "prod/a", tags: ["1.0", "stable", "latest"])
        let results = await ReleaseEngine(source: src, destination: dst).promote([image])
        let error = try XCTUnwrap(results[0].error as? RegistryError)
        XCTAssertTrue(error.message.contains("writing tag latest failed"), error.message)
        XCTAssertTrue(error.message.contains("put back tag 1.0"), error.message)
        XCTAssertTrue(error.message.contains("tag stable still points at the new image (complete"), error.message)
        XCTAssertTrue(error.message.contains("UNSUPPORTED"), error.message)
        XCTAssertEqual(dst.digest(repository: "prod/a", tag: "stable"), new.digest)
    }

    func testTagsThatAlreadyHaveTheImageAreNotRewritten() async throws {
        let (new, _) = seedRetag()
        _ = try await ReleaseEngine.copy(try request("src.example:5000/dev/a:1.1", "dst.example:5000/prod/a:stable"),
                                         source: src, destination: dst)
        dst.resetLog()
        let image = ReleaseImage(name: "dev/a:1.1", sourceRepository: "dev/a", sourceReference: "1.1",
                                 destinationRepository: "prod/a", tags: ["stable", "1.0"])
        let results = await ReleaseEngine(source: src, destination: dst).promote([image])
        XCTAssertEqual(results[0].status, .promoted)
        XCTAssertEqual(dst.requests.filter { $0.op == .putManifest }.map(\.reference), ["1.0"])
        XCTAssertEqual(dst.digest(repository: "prod/a", tag: "1.0"), new.digest)
    }
}
