import HTTPTransport
import LoopbackHTTP

/// Serves a route handler on a `LoopbackServer` (HTTPS on 127.0.0.1). The handler can be installed after
/// the server started (the issuer URL needs the OAuth server's port before its routes exist).
final class RouteHost: Sendable {
    typealias Route = @Sendable (EmuRequest) -> EmuResponse

    let server: LoopbackServer
    private let route = Locked<Route?>(nil)
    private let log: AccessLog?

    init(name: String, tls: TLSIdentity, log: AccessLog?) throws {
        let box = route
        self.log = log
        let logger = log
        server = try LoopbackServer(tls: tls, options: LoopbackServer.Options(name: name, maxBufferedBodyBytes: 1 << 20)) {
            request, writer in
            let req = EmuRequest(method: request.method, target: request.path,
                                 headers: request.headers.fields.map { (name: $0.name, value: $0.value) },
                                 body: request.body)
            let handler = box.withLock { $0 }
            let response = handler?(req) ?? EmuResponse.text(503, "starting\n")
            var headers = HeaderFields()
            for h in response.headers { headers.add(h.name, h.value) }
            logger?.record(server: name, method: req.method, path: req.path, status: response.status)
            try writer.respond(status: response.status, headers: headers, body: response.body)
        }
    }

    func install(_ handler: @escaping Route) { route.withLock { $0 = handler } }

    var port: Int { server.port }
    var baseURL: String { "https://127.0.0.1:\(server.port)" }

    func stop() { server.stop() }
}

/// Method, path (never the query: it may hold codes) and status of each request, one line each.
final class AccessLog: Sendable {
    let path: String
    /// An Int, not Void: see JWTSigner (TSan false positive on zero-sized values).
    private let lock = Locked(0)

    init(path: String) { self.path = path }

    func record(server: String, method: String, path requestPath: String, status: Int) {
        let line = "\(Clock.rfc3339(Clock.now())) \(server) \(method) \(requestPath) \(status)\n"
        lock.withLock { _ in try? FileSystem.append(Array(line.utf8), to: path) }
    }
}
