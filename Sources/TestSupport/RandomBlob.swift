import CCrypto
import HTTPTransport
import LoopbackHTTP
#if canImport(Glibc)
import Glibc
#endif

/// Deterministic pseudo-random content of any size, addressable by offset (AES-128-CTR keystream of
/// the seed, ~4 GB/s with AES-NI): serve 1 GiB blobs with Range support without holding them in
/// memory. Equal seed and size give equal bytes in every process.
public struct RandomBlob: Sendable, Hashable {
    public let seed: UInt64
    public let size: Int64

    public init(seed: UInt64 = UInt64.random(in: 1...UInt64.max), size: Int64) {
        self.seed = seed
        self.size = size
    }

    /// Fills `buffer` with the bytes at `offset...` (the caller keeps within `size`).
    public func fill(_ buffer: UnsafeMutableRawBufferPointer, at offset: Int64) {
        guard buffer.count > 0 else { return }
        let ctx = EVP_CIPHER_CTX_new()!
        defer { EVP_CIPHER_CTX_free(ctx) }
        var key = [UInt8](repeating: 0, count: 16)
        for i in 0..<8 {
            key[i] = UInt8(truncatingIfNeeded: seed >> (8 * UInt64(i)))
            key[i + 8] = UInt8(truncatingIfNeeded: (seed ^ 0x9E37_79B9_7F4A_7C15) >> (8 * UInt64(i)))
        }
        let block = UInt64(offset / 16)
        var iv = [UInt8](repeating: 0, count: 16)
        for i in 0..<8 { iv[15 - i] = UInt8(truncatingIfNeeded: block >> (8 * UInt64(i))) }
        EVP_EncryptInit_ex(ctx, EVP_aes_128_ctr(), nil, key, iv)
        var outLen: Int32 = 0
        let skip = Int(offset % 16)
        if skip > 0 {
            var scratch = [UInt8](repeating: 0, count: 16)
            EVP_EncryptUpdate(ctx, &scratch, &outLen, scratch, Int32(skip))
        }
        memset(buffer.baseAddress!, 0, buffer.count)
        var done = 0
        let p = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
        while done < buffer.count {
            let n = min(buffer.count - done, 1 << 30)
            EVP_EncryptUpdate(ctx, p + done, &outLen, p + done, Int32(n))
            done += n
        }
    }

    /// The bytes in `range` (clamped to the blob).
    public func bytes(_ range: Range<Int64>) -> [UInt8] {
        let lo = max(0, range.lowerBound), hi = min(size, range.upperBound)
        guard hi > lo else { return [] }
        var out = [UInt8](repeating: 0, count: Int(hi - lo))
        out.withUnsafeMutableBytes { fill($0, at: lo) }
        return out
    }

    /// All bytes (small blobs only).
    public var allBytes: [UInt8] { bytes(0..<size) }

    /// Streams the content in pieces of at most `chunkSize` bytes.
    public func forEachChunk(from offset: Int64 = 0, chunkSize: Int = 1 << 20,
                             _ body: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
        defer { buf.deallocate() }
        var at = offset
        while at < size {
            let n = Int(min(Int64(chunkSize), size - at))
            let slice = UnsafeMutableRawBufferPointer(rebasing: buf[0..<n])
            fill(slice, at: at)
            try body(UnsafeRawBufferPointer(slice))
            at += Int64(n)
        }
    }

    /// `sha256:<hex>` of the content (computed once per seed and size, then cached).
    public var digest: String {
        if let d = randomBlobDigests.withLock({ $0[self] }) { return d }
        let h = SHA256()
        forEachChunk { h.update($0.baseAddress!, count: $0.count) }
        let d = "sha256:" + SHA256.hex(h.finalize())
        randomBlobDigests.withLock { $0[self] = d }
        return d
    }

    /// Writes the content to `path`; returns its digest.
    @discardableResult
    public func write(to path: String) throws -> String {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        if fd < 0 { throw LoopbackError.posix("open \(path)") }
        defer { close(fd) }
        let h = SHA256()
        try forEachChunk { chunk in
            h.update(chunk.baseAddress!, count: chunk.count)
            try FileSystem.writeAll(fd, UnsafeRawBufferPointer(chunk), path: path)
        }
        let d = "sha256:" + SHA256.hex(h.finalize())
        randomBlobDigests.withLock { $0[self] = d }
        return d
    }
}

private let randomBlobDigests = Protected<[RandomBlob: String]>([:])

/// Content a test server can serve: bytes in memory, a `RandomBlob`, or a file.
public enum BlobContent: Sendable {
    case bytes([UInt8])
    case random(RandomBlob)
    case file(path: String)

    public var size: Int64 {
        switch self {
        case .bytes(let b): return Int64(b.count)
        case .random(let r): return r.size
        case .file(let p): return FileSystem.size(p) ?? 0
        }
    }

    /// `sha256:<hex>` of the content.
    public var digest: String {
        switch self {
        case .bytes(let b): return SHA256.digest(b)
        case .random(let r): return r.digest
        case .file:
            let h = SHA256()
            _ = try? forEachChunk(from: 0) { h.update($0.baseAddress!, count: $0.count) }
            return "sha256:" + SHA256.hex(h.finalize())
        }
    }

    /// Streams the bytes from `offset` in pieces of at most `chunkSize`.
    public func forEachChunk(from offset: Int64, chunkSize: Int = 1 << 20,
                             _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        switch self {
        case .bytes(let b):
            guard offset < Int64(b.count) else { return }
            try b.withUnsafeBytes { raw in
                var at = Int(offset)
                while at < raw.count {
                    let n = min(chunkSize, raw.count - at)
                    try body(UnsafeRawBufferPointer(rebasing: raw[at..<(at + n)]))
                    at += n
                }
            }
        case .random(let r):
            try r.forEachChunk(from: offset, chunkSize: chunkSize, body)
        case .file(let path):
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            if fd < 0 { throw LoopbackError.posix("open \(path)") }
            defer { close(fd) }
            let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
            defer { buf.deallocate() }
            var at = offset
            while true {
                let n = pread(fd, buf.baseAddress!, chunkSize, off_t(at))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw LoopbackError.posix("read \(path)")
                }
                if n == 0 { return }
                try body(UnsafeRawBufferPointer(rebasing: buf[0..<n]))
                at += Int64(n)
            }
        }
    }

    /// Every byte (small content only).
    public func allBytes() throws -> [UInt8] {
        var out = [UInt8]()
        try forEachChunk(from: 0) { out += $0 }
        return out
    }
}
