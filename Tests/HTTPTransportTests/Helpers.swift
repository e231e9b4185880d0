import HTTPTransport
import TestSupport
import XCTest

/// Asserts `body` throws a `TransportError` of `kind`; returns it.
@discardableResult
func assertTransportError<T>(_ kind: TransportError.Kind, file: StaticString = #filePath, line: UInt = #line,
                             _ body: () async throws -> T) async -> TransportError? {
    do {
        let value = try await body()
        XCTFail("expected TransportError \(kind), got \(value)", file: file, line: line)
        return nil
    } catch let error as TransportError {
        XCTAssertEqual(error.kind, kind, "\(error)", file: file, line: line)
        return error
    } catch {
        XCTFail("expected TransportError \(kind), got \(error)", file: file, line: line)
        return nil
    }
}

func randomBytes(_ n: Int, seed: UInt64 = 7) -> [UInt8] { RandomBlob(seed: seed, size: Int64(n)).allBytes }

/// A source that declares `declared` bytes, sends the first `sent` of them and then stalls (until the
/// server stops): for cancellation tests. A request for `okPath` is answered at once with 200 "fine".
func stallingSource(declared: Int64, sent: Int, okPath: String? = nil) throws -> LoopbackServer {
    try LoopbackServer { request, writer in
        if let okPath, request.path == okPath { return try writer.respond(status: 200, text: "fine") }
        try writer.writeHead(status: 200, contentLength: declared)
        try writer.write(randomBytes(sent))
        try writer.flush()
        writer.pause(milliseconds: 60_000)
    }
}

func elapsedSeconds(since start: UInt64) -> Double { Double(monotonicNanos() - start) / 1e9 }

struct DeadlineExceeded: Error, CustomStringConvertible {
    var seconds: Double
    var description: String { "operation did not finish within \(seconds) s" }
}

/// Runs `operation` but stops waiting after `seconds` (throwing `DeadlineExceeded`), so a hung transfer
/// fails the test instead of hanging the run. The operation task is cancelled and left behind.
func withDeadline<T: Sendable>(_ seconds: Double, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    let gate = DeadlineGate<T>()
    let task = Task {
        do { gate.deliver(.success(try await operation())) } catch { gate.deliver(.failure(error)) }
    }
    let timer = Task {
        try? await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
        if Task.isCancelled { return }
        gate.deliver(.failure(DeadlineExceeded(seconds: seconds)))
        task.cancel()
    }
    defer { timer.cancel() }
    return try await withCheckedThrowingContinuation { gate.wait($0) }
}

final class DeadlineGate<T: Sendable>: Sendable {
    let state = Protected<(waiter: CheckedContinuation<T, any Error>?, result: Result<T, any Error>?, done: Bool)>((nil, nil, false))
    /// Delivers `r` once, to the waiter now or when it arrives.
    func deliver(_ r: Result<T, any Error>) {
        state.withLock { s in
            guard !s.done else { return }
            if let w = s.waiter {
                s.done = true
                s.waiter = nil
                w.resume(with: r)
            } else if s.result == nil {
                s.result = r
            }
        }
    }
    func wait(_ c: CheckedContinuation<T, any Error>) {
        state.withLock { s in
            if let r = s.result {
                s.done = true
                c.resume(with: r)
            } else {
                s.waiter = c
            }
        }
    }
}

/// One engine thread for most tests (each `HTTPClient` owns a thread that never exits).
let sharedTestClient = HTTPClient()

/// `client.transfer` that fails the test instead of hanging when the engine never answers.
func transferWithin(_ seconds: Double, client: HTTPClient = sharedTestClient, _ transfer: BlobTransfer) async throws -> BlobTransferOutcome {
    try await withDeadline(seconds) { try await client.transfer(transfer) }
}

/// Streams `blob` from `source` to `sink` through `client` and fails unless the whole blob arrived and the
/// sink answered 201; returns the sink's answer.
@discardableResult
func copyBlob(_ blob: RandomBlob, with client: HTTPClient, from source: BlobServer, to sink: UploadSink) async throws -> HTTPResponse {
    let outcome = try await client.transfer(BlobTransfer(
        source: HTTPRequest(url: source.url("/blobs/\(blob.digest)")),
        destination: HTTPRequest(method: "PUT", url: sink.url("/uploads/\(blob.digest)")),
        expectedDigest: blob.digest, expectedSize: blob.size))
    guard case .completed(let n, _, let r?) = outcome, n == blob.size, r.status == 201 else {
        throw LoopbackError("transfer of \(blob.digest) ended with \(outcome)")
    }
    return r
}
