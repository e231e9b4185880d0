import OCIRegistry

/// `oc image mirror` mapping files: `SRC=DST` per line (full references), `#` comments, blank lines.
/// A destination without a tag takes the source's tag, as `oc image mirror` does.
enum MappingFile {
    static func looksLikeMapping(_ text: String) -> Bool {
        var sawMapping = false
        for raw in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            let line = raw.trimmingWhitespace()
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard isMappingLine(line) else { return false }
            sawMapping = true
        }
        return sawMapping
    }

    private static func isMappingLine(_ line: Substring) -> Bool {
        let parts = line.split(separator: "=", omittingEmptySubsequences: false)
        return parts.count == 2 && !parts[0].isEmpty && !parts[1].isEmpty
            && !line.contains(where: { $0 == " " || $0 == "\t" })
    }

    static func parse(_ text: String) throws(ReleaseFileError) -> [ReleaseEntry] {
        var entries: [ReleaseEntry] = []
        for (i, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let line = raw.trimmingWhitespace()
            if line.isEmpty || line.hasPrefix("#") { continue }
            let parts = line.split(separator: "=", omittingEmptySubsequences: false)
            guard parts.count == 2 else { throw ReleaseFileError(line: i + 1, "expected SRC=DST") }
            let source = try reference(parts[0], line: i + 1, what: "source")
            var destination = try reference(parts[1], line: i + 1, what: "destination")
            if destination.digest != nil {
                throw ReleaseFileError(line: i + 1, "the destination \(destination) names a digest; give a repository or a tag")
            }
            let tag = destination.tag ?? source.tag
            destination.tag = nil
            entries.append(ReleaseEntry(line: i + 1, source: source, destination: destination, tags: tag.map { [$0] } ?? []))
        }
        if entries.isEmpty { throw ReleaseFileError(line: 0, "the mapping file names no image") }
        return entries
    }

    private static func reference(_ text: Substring, line: Int, what: String) throws(ReleaseFileError) -> ImageReference {
        do {
            return try ImageReference.parse(String(text))
        } catch {
            throw ReleaseFileError(line: line, "\(what): \(error)")
        }
    }
}

extension Substring {
    func trimmingWhitespace() -> Substring {
        var s = self
        while let f = s.first, f == " " || f == "\t" || f == "\r" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" { s = s.dropLast() }
        return s
    }
}
