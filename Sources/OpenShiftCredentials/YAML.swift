/// A small YAML reader for kubeconfig files.
///
/// Why not Yams: every Yams source file does `import Foundation` (its resolver uses
/// NSRegularExpression), which would link all of Foundation (~50 MB) into the static binary.
///
/// Supported: block mappings and sequences (including "indentless" sequences under a key, as kubectl
/// writes them), flow collections (so JSON kubeconfigs work), plain / single-quoted / double-quoted
/// scalars (multi-line folding, all escapes), literal and folded block scalars with chomping and
/// indentation indicators, comments, `---`/`...` markers, directives, anchors and aliases, tags
/// (ignored). Not supported (clear error): complex `?` keys, several documents in one file.
enum YAMLValue: Sendable {
    case null
    case scalar(String)
    case sequence([YAMLValue])
    case mapping([(key: String, value: YAMLValue)])

    subscript(key: String) -> YAMLValue? {
        if case .mapping(let pairs) = self { return pairs.first { $0.key == key }?.value }
        return nil
    }

    var isNull: Bool { if case .null = self { return true } else { return false } }

    var scalarString: String? { if case .scalar(let s) = self { return s } else { return nil } }

    /// YAML 1.1 booleans as go-yaml v2 (used by kubectl) reads them.
    var boolValue: Bool? {
        guard case .scalar(let s) = self else { return nil }
        switch s {
        case "true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON", "y", "Y": return true
        case "false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF", "n", "N": return false
        default: return nil
        }
    }

    var kindName: String {
        switch self {
        case .null: return "null"
        case .scalar: return "a string"
        case .sequence: return "a list"
        case .mapping: return "a mapping"
        }
    }
}

struct YAMLError: Error, Sendable, CustomStringConvertible {
    var line: Int
    var message: String
    var description: String { "line \(line): \(message)" }
}

struct YAMLParser {
    private let s: [Unicode.Scalar]
    private var pos = 0
    private var anchors: [String: YAMLValue] = [:]
    /// Nesting of the node being read: recursion is bounded so a hostile file cannot overflow the stack.
    private var depth = 0
    private static let maxDepth = 100

    static func parse(_ text: String) throws(YAMLError) -> YAMLValue {
        var p = YAMLParser(text)
        return try p.document()
    }

    private init(_ text: String) {
        var scalars = [Unicode.Scalar]()
        scalars.reserveCapacity(text.unicodeScalars.count)
        var it = text.unicodeScalars.makeIterator()
        var pending: Unicode.Scalar? = it.next()
        if pending == "\u{FEFF}" { pending = it.next() }
        while let c = pending {
            let next = it.next()
            if c == "\r" {
                scalars.append("\n")
                if next == "\n" { pending = it.next(); continue }
            } else {
                scalars.append(c)
            }
            pending = next
        }
        s = scalars
    }

    // MARK: character helpers

    private var n: Int { s.count }
    private func at(_ i: Int) -> Unicode.Scalar? { i < s.count && i >= 0 ? s[i] : nil }
    private static func isBlank(_ c: Unicode.Scalar?) -> Bool { c == " " || c == "\t" }
    /// Blank, line break or end of input.
    private func isSeparator(_ i: Int) -> Bool { let c = at(i); return c == nil || c == " " || c == "\t" || c == "\n" }
    private static func isFlowIndicator(_ c: Unicode.Scalar?) -> Bool {
        c == "," || c == "[" || c == "]" || c == "{" || c == "}"
    }

    private func lineStart(_ p: Int) -> Int {
        var i = min(p, n)
        while i > 0 && s[i - 1] != "\n" { i -= 1 }
        return i
    }

    private func column(_ p: Int) -> Int { p - lineStart(p) }

    private func lineNumber(_ p: Int) -> Int {
        var line = 1
        for i in 0..<min(p, n) where s[i] == "\n" { line += 1 }
        return line
    }

    private func fail(_ message: String, at p: Int? = nil) -> YAMLError {
        YAMLError(line: lineNumber(p ?? pos), message: message)
    }

    private mutating func skipInlineBlanks() {
        while pos < n && Self.isBlank(s[pos]) { pos += 1 }
    }

    /// After blanks: end of line, end of input, or a comment.
    private mutating func atLineEnd() -> Bool {
        skipInlineBlanks()
        guard pos < n else { return true }
        return s[pos] == "\n" || (s[pos] == "#" && (pos == 0 || Self.isBlank(s[pos - 1]) || s[pos - 1] == "\n"))
    }

    /// Requires the rest of the line to be blank or a comment and moves to the next line.
    private mutating func finishLine() throws(YAMLError) {
        skipInlineBlanks()
        if pos < n && s[pos] == "#" {
            while pos < n && s[pos] != "\n" { pos += 1 }
        }
        guard pos >= n || s[pos] == "\n" else {
            throw fail("unexpected '\(String(s[pos]))' after a value")
        }
        if pos < n { pos += 1 }
    }

    private var atLineStart: Bool { pos == 0 || pos >= n || s[pos - 1] == "\n" }

    private mutating func ensureLineStart() throws(YAMLError) {
        if !atLineStart { try finishLine() }
    }

    private func isDocumentMarker(_ p: Int) -> Bool {
        guard p + 3 <= n, column(p) == 0 else { return false }
        let three = String(String.UnicodeScalarView(s[p..<(p + 3)]))
        return (three == "---" || three == "...") && isSeparator(p + 3)
    }

    /// From a line start: skips blank and comment lines; returns the indentation of the next content
    /// line (pos stays at that line's start), or nil at the end of input or a document marker.
    private mutating func peekContent() throws(YAMLError) -> Int? {
        while pos < n {
            var i = pos
            var indent = 0
            while i < n && s[i] == " " { i += 1; indent += 1 }
            var j = i
            while j < n && Self.isBlank(s[j]) { j += 1 }
            if j >= n { pos = n; return nil }
            if s[j] == "\n" || s[j] == "#" {
                while j < n && s[j] != "\n" { j += 1 }
                pos = min(j + 1, n)
                continue
            }
            if isDocumentMarker(pos) { return nil }
            if j != i { throw fail("tab characters must not be used for indentation", at: i) }
            return indent
        }
        return nil
    }

    private func isDash(_ p: Int) -> Bool { at(p) == "-" && isSeparator(p + 1) }

    // MARK: document

    private mutating func document() throws(YAMLError) -> YAMLValue {
        // Directives (%YAML, %TAG) before the first ---.
        while true {
            guard try peekContent() != nil else { break }
            if at(pos) == "%" {
                while pos < n && s[pos] != "\n" { pos += 1 }
                if pos < n { pos += 1 }
            } else {
                break
            }
        }
        var root: YAMLValue = .null
        if isDocumentMarker(pos) && at(pos) == "-" {
            pos += 3
            root = try blockValue(parentIndent: -1, indentlessSequence: false, afterDash: true)
        } else if let indent = try peekContent() {
            root = try nodeAtIndent(indent, parentIndent: -1)
        }
        try ensureLineStart()
        // Only comments, blank lines and document markers may follow.
        var lastMarker: Int?
        while true {
            if try peekContent() != nil { throw fail("several YAML documents in one file are not supported", at: lastMarker) }
            if pos >= n { break }
            let marker = pos
            lastMarker = marker
            pos += 3
            if !atLineEnd() {
                throw fail("several YAML documents in one file are not supported", at: marker)
            }
            try finishLine()
        }
        return root
    }

    // MARK: block structure

    /// A node whose first line starts at `indent` (pos at that line's start).
    private mutating func nodeAtIndent(_ indent: Int, parentIndent: Int) throws(YAMLError) -> YAMLValue {
        pos += indent
        return try nodeHere(parentIndent: parentIndent, blockCollections: true)
    }

    /// The value after `key:`, `-` or `---` (pos just after the indicator).
    private mutating func blockValue(parentIndent: Int, indentlessSequence: Bool, afterDash: Bool) throws(YAMLError) -> YAMLValue {
        if atLineEnd() {
            try finishLine()
            guard let indent = try peekContent() else { return .null }
            if indent > parentIndent { return try nodeAtIndent(indent, parentIndent: parentIndent) }
            if indentlessSequence && indent == parentIndent && isDash(pos + indent) {
                pos += indent
                return try blockSequence(indent: indent)
            }
            return .null
        }
        return try nodeHere(parentIndent: parentIndent, blockCollections: afterDash)
    }

    /// A node starting at pos (mid-line). `blockCollections`: a compact mapping or sequence may start
    /// here (after `- ` or at a line's first content), not after `key: `.
    private mutating func nodeHere(parentIndent: Int, blockCollections: Bool) throws(YAMLError) -> YAMLValue {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maxDepth else { throw fail("nested more than \(Self.maxDepth) levels deep") }
        var anchor: String?
        while let c = at(pos), c == "&" || c == "!" {
            let name = readPropertyName()
            if c == "&" {
                guard !name.isEmpty else { throw fail("anchor without a name") }
                anchor = name
            }
            if atLineEnd() {
                try finishLine()
                var value: YAMLValue = .null
                if let indent = try peekContent() {
                    if indent > parentIndent {
                        value = try nodeAtIndent(indent, parentIndent: parentIndent)
                    } else if indent == parentIndent && isDash(pos + indent) && !blockCollections {
                        pos += indent
                        value = try blockSequence(indent: indent)
                    }
                }
                if let anchor { anchors[anchor] = value }
                return value
            }
        }
        let value: YAMLValue
        let c = at(pos)
        if blockCollections && isDash(pos) {
            value = try blockSequence(indent: column(pos))
        } else if blockCollections && mappingKeyAhead() {
            value = try blockMapping(indent: column(pos))
        } else if c == "*" {
            let name = readPropertyName()
            guard let v = anchors[name] else { throw fail("unknown alias '*\(name)'") }
            value = v
        } else if c == "[" || c == "{" {
            value = try flowCollection()
        } else if c == "\"" {
            value = .scalar(try doubleQuoted())
        } else if c == "'" {
            value = .scalar(try singleQuoted())
        } else if c == "|" || c == ">" {
            value = try blockScalar(parentIndent: parentIndent)
        } else if c == "?" && isSeparator(pos + 1) {
            throw fail("complex mapping keys ('? ') are not supported")
        } else if !blockCollections && isDash(pos) {
            throw fail("a block sequence cannot start on the same line as its key")
        } else {
            value = try plainScalar(parentIndent: parentIndent)
        }
        if let anchor { anchors[anchor] = value }
        return value
    }

    private mutating func readPropertyName() -> String {
        pos += 1
        let start = pos
        while pos < n && !isSeparator(pos) && !Self.isFlowIndicator(s[pos]) { pos += 1 }
        let name = String(String.UnicodeScalarView(s[start..<pos]))
        skipInlineBlanks()
        return name
    }

    /// Whether the current line holds `key:` at pos (quoted or plain key).
    private func mappingKeyAhead() -> Bool {
        var i = pos
        guard let c = at(i) else { return false }
        if c == "\"" || c == "'" {
            i += 1
            while i < n && s[i] != "\n" {
                if c == "\"" && s[i] == "\\" { i += 2; continue }
                if s[i] == c {
                    if c == "'" && at(i + 1) == "'" { i += 2; continue }
                    break
                }
                i += 1
            }
            guard i < n && s[i] == c else { return false }
            i += 1
            while Self.isBlank(at(i)) { i += 1 }
            return at(i) == ":" && isSeparator(i + 1)
        }
        if c == "[" || c == "{" || c == "#" || c == "&" || c == "*" || c == "!" || c == "|" || c == ">" { return false }
        while i < n && s[i] != "\n" {
            if s[i] == ":" && isSeparator(i + 1) { return true }
            if s[i] == "#" && i > pos && Self.isBlank(s[i - 1]) { return false }
            i += 1
        }
        return false
    }

    private mutating func blockSequence(indent: Int) throws(YAMLError) -> YAMLValue {
        var items: [YAMLValue] = []
        var first = true
        while true {
            if !first {
                guard let ind = try peekContent(), ind >= indent else { break }
                guard ind == indent else { throw fail("bad indentation of a sequence entry", at: pos + ind) }
                guard isDash(pos + ind) else { break }
                pos += ind
            }
            first = false
            pos += 1   // '-'
            items.append(try blockValue(parentIndent: indent, indentlessSequence: false, afterDash: true))
            try ensureLineStart()
        }
        return .sequence(items)
    }

    private mutating func blockMapping(indent: Int) throws(YAMLError) -> YAMLValue {
        var pairs: [(key: String, value: YAMLValue)] = []
        var keys = Set<String>()   // duplicate check in O(1): 80k keys took 11 s with a scan
        var first = true
        while true {
            if !first {
                guard let ind = try peekContent(), ind >= indent else { break }
                guard ind == indent else { throw fail("bad indentation of a mapping entry", at: pos + ind) }
                pos += ind
                if isDash(pos) { throw fail("expected a 'key:' but found a list entry") }
            }
            first = false
            let keyPos = pos
            let key = try mappingKey()
            if !keys.insert(key).inserted { throw fail("duplicate key '\(key)'", at: keyPos) }
            let value = try blockValue(parentIndent: indent, indentlessSequence: true, afterDash: false)
            pairs.append((key: key, value: value))
            try ensureLineStart()
        }
        return .mapping(pairs)
    }

    /// Reads `key:` and leaves pos after the colon.
    private mutating func mappingKey() throws(YAMLError) -> String {
        let key: String
        if at(pos) == "\"" {
            key = try doubleQuoted()
        } else if at(pos) == "'" {
            key = try singleQuoted()
        } else {
            let start = pos
            while pos < n && s[pos] != "\n" && !(s[pos] == ":" && isSeparator(pos + 1)) { pos += 1 }
            guard at(pos) == ":" else { throw fail("expected ':' after a mapping key", at: start) }
            var end = pos
            while end > start && Self.isBlank(s[end - 1]) { end -= 1 }
            key = String(String.UnicodeScalarView(s[start..<end]))
        }
        skipInlineBlanks()
        guard at(pos) == ":" else { throw fail("expected ':' after a mapping key") }
        pos += 1
        return key
    }

    // MARK: scalars

    private static func resolvePlain(_ text: String) -> YAMLValue {
        switch text {
        case "", "~", "null", "Null", "NULL": return .null
        default: return .scalar(text)
        }
    }

    /// One line of a plain scalar in block context; pos ends after its last non-blank character.
    private mutating func plainLine() throws(YAMLError) -> String {
        let start = pos
        var end = pos
        while pos < n && s[pos] != "\n" {
            let c = s[pos]
            if c == "#" && pos > start && Self.isBlank(s[pos - 1]) { break }
            if c == ":" && isSeparator(pos + 1) {
                throw fail("mapping values are not allowed here (quote the value if it contains ': ')")
            }
            pos += 1
            if !Self.isBlank(c) { end = pos }
        }
        pos = end
        return String(String.UnicodeScalarView(s[start..<end]))
    }

    private mutating func plainScalar(parentIndent: Int) throws(YAMLError) -> YAMLValue {
        if let c = at(pos), c == "," || c == "]" || c == "}" || c == "@" || c == "`" || c == "%" {
            throw fail("a plain value cannot start with '\(String(c))' (quote it)")
        }
        var text = try plainLine()
        while true {
            let save = pos
            skipInlineBlanks()
            guard pos < n, s[pos] == "\n" else { pos = save; break }   // comment or end of input
            var p = pos + 1
            var emptyLines = 0
            var continuation: Int?
            while p < n {
                var k = 0
                while p + k < n && s[p + k] == " " { k += 1 }
                var j = p + k
                while j < n && Self.isBlank(s[j]) { j += 1 }
                if j >= n { break }
                if s[j] == "\n" {
                    emptyLines += 1
                    p = j + 1
                    continue
                }
                if k > parentIndent && s[j] != "#" && !isDocumentMarker(p) { continuation = j }
                break
            }
            guard let next = continuation else { pos = save; break }
            pos = next
            let line = try plainLine()
            text += emptyLines > 0 ? String(repeating: "\n", count: emptyLines) : " "
            text += line
        }
        return Self.resolvePlain(text)
    }

    /// Folds a line break inside a quoted scalar: pos at the '\n'. Trailing blanks were trimmed by
    /// the caller; returns " " or one '\n' per empty line.
    private mutating func foldQuotedBreak() -> String {
        var empty = 0
        pos += 1
        while true {
            while pos < n && Self.isBlank(s[pos]) { pos += 1 }
            if pos < n && s[pos] == "\n" {
                empty += 1
                pos += 1
                continue
            }
            break
        }
        return empty == 0 ? " " : String(repeating: "\n", count: empty)
    }

    private mutating func doubleQuoted() throws(YAMLError) -> String {
        let open = pos
        pos += 1
        var out = [Unicode.Scalar]()
        var kept = 0   // length of `out` without trailing literal blanks
        while true {
            guard pos < n else { throw fail("unterminated double-quoted string", at: open) }
            let c = s[pos]
            if c == "\"" {
                pos += 1
                return String(String.UnicodeScalarView(out))
            }
            if c == "\\" {
                pos += 1
                guard pos < n else { throw fail("unterminated double-quoted string", at: open) }
                let e = s[pos]
                pos += 1
                switch e {
                case "0": out.append("\u{0}")
                case "a": out.append("\u{7}")
                case "b": out.append("\u{8}")
                case "t", "\t": out.append("\t")
                case "n": out.append("\n")
                case "v": out.append("\u{B}")
                case "f": out.append("\u{C}")
                case "r": out.append("\r")
                case "e": out.append("\u{1B}")
                case " ": out.append(" ")
                case "\"": out.append("\"")
                case "/": out.append("/")
                case "\\": out.append("\\")
                case "N": out.append("\u{85}")
                case "_": out.append("\u{A0}")
                case "L": out.append("\u{2028}")
                case "P": out.append("\u{2029}")
                case "x", "u", "U":
                    let count = e == "x" ? 2 : (e == "u" ? 4 : 8)
                    guard pos + count <= n,
                          let v = UInt32(String(String.UnicodeScalarView(s[pos..<(pos + count)])), radix: 16),
                          let u = Unicode.Scalar(v) else {
                        throw fail("invalid \\\(String(e)) escape in a double-quoted string")
                    }
                    out.append(u)
                    pos += count
                case "\n":
                    while pos < n && Self.isBlank(s[pos]) { pos += 1 }
                default:
                    throw fail("invalid escape '\\\(String(e))' in a double-quoted string")
                }
                kept = out.count
                continue
            }
            if c == "\n" {
                out.removeLast(out.count - kept)
                out += foldQuotedBreak().unicodeScalars
                kept = out.count
                continue
            }
            out.append(c)
            pos += 1
            if !Self.isBlank(c) { kept = out.count }
        }
    }

    private mutating func singleQuoted() throws(YAMLError) -> String {
        let open = pos
        pos += 1
        var out = [Unicode.Scalar]()
        var kept = 0
        while true {
            guard pos < n else { throw fail("unterminated single-quoted string", at: open) }
            let c = s[pos]
            if c == "'" {
                if at(pos + 1) == "'" {
                    out.append("'")
                    pos += 2
                    kept = out.count
                    continue
                }
                pos += 1
                return String(String.UnicodeScalarView(out))
            }
            if c == "\n" {
                out.removeLast(out.count - kept)
                out += foldQuotedBreak().unicodeScalars
                kept = out.count
                continue
            }
            out.append(c)
            pos += 1
            if !Self.isBlank(c) { kept = out.count }
        }
    }

    /// `|` or `>` with optional chomping (`+`/`-`) and indentation (1-9) indicators.
    private mutating func blockScalar(parentIndent: Int) throws(YAMLError) -> YAMLValue {
        let folded = s[pos] == ">"
        pos += 1
        var chomp: Unicode.Scalar = " "
        var explicitIndent: Int?
        for _ in 0..<2 {
            if let c = at(pos), c == "+" || c == "-" {
                chomp = c
                pos += 1
            } else if let c = at(pos), let d = Int(String(c)), d >= 1 {
                explicitIndent = d
                pos += 1
            }
        }
        guard atLineEnd() else { throw fail("unexpected text after a block scalar indicator") }
        try finishLine()
        var contentIndent = explicitIndent.map { max(parentIndent, 0) + $0 }
        var lines: [String] = []
        while pos < n {
            let start = pos
            var k = 0
            while pos + k < n && s[pos + k] == " " { k += 1 }
            var eol = pos + k
            while eol < n && s[eol] != "\n" { eol += 1 }
            let blank = (pos + k..<eol).allSatisfy { Self.isBlank(s[$0]) }
            if blank {
                let ci = contentIndent ?? Int.max
                lines.append(k > ci ? String(String.UnicodeScalarView(s[(start + ci)..<eol])) : "")
                pos = min(eol + 1, n)
                continue
            }
            if isDocumentMarker(start) { break }
            if contentIndent == nil {
                if k <= parentIndent { break }
                contentIndent = k
            }
            guard let ci = contentIndent, k >= ci else { break }
            lines.append(String(String.UnicodeScalarView(s[(start + ci)..<eol])))
            pos = min(eol + 1, n)
        }
        // pos is at the start of the first line that is not part of the scalar.
        if pos < n && !atLineStart { pos = lineStart(pos) }
        var trailing = 0
        while let last = lines.last, last.allSatisfy({ $0 == " " || $0 == "\t" }) {
            trailing += 1
            lines.removeLast()
        }
        var body: String
        if folded {
            body = ""
            var pendingBreaks = 0
            var previousMoreIndented = false
            var firstLine = true
            for line in lines {
                if line.isEmpty {
                    pendingBreaks += 1
                    continue
                }
                let moreIndented = line.first == " " || line.first == "\t"
                if firstLine {
                    body += String(repeating: "\n", count: pendingBreaks)
                    firstLine = false
                } else if pendingBreaks == 0 {
                    body += (moreIndented || previousMoreIndented) ? "\n" : " "
                } else {
                    body += String(repeating: "\n", count: pendingBreaks + ((moreIndented || previousMoreIndented) ? 1 : 0))
                }
                body += line
                pendingBreaks = 0
                previousMoreIndented = moreIndented
            }
        } else {
            body = lines.joined(separator: "\n")
        }
        switch chomp {
        case "-": break
        case "+": body += lines.isEmpty ? String(repeating: "\n", count: trailing) : "\n" + String(repeating: "\n", count: trailing)
        default: if !lines.isEmpty { body += "\n" }
        }
        return .scalar(body)
    }

    // MARK: flow collections (and JSON)

    private mutating func skipFlowSpace() {
        while pos < n {
            let c = s[pos]
            if c == " " || c == "\t" || c == "\n" {
                pos += 1
            } else if c == "#" && (pos == 0 || Self.isBlank(s[pos - 1]) || s[pos - 1] == "\n") {
                while pos < n && s[pos] != "\n" { pos += 1 }
            } else {
                break
            }
        }
    }

    private mutating func flowCollection() throws(YAMLError) -> YAMLValue {
        let open = pos
        let isSequence = s[pos] == "["
        let close: Unicode.Scalar = isSequence ? "]" : "}"
        pos += 1
        var items: [YAMLValue] = []
        var pairs: [(key: String, value: YAMLValue)] = []
        var keys = Set<String>()   // duplicate check in O(1): 80k keys took 11 s with a scan
        while true {
            skipFlowSpace()
            guard pos < n else { throw fail("unterminated flow collection", at: open) }
            if s[pos] == close {
                pos += 1
                break
            }
            if isSequence {
                items.append(try flowNode())
            } else {
                let keyPos = pos
                let keyNode = try flowNode()
                let key: String
                switch keyNode {
                case .null: key = ""
                case .scalar(let k): key = k
                default: throw fail("mapping keys must be strings", at: keyPos)
                }
                skipFlowSpace()
                var value: YAMLValue = .null
                if at(pos) == ":" {
                    pos += 1
                    skipFlowSpace()
                    if let c = at(pos), c != "," && c != "}" { value = try flowNode() }
                }
                if !keys.insert(key).inserted { throw fail("duplicate key '\(key)'", at: keyPos) }
                pairs.append((key: key, value: value))
            }
            skipFlowSpace()
            if at(pos) == "," {
                pos += 1
                continue
            }
            guard pos < n else { throw fail("unterminated flow collection", at: open) }
            guard at(pos) == close else {
                throw fail("expected ',' or '\(String(close))' in a flow collection")
            }
        }
        return isSequence ? .sequence(items) : .mapping(pairs)
    }

    private mutating func flowNode() throws(YAMLError) -> YAMLValue {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maxDepth else { throw fail("nested more than \(Self.maxDepth) levels deep") }
        var anchor: String?
        while let c = at(pos), c == "&" || c == "!" {
            let name = readPropertyName()
            if c == "&" { anchor = name }
            skipFlowSpace()
        }
        let value: YAMLValue
        switch at(pos) {
        case "[", "{": value = try flowCollection()
        case "\"": value = .scalar(try doubleQuoted())
        case "'": value = .scalar(try singleQuoted())
        case "*":
            let name = readPropertyName()
            guard let v = anchors[name] else { throw fail("unknown alias '*\(name)'") }
            value = v
        default:
            let start = pos
            var end = pos
            while pos < n {
                let c = s[pos]
                if c == "\n" || Self.isFlowIndicator(c) { break }
                if c == ":" && (isSeparator(pos + 1) || Self.isFlowIndicator(at(pos + 1))) { break }
                if c == "#" && pos > start && Self.isBlank(s[pos - 1]) { break }
                pos += 1
                if !Self.isBlank(c) { end = pos }
            }
            guard end > start else { throw fail("unexpected '\(at(pos).map { String($0) } ?? "end of input")' in a flow collection") }
            pos = end
            value = Self.resolvePlain(String(String.UnicodeScalarView(s[start..<end])))
        }
        if let anchor { anchors[anchor] = value }
        return value
    }
}
