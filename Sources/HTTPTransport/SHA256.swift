import CCrypto

/// Streaming SHA-256 over libcrypto's EVP interface (SHA-NI when the CPU has it, ~2 GB/s).
/// Not thread-safe: one hasher belongs to one transfer, driven by one thread at a time.
public final class SHA256: @unchecked Sendable {
    private let ctx: OpaquePointer

    public init() {
        ctx = EVP_MD_CTX_new()!
        precondition(EVP_DigestInit_ex(ctx, EVP_sha256(), nil) == 1, "EVP_DigestInit_ex failed")
    }

    deinit { EVP_MD_CTX_free(ctx) }

    public func update(_ pointer: UnsafeRawPointer, count: Int) {
        if count > 0 { _ = EVP_DigestUpdate(ctx, pointer, count) }
    }

    public func update<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        let array = Array(bytes)
        array.withUnsafeBytes { update($0.baseAddress!, count: $0.count) }
    }

    /// Finishes the hash; the hasher cannot be updated afterwards.
    public func finalize() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var len: UInt32 = 0
        _ = out.withUnsafeMutableBufferPointer { EVP_DigestFinal_ex(ctx, $0.baseAddress, &len) }
        return out
    }

    /// `sha256:<hex>` of the bytes.
    public static func digest<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        let h = SHA256()
        h.update(bytes)
        return "sha256:" + hex(h.finalize())
    }

    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
