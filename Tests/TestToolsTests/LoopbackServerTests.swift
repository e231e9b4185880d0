import HTTPTransport
import TestSupport
import XCTest

/// The test tooling itself: LoopbackServer/ClientConnection framing, stop(), TLS, subprocesses, JWT.
final class LoopbackServerTests: XCTestCase {
    func testChunkedRequestBodyAndKeepAliveWithClientConnection() throws {
        let server = try LoopbackServer(streamingHandler: { request, body, writer in
            let hasher = SHA256()
            let n = try body.forEachChunk(bufferSize: 1000) { hasher.update($0.baseAddress!, count: $0.count) }
            try writer.respond(status: 200, text: "\(request.method) \(n) \(body.isChunked) \(SHA256.hex(hasher.finalize()))")
        })
        defer { server.stop() }
        let c = try ClientConnection(port: server.port)
        defer { c.close() }
        let data = randomBytes(250_000)
        try c.writeHead(method: "PUT", target: "/chunked", bodyLength: nil)
        for i in stride(from: 0, to: data.count, by: 7_777) { try c.write(Array(data[i..<min(i + 7_777, data.count)])) }
        try c.finishBody()
        let head = try c.readResponseHead()
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(String(decoding: try c.readBody(), as: UTF8.self), "PUT 250000 true \(SHA256.digest(data).dropFirst(7))")
        XCTAssertTrue(c.isReusable)
        let second = try c.send(method: "POST", target: "/again", body: Array("abc".utf8))
        XCTAssertEqual(second.bodyText, "POST 3 false \(SHA256.digest(Array("abc".utf8)).dropFirst(7))")
        XCTAssertEqual(server.statistics.connectionsAccepted, 1)
    }

    func testStreamingResponseWithPausesAndAbort() throws {
        let server = try LoopbackServer { request, writer in
            try writer.writeHead(status: 200, contentLength: 30)
            for _ in 0..<2 {
                try writer.write(Array(repeating: UInt8(ascii: "x"), count: 10))
                try writer.flush()
                writer.pause(milliseconds: 50)
            }
            if request.path == "/abort" { writer.abortConnection() } else { try writer.write(Array(repeating: 0x79, count: 10)) }
        }
        defer { server.stop() }
        let ok = try LoopbackClient.get(server.url("/full"))
        XCTAssertEqual(ok.body.count, 30)
        XCTAssertThrowsError(try LoopbackClient.get(server.url("/abort"))) { error in
            XCTAssertTrue("\(error)".contains("20 of 30"), "\(error)")
        }
    }

    func testHandlerErrorsAnswer500AndMalformedRequests400() throws {
        struct Boom: Error {}
        let server = try LoopbackServer { _, _ in throw Boom() }
        defer { server.stop() }
        let r = try LoopbackClient.get(server.url("/"))
        XCTAssertEqual(r.status, 500)
        let raw = try ClientConnection(port: server.port)
        defer { raw.close() }
        try raw.writeHead(method: "BAD REQUEST LINE", target: "/", bodyLength: 0)
        XCTAssertEqual(try raw.readResponseHead().status, 400)
    }

    func testStopClosesIdleAndBusyConnectionsPromptly() throws {
        let entered = Protected(0)
        let server = try LoopbackServer { _, writer in
            entered.withLock { $0 += 1 }
            try writer.writeHead(status: 200, contentLength: 100)
            try writer.flush()
            writer.pause(milliseconds: 60_000)
        }
        let idle = try ClientConnection(port: server.port)
        defer { idle.close() }
        let busy = try ClientConnection(port: server.port)
        defer { busy.close() }
        try busy.writeHead(method: "GET", target: "/", bodyLength: 0)
        _ = try busy.readResponseHead()
        XCTAssertTrue(entered.wait(timeoutSeconds: 5) { $0 == 1 })
        XCTAssertEqual(server.statistics.openConnections, 2)
        let start = monotonicNanos()
        server.stop()
        XCTAssertLessThan(elapsedSeconds(since: start), 2)
        XCTAssertEqual(server.statistics.openConnections, 0)
        XCTAssertThrowsError(try ClientConnection(port: server.port, connectTimeoutSeconds: 1)) // listener closed
        server.stop()   // idempotent
    }

    func testTLSServerWithClientConnection() throws {
        let identity = try TLSIdentity.generate(commonName: "localhost")
        defer { identity.remove() }
        XCTAssertTrue(FileSystem.exists(identity.caPath!))
        let server = try makeEchoServer(tls: identity)
        defer { server.stop() }
        let r = try LoopbackClient.request("PUT", server.url("/tls"), body: randomBytes(40_000))
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue(r.bodyText.hasPrefix("PUT /tls len=40000"))
    }

    func testSubprocessCapturesOutputFeedsStdinAndTimesOut() throws {
        let cat = try Subprocess.run("cat", [], stdin: Array("secret-from-stdin".utf8))
        XCTAssertTrue(cat.succeeded)
        XCTAssertEqual(cat.stdoutText, "secret-from-stdin")
        let sh = try Subprocess.run("sh", ["-c", "echo out; echo err >&2; echo $FOO; exit 3"], environment: ["FOO": "bar", "PATH": "/usr/bin:/bin"])
        XCTAssertEqual(sh.exitCode, 3)
        XCTAssertEqual(sh.stdoutText, "out\nbar\n")
        XCTAssertEqual(sh.stderrText, "err\n")
        let start = monotonicNanos()
        let slow = try Subprocess.run("sleep", ["30"], timeoutSeconds: 0.5)
        XCTAssertTrue(slow.timedOut)
        XCTAssertLessThan(elapsedSeconds(since: start), 3)
        let dir = try TemporaryDirectory()
        let pwd = try Subprocess.run("pwd", [], workingDirectory: dir.path)
        XCTAssertTrue(pwd.stdoutText.hasSuffix(dir.path.split(separator: "/").last! + "\n"))
        XCTAssertThrowsError(try Subprocess.run("definitely-not-a-command-xyz", []))
    }

    func testJWTSignerSignsES256ThatVerifies() throws {
        let signer = try JWTSigner.generate()
        defer { signer.removeGeneratedFiles() }
        let minter = RegistryTokenMinter(signer: signer, issuer: "iss", lifetimeSeconds: 600)
        let t = try minter.mint(subject: "alice", audience: "svc", access: [RegistryAccess(name: "team/app", actions: ["pull", "push"])])
        XCTAssertTrue(signer.verify(t.token))
        var tampered = Array(t.token)
        let i = tampered.firstIndex(of: ".")! + 5
        tampered[i] = tampered[i] == "A" ? "B" : "A"
        XCTAssertFalse(signer.verify(String(tampered)))
        let parts = try XCTUnwrap(JWT.decode(t.token))
        XCTAssertEqual(parts.signature.count, 64, "raw r||s")
        let header = try XCTUnwrap(JSONNode.parse(parts.headerJSON))
        XCTAssertEqual(header["alg"]?.string, "ES256")
        XCTAssertEqual(header["typ"]?.string, "JWT")
        XCTAssertEqual(header["x5c"]?[0]?.string.flatMap { Base64.decode($0) }, signer.certificateDER)
        let claims = try XCTUnwrap(JSONNode.parse(parts.claimsJSON))
        XCTAssertEqual(claims["iss"]?.string, "iss")
        XCTAssertEqual(claims["sub"]?.string, "alice")
        XCTAssertEqual(claims["aud"]?.string, "svc", "distribution 2.8.2 wants aud as a string")
        XCTAssertEqual((claims["exp"]?.int ?? 0) - (claims["iat"]?.int ?? 0), 600)
        XCTAssertEqual(claims["nbf"]?.int, claims["iat"]?.int)
        XCTAssertEqual(claims["access"]?[0]?["name"]?.string, "team/app")
        XCTAssertEqual(claims["access"]?[0]?["actions"]?.array?.compactMap(\.string), ["pull", "push"])
        XCTAssertEqual(RegistryAccess(scope: "repository:127.0.0.1:5000/a/b:pull")?.name, "127.0.0.1:5000/a/b")
        XCTAssertEqual(RegistryAccess.parse(scopes: ["repository:a:pull repository:b:pull,push"]).count, 2)
    }

    func testRandomBlobIsDeterministicAndAddressable() {
        let a = RandomBlob(seed: 99, size: 100_003)
        let all = a.allBytes
        XCTAssertEqual(all.count, 100_003)
        XCTAssertEqual(RandomBlob(seed: 99, size: 100_003).allBytes, all)
        XCTAssertEqual(a.bytes(17..<70_001), Array(all[17..<70_001]))
        XCTAssertNotEqual(RandomBlob(seed: 98, size: 16).allBytes, Array(all[0..<16]))
        XCTAssertEqual(a.digest, SHA256.digest(all))
        XCTAssertEqual(Base64.decode(Base64.encode(all)), all)
        XCTAssertEqual(Base64.decode(Base64.urlEncode(Array(all.prefix(1001)))), Array(all.prefix(1001)))
        assertElementsEqual(FormCoding.decode("a=1%202&b=x+y&c"), [("a", "1 2"), ("b", "x y"), ("c", "")].map { (name: $0.0, value: $0.1) },
                       by: { $0.name == $1.name && $0.value == $1.value })
    }

    func testBuiltProductsPointsAtTheBuildDirectory() {
        let dir = BuiltProducts.directory
        XCTAssertTrue(FileSystem.exists(dir + "/imgpromotePackageTests.xctest"), dir)
        if let bin = BuiltProducts.imgpromote { XCTAssertTrue(FileSystem.isExecutable(bin)) }
    }

    func testBlobServerHonoursRanges() throws {
        let server = try BlobServer()
        defer { server.stop() }
        let blob = RandomBlob(seed: 5, size: 1000)
        server.add("/b", .random(blob))
        let r = try LoopbackClient.get(server.url("/b"), headers: ["Range": "bytes=100-"])
        XCTAssertEqual(r.status, 206)
        XCTAssertEqual(r.headers["Content-Range"], "bytes 100-999/1000")
        XCTAssertEqual(r.body, blob.bytes(100..<1000))
        XCTAssertEqual(try LoopbackClient.get(server.url("/b"), headers: ["Range": "bytes=5-9"]).body, blob.bytes(5..<10))
        XCTAssertEqual(try LoopbackClient.get(server.url("/b"), headers: ["Range": "bytes=1000-"]).status, 416)
        XCTAssertEqual(try LoopbackClient.request("HEAD", server.url("/b")).headers["Content-Length"], "1000")
    }
}

func assertElementsEqual<T>(_ a: [T], _ b: [T], by eq: (T, T) -> Bool, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertTrue(a.count == b.count && zip(a, b).allSatisfy(eq), "\(a) != \(b)", file: file, line: line)
}
