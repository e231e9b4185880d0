#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An image reference: `[registry/]repository[:tag][@digest]`.
///
/// Parsing follows distribution/reference (the grammar Docker, podman and skopeo share) but applies
/// *no* Docker Hub normalisation: `nginx` stays `nginx` with `registry == nil`, because on an
/// OpenShift side a host-less name means "this cluster's registry", not docker.io.
public struct ImageReference: Sendable, Hashable, CustomStringConvertible {
    /// `host[:port]` as written, host lower-cased; nil when the input named no registry host.
    public var registry: String?
    /// Repository path, e.g. `library/nginx` or `proj/app`.
    public var repository: String
    public var tag: String?
    /// `algorithm:encoded`, e.g. `sha256:<64 hex>`.
    public var digest: String?

    public init(registry: String? = nil, repository: String, tag: String? = nil, digest: String? = nil) {
        self.registry = registry
        self.repository = repository
        self.tag = tag
        self.digest = digest
    }

    /// distribution's NameTotalLengthMax: registry + "/" + repository.
    public static let maxNameLength = 255
    public static let maxTagLength = 128

    /// Host names that all mean Docker Hub.
    static let dockerHubAliases: Set<String> = ["docker.io", "index.docker.io", "registry-1.docker.io"]

    // MARK: Parsing

    public static func parse(_ text: String) throws -> ImageReference {
        func fail(_ reason: String) -> ReferenceError { ReferenceError(input: text, reason: reason) }

        var rest = Substring(text)
        if rest.hasPrefix("docker://") { rest = rest.dropFirst("docker://".count) }
        if rest.isEmpty { throw fail("empty reference") }

        // Character screening first, so later messages can talk about grammar only.
        for scalar in rest.unicodeScalars {
            switch scalar.value {
            case 0x20, 0x09: throw fail("contains whitespace")
            case 0..<0x20, 0x7F: throw fail("contains a control character")
            case 0x80...: throw fail("contains a non-ASCII character")
            default: continue
            }
        }
        // distribution refuses bare 64-hex names: they are indistinguishable from image IDs.
        if rest.utf8.count == 64, rest.utf8.allSatisfy(Self.isLowerHex) {
            throw fail("a 64-character hexadecimal string is an image ID, not a repository name")
        }

        // Digest: after the first '@' (neither names nor tags may contain '@').
        var digest: String?
        if let at = rest.firstIndex(of: "@") {
            let d = rest[rest.index(after: at)...]
            if d.isEmpty { throw fail("'@' must be followed by a digest") }
            if let problem = digestProblem(d) { throw fail(problem) }
            digest = String(d)
            rest = rest[..<at]
        }

        // Tag: a ':' after the last '/' (a ':' before it belongs to the registry port).
        var tag: String?
        if let colon = rest.lastIndex(of: ":"), rest[colon...].firstIndex(of: "/") == nil {
            let t = rest[rest.index(after: colon)...]
            if t.isEmpty { throw fail("':' must be followed by a tag") }
            if let problem = tagProblem(t) { throw fail(problem) }
            tag = String(t)
            rest = rest[..<colon]
        }
        if rest.isEmpty { throw fail("missing repository name") }

        // Registry: distribution's splitDockerDomain rule. The first component is a host when it
        // contains '.' or ':', is "localhost", contains upper case, or is a bracketed IPv6 literal.
        var registry: String?
        var repository = rest
        if let slash = rest.firstIndex(of: "/") {
            let first = rest[..<slash]
            if first.contains(".") || first.contains(":") || first == "localhost" || first.hasPrefix("[")
                || first.contains(where: { $0.isUppercase }) {
                if let problem = hostProblem(first) { throw fail(problem) }
                registry = first.lowercased()
                repository = rest[rest.index(after: slash)...]
            }
        }
        if let problem = repositoryProblem(repository) { throw fail(problem) }

        let nameLength = (registry.map { $0.utf8.count + 1 } ?? 0) + repository.utf8.count
        if nameLength > maxNameLength {
            throw fail("name is \(nameLength) characters long; the limit is \(maxNameLength)")
        }
        return ImageReference(registry: registry, repository: String(repository), tag: tag, digest: digest)
    }

    /// True for `algorithm:encoded` per the OCI digest grammar; registered algorithms (sha256,
    /// sha384, sha512) must have exactly their length of lower-case hex.
    public static func isValidDigest(_ text: String) -> Bool { digestProblem(Substring(text)) == nil }

    static func digestProblem(_ d: Substring) -> String? {
        guard let colon = d.firstIndex(of: ":") else { return "digest \(DiagnosticText.quote(d, limit: 80)) is not of the form algorithm:hex" }
        let algorithm = d[..<colon]
        let encoded = d[d.index(after: colon)...]
        // algorithm := component ([+._-] component)*, component := [a-z0-9]+
        var previousWasSeparator = true
        for c in algorithm.utf8 {
            let isComponent = (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39)
            let isSeparator = c == 0x2B || c == 0x2E || c == 0x5F || c == 0x2D
            if isComponent { previousWasSeparator = false; continue }
            if isSeparator && !previousWasSeparator { previousWasSeparator = true; continue }
            return "invalid digest algorithm \(DiagnosticText.quote(algorithm, limit: 40))"
        }
        if algorithm.isEmpty || previousWasSeparator { return "invalid digest algorithm \(DiagnosticText.quote(algorithm, limit: 40))" }
        let expectedHex: Int? = switch algorithm {
        case "sha256": 64
        case "sha384": 96
        case "sha512": 128
        default: nil
        }
        if let expectedHex {
            guard encoded.utf8.count == expectedHex, encoded.utf8.allSatisfy(isLowerHex) else {
                return "\(algorithm) digest must be \(expectedHex) lower-case hex characters"
            }
            return nil
        }
        // encoded := [a-zA-Z0-9=_-]+
        let ok = !encoded.isEmpty && encoded.utf8.allSatisfy {
            isAlnum($0) || $0 == 0x3D || $0 == 0x5F || $0 == 0x2D
        }
        return ok ? nil : "invalid digest value for algorithm \(DiagnosticText.quote(algorithm, limit: 40))"
    }

    /// tag := [\w][\w.-]{0,127}
    static func tagProblem(_ t: Substring) -> String? {
        if t.utf8.count > maxTagLength { return "tag is longer than \(maxTagLength) characters" }
        for (i, c) in t.utf8.enumerated() {
            let word = isAlnum(c) || c == 0x5F
            if !(word || (i > 0 && (c == 0x2E || c == 0x2D))) {
                return "invalid tag \(DiagnosticText.quote(t, limit: 80)) (allowed: letters, digits, '_', and '.' or '-' after the first character)"
            }
        }
        return nil
    }

    /// host[:port] where host is a DNS name / IPv4 address or a bracketed IPv6 literal.
    static func hostProblem(_ domain: Substring) -> String? {
        var host = domain
        var port: Substring?
        if domain.hasPrefix("[") {
            guard let close = domain.firstIndex(of: "]") else { return "unterminated IPv6 literal in registry \(DiagnosticText.quote(domain, limit: 80))" }
            let inner = String(domain[domain.index(after: domain.startIndex)..<close])
            var addr = in6_addr()
            if inner.isEmpty || !inner.utf8.allSatisfy({ isHex($0) || $0 == 0x3A }) || inet_pton(AF_INET6, inner, &addr) != 1 {
                return "invalid IPv6 address in registry \(DiagnosticText.quote(domain, limit: 80))"
            }
            let after = domain[domain.index(after: close)...]
            if !after.isEmpty {
                guard after.first == ":" else { return "unexpected text after IPv6 literal in registry \(DiagnosticText.quote(domain, limit: 80))" }
                port = after.dropFirst()
            }
        } else {
            if let colon = domain.firstIndex(of: ":") {
                host = domain[..<colon]
                port = domain[domain.index(after: colon)...]
            }
            if host.isEmpty { return "empty registry host in \(DiagnosticText.quote(domain, limit: 80))" }
            for label in host.split(separator: ".", omittingEmptySubsequences: false) {
                // label := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
                guard let f = label.utf8.first, let l = label.utf8.last, isAlnum(f), isAlnum(l),
                      label.utf8.allSatisfy({ isAlnum($0) || $0 == 0x2D }) else {
                    return "invalid registry host \(DiagnosticText.quote(host, limit: 80))"
                }
            }
        }
        if let port {
            guard !port.isEmpty, port.utf8.count <= 5, port.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                  let n = Int(port), n >= 1, n <= 65535 else {
                return "invalid port \(DiagnosticText.quote(port, limit: 20)) in registry \(DiagnosticText.quote(domain, limit: 80)) (must be 1-65535)"
            }
        }
        return nil
    }

    /// path := component ('/' component)*, component := [a-z0-9]+ ((\.|_|__|-+)[a-z0-9]+)*
    static func repositoryProblem(_ path: Substring) -> String? {
        if path.isEmpty { return "missing repository name" }
        if path.contains(where: { $0.isUppercase }) { return "repository name \(DiagnosticText.quote(path, limit: 80)) must be lower-case" }
        for component in path.split(separator: "/", omittingEmptySubsequences: false) {
            if component.isEmpty { return "empty path component in repository \(DiagnosticText.quote(path, limit: 80)) (leading, trailing or double '/')" }
            if !isPathComponent(component) {
                return "invalid repository path component \(DiagnosticText.quote(component, limit: 80)) (allowed: a-z, 0-9, separated by '.', '_', '__' or '-')"
            }
        }
        return nil
    }

    static func isPathComponent(_ c: Substring) -> Bool {
        let bytes = Array(c.utf8)
        var i = 0
        func alnumRun() -> Bool {
            let start = i
            while i < bytes.count, isLowerAlnum(bytes[i]) { i += 1 }
            return i > start
        }
        guard alnumRun() else { return false }
        while i < bytes.count {
            switch bytes[i] {
            case 0x2E: i += 1                                           // '.'
            case 0x5F: i += 1; if i < bytes.count, bytes[i] == 0x5F { i += 1 }  // '_' or '__'
            case 0x2D: while i < bytes.count, bytes[i] == 0x2D { i += 1 }       // '-'+
            default: return false
            }
            guard alnumRun() else { return false }
        }
        return true
    }

    static func isLowerHex(_ c: UInt8) -> Bool { (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) }
    static func isHex(_ c: UInt8) -> Bool { isLowerHex(c) || (c >= 0x41 && c <= 0x46) }
    static func isLowerAlnum(_ c: UInt8) -> Bool { (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x7A) }
    static func isAlnum(_ c: UInt8) -> Bool { isLowerAlnum(c) || (c >= 0x41 && c <= 0x5A) }

    // MARK: Normalisation and rendering

    /// Docker normalisation, only when asked: fills a missing registry and adds `library/` to
    /// single-component Docker Hub names (the Hub API has no top-level repositories).
    public func withDefaultRegistry(_ host: String = "docker.io") -> ImageReference {
        var r = self
        if r.registry == nil { r.registry = host.lowercased() }
        if let reg = r.registry, Self.dockerHubAliases.contains(reg), !r.repository.contains("/") {
            r.repository = "library/" + r.repository
        }
        return r
    }

    /// True when the registry is one of Docker Hub's names.
    public var isDockerHub: Bool { registry.map { Self.dockerHubAliases.contains($0) } ?? false }

    /// The host to send API requests to: Docker Hub's API lives on registry-1.docker.io.
    public var apiHost: String? {
        guard let registry else { return nil }
        return registry == "docker.io" || registry == "index.docker.io" ? "registry-1.docker.io" : registry
    }

    /// `[registry/]repository`.
    public var name: String { registry.map { "\($0)/\(repository)" } ?? repository }

    /// Canonical text: `[registry/]repository[:tag][@digest]`.
    public var description: String {
        var s = name
        if let tag { s += ":" + tag }
        if let digest { s += "@" + digest }
        return s
    }

    /// What to put after `/manifests/`: the digest when pinned, else the tag, else "latest".
    public var identifier: String { digest ?? tag ?? "latest" }
}

public struct ReferenceError: Error, Sendable, CustomStringConvertible {
    public var input: String
    public var reason: String

    public init(input: String, reason: String) {
        self.input = input
        self.reason = reason
    }

    public var description: String {
        "invalid image reference \(DiagnosticText.quote(input)): \(reason)"
    }
}
