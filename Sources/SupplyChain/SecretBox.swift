import CCrypto

/// NaCl `crypto_secretbox` (XSalsa20 + Poly1305), which cosign's encrypted keys use. libcrypto has
/// Poly1305 but no Salsa20, so the stream cipher is here (D. J. Bernstein, "Extending the Salsa20 nonce").
/// Sealed form: 16-byte tag, then the ciphertext.
enum SecretBox {
    static func open(_ sealed: [UInt8], nonce: [UInt8], key: [UInt8]) -> [UInt8]? {
        guard sealed.count >= 16, nonce.count == 24, key.count == 32 else { return nil }
        let tag = Array(sealed[0..<16]), body = Array(sealed[16...])
        let stream = keystream(count: 32 + body.count, nonce: nonce, key: key)
        guard let mac = poly1305(body, key: Array(stream[0..<32])), constantTimeEqual(mac, tag) else { return nil }
        return zip(body, stream[32...]).map { $0 ^ $1 }
    }

    static func seal(_ plain: [UInt8], nonce: [UInt8], key: [UInt8]) -> [UInt8] {
        let stream = keystream(count: 32 + plain.count, nonce: nonce, key: key)
        let body = zip(plain, stream[32...]).map { $0 ^ $1 }
        return (poly1305(body, key: Array(stream[0..<32])) ?? []) + body
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var d: UInt8 = 0
        for (x, y) in zip(a, b) { d |= x ^ y }
        return d == 0
    }

    /// XSalsa20 keystream from block 0: HSalsa20 derives a subkey from the first 16 nonce bytes.
    static func keystream(count: Int, nonce: [UInt8], key: [UInt8]) -> [UInt8] {
        let subkey = hsalsa20(key: key, nonce: Array(nonce[0..<16]))
        var out: [UInt8] = []
        out.reserveCapacity(count + 64)
        var counter: UInt64 = 0
        while out.count < count {
            out += salsa20Block(key: subkey, nonce: Array(nonce[16..<24]), counter: counter)
            counter += 1
        }
        return Array(out.prefix(count))
    }

    static let sigma: [UInt32] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574]

    static func words(_ b: [UInt8]) -> [UInt32] {
        stride(from: 0, to: b.count, by: 4).map { (i: Int) -> UInt32 in
            let b0 = UInt32(b[i]), b1 = UInt32(b[i + 1]) << 8
            let b2 = UInt32(b[i + 2]) << 16, b3 = UInt32(b[i + 3]) << 24
            return b0 | b1 | b2 | b3
        }
    }

    static func state(key: [UInt8], input: [UInt32]) -> [UInt32] {
        let k = words(key)
        return [sigma[0], k[0], k[1], k[2], k[3], sigma[1], input[0], input[1],
                input[2], input[3], sigma[2], k[4], k[5], k[6], k[7], sigma[3]]
    }

    static func rounds(_ x: inout [UInt32]) {
        func rotl(_ v: UInt32, _ n: UInt32) -> UInt32 { (v << n) | (v >> (32 - n)) }
        func qr(_ a: Int, _ b: Int, _ c: Int, _ d: Int) {
            x[b] ^= rotl(x[a] &+ x[d], 7)
            x[c] ^= rotl(x[b] &+ x[a], 9)
            x[d] ^= rotl(x[c] &+ x[b], 13)
            x[a] ^= rotl(x[d] &+ x[c], 18)
        }
        for _ in 0..<10 {
            qr(0, 4, 8, 12); qr(5, 9, 13, 1); qr(10, 14, 2, 6); qr(15, 3, 7, 11)
            qr(0, 1, 2, 3); qr(5, 6, 7, 4); qr(10, 11, 8, 9); qr(15, 12, 13, 14)
        }
    }

    static func hsalsa20(key: [UInt8], nonce: [UInt8]) -> [UInt8] {
        var x = state(key: key, input: words(nonce))
        rounds(&x)
        return [x[0], x[5], x[10], x[15], x[6], x[7], x[8], x[9]].flatMap { w in (0..<4).map { UInt8(truncatingIfNeeded: w >> (8 * $0)) } }
    }

    static func salsa20Block(key: [UInt8], nonce: [UInt8], counter: UInt64) -> [UInt8] {
        let n = words(nonce)
        let input = state(key: key, input: [n[0], n[1], UInt32(truncatingIfNeeded: counter), UInt32(truncatingIfNeeded: counter >> 32)])
        var x = input
        rounds(&x)
        return (0..<16).flatMap { i in (0..<4).map { UInt8(truncatingIfNeeded: (x[i] &+ input[i]) >> (8 * $0)) } }
    }

    /// One-time Poly1305 MAC from libcrypto.
    static func poly1305(_ message: [UInt8], key: [UInt8]) -> [UInt8]? {
        guard let mac = EVP_MAC_fetch(nil, "POLY1305", nil) else { return nil }
        defer { EVP_MAC_free(mac) }
        guard let ctx = EVP_MAC_CTX_new(mac) else { return nil }
        defer { EVP_MAC_CTX_free(ctx) }
        var out = [UInt8](repeating: 0, count: 16)
        var length = 0
        let ok = key.withUnsafeBufferPointer { k in
            message.withUnsafeBufferPointer { m in
                out.withUnsafeMutableBufferPointer { o in
                    EVP_MAC_init(ctx, k.baseAddress, k.count, nil) == 1
                        && EVP_MAC_update(ctx, m.baseAddress, m.count) == 1
                        && EVP_MAC_final(ctx, o.baseAddress, &length, o.count) == 1
                }
            }
        }
        ERR_clear_error()
        return ok && length == 16 ? out : nil
    }
}
