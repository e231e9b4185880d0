/// Small text helpers shared by the libraries above the transport.
extension StringProtocol {
    /// Trims characters made only of the given scalars ("\r\n" is one Character, so compare scalars).
    public func trimmingCharacters(in set: String) -> String {
        let scalars = Set(set.unicodeScalars)
        func trimmed(_ c: Character) -> Bool { c.unicodeScalars.allSatisfy { scalars.contains($0) } }
        var s = Substring(self)
        while let f = s.first, trimmed(f) { s = s.dropFirst() }
        while let l = s.last, trimmed(l) { s = s.dropLast() }
        return String(s)
    }
}

/// URL text for hand-built query strings and form bodies.
public enum URLText {
    /// Percent-encodes everything but RFC 3986 unreserved characters, with uppercase hex (`%2F`).
    public static func percentEncode(_ s: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out = ""
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(b))
            default:
                out += "%" + String(decoding: [hex[Int(b >> 4)], hex[Int(b & 15)]], as: UTF8.self)
            }
        }
        return out
    }
}
