import YAML

/// How go-yaml v2 (the parser behind kubectl, via sigs.k8s.io/yaml) turns YAML into the JSON that
/// client-go then decodes: plain scalars get YAML 1.1 types (`yes`/`on`/`y` are booleans, `0x1F` is
/// a number), a key written twice keeps its last value, and `<<` merges in document order (a key
/// after `<<` overrides the merged one, a merge after a key overrides it; of several merged mappings
/// the first wins). Kubeconfig fields then need the JSON type of their Go field: a number where a
/// string belongs is an error in kubectl, so it is one here. A timestamp (`2024-01-01`, plain or
/// `!!timestamp`) stays the text as written, as go-yaml v2 hands it to an interface{}; an explicit
/// `!!bool`, `!!int`, `!!float`, `!!null` or `!!timestamp` on text that is not one is an error.
enum GoYAML {
    enum Scalar: Equatable {
        case null
        case bool(Bool)
        case number
        case string(String)
        /// go-yaml refuses the scalar (`cannot decode !!str \`x\` as a !!bool`).
        case invalid(String)
    }

    /// What go-yaml v2's `resolve` makes of a scalar's text.
    enum Resolved: Equatable {
        case null, bool(Bool), int, float, timestamp, string

        var shortTag: String {
            switch self {
            case .null: "!!null"
            case .bool: "!!bool"
            case .int: "!!int"
            case .float: "!!float"
            case .timestamp: "!!timestamp"
            case .string: "!!str"
            }
        }
    }

    /// A mapping as a Go map sees it.
    struct Fields {
        var values: [String: YAMLNode] = [:]
        subscript(key: String) -> YAMLNode? { values[key] }
    }

    /// nil for collections.
    static func scalar(_ node: YAMLNode) -> Scalar? {
        guard let text = node.scalar else { return nil }
        let typed: Resolved
        switch node.tag {
        case "tag:yaml.org,2002:str"?, "!"?: return .string(text)
        case "tag:yaml.org,2002:binary"?:
            // Decoded, as go-yaml does before handing the string on.
            guard let bytes = Base64.decode(text) else { return .invalid("!!binary value contains invalid base64 data") }
            return .string(String(decoding: bytes, as: UTF8.self))
        case nil where !node.isPlainScalar: return .string(text)   // quoted or block: always a string
        case nil: typed = resolve(text)
        case let tag?:
            let short = "!!" + tag.dropFirst("tag:yaml.org,2002:".count)
            guard tag.hasPrefix("tag:yaml.org,2002:"), ["!!null", "!!bool", "!!int", "!!float", "!!timestamp"].contains(short) else {
                return .string(text)   // any other tag (`!foo`, `!!set`...): go-yaml keeps the text
            }
            let r = resolve(text)
            // Only a !!float takes an int; every other explicit tag needs its own kind.
            guard r.shortTag == short || (short == "!!float" && r == .int) else {
                return .invalid("cannot decode \(r.shortTag) `\(text)` as a \(short)")
            }
            typed = r
        }
        switch typed {
        case .null: return .null
        case .bool(let b): return .bool(b)
        case .int, .float: return .number
        case .timestamp, .string: return .string(text)   // go-yaml: "for backward compatibility", the text
        }
    }

    /// go-yaml v2's `resolve`: the YAML 1.1 words, timestamps, then ints and floats.
    static func resolve(_ text: String) -> Resolved {
        if ["", "~", "null", "Null", "NULL"].contains(text) { return .null }
        if let b = bools[text] { return .bool(b) }
        if isTimestamp(text) { return .timestamp }
        return numberKind(text) ?? .string
    }

    private static let bools: [String: Bool] = {
        var m: [String: Bool] = [:]
        for t in ["y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"] { m[t] = true }
        for f in ["n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"] { m[f] = false }
        return m
    }()

    static func isNumber(_ text: String) -> Bool { numberKind(text) != nil }

    /// go-yaml v2's int (strconv.ParseInt base 0 after dropping `_`, also `0b…`) and float forms.
    static func numberKind(_ text: String) -> Resolved? {
        if [".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", ".nan", ".NaN", ".NAN"].contains(text) {
            return .float
        }
        guard let first = text.utf8.first, first == UInt8(ascii: "+") || first == UInt8(ascii: "-")
                || first == UInt8(ascii: ".") || (first >= UInt8(ascii: "0") && first <= UInt8(ascii: "9")) else { return nil }
        var digits = Substring(text.filter { $0 != "_" })
        if digits.hasPrefix("+") || digits.hasPrefix("-") { digits = digits.dropFirst() }
        if digits.isEmpty { return nil }
        let lower = digits.lowercased()
        func all(_ s: Substring, _ ok: (Character) -> Bool) -> Bool { !s.isEmpty && s.allSatisfy(ok) }
        if lower.hasPrefix("0x") { return all(Substring(lower.dropFirst(2)), { $0.isHexDigit }) ? .int : nil }
        if lower.hasPrefix("0b") { return all(Substring(lower.dropFirst(2)), { $0 == "0" || $0 == "1" }) ? .int : nil }
        if lower.hasPrefix("0o") { return all(Substring(lower.dropFirst(2)), { ("0"..."7").contains($0) }) ? .int : nil }
        if all(digits, { $0.isASCII && $0.isNumber }) {
            // A leading 0 means octal to ParseInt: "09" is no int, but the float pattern takes it.
            let octalMiss = digits.count > 1 && digits.first == "0" && digits.contains { $0 == "8" || $0 == "9" }
            return octalMiss ? .float : .int
        }
        // [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?  (on the text as written: no `_`)
        var s = Substring(text)
        if s.hasPrefix("+") || s.hasPrefix("-") { s = s.dropFirst() }
        let mantissaEnd = s.firstIndex { $0 == "e" || $0 == "E" } ?? s.endIndex
        let mantissa = s[..<mantissaEnd]
        let isDigit: (Character) -> Bool = { $0.isASCII && $0.isNumber }
        if let dot = mantissa.firstIndex(of: ".") {
            let intPart = mantissa[..<dot], frac = mantissa[mantissa.index(after: dot)...]
            guard intPart.allSatisfy(isDigit), frac.allSatisfy(isDigit), !(intPart.isEmpty && frac.isEmpty) else { return nil }
        } else {
            guard all(mantissa, isDigit) else { return nil }
        }
        if mantissaEnd < s.endIndex {
            var exponent = s[s.index(after: mantissaEnd)...]
            if exponent.hasPrefix("+") || exponent.hasPrefix("-") { exponent = exponent.dropFirst() }
            return all(exponent, isDigit) ? .float : nil
        }
        return .float
    }

    /// go-yaml v2's `parseTimestamp`: text starting `YYYY-` that Go's time.Parse reads with one of
    /// "2006-1-2T15:4:5.999999999Z07:00", the same with a lower-case "t", "2006-1-2 15:4:5.999999999"
    /// or "2006-1-2" (one- or two-digit fields, ranges and the day of the month checked).
    static func isTimestamp(_ text: String) -> Bool {
        let b = Array(text.utf8)
        var i = 0
        func digit(_ k: Int) -> Bool { k < b.count && b[k] >= UInt8(ascii: "0") && b[k] <= UInt8(ascii: "9") }
        func value(_ k: Int) -> Int { Int(b[k] - UInt8(ascii: "0")) }
        func expect(_ c: Character) -> Bool {
            guard i < b.count, b[i] == c.asciiValue! else { return false }
            i += 1
            return true
        }
        /// Go's getnum(s, false): one digit, or two when two follow.
        func number() -> Int? {
            guard digit(i) else { return nil }
            if !digit(i + 1) { i += 1; return value(i - 1) }
            i += 2
            return value(i - 2) * 10 + value(i - 1)
        }
        while digit(i) { i += 1 }
        guard i == 4, i < b.count, b[i] == UInt8(ascii: "-") else { return false }
        let year = (0..<4).reduce(0) { $0 * 10 + value($1) }
        i += 1
        guard let month = number(), (1...12).contains(month), expect("-"), let day = number() else { return false }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
        guard (1...days).contains(day) else { return false }
        if i == b.count { return true }   // "2006-1-2"
        let separator = b[i]
        guard separator == UInt8(ascii: "T") || separator == UInt8(ascii: "t") || separator == UInt8(ascii: " ") else { return false }
        i += 1
        guard let hour = number(), hour < 24, expect(":"), let minute = number(), minute < 60, expect(":"),
              let second = number(), second < 60 else { return false }
        if i + 1 < b.count, b[i] == UInt8(ascii: ".") || b[i] == UInt8(ascii: ","), digit(i + 1) {
            i += 1
            while digit(i) { i += 1 }
        }
        if separator == UInt8(ascii: " ") { return i == b.count }
        if expect("Z") { return i == b.count }
        // ±hh:mm, hours up to 24 and minutes up to 60 as Go allows.
        guard b.count - i == 6, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-"), digit(i + 1), digit(i + 2),
              b[i + 3] == UInt8(ascii: ":"), digit(i + 4), digit(i + 5) else { return false }
        return value(i + 1) * 10 + value(i + 2) <= 24 && value(i + 4) * 10 + value(i + 5) <= 60
    }

    /// The mapping's fields, merge keys applied and duplicates resolved as go-yaml v2 does.
    static func fields(_ node: YAMLNode, depth: Int = 0) throws(YAMLError) -> Fields {
        var out = Fields()
        guard depth < 64 else { throw YAMLError(line: node.line, column: node.column, message: "merge keys nested too deeply") }
        for pair in node.mapping ?? [] {
            if pair.key.isMergeKey {
                switch pair.value.content {
                case .mapping:
                    for (k, v) in try fields(pair.value, depth: depth + 1).values { out.values[k] = v }
                case .sequence(let items):
                    // Applied last to first, so the first mapping listed wins.
                    for item in items.reversed() {
                        guard item.mapping != nil else {
                            throw YAMLError(line: item.line, column: item.column, message: "map merge requires map or sequence of maps as the value")
                        }
                        for (k, v) in try fields(item, depth: depth + 1).values { out.values[k] = v }
                    }
                default:
                    throw YAMLError(line: pair.value.line, column: pair.value.column, message: "map merge requires map or sequence of maps as the value")
                }
            } else if let key = pair.key.scalar {
                out.values[key] = pair.value
            }
        }
        return out
    }
}
