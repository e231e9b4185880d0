/// Which tags of a source repository an entry promotes.
public enum TagSelection: Sendable, Equatable {
    /// Exactly these tags (each must exist).
    case list([String])
    /// Tags the regular expression matches as a whole (`^…$` implied).
    case regex(String)
    /// Tags that are semantic versions (a leading `v` allowed) inside the range; highest last.
    case semver(SemVerRange)

    /// The tags to promote, in a deterministic order.
    public func select(from tags: [String], line: Int) throws(ReleaseFileError) -> [String] {
        switch self {
        case .list(let wanted):
            let have = Set(tags)
            if let missing = wanted.first(where: { !have.contains($0) }) {
                throw ReleaseFileError(line: line, "source tag \(missing) does not exist")
            }
            return wanted
        case .regex(let pattern):
            let regex = try Self.compile(pattern, line: line)
            return tags.filter { (try? regex.wholeMatch(in: $0)) != nil }.sorted()
        case .semver(let range):
            var versioned: [(tag: String, version: SemVer)] = []
            for tag in tags {
                if let v = SemVer(tag), range.contains(v) { versioned.append((tag, v)) }
            }
            versioned.sort { (a: (tag: String, version: SemVer), b: (tag: String, version: SemVer)) -> Bool in
                a.version == b.version ? a.tag < b.tag : a.version < b.version
            }
            return versioned.map { $0.tag }
        }
    }

    static func compile(_ pattern: String, line: Int) throws(ReleaseFileError) -> Regex<AnyRegexOutput> {
        do {
            return try Regex(pattern)
        } catch {
            throw ReleaseFileError(line: line, "tagRegex \(pattern.debugDescription) is not a valid regular expression")
        }
    }
}

/// A semantic version (2.0.0), leniently read from tags: `v` prefix and missing minor/patch allowed.
public struct SemVer: Sendable, Comparable, CustomStringConvertible {
    public var major: Int
    public var minor: Int
    public var patch: Int
    public var prerelease: [String]

    public init(major: Int, minor: Int, patch: Int, prerelease: [String] = []) {
        self.major = major
        self.minor = minor
        self.patch = patch
        self.prerelease = prerelease
    }

    /// Nil when `text` is not a version (most tags are not: `latest`, `sha256-…`).
    public init?(_ text: String) {
        var s = Substring(text)
        if s.hasPrefix("v") || s.hasPrefix("V") { s = s.dropFirst() }
        if let plus = s.firstIndex(of: "+") { s = s[..<plus] }   // build metadata: ignored
        var pre: [String] = []
        if let dash = s.firstIndex(of: "-") {
            let p = s[s.index(after: dash)...]
            pre = p.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard !p.isEmpty, pre.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" } && $0.unicodeScalars.allSatisfy(\.isASCII) })
            else { return nil }
            s = s[..<dash]
        }
        let nums = s.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...3).contains(nums.count) else { return nil }
        var values: [Int] = []
        for n in nums {
            guard !n.isEmpty, n.count <= 9, n.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let v = Int(n),
                  n.count == 1 || n.first != "0" else { return nil }   // 2.0.0 forbids leading zeros
            values.append(v)
        }
        while values.count < 3 { values.append(0) }
        self.init(major: values[0], minor: values[1], patch: values[2], prerelease: pre)
    }

    public var isPrerelease: Bool { !prerelease.isEmpty }

    public static func < (a: SemVer, b: SemVer) -> Bool {
        if a.major != b.major { return a.major < b.major }
        if a.minor != b.minor { return a.minor < b.minor }
        if a.patch != b.patch { return a.patch < b.patch }
        // A release is higher than its prereleases; prerelease identifiers compare field by field.
        if a.prerelease.isEmpty || b.prerelease.isEmpty { return !a.prerelease.isEmpty && b.prerelease.isEmpty }
        for (x, y) in zip(a.prerelease, b.prerelease) where x != y {
            switch (Int(x), Int(y)) {
            case let (i?, j?): return i < j
            case (_?, nil): return true
            case (nil, _?): return false
            case (nil, nil): return x < y
            }
        }
        return a.prerelease.count < b.prerelease.count
    }

    public static func == (a: SemVer, b: SemVer) -> Bool {
        a.major == b.major && a.minor == b.minor && a.patch == b.patch && a.prerelease == b.prerelease
    }

    public var description: String {
        "\(major).\(minor).\(patch)" + (prerelease.isEmpty ? "" : "-" + prerelease.joined(separator: "."))
    }
}

/// A version range as npm and Masterminds/semver write them: comparators (`>=1.2 <2`, `=1.4.0`,
/// `~1.2`, `^1.2.3`, `1.2.x`, `*`) joined by spaces (and) or `||` (or). Prereleases match only a
/// comparator that names a prerelease of the same major.minor.patch (npm's rule).
public struct SemVerRange: Sendable, Equatable {
    struct Comparator: Sendable, Equatable {
        enum Op: String, Sendable { case eq = "=", lt = "<", le = "<=", gt = ">", ge = ">=" }
        var op: Op
        var version: SemVer
        func matches(_ v: SemVer) -> Bool {
            switch op {
            case .eq: v == version
            case .lt: v < version
            case .le: v <= version
            case .gt: v > version
            case .ge: v >= version
            }
        }
    }

    public var text: String
    var alternatives: [[Comparator]]

    public init?(_ text: String) {
        self.text = text
        var alternatives: [[Comparator]] = []
        let ors = text.components(separatedByString: "||")
        for alternative in ors {
            var comparators: [Comparator] = []
            let words = Self.tokens(alternative)
            if words.isEmpty { return nil }
            var i = 0
            while i < words.count {
                // "1.2 - 1.4" hyphen ranges.
                if i + 2 < words.count, words[i + 1] == "-" {
                    guard let lo = Self.partial(words[i]), let hi = Self.partial(words[i + 2]) else { return nil }
                    comparators.append(Comparator(op: .ge, version: lo.floor))
                    comparators += hi.upperBoundInclusive
                    i += 3
                    continue
                }
                guard let c = Self.comparators(words[i]) else { return nil }
                comparators += c
                i += 1
            }
            alternatives.append(comparators)
        }
        self.alternatives = alternatives
    }

    public static func == (a: SemVerRange, b: SemVerRange) -> Bool { a.text == b.text }

    public func contains(_ v: SemVer) -> Bool {
        alternatives.contains { comparators in
            guard comparators.allSatisfy({ $0.matches(v) }) else { return false }
            if !v.isPrerelease { return true }
            return comparators.contains { c in
                c.version.isPrerelease && c.version.major == v.major && c.version.minor == v.minor && c.version.patch == v.patch
            }
        }
    }

    private static func tokens(_ s: Substring) -> [String] {
        // Operators may be separated from their version by spaces (">= 1.2"): glue them back.
        var out: [String] = []
        for w in s.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init) {
            if let last = out.last, ["=", "<", "<=", ">", ">=", "~", "^", "~>"].contains(last) {
                out[out.count - 1] = last + w
            } else {
                out.append(w)
            }
        }
        return out
    }

    /// A version with possibly missing or wildcard parts: `1`, `1.2`, `1.2.x`, `*`.
    struct Partial {
        var major: Int?
        var minor: Int?
        var patch: Int?
        var prerelease: [String]
        var floor: SemVer { SemVer(major: major ?? 0, minor: minor ?? 0, patch: patch ?? 0, prerelease: prerelease) }
        /// `<=` this partial: `<=1.2` means `<1.3.0-0`.
        var upperBoundInclusive: [Comparator] {
            guard let major else { return [] }
            guard let minor else { return [Comparator(op: .lt, version: SemVer(major: major + 1, minor: 0, patch: 0, prerelease: ["0"]))] }
            guard patch != nil else { return [Comparator(op: .lt, version: SemVer(major: major, minor: minor + 1, patch: 0, prerelease: ["0"]))] }
            return [Comparator(op: .le, version: floor)]
        }
    }

    static func partial(_ text: String) -> Partial? {
        var s = Substring(text)
        if s.hasPrefix("v") || s.hasPrefix("V") { s = s.dropFirst() }
        if let plus = s.firstIndex(of: "+") { s = s[..<plus] }
        var pre: [String] = []
        if let dash = s.firstIndex(of: "-") {
            let full = SemVer(String(s))
            guard let full else { return nil }
            pre = full.prerelease
            s = s[..<dash]
        }
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...3).contains(parts.count) else { return nil }
        var values: [Int?] = []
        var wild = false
        for p in parts {
            if p == "x" || p == "X" || p == "*" { wild = true; values.append(nil); continue }
            guard !wild, !p.isEmpty, p.count <= 9, p.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let v = Int(p) else { return nil }
            values.append(v)
        }
        while values.count < 3 { values.append(nil) }
        if !pre.isEmpty, values.contains(where: { $0 == nil }) { return nil }
        return Partial(major: values[0], minor: values[1], patch: values[2], prerelease: pre)
    }

    static func comparators(_ word: String) -> [Comparator]? {
        var op = ""
        var rest = Substring(word)
        for candidate in [">=", "<=", "~>", ">", "<", "=", "~", "^"] where rest.hasPrefix(candidate) {
            op = candidate
            rest = rest.dropFirst(candidate.count)
            break
        }
        guard let p = partial(String(rest)) else { return nil }
        let floor = p.floor
        switch op {
        case "", "=":
            guard p.major != nil else { return [] }   // "*": anything
            if p.patch != nil { return [Comparator(op: .eq, version: floor)] }
            return [Comparator(op: .ge, version: floor)] + p.upperBoundInclusive
        case ">=": return [Comparator(op: .ge, version: floor)]
        case "<": return [Comparator(op: .lt, version: floor)]
        case "<=": return p.upperBoundInclusive.isEmpty ? [] : p.upperBoundInclusive
        case ">":
            guard let major = p.major else { return [Comparator(op: .lt, version: SemVer(major: 0, minor: 0, patch: 0))] }
            if let minor = p.minor {
                if p.patch != nil { return [Comparator(op: .gt, version: floor)] }
                return [Comparator(op: .ge, version: SemVer(major: major, minor: minor + 1, patch: 0))]
            }
            return [Comparator(op: .ge, version: SemVer(major: major + 1, minor: 0, patch: 0))]
        case "~", "~>":
            guard let major = p.major else { return [] }
            let upper = p.minor == nil ? SemVer(major: major + 1, minor: 0, patch: 0, prerelease: ["0"])
                : SemVer(major: major, minor: p.minor! + 1, patch: 0, prerelease: ["0"])
            return [Comparator(op: .ge, version: floor), Comparator(op: .lt, version: upper)]
        case "^":
            guard let major = p.major else { return [] }
            let upper: SemVer
            if major > 0 || p.minor == nil {
                upper = SemVer(major: major + 1, minor: 0, patch: 0, prerelease: ["0"])
            } else if p.minor! > 0 || p.patch == nil {
                upper = SemVer(major: 0, minor: p.minor! + 1, patch: 0, prerelease: ["0"])
            } else {
                upper = SemVer(major: 0, minor: 0, patch: p.patch! + 1, prerelease: ["0"])
            }
            return [Comparator(op: .ge, version: floor), Comparator(op: .lt, version: upper)]
        default:
            return nil
        }
    }
}

extension String {
    /// Splits on a multi-character separator (no Foundation needed).
    func components(separatedByString separator: String) -> [Substring] {
        var out: [Substring] = []
        var rest = self[...]
        while let r = rest.firstRange(of: separator) {
            out.append(rest[..<r.lowerBound])
            rest = rest[r.upperBound...]
        }
        out.append(rest)
        return out
    }
}
