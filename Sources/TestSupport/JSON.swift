import FoundationEssentials

/// A small JSON reader for test assertions (token responses, manifests, JWT claims).
public indirect enum JSONNode: Sendable, Equatable, CustomStringConvertible {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONNode])
    case object([String: JSONNode])

    /// Parses UTF-8 JSON with Foundation's JSONDecoder; nil when malformed.
    public static func parse(_ text: String) -> JSONNode? { parse(Array(text.utf8)) }

    public static func parse(_ bytes: [UInt8]) -> JSONNode? { try? JSONDecoder().decode(JSONNode.self, from: Data(bytes)) }

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

    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}

extension JSONNode: Decodable {
    public init(from decoder: any Decoder) throws {
        if let object = try? decoder.container(keyedBy: AnyKey.self) {
            var o: [String: JSONNode] = [:]
            for key in object.allKeys { o[key.stringValue] = try object.decode(JSONNode.self, forKey: key) }
            self = .object(o)
        } else if var array = try? decoder.unkeyedContainer() {
            var a: [JSONNode] = []
            while !array.isAtEnd { a.append(try array.decode(JSONNode.self)) }
            self = .array(a)
        } else {
            let value = try decoder.singleValueContainer()
            if value.decodeNil() {
                self = .null
            } else if let b = try? value.decode(Bool.self) {
                self = .bool(b)
            } else if let d = try? value.decode(Double.self) {
                self = .number(d)
            } else {
                self = .string(try value.decode(String.self))
            }
        }
    }
}
