import HTTPTransport
import LoopbackHTTP

/// What a test server saw of one request.
public struct RequestRecord: Sendable {
    public var method: String
    /// Path with query.
    public var path: String
    public var headers: HeaderFields
    /// Status answered (0 if the connection broke first).
    public var status: Int
    public var requestBodyBytes: Int64
    public var responseBodyBytes: Int64
}

/// Serves fixed content by path (GET and HEAD, `Range: bytes=a-b` / `bytes=a-` → 206), streaming it
/// in 1 MiB pieces: the source side of blob-transfer tests and of `ImageSeeder`.
public final class BlobServer: Sendable {
    struct Entry: Sendable {
        var content: BlobContent
        var headers: HeaderFields
    }

    public let server: LoopbackServer
    private let entries: Protected<[String: Entry]>
    private let records: Protected<[RequestRecord]>

    public init(tls: TLSIdentity? = nil, name: String = "blob-server") throws {
        let entries = Protected<[String: Entry]>([:])
        let records = Protected<[RequestRecord]>([])
        self.entries = entries
        self.records = records
        server = try LoopbackServer(tls: tls, options: .init(name: name)) { request, body, writer in
            // Recorded before the response goes out, so tests see it as soon as they have the answer.
            let index = records.withLock { r -> Int in
                r.append(RequestRecord(method: request.method, path: request.path, headers: request.headers, status: 0,
                                       requestBodyBytes: 0, responseBodyBytes: 0))
                return r.count - 1
            }
            defer {
                let sent = writer.bodyBytesWritten
                records.withLock { $0[index].responseBodyBytes = sent }
            }
            let received = try body.forEachChunk { _ in }
            records.withLock { $0[index].requestBodyBytes = received }
            func note(_ status: Int) { records.withLock { $0[index].status = status } }
            guard request.method == "GET" || request.method == "HEAD" else {
                note(405)
                try writer.respond(status: 405, text: "method not allowed\n")
                return
            }
            guard let entry = entries.withLock({ $0[request.pathWithoutQuery] }) else {
                note(404)
                try writer.respond(status: 404, headers: ["Content-Type": "application/json"],
                                   text: "{\"errors\":[{\"code\":\"BLOB_UNKNOWN\",\"message\":\"blob unknown\"}]}")
                return
            }
            let size = entry.content.size
            var headers = entry.headers
            headers.set("Accept-Ranges", "bytes")
            if headers["Content-Type"] == nil { headers.set("Content-Type", "application/octet-stream") }
            var from: Int64 = 0, to: Int64 = size - 1
            var status = 200
            if let range = request.headers["Range"] {
                guard let r = BlobServer.parseRange(range, size: size) else {
                    headers.set("Content-Range", "bytes */\(size)")
                    note(416)
                    try writer.respond(status: 416, headers: headers)
                    return
                }
                (from, to) = r
                status = 206
                headers.set("Content-Range", "bytes \(from)-\(to)/\(size)")
            }
            let length = max(0, to - from + 1)
            note(status)
            try writer.writeHead(status: status, headers: headers, contentLength: length)
            if request.method == "HEAD" || length == 0 { return }
            var remaining = length
            try entry.content.forEachChunk(from: from) { chunk in
                guard remaining > 0 else { return }
                let n = Int(min(Int64(chunk.count), remaining))
                try writer.write(UnsafeRawBufferPointer(rebasing: chunk[0..<n]))
                remaining -= Int64(n)
            }
        }
    }

    /// `bytes=a-b`, `bytes=a-` or `bytes=-n` → inclusive range, nil if unsatisfiable.
    static func parseRange(_ header: String, size: Int64) -> (Int64, Int64)? {
        guard header.hasPrefix("bytes="), !header.contains(",") else { return nil }
        let spec = header.dropFirst(6)
        let parts = spec.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return nil }
        if parts[0].isEmpty {
            guard let n = Int64(parts[1]), n > 0 else { return nil }
            return (max(0, size - n), size - 1)
        }
        guard let a = Int64(parts[0]), a < size else { return nil }
        let b = parts[1].isEmpty ? size - 1 : min(Int64(parts[1]) ?? -1, size - 1)
        return b >= a ? (a, b) : nil
    }

    /// Serves `content` at `path` (exact path, query ignored).
    public func add(_ path: String, _ content: BlobContent, headers: HeaderFields = [:]) {
        entries.withLock { $0[path] = Entry(content: content, headers: headers) }
    }

    public func remove(_ path: String) { _ = entries.withLock { $0.removeValue(forKey: path) } }

    public var baseURL: String { server.baseURL }
    public func url(_ path: String) -> String { server.url(path) }
    public var requests: [RequestRecord] { records.snapshot }
    public func stop() { server.stop() }
}

/// Accepts uploads (any method with a body, streamed and hashed on the fly, never stored) and records
/// how much of each body arrived and whether it was complete: the destination side of blob-transfer
/// tests.
public final class UploadSink: Sendable {
    public struct Upload: Sendable {
        public var method: String
        public var path: String
        public var headers: HeaderFields
        /// Content-Length as announced (nil: chunked).
        public var announcedLength: Int64?
        public var bytesReceived: Int64
        /// The body ended as framed (all announced bytes, or the last chunk).
        public var complete: Bool
        /// `sha256:<hex>` of what arrived (complete bodies only).
        public var digest: String?
        /// Why the body broke off (client disconnect, ...).
        public var error: String?
    }

    /// Decides the answer to a complete upload; default 201 with `Docker-Content-Digest`.
    public typealias Responder = @Sendable (Upload) -> (status: Int, headers: HeaderFields, body: [UInt8])

    public let server: LoopbackServer
    private let records: Protected<[Upload]>

    public init(tls: TLSIdentity? = nil, name: String = "upload-sink", respond: Responder? = nil) throws {
        let records = Protected<[Upload]>([])
        self.records = records
        server = try LoopbackServer(tls: tls, options: .init(name: name)) { request, body, writer in
            var upload = Upload(method: request.method, path: request.path, headers: request.headers,
                                announcedLength: body.contentLength, bytesReceived: 0, complete: false, digest: nil, error: nil)
            let hasher = SHA256()
            do {
                try body.forEachChunk { hasher.update($0.baseAddress!, count: $0.count) }
                upload.complete = true
                upload.digest = "sha256:" + SHA256.hex(hasher.finalize())
            } catch {
                upload.error = "\(error)"
            }
            upload.bytesReceived = body.bytesRead
            records.withLock { $0.append(upload) }
            guard upload.complete else {
                writer.abortConnection()
                return
            }
            if let respond {
                let answer = respond(upload)
                try writer.respond(status: answer.status, headers: answer.headers, body: answer.body)
            } else {
                var headers = HeaderFields()
                headers.set("Docker-Content-Digest", upload.digest ?? "")
                try writer.respond(status: 201, headers: headers)
            }
        }
    }

    public var uploads: [Upload] { records.snapshot }

    /// Waits until at least `count` uploads ended (completely or not).
    @discardableResult
    public func waitForUploads(count: Int, timeoutSeconds: Double = 10) -> Bool {
        records.wait(timeoutSeconds: timeoutSeconds) { $0.count >= count }
    }

    public var baseURL: String { server.baseURL }
    public func url(_ path: String) -> String { server.url(path) }
    public func stop() { server.stop() }
}
