import HTTPTransport
import TestSupport
import XCTest

/// `HTTPClient.transfer`: GET from a BlobServer, PUT into an UploadSink that hashes what arrives.
final class BlobTransferTests: XCTestCase {
    private func copy(size: Int64, seed: UInt64, client: HTTPClient = sharedTestClient) async throws {
        let source = try BlobServer()
        defer { source.stop() }
        let sink = try UploadSink()
        defer { sink.stop() }
        let blob = RandomBlob(seed: seed, size: size)
        source.add("/v2/app/blobs/\(blob.digest)", .random(blob))
        let outcome = try await withDeadline(120) {
            try await client.transfer(BlobTransfer(
                source: HTTPRequest(url: source.url("/v2/app/blobs/\(blob.digest)")),
                destination: HTTPRequest(method: "PUT", url: sink.url("/v2/dst/blobs/uploads/1?digest=\(blob.digest)")),
                expectedDigest: blob.digest, expectedSize: size))
        }
        guard case .completed(let bytes, let resumes, let response) = outcome else { return XCTFail("size \(size): \(outcome)") }
        XCTAssertEqual(bytes, size)
        XCTAssertEqual(resumes, 0)
        XCTAssertEqual(response?.status, 201)
        XCTAssertEqual(response?.headers["Docker-Content-Digest"], blob.digest)
        sink.waitForUploads(count: 1)
        let uploads = sink.uploads
        XCTAssertEqual(uploads.count, 1)
        XCTAssertEqual(uploads.first?.bytesReceived, size)
        XCTAssertEqual(uploads.first?.digest, blob.digest, "the sink hashed exactly the blob")
        XCTAssertEqual(uploads.first?.announcedLength, size, "the upload announces the descriptor size")
    }

    func testZeroBytes() async throws { try await copy(size: 0, seed: 1) }
    func testOneByte() async throws { try await copy(size: 1, seed: 2) }
    func testTenMiB() async throws { try await copy(size: 10 << 20, seed: 3) }
    func testHundredMiB() async throws { try await copy(size: 100 << 20, seed: 4) }

    /// The upload request handed over after the GET started (its session was still being opened):
    /// the GET runs first, the bytes wait (a blob larger than the pipe pauses it), then flow on.
    func testPendingUploadProvidedAfterTheSourceStarted() async throws {
        for (size, seed) in [(Int64(0), UInt64(40)), (1, 41), (5 << 20, 42)] {
            let source = try BlobServer()
            defer { source.stop() }
            let sink = try UploadSink()
            defer { sink.stop() }
            let blob = RandomBlob(seed: seed, size: size)
            source.add("/blob", .random(blob))
            let pending = sharedTestClient.pendingUpload()
            var transfer = BlobTransfer(source: HTTPRequest(url: source.url("/blob")), destination: nil,
                                        expectedDigest: blob.digest, expectedSize: size)
            transfer.pendingDestination = pending
            let planned = transfer
            async let outcome = transferWithin(60, planned)
            let deadline = monotonicNanos() + 10_000_000_000
            while source.requests.isEmpty && monotonicNanos() < deadline { try await Task.sleep(for: .milliseconds(5)) }
            XCTAssertEqual(source.requests.count, 1, "the GET starts before the upload is known")
            try await Task.sleep(for: .milliseconds(200))
            XCTAssertEqual(sink.server.statistics.requests, 0, "nothing uploaded before the request is provided")
            pending.provide(HTTPRequest(method: "PUT", url: sink.url("/upload?digest=\(blob.digest)")))
            guard case .completed(let bytes, _, let response) = try await outcome else { return XCTFail("size \(size)") }
            XCTAssertEqual(bytes, size)
            XCTAssertEqual(response?.status, 201)
            sink.waitForUploads(count: 1)
            XCTAssertEqual(sink.uploads.first?.digest, blob.digest, "size \(size)")
            XCTAssertEqual(sink.uploads.first?.bytesReceived, size)
        }
    }

    func testAbandonedPendingUploadFailsWithTheGivenError() async throws {
        struct SessionRefused: Error, Equatable {}
        let source = try BlobServer()
        defer { source.stop() }
        let blob = RandomBlob(seed: 43, size: 5 << 20)
        source.add("/blob", .random(blob))
        let pending = sharedTestClient.pendingUpload()
        var transfer = BlobTransfer(source: HTTPRequest(url: source.url("/blob")), destination: nil,
                                    expectedDigest: blob.digest, expectedSize: blob.size)
        transfer.pendingDestination = pending
        let planned = transfer
        async let outcome = transferWithin(60, planned)
        try await Task.sleep(for: .milliseconds(100))
        pending.abandon(SessionRefused())
        do {
            _ = try await outcome
            XCTFail("an abandoned upload must fail the transfer")
        } catch let error as SessionRefused {
            XCTAssertEqual(error, SessionRefused())
        }
    }

    func testVerifyOnlyWithoutDestination() async throws {
        let source = try BlobServer()
        defer { source.stop() }
        let blob = RandomBlob(seed: 5, size: 5 << 20)
        source.add("/blob", .random(blob))
        // Larger than the 2 MiB pipe: without a destination nothing drains the ring.
        let outcome = try await withDeadline(30) {
            try await transferWithin(60, BlobTransfer(source: HTTPRequest(url: source.url("/blob")), destination: nil,
                                                         expectedDigest: blob.digest, expectedSize: blob.size))
        }
        guard case .completed(let bytes, _, let response) = outcome else { return XCTFail("\(outcome)") }
        XCTAssertEqual(bytes, blob.size)
        XCTAssertNil(response)
    }

    func testDigestMismatchNeverCompletesTheUpload() async throws {
        let source = try BlobServer()
        defer { source.stop() }
        let sink = try UploadSink()
        defer { sink.stop() }
        let blob = RandomBlob(seed: 6, size: 6 << 20)
        source.add("/blob", .random(blob))
        let wrong = RandomBlob(seed: 60, size: 6 << 20).digest
        await assertTransportError(.digestMismatch) {
            try await withDeadline(60) {
                try await transferWithin(60, BlobTransfer(source: HTTPRequest(url: source.url("/blob")),
                                                             destination: HTTPRequest(method: "PUT", url: sink.url("/upload")),
                                                             expectedDigest: wrong, expectedSize: blob.size))
            }
        }
        sink.waitForUploads(count: 1, timeoutSeconds: 5)
        for upload in sink.uploads {
            XCTAssertFalse(upload.complete, "the sink must never see the complete body")
            XCTAssertLessThan(upload.bytesReceived, blob.size)
        }
    }

    func testSizeMismatchIsRejected() async throws {
        let source = try BlobServer()
        defer { source.stop() }
        let sink = try UploadSink()
        defer { sink.stop() }
        let blob = RandomBlob(seed: 7, size: 1 << 20)
        source.add("/blob", .random(blob))
        for claimed in [blob.size - 1, blob.size + 1] {
            await assertTransportError(.sizeMismatch) {
                try await withDeadline(60) {
                    try await transferWithin(60, BlobTransfer(source: HTTPRequest(url: source.url("/blob")),
                                                                 destination: HTTPRequest(method: "PUT", url: sink.url("/upload")),
                                                                 expectedDigest: blob.digest, expectedSize: claimed))
                }
            }
        }
        XCTAssertFalse(sink.uploads.contains { $0.complete }, "no upload may complete")
    }

    func testChunkedSourceLongerThanTheDescriptorIsRejected() async throws {
        let data = randomBytes(300_000)
        let source = try LoopbackServer { _, writer in
            try writer.writeHead(status: 200, contentLength: nil)      // chunked: the length is not announced
            try writer.write(data)
            try writer.finish()
        }
        defer { source.stop() }
        await assertTransportError(.sizeMismatch) {
            try await withDeadline(60) {
                try await transferWithin(60, BlobTransfer(source: HTTPRequest(url: source.url("/blob")), destination: nil,
                                                             expectedDigest: SHA256.digest(data.prefix(200_000)), expectedSize: 200_000))
            }
        }
    }

    func testSourceCutOnceIsResumedWithRange() async throws {
        let source = try BlobServer()
        defer { source.stop() }
        let proxy = try FaultProxy(upstream: source.baseURL, rules: [
            .init(method: "GET", pathContains: "/blob", fault: .cutAfter(bytes: 3 << 20), times: 1),
        ])
        defer { proxy.stop() }
        let sink = try UploadSink()
        defer { sink.stop() }
        let blob = RandomBlob(seed: 8, size: 8 << 20)
        source.add("/blob", .random(blob))
        let outcome = try await withDeadline(60) {
            try await transferWithin(60, BlobTransfer(source: HTTPRequest(url: proxy.url("/blob")),
                                                         destination: HTTPRequest(method: "PUT", url: sink.url("/upload")),
                                                         expectedDigest: blob.digest, expectedSize: blob.size))
        }
        guard case .completed(let bytes, let resumes, let response) = outcome else { return XCTFail("\(outcome)") }
        XCTAssertEqual(bytes, blob.size)
        XCTAssertEqual(resumes, 1)
        XCTAssertEqual(response?.status, 201)
        XCTAssertEqual(sink.uploads.first?.digest, blob.digest)
        let gets = source.requests.filter { $0.method == "GET" }
        XCTAssertEqual(gets.count, 2)
        XCTAssertNil(gets.first?.headers["Range"])
        XCTAssertNotNil(gets.last?.headers["Range"], "the resume asks for the rest with Range")
        XCTAssertEqual(gets.last?.status, 206)
        XCTAssertTrue(proxy.log.first?.interrupted ?? false)
    }

    func testTruncatedBodyWithFullContentLengthIsResumed() async throws {
        let source = try BlobServer()
        defer { source.stop() }
        let proxy = try FaultProxy(upstream: source.baseURL, rules: [.init(method: "GET", fault: .truncate(bytes: 100_000), times: 2)])
        defer { proxy.stop() }
        let blob = RandomBlob(seed: 9, size: 2 << 20)
        source.add("/blob", .random(blob))
        let outcome = try await withDeadline(60) {
            try await transferWithin(60, BlobTransfer(source: HTTPRequest(url: proxy.url("/blob")), destination: nil,
                                                         expectedDigest: blob.digest, expectedSize: blob.size))
        }
        guard case .completed(_, let resumes, _) = outcome else { return XCTFail("\(outcome)") }
        XCTAssertEqual(resumes, 2)
    }

    func testSourceNotFound() async throws {
        let source = try BlobServer()
        defer { source.stop() }
        let sink = try UploadSink()
        defer { sink.stop() }
        let outcome = try await transferWithin(60, BlobTransfer(
            source: HTTPRequest(url: source.url("/v2/app/blobs/sha256:missing")),
            destination: HTTPRequest(method: "PUT", url: sink.url("/upload")),
            expectedDigest: SHA256.digest([]), expectedSize: 0))
        guard case .sourceFailed(let response) = outcome else { return XCTFail("\(outcome)") }
        XCTAssertEqual(response.status, 404)
        XCTAssertTrue(response.bodyText.contains("BLOB_UNKNOWN"))
        XCTAssertTrue(sink.uploads.isEmpty, "nothing may be uploaded")
        XCTAssertEqual(sink.server.statistics.requests, 0)
    }

    func testSourceServerErrorIsReportedNotUploaded() async throws {
        let source = try BlobServer()
        defer { source.stop() }
        let proxy = try FaultProxy(upstream: source.baseURL, rules: [.init(fault: .status(503, retryAfter: 1))])
        defer { proxy.stop() }
        let blob = RandomBlob(seed: 10, size: 1000)
        source.add("/blob", .random(blob))
        let outcome = try await transferWithin(60, BlobTransfer(source: HTTPRequest(url: proxy.url("/blob")), destination: nil,
                                                                   expectedDigest: blob.digest, expectedSize: blob.size))
        guard case .sourceFailed(let response) = outcome else { return XCTFail("\(outcome)") }
        XCTAssertEqual(response.status, 503)
        XCTAssertEqual(response.headers["Retry-After"], "1")
    }

    func testDestinationRefusingWhileSourceIsPausedFailsWithoutHanging() async throws {
        let source = try BlobServer()
        defer { source.stop() }
        let blob = RandomBlob(seed: 11, size: 32 << 20)     // far more than the 2 MiB ring: the GET pauses
        source.add("/blob", .random(blob))
        let closedPort = try probeFreeLoopbackPort()
        let start = monotonicNanos()
        await assertTransportError(.couldNotConnect) {
            try await withDeadline(30) {
                try await transferWithin(60, BlobTransfer(
                    source: HTTPRequest(url: source.url("/blob")),
                    destination: HTTPRequest(method: "PUT", url: "http://127.0.0.1:\(closedPort)/upload"),
                    expectedDigest: blob.digest, expectedSize: blob.size))
            }
        }
        XCTAssertLessThan(elapsedSeconds(since: start), 10)
    }

    func testDestinationAnswering500IsReturned() async throws {
        let source = try BlobServer()
        defer { source.stop() }
        let sink = try UploadSink(respond: { _ in (500, ["Content-Type": "application/json"], Array("{\"errors\":[]}".utf8)) })
        defer { sink.stop() }
        let blob = RandomBlob(seed: 12, size: 1 << 20)
        source.add("/blob", .random(blob))
        let outcome = try await transferWithin(60, BlobTransfer(source: HTTPRequest(url: source.url("/blob")),
                                                                   destination: HTTPRequest(method: "PUT", url: sink.url("/u")),
                                                                   expectedDigest: blob.digest, expectedSize: blob.size))
        guard case .completed(_, _, let response) = outcome else { return XCTFail("\(outcome)") }
        XCTAssertEqual(response?.status, 500)
    }

    func testManyConcurrentTransfers() async throws {
        let source = try BlobServer()
        defer { source.stop() }
        let sink = try UploadSink()
        defer { sink.stop() }
        let blobs = (0..<16).map { RandomBlob(seed: 100 + UInt64($0), size: 4 << 20) }
        for b in blobs { source.add("/blobs/\(b.digest)", .random(b)) }
        let client = HTTPClient()
        try await withDeadline(120) {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for b in blobs {
                    group.addTask { _ = try await copyBlob(b, with: client, from: source, to: sink) }
                }
                try await group.waitForAll()
            }
        }
        let uploads = sink.uploads
        XCTAssertEqual(uploads.count, 16)
        for b in blobs {
            XCTAssertEqual(uploads.first { $0.path == "/uploads/\(b.digest)" }?.digest, b.digest)
        }
    }

    func testCancellationIsPrompt() async throws {
        let source = try stallingSource(declared: 64 << 20, sent: 1 << 20)
        defer { source.stop() }
        let sink = try UploadSink()
        defer { sink.stop() }
        let client = sharedTestClient
        let task = Task {
            try await client.transfer(BlobTransfer(source: HTTPRequest(url: source.url("/slow")),
                                                   destination: HTTPRequest(method: "PUT", url: sink.url("/u")),
                                                   expectedDigest: SHA256.digest([]), expectedSize: 64 << 20))
        }
        try await Task.sleep(nanoseconds: 500_000_000)
        let start = monotonicNanos()
        task.cancel()
        await assertTransportError(.cancelled) {
            try await withDeadline(10) { try await task.value }
        }
        XCTAssertLessThan(elapsedSeconds(since: start), 2, "cancellation must be prompt")
        sink.waitForUploads(count: 1, timeoutSeconds: 5)
        XCTAssertFalse(sink.uploads.contains { $0.complete })
    }

    func testSourceRedirectDoesNotCarryAuthorization() async throws {
        let storage = try BlobServer(name: "storage")
        defer { storage.stop() }
        let blob = RandomBlob(seed: 13, size: 1 << 20)
        storage.add("/blob", .random(blob))
        let storageProxy = try FaultProxy(upstream: storage.baseURL, name: "storage-proxy")
        defer { storageProxy.stop() }
        let registry = try BlobServer(name: "registry")
        defer { registry.stop() }
        let front = try FaultProxy(upstream: registry.baseURL, rules: [.init(method: "GET", fault: .redirect(to: storageProxy.baseURL))])
        defer { front.stop() }
        let outcome = try await transferWithin(60, BlobTransfer(
            source: HTTPRequest(url: front.url("/blob"), headers: ["Authorization": "Bearer registry-token"]),
            destination: nil, expectedDigest: blob.digest, expectedSize: blob.size))
        guard case .completed(let bytes, _, _) = outcome else { return XCTFail("\(outcome)") }
        XCTAssertEqual(bytes, blob.size)
        XCTAssertEqual(front.log.first?.hadAuthorization, true)
        XCTAssertEqual(front.log.first?.status, 307)
        XCTAssertEqual(storageProxy.log.count, 1)
        XCTAssertEqual(storageProxy.log.first?.hadAuthorization, false, "the token must stay with the registry host")
    }

    func testResumeAgainstSourceIgnoringRange() async throws {
        // First answer breaks off after 1 MiB; the retry ignores Range and sends everything again
        // with 200, so the engine must drop the bytes it already has.
        let blob = RandomBlob(seed: 14, size: 3 << 20)
        let count = Protected(0)
        let source = try LoopbackServer { request, writer in
            let n = count.withLock { c -> Int in c += 1; return c }
            try writer.writeHead(status: 200, contentLength: blob.size)
            var sent: Int64 = 0
            try blob.forEachChunk(chunkSize: 256 << 10) { chunk in
                guard !writer.aborted else { return }
                try writer.write(chunk)
                sent += Int64(chunk.count)
                if n == 1 && sent >= 1 << 20 { writer.abortConnection() }
            }
        }
        defer { source.stop() }
        let sink = try UploadSink()
        defer { sink.stop() }
        let outcome = try await transferWithin(60, BlobTransfer(source: HTTPRequest(url: source.url("/blob")),
                                                                destination: HTTPRequest(method: "PUT", url: sink.url("/u")),
                                                                expectedDigest: blob.digest, expectedSize: blob.size))
        guard case .completed(let bytes, let resumes, let response) = outcome else { return XCTFail("\(outcome)") }
        XCTAssertEqual(bytes, blob.size)
        XCTAssertEqual(resumes, 1)
        XCTAssertEqual(response?.status, 201)
        XCTAssertEqual(sink.uploads.first?.digest, blob.digest)
        XCTAssertEqual(count.snapshot, 2)
    }

    func testUnknownSizeUploadsChunkedAndReportsProgress() async throws {
        let source = try BlobServer()
        defer { source.stop() }
        let sink = try UploadSink()
        defer { sink.stop() }
        let blob = RandomBlob(seed: 15, size: 5 << 20)
        source.add("/blob", .random(blob))
        let seen = Protected<[Int64]>([])
        let outcome = try await transferWithin(60, BlobTransfer(
            source: HTTPRequest(url: source.url("/blob")), destination: HTTPRequest(method: "PUT", url: sink.url("/u")),
            expectedDigest: blob.digest, expectedSize: nil, progress: { n in seen.withLock { $0.append(n) } }))
        guard case .completed(let bytes, _, let response) = outcome else { return XCTFail("\(outcome)") }
        XCTAssertEqual(bytes, blob.size)
        XCTAssertEqual(response?.status, 201)
        let upload = try XCTUnwrap(sink.uploads.first)
        XCTAssertNil(upload.announcedLength, "no size known: chunked upload")
        XCTAssertEqual(upload.digest, blob.digest)
        let progress = seen.snapshot
        XCTAssertFalse(progress.isEmpty)
        XCTAssertEqual(progress, progress.sorted(), "progress only grows")
        XCTAssertLessThanOrEqual(progress.last ?? 0, blob.size)
    }

    func testDestinationAnsweringEarlyDoesNotHang() async throws {
        let source = try BlobServer()
        defer { source.stop() }
        let blob = RandomBlob(seed: 16, size: 32 << 20)
        source.add("/blob", .random(blob))
        // Refuses the upload at once, without reading its body (like a registry rejecting a token).
        let destination = try LoopbackServer(streamingHandler: { _, _, writer in
            writer.closeConnectionAfterResponse()
            try writer.respond(status: 401, headers: ["WWW-Authenticate": "Bearer realm=\"x\""], text: "{}")
        })
        defer { destination.stop() }
        do {
            let outcome = try await transferWithin(30, BlobTransfer(source: HTTPRequest(url: source.url("/blob")),
                                                                    destination: HTTPRequest(method: "PUT", url: destination.url("/u")),
                                                                    expectedDigest: blob.digest, expectedSize: blob.size))
            guard case .completed(_, _, let response) = outcome else { return XCTFail("\(outcome)") }
            XCTAssertEqual(response?.status, 401)
        } catch let error as TransportError {
            XCTAssertEqual(error.kind, .connectionLost, "\(error)")
        }
    }

    func testCancellingASendIsPrompt() async throws {
        let server = try LoopbackServer { _, writer in writer.pause(milliseconds: 60_000) }
        defer { server.stop() }
        let task = Task { try await sharedTestClient.send(HTTPRequest(url: server.url("/never"))) }
        try await Task.sleep(nanoseconds: 200_000_000)
        let start = monotonicNanos()
        task.cancel()
        await assertTransportError(.cancelled) { try await withDeadline(10) { try await task.value } }
        XCTAssertLessThan(elapsedSeconds(since: start), 2)
    }

    func testStalledSourceTimesOutAndIsResumed() async throws {
        let source = try BlobServer()
        defer { source.stop() }
        let proxy = try FaultProxy(upstream: source.baseURL, rules: [
            .init(method: "GET", fault: .stall(seconds: 20, afterBytes: 1000), times: 1),
        ])
        defer { proxy.stop() }
        let blob = RandomBlob(seed: 17, size: 3 << 20)
        source.add("/blob", .random(blob))
        let start = monotonicNanos()
        let outcome = try await transferWithin(30, BlobTransfer(
            source: HTTPRequest(url: proxy.url("/blob"), timeouts: .init(connectSeconds: 5, lowSpeedBytes: 1000, lowSpeedSeconds: 1)),
            destination: nil, expectedDigest: blob.digest, expectedSize: blob.size))
        guard case .completed(let bytes, let resumes, _) = outcome else { return XCTFail("\(outcome)") }
        XCTAssertEqual(bytes, blob.size)
        XCTAssertEqual(resumes, 1)
        XCTAssertLessThan(elapsedSeconds(since: start), 10, "the stall is cut short by the low-speed limit")
        XCTAssertEqual(proxy.log.count, 2)
        XCTAssertNotNil(proxy.log.last?.requestHeaders["Range"])
    }
}
