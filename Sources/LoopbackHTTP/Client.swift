#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An `http(s)://host:port/path?query` URL (IPv4 literal or localhost hosts).
public struct LoopbackURL: Sendable, Equatable, CustomStringConvertible {
    public var scheme: String
    public var host: String
    public var port: Int
    /// Path plus query, at least "/".
    public var target: String

    public init?(_ s: String) {
        let lower = s.lowercased()
        if lower.hasPrefix("http://") { scheme = "http" } else if lower.hasPrefix("https://") { scheme = "https" } else { return nil }
        let rest = s.dropFirst(scheme.count + 3)
        let authority = rest.prefix { $0 != "/" && $0 != "?" }
        var path = String(rest.dropFirst(authority.count))
        if path.isEmpty || path.first == "?" { path = "/" + path }
        target = path
        if let colon = authority.lastIndex(of: ":"), let p = Int(authority[authority.index(after: colon)...]) {
            host = String(authority[..<colon])
            port = p
        } else {
            host = String(authority)
            port = scheme == "https" ? 443 : 80
        }
        if host.isEmpty { return nil }
    }

    public var isTLS: Bool { scheme == "https" }
    /// `scheme://host:port`.
    public var origin: String { "\(scheme)://\(host):\(port)" }
    public var authority: String { "\(host):\(port)" }
    public var description: String { origin + target }
}

/// Status line and headers of a response.
public struct ClientResponseHead: Sendable {
    public var status: Int
    public var reason: String
    public var headers: HeaderFields
}

/// A whole response.
public struct ClientResponse: Sendable {
    public var status: Int
    public var headers: HeaderFields
    public var body: [UInt8]
    public var bodyText: String { String(decoding: body, as: UTF8.self) }

    public init(status: Int, headers: HeaderFields, body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

/// A blocking HTTP/1.1 client connection for test tooling (proxies, readiness probes). TLS never
/// verifies the peer. Streams bodies both ways; reusable after a complete exchange when
/// `isReusable`. One thread uses it at a time; `shutdown()` may be called from any thread.
public final class ClientConnection: @unchecked Sendable {
    public let host: String
    public let port: Int
    public let isTLS: Bool
    let stream: SocketStream
    private let io: BufferedStream
    private var requestFraming: BodyFraming = .none
    private var requestBodySent: Int64 = 0
    private var lastMethod = "GET"
    private var keepAlive = true
    private var response: BodyDecoder?
    private var broken = false

    public init(host: String = "127.0.0.1", port: Int, tls: Bool = false, connectTimeoutSeconds: Double = 5,
                ioTimeoutSeconds: Double = 60) throws {
        self.host = host
        self.port = port
        isTLS = tls
        let fd = try Sockets.connect(host: host, port: port, timeoutSeconds: connectTimeoutSeconds)
        Sockets.setTimeouts(fd, seconds: ioTimeoutSeconds)
        stream = SocketStream(fd: fd)
        if tls {
            guard let ctx = TLSContext.sharedClient else { stream.close(); throw LoopbackError("no TLS client context") }
            do { try stream.connectTLS(ctx, serverName: host) } catch { stream.close(graceful: false); throw error }
        }
        io = BufferedStream(stream: stream)
    }

    public convenience init(url: LoopbackURL, connectTimeoutSeconds: Double = 5, ioTimeoutSeconds: Double = 60) throws {
        try self.init(host: url.host, port: url.port, tls: url.isTLS, connectTimeoutSeconds: connectTimeoutSeconds,
                      ioTimeoutSeconds: ioTimeoutSeconds)
    }

    deinit { stream.close(graceful: false) }

    /// Sends the request head. `bodyLength`: nil = chunked body, 0 = no body. Adds `Host` if missing.
    public func writeHead(method: String, target: String, headers: HeaderFields = [:], bodyLength: Int64?) throws {
        var h = headers
        if h["Host"] == nil { h.fields.insert((name: "Host", value: "\(host):\(port)"), at: 0) }
        h.remove("Transfer-Encoding")
        h.remove("Content-Length")
        switch bodyLength {
        case nil:
            h.set("Transfer-Encoding", "chunked")
            requestFraming = .chunked
        case .some(let n):
            if n > 0 || ["POST", "PUT", "PATCH"].contains(method.uppercased()) { h.set("Content-Length", String(n)) }
            requestFraming = n > 0 ? .length(n) : .none
        }
        if h.hasToken("Connection", "close") { keepAlive = false }
        lastMethod = method.uppercased()
        requestBodySent = 0
        response = nil
        do { try stream.send(serializeHead(firstLine: "\(method) \(target) HTTP/1.1", headers: h)) } catch { broken = true; throw error }
    }

    /// Sends request body bytes.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count > 0 else { return }
        do {
            if requestFraming == .chunked {
                try stream.send(Array(String(bytes.count, radix: 16).utf8) + [13, 10])
                try stream.send(bytes.baseAddress!, bytes.count)
                try stream.send([13, 10])
            } else {
                try stream.send(bytes.baseAddress!, bytes.count)
            }
        } catch {
            broken = true
            throw error
        }
        requestBodySent += Int64(bytes.count)
    }

    public func write(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try write($0) } }

    /// Ends the request body (sends the last chunk of a chunked body).
    public func finishBody() throws {
        if requestFraming == .chunked {
            do { try stream.send(Array("0\r\n\r\n".utf8)) } catch { broken = true; throw error }
        }
        requestFraming = .none
    }

    /// Reads the final response head (1xx responses are skipped).
    public func readResponseHead() throws -> ClientResponseHead {
        while true {
            guard let bytes = try io.readHead(limit: 256 << 10, idleTimeoutMs: nil) else {
                broken = true
                throw LoopbackError("connection closed before a response", code: ECONNRESET)
            }
            let head = try ResponseHead(bytes)
            if (100..<200).contains(head.status) { continue }
            let framing: BodyFraming
            if lastMethod == "HEAD" || head.status == 204 || head.status == 304 {
                framing = .none
            } else if head.headers.isChunked {
                framing = .chunked
            } else if let n = head.headers.contentLength {
                framing = .length(n)
            } else {
                framing = .untilClose
                keepAlive = false
            }
            if head.headers.hasToken("Connection", "close") || head.version == "HTTP/1.0" { keepAlive = false }
            response = BodyDecoder(io: io, framing: framing)
            return ClientResponseHead(status: head.status, reason: head.reason, headers: head.headers)
        }
    }

    /// The announced response body length (nil when chunked or close-delimited).
    public var responseContentLength: Int64? {
        switch response?.framing {
        case .length(let n): return n
        case .none?: return 0
        default: return nil
        }
    }

    /// Reads response body bytes; 0 at the end. Throws if the server closes early.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard let r = response, buffer.count > 0 else { return 0 }
        do { return try r.read(into: buffer.baseAddress!, max: buffer.count) } catch { broken = true; throw error }
    }

    /// The rest of the response body.
    public func readBody(limit: Int = 256 << 20) throws -> [UInt8] {
        guard let r = response else { return [] }
        do { return try r.readAll(limit: limit) } catch { broken = true; throw error }
    }

    /// The exchange completed and the server keeps the connection open.
    public var isReusable: Bool { keepAlive && !broken && (response?.finished ?? false) && requestFraming == .none }

    /// Wakes a thread blocked on this connection (from any thread).
    public func shutdown() { stream.shutdownNow() }

    public func close() { stream.close(graceful: false) }

    /// One complete exchange on this connection.
    public func send(method: String, target: String, headers: HeaderFields = [:], body: [UInt8] = [],
                     responseLimit: Int = 256 << 20) throws -> ClientResponse {
        try writeHead(method: method, target: target, headers: headers, bodyLength: Int64(body.count))
        try write(body)
        let head = try readResponseHead()
        let data = try readBody(limit: responseLimit)
        return ClientResponse(status: head.status, headers: head.headers, body: data)
    }
}

/// One-shot blocking requests (a new connection each) for probes and simple test calls.
public enum LoopbackClient {
    public static func request(_ method: String, _ url: String, headers: HeaderFields = [:], body: [UInt8] = [],
                               timeoutSeconds: Double = 30) throws -> ClientResponse {
        guard let u = LoopbackURL(url) else { throw LoopbackError("bad URL \(url)") }
        let c = try ClientConnection(url: u, connectTimeoutSeconds: min(timeoutSeconds, 10), ioTimeoutSeconds: timeoutSeconds)
        defer { c.close() }
        var h = headers
        if h["Connection"] == nil { h.set("Connection", "close") }
        return try c.send(method: method, target: u.target, headers: h, body: body)
    }

    public static func get(_ url: String, headers: HeaderFields = [:], timeoutSeconds: Double = 30) throws -> ClientResponse {
        try request("GET", url, headers: headers, timeoutSeconds: timeoutSeconds)
    }

    /// `request` on a dedicated thread, for async callers.
    public static func requestAsync(_ method: String, _ url: String, headers: HeaderFields = [:], body: [UInt8] = [],
                                    timeoutSeconds: Double = 30) async throws -> ClientResponse {
        try await runOnThread(name: "loopback-client") {
            try request(method, url, headers: headers, body: body, timeoutSeconds: timeoutSeconds)
        }
    }
}

extension ClientConnection {
    /// An idle keep-alive connection the server has not closed (nothing readable, no EOF pending).
    public var isIdleAndAlive: Bool { isReusable && !stream.waitReadable(timeoutMs: 0) }
}
