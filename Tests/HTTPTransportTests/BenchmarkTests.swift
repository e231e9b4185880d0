import HTTPTransport
import TestSupport
import XCTest

/// Throughput numbers; skipped unless IMGPROMOTE_BENCH=1 (run them in release:
/// `IMGPROMOTE_BENCH=1 swift test -c release --filter BenchmarkTests`).
final class BenchmarkTests: XCTestCase {
    private func requireBenchmarks() throws {
        guard Environment.get("IMGPROMOTE_BENCH") == "1" else { throw XCTSkip("set IMGPROMOTE_BENCH=1") }
    }

    func testStreamed512MiBTransferBetweenLoopbackServers() async throws {
        try requireBenchmarks()
        let size: Int64 = 512 << 20
        let blob = RandomBlob(seed: 512, size: size)
        let digest = blob.digest
        let source = try BlobServer()
        defer { source.stop() }
        let sink = try UploadSink()
        defer { sink.stop() }
        source.add("/blob", .random(blob))
        let client = HTTPClient()
        for run in 1...3 {
            let start = monotonicNanos()
            let outcome = try await transferWithin(300, client: client, BlobTransfer(
                source: HTTPRequest(url: source.url("/blob")),
                destination: HTTPRequest(method: "PUT", url: sink.url("/upload/\(run)")),
                expectedDigest: digest, expectedSize: size))
            let secs = elapsedSeconds(since: start)
            guard case .completed(let bytes, _, let response) = outcome, bytes == size, response?.status == 201 else {
                return XCTFail("\(outcome)")
            }
            print("BENCH GET→PUT 512 MiB via HTTPTransport between LoopbackHTTP servers, run \(run): "
                  + "\(Int(Double(size) / secs / 1e6)) MB/s (\(Int(secs * 1000)) ms)")
        }
        XCTAssertEqual(sink.uploads.map(\.digest), [digest, digest, digest])
    }

    func testLoopbackServerRawGetThroughput() async throws {
        try requireBenchmarks()
        let size: Int64 = 512 << 20
        let source = try BlobServer()
        defer { source.stop() }
        source.add("/blob", .random(RandomBlob(seed: 513, size: size)))
        let secs = try await runOnThread { () -> Double in
            let c = try ClientConnection(port: source.server.port)
            defer { c.close() }
            let start = monotonicNanos()
            try c.writeHead(method: "GET", target: "/blob", bodyLength: 0)
            _ = try c.readResponseHead()
            let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
            defer { buf.deallocate() }
            var total: Int64 = 0
            while true {
                let n = try c.read(into: buf)
                if n == 0 { break }
                total += Int64(n)
            }
            precondition(total == size)
            return elapsedSeconds(since: start)
        }
        print("BENCH LoopbackHTTP GET 512 MiB (generate + send, ClientConnection reads): \(Int(Double(size) / secs / 1e6)) MB/s")
    }

    func testSeedOneGiBLayerIntoARegistry() async throws {
        try requireBenchmarks()
        let registry = try await RegistryProcess.start()
        defer { registry.stop() }
        var start = monotonicNanos()
        let image = TestImage.random(layerSizes: [1 << 30], seed: 1024)    // hashes the layer once
        print("BENCH TestImage.random with a 1 GiB layer (generate + SHA-256): \(Int(elapsedSeconds(since: start) * 1000)) ms")
        start = monotonicNanos()
        try await ImageSeeder.pushAsync(image, to: registry.baseURL, repository: "big/app", tag: "v1")
        print("BENCH ImageSeeder push of a 1 GiB layer into docker-registry: \(Int(elapsedSeconds(since: start) * 1000)) ms")
    }
}
