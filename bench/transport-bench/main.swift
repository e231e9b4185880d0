// Transport and test-tool throughput, printed, never asserted (was BenchmarkTests in XCTest).
// Run in release:  swift run -c release transport-bench [transfer|raw-get|seed ...]
// (no argument: all three). Everything runs on loopback; what it starts it stops.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import HTTPTransport
import TestSupport

func elapsedSeconds(since start: UInt64) -> Double { Double(monotonicNanos() - start) / 1e9 }

struct BenchFailure: Error, CustomStringConvertible { var description: String }

/// GET→PUT of 512 MiB via HTTPTransport between two LoopbackHTTP servers, three runs.
func transfer() async throws {
    let size: Int64 = 512 << 20
    let blob = RandomBlob(seed: 512, size: size)
    let source = try BlobServer()
    defer { source.stop() }
    let sink = try UploadSink()
    defer { sink.stop() }
    source.add("/blob", .random(blob))
    let client = HTTPClient()
    for run in 1...3 {
        let start = monotonicNanos()
        let outcome = try await client.transfer(BlobTransfer(
            source: HTTPRequest(url: source.url("/blob")),
            destination: HTTPRequest(method: "PUT", url: sink.url("/upload/\(run)")),
            expectedDigest: blob.digest, expectedSize: size))
        let secs = elapsedSeconds(since: start)
        guard case .completed(let bytes, _, let response) = outcome, bytes == size, response?.status == 201 else {
            throw BenchFailure(description: "transfer run \(run): \(outcome)")
        }
        print("GET→PUT 512 MiB via HTTPTransport between LoopbackHTTP servers, run \(run): "
              + "\(Int(Double(size) / secs / 1e6)) MB/s (\(Int(secs * 1000)) ms)")
    }
    guard sink.waitForUploads(count: 3), sink.uploads.map(\.digest) == [blob.digest, blob.digest, blob.digest] else {
        throw BenchFailure(description: "the sink did not receive the blob three times")
    }
}

/// The LoopbackHTTP server alone: generate and send 512 MiB, read with a raw ClientConnection.
func rawGet() async throws {
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
        guard total == size else { throw BenchFailure(description: "raw GET read \(total) of \(size) bytes") }
        return elapsedSeconds(since: start)
    }
    print("LoopbackHTTP GET 512 MiB (generate + send, ClientConnection reads): \(Int(Double(size) / secs / 1e6)) MB/s")
}

/// The seeder: a 1 GiB layer generated, hashed and pushed into docker-registry.
func seed() async throws {
    let registry = try await RegistryProcess.start()
    defer { registry.stop() }
    var start = monotonicNanos()
    let image = TestImage.random(layerSizes: [1 << 30], seed: 1024)    // hashes the layer once
    print("TestImage.random with a 1 GiB layer (generate + SHA-256): \(Int(elapsedSeconds(since: start) * 1000)) ms")
    start = monotonicNanos()
    try await ImageSeeder.pushAsync(image, to: registry.baseURL, repository: "big/app", tag: "v1")
    print("ImageSeeder push of a 1 GiB layer into docker-registry: \(Int(elapsedSeconds(since: start) * 1000)) ms")
}

let benches: [(name: String, run: () async throws -> Void)] = [("transfer", transfer), ("raw-get", rawGet), ("seed", seed)]
let wanted = Array(CommandLine.arguments.dropFirst())
if let unknown = wanted.first(where: { w in !benches.contains { $0.name == w } }) {
    print("transport-bench: unknown bench \(unknown); known: \(benches.map(\.name).joined(separator: " "))")
    exit(2)
}
for bench in benches where wanted.isEmpty || wanted.contains(bench.name) {
    do {
        try await bench.run()
    } catch {
        print("transport-bench \(bench.name): \(error)")
        exit(1)
    }
}
