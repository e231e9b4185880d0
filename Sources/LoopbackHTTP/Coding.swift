import HTTPTransport

/// Base64 (standard and URL-safe alphabets) without Foundation.
public enum Base64 {
    private static let std = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let url = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// Standard alphabet with `=` padding.
    public static func encode<Bytes: Collection>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        encode(Array(bytes), alphabet: std, pad: true)
    }

    /// URL-safe alphabet without padding (JWT/JWS).
    public static func urlEncode<Bytes: Collection>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        encode(Array(bytes), alphabet: url, pad: false)
    }

    public static func encode(_ text: String) -> String { encode(Array(text.utf8)) }

    private static func encode(_ b: [UInt8], alphabet a: [UInt8], pad: Bool) -> String {
        var out = [UInt8]()
        out.reserveCapacity((b.count + 2) / 3 * 4)
        var i = 0
        while i + 3 <= b.count {
            let n = UInt32(b[i]) << 16 | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2])
            out += [a[Int(n >> 18 & 63)], a[Int(n >> 12 & 63)], a[Int(n >> 6 & 63)], a[Int(n & 63)]]
            i += 3
        }
        let rest = b.count - i
        if rest == 1 {
            let n = UInt32(b[i]) << 16
            out += [a[Int(n >> 18 & 63)], a[Int(n >> 12 & 63)]]
            if pad { out += [61, 61] }
        } else if rest == 2 {
            let n = UInt32(b[i]) << 16 | UInt32(b[i + 1]) << 8
            out += [a[Int(n >> 18 & 63)], a[Int(n >> 12 & 63)], a[Int(n >> 6 & 63)]]
            if pad { out += [61] }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes either alphabet, padded or not; whitespace is skipped. nil on invalid input.
    public static func decode(_ text: String) -> [UInt8]? {
        var out = [UInt8]()
        var acc: UInt32 = 0
        var bits = 0
        for c in text.utf8 {
            let v: UInt32
            switch c {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): v = UInt32(c - 65)
            case UInt8(ascii: "a")...UInt8(ascii: "z"): v = UInt32(c - 97 + 26)
            case UInt8(ascii: "0")...UInt8(ascii: "9"): v = UInt32(c - 48 + 52)
            case UInt8(ascii: "+"), UInt8(ascii: "-"): v = 62
            case UInt8(ascii: "/"), UInt8(ascii: "_"): v = 63
            case UInt8(ascii: "="), 10, 13, 32, 9: continue
            default: return nil
            }
            acc = acc << 6 | v
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: acc >> UInt32(bits)))
            }
        }
        return out
    }
}

/// Percent-encoding and `application/x-www-form-urlencoded` helpers.
public enum FormCoding {
    /// Decodes `%XX` escapes and `+` (as space).
    public static func percentDecode(_ s: Substring) -> String {
        var out = [UInt8]()
        var it = Array(s.utf8)[...]
        while let c = it.popFirst() {
            if c == UInt8(ascii: "+") {
                out.append(32)
            } else if c == UInt8(ascii: "%"), it.count >= 2,
                      let v = UInt8(String(decoding: it.prefix(2), as: UTF8.self), radix: 16) {
                out.append(v)
                it = it.dropFirst(2)
            } else {
                out.append(c)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Splits `a=1&b=2` into decoded pairs.
    public static func decode(_ s: String) -> [(name: String, value: String)] {
        s.split(separator: "&").map { pair in
            if let eq = pair.firstIndex(of: "=") {
                return (percentDecode(pair[..<eq]), percentDecode(pair[pair.index(after: eq)...]))
            }
            return (percentDecode(pair[...]), "")
        }
    }

    /// Encodes pairs as `a=1&b=2`.
    public static func encode(_ items: [(String, String)]) -> String {
        items.map { URLText.percentEncode($0.0) + "=" + URLText.percentEncode($0.1) }.joined(separator: "&")
    }
}

/// Minimal JSON string escaping for hand-built JSON.
public func jsonQuote(_ s: String) -> String { JSONText.quote(s) }
