import OCIRegistry
import YAML

/// The promotion file:
///
/// ```yaml
/// source:       {registry: HOST[:PORT], project: dev}      # optional defaults
/// destination:  {registry: HOST[:PORT], project: prod}
/// images:
///   - source: shop/api:1.4              # PROJECT/NAME[:TAG|@DIGEST], or a full reference
///     destination: shop/api             # optional: repository or reference
///     tags: [1.4, stable]               # optional: every destination tag for the one digest
///     digest: sha256:…                  # optional: refuse if the source tag moved
///     platform: linux/amd64             # optional: one instance of a multi-arch image
///   - source: shop/web                  # tag selection: one of
///     tagRegex: '1\.4\.[0-9]+'          #   whole-tag regular expression
///     semver: '>=1.4 <2'                #   semver range
///     sourceTags: [1.4.0, 1.4.1]        #   explicit list
/// ```
///
/// A `project` default names the first path component of a name that has none (`api` →
/// `dev/api`); without a `destination`, the image keeps its name under the destination project.
/// Unknown and duplicate keys are errors with their line: a typo must never widen or narrow a release.
enum PromotionFileParser {
    struct SideDefaults {
        var registry: String?
        var project: String?
    }

    static func parse(_ text: String) throws(ReleaseFileError) -> [ReleaseEntry] {
        let documents: [YAMLNode]
        do {
            documents = try YAMLDocuments.parse(text)
        } catch {
            throw ReleaseFileError(line: error.line, "not valid YAML: \(error.message)")
        }
        guard documents.count == 1, let root = documents.first, !root.isNull else {
            throw ReleaseFileError(line: documents.count > 1 ? documents[1].line : 0,
                                   documents.count > 1 ? "one YAML document per file" : "the file is empty")
        }
        let top = try mapping(root, "the promotion file", allowed: ["source", "destination", "images"])
        let sourceDefaults = try defaults(top["source"], side: "source")
        let destinationDefaults = try defaults(top["destination"], side: "destination")
        guard let imagesNode = top["images"] else { throw ReleaseFileError(line: root.line, "missing images: (the list of images to promote)") }
        guard let items = imagesNode.sequence else {
            throw ReleaseFileError(line: imagesNode.line, "images must be a list, not \(imagesNode.kindName)")
        }
        guard !items.isEmpty else { throw ReleaseFileError(line: imagesNode.line, "images is empty") }
        return try items.map { node throws(ReleaseFileError) in
            try entry(node, source: sourceDefaults, destination: destinationDefaults)
        }
    }

    /// A mapping's pairs by key, refusing non-string, unknown and duplicate keys.
    struct Mapping {
        var node: YAMLNode
        var values: [String: YAMLNode]
        subscript(key: String) -> YAMLNode? { values[key] }
    }

    static func mapping(_ node: YAMLNode, _ what: String, allowed: [String]) throws(ReleaseFileError) -> Mapping {
        guard let pairs = node.mapping else {
            throw ReleaseFileError(line: node.line, "\(what) must be a mapping, not \(node.kindName)")
        }
        var values: [String: YAMLNode] = [:]
        for pair in pairs {
            guard let key = pair.key.scalar else {
                throw ReleaseFileError(line: pair.key.line, "\(what): keys must be strings, not \(pair.key.kindName)")
            }
            guard allowed.contains(key) else {
                throw ReleaseFileError(line: pair.key.line, "\(what): unknown key \(key.debugDescription) (known: \(allowed.joined(separator: ", ")))")
            }
            if values[key] != nil {
                throw ReleaseFileError(line: pair.key.line, "\(what): duplicate key \(key.debugDescription)")
            }
            values[key] = pair.value
        }
        return Mapping(node: node, values: values)
    }

    static func string(_ node: YAMLNode, _ what: String) throws(ReleaseFileError) -> String {
        guard let s = node.scalar, !node.isNull else {
            throw ReleaseFileError(line: node.line, "\(what) must be a string, not \(node.kindName)")
        }
        guard !s.isEmpty else { throw ReleaseFileError(line: node.line, "\(what) is empty") }
        return s
    }

    static func strings(_ node: YAMLNode, _ what: String) throws(ReleaseFileError) -> [String] {
        if node.scalar != nil, !node.isNull { return [try string(node, what)] }   // `tags: v1` means [v1]
        guard let items = node.sequence else {
            throw ReleaseFileError(line: node.line, "\(what) must be a list of strings, not \(node.kindName)")
        }
        guard !items.isEmpty else { throw ReleaseFileError(line: node.line, "\(what) is empty") }
        var seen = Set<String>()
        return try items.map { item throws(ReleaseFileError) in
            let s = try string(item, "an item of \(what)")
            guard seen.insert(s).inserted else { throw ReleaseFileError(line: item.line, "\(what) lists \(s) twice") }
            return s
        }
    }

    static func defaults(_ node: YAMLNode?, side: String) throws(ReleaseFileError) -> SideDefaults {
        guard let node else { return SideDefaults() }
        let m = try mapping(node, "\(side) defaults", allowed: ["registry", "project"])
        var d = SideDefaults()
        if let r = m["registry"] {
            let host = try string(r, "\(side).registry")
            guard !host.contains("/"), (try? ImageReference.parse("\(host)/x/y"))?.registry == host.lowercased() else {
                throw ReleaseFileError(line: r.line, "\(side).registry must be HOST[:PORT], not \(host.debugDescription)")
            }
            d.registry = host.lowercased()
        }
        if let p = m["project"] {
            let project = try string(p, "\(side).project")
            guard (try? ImageReference.parse("\(project)/x"))?.repository == "\(project)/x", !project.contains("/") else {
                throw ReleaseFileError(line: p.line, "\(side).project must be one lower-case path component, not \(project.debugDescription)")
            }
            d.project = project
        }
        return d
    }

    static func reference(_ text: String, line: Int, what: String, defaults: SideDefaults) throws(ReleaseFileError) -> ImageReference {
        var ref: ImageReference
        do {
            ref = try ImageReference.parse(text)
        } catch {
            throw ReleaseFileError(line: line, "\(what): \(error)")
        }
        if ref.registry == nil {
            ref.registry = defaults.registry
            if let project = defaults.project, !ref.repository.contains("/") { ref.repository = "\(project)/\(ref.repository)" }
        }
        return ref
    }

    static let entryKeys = ["source", "destination", "tags", "sourceTags", "tagRegex", "semver", "platform", "digest"]

    static func entry(_ node: YAMLNode, source: SideDefaults, destination: SideDefaults) throws(ReleaseFileError) -> ReleaseEntry {
        let m = try mapping(node, "image entry", allowed: entryKeys)
        guard let sourceNode = m["source"] else { throw ReleaseFileError(line: node.line, "image entry has no source") }
        let src = try reference(try string(sourceNode, "source"), line: sourceNode.line, what: "source", defaults: source)

        var selection: TagSelection?
        var selectors: [String] = []
        if let n = m["sourceTags"] {
            let tags = try strings(n, "sourceTags")
            for t in tags { try checkTag(t, line: n.line, what: "sourceTags") }
            selection = .list(tags)
            selectors.append("sourceTags")
        }
        if let n = m["tagRegex"] {
            let pattern = try string(n, "tagRegex")
            _ = try TagSelection.compile(pattern, line: n.line)
            selection = .regex(pattern)
            selectors.append("tagRegex")
        }
        if let n = m["semver"] {
            let text = try string(n, "semver")
            guard let range = SemVerRange(text) else {
                throw ReleaseFileError(line: n.line, "semver \(text.debugDescription) is not a version range (e.g. '>=1.4 <2', '~1.4', '^1.4.2', '1.4.x')")
            }
            selection = .semver(range)
            selectors.append("semver")
        }
        if selectors.count > 1 {
            throw ReleaseFileError(line: node.line, "give one of sourceTags, tagRegex or semver, not \(selectors.joined(separator: " and "))")
        }
        if selection != nil, src.tag != nil || src.digest != nil {
            throw ReleaseFileError(line: sourceNode.line, "source \(src) names a tag or digest; with \(selectors[0]) give only the repository")
        }

        var dst: ImageReference
        if let d = m["destination"] {
            dst = try reference(try string(d, "destination"), line: d.line, what: "destination", defaults: destination)
            if dst.digest != nil {
                throw ReleaseFileError(line: d.line, "destination \(dst) names a digest; give a repository or a tag")
            }
        } else {
            // Same name, under the destination project when one is set.
            let last = src.repository.split(separator: "/").last.map(String.init) ?? src.repository
            dst = ImageReference(registry: destination.registry,
                                 repository: destination.project.map { "\($0)/\(last)" } ?? src.repository)
        }

        var tags: [String] = []
        if let t = m["tags"] {
            if selection != nil {
                throw ReleaseFileError(line: t.line, "tags cannot be combined with \(selectors[0]): each selected tag keeps its name")
            }
            if dst.tag != nil {
                throw ReleaseFileError(line: t.line, "give the destination tag either in destination or in tags, not both")
            }
            tags = try strings(t, "tags")
            for tag in tags { try checkTag(tag, line: t.line, what: "tags") }
        } else if selection == nil, let tag = dst.tag ?? src.tag {
            tags = [tag]
        }
        if selection != nil, dst.tag != nil {
            throw ReleaseFileError(line: m["destination"]?.line ?? node.line, "destination names a tag; with \(selectors[0]) each selected tag keeps its name")
        }
        dst.tag = nil

        var platform: Platform?
        if let p = m["platform"] {
            do {
                platform = try Platform.parse(try string(p, "platform"))
            } catch let e as ReleaseFileError {
                throw e
            } catch {
                throw ReleaseFileError(line: p.line, "\(error)")
            }
        }

        var expected: String?
        if let e = m["digest"] {
            let digest = try string(e, "digest")
            guard ImageReference.isValidDigest(digest), digest.hasPrefix("sha256:") else {
                throw ReleaseFileError(line: e.line, "digest \(digest.debugDescription) is not a sha256:<64 hex> digest")
            }
            if selection != nil { throw ReleaseFileError(line: e.line, "digest cannot be combined with \(selectors[0])") }
            if let pinned = src.digest, pinned != digest {
                throw ReleaseFileError(line: e.line, "digest \(digest) contradicts the source's own \(pinned)")
            }
            expected = digest
        }
        return ReleaseEntry(line: node.line, source: src, destination: dst, tags: tags, selection: selection,
                            platform: platform, expectedDigest: expected)
    }

    /// distribution's tag grammar: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
    static func checkTag(_ tag: String, line: Int, what: String) throws(ReleaseFileError) {
        let u = Array(tag.utf8)
        func word(_ c: UInt8) -> Bool { (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F }
        guard (1...128).contains(u.count), word(u[0]), u.allSatisfy({ word($0) || $0 == 0x2E || $0 == 0x2D }) else {
            throw ReleaseFileError(line: line, "\(what): \(tag.debugDescription) is not a valid tag")
        }
    }
}
