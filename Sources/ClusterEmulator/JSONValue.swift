/// A JSON document with ordered object keys, so responses come out byte-for-byte as Go's encoders write them.
enum JSON: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int)
    case string(String)
    case array([JSON])
    case object([(String, JSON)])

    static func == (a: JSON, b: JSON) -> Bool { a.serialized() == b.serialized() }

    /// Compact serialisation. `escapeHTML` mirrors Go's `json.Marshal`/`json.Encoder` default (`<`, `>`, `&` as \u00XX).
    func serialized(escapeHTML: Bool = true) -> String {
        var out = ""
        write(into: &out, escapeHTML: escapeHTML)
        return out
    }

    var bytes: [UInt8] { Array(serialized().utf8) }

    private func write(into out: inout String, escapeHTML: Bool) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .string(let s): JSON.quote(s, into: &out, escapeHTML: escapeHTML)
        case .array(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                item.write(into: &out, escapeHTML: escapeHTML)
            }
            out += "]"
        case .object(let fields):
            out += "{"
            for (i, field) in fields.enumerated() {
                if i > 0 { out += "," }
                JSON.quote(field.0, into: &out, escapeHTML: escapeHTML)
                out += ":"
                field.1.write(into: &out, escapeHTML: escapeHTML)
            }
            out += "}"
        }
    }

    private static func quote(_ s: String, into out: inout String, escapeHTML: Bool) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "<" where escapeHTML: out += "\\u003c"
            case ">" where escapeHTML: out += "\\u003e"
            case "&" where escapeHTML: out += "\\u0026"
            case "\u{2028}": out += "\\u2028"
            case "\u{2029}": out += "\\u2029"
            default:
                if scalar.value < 0x20 {
                    let hex = Array("0123456789abcdef")
                    out += "\\u00" + String(hex[Int(scalar.value >> 4)]) + String(hex[Int(scalar.value & 15)])
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }

    static func strings(_ values: [String]) -> JSON { .array(values.map { .string($0) }) }
}
