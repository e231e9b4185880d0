/// RFC 8288 `Link` header values: `<URI>; rel="next"; title="x", <URI>; rel=related`. One parser for
/// every reader (tag and referrer pages, the OAuth server's token request page): a comma inside `<…>`
/// or inside a quoted parameter does not end a link, `rel` may list several relation types, and relation
/// types compare case-insensitively.
public enum LinkHeader {
    public struct Link: Sendable, Equatable {
        public init(target: String, relations: [String]) {
            self.target = target
            self.relations = relations
        }

        /// The URI between `<` and `>`, unresolved.
        public var target: String
        /// The relation types of the first `rel` parameter, lowercased (RFC 8288 §3.3: later ones are ignored).
        public var relations: [String]
    }

    /// Every well-formed link of `header`, in order; a malformed entry is skipped up to the next comma.
    public static func parse(_ header: String) -> [Link] {
        let c = Array(header.unicodeScalars)
        var i = 0
        var links: [Link] = []
        func skipBlanks() { while i < c.count, c[i] == " " || c[i] == "\t" { i += 1 } }
        /// Past the next comma outside quotes (the end of this entry).
        func skipEntry() {
            var quoted = false
            while i < c.count {
                if quoted && c[i] == "\\" { i += 2; continue }
                if c[i] == "\"" { quoted.toggle() } else if c[i] == "," && !quoted { break }
                i += 1
            }
        }
        func read(while keep: (Unicode.Scalar) -> Bool) -> String {
            var s = String.UnicodeScalarView()
            while i < c.count, keep(c[i]) { s.append(c[i]); i += 1 }
            return String(s)
        }
        while i < c.count {
            skipBlanks()
            if i < c.count, c[i] == "," { i += 1; continue }
            guard i < c.count else { break }
            guard c[i] == "<" else { skipEntry(); continue }
            i += 1
            let target = read { $0 != ">" }
            guard i < c.count else { break }   // no closing '>': nothing usable follows
            i += 1
            var relations: [String]?
            while true {
                skipBlanks()
                guard i < c.count, c[i] == ";" else { break }
                i += 1
                skipBlanks()
                let name = read { $0 != "=" && $0 != ";" && $0 != "," && $0 != " " && $0 != "\t" }.lowercased()
                skipBlanks()
                var value = ""
                if i < c.count, c[i] == "=" {
                    i += 1
                    skipBlanks()
                    if i < c.count, c[i] == "\"" {
                        i += 1
                        var s = String.UnicodeScalarView()
                        while i < c.count, c[i] != "\"" {
                            if c[i] == "\\", i + 1 < c.count { i += 1 }
                            s.append(c[i])
                            i += 1
                        }
                        guard i < c.count else { return links }   // unterminated quote: this link is malformed
                        i += 1
                        value = String(s)
                    } else {
                        value = read { $0 != ";" && $0 != "," && $0 != " " && $0 != "\t" }
                    }
                }
                if name == "rel" && relations == nil {
                    relations = value.lowercased().split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
                }
            }
            skipEntry()   // anything unexpected after the parameters
            links.append(Link(target: target, relations: relations ?? []))
        }
        return links
    }

    /// The target of the first link whose relation types include `rel`.
    public static func target(_ header: String?, rel: String) -> String? {
        guard let header else { return nil }
        let wanted = rel.lowercased()
        return parse(header).first { $0.relations.contains(wanted) }?.target
    }
}
