import LoopbackHTTP
#if canImport(Glibc)
import Glibc
#endif

/// A loopback reverse proxy in front of one upstream (usually a real `docker-registry`) that streams
/// bodies both ways and injects scripted faults per request. `Location` headers pointing at the
/// upstream are rewritten to the proxy, so clients keep talking through it. Every request is logged
/// (method, path, status, fault, whether `Authorization` arrived) for assertions.
public final class FaultProxy: Sendable {
    /// What to do with one request. Faults that answer by themselves (`status`, `tooManyRequests`,
    /// `redirect`, `dropConnection`) never reach the upstream.
    public enum Fault: Sendable, CustomStringConvertible {
        case passThrough
        /// Delay before forwarding the request and before sending the response head (a round trip of
        /// `requestMs + responseMs` per request, as between clusters that are not on one host).
        case latency(requestMs: Int, responseMs: Int)
        /// Flip every bit of the response body byte at `offset` (same length, wrong content).
        case corruptByte(at: Int64)
        /// Forward `bytes` response body bytes, then close the connection.
        case cutAfter(bytes: Int64)
        /// Like `cutAfter`, stated as the test intends it: the full `Content-Length` is announced but
        /// only `bytes` bytes follow before the connection closes.
        case truncate(bytes: Int64)
        /// Answer `status` with an optional `Retry-After` without contacting the upstream.
        case status(Int, retryAfter: Int? = nil, body: String = "")
        /// 429 with `Retry-After: seconds`.
        case tooManyRequests(retryAfterSeconds: Int)
        /// Send nothing for `seconds`: before the response head (`afterBytes` nil) or after that many
        /// body bytes; then continue normally (unless the client gave up).
        case stall(seconds: Double, afterBytes: Int64? = nil)
        /// Set a response header (replacing any upstream value).
        case setHeader(String, String)
        /// Drop a response header (e.g. `Docker-Content-Digest`).
        case removeHeader(String)
        /// Set or drop (`nil`) a request header before forwarding.
        case setRequestHeader(String, String?)
        /// Answer `status` with `Location: <baseURL><original path and query>` (e.g. a blob GET sent to
        /// storage on another port).
        case redirect(to: String, status: Int = 307)
        /// Answer with exactly this status, headers and body without contacting the upstream (a front
        /// that decides for itself, such as an authorizing proxy).
        case respond(Int, headers: [(String, String)], body: [UInt8])
        /// Close the connection without answering.
        case dropConnection
        /// Several faults at once.
        case combine([Fault])

        public var description: String {
            switch self {
            case .passThrough: return "passThrough"
            case .latency(let a, let b): return "latency(\(a)ms,\(b)ms)"
            case .corruptByte(let at): return "corruptByte(\(at))"
            case .cutAfter(let n): return "cutAfter(\(n))"
            case .truncate(let n): return "truncate(\(n))"
            case .status(let s, let r, _): return "status(\(s)\(r.map { ",retryAfter=\($0)" } ?? ""))"
            case .tooManyRequests(let s): return "429(retryAfter=\(s))"
            case .stall(let s, let a): return "stall(\(s)s\(a.map { ",after=\($0)" } ?? ""))"
            case .setHeader(let n, let v): return "setHeader(\(n)=\(v))"
            case .removeHeader(let n): return "removeHeader(\(n))"
            case .setRequestHeader(let n, let v): return "setRequestHeader(\(n)=\(v ?? "nil"))"
            case .redirect(let to, let s): return "redirect(\(s)→\(to))"
            case .respond(let s, _, _): return "respond(\(s))"
            case .dropConnection: return "dropConnection"
            case .combine(let list): return list.map(\.description).joined(separator: "+")
            }
        }

        var flattened: [Fault] {
            if case .combine(let list) = self { return list.flatMap(\.flattened) }
            return [self]
        }
    }

    /// The request a rule or decider looks at.
    public struct ProxyRequest: Sendable {
        public var method: String
        /// Path with query.
        public var path: String
        public var headers: HeaderFields
        /// 1-based number of this request on the proxy.
        public var sequence: Int
        public var pathWithoutQuery: String { String(path.prefix { $0 != "?" }) }
    }

    /// Applies `fault` to matching requests, for the first `times` matches (nil: all of them).
    public struct Rule: Sendable {
        public var method: String?
        public var pathContains: String?
        public var matches: (@Sendable (ProxyRequest) -> Bool)?
        public var fault: Fault
        public var times: Int?

        public init(method: String? = nil, pathContains: String? = nil, where matches: (@Sendable (ProxyRequest) -> Bool)? = nil,
                    fault: Fault, times: Int? = nil) {
            self.method = method
            self.pathContains = pathContains
            self.matches = matches
            self.fault = fault
            self.times = times
        }

        func applies(to r: ProxyRequest) -> Bool {
            if let method, method.uppercased() != r.method.uppercased() { return false }
            if let pathContains, !r.path.contains(pathContains) { return false }
            if let matches, !matches(r) { return false }
            return true
        }
    }

    public struct LogEntry: Sendable {
        public var sequence: Int
        public var method: String
        public var path: String
        public var requestHeaders: HeaderFields
        /// Status sent to the client (0 if none was sent).
        public var status: Int
        /// Status the upstream answered (0 if it was not asked or failed).
        public var upstreamStatus: Int
        /// Faults applied, "" for none.
        public var fault: String
        public var hadAuthorization: Bool
        public var requestBodyBytes: Int64
        public var responseBodyBytes: Int64
        /// The response was cut, truncated or dropped on purpose, or broke.
        public var interrupted: Bool
    }

    struct Shared: Sendable {
        var rules: [Rule] = []
        var decider: (@Sendable (ProxyRequest) -> Fault?)? = nil
        var sequence = 0
        var log: [LogEntry] = []
    }

    public let upstream: LoopbackURL
    public let server: LoopbackServer
    private let shared: Protected<Shared>
    private let pool: UpstreamPool

    /// - Parameters:
    ///   - upstream: base URL of the upstream (`http://127.0.0.1:5000`); https upstreams are not verified.
    ///   - tls: serve HTTPS with this identity.
    public init(upstream: String, tls: TLSIdentity? = nil, rules: [Rule] = [], name: String = "fault-proxy") throws {
        guard let up = LoopbackURL(upstream) else { throw LoopbackError("bad upstream URL \(upstream)") }
        self.upstream = up
        let shared = Protected(Shared(rules: rules))
        let pool = UpstreamPool(upstream: up)
        self.shared = shared
        self.pool = pool
        let proxyOrigin = Protected<String>("")
        server = try LoopbackServer(tls: tls, options: .init(name: name, ioTimeoutSeconds: 120)) { request, body, writer in
            try FaultProxy.handle(request, body, writer, shared: shared, pool: pool, upstream: up, proxyOrigin: proxyOrigin.snapshot)
        }
        proxyOrigin.withLock { $0 = server.baseURL }
    }

    deinit { stop() }

    public var port: Int { server.port }
    public var baseURL: String { server.baseURL }
    /// `127.0.0.1:<port>` (what registry references use).
    public var authority: String { server.authority }
    public func url(_ path: String) -> String { server.url(path) }

    public func setRules(_ rules: [Rule]) { shared.withLock { $0.rules = rules } }
    public func addRule(_ rule: Rule) { shared.withLock { $0.rules.append(rule) } }
    /// Consulted before the rules; return nil to fall through to them.
    public func setDecider(_ decider: (@Sendable (ProxyRequest) -> Fault?)?) { shared.withLock { $0.decider = decider } }

    public var log: [LogEntry] { shared.withLock { $0.log } }
    public func resetLog() { shared.withLock { $0.log = [] } }

    /// Logged requests matching `method` and a path substring.
    public func count(method: String? = nil, pathContains: String? = nil, status: Int? = nil) -> Int {
        log.filter { e in
            (method == nil || e.method == method!) && (pathContains == nil || e.path.contains(pathContains!))
                && (status == nil || e.status == status!)
        }.count
    }

    /// Waits until `predicate` holds for the log (entries are written when a response ends, which can
    /// be just after the client saw it).
    @discardableResult
    public func waitForLog(timeoutSeconds: Double = 5, _ predicate: @escaping ([LogEntry]) -> Bool) -> Bool {
        shared.wait(timeoutSeconds: timeoutSeconds) { predicate($0.log) }
    }

    /// Stops the proxy and closes upstream connections.
    public func stop() {
        pool.shutdownAll()
        server.stop()
        pool.shutdownAll()
    }

    // MARK: request handling (connection thread)

    private static let hopByHop: Set<String> = ["connection", "keep-alive", "proxy-connection", "proxy-authenticate",
                                                "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade",
                                                "content-length"]

    private static func handle(_ request: ServerRequest, _ body: RequestBodyReader, _ writer: ServerResponseWriter,
                               shared: Protected<Shared>, pool: UpstreamPool, upstream: LoopbackURL,
                               proxyOrigin: String) throws {
        var pr = ProxyRequest(method: request.method, path: request.path, headers: request.headers, sequence: 0)
        let faults: [Fault] = shared.withLock { s -> [Fault] in
            s.sequence += 1
            pr.sequence = s.sequence
            if let f = s.decider?(pr) { return f.flattened }
            for i in s.rules.indices where s.rules[i].applies(to: pr) {
                if let t = s.rules[i].times {
                    if t <= 0 { continue }
                    s.rules[i].times = t - 1
                }
                return s.rules[i].fault.flattened
            }
            return []
        }
        let entry = LogEntry(sequence: pr.sequence, method: request.method, path: request.path, requestHeaders: request.headers,
                             status: 0, upstreamStatus: 0,
                             fault: faults.map(\.description).joined(separator: "+"),
                             hadAuthorization: request.headers["Authorization"] != nil,
                             requestBodyBytes: 0, responseBodyBytes: 0, interrupted: false)
        // The entry is logged now and updated as the exchange goes on: its status is set before the
        // client can see the response, so assertions right after a request find it.
        shared.withLock { $0.log.append(entry) }
        let sequence = pr.sequence
        func update(_ change: (inout LogEntry) -> Void) {
            shared.withLock { s in
                if let i = s.log.lastIndex(where: { $0.sequence == sequence }) { change(&s.log[i]) }
            }
        }
        func respond(_ status: Int, headers: HeaderFields = [:], body bytes: [UInt8] = []) throws {
            update { $0.status = status }
            try writer.respond(status: status, headers: headers, body: bytes)
        }
        defer {
            let status = writer.headSent ? writer.status : 0
            let sent = writer.bodyBytesWritten, received = body.bytesRead, aborted = writer.aborted
            update { e in
                e.status = status
                e.responseBodyBytes = sent
                e.requestBodyBytes = received
                if aborted { e.interrupted = true }
            }
        }

        var requestDelay = 0, responseDelay = 0
        var corruptAt: Int64? = nil, cutAt: Int64? = nil
        var stallHead: Double? = nil
        var stallBody: (Double, Int64)? = nil
        var setHeaders: [(String, String)] = [], removeHeaders: [String] = []
        var requestHeaderChanges: [(String, String?)] = []
        for f in faults {
            switch f {
            case .passThrough, .combine: break
            case .latency(let a, let b): requestDelay += a; responseDelay += b
            case .corruptByte(let at): corruptAt = at
            case .cutAfter(let n), .truncate(let n): cutAt = n
            case .stall(let s, nil): stallHead = s
            case .stall(let s, let after?): stallBody = (s, after)
            case .setHeader(let n, let v): setHeaders.append((n, v))
            case .removeHeader(let n): removeHeaders.append(n)
            case .setRequestHeader(let n, let v): requestHeaderChanges.append((n, v))
            case .status(let code, let retry, let text):
                if requestDelay > 0 { writer.pause(milliseconds: requestDelay) }
                var h = HeaderFields()
                if let retry { h.set("Retry-After", String(retry)) }
                h.set("Content-Type", "application/json")
                for (n, v) in setHeaders { h.set(n, v) }   // `.combine([.setHeader(…), .status(…)])`
                let msg = text.isEmpty ? "{\"errors\":[{\"code\":\"UNAVAILABLE\",\"message\":\"injected \(code)\"}]}" : text
                try respond(code, headers: h, body: Array(msg.utf8))
                return
            case .tooManyRequests(let s):
                if requestDelay > 0 { writer.pause(milliseconds: requestDelay) }
                try respond(429, headers: ["Retry-After": String(s), "Content-Type": "application/json"],
                            body: Array("{\"errors\":[{\"code\":\"TOOMANYREQUESTS\",\"message\":\"slow down\"}]}".utf8))
                return
            case .redirect(let base, let code):
                var b = base
                while b.hasSuffix("/") { b.removeLast() }
                try respond(code, headers: ["Location": b + request.path])
                return
            case .respond(let code, let fields, let bytes):
                var h = HeaderFields()
                for (n, v) in fields { h.add(n, v) }
                try respond(code, headers: h, body: request.method == "HEAD" ? [] : bytes)
                return
            case .dropConnection:
                update { $0.interrupted = true }
                writer.abortConnection()
                return
            }
        }

        if requestDelay > 0 && !writer.pause(milliseconds: requestDelay) { return }

        // Forward the request.
        var headers = HeaderFields()
        for f in request.headers where !hopByHop.contains(f.name.lowercased()) && f.name.lowercased() != "host" {
            headers.add(f.name, f.value)
        }
        headers.fields.insert((name: "Host", value: upstream.authority), at: 0)
        for (n, v) in requestHeaderChanges { headers[n] = v }
        let hasBody = body.contentLength != 0
        // Bodiless requests may reuse a pooled connection; if it turns out to be stale (closed by the
        // upstream just now), retry once on a fresh one. Requests with bodies always get a fresh one.
        var conn: ClientConnection
        var head: ClientResponseHead? = nil
        var attempt = 0
        while true {
            do {
                conn = try pool.checkout(fresh: hasBody || attempt > 0)
            } catch {
                try respond(502, body: Array("upstream unreachable: \(error)\n".utf8))
                return
            }
            do {
                try conn.writeHead(method: request.method, target: request.path, headers: headers, bodyLength: body.contentLength)
                if hasBody {
                    try body.forEachChunk { try conn.write($0) }
                    try conn.finishBody()
                }
                head = try conn.readResponseHead()
                break
            } catch {
                pool.checkin(conn, reusable: false)
                if !hasBody && attempt == 0 && !writer.isStopping {
                    attempt += 1
                    continue
                }
                if !writer.headSent { try? respond(502, body: Array("upstream failed: \(error)\n".utf8)) }
                return
            }
        }
        guard let head else { return }
        var reusable = false
        defer { pool.checkin(conn, reusable: reusable) }
        update { $0.upstreamStatus = head.status }

        if let s = stallHead, !writer.pause(milliseconds: Int(s * 1000)) { return }
        if responseDelay > 0 && !writer.pause(milliseconds: responseDelay) { return }

        var out = HeaderFields()
        for f in head.headers where !hopByHop.contains(f.name.lowercased()) {
            var value = f.value
            if f.name.lowercased() == "location" { value = rewriteLocation(value, upstream: upstream, proxyOrigin: proxyOrigin) }
            out.add(f.name, value)
        }
        for n in removeHeaders { out.remove(n) }
        for (n, v) in setHeaders { out.set(n, v) }
        // HEAD answers announce the size of the body they do not carry.
        let length = request.method == "HEAD" ? head.headers["Content-Length"].flatMap { Int64($0) } : conn.responseContentLength
        update { $0.status = head.status }
        try writer.writeHead(status: head.status, reason: head.reason, headers: out, contentLength: length)

        // Stream the body with the byte-level faults.
        let bufSize = 256 << 10
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: bufSize, alignment: 16)
        defer { buf.deallocate() }
        var sent: Int64 = 0
        var stalled = false
        while true {
            var want = bufSize
            if let cut = cutAt { want = Int(min(Int64(want), max(0, cut - sent))) }
            if let (_, after) = stallBody, !stalled, sent < after { want = Int(min(Int64(want), after - sent)) }
            if want == 0 {
                if let cut = cutAt, sent >= cut {
                    writer.abortConnection()
                    return
                }
                if let (secs, after) = stallBody, !stalled, sent >= after {
                    stalled = true
                    try writer.flush()
                    if !writer.pause(milliseconds: Int(secs * 1000)) { return }
                    continue
                }
            }
            let n: Int
            do { n = try conn.read(into: UnsafeMutableRawBufferPointer(rebasing: buf[0..<max(want, 1)])) } catch {
                writer.abortConnection()
                return
            }
            if n == 0 { break }
            if let at = corruptAt, at >= sent, at < sent + Int64(n) {
                let i = Int(at - sent)
                buf[i] = ~buf[i]
            }
            try writer.write(UnsafeRawBufferPointer(rebasing: buf[0..<n]))
            sent += Int64(n)
            if let (secs, after) = stallBody, !stalled, sent >= after {
                stalled = true
                try writer.flush()
                if !writer.pause(milliseconds: Int(secs * 1000)) { return }
            }
            if let cut = cutAt, sent >= cut {
                writer.abortConnection()
                return
            }
        }
        try writer.finish()
        reusable = conn.isReusable
    }

    static func rewriteLocation(_ value: String, upstream: LoopbackURL, proxyOrigin: String) -> String {
        let candidates = [upstream.origin, "\(upstream.scheme)://\(upstream.host)",
                          "\(upstream.scheme)://localhost:\(upstream.port)"]
        for c in candidates where value.hasPrefix(c) {
            let rest = value.dropFirst(c.count)
            if c == candidates[1] && !(rest.isEmpty || rest.first == "/") { continue }
            return proxyOrigin + rest
        }
        return value
    }
}

/// Keep-alive connections to the upstream, all tracked so `stop()` can wake blocked handlers.
final class UpstreamPool: Sendable {
    let upstream: LoopbackURL
    private let state = Protected<(idle: [ClientConnection], all: [ObjectIdentifier: ClientConnection], closed: Bool)>(([], [:], false))

    init(upstream: LoopbackURL) { self.upstream = upstream }

    func checkout(fresh: Bool) throws -> ClientConnection {
        if !fresh {
            while let c = state.withLock({ $0.idle.popLast() }) {
                if c.isIdleAndAlive { return c }
                discard(c)
            }
        }
        let c = try ClientConnection(url: upstream, connectTimeoutSeconds: 5, ioTimeoutSeconds: 120)
        let closed = state.withLock { s -> Bool in
            if !s.closed { s.all[ObjectIdentifier(c)] = c }
            return s.closed
        }
        if closed {
            c.close()
            throw LoopbackError("proxy stopped")
        }
        return c
    }

    func checkin(_ c: ClientConnection, reusable: Bool) {
        let keep = state.withLock { s -> Bool in
            if reusable && !s.closed && s.idle.count < 32 {
                s.idle.append(c)
                return true
            }
            return false
        }
        if !keep { discard(c) }
    }

    private func discard(_ c: ClientConnection) {
        state.withLock { _ = $0.all.removeValue(forKey: ObjectIdentifier(c)) }
        c.close()
    }

    func shutdownAll() {
        let all = state.withLock { s -> [ClientConnection] in
            s.closed = true
            s.idle = []
            return Array(s.all.values)
        }
        for c in all { c.shutdown() }
    }
}
