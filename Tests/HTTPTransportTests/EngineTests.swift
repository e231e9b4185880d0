import HTTPTransport
import TestSupport
import XCTest

/// The engine thread's event loop: many sockets at once, waking from other threads while idle,
/// cancelling everything, the counters.
final class EngineTests: XCTestCase {
    /// Requests over many connections to several servers at once, next to blob copies on the same
    /// engine; every answer arrives intact and the counters add up.
    func testManyConcurrentRequestsAndTransfersOnOneEngine() async throws {
        let servers = try (0..<3).map { _ in try makeEchoServer() }
        defer { for s in servers { s.stop() } }
        let source = try BlobServer()
        defer { source.stop() }
        let sink = try UploadSink()
        defer { sink.stop() }
        let blobs = (0..<4).map { RandomBlob(seed: 300 + UInt64($0), size: 3 << 20) }
        for b in blobs { source.add("/blobs/\(b.digest)", .random(b)) }
        let client = HTTPClient()
        let requests = 150
        let received = try await withDeadline(120) {
            try await withThrowingTaskGroup(of: Int64.self) { group in
                for i in 0..<requests {
                    group.addTask {
                        let body = Array("request number \(i)".utf8)
                        let url = servers[i % servers.count].url("/r/\(i)")
                        let r = try await client.send(HTTPRequest(method: "PUT", url: url, body: body))
                        XCTAssertEqual(r.bodyText, "PUT /r/\(i) len=\(body.count) sha=\(SHA256.digest(body)) te=length")
                        return Int64(r.body.count)
                    }
                }
                for b in blobs {
                    group.addTask {
                        let r = try await copyBlob(b, with: client, from: source, to: sink)
                        return b.size + Int64(r.body.count)
                    }
                }
                var total: Int64 = 0
                for try await n in group { total += n }
                return total
            }
        }
        let sent = (0..<requests).reduce(Int64(0)) { $0 + Int64("request number \($1)".utf8.count) }
        let stats = client.statistics
        XCTAssertEqual(stats.requests, requests + 2 * blobs.count, "one per request, a GET and a PUT per blob")
        XCTAssertEqual(stats.bytesSent, sent + blobs.reduce(0) { $0 + $1.size })
        XCTAssertEqual(stats.bytesReceived, received)
        XCTAssertGreaterThan(servers.map(\.statistics.connectionsAccepted).reduce(0, +), servers.count,
                             "requests ran concurrently over several connections")
        sink.waitForUploads(count: blobs.count)
        for b in blobs { XCTAssertEqual(sink.uploads.first { $0.path == "/uploads/\(b.digest)" }?.digest, b.digest) }
    }

    /// An idle engine sleeps in the kernel; work submitted from another thread must wake it at once,
    /// not when its sleep (up to a second) ends.
    func testIdleEngineWakesPromptlyForNewWork() async throws {
        let server = try makeEchoServer()
        defer { server.stop() }
        let client = HTTPClient()
        _ = try await client.send(HTTPRequest(url: server.url("/warm")))
        for round in 0..<3 {
            try await Task.sleep(for: .milliseconds(1_050))   // past one full idle sleep
            let start = monotonicNanos()
            let r = try await withDeadline(10) { try await client.send(HTTPRequest(url: server.url("/r/\(round)"))) }
            XCTAssertEqual(r.status, 200)
            XCTAssertLessThan(elapsedSeconds(since: start), 0.5, "round \(round): the idle engine woke late")
        }
    }

    /// The upload handed over while the engine idles (the GET finished long ago) starts at once.
    func testPendingUploadHandedOverToAnIdleEngineStartsPromptly() async throws {
        let source = try BlobServer()
        defer { source.stop() }
        let sink = try UploadSink()
        defer { sink.stop() }
        let blob = RandomBlob(seed: 310, size: 100 << 10)   // fits the ring: the GET completes alone
        source.add("/blob", .random(blob))
        let client = HTTPClient()
        let pending = client.pendingUpload()
        var transfer = BlobTransfer(source: HTTPRequest(url: source.url("/blob")), destination: nil,
                                    expectedDigest: blob.digest, expectedSize: blob.size)
        transfer.pendingDestination = pending
        let planned = transfer
        async let outcome = transferWithin(30, client: client, planned)
        try await Task.sleep(for: .milliseconds(1_050))
        XCTAssertEqual(source.requests.count, 1)
        let start = monotonicNanos()
        pending.provide(HTTPRequest(method: "PUT", url: sink.url("/upload")))
        guard case .completed(let bytes, _, let response) = try await outcome else { return XCTFail("not completed") }
        XCTAssertLessThan(elapsedSeconds(since: start), 0.5, "the handover did not wake the engine")
        XCTAssertEqual(bytes, blob.size)
        XCTAssertEqual(response?.status, 201)
        sink.waitForUploads(count: 1)
        XCTAssertEqual(sink.uploads.first?.digest, blob.digest)
    }

    /// cancelAll ends every transfer in flight (a stalled request and a stalled copy) promptly; work
    /// submitted afterwards still runs.
    func testCancelAllEndsWorkInFlightButNotLaterWork() async throws {
        let stalled = try stallingSource(declared: 8 << 20, sent: 64 << 10, okPath: "/ok")
        defer { stalled.stop() }
        let sink = try UploadSink()
        defer { sink.stop() }
        let client = HTTPClient()
        let send = Task { try await client.send(HTTPRequest(url: stalled.url("/stall"))) }
        let copy = Task {
            try await client.transfer(BlobTransfer(source: HTTPRequest(url: stalled.url("/blob")),
                                                   destination: HTTPRequest(method: "PUT", url: sink.url("/u")),
                                                   expectedDigest: SHA256.digest([]), expectedSize: 8 << 20))
        }
        let deadline = monotonicNanos() + 10_000_000_000
        while stalled.statistics.requests < 2 && monotonicNanos() < deadline { try await Task.sleep(for: .milliseconds(5)) }
        XCTAssertEqual(stalled.statistics.requests, 2)
        let start = monotonicNanos()
        client.cancelAll()
        await assertTransportError(.cancelled) { try await withDeadline(10) { try await send.value } }
        await assertTransportError(.cancelled) { try await withDeadline(10) { try await copy.value } }
        XCTAssertLessThan(elapsedSeconds(since: start), 2, "cancellation must be prompt")
        let after = try await withDeadline(10) { try await client.send(HTTPRequest(url: stalled.url("/ok"))) }
        XCTAssertEqual(after.bodyText, "fine")
    }
}
