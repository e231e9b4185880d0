/// A small JSON reader for test assertions (token responses, manifests, JWT claims).
public indirect enum JSONNode: Sendable, Equatable, CustomStringConvertible {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONNode])
    case object([String: JSONNode])

    /// Parses UTF-8 JSON; nil when malformed.
    public static func parse(_ text: String) -> JSONNode? {
        var p = Parser(Array(text.utf8))
        guard let v = p.value() else { return nil }
        p.skipSpace()
        return p.i == p.b.count ? v : nil
    }

    public static func parse(_ bytes: [UInt8]) -> JSONNode? { parse(String(decoding: bytes, as: UTF8.self)) }

    public subscript(key: String) -> JSONNode? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    public subscript(index: Int) -> JSONNode? {
        if case .array(let a) = self, a.indices.contains(index) { return a[index] }
        return nil
    }

    public var string: String? { if case .string(let s) = self { return s } else { return nil } }
    public var int: Int? { if case .number(let d) = self { return Int(exactly: d.rounded()) } else { return nil } }
    public var double: Double? { if case .number(let d) = self { return d } else { return nil } }
    public var bool: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    public var array: [JSONNode]? { if case .array(let a) = self { return a } else { return nil } }
    public var object: [String: JSONNode]? { if case .object(let o) = self { return o } else { return nil } }

    public var description: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return String(b)
        case .number(let d): return d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : String(d)
        case .string(let s): return jsonQuote(s)
        case .array(let a): return "[" + a.map(\.description).joined(separator: ",") + "]"
        case .object(let o): return "{" + o.keys.sorted().map { jsonQuote($0) + ":" + o[$0]!.description }.joined(separator: ",") + "}"
        }
    }

    private struct Parser {
        let b: [UInt8]
        var i = 0
        init(_ b: [UInt8]) { self.b = b }

        mutating func skipSpace() { while i < b.count, [32, 9, 10, 13].contains(b[i]) { i += 1 } }

        mutating func value() -> JSONNode? {
            skipSpace()
            guard i < b.count else { return nil }
            switch b[i] {
            case UInt8(ascii: "{"):
                i += 1
                var o: [String: JSONNode] = [:]
                skipSpace()
                if i < b.count, b[i] == UInt8(ascii: "}") { i += 1; return .object(o) }
                while true {
                    skipSpace()
                    guard case .string(let k)? = value() else { return nil }
                    skipSpace()
                    guard i < b.count, b[i] == UInt8(ascii: ":") else { return nil }
                    i += 1
                    guard let v = value() else { return nil }
                    o[k] = v
                    skipSpace()
                    guard i < b.count else { return nil }
                    if b[i] == UInt8(ascii: ",") { i += 1; continue }
                    if b[i] == UInt8(ascii: "}") { i += 1; return .object(o) }
                    return nil
                }
            case UInt8(ascii: "["):
                i += 1
                var a: [JSONNode] = []
                skipSpace()
                if i < b.count, b[i] == UInt8(ascii: "]") { i += 1; return .array(a) }
                while true {
                    guard let v = value() else { return nil }
                    a.append(v)
                    skipSpace()
                    guard i < b.count else { return nil }
                    if b[i] == UInt8(ascii: ",") { i += 1; continue }
                    if b[i] == UInt8(ascii: "]") { i += 1; return .array(a) }
                    return nil
                }
            case UInt8(ascii: "\""):
                i += 1
                var out = [UInt8]()
                while i < b.count {
                    let c = b[i]
                    i += 1
                    if c == UInt8(ascii: "\"") { return .string(String(decoding: out, as: UTF8.self)) }
                    if c != UInt8(ascii: "\\") { out.append(c); continue }
                    guard i < b.count else { return nil }
                    let e = b[i]
                    i += 1
                    switch e {
                    case UInt8(ascii: "n"): out.append(10)
                    case UInt8(ascii: "t"): out.append(9)
                    case UInt8(ascii: "r"): out.append(13)
                    case UInt8(ascii: "b"): out.append(8)
                    case UInt8(ascii: "f"): out.append(12)
                    case UInt8(ascii: "u"):
                        guard i + 4 <= b.count, var code = UInt32(String(decoding: b[i..<(i + 4)], as: UTF8.self), radix: 16) else { return nil }
                        i += 4
                        if (0xD800..<0xDC00).contains(code), i + 6 <= b.count, b[i] == UInt8(ascii: "\\"), b[i + 1] == UInt8(ascii: "u"),
                           let low = UInt32(String(decoding: b[(i + 2)..<(i + 6)], as: UTF8.self), radix: 16) {
                            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                            i += 6
                        }
                        out += Array(String(Unicode.Scalar(code).map(Character.init) ?? "?").utf8)
                    default: out.append(e)
                    }
                }
                return nil
            case UInt8(ascii: "t"):
                guard b[i...].starts(with: Array("true".utf8)) else { return nil }
                i += 4
                return .bool(true)
            case UInt8(ascii: "f"):
                guard b[i...].starts(with: Array("false".utf8)) else { return nil }
                i += 5
                return .bool(false)
            case UInt8(ascii: "n"):
                guard b[i...].starts(with: Array("null".utf8)) else { return nil }
                i += 4
                return .null
            default:
                let start = i
                while i < b.count, "+-0123456789.eE".utf8.contains(b[i]) { i += 1 }
                guard let d = Double(String(decoding: b[start..<i], as: UTF8.self)) else { return nil }
                return .number(d)
            }
        }
    }
}
