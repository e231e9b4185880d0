#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One request as the handler sees it. In streaming mode `body` is empty (read it from the
/// `RequestBodyReader`); in buffered mode it holds the whole body.
public struct ServerRequest: Sendable {
    public var method: String
    /// The request target as sent: path plus `?query` (e.g. `/v2/app/blobs/uploads/?mount=x`).
    public var path: String
    public var version: String
    public var headers: HeaderFields
    public var body: [UInt8]
    /// Connection number on this server (1-based) and request number on that connection (1-based):
    /// tests use them to see keep-alive at work.
    public var connectionID: Int
    public var requestNumber: Int
    public var remotePort: Int
    public var isTLS: Bool

    public init(method: String, path: String, version: String = "HTTP/1.1", headers: HeaderFields = [:],
                body: [UInt8] = [], connectionID: Int = 0, requestNumber: Int = 0, remotePort: Int = 0,
                isTLS: Bool = false) {
        self.method = method
        self.path = path
        self.version = version
        self.headers = headers
        self.body = body
        self.connectionID = connectionID
        self.requestNumber = requestNumber
        self.remotePort = remotePort
        self.isTLS = isTLS
    }

    /// The path without the query string.
    public var pathWithoutQuery: String { String(path.prefix { $0 != "?" }) }

    /// The raw query string (after `?`), if any.
    public var query: String? {
        guard let q = path.firstIndex(of: "?") else { return nil }
        return String(path[path.index(after: q)...])
    }

    /// Query parameters, percent-decoded (`+` is a space), in order.
    public var queryItems: [(name: String, value: String)] { query.map(FormCoding.decode) ?? [] }

    public func queryValue(_ name: String) -> String? { queryItems.first { $0.name == name }?.value }
    public func queryValues(_ name: String) -> [String] { queryItems.filter { $0.name == name }.map(\.value) }

    public var bodyText: String { String(decoding: body, as: UTF8.self) }

    /// `application/x-www-form-urlencoded` body fields.
    public var formItems: [(name: String, value: String)] { FormCoding.decode(bodyText) }

    /// Credentials of an `Authorization: Basic` header.
    public var basicCredentials: (user: String, password: String)? {
        guard let v = headers["Authorization"], v.lowercased().hasPrefix("basic "),
              let raw = Base64.decode(String(v.dropFirst(6)).trimmingSpaces()) else { return nil }
        let s = String(decoding: raw, as: UTF8.self)
        guard let colon = s.firstIndex(of: ":") else { return nil }
        return (String(s[..<colon]), String(s[s.index(after: colon)...]))
    }

    /// The token of an `Authorization: Bearer` header.
    public var bearerToken: String? {
        guard let v = headers["Authorization"], v.lowercased().hasPrefix("bearer ") else { return nil }
        return String(v.dropFirst(7)).trimmingSpaces()
    }
}

/// Incremental access to a request body (Content-Length or chunked). Owned by the handler's thread.
public final class RequestBodyReader {
    let decoder: BodyDecoder

    init(decoder: BodyDecoder) { self.decoder = decoder }

    /// The announced length; nil for chunked bodies.
    public var contentLength: Int64? {
        switch decoder.framing {
        case .length(let n): return n
        case .none: return 0
        default: return nil
        }
    }
    public var isChunked: Bool { decoder.framing == .chunked }
    public var bytesRead: Int64 { decoder.bytesRead }
    /// The whole body has been read.
    public var isComplete: Bool { decoder.finished }

    /// Reads up to `buffer.count` bytes; 0 at the end of the body. Throws when the client disconnects
    /// before the announced end.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard buffer.count > 0 else { return 0 }
        return try decoder.read(into: buffer.baseAddress!, max: buffer.count)
    }

    /// The next piece of the body (at most `maxBytes`), or nil at the end.
    public func read(maxBytes: Int = 64 << 10) throws -> [UInt8]? {
        var chunk = [UInt8](repeating: 0, count: maxBytes)
        let n = try chunk.withUnsafeMutableBytes { try read(into: $0) }
        if n == 0 { return nil }
        chunk.removeLast(maxBytes - n)
        return chunk
    }

    /// The rest of the body; throws if it exceeds `limit` bytes.
    public func readAll(limit: Int = 256 << 20) throws -> [UInt8] { try decoder.readAll(limit: limit) }

    /// Streams the rest of the body through `body` in pieces of at most `bufferSize`; returns the byte count.
    @discardableResult
    public func forEachChunk(bufferSize: Int = 256 << 10, _ body: (UnsafeRawBufferPointer) throws -> Void) throws -> Int64 {
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: bufferSize, alignment: 16)
        defer { buf.deallocate() }
        var total: Int64 = 0
        while true {
            let n = try read(into: buf)
            if n == 0 { return total }
            total += Int64(n)
            try body(UnsafeRawBufferPointer(rebasing: buf[0..<n]))
        }
    }
}

/// Writes one response: either `respond(...)` in one go, or `writeHead` + `write`/`flush` + `finish`
/// for streaming (sleep between chunks with `pause`, cut the connection with `abortConnection`).
/// Owned by the handler's thread.
public final class ServerResponseWriter {
    let stream: SocketStream
    let core: ServerCore
    /// The request method (HEAD responses never carry a body: writes are dropped).
    public let requestMethod: String
    var keepAlive: Bool
    public private(set) var headSent = false
    public private(set) var finished = false
    public private(set) var aborted = false
    public private(set) var status = 0
    public private(set) var bodyBytesWritten: Int64 = 0
    private var framing: BodyFraming = .none
    private var pending: [UInt8] = []

    init(stream: SocketStream, core: ServerCore, requestMethod: String, keepAlive: Bool) {
        self.stream = stream
        self.core = core
        self.requestMethod = requestMethod
        self.keepAlive = keepAlive
    }

    /// The server is stopping: long-running handlers should return.
    public var isStopping: Bool { core.isStopping }

    /// Forces `Connection: close` (set before `writeHead`); the connection closes after this response.
    public func closeConnectionAfterResponse() { keepAlive = false }

    /// Sends the status line and headers. `contentLength` nil means: the `Content-Length` in `headers`
    /// if present, else chunked encoding. `Connection: close` in `headers` closes the connection after
    /// the response. For HEAD, 1xx, 204 and 304 no body follows (writes are ignored).
    public func writeHead(status: Int, reason: String? = nil, headers: HeaderFields = [:], contentLength: Int64? = nil) throws {
        precondition(!headSent, "writeHead called twice")
        var h = headers
        self.status = status
        let noBody = requestMethod == "HEAD" || status == 204 || status == 304 || (100..<200).contains(status)
        if h.hasToken("Connection", "close") { keepAlive = false }
        if let n = contentLength {
            h.remove("Transfer-Encoding")
            if status != 204 && status != 304 { h.set("Content-Length", String(n)) }
            framing = noBody ? .none : .length(n)
        } else if let n = h.contentLength {
            h.remove("Transfer-Encoding")
            framing = noBody ? .none : .length(n)
        } else if noBody {
            framing = .none
        } else {
            h.set("Transfer-Encoding", "chunked")
            framing = .chunked
        }
        if !keepAlive { h.set("Connection", "close") }
        headSent = true
        pending += serializeHead(firstLine: "HTTP/1.1 \(status) \(reason ?? reasonPhrase(status))", headers: h)
        if case .length(0) = framing { framing = .none }
    }

    /// Appends body bytes (buffered up to 64 KiB; larger writes go straight to the socket).
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard headSent else { throw LoopbackError("write before writeHead") }
        guard !aborted, !finished else { throw LoopbackError("write after the response ended", code: EPIPE) }
        if bytes.count == 0 { return }
        switch framing {
        case .none:
            return
        case .length(let n):
            guard bodyBytesWritten + Int64(bytes.count) <= n else {
                throw LoopbackError("response body exceeds the announced Content-Length \(n)")
            }
            try append(bytes)
        case .chunked:
            pending += Array(String(bytes.count, radix: 16).utf8) + [13, 10]
            try append(bytes)
            pending += [13, 10]
        case .untilClose:
            try append(bytes)
        }
        bodyBytesWritten += Int64(bytes.count)
    }

    public func write(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try write($0) } }
    public func write(_ text: String) throws { try write(Array(text.utf8)) }

    private func append(_ bytes: UnsafeRawBufferPointer) throws {
        if pending.count + bytes.count <= 64 << 10 {
            pending += bytes
        } else {
            try flush()
            try stream.send(bytes.baseAddress!, bytes.count)
        }
    }

    /// Sends everything buffered so far.
    public func flush() throws {
        guard !pending.isEmpty else { return }
        let data = pending
        pending.removeAll(keepingCapacity: true)
        try stream.send(data)
    }

    /// Ends the response (the final chunk for chunked bodies) and flushes. A body shorter than its
    /// announced Content-Length closes the connection afterwards (the client sees a truncated body).
    public func finish() throws {
        guard headSent, !finished, !aborted else { return }
        finished = true
        switch framing {
        case .chunked: pending += Array("0\r\n\r\n".utf8)
        case .length(let n) where bodyBytesWritten < n: keepAlive = false
        case .untilClose: keepAlive = false
        default: break
        }
        try flush()
    }

    /// A complete response with `body` (Content-Length framing).
    public func respond(status: Int, headers: HeaderFields = [:], body: [UInt8] = []) throws {
        try writeHead(status: status, headers: headers, contentLength: Int64(body.count))
        try write(body)
        try finish()
    }

    /// A complete `text/plain` (or the given Content-Type) response.
    public func respond(status: Int, headers: HeaderFields = [:], text: String) throws {
        var h = headers
        if h["Content-Type"] == nil { h.set("Content-Type", "text/plain; charset=utf-8") }
        try respond(status: status, headers: h, body: Array(text.utf8))
    }

    /// A complete `application/json` response.
    public func respond(status: Int = 200, headers: HeaderFields = [:], json: String) throws {
        var h = headers
        if h["Content-Type"] == nil { h.set("Content-Type", "application/json") }
        try respond(status: status, headers: h, body: Array(json.utf8))
    }

    /// Sends raw bytes on the socket (after flushing), for deliberately malformed responses. The
    /// connection is closed after the handler returns.
    public func writeRaw(_ bytes: [UInt8]) throws {
        try flush()
        headSent = true
        finished = true
        keepAlive = false
        try stream.send(bytes)
    }

    /// Cuts the connection now: flushes what was written, then closes without finishing the response
    /// (`reset: true` sends a TCP RST, which may also discard unsent data).
    public func abortConnection(reset: Bool = false) {
        if aborted { return }
        try? flush()
        aborted = true
        keepAlive = false
        if reset { stream.setResetOnClose() }
        stream.shutdownNow()
    }

    /// Sleeps up to `milliseconds`, waking early when the server stops; returns false if it is stopping.
    @discardableResult
    public func pause(milliseconds: Int) -> Bool { core.pause(milliseconds: milliseconds) }
}

/// An HTTP/1.1 server on 127.0.0.1 for tests: a kernel-chosen port, one accept pthread, one pthread per
/// connection, keep-alive, Content-Length and chunked bodies in both directions, optional TLS.
/// `stop()` (or deinit) closes the listener and every connection and waits for the threads.
public final class LoopbackServer: Sendable {
    public typealias Handler = @Sendable (ServerRequest, ServerResponseWriter) throws -> Void
    public typealias StreamingHandler = @Sendable (ServerRequest, RequestBodyReader, ServerResponseWriter) throws -> Void

    public struct Options: Sendable {
        /// Thread names and diagnostics.
        public var name: String
        /// 0 = kernel-chosen.
        public var port: Int
        /// Idle keep-alive connections are closed after this long.
        public var idleTimeoutSeconds: Double
        /// Per-read/-write socket timeout while a request is in progress.
        public var ioTimeoutSeconds: Double
        public var maxHeadBytes: Int
        /// Buffered mode: larger request bodies are answered with 413.
        public var maxBufferedBodyBytes: Int
        /// How long `stop()` waits for busy handlers before giving up on them (their threads are
        /// detached, so nothing leaks but the thread itself until the handler returns).
        public var stopGraceSeconds: Double

        public init(name: String = "loopback", port: Int = 0, idleTimeoutSeconds: Double = 30, ioTimeoutSeconds: Double = 60,
                    maxHeadBytes: Int = 64 << 10, maxBufferedBodyBytes: Int = 256 << 20, stopGraceSeconds: Double = 5) {
            self.name = name
            self.port = port
            self.idleTimeoutSeconds = idleTimeoutSeconds
            self.ioTimeoutSeconds = ioTimeoutSeconds
            self.maxHeadBytes = maxHeadBytes
            self.maxBufferedBodyBytes = maxBufferedBodyBytes
            self.stopGraceSeconds = stopGraceSeconds
        }
    }

    public struct Statistics: Sendable, Equatable {
        public var connectionsAccepted: Int
        public var requests: Int
        public var openConnections: Int
    }

    let core: ServerCore
    /// The bound port.
    public let port: Int
    public let isTLS: Bool

    /// Buffered mode: the handler gets the whole request body in `request.body`.
    public convenience init(tls: TLSIdentity? = nil, options: Options = Options(), handler: @escaping Handler) throws {
        let limit = options.maxBufferedBodyBytes
        try self.init(tls: tls, options: options, streamingHandler: { request, body, writer in
            var r = request
            if let n = body.contentLength, n > Int64(limit) {
                writer.closeConnectionAfterResponse()
                try writer.respond(status: 413, text: "request body larger than \(limit) bytes\n")
                return
            }
            r.body = try body.readAll(limit: limit)
            try handler(r, writer)
        })
    }

    /// Streaming mode: the handler reads the body incrementally from the `RequestBodyReader` (unread
    /// bytes are drained, or the connection closed, after it returns).
    public init(tls: TLSIdentity? = nil, options: Options = Options(), streamingHandler: @escaping StreamingHandler) throws {
        let context = try tls.map { try TLSContext(server: $0) }
        core = try ServerCore(options: options, tls: context, handler: streamingHandler)
        port = core.port
        isTLS = tls != nil
        try core.start()
    }

    deinit { core.stop() }

    public var scheme: String { isTLS ? "https" : "http" }
    /// `127.0.0.1:<port>`.
    public var authority: String { "127.0.0.1:\(port)" }
    /// `http(s)://127.0.0.1:<port>` (no trailing slash).
    public var baseURL: String { "\(scheme)://\(authority)" }
    /// `baseURL + path` (`path` starts with `/`).
    public func url(_ path: String) -> String { baseURL + path }

    public var statistics: Statistics { core.statistics }

    /// Closes the listener and all connections, wakes `pause`, and waits (bounded) for handler threads.
    /// Idempotent; do not call from inside a handler of this server.
    public func stop() { core.stop() }
}

final class ServerCore: @unchecked Sendable {
    struct State {
        var stopping = false
        var acceptExited = false
        var connections: [Int: SocketStream] = [:]
        var connectionThreads: [Int: pthread_t] = [:]
        var nextID = 0
        var accepted = 0
        var requests = 0
    }

    let options: LoopbackServer.Options
    let tls: TLSContext?
    let handler: LoopbackServer.StreamingHandler
    let listenFD: Int32
    let port: Int
    private let wakeRead: Int32
    private let wakeWrite: Int32
    let state = Protected(State())
    private let acceptThread = Protected<pthread_t?>(nil)
    private let joinedOnce = Protected(false)

    init(options: LoopbackServer.Options, tls: TLSContext?, handler: @escaping LoopbackServer.StreamingHandler) throws {
        _ = ignoreSIGPIPE
        self.options = options
        self.tls = tls
        self.handler = handler
        (listenFD, port) = try Sockets.listen(port: options.port)
        var fds: [Int32] = [-1, -1]
        guard GNU.pipe(&fds, flags: O_NONBLOCK) == 0 else {
            close(listenFD)
            throw LoopbackError.posix("pipe2")
        }
        wakeRead = fds[0]
        wakeWrite = fds[1]
    }

    func start() throws {
        do {
            let t = try startThread(name: "\(options.name)-accept", joinable: true) { [self] in acceptLoop() }
            acceptThread.withLock { $0 = t }
        } catch {
            close(listenFD); close(wakeRead); close(wakeWrite)
            state.withLock { $0.stopping = true; $0.acceptExited = true }
            joinedOnce.withLock { $0 = true }
            throw error
        }
    }

    var isStopping: Bool { state.withLock { $0.stopping } }

    var statistics: LoopbackServer.Statistics {
        state.withLock { LoopbackServer.Statistics(connectionsAccepted: $0.accepted, requests: $0.requests, openConnections: $0.connections.count) }
    }

    func pause(milliseconds: Int) -> Bool {
        !state.wait(timeoutSeconds: Double(milliseconds) / 1000) { $0.stopping }
    }

    private func acceptLoop() {
        var fds = [pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
        while !isStopping {
            let rc = poll(&fds, 2, 1000)
            if rc < 0 && errno != EINTR { break }
            if fds[1].revents != 0 || isStopping { break }
            guard fds[0].revents != 0 else { continue }
            let fd = GNU.accept(listenFD)
            if fd < 0 {
                if errno == EMFILE || errno == ENFILE { sleepMilliseconds(50) }
                continue
            }
            Sockets.tune(fd)
            Sockets.setTimeouts(fd, seconds: options.ioTimeoutSeconds)
            let stream = SocketStream(fd: fd)
            let id: Int? = state.withLock { s in
                if s.stopping { return nil }
                s.nextID += 1
                s.accepted += 1
                s.connections[s.nextID] = stream
                return s.nextID
            }
            guard let id else { stream.close(graceful: false); break }
            do {
                try startThread(name: "\(options.name)-c\(id)") { [self] in
                    state.withLock { $0.connectionThreads[id] = pthread_self() }
                    serve(stream, id: id)
                    stream.close()
                    state.withLock {
                        $0.connections[id] = nil
                        $0.connectionThreads[id] = nil
                    }
                }
            } catch {
                stream.close(graceful: false)
                state.withLock { $0.connections[id] = nil }
            }
        }
        state.withLock { $0.acceptExited = true }
    }

    func stop() {
        let first = state.withLock { s -> Bool in
            defer { s.stopping = true }
            return !s.stopping
        }
        if first {
            var b: UInt8 = 1
            _ = write(wakeWrite, &b, 1)
        }
        let joiner = joinedOnce.withLock { j -> Bool in
            defer { j = true }
            return !j
        }
        if joiner {
            if let t = acceptThread.withLock({ $0 }) { pthread_join(t, nil) }
            close(listenFD); close(wakeRead); close(wakeWrite)
        } else {
            state.wait(timeoutSeconds: 5) { $0.acceptExited }
        }
        let me = pthread_self()
        let insideHandler = state.withLock { s -> Bool in
            for c in s.connections.values { c.shutdownNow() }
            return s.connectionThreads.values.contains { pthread_equal($0, me) != 0 }
        }
        let allowed = insideHandler ? 1 : 0
        let drained = state.wait(timeoutSeconds: options.stopGraceSeconds) { $0.connections.count <= allowed }
        if !drained {
            let left = state.withLock { $0.connections.count }
            diagnostic("LoopbackServer \(options.name): \(left) handler(s) still busy after stop(); their threads are left to finish")
        }
    }

    /// Serves requests on one connection until it closes, goes idle, or the server stops.
    private func serve(_ stream: SocketStream, id: Int) {
        if let tls {
            do { try stream.acceptTLS(tls) } catch { return }
        }
        let io = BufferedStream(stream: stream)
        let peer = Sockets.peerPort(stream.fd)
        var number = 0
        while !isStopping {
            let headBytes: [UInt8]?
            do {
                headBytes = try io.readHead(limit: options.maxHeadBytes, idleTimeoutMs: Int(options.idleTimeoutSeconds * 1000))
            } catch {
                try? stream.send(Array("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n".utf8))
                return
            }
            guard let headBytes else { return }
            let head: RequestHead
            do {
                head = try RequestHead(headBytes)
            } catch {
                let msg = "\(error)\n"
                try? stream.send(Array("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: \(msg.utf8.count)\r\n\r\n\(msg)".utf8))
                return
            }
            number += 1
            state.withLock { $0.requests += 1 }

            let framing: BodyFraming
            if head.headers.isChunked {
                framing = .chunked
            } else if let v = head.headers["Content-Length"] {
                guard let n = Int64(v.trimmingSpaces()), n >= 0 else {
                    try? stream.send(Array("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n".utf8))
                    return
                }
                framing = .length(n)
            } else {
                framing = .none
            }
            let keepAlive = head.version == "HTTP/1.1"
                ? !head.headers.hasToken("Connection", "close")
                : head.headers.hasToken("Connection", "keep-alive")
            let decoder = BodyDecoder(io: io, framing: framing)
            if head.headers.hasToken("Expect", "100-continue") && !decoder.finished {
                decoder.beforeFirstRead = { try stream.send(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)) }
            }
            let request = ServerRequest(method: head.method, path: head.target, version: head.version, headers: head.headers,
                                        connectionID: id, requestNumber: number, remotePort: peer, isTLS: tls != nil)
            let reader = RequestBodyReader(decoder: decoder)
            let writer = ServerResponseWriter(stream: stream, core: self, requestMethod: head.method, keepAlive: keepAlive)
            var failure: (any Error)?
            do { try handler(request, reader, writer) } catch { failure = error }

            if writer.aborted { return }
            do {
                if !writer.headSent {
                    writer.closeConnectionAfterResponse()
                    let text = failure.map { "handler failed: \($0)\n" } ?? "handler sent no response\n"
                    try writer.respond(status: 500, text: text)
                } else if failure != nil {
                    return      // a half-sent response must not look complete: close the connection
                } else {
                    try writer.finish()
                }
            } catch {
                return
            }
            if failure != nil || !writer.keepAlive { return }
            if !decoder.finished {
                guard (try? decoder.discard(limit: 8 << 20)) == true else { return }
            }
        }
    }
}
