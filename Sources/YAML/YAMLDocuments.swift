import CYAML

/// Parses YAML text with libyaml into node trees, one per document.
public enum YAMLDocuments {
    /// Nesting beyond this is refused: the trees are walked recursively by their consumers.
    public static let maxDepth = 512
    /// Nodes a document may expand to once aliases are resolved (refuses "billion laughs").
    public static let maxNodes = 1_000_000

    public static func parse(_ text: String) throws(YAMLError) -> [YAMLNode] {
        try parse(text, applyingMergeKeys: true)
    }

    /// `applyingMergeKeys: false` leaves `<<` pairs in the mappings (aliases still resolved), for a
    /// consumer that must merge as another YAML library does: go-yaml v2, which kubectl uses, lets a
    /// `<<` written after a key override it, where the YAML merge-key type says explicit keys win.
    public static func parse(_ text: String, applyingMergeKeys: Bool) throws(YAMLError) -> [YAMLNode] {
        let bytes = Array(text.utf8)
        do {
            return try bytes.withUnsafeBufferPointer { buffer in
                var parser = yaml_parser_t()
                guard yaml_parser_initialize(&parser) == 1 else {
                    throw YAMLError(line: 0, column: 0, message: "cannot initialise the YAML parser (out of memory)")
                }
                defer { yaml_parser_delete(&parser) }
                // libyaml reads the buffer while parsing only; it stays alive for this whole closure.
                yaml_parser_set_input_string(&parser, buffer.baseAddress ?? UnsafePointer(bitPattern: 1)!, buffer.count)
                var builder = TreeBuilder(applyingMergeKeys: applyingMergeKeys)
                while true {
                    var event = yaml_event_t()
                    guard yaml_parser_parse(&parser, &event) == 1 else { throw parserError(parser) }
                    defer { yaml_event_delete(&event) }
                    if try builder.handle(&event) { break }
                }
                return builder.documents
            }
        } catch let error as YAMLError {
            throw error
        } catch {
            throw YAMLError(line: 0, column: 0, message: "\(error)")
        }
    }

    private static func parserError(_ parser: yaml_parser_t) -> YAMLError {
        let problem = parser.problem.map { String(cString: $0) } ?? "invalid YAML"
        let mark = parser.problem_mark
        var message = problem
        if let context = parser.context.map({ String(cString: $0) }) { message = "\(problem) \(context)" }
        return YAMLError(line: Int(mark.line) + 1, column: Int(mark.column) + 1, message: message)
    }
}

/// Turns libyaml's event stream into trees; iterative, so depth costs no stack.
private struct TreeBuilder {
    struct Collection {
        var isMapping: Bool
        var items: [YAMLNode] = []      // mappings: key, value, key, value...
        var size = 1
        var line: Int
        var column: Int
        var tag: String?
        var anchor: String?
    }

    let applyingMergeKeys: Bool
    init(applyingMergeKeys: Bool) { self.applyingMergeKeys = applyingMergeKeys }

    var documents: [YAMLNode] = []
    private var stack: [Collection] = []
    private var anchors: [String: (node: YAMLNode, size: Int)] = [:]
    private var root: YAMLNode?
    private var rootSize = 0

    /// Returns true at the end of the stream.
    mutating func handle(_ event: inout yaml_event_t) throws -> Bool {
        let line = Int(event.start_mark.line) + 1
        let column = Int(event.start_mark.column) + 1
        switch event.type {
        case YAML_STREAM_END_EVENT:
            return true
        case YAML_DOCUMENT_START_EVENT:
            anchors = [:]
            root = nil
        case YAML_DOCUMENT_END_EVENT:
            // An empty document (`---` alone) is a null scalar, as go-yaml reads it.
            documents.append(root ?? YAMLNode(content: .scalar(""), line: line, column: column, isPlainScalar: true))
        case YAML_ALIAS_EVENT:
            let name = string(event.data.alias.anchor)
            guard let target = anchors[name ?? ""] else {
                throw YAMLError(line: line, column: column, message: "unknown anchor '\(name ?? "")' referenced")
            }
            var node = target.node
            node.line = line
            node.column = column
            try add(node, size: target.size, line: line, column: column)
        case YAML_SCALAR_EVENT:
            let s = event.data.scalar
            let value = s.value.map { String(decoding: UnsafeBufferPointer(start: $0, count: s.length), as: UTF8.self) } ?? ""
            let node = YAMLNode(content: .scalar(value), line: line, column: column, tag: string(s.tag),
                                isPlainScalar: s.style == YAML_PLAIN_SCALAR_STYLE)
            if let anchor = string(s.anchor) { anchors[anchor] = (node, 1) }
            try add(node, size: 1, line: line, column: column)
        case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
            guard stack.count < YAMLDocuments.maxDepth else {
                throw YAMLError(line: line, column: column, message: "nested deeper than \(YAMLDocuments.maxDepth) levels")
            }
            let isMapping = event.type == YAML_MAPPING_START_EVENT
            let anchor = isMapping ? string(event.data.mapping_start.anchor) : string(event.data.sequence_start.anchor)
            let tag = isMapping ? string(event.data.mapping_start.tag) : string(event.data.sequence_start.tag)
            stack.append(Collection(isMapping: isMapping, line: line, column: column, tag: tag, anchor: anchor))
        case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
            let done = stack.removeLast()
            let content: YAMLNode.Content = done.isMapping
                ? .mapping(applyingMergeKeys ? try Self.applyingMerges(done.items) : Self.pairs(done.items))
                : .sequence(done.items)
            let node = YAMLNode(content: content, line: done.line, column: done.column, tag: done.tag)
            if let anchor = done.anchor { anchors[anchor] = (node, done.size) }
            try add(node, size: done.size, line: done.line, column: done.column)
        default:
            break
        }
        return false
    }

    private mutating func add(_ node: YAMLNode, size: Int, line: Int, column: Int) throws {
        guard !stack.isEmpty else {
            root = node
            rootSize = size
            return
        }
        stack[stack.count - 1].items.append(node)
        stack[stack.count - 1].size += size
        if stack[stack.count - 1].size > YAMLDocuments.maxNodes {
            throw YAMLError(line: line, column: column,
                            message: "aliases expand the document beyond \(YAMLDocuments.maxNodes) nodes")
        }
    }

    private func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        pointer.map { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
    }

    private static func isMergeKey(_ key: YAMLNode) -> Bool {
        key.scalar == "<<" && (key.tag == "tag:yaml.org,2002:merge" || (key.tag == nil && key.isPlainScalar))
    }

    /// Applies `<<` keys as YAML's merge-key type says: keys written in the mapping win over merged
    /// ones, and among several merged mappings the earlier one wins. Merged pairs take the place of
    /// the `<<` key.
    static func pairs(_ flat: [YAMLNode]) -> [YAMLPair] {
        var pairs: [YAMLPair] = []
        pairs.reserveCapacity(flat.count / 2)
        var i = 0
        while i + 1 < flat.count {
            pairs.append(YAMLPair(key: flat[i], value: flat[i + 1]))
            i += 2
        }
        return pairs
    }

    static func applyingMerges(_ flat: [YAMLNode]) throws -> [YAMLPair] {
        let pairs = pairs(flat)
        guard pairs.contains(where: { isMergeKey($0.key) }) else { return pairs }
        var explicit = Set<String>()
        for p in pairs where !isMergeKey(p.key) {
            if let k = p.key.scalar { explicit.insert(k) }
        }
        var taken = explicit
        var out: [YAMLPair] = []
        for p in pairs {
            guard isMergeKey(p.key) else {
                out.append(p)
                continue
            }
            let sources: [YAMLNode]
            switch p.value.content {
            case .mapping: sources = [p.value]
            case .sequence(let items) where items.allSatisfy({ $0.mapping != nil }): sources = items
            default:
                throw YAMLError(line: p.value.line, column: p.value.column,
                                message: "a merge key (<<) needs a mapping or a list of mappings")
            }
            for source in sources {
                for merged in source.mapping ?? [] {
                    if let k = merged.key.scalar {
                        guard taken.insert(k).inserted else { continue }
                    }
                    out.append(merged)
                }
            }
        }
        return out
    }
}
