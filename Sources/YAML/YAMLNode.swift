/// One node of a YAML document, with where it starts in the text (for error messages).
///
/// Anchors and aliases are resolved (an alias is a copy of its anchored node) and merge keys
/// (`<<: *defaults`, `<<: [*a, *b]`) are applied, so consumers see plain trees. Duplicate keys are
/// kept in document order: whether they are an error is the consumer's call.
public struct YAMLNode: Sendable, Equatable {
    public enum Content: Sendable, Equatable {
        case scalar(String)
        case sequence([YAMLNode])
        case mapping([YAMLPair])
    }

    public var content: Content
    /// 1-based line and column where the node starts.
    public var line: Int
    public var column: Int
    /// The explicit tag (`!!str` arrives as `tag:yaml.org,2002:str`), nil when none was written.
    public var tag: String?
    /// A scalar written without quotes or block indicators: only those can mean null, bools, numbers.
    public var isPlainScalar: Bool

    public init(content: Content, line: Int, column: Int, tag: String? = nil, isPlainScalar: Bool = false) {
        self.content = content
        self.line = line
        self.column = column
        self.tag = tag
        self.isPlainScalar = isPlainScalar
    }

    /// The scalar's text, nil for collections.
    public var scalar: String? {
        if case .scalar(let s) = content { return s }
        return nil
    }

    /// YAML's null: an empty or `~`/`null` plain scalar, or an explicit `!!null`.
    public var isNull: Bool {
        guard case .scalar(let s) = content else { return false }
        if tag == "tag:yaml.org,2002:null" { return true }
        return tag == nil && isPlainScalar && ["", "~", "null", "Null", "NULL"].contains(s)
    }

    public var sequence: [YAMLNode]? {
        if case .sequence(let items) = content { return items }
        return nil
    }

    public var mapping: [YAMLPair]? {
        if case .mapping(let pairs) = content { return pairs }
        return nil
    }

    /// The value of the first pair whose key is the scalar `key`.
    public subscript(key: String) -> YAMLNode? {
        mapping?.first { $0.key.scalar == key }?.value
    }

    /// "a string", "a list", "a mapping" or "null", for messages like "clusters must be a list, not a string".
    public var kindName: String {
        if isNull { return "null" }
        switch content {
        case .scalar: return "a string"
        case .sequence: return "a list"
        case .mapping: return "a mapping"
        }
    }
}

public struct YAMLPair: Sendable, Equatable {
    public var key: YAMLNode
    public var value: YAMLNode

    public init(key: YAMLNode, value: YAMLNode) {
        self.key = key
        self.value = value
    }
}

public struct YAMLError: Error, Sendable, Equatable, CustomStringConvertible {
    /// 1-based; 0 when the position is unknown.
    public var line: Int
    public var column: Int
    public var message: String

    public init(line: Int, column: Int, message: String) {
        self.line = line
        self.column = column
        self.message = message
    }

    public var description: String { line > 0 ? "line \(line): \(message)" : message }
}

extension YAMLNode {
    /// A `<<` key (plain or tagged `!!merge`), for consumers parsing with `applyingMergeKeys: false`.
    public var isMergeKey: Bool {
        scalar == "<<" && (tag == "tag:yaml.org,2002:merge" || (tag == nil && isPlainScalar))
    }
}
