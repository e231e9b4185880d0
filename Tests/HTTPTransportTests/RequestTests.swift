import HTTPTransport
import TestSupport
import XCTest

/// `HTTPClient.send` against LoopbackHTTP servers.
final class RequestTests: XCTestCase {
    func testMethodsWithBodiesOverOneKeepAliveConnection() async throws {
        let server = try makeEchoServer()
        defer { server.stop() }
        let client = HTTPClient()
        let body = randomBytes(100_000)
        for method in ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] {
            let send: [UInt8]? = (method == "GET" || method == "HEAD") ? nil : body
            let response = try await client.send(HTTPRequest(method: method, url: server.url("/echo/\(method)?x=1"), body: send))
            XCTAssertEqual(response.status, method == "POST" ? 201 : 200, method)
            XCTAssertEqual(response.headers["X-Echo-Method"], method, "header values must arrive intact")
            if method == "HEAD" {
                XCTAssertTrue(response.body.isEmpty)
                let expected = "HEAD /echo/HEAD?x=1 len=0 sha=\(SHA256.digest([])) te=length"
                XCTAssertEqual(response.headers["Content-Length"], String(expected.utf8.count))
                continue
            }
            let expected = "\(method) /echo/\(method)?x=1 len=\(send?.count ?? 0) sha=\(SHA256.digest(send ?? [])) te=length"
            XCTAssertEqual(response.bodyText, expected)
        }
        XCTAssertEqual(server.statistics.connectionsAccepted, 1, "keep-alive: one connection for all requests")
        XCTAssertEqual(server.statistics.requests, 6)
    }

    func testEmptyBodiesAndChunkedResponse() async throws {
        let server = try LoopbackServer { request, writer in
            if request.path == "/chunked" {
                try writer.writeHead(status: 200, headers: ["Content-Type": "text/plain"], contentLength: nil)
                for i in 0..<50 { try writer.write("line \(i)\n") }
                try writer.finish()
            } else {
                try writer.respond(status: 204)
            }
        }
        defer { server.stop() }
        let client = HTTPClient()
        let chunked = try await client.send(HTTPRequest(url: server.url("/chunked")))
        XCTAssertEqual(chunked.status, 200)
        XCTAssertEqual(chunked.bodyText, (0..<50).map { "line \($0)\n" }.joined())
        let empty = try await client.send(HTTPRequest(method: "PUT", url: server.url("/empty"), body: []))
        XCTAssertEqual(empty.status, 204)
        XCTAssertTrue(empty.body.isEmpty)
    }

    func testResponseSizeCap() async throws {
        let server = try LoopbackServer { _, writer in try writer.respond(status: 200, body: randomBytes(10_000)) }
        defer { server.stop() }
        let client = HTTPClient()
        await assertTransportError(.responseTooLarge) {
            try await client.send(HTTPRequest(url: server.url("/big"), maxResponseBytes: 1_000))
        }
        let ok = try await client.send(HTTPRequest(url: server.url("/big"), maxResponseBytes: 10_000))
        XCTAssertEqual(ok.body.count, 10_000)
    }

    func testRedirectFollowedWithoutForwardingAuthorizationToAnotherPort() async throws {
        let target = try makeEchoServer()
        defer { target.stop() }
        let targetURL = target.url("/landed")
        let origin = try LoopbackServer { request, writer in
            switch request.pathWithoutQuery {
            case "/elsewhere": try writer.respond(status: 302, headers: ["Location": targetURL])
            case "/same-host": try writer.respond(status: 307, headers: ["Location": "/echo"])
            case "/echo": try writer.respond(status: 200, text: "auth=\(request.headers["Authorization"] ?? "none")")
            default: try writer.respond(status: 404)
            }
        }
        defer { origin.stop() }
        let client = HTTPClient()
        let auth: HTTPHeaders = ["Authorization": "Bearer secret-token"]

        let moved = try await client.send(HTTPRequest(url: origin.url("/elsewhere"), headers: auth, followRedirects: true))
        XCTAssertEqual(moved.status, 200)
        XCTAssertTrue(moved.bodyText.hasPrefix("GET /landed"), moved.bodyText)
        XCTAssertNil(moved.headers["X-Saw-Authorization"], "Authorization must not reach another host:port")
        XCTAssertEqual(moved.url, targetURL)

        // Control: a same-origin redirect keeps the header, so the check above is meaningful.
        let same = try await client.send(HTTPRequest(url: origin.url("/same-host"), headers: auth, followRedirects: true))
        XCTAssertEqual(same.bodyText, "auth=Bearer secret-token")
    }

    func testRedirectNotFollowedWhenDisabled() async throws {
        let server = try LoopbackServer { _, writer in
            try writer.respond(status: 307, headers: ["Location": "http://127.0.0.1:1/nowhere"], text: "moved")
        }
        defer { server.stop() }
        let response = try await sharedTestClient.send(HTTPRequest(url: server.url("/x"), followRedirects: false))
        XCTAssertEqual(response.status, 307)
        XCTAssertEqual(response.headers["Location"], "http://127.0.0.1:1/nowhere")
        XCTAssertEqual(server.statistics.requests, 1)
    }

    func testConnectionRefused() async throws {
        let port = try probeFreeLoopbackPort()
        await assertTransportError(.couldNotConnect) {
            try await sharedTestClient.send(HTTPRequest(url: "http://127.0.0.1:\(port)/v2/"))
        }
    }

    func testLowSpeedTimeoutOnStalledServer() async throws {
        let server = try LoopbackServer { _, writer in
            try writer.writeHead(status: 200, contentLength: 1000)
            try writer.write(randomBytes(10))
            try writer.flush()
            writer.pause(milliseconds: 30_000)      // wakes when the server stops
        }
        defer { server.stop() }
        let start = monotonicNanos()
        let timeouts = HTTPRequest.Timeouts(connectSeconds: 5, lowSpeedBytes: 100, lowSpeedSeconds: 1)
        await assertTransportError(.timeout) {
            try await withDeadline(20) {
                try await sharedTestClient.send(HTTPRequest(url: server.url("/stall"), timeouts: timeouts))
            }
        }
        XCTAssertLessThan(elapsedSeconds(since: start), 8)
    }

    func testServerClosingMidBodyIsConnectionLost() async throws {
        let server = try LoopbackServer { _, writer in
            try writer.writeHead(status: 200, contentLength: 100_000)
            try writer.write(randomBytes(1000))
            writer.abortConnection()
        }
        defer { server.stop() }
        await assertTransportError(.connectionLost) {
            try await sharedTestClient.send(HTTPRequest(url: server.url("/cut")))
        }
    }

    func testManyConcurrentRequests() async throws {
        let server = try makeEchoServer()
        defer { server.stop() }
        let client = HTTPClient()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<64 {
                group.addTask {
                    let body = Array("request \(i)".utf8)
                    let r = try await client.send(HTTPRequest(method: "PUT", url: server.url("/r/\(i)"), body: body))
                    XCTAssertEqual(r.bodyText, "PUT /r/\(i) len=\(body.count) sha=\(SHA256.digest(body)) te=length")
                }
            }
            try await group.waitForAll()
        }
        XCTAssertEqual(client.statistics.requests, 64)
    }
}
