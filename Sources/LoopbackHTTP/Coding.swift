import FoundationEssentials

/// Base64 (standard and URL-safe alphabets) over Foundation's `Data`.
public enum Base64 {
    /// Standard alphabet with `=` padding.
    public static func encode<Bytes: Collection>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        Data(bytes).base64EncodedString()
    }

    /// URL-safe alphabet without padding (JWT/JWS, OpenShift token names, PKCE).
    public static func urlEncode<Bytes: Collection>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var s = encode(bytes)
        while s.hasSuffix("=") { s.removeLast() }
        return String(s.map { $0 == "+" ? "-" : ($0 == "/" ? "_" : $0) })
    }

    public static func encode(_ text: String) -> String { encode(Array(text.utf8)) }

    /// Decodes either alphabet, padded or not; blanks and newlines are skipped. nil on invalid input.
    public static func decode(_ text: String) -> [UInt8]? {
        var s = ""
        for c in text.unicodeScalars {
            switch c {
            case " ", "\t", "\n", "\r", "=": continue
            case "-": s.append("+")
            case "_": s.append("/")
            default: s.unicodeScalars.append(c)
            }
        }
        s += String(repeating: "=", count: (4 - s.utf8.count % 4) % 4)
        return Data(base64Encoded: s).map { Array($0) }
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

    /// Percent-encodes everything but RFC 3986 unreserved characters (`%2F`, space as `%20`). Written
    /// here rather than shared with HTTPTransport: the test server must not agree with the client
    /// under test by construction.
    public static func percentEncode(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(b))
            default:
                let hex = String(b, radix: 16, uppercase: true)
                out += (hex.count == 1 ? "%0" : "%") + hex
            }
        }
        return out
    }

    /// Encodes pairs as `a=1&b=2`.
    public static func encode(_ items: [(String, String)]) -> String {
        items.map { percentEncode($0.0) + "=" + percentEncode($0.1) }.joined(separator: "&")
    }
}

/// A JSON string literal (JSONEncoder's escaping, `/` left alone) for hand-built JSON in tests.
public func jsonQuote(_ s: String) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = .withoutEscapingSlashes
    // A String always encodes; the fallback is unreachable.
    guard let bytes = try? encoder.encode(s) else { return "\"\"" }
    return String(decoding: bytes, as: UTF8.self)
}
