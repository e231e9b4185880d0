import HTTPTransport
import TestSupport
import XCTest

/// HTTPS against a LoopbackHTTP server with a generated CA.
final class TLSTests: XCTestCase {
    func testTrustDecisions() async throws {
        let identity = try await runOnThread { try TLSIdentity.generate() }
        defer { identity.remove() }
        let server = try makeEchoServer(tls: identity)
        defer { server.stop() }
        XCTAssertTrue(server.baseURL.hasPrefix("https://127.0.0.1:"))
        let client = HTTPClient()

        await assertTransportError(.tlsUntrusted) {
            try await client.send(HTTPRequest(url: server.url("/untrusted")))
        }
        let withFile = try await client.send(HTTPRequest(url: server.url("/ca-file"), tls: TLSOptions(caFile: identity.caPath)))
        XCTAssertEqual(withFile.status, 200)
        XCTAssertTrue(withFile.bodyText.hasPrefix("GET /ca-file"))

        let pem = try FileSystem.read(identity.caPath!)
        let withPEM = try await client.send(HTTPRequest(method: "POST", url: server.url("/ca-pem"), body: randomBytes(70_000),
                                                        tls: TLSOptions(caPEM: pem)))
        XCTAssertEqual(withPEM.status, 201)
        XCTAssertTrue(withPEM.bodyText.contains("len=70000"))

        let insecure = try await client.send(HTTPRequest(url: server.url("/no-verify"), tls: TLSOptions(verify: false)))
        XCTAssertEqual(insecure.status, 200)

        // localhost is in the certificate's SANs as well.
        let viaName = try await client.send(HTTPRequest(url: "https://localhost:\(server.port)/name", tls: TLSOptions(caFile: identity.caPath)))
        XCTAssertEqual(viaName.status, 200)
    }

    func testPlainHTTPClientAgainstTLSServerFails() async throws {
        let identity = try await runOnThread { try TLSIdentity.generate() }
        defer { identity.remove() }
        let server = try makeEchoServer(tls: identity)
        defer { server.stop() }
        do {
            _ = try await sharedTestClient.send(HTTPRequest(url: "http://127.0.0.1:\(server.port)/plain",
                                                        timeouts: .init(connectSeconds: 5, lowSpeedBytes: 1, lowSpeedSeconds: 3)))
            XCTFail("plain HTTP to a TLS port must fail")
        } catch let error as TransportError {
            XCTAssertTrue([.connectionLost, .other, .timeout].contains(error.kind), "\(error)")
        }
    }

    func testBlobTransferBetweenTLSServers() async throws {
        let identity = try await runOnThread { try TLSIdentity.generate() }
        defer { identity.remove() }
        let source = try BlobServer(tls: identity)
        defer { source.stop() }
        let sink = try UploadSink(tls: identity)
        defer { sink.stop() }
        let blob = RandomBlob(seed: 42, size: 3 << 20)
        source.add("/blob", .random(blob))
        let tls = TLSOptions(caFile: identity.caPath)
        let outcome = try await transferWithin(60, BlobTransfer(
            source: HTTPRequest(url: source.url("/blob"), tls: tls),
            destination: HTTPRequest(method: "PUT", url: sink.url("/upload"), tls: tls),
            expectedDigest: blob.digest, expectedSize: blob.size))
        guard case .completed(let bytes, _, let response) = outcome else { return XCTFail("\(outcome)") }
        XCTAssertEqual(bytes, blob.size)
        XCTAssertEqual(response?.status, 201)
        XCTAssertEqual(sink.uploads.first?.digest, blob.digest)
    }
}
