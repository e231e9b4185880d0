import FoundationEssentials
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Registry credentials for plain (non-OpenShift) registries.
public struct RegistryCredential: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable {
    public var username: String?
    public var password: String?
    /// OAuth2 refresh token for the registry's token endpoint (docker's "identitytoken").
    public var identityToken: String?
    /// A bearer token sent as is to the registry itself, no token service asked (skopeo's
    /// --registry-token, containers/image `DockerBearerRegistryToken`).
    public var registryToken: String?

    public init(username: String? = nil, password: String? = nil, identityToken: String? = nil,
                registryToken: String? = nil) {
        self.username = username
        self.password = password
        self.identityToken = identityToken
        self.registryToken = registryToken
    }

    // Secrets never reach logs: description, debugDescription and Mirror (dump, print of
    // containing values) all redact.
    public var description: String {
        var parts = ["username: \(username ?? "nil")"]
        if password != nil { parts.append("password: <redacted>") }
        if identityToken != nil { parts.append("identityToken: <redacted>") }
        if registryToken != nil { parts.append("registryToken: <redacted>") }
        return "RegistryCredential(\(parts.joined(separator: ", ")))"
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror {
        Mirror(self, children: ["username": username as Any,
                                "password": password == nil ? "nil" : "<redacted>",
                                "identityToken": identityToken == nil ? "nil" : "<redacted>",
                                "registryToken": registryToken == nil ? "nil" : "<redacted>"])
    }
}

public struct AuthFileError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The file is missing, unreadable or malformed.
        case file
        /// A credential helper the file names failed (not found is not a failure: no credentials).
        case helper
    }

    /// The file (or `docker-credential-NAME` helper) concerned.
    public var path: String
    public var reason: String
    public var kind: Kind

    public init(path: String, reason: String, kind: Kind = .file) {
        self.path = path
        self.reason = reason
        self.kind = kind
    }

    public var description: String { "\(path): \(reason)" }
}

/// containers auth.json / docker config.json, possibly several layered files.
public struct AuthFile: Sendable {
    struct Entry: Sendable {
        var key: String          // as written in the file
        var host: String         // normalised: lower-cased, scheme stripped, Docker Hub aliases → docker.io
        var path: String?        // repository scope of containers-style keys ("host/ns/repo")
        var exact: Bool          // key needed no normalisation
        var value: AuthJSON
    }

    struct Source: Sendable {
        var path: String
        var entries: [Entry] = []
        var credHelpers: [(host: String, helper: String)] = []
        var credsStore: String?
    }

    var sources: [Source]
    var environment: [String: String]

    /// The files that were found and read, in lookup order.
    public var paths: [String] { sources.map(\.path) }

    /// Auth files are small; a bigger one is a mistake (or an attack), not something to buffer.
    public static let maxFileSize = 1 << 20

    /// Loads containers auth.json / docker config.json. `explicitPath` (from --src-authfile) is used
    /// alone. Otherwise, like containers/image, the first of REGISTRY_AUTH_FILE or
    /// $XDG_RUNTIME_DIR/containers/auth.json, then $XDG_CONFIG_HOME (~/.config)/containers/auth.json,
    /// then $DOCKER_CONFIG/config.json or ~/.docker/config.json, first match wins. Missing default
    /// files are fine; a missing/unreadable/invalid explicit file throws (path and reason, never content).
    public static func load(explicitPath: String?, environment: [String: String]) throws -> AuthFile {
        if let explicitPath {
            guard let bytes = try readFile(explicitPath, limit: maxFileSize) else {
                throw AuthFileError(path: explicitPath, reason: "file does not exist")
            }
            return AuthFile(sources: [try parse(bytes, path: explicitPath)], environment: environment)
        }
        var sources: [Source] = []
        for path in defaultPaths(environment) {
            if let bytes = try readFile(path, limit: maxFileSize) {
                sources.append(try parse(bytes, path: path))
            }
        }
        return AuthFile(sources: sources, environment: environment)
    }

    static func defaultPaths(_ env: [String: String]) -> [String] {
        func nonEmpty(_ k: String) -> String? { env[k].flatMap { $0.isEmpty ? nil : $0 } }
        var paths: [String] = []
        if let f = nonEmpty("REGISTRY_AUTH_FILE") {
            paths.append(f)
        } else if let run = nonEmpty("XDG_RUNTIME_DIR") {
            paths.append(run + "/containers/auth.json")
        }
        let home = nonEmpty("HOME")
        if let config = nonEmpty("XDG_CONFIG_HOME") ?? home.map({ $0 + "/.config" }) {
            paths.append(config + "/containers/auth.json")
        }
        if let docker = nonEmpty("DOCKER_CONFIG") {
            paths.append(docker + "/config.json")
        } else if let home {
            paths.append(home + "/.docker/config.json")
        }
        var seen = Set<String>()
        return paths.filter { seen.insert($0).inserted }
    }

    // MARK: Lookup

    /// Credentials for a registry host (`host[:port]`), most specific first: credHelpers[host],
    /// then `auths` (repository-scoped keys "host/ns/repo" beat "host"), then credsStore; across
    /// files the first match wins. `auths` entries are preferred to credsStore so a configured
    /// store is only spawned when the file itself has nothing.
    public func credential(host: String, repository: String?) async throws -> RegistryCredential? {
        let (h, _) = Self.normalizeKey(host)
        var repo = repository.map { String(DiagnosticText.trim($0)).trimmingSlashes() }
        if h == "docker.io", let r = repo, !r.isEmpty, !r.contains("/") { repo = "library/" + r }

        // What helpers are asked for (on stdin): the host, except Docker Hub, which docker keys by
        // its legacy v1 URL.
        let server = h == "docker.io" ? "https://index.docker.io/v1/" : h

        for source in sources {
            if let helper = source.credHelpers.first(where: { $0.host == h }) {
                if let c = try await CredentialHelper.get(helper: helper.helper, serverURL: server,
                                                    environment: environment) {
                    return c
                }
            }
            let candidates = source.entries.enumerated().filter { _, e in
                guard e.host == h else { return false }
                guard let p = e.path else { return true }
                guard let repo else { return false }
                return repo == p || repo.hasPrefix(p + "/")
            }.sorted { a, b in
                let (la, lb) = (a.element.path?.count ?? -1, b.element.path?.count ?? -1)
                if la != lb { return la > lb }
                if a.element.exact != b.element.exact { return a.element.exact }
                return a.offset < b.offset
            }
            for (_, entry) in candidates {
                if let c = try Self.decodeEntry(entry, path: source.path) { return c }
            }
            if let store = source.credsStore {
                if let c = try await CredentialHelper.get(helper: store, serverURL: server, environment: environment) {
                    return c
                }
            }
        }
        return nil
    }

    /// "https://index.docker.io/v1/" → ("docker.io", nil); "quay.io/ns/repo" → ("quay.io", "ns/repo").
    /// Keys with a scheme are docker-style URLs whose path is an API path, not a repository.
    static func normalizeKey(_ key: String) -> (host: String, path: String?) {
        var k = Substring(DiagnosticText.trim(key))
        var hadScheme = false
        for scheme in ["https://", "http://"] where k.lowercased().hasPrefix(scheme) {
            k = k.dropFirst(scheme.count)
            hadScheme = true
        }
        let host: Substring
        var path: String?
        if let slash = k.firstIndex(of: "/") {
            host = k[..<slash]
            let rest = String(k[k.index(after: slash)...]).trimmingSlashes()
            if !hadScheme && !rest.isEmpty { path = rest }
        } else {
            host = k
        }
        let h = host.lowercased()
        return (ImageReference.dockerHubAliases.contains(h) ? "docker.io" : h, path)
    }

    static func decodeEntry(_ entry: Entry, path: String) throws -> RegistryCredential? {
        func fail(_ reason: String) -> AuthFileError {
            AuthFileError(path: path, reason: "entry \(DiagnosticText.quote(entry.key, limit: 100)): \(reason)")
        }
        func string(_ field: String) throws -> String? {
            switch entry.value[field] {
            case nil, .null?: return nil
            case .string(let s)?: return s.isEmpty ? nil : s
            default: throw fail("\"\(field)\" is not a string")
            }
        }
        var username: String?
        var password: String?
        if let auth = try string("auth"), !DiagnosticText.trim(auth).isEmpty {
            guard let raw = Self.decodeBase64(auth) else { throw fail("\"auth\" is not valid base64") }
            guard let text = String(validating: raw, as: UTF8.self) else { throw fail("\"auth\" is not UTF-8 text") }
            // user:password; the password may itself contain ':'.
            guard let colon = text.firstIndex(of: ":") else { throw fail("\"auth\" does not decode to user:password") }
            username = String(text[..<colon])
            password = String(text[text.index(after: colon)...])
        } else {
            username = try string("username")
            password = try string("password")
        }
        let token = try string("identitytoken")
        if username?.isEmpty == true { username = nil }
        if password?.isEmpty == true { password = nil }
        if username == nil && password == nil && token == nil { return nil }  // credsStore placeholder "{}"
        return RegistryCredential(username: username, password: password, identityToken: token)
    }

    // MARK: Parsing

    static func parse(_ bytes: [UInt8], path: String) throws -> Source {
        var source = Source(path: path)
        // docker treats an empty config file as empty; so do we.
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }) { return source }
        let root: AuthJSON
        do {
            root = try AuthJSON.parse(bytes)
        } catch let e as AuthJSON.ParseError {
            throw AuthFileError(path: path, reason: "invalid JSON (\(e.reason) at byte \(e.offset))")
        }
        guard case .object = root else { throw AuthFileError(path: path, reason: "top level is not a JSON object") }

        switch root["auths"] {
        case nil, .null?: break
        case .object(let members)?:
            for m in members {
                guard case .object = m.value else {
                    throw AuthFileError(path: path, reason: "auths entry \(DiagnosticText.quote(m.key, limit: 100)) is not an object")
                }
                let (host, p) = normalizeKey(m.key)
                if host.isEmpty { continue }
                source.entries.append(Entry(key: m.key, host: host, path: p, exact: m.key == host, value: m.value))
            }
        default: throw AuthFileError(path: path, reason: "\"auths\" is not an object")
        }
        switch root["credHelpers"] {
        case nil, .null?: break
        case .object(let members)?:
            for m in members {
                guard case .string(let helper) = m.value else {
                    throw AuthFileError(path: path, reason: "credHelpers entry \(DiagnosticText.quote(m.key, limit: 100)) is not a string")
                }
                if helper.isEmpty { continue }
                source.credHelpers.append((host: normalizeKey(m.key).host, helper: helper))
            }
        default: throw AuthFileError(path: path, reason: "\"credHelpers\" is not an object")
        }
        switch root["credsStore"] {
        case nil, .null?: break
        case .string(let s)?: source.credsStore = s.isEmpty ? nil : s
        default: throw AuthFileError(path: path, reason: "\"credsStore\" is not a string")
        }
        return source
    }

    // MARK: Writing

    /// Writes/merges an `auths` entry (`{"auth": base64(user:secret)}`) into the auth.json at `path`
    /// atomically (temp file in the same directory, fsync, rename) with mode 0600, creating missing
    /// parent directories with 0700. Other entries and unknown keys are preserved; an existing file
    /// that is not valid JSON is left alone and reported.
    public static func store(host: String, username: String, secret: String, at path: String) throws {
        func fail(_ reason: String) -> AuthFileError { AuthFileError(path: path, reason: reason) }
        let hasControl: (String) -> Bool = { $0.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F } }
        guard !host.isEmpty, !hasControl(host), !host.contains(" ") else { throw fail("invalid registry host") }
        guard !username.contains(":"), !hasControl(username) else {
            throw fail("user name must not contain ':' or control characters")
        }

        var root = AuthJSON.object([])
        if let existing = try readFile(path, limit: maxFileSize),
           !existing.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }) {
            do {
                root = try AuthJSON.parse(existing)
            } catch let e as AuthJSON.ParseError {
                throw fail("existing file is not valid JSON (\(e.reason) at byte \(e.offset)); not overwriting it")
            }
            guard case .object = root else { throw fail("existing file's top level is not a JSON object; not overwriting it") }
        }
        var auths: AuthJSON
        switch root["auths"] {
        case nil, .null?: auths = .object([])
        case let value? where value.isObject: auths = value
        default: throw fail("existing \"auths\" is not an object; not overwriting it")
        }
        let encoded = Data((username + ":" + secret).utf8).base64EncodedString()
        auths[host] = .object([AuthJSON.Member(key: "auth", value: .string(encoded))])
        root["auths"] = auths

        var bytes = root.serialized()
        bytes.append(0x0A)
        try writeAtomically(bytes, to: path)
    }

    // MARK: File system

    /// The file's bytes, or nil when it does not exist. Refuses non-regular files (a FIFO would
    /// block) and files over `limit`.
    static func readFile(_ path: String, limit: Int) throws -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        if fd < 0 {
            let e = errno
            if e == ENOENT || e == ENOTDIR { return nil }
            throw AuthFileError(path: path, reason: "cannot open: \(errorText(e))")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw AuthFileError(path: path, reason: "cannot stat: \(errorText(errno))") }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw AuthFileError(path: path, reason: "not a regular file") }
        guard st.st_size <= limit else {
            throw AuthFileError(path: path, reason: "file is \(st.st_size) bytes; the limit is \(limit)")
        }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw AuthFileError(path: path, reason: "cannot read: \(errorText(errno))")
            }
            if n == 0 { break }
            out.append(contentsOf: buffer[0..<n])
            // The file may grow between fstat and read.
            if out.count > limit { throw AuthFileError(path: path, reason: "file is larger than \(limit) bytes") }
        }
        return out
    }

    static func writeAtomically(_ bytes: [UInt8], to path: String) throws {
        func fail(_ what: String, _ e: Int32) -> AuthFileError {
            AuthFileError(path: path, reason: "\(what): \(errorText(e))")
        }
        let slash = path.lastIndex(of: "/")
        let dir = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
        guard !base.isEmpty else { throw AuthFileError(path: path, reason: "path names a directory") }
        try makeDirectories(dir)

        let temp = "\(dir)/.\(base).tmp-\(String(UInt64.random(in: 0...UInt64.max), radix: 36))"
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw fail("cannot create temporary file in \(dir)", errno) }
        var ok = false
        defer {
            if !ok { unlink(temp) }
        }
        do {
            defer { close(fd) }
            // The umask could have narrowed, never widened, 0600; make it exact anyway.
            guard fchmod(fd, 0o600) == 0 else { throw fail("cannot chmod temporary file", errno) }
            var written = 0
            while written < bytes.count {
                let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, $0.count - written) }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw fail("cannot write temporary file", errno)
                }
                written += n
            }
            guard fsync(fd) == 0 else { throw fail("cannot fsync temporary file", errno) }
        }
        guard rename(temp, path) == 0 else { throw fail("cannot replace file", errno) }
        ok = true
        // Make the rename itself durable.
        let dfd = open(dir, O_RDONLY | O_CLOEXEC | O_DIRECTORY)
        if dfd >= 0 {
            _ = fsync(dfd)
            close(dfd)
        }
    }

    /// mkdir -p with 0700 for the directories it creates (existing ones are left as they are).
    static func makeDirectories(_ dir: String) throws {
        var st = stat()
        if stat(dir, &st) == 0 {
            guard (st.st_mode & S_IFMT) == S_IFDIR else { throw AuthFileError(path: dir, reason: "not a directory") }
            return
        }
        if let slash = dir.lastIndex(of: "/"), slash != dir.startIndex {
            try makeDirectories(String(dir[..<slash]))
        }
        if mkdir(dir, 0o700) != 0 && errno != EEXIST {
            throw AuthFileError(path: dir, reason: "cannot create directory: \(errorText(errno))")
        }
    }

    static func errorText(_ e: Int32) -> String { String(cString: strerror(e)) }
}

extension String {
    fileprivate func trimmingSlashes() -> String {
        var s = Substring(self)
        while s.hasPrefix("/") { s = s.dropFirst() }
        while s.hasSuffix("/") { s = s.dropLast() }
        return String(s)
    }
}

// MARK: - Base64

extension AuthFile {
    /// Decodes an `auth` field with Foundation, lenient where tools differ: URL-safe letters, missing
    /// padding and embedded blanks or newlines are accepted; anything else (data after `=`, a stray
    /// character, an impossible length) is rejected.
    static func decodeBase64(_ text: String) -> [UInt8]? {
        var normalized = ""
        normalized.reserveCapacity(text.utf8.count + 2)
        var padding = 0
        for c in text.unicodeScalars {
            switch c {
            case " ", "\t", "\n", "\r": continue
            case "=": padding += 1; continue
            default: break
            }
            if padding > 0 { return nil }  // data after '='
            switch c {
            case "-": normalized.append("+")
            case "_": normalized.append("/")
            default: normalized.unicodeScalars.append(c)
            }
        }
        let count = normalized.utf8.count
        if count % 4 == 1 || padding > 2 { return nil }
        if padding > 0 && (count + padding) % 4 != 0 { return nil }
        normalized += String(repeating: "=", count: (4 - count % 4) % 4)
        return Data(base64Encoded: normalized).map { Array($0) }
    }
}

// MARK: - JSON

/// A JSON value that keeps object key order and number text, so rewriting an auth file changes
/// only the entry being stored.
/// (Not Foundation's JSONDecoder: it drops key order, keeps the first of duplicate keys where Go's
/// encoding/json (podman, docker) keeps the last, rejects `1e400`, rewrites `2.50` as `2.5` and
/// accepts a trailing comma.)
indirect enum AuthJSON: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([AuthJSON])
    case object([Member])

    struct Member: Sendable, Equatable {
        var key: String
        var value: AuthJSON
    }

    struct ParseError: Error {
        var reason: String
        var offset: Int
    }

    var isObject: Bool {
        if case .object = self { return true }
        return false
    }

    /// Object member lookup (the last duplicate wins, as with Go's encoding/json); set replaces in
    /// place or appends.
    subscript(key: String) -> AuthJSON? {
        get {
            guard case .object(let members) = self else { return nil }
            return members.last { $0.key == key }?.value
        }
        set {
            guard case .object(var members) = self else { return }
            if let newValue {
                if let i = members.lastIndex(where: { $0.key == key }) {
                    members[i].value = newValue
                } else {
                    members.append(Member(key: key, value: newValue))
                }
            } else {
                members.removeAll { $0.key == key }
            }
            self = .object(members)
        }
    }

    static let maxDepth = 64

    static func parse(_ bytes: [UInt8]) throws -> AuthJSON {
        var p = Parser(b: bytes)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { p.i = 3 }  // tolerate a UTF-8 BOM from Windows editors
        p.skipSpace()
        let v = try p.value(depth: 0)
        p.skipSpace()
        guard p.i == bytes.count else { throw ParseError(reason: "unexpected data after the value", offset: p.i) }
        return v
    }

    private struct Parser {
        let b: [UInt8]
        var i = 0

        mutating func skipSpace() {
            while i < b.count, b[i] == 0x20 || b[i] == 0x09 || b[i] == 0x0A || b[i] == 0x0D { i += 1 }
        }

        func error(_ reason: String) -> ParseError { ParseError(reason: reason, offset: i) }

        mutating func literal(_ word: String, _ v: AuthJSON) throws -> AuthJSON {
            let w = Array(word.utf8)
            guard b.count - i >= w.count, Array(b[i..<(i + w.count)]) == w else { throw error("invalid literal") }
            i += w.count
            return v
        }

        mutating func value(depth: Int) throws -> AuthJSON {
            guard depth < AuthJSON.maxDepth else { throw error("nested too deeply") }
            guard i < b.count else { throw error("unexpected end of input") }
            switch b[i] {
            case 0x7B: return try object(depth: depth)
            case 0x5B: return try array(depth: depth)
            case 0x22: return .string(try string())
            case 0x74: return try literal("true", .bool(true))
            case 0x66: return try literal("false", .bool(false))
            case 0x6E: return try literal("null", .null)
            case 0x2D, 0x30...0x39: return try number()
            default: throw error("unexpected character")
            }
        }

        mutating func object(depth: Int) throws -> AuthJSON {
            i += 1
            var members: [Member] = []
            skipSpace()
            if i < b.count, b[i] == 0x7D { i += 1; return .object(members) }
            while true {
                skipSpace()
                guard i < b.count, b[i] == 0x22 else { throw error("expected a string key") }
                let key = try string()
                skipSpace()
                guard i < b.count, b[i] == 0x3A else { throw error("expected ':'") }
                i += 1
                skipSpace()
                members.append(Member(key: key, value: try value(depth: depth + 1)))
                skipSpace()
                guard i < b.count else { throw error("unexpected end of input") }
                if b[i] == 0x2C { i += 1; continue }
                if b[i] == 0x7D { i += 1; return .object(members) }
                throw error("expected ',' or '}'")
            }
        }

        mutating func array(depth: Int) throws -> AuthJSON {
            i += 1
            var items: [AuthJSON] = []
            skipSpace()
            if i < b.count, b[i] == 0x5D { i += 1; return .array(items) }
            while true {
                skipSpace()
                items.append(try value(depth: depth + 1))
                skipSpace()
                guard i < b.count else { throw error("unexpected end of input") }
                if b[i] == 0x2C { i += 1; continue }
                if b[i] == 0x5D { i += 1; return .array(items) }
                throw error("expected ',' or ']'")
            }
        }

        mutating func number() throws -> AuthJSON {
            let start = i
            func digits() -> Int {
                let s = i
                while i < b.count, b[i] >= 0x30 && b[i] <= 0x39 { i += 1 }
                return i - s
            }
            if b[i] == 0x2D { i += 1 }
            guard i < b.count else { throw error("invalid number") }
            if b[i] == 0x30 { i += 1 } else if digits() == 0 { throw error("invalid number") }
            if i < b.count, b[i] == 0x2E {
                i += 1
                guard digits() > 0 else { throw error("invalid number") }
            }
            if i < b.count, b[i] == 0x65 || b[i] == 0x45 {
                i += 1
                if i < b.count, b[i] == 0x2B || b[i] == 0x2D { i += 1 }
                guard digits() > 0 else { throw error("invalid number") }
            }
            return .number(String(decoding: b[start..<i], as: UTF8.self))
        }

        mutating func hex4() throws -> UInt32 {
            guard b.count - i >= 4 else { throw error("truncated \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = b[i]
                let d: UInt32
                switch c {
                case 0x30...0x39: d = UInt32(c - 0x30)
                case 0x41...0x46: d = UInt32(c - 0x41 + 10)
                case 0x61...0x66: d = UInt32(c - 0x61 + 10)
                default: throw error("invalid \\u escape")
                }
                v = v << 4 | d
                i += 1
            }
            return v
        }

        mutating func string() throws -> String {
            i += 1  // opening quote
            var out: [UInt8] = []
            while true {
                guard i < b.count else { throw error("unterminated string") }
                let c = b[i]
                switch c {
                case 0x22:
                    i += 1
                    guard let s = String(validating: out, as: UTF8.self) else { throw error("string is not valid UTF-8") }
                    return s
                case 0x5C:
                    i += 1
                    guard i < b.count else { throw error("unterminated string") }
                    let e = b[i]
                    i += 1
                    switch e {
                    case 0x22, 0x5C, 0x2F: out.append(e)
                    case 0x62: out.append(0x08)
                    case 0x66: out.append(0x0C)
                    case 0x6E: out.append(0x0A)
                    case 0x72: out.append(0x0D)
                    case 0x74: out.append(0x09)
                    case 0x75:
                        var scalar = try hex4()
                        if scalar >= 0xD800 && scalar <= 0xDBFF {
                            // A high surrogate must be followed by an escaped low surrogate.
                            guard b.count - i >= 6, b[i] == 0x5C, b[i + 1] == 0x75 else { throw error("unpaired surrogate") }
                            i += 2
                            let low = try hex4()
                            guard low >= 0xDC00 && low <= 0xDFFF else { throw error("unpaired surrogate") }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else if scalar >= 0xDC00 && scalar <= 0xDFFF {
                            throw error("unpaired surrogate")
                        }
                        out.append(contentsOf: Array(String(Unicode.Scalar(scalar)!).utf8))
                    default: throw error("invalid escape")
                    }
                case 0..<0x20:
                    throw error("control character in string")
                default:
                    out.append(c)
                    i += 1
                }
            }
        }
    }

    /// Pretty JSON indented with tabs, the layout podman and skopeo write.
    func serialized() -> [UInt8] {
        var out: [UInt8] = []
        write(into: &out, indent: 0)
        return out
    }

    private func write(into out: inout [UInt8], indent: Int) {
        func newline(_ level: Int) {
            out.append(0x0A)
            out.append(contentsOf: [UInt8](repeating: 0x09, count: level))
        }
        switch self {
        case .null: out += Array("null".utf8)
        case .bool(let v): out += Array((v ? "true" : "false").utf8)
        case .number(let n): out += Array(n.utf8)
        case .string(let s): Self.writeString(s, into: &out)
        case .array(let items):
            if items.isEmpty { out += [0x5B, 0x5D]; return }
            out.append(0x5B)
            for (k, item) in items.enumerated() {
                if k > 0 { out.append(0x2C) }
                newline(indent + 1)
                item.write(into: &out, indent: indent + 1)
            }
            newline(indent)
            out.append(0x5D)
        case .object(let members):
            if members.isEmpty { out += [0x7B, 0x7D]; return }
            out.append(0x7B)
            for (k, m) in members.enumerated() {
                if k > 0 { out.append(0x2C) }
                newline(indent + 1)
                Self.writeString(m.key, into: &out)
                out += [0x3A, 0x20]
                m.value.write(into: &out, indent: indent + 1)
            }
            newline(indent)
            out.append(0x7D)
        }
    }

    private static func writeString(_ s: String, into out: inout [UInt8]) {
        let hex = Array("0123456789abcdef".utf8)
        out.append(0x22)
        for c in s.utf8 {
            switch c {
            case 0x22: out += [0x5C, 0x22]
            case 0x5C: out += [0x5C, 0x5C]
            case 0x0A: out += [0x5C, 0x6E]
            case 0x0D: out += [0x5C, 0x72]
            case 0x09: out += [0x5C, 0x74]
            case 0..<0x20, 0x7F:
                out += [0x5C, 0x75, 0x30, 0x30, hex[Int(c >> 4)], hex[Int(c & 0xF)]]
            default: out.append(c)
            }
        }
        out.append(0x22)
    }
}
