/// One challenge of a `WWW-Authenticate` header (RFC 7235 §4.1).
public struct AuthChallenge: Sendable, Equatable {
    /// Lower-cased, e.g. "basic", "bearer".
    public var scheme: String
    /// Keys lower-cased; values unquoted and unescaped. The first occurrence of a key wins.
    public var parameters: [String: String]
    /// The token68 form (`Negotiate YIIC…`, `Basic dXNlcg==`), when the challenge used it instead of parameters.
    public var token68: String?

    public init(scheme: String, parameters: [String: String] = [:], token68: String? = nil) {
        self.scheme = scheme.lowercased()
        self.parameters = parameters
        self.token68 = token68
    }

    public var realm: String? { parameters["realm"] }
    public var service: String? { parameters["service"] }
    public var scope: String? { parameters["scope"] }
    public var error: String? { parameters["error"] }

    /// All challenges of one header value. Never throws: anything unparseable ends the list (a
    /// challenge cut short by garbage is dropped, the ones before it are kept), so garbage → [].
    public static func parse(_ header: String) -> [AuthChallenge] {
        var p = ChallengeParser(Array(header.utf8))
        return p.parseAll()
    }
}

/// RFC 7235 grammar, leniently:
///   challenge  = scheme [ 1*SP ( token68 / #auth-param ) ]
///   auth-param = token BWS "=" BWS ( token / quoted-string )
/// Lenient where registries are sloppy: unquoted values may contain '/', ':' etc. (realm=https://…),
/// and a missing comma between two parameters is tolerated.
private struct ChallengeParser {
    let b: [UInt8]
    var i = 0

    init(_ bytes: [UInt8]) { b = bytes }

    static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0D || c == 0x0A }

    /// tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
    static func isTokenChar(_ c: UInt8) -> Bool {
        switch c {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
             UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
             UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"): true
        default: false
        }
    }

    /// token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
    static func isToken68Char(_ c: UInt8) -> Bool {
        switch c {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
             UInt8(ascii: "~"), UInt8(ascii: "+"), UInt8(ascii: "/"): true
        default: false
        }
    }

    var atEnd: Bool { i >= b.count }

    mutating func skipSpaces() { while i < b.count, Self.isSpace(b[i]) { i += 1 } }

    mutating func skipSpacesAndCommas() { while i < b.count, Self.isSpace(b[i]) || b[i] == 0x2C { i += 1 } }

    mutating func token() -> String? {
        let start = i
        while i < b.count, Self.isTokenChar(b[i]) { i += 1 }
        return i > start ? String(decoding: b[start..<i], as: UTF8.self) : nil
    }

    /// True when a `token BWS "="` (an auth-param, not a new scheme) starts at the cursor.
    func paramAhead() -> Bool {
        var j = i
        let start = j
        while j < b.count, Self.isTokenChar(b[j]) { j += 1 }
        guard j > start else { return false }
        while j < b.count, b[j] == 0x20 || b[j] == 0x09 { j += 1 }
        return j < b.count && b[j] == 0x3D
    }

    /// A token68 at the cursor: its characters, then '='s, then end of input or ','.
    func token68Ahead() -> Int? {
        var j = i
        let start = j
        while j < b.count, Self.isToken68Char(b[j]) { j += 1 }
        guard j > start else { return nil }
        while j < b.count, b[j] == 0x3D { j += 1 }
        let end = j
        while j < b.count, Self.isSpace(b[j]) { j += 1 }
        if j == b.count { return end }
        guard b[j] == 0x2C else { return nil }
        // "error=,realm=x" is an empty parameter followed by another, not token68 + new challenge.
        var probe = self
        probe.i = j
        probe.skipSpacesAndCommas()
        return probe.paramAhead() ? nil : end
    }

    mutating func quotedString() -> String? {
        guard i < b.count, b[i] == 0x22 else { return nil }
        i += 1
        var out: [UInt8] = []
        while i < b.count {
            let c = b[i]
            if c == 0x22 { i += 1; return String(decoding: out, as: UTF8.self) }
            if c == 0x5C {  // quoted-pair: the next byte is literal
                i += 1
                guard i < b.count else { return nil }
            }
            out.append(b[i])
            i += 1
        }
        return nil  // unterminated
    }

    /// Unquoted value: a token in the RFC, but registries put URLs here unquoted. Nil when empty
    /// (`error=,` is read as an empty value).
    mutating func bareValue() -> String? {
        let start = i
        while i < b.count, !Self.isSpace(b[i]), b[i] != 0x2C, b[i] != 0x22 { i += 1 }
        return i > start ? String(decoding: b[start..<i], as: UTF8.self) : nil
    }

    mutating func parseAll() -> [AuthChallenge] {
        var out: [AuthChallenge] = []
        while true {
            skipSpacesAndCommas()
            if atEnd { return out }
            guard !paramAhead(), let scheme = token() else { return out }  // "realm=x" with no scheme is garbage
            var challenge = AuthChallenge(scheme: scheme)
            if !atEnd && !Self.isSpace(b[i]) && b[i] != 0x2C { return out }  // e.g. "Bearer\"x\""
            skipSpaces()
            if let end = token68Ahead() {  // "abc=" at the end is token68: a param needs a value
                challenge.token68 = String(decoding: b[i..<end], as: UTF8.self)
                i = end
                out.append(challenge)
                continue
            }
            // auth-params until the next scheme (a token not followed by '=') or the end.
            while true {
                skipSpaces()
                if atEnd { break }
                if b[i] == 0x2C {
                    skipSpacesAndCommas()
                    if atEnd || !paramAhead() { break }
                }
                guard paramAhead(), let key = token() else {
                    if challenge.parameters.isEmpty && !atEnd { return out }  // "Basic @@@"
                    break
                }
                skipSpaces()
                i += 1  // '='
                skipSpaces()
                let value: String?
                if i < b.count, b[i] == 0x22 { value = quotedString() } else { value = bareValue() ?? "" }
                guard let value else { return out }  // unterminated quote: drop this challenge
                let k = key.lowercased()
                if challenge.parameters[k] == nil { challenge.parameters[k] = value }
            }
            out.append(challenge)
        }
    }
}
