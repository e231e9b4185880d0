import YAML

/// How go-yaml v2 (the parser behind kubectl, via sigs.k8s.io/yaml) turns YAML into the JSON that
/// client-go then decodes: plain scalars get YAML 1.1 types (`yes`/`on`/`y` are booleans, `0x1F` is
/// a number), a key written twice keeps its last value, and `<<` merges in document order (a key
/// after `<<` overrides the merged one, a merge after a key overrides it; of several merged mappings
/// the first wins). Kubeconfig fields then need the JSON type of their Go field: a number where a
/// string belongs is an error in kubectl, so it is one here.
enum GoYAML {
    enum Scalar: Equatable {
        case null
        case bool(Bool)
        case number
        case string(String)
    }

    /// A mapping as a Go map sees it.
    struct Fields {
        var values: [String: YAMLNode] = [:]
        subscript(key: String) -> YAMLNode? { values[key] }
    }

    /// nil for collections.
    static func scalar(_ node: YAMLNode) -> Scalar? {
        guard let text = node.scalar else { return nil }
        switch node.tag {
        case "tag:yaml.org,2002:str"?, "tag:yaml.org,2002:binary"?, "!"?: return .string(text)
        case "tag:yaml.org,2002:null"?: return .null
        case nil where !node.isPlainScalar: return .string(text)   // quoted or block: always a string
        default: break   // plain, or an explicit !!bool/!!int/...: typed by its text
        }
        if ["", "~", "null", "Null", "NULL"].contains(text) { return .null }
        if let b = bools[text] { return .bool(b) }
        if isNumber(text) { return .number }
        return .string(text)
    }

    private static let bools: [String: Bool] = {
        var m: [String: Bool] = [:]
        for t in ["y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"] { m[t] = true }
        for f in ["n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"] { m[f] = false }
        return m
    }()

    /// go-yaml v2's int (strconv.ParseInt base 0 after dropping `_`, also `0b…`) and float forms.
    static func isNumber(_ text: String) -> Bool {
        if [".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", ".nan", ".NaN", ".NAN"].contains(text) {
            return true
        }
        guard let first = text.utf8.first, first == UInt8(ascii: "+") || first == UInt8(ascii: "-")
                || first == UInt8(ascii: ".") || (first >= UInt8(ascii: "0") && first <= UInt8(ascii: "9")) else { return false }
        var digits = Substring(text.filter { $0 != "_" })
        if digits.hasPrefix("+") || digits.hasPrefix("-") { digits = digits.dropFirst() }
        if digits.isEmpty { return false }
        let lower = digits.lowercased()
        func all(_ s: Substring, _ ok: (Character) -> Bool) -> Bool { !s.isEmpty && s.allSatisfy(ok) }
        if lower.hasPrefix("0x") { return all(Substring(lower.dropFirst(2)), { $0.isHexDigit }) }
        if lower.hasPrefix("0b") { return all(Substring(lower.dropFirst(2)), { $0 == "0" || $0 == "1" }) }
        if lower.hasPrefix("0o") { return all(Substring(lower.dropFirst(2)), { ("0"..."7").contains($0) }) }
        if all(digits, { $0.isASCII && $0.isNumber }) {
            // A leading 0 means octal to ParseInt: "09" is no int, but the float pattern takes it.
            return true
        }
        // [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?  (on the text as written: no `_`)
        var s = Substring(text)
        if s.hasPrefix("+") || s.hasPrefix("-") { s = s.dropFirst() }
        let mantissaEnd = s.firstIndex { $0 == "e" || $0 == "E" } ?? s.endIndex
        let mantissa = s[..<mantissaEnd]
        let isDigit: (Character) -> Bool = { $0.isASCII && $0.isNumber }
        if let dot = mantissa.firstIndex(of: ".") {
            let intPart = mantissa[..<dot], frac = mantissa[mantissa.index(after: dot)...]
            guard intPart.allSatisfy(isDigit), frac.allSatisfy(isDigit), !(intPart.isEmpty && frac.isEmpty) else { return false }
            if intPart.isEmpty && frac.isEmpty { return false }
        } else {
            guard all(mantissa, isDigit) else { return false }
        }
        if mantissaEnd < s.endIndex {
            var exponent = s[s.index(after: mantissaEnd)...]
            if exponent.hasPrefix("+") || exponent.hasPrefix("-") { exponent = exponent.dropFirst() }
            return all(exponent, isDigit)
        }
        return true
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
