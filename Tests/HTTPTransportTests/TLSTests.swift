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

    /// The system roots come from a hashed directory (Debian) or a bundle (RHEL's libcurl has no
    /// directory); either way a side's own CA is trusted in addition to them, never instead of them.
    func testSystemRootsStayTrustedNextToASideCA() async throws {
        let system = try await runOnThread { try TLSIdentity.generate(caCommonName: "system root CA") }
        let side = try await runOnThread { try TLSIdentity.generate(caCommonName: "side CA") }
        let dir = try FileSystem.makeTemporaryDirectory(prefix: "system-trust")
        defer { system.remove(); side.remove(); FileSystem.removeTree(dir) }
        let systemCA = try XCTUnwrap(system.caPath), sideCA = try XCTUnwrap(side.caPath)
        try FileSystem.write(try FileSystem.read(systemCA), to: dir + "/system.pem")
        let rehash = try Subprocess.run("openssl", ["rehash", dir], timeoutSeconds: 30)
        XCTAssertEqual(rehash.exitCode, 0, rehash.stderrText)
        XCTAssertEqual(SystemTrust.detect(caInfo: systemCA, caPath: dir), .directory(dir))

        let publicServer = try makeEchoServer(tls: system), privateServer = try makeEchoServer(tls: side)
        defer { publicServer.stop(); privateServer.stop() }
        for trust in [SystemTrust.directory(dir), .bundle(systemCA)] {
            let client = HTTPClient(configuration: .init(systemTrust: trust))
            let plain = try await client.send(HTTPRequest(url: publicServer.url("/system-only")))
            XCTAssertEqual(plain.status, 200, "\(trust)")
            await assertTransportError(.tlsUntrusted) {
                try await client.send(HTTPRequest(url: privateServer.url("/no-side-ca")))
            }
            let withSide = TLSOptions(caFile: sideCA)
            let sideServer = try await client.send(HTTPRequest(url: privateServer.url("/side"), tls: withSide))
            XCTAssertEqual(sideServer.status, 200, "\(trust)")
            // The route with a public certificate on a side whose kubeconfig names the API server's CA.
            let systemServer = try await client.send(HTTPRequest(url: publicServer.url("/side-and-system"), tls: withSide))
            XCTAssertEqual(systemServer.status, 200, "\(trust)")
            let pem = try FileSystem.read(sideCA)
            let withPEM = try await client.send(HTTPRequest(url: publicServer.url("/pem-and-system"), tls: TLSOptions(caPEM: pem)))
            XCTAssertEqual(withPEM.status, 200, "\(trust)")
        }
    }

    /// Detection takes the directory only when it holds OpenSSL's subject-hash names.
    func testSystemTrustDetection() throws {
        let dir = try FileSystem.makeTemporaryDirectory(prefix: "system-trust-names")
        defer { FileSystem.removeTree(dir) }
        let bundle = dir + "/bundle.pem"
        try FileSystem.write("not parsed here", to: bundle)
        XCTAssertEqual(SystemTrust.detect(caInfo: bundle, caPath: dir), .bundle(bundle), "empty directory")
        for name in ["D35D3663.0", "d35d3663.r0", "d35d366.0", "d35d3663.", "d35d3663.0.pem", "xd35d3663.0", "d35d3663",
                     ".d35d3663", "d35d3g63.0", "d35d3663.0a", "d35d3663..0"] {
            try FileSystem.write("x", to: dir + "/" + name)
        }
        XCTAssertEqual(SystemTrust.detect(caInfo: bundle, caPath: dir), .bundle(bundle), "no name is a hash link")
        try FileSystem.write("x", to: dir + "/0123abcd.12")
        XCTAssertEqual(SystemTrust.detect(caInfo: bundle, caPath: dir), .directory(dir))
        XCTAssertEqual(SystemTrust.detect(caInfo: bundle, caPath: dir + "/missing"), .bundle(bundle))
        XCTAssertEqual(SystemTrust.detect(caInfo: dir + "/missing.pem", caPath: nil), .libcurlDefault)
        XCTAssertEqual(SystemTrust.detect(caInfo: "", caPath: ""), .libcurlDefault)
        XCTAssertEqual(SystemTrust.detect(caInfo: nil, caPath: nil), .libcurlDefault)
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
