import FoundationEssentials

/// URL handling without Foundation's URL quirks: exactly what the OAuth flow and `oc` need.
enum URLTools {
    /// `oc`'s `NormalizeServerURL`: default scheme https; `:443`/`:80` added when no port is given;
    /// a lone trailing `/` dropped. `tcp://` (accepted by oc) needs an explicit port and is spoken as https.
    static func normalizeServer(_ raw: String) throws(OpenShiftError) -> String {
        let text = raw.trimmingCharacters(in: " \t\r\n")
        guard !text.isEmpty else { throw OpenShiftError(.invalidInput, "the cluster URL is empty") }
        var scheme = "https"
        var rest = Substring(text)
        if let r = text.firstRange(of: "://") {
            scheme = text[..<r.lowerBound].lowercased()
            rest = text[r.upperBound...]
            guard ["https", "http", "tcp"].contains(scheme) else {
                throw OpenShiftError(.invalidInput, "cluster URL '\(text)' has an unsupported scheme '\(scheme)'; use https://HOST:PORT")
            }
        }
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        var path = String(rest[authorityEnd...])
        guard !authority.isEmpty else { throw OpenShiftError(.invalidInput, "cluster URL '\(text)' has no host") }
        guard !authority.contains("@") else {
            throw OpenShiftError(.invalidInput, "the cluster URL must not contain credentials; give the user name and password separately")
        }
        if path.contains("?") || path.contains("#") {
            throw OpenShiftError(.invalidInput, "cluster URL '\(text)' must not contain a query or fragment")
        }
        var hostPort = String(authority)
        if splitHostPort(hostPort).port == nil {
            switch scheme {
            case "https": hostPort += ":443"
            case "http": hostPort += ":80"
            default: throw OpenShiftError(.invalidInput, "cluster URL '\(text)': No port specified.")
            }
        }
        if path == "/" { path = "" }
        if scheme == "tcp" { scheme = "https" }
        return scheme + "://" + hostPort + path
    }

    /// Host and port of `host[:port]`, IPv6 literals in brackets.
    static func splitHostPort(_ authority: String) -> (host: String, port: Int?) {
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return (authority, nil) }
            let host = String(authority[...close])
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":"), let p = Int(after.dropFirst()) { return (host, p) }
            return (host, nil)
        }
        if let colon = authority.lastIndex(of: ":"), let p = Int(authority[authority.index(after: colon)...]) {
            return (String(authority[..<colon]), p)
        }
        return (authority, nil)
    }

    /// `scheme://authority` of an absolute URL (lower-cased scheme), or nil.
    static func origin(_ url: String) -> String? {
        guard let r = url.firstRange(of: "://") else { return nil }
        let rest = url[r.upperBound...]
        let end = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        return url[..<r.lowerBound].lowercased() + "://" + rest[..<end].lowercased()
    }

    /// `host[:port]` of an absolute URL (for messages; never the path, which may carry codes).
    static func host(_ url: String) -> String {
        guard let o = origin(url), let r = o.firstRange(of: "://") else { return url }
        return String(o[r.upperBound...])
    }

    /// Resolves a `Location` header against the URL that answered (absolute, scheme-relative,
    /// absolute-path and relative forms).
    static func resolve(_ location: String, against base: String) -> String {
        let loc = location.trimmingCharacters(in: " \t")
        if loc.firstRange(of: "://") != nil, let colon = loc.firstIndex(of: ":"),
           loc[..<colon].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "+" || $0 == "-" || $0 == "." }) {
            return loc
        }
        guard let origin = origin(base), let schemeEnd = base.firstRange(of: "://") else { return loc }
        if loc.hasPrefix("//") { return base[..<schemeEnd.lowerBound] + ":" + loc }
        if loc.hasPrefix("/") { return origin + loc }
        // Relative: replace everything after the last '/' of the base path.
        let afterOrigin = base.dropFirst(origin.count)
        let pathEnd = afterOrigin.firstIndex { $0 == "?" || $0 == "#" } ?? afterOrigin.endIndex
        var path = String(afterOrigin[..<pathEnd])
        if loc.hasPrefix("?") { return origin + (path.isEmpty ? "/" : path) + loc }
        if let slash = path.lastIndex(of: "/") { path = String(path[...slash]) } else { path = "/" }
        return origin + path + loc
    }

    /// The query of a URL (between `?` and `#`).
    static func query(_ url: String) -> String {
        guard let q = url.firstIndex(of: "?") else { return "" }
        let rest = url[url.index(after: q)...]
        return String(rest.prefix { $0 != "#" })
    }

    /// The URL without query and fragment.
    static func stripQuery(_ url: String) -> String {
        String(url.prefix { $0 != "?" && $0 != "#" })
    }

    /// `application/x-www-form-urlencoded` pairs, decoded (`+` is a space).
    static func parseQuery(_ query: String) -> [(name: String, value: String)] {
        query.split(separator: "&", omittingEmptySubsequences: true).map { part in
            let eq = part.firstIndex(of: "=")
            let name = eq.map { part[..<$0] } ?? part
            let value = eq.map { part[part.index(after: $0)...] } ?? ""
            return (percentDecode(name, plusIsSpace: true), percentDecode(value, plusIsSpace: true))
        }
    }

    static func queryValue(_ name: String, in url: String) -> String? {
        parseQuery(query(url)).first { $0.name == name }?.value
    }

    /// Go's `url.Values.Encode()`: keys sorted, `QueryEscape` (space as `+`).
    static func formEncode(_ pairs: [(String, String)]) -> String {
        pairs.sorted { $0.0 < $1.0 }.map { queryEscape($0.0) + "=" + queryEscape($0.1) }.joined(separator: "&")
    }

    static func queryEscape(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
                 UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(b))
            case UInt8(ascii: " "):
                out += "+"
            default:
                out += "%" + hexByte(b)
            }
        }
        return out
    }

    /// Escapes one path segment (resource names come from users).
    static func pathEscape(_ s: String) -> String {
        queryEscape(s).replacingPlus()
    }

    static func percentDecode<S: StringProtocol>(_ s: S, plusIsSpace: Bool) -> String {
        var bytes = [UInt8]()
        let utf8 = Array(s.utf8)
        var i = 0
        while i < utf8.count {
            let b = utf8[i]
            if b == UInt8(ascii: "%"), i + 2 < utf8.count, let hi = hexValue(utf8[i + 1]), let lo = hexValue(utf8[i + 2]) {
                bytes.append(hi << 4 | lo)
                i += 3
            } else {
                bytes.append(plusIsSpace && b == UInt8(ascii: "+") ? UInt8(ascii: " ") : b)
                i += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hexByte(_ b: UInt8) -> String {
        let digits = Array("0123456789ABCDEF")
        return String(digits[Int(b >> 4)]) + String(digits[Int(b & 15)])
    }

    private static func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return b - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return b - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return b - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

extension String {
    fileprivate func replacingPlus() -> String {
        var out = ""
        for c in self { out += c == "+" ? "%20" : String(c) }
        return out
    }

}
