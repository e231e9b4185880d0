#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Ordered HTTP header fields with case-insensitive lookup.
public struct HeaderFields: Sendable, Sequence, ExpressibleByDictionaryLiteral, CustomStringConvertible {
    public var fields: [(name: String, value: String)]

    public init() { fields = [] }
    public init(_ pairs: [(String, String)]) { fields = pairs.map { (name: $0.0, value: $0.1) } }
    public init(dictionaryLiteral elements: (String, String)...) { self.init(elements) }

    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> { fields.makeIterator() }

    /// First value of `name`. Setting replaces every value; setting nil removes the field.
    public subscript(_ name: String) -> String? {
        get {
            let key = name.lowercased()
            return fields.first { $0.name.lowercased() == key }?.value
        }
        set {
            if let newValue { set(name, newValue) } else { remove(name) }
        }
    }

    public func values(_ name: String) -> [String] {
        let key = name.lowercased()
        return fields.filter { $0.name.lowercased() == key }.map(\.value)
    }

    public func contains(_ name: String) -> Bool { self[name] != nil }

    public mutating func add(_ name: String, _ value: String) { fields.append((name: name, value: value)) }

    public mutating func set(_ name: String, _ value: String) {
        let key = name.lowercased()
        if let i = fields.firstIndex(where: { $0.name.lowercased() == key }) {
            fields[i].value = value
            var j = fields.count - 1
            while j > i {
                if fields[j].name.lowercased() == key { fields.remove(at: j) }
                j -= 1
            }
        } else {
            fields.append((name: name, value: value))
        }
    }

    public mutating func remove(_ name: String) {
        let key = name.lowercased()
        fields.removeAll { $0.name.lowercased() == key }
    }

    public var count: Int { fields.count }

    public var description: String { fields.map { "\($0.name): \($0.value)" }.joined(separator: "\n") }

    /// True when a comma-separated header (Connection, Transfer-Encoding) has `token`.
    func hasToken(_ name: String, _ token: String) -> Bool {
        values(name).contains { v in
            v.split(separator: ",").contains { $0.trimmingSpaces().lowercased() == token }
        }
    }

    var contentLength: Int64? {
        guard let v = self["Content-Length"] else { return nil }
        return Int64(v.trimmingSpaces())
    }

    var isChunked: Bool { hasToken("Transfer-Encoding", "chunked") }
}

extension StringProtocol {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" { s = s.dropLast() }
        return String(s)
    }
}

/// Standard reason phrases for the status codes tests use.
public func reasonPhrase(_ status: Int) -> String {
    switch status {
    case 100: return "Continue"
    case 200: return "OK"
    case 201: return "Created"
    case 202: return "Accepted"
    case 204: return "No Content"
    case 206: return "Partial Content"
    case 301: return "Moved Permanently"
    case 302: return "Found"
    case 303: return "See Other"
    case 304: return "Not Modified"
    case 307: return "Temporary Redirect"
    case 308: return "Permanent Redirect"
    case 400: return "Bad Request"
    case 401: return "Unauthorized"
    case 403: return "Forbidden"
    case 404: return "Not Found"
    case 405: return "Method Not Allowed"
    case 408: return "Request Timeout"
    case 409: return "Conflict"
    case 411: return "Length Required"
    case 413: return "Content Too Large"
    case 416: return "Range Not Satisfiable"
    case 429: return "Too Many Requests"
    case 500: return "Internal Server Error"
    case 501: return "Not Implemented"
    case 502: return "Bad Gateway"
    case 503: return "Service Unavailable"
    case 504: return "Gateway Timeout"
    default: return "Status \(status)"
    }
}

/// How the end of a message body is found.
enum BodyFraming: Equatable {
    case none
    case length(Int64)
    case chunked
    case untilClose
}

/// A socket with a read buffer: head parsing, line reads and bulk reads that bypass the buffer.
final class BufferedStream {
    let stream: SocketStream
    private let capacity: Int
    private let buffer: UnsafeMutableRawPointer
    private var start = 0
    private var end = 0

    init(stream: SocketStream, capacity: Int = 256 << 10) {
        self.stream = stream
        self.capacity = capacity
        buffer = .allocate(byteCount: capacity, alignment: 16)
    }

    deinit { buffer.deallocate() }

    var buffered: Int { end - start }

    /// Reads more bytes into the buffer; false at EOF.
    private func fill() throws -> Bool {
        if start == end { start = 0; end = 0 }
        if end == capacity && start > 0 {
            memmove(buffer, buffer + start, end - start)
            end -= start
            start = 0
        }
        guard end < capacity else { throw LoopbackError("buffer full") }
        let n = try stream.recv(buffer + end, capacity - end)
        if n == 0 { return false }
        end += n
        return true
    }

    /// Reads a message head (through the blank line). Returns nil on a clean EOF before any byte, or
    /// when nothing arrives within `idleTimeoutMs` (the connection is idle). Throws on a head larger
    /// than `limit` or EOF inside the head.
    func readHead(limit: Int, idleTimeoutMs: Int?) throws -> [UInt8]? {
        var scanned = 0
        while true {
            if buffered >= 4 {
                let from = max(0, scanned - 3)
                if let found = findBytes(buffer + start + from, buffered - from, [13, 10, 13, 10]) {
                    let headEnd = from + found + 4
                    let head = [UInt8](UnsafeRawBufferPointer(start: buffer + start, count: headEnd - 4))
                    start += headEnd
                    return head
                }
                scanned = buffered
            }
            if buffered > limit { throw LoopbackError("message head larger than \(limit) bytes") }
            if buffered == 0, let idle = idleTimeoutMs, !stream.waitReadable(timeoutMs: idle) { return nil }
            if !(try fill()) {
                if buffered == 0 { return nil }
                throw LoopbackError("connection closed inside a message head", code: ECONNRESET)
            }
        }
    }

    /// Reads one CRLF-terminated line (without the CRLF).
    func readLine(limit: Int = 8192) throws -> [UInt8] {
        while true {
            if buffered > 0, let nl = memchr(buffer + start, 0x0A, buffered) {
                let len = UnsafeMutableRawPointer(nl) - (buffer + start)
                var line = [UInt8](UnsafeRawBufferPointer(start: buffer + start, count: len))
                start += len + 1
                if line.last == 0x0D { line.removeLast() }
                return line
            }
            if buffered > limit { throw LoopbackError("line longer than \(limit) bytes") }
            if !(try fill()) { throw LoopbackError("connection closed inside a line", code: ECONNRESET) }
        }
    }

    /// Reads up to `max` bytes: buffered bytes first, then straight from the socket. 0 = EOF.
    func read(into dst: UnsafeMutableRawPointer, max: Int) throws -> Int {
        if buffered > 0 {
            let n = min(max, buffered)
            dst.copyMemory(from: buffer + start, byteCount: n)
            start += n
            return n
        }
        if max >= 16 << 10 { return try stream.recv(dst, max) }
        if !(try fill()) { return 0 }
        return try read(into: dst, max: max)
    }
}

/// Decodes one body (Content-Length, chunked, or until close) from a buffered stream.
final class BodyDecoder {
    let io: BufferedStream
    let framing: BodyFraming
    private(set) var finished: Bool
    private(set) var bytesRead: Int64 = 0
    private var chunkLeft: Int64 = 0
    private var afterFirstChunk = false
    /// Called once before the first read (sends `100 Continue` for the server).
    var beforeFirstRead: (() throws -> Void)?

    init(io: BufferedStream, framing: BodyFraming) {
        self.io = io
        self.framing = framing
        switch framing {
        case .none, .length(0): finished = true
        default: finished = false
        }
    }

    /// Reads up to `max` body bytes; 0 at the end of the body. Throws if the peer closes early.
    func read(into dst: UnsafeMutableRawPointer, max: Int) throws -> Int {
        if finished || max == 0 { return 0 }
        if let hook = beforeFirstRead {
            beforeFirstRead = nil
            try hook()
        }
        switch framing {
        case .none:
            return 0
        case .length(let total):
            let want = Int(min(Int64(max), total - bytesRead))
            let n = try io.read(into: dst, max: want)
            if n == 0 {
                throw LoopbackError("peer closed after \(bytesRead) of \(total) body bytes", code: ECONNRESET)
            }
            bytesRead += Int64(n)
            if bytesRead == total { finished = true }
            return n
        case .untilClose:
            let n = try io.read(into: dst, max: max)
            if n == 0 { finished = true }
            bytesRead += Int64(n)
            return n
        case .chunked:
            if chunkLeft == 0 {
                if afterFirstChunk {
                    let crlf = try io.readLine()
                    if !crlf.isEmpty { throw LoopbackError("malformed chunked body (missing CRLF)") }
                }
                afterFirstChunk = true
                let line = try io.readLine()
                let sizeText = String(decoding: line.prefix { $0 != UInt8(ascii: ";") }, as: UTF8.self).trimmingSpaces()
                guard let size = Int64(sizeText, radix: 16), size >= 0 else {
                    throw LoopbackError("malformed chunk size '\(sizeText)'")
                }
                if size == 0 {
                    while !(try io.readLine()).isEmpty {}   // trailers
                    finished = true
                    return 0
                }
                chunkLeft = size
            }
            let want = Int(min(Int64(max), chunkLeft))
            let n = try io.read(into: dst, max: want)
            if n == 0 { throw LoopbackError("peer closed inside a chunk", code: ECONNRESET) }
            chunkLeft -= Int64(n)
            bytesRead += Int64(n)
            return n
        }
    }

    /// Reads the whole body (bounded by `limit`).
    func readAll(limit: Int) throws -> [UInt8] {
        var out = [UInt8]()
        if case .length(let n) = framing, n <= Int64(limit) { out.reserveCapacity(Int(n)) }
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = try chunk.withUnsafeMutableBytes { try read(into: $0.baseAddress!, max: $0.count) }
            if n == 0 { return out }
            if out.count + n > limit { throw LoopbackError("body larger than \(limit) bytes", code: EFBIG) }
            out += chunk[0..<n]
        }
    }

    /// Reads and drops the rest of the body, up to `limit` bytes; false if more remained.
    func discard(limit: Int64) throws -> Bool {
        var scratch = [UInt8](repeating: 0, count: 64 << 10)
        var dropped: Int64 = 0
        while !finished {
            if dropped > limit { return false }
            let n = try scratch.withUnsafeMutableBytes { try read(into: $0.baseAddress!, max: $0.count) }
            if n == 0 { break }
            dropped += Int64(n)
        }
        return true
    }
}

/// The lines of a message head, LF-split with a trailing CR dropped (bare LF tolerated).
private func headLines(_ bytes: [UInt8]) -> [String] {
    bytes.split(separator: 0x0A, omittingEmptySubsequences: false).map { line in
        String(decoding: line.last == 0x0D ? line.dropLast() : line, as: UTF8.self)
    }
}

/// Parsed request line + headers.
struct RequestHead {
    var method: String
    var target: String
    var version: String
    var headers: HeaderFields

    init(_ bytes: [UInt8]) throws {
        var lines = headLines(bytes)
        while lines.first == "" { lines.removeFirst() }     // tolerate stray CRLF between requests
        guard let first = lines.first else { throw LoopbackError("empty request") }
        let parts = first.split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count == 3, parts[2].hasPrefix("HTTP/1.") else { throw LoopbackError("bad request line '\(first)'") }
        method = String(parts[0])
        target = String(parts[1])
        version = String(parts[2])
        headers = try parseHeaderLines(lines.dropFirst())
    }
}

/// Parsed status line + headers.
struct ResponseHead {
    var status: Int
    var reason: String
    var version: String
    var headers: HeaderFields

    init(_ bytes: [UInt8]) throws {
        let lines = headLines(bytes)
        guard let first = lines.first else { throw LoopbackError("empty response") }
        let parts = first.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let code = Int(parts[1]) else {
            throw LoopbackError("bad status line '\(first)'")
        }
        status = code
        reason = parts.count > 2 ? String(parts[2]) : ""
        version = String(parts[0])
        headers = try parseHeaderLines(lines.dropFirst())
    }
}

private func parseHeaderLines(_ lines: ArraySlice<String>) throws -> HeaderFields {
    var headers = HeaderFields()
    for line in lines where !line.isEmpty {
        if line.first == " " || line.first == "\t", let last = headers.fields.indices.last {
            headers.fields[last].value += " " + line.trimmingSpaces()      // obsolete line folding
            continue
        }
        guard let colon = line.firstIndex(of: ":") else { throw LoopbackError("bad header line '\(line)'") }
        headers.add(String(line[..<colon]).trimmingSpaces(), String(line[line.index(after: colon)...]).trimmingSpaces())
    }
    return headers
}

func serializeHead(firstLine: String, headers: HeaderFields) -> [UInt8] {
    var s = firstLine + "\r\n"
    for f in headers.fields { s += "\(f.name): \(f.value)\r\n" }
    s += "\r\n"
    return Array(s.utf8)
}
