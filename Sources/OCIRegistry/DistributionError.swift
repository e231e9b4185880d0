import FoundationEssentials

/// One entry of a distribution error body: `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"…","detail":…}]}`.
public struct DistributionError: Sendable, Equatable {
    public var code: String
    public var message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }
}

/// A registry's error response, decoded tolerantly: registries, proxies and load balancers answer
/// with JSON, plain text or HTML, and none of that may break error reporting.
public struct RegistryErrorResponse: Sendable {
    public var status: Int
    public var errors: [DistributionError]
    /// Fallback text when there is no `errors` array: a top-level "message"/"error"/"details"
    /// string (Docker Hub, some proxies), an HTML `<title>`, or the first line of a text body.
    /// Sanitised and at most ~200 characters.
    public var message: String?

    public init(status: Int, errors: [DistributionError], message: String? = nil) {
        self.status = status
        self.errors = errors
        self.message = message
    }

    /// Larger bodies are not parsed: an error body that big is not a distribution error.
    static let maxParsedBody = 1 << 20

    public static func decode(status: Int, body: [UInt8]) -> RegistryErrorResponse {
        var response = RegistryErrorResponse(status: status, errors: [])
        guard !body.isEmpty else { return response }
        if body.count <= maxParsedBody, let envelope = try? JSONDecoder().decode(Envelope.self, from: Data(body)) {
            response.errors = envelope.errors.map {
                DistributionError(code: DiagnosticText.sanitize($0.code, limit: 64),
                                  message: DiagnosticText.sanitize($0.message, limit: 200))
            }
            if let text = envelope.fallback {
                let clean = DiagnosticText.sanitize(text, limit: 200)
                if !clean.isEmpty { response.message = clean }
            }
            return response
        }
        let text = String(decoding: body.prefix(8192), as: UTF8.self)
        let clean = DiagnosticText.sanitize(htmlTitle(text) ?? firstTextLine(text), limit: 200)
        if !clean.isEmpty { response.message = clean }
        return response
    }

    public var codes: [String] { errors.map(\.code) }
    public func contains(code: String) -> Bool { errors.contains { $0.code == code } }

    /// One short line, e.g. "MANIFEST_UNKNOWN: manifest unknown", "HTTP 502: Bad Gateway" or "HTTP 502".
    public var summary: String {
        if let first = errors.first(where: { !$0.code.isEmpty || !$0.message.isEmpty }) {
            var s: String
            switch (first.code.isEmpty, first.message.isEmpty) {
            case (false, false): s = "\(first.code): \(first.message)"
            case (false, true): s = first.code
            default: s = "HTTP \(status): \(first.message)"
            }
            if errors.count > 1 { s += " (and \(errors.count - 1) more)" }
            return s
        }
        if let message, !message.isEmpty { return "HTTP \(status): \(message)" }
        return "HTTP \(status)"
    }

    /// Title of an HTML page (nginx/HAProxy error pages say "502 Bad Gateway" there); nil otherwise.
    static func htmlTitle(_ text: String) -> String? {
        let u = Array(text.utf8)
        // ASCII case-insensitive search on bytes keeps offsets valid whatever else the page contains.
        func find(_ needle: String, from: Int) -> Int? {
            let n = Array(needle.utf8)
            guard from <= u.count - n.count else { return nil }
            outer: for i in from...(u.count - n.count) {
                for k in 0..<n.count {
                    var b = u[i + k]
                    if b >= 0x41 && b <= 0x5A { b += 0x20 }
                    if b != n[k] { continue outer }
                }
                return i
            }
            return nil
        }
        let firstNonSpace = u.first { $0 != 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D }
        guard firstNonSpace == 0x3C || find("<html", from: 0) != nil else { return nil }
        guard let open = find("<title", from: 0),
              let gt = u[open...].firstIndex(of: 0x3E),
              let close = find("</title", from: gt + 1) else { return "" }
        return String(decoding: u[(gt + 1)..<close], as: UTF8.self)
    }

    static func firstTextLine(_ text: String) -> String {
        for line in text.split(whereSeparator: { $0 == "\n" || $0 == "\r" || $0 == "\r\n" }) {
            let t = DiagnosticText.trim(line)
            if !t.isEmpty { return String(t) }
        }
        return ""
    }

    private struct Envelope: Decodable {
        var errors: [Entry] = []
        var fallback: String?

        struct Entry: Decodable {
            var code = ""
            var message = ""
            enum CodingKeys: String, CodingKey { case code, message }
            init(from decoder: any Decoder) throws {
                let c = try decoder.container(keyedBy: CodingKeys.self)
                code = (try? c.decodeIfPresent(String.self, forKey: .code)) ?? ""
                message = (try? c.decodeIfPresent(String.self, forKey: .message)) ?? ""
            }
        }

        enum CodingKeys: String, CodingKey { case errors, message, error, details, detail }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            if var list = try? c.nestedUnkeyedContainer(forKey: .errors) {
                while !list.isAtEnd {
                    if let e = try? list.decode(Entry.self) {
                        errors.append(e)
                    } else {
                        // Skip an entry that is not an object so the rest still decode.
                        _ = try? list.decode(Skip.self)
                    }
                }
            }
            for key in [CodingKeys.message, .error, .details, .detail] {
                if let s = try? c.decodeIfPresent(String.self, forKey: key), !s.isEmpty {
                    fallback = s
                    break
                }
            }
        }
    }

    private struct Skip: Decodable {
        init(from decoder: any Decoder) throws {}
    }
}

/// Making untrusted text (registry bodies, user input) safe and short for one-line diagnostics.
enum DiagnosticText {
    /// Control characters (C0, DEL, C1) and bidi overrides become spaces; whitespace runs collapse;
    /// the result is cut to `limit` characters with "…".
    static func sanitize(_ text: some StringProtocol, limit: Int = 200) -> String {
        var out = ""
        var lastWasSpace = true
        var count = 0
        for scalar in text.unicodeScalars {
            let v = scalar.value
            let unsafe = v < 0x20 || (v >= 0x7F && v <= 0x9F) || (v >= 0x202A && v <= 0x202E)
                || (v >= 0x2066 && v <= 0x2069) || v == 0x200E || v == 0x200F
            if unsafe || v == 0x20 {
                if !lastWasSpace { out.unicodeScalars.append(" "); lastWasSpace = true; count += 1 }
            } else {
                out.unicodeScalars.append(scalar)
                lastWasSpace = false
                count += 1
            }
            if count >= limit {
                return String(trim(out)) + "…"
            }
        }
        return String(trim(out))
    }

    /// `"text"` with quotes, backslashes and non-printable characters escaped, cut to `limit`.
    static func quote(_ text: some StringProtocol, limit: Int = 200) -> String {
        var out = "\""
        var count = 0
        for scalar in text.unicodeScalars {
            if count >= limit { out += "…"; break }
            count += 1
            switch scalar.value {
            case 0x22: out += "\\\""
            case 0x5C: out += "\\\\"
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            case 0..<0x20, 0x7F...0x9F, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069:
                out += "\\u{" + String(scalar.value, radix: 16) + "}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// Trims ASCII whitespace (SP, HT, CR, LF) from both ends.
    static func trim<S: StringProtocol>(_ s: S) -> Substring where S.SubSequence == Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" || $0 == "\r\n" }
        guard let start = s.firstIndex(where: { !isSpace($0) }) else { return s[s.endIndex...] }
        let end = s.lastIndex(where: { !isSpace($0) })!
        return s[start...end]
    }
}
