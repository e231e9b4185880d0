import HTTPTransport
import LoopbackHTTP

public enum MediaTypes {
    public static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
    public static let ociIndex = "application/vnd.oci.image.index.v1+json"
    public static let ociConfig = "application/vnd.oci.image.config.v1+json"
    public static let ociLayerTar = "application/vnd.oci.image.layer.v1.tar"
    public static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    public static let dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
}

public struct ImagePlatform: Sendable, Hashable {
    public var os: String
    public var architecture: String
    public var variant: String?

    public init(os: String = "linux", architecture: String, variant: String? = nil) {
        self.os = os
        self.architecture = architecture
        self.variant = variant
    }

    public static let linuxAMD64 = ImagePlatform(architecture: "amd64")
    public static let linuxARM64 = ImagePlatform(architecture: "arm64", variant: "v8")

    var json: String {
        "{\"architecture\":\(jsonQuote(architecture)),\"os\":\(jsonQuote(os))" + (variant.map { ",\"variant\":\(jsonQuote($0))" } ?? "") + "}"
    }
}

/// A blob of a generated image.
public struct TestBlob: Sendable {
    public var mediaType: String
    public var digest: String
    public var size: Int64
    public var content: BlobContent

    public init(mediaType: String, content: BlobContent) {
        self.mediaType = mediaType
        self.content = content
        digest = content.digest
        size = content.size
    }

    var descriptorJSON: String { "{\"mediaType\":\(jsonQuote(mediaType)),\"digest\":\(jsonQuote(digest)),\"size\":\(size)}" }
}

/// One OCI image manifest with its config and layers.
public struct TestManifest: Sendable {
    public var mediaType: String
    public var bytes: [UInt8]
    public var digest: String
    public var config: TestBlob
    public var layers: [TestBlob]
    public var platform: ImagePlatform?
    public var size: Int64 { Int64(bytes.count) }
    public var blobs: [TestBlob] { [config] + layers }
}

/// A generated image: one manifest, or an OCI index over several platform manifests. Layers are random
/// bytes (`application/vnd.oci.image.layer.v1.tar`, content not a real tar) served from `RandomBlob`,
/// so gigabyte layers cost no memory.
public struct TestImage: Sendable {
    public var manifests: [TestManifest]
    /// The index, for multi-platform images.
    public var index: (bytes: [UInt8], digest: String)?
    /// Top-level media type, bytes and digest (the index, or the only manifest).
    public var mediaType: String { index == nil ? manifests[0].mediaType : MediaTypes.ociIndex }
    public var bytes: [UInt8] { index?.bytes ?? manifests[0].bytes }
    public var digest: String { index?.digest ?? manifests[0].digest }
    public var isIndex: Bool { index != nil }

    /// Every config and layer, de-duplicated by digest, in push order.
    public var blobs: [TestBlob] {
        var seen = Set<String>()
        var out: [TestBlob] = []
        for m in manifests {
            for b in m.layers + [m.config] where seen.insert(b.digest).inserted { out.append(b) }
        }
        return out
    }

    public var totalBlobBytes: Int64 { blobs.reduce(0) { $0 + $1.size } }

    /// Random layers of `layerSizes` per platform (plus `sharedLayerSizes` common to all platforms),
    /// a config per platform, and an OCI index when `platforms` is non-empty. Deterministic for a seed.
    public static func random(layerSizes: [Int64] = [1024, 64 << 10], platforms: [ImagePlatform] = [],
                              sharedLayerSizes: [Int64] = [], seed: UInt64 = UInt64.random(in: 1...(UInt64.max >> 1))) -> TestImage {
        let shared = sharedLayerSizes.enumerated().map { i, size in
            TestBlob(mediaType: MediaTypes.ociLayerTar, content: .random(RandomBlob(seed: seed &+ 1_000_003 &* UInt64(i + 1), size: size)))
        }
        let targets: [ImagePlatform?] = platforms.isEmpty ? [nil] : platforms
        var manifests: [TestManifest] = []
        for (p, platform) in targets.enumerated() {
            let own = layerSizes.enumerated().map { i, size in
                TestBlob(mediaType: MediaTypes.ociLayerTar,
                         content: .random(RandomBlob(seed: seed &+ UInt64(p + 1) &* 7919 &+ UInt64(i) &* 104_729, size: size)))
            }
            let layers = shared + own
            let arch = platform?.architecture ?? "amd64"
            let os = platform?.os ?? "linux"
            let config = "{\"architecture\":\(jsonQuote(arch)),\"os\":\(jsonQuote(os)),"
                + "\"config\":{\"Labels\":{\"imgpromote.test.seed\":\"\(seed)\"}},"
                + "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\(layers.map { jsonQuote($0.digest) }.joined(separator: ","))]}}"
            let configBlob = TestBlob(mediaType: MediaTypes.ociConfig, content: .bytes(Array(config.utf8)))
            let manifest = "{\"schemaVersion\":2,\"mediaType\":\(jsonQuote(MediaTypes.ociManifest)),"
                + "\"config\":\(configBlob.descriptorJSON),\"layers\":[\(layers.map(\.descriptorJSON).joined(separator: ","))]}"
            let bytes = Array(manifest.utf8)
            manifests.append(TestManifest(mediaType: MediaTypes.ociManifest, bytes: bytes, digest: SHA256.digest(bytes),
                                          config: configBlob, layers: layers, platform: platform))
        }
        var image = TestImage(manifests: manifests, index: nil)
        if !platforms.isEmpty {
            let entries = manifests.map { m in
                "{\"mediaType\":\(jsonQuote(m.mediaType)),\"digest\":\(jsonQuote(m.digest)),\"size\":\(m.size),\"platform\":\(m.platform!.json)}"
            }
            let index = "{\"schemaVersion\":2,\"mediaType\":\(jsonQuote(MediaTypes.ociIndex)),\"manifests\":[\(entries.joined(separator: ","))]}"
            let bytes = Array(index.utf8)
            image.index = (bytes, SHA256.digest(bytes))
        }
        return image
    }
}

/// Credentials for test-side registry access.
public enum RegistryCredentials: Sendable {
    case none
    /// Basic auth (htpasswd registries) or the credentials for a token realm (token registries).
    case basic(username: String, password: String)
    /// A fixed bearer token.
    case bearer(String)
}

/// What `ImageSeeder.push` did.
public struct PushedImage: Sendable {
    public var image: TestImage
    /// `127.0.0.1:<port>`.
    public var host: String
    public var repository: String
    public var tag: String?
    public var uploadedBlobs: Int
    public var skippedBlobs: Int
    /// `host/repository:tag` (or `@digest` without a tag).
    public var reference: String { "\(host)/\(repository)" + (tag.map { ":\($0)" } ?? "@\(image.digest)") }
    public var digestReference: String { "\(host)/\(repository)@\(image.digest)" }
}

/// Pushes generated images into a registry with LoopbackHTTP's own client (independent of the
/// HTTPTransport under test), streaming layers straight from `RandomBlob`s; or through `skopeo` from an
/// OCI layout on disk.
public enum ImageSeeder {
    /// Pushes blobs (`parallelism` connections, skipping blobs the repository already has), then the
    /// manifests by digest, then the top-level manifest/index by `tag` (or by digest if nil). Blocking:
    /// from async code use `pushAsync`.
    @discardableResult
    public static func push(_ image: TestImage, to baseURL: String, repository: String, tag: String? = "latest",
                            credentials: RegistryCredentials = .none, parallelism: Int = 4) throws -> PushedImage {
        guard let base = LoopbackURL(baseURL) else { throw LoopbackError("bad registry URL \(baseURL)") }
        let blobs = image.blobs
        let counters = Protected((uploaded: 0, skipped: 0, next: 0, failure: String?.none, done: 0))
        let workers = max(1, min(parallelism, blobs.count))
        for w in 0..<workers {
            try startThread(name: "seed-\(w)") {
                defer { counters.withLock { $0.done += 1 } }
                let client = TestRegistryClient(baseURL: base.origin, credentials: credentials)
                defer { client.close() }
                while true {
                    let i: Int? = counters.withLock { c in
                        if c.failure != nil || c.next >= blobs.count { return nil }
                        c.next += 1
                        return c.next - 1
                    }
                    guard let i else { return }
                    do {
                        let uploaded = try client.uploadBlobIfMissing(repository: repository, blob: blobs[i])
                        counters.withLock { if uploaded { $0.uploaded += 1 } else { $0.skipped += 1 } }
                    } catch {
                        counters.withLock { $0.failure = $0.failure ?? "blob \(blobs[i].digest): \(error)" }
                    }
                }
            }
        }
        counters.wait(timeoutSeconds: 3600) { $0.done == workers }
        let c = counters.snapshot
        if let failure = c.failure { throw LoopbackError("seeding \(repository) failed: \(failure)") }
        let client = TestRegistryClient(baseURL: base.origin, credentials: credentials)
        defer { client.close() }
        if image.isIndex {
            for m in image.manifests {
                _ = try client.putManifest(repository: repository, reference: m.digest, bytes: m.bytes, mediaType: m.mediaType)
            }
        }
        _ = try client.putManifest(repository: repository, reference: tag ?? image.digest, bytes: image.bytes, mediaType: image.mediaType)
        return PushedImage(image: image, host: base.authority, repository: repository, tag: tag,
                           uploadedBlobs: c.uploaded, skippedBlobs: c.skipped)
    }

    /// `push` on a dedicated thread, for async callers.
    @discardableResult
    public static func pushAsync(_ image: TestImage, to baseURL: String, repository: String, tag: String? = "latest",
                                 credentials: RegistryCredentials = .none, parallelism: Int = 4) async throws -> PushedImage {
        try await runOnThread(name: "seed") {
            try push(image, to: baseURL, repository: repository, tag: tag, credentials: credentials, parallelism: parallelism)
        }
    }

    /// Writes `image` as an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/...`), tagged
    /// `tag` via `org.opencontainers.image.ref.name`. Layers are streamed to disk.
    public static func writeOCILayout(_ image: TestImage, to directory: String, tag: String = "latest") throws {
        let blobDir = directory + "/blobs/sha256"
        try FileSystem.createDirectory(blobDir)
        func hex(_ d: String) -> String { String(d.dropFirst("sha256:".count)) }
        for b in image.blobs where !FileSystem.exists(blobDir + "/" + hex(b.digest)) {
            switch b.content {
            case .random(let r): try r.write(to: blobDir + "/" + hex(b.digest))
            default: try FileSystem.write(try b.content.allBytes(), to: blobDir + "/" + hex(b.digest))
            }
        }
        for m in image.manifests { try FileSystem.write(m.bytes, to: blobDir + "/" + hex(m.digest)) }
        if let index = image.index { try FileSystem.write(index.bytes, to: blobDir + "/" + hex(index.digest)) }
        try FileSystem.write("{\"imageLayoutVersion\":\"1.0.0\"}", to: directory + "/oci-layout")
        let top = "{\"mediaType\":\(jsonQuote(image.mediaType)),\"digest\":\(jsonQuote(image.digest)),\"size\":\(image.bytes.count),"
            + "\"annotations\":{\"org.opencontainers.image.ref.name\":\(jsonQuote(tag))}}"
        try FileSystem.write("{\"schemaVersion\":2,\"manifests\":[\(top)]}", to: directory + "/index.json")
    }

    /// Pushes through `skopeo copy --all --preserve-digests` from an OCI layout written to a temporary
    /// directory. Credentials go through an auth file, never argv; TLS is not verified.
    public static func pushWithSkopeo(_ image: TestImage, host: String, repository: String, tag: String = "latest",
                                      credentials: RegistryCredentials = .none, timeoutSeconds: Double = 300) async throws -> ProcessResult {
        let work = try TemporaryDirectory(prefix: "skopeo-seed")
        try writeOCILayout(image, to: work.file("layout"), tag: tag)
        try FileSystem.write("{\"default\":[{\"type\":\"insecureAcceptAnything\"}]}", to: work.file("policy.json"))
        var auths = ""
        if case .basic(let u, let p) = credentials {
            auths = "{\"auths\":{\(jsonQuote(host)):{\"auth\":\(jsonQuote(Base64.encode("\(u):\(p)")))}}}"
        } else {
            auths = "{\"auths\":{}}"
        }
        try FileSystem.write(auths, to: work.file("auth.json"), mode: 0o600)
        let env = Subprocess.environment(adding: ["HOME": work.path, "TMPDIR": work.path, "XDG_RUNTIME_DIR": work.path])
        let result = try await Subprocess.runAsync("skopeo", [
            "--policy", work.file("policy.json"), "copy", "--all", "--preserve-digests", "--quiet",
            "--dest-tls-verify=false", "--dest-authfile", work.file("auth.json"),
            "oci:\(work.file("layout")):\(tag)", "docker://\(host)/\(repository):\(tag)",
        ], environment: env, timeoutSeconds: timeoutSeconds)
        withExtendedLifetime(work) {}
        return result
    }
}

/// A small blocking registry client for test setup and assertions (not thread-safe: one per thread).
/// Negotiates Basic or Bearer auth from the registry's challenge, caching one token per scope.
public final class TestRegistryClient {
    public let base: LoopbackURL
    public let credentials: RegistryCredentials
    private var connection: ClientConnection?
    private var tokens: [String: String] = [:]
    private var challenge: (scheme: String, params: [String: String])?

    public init(baseURL: String, credentials: RegistryCredentials = .none) {
        base = LoopbackURL(baseURL) ?? LoopbackURL("http://127.0.0.1:1")!
        self.credentials = credentials
    }

    deinit { connection?.close() }

    public func close() {
        connection?.close()
        connection = nil
    }

    private func conn() throws -> ClientConnection {
        if let c = connection, c.isIdleAndAlive { return c }
        connection?.close()
        let c = try ClientConnection(url: base, connectTimeoutSeconds: 5, ioTimeoutSeconds: 120)
        connection = c
        return c
    }

    /// Parses `Bearer realm="...",service="...",scope="..."`.
    public static func parseChallenge(_ header: String) -> (scheme: String, params: [String: String]) {
        let trimmed = header.drop { $0 == " " }
        let scheme = String(trimmed.prefix { $0 != " " })
        var params: [String: String] = [:]
        var rest = Substring(trimmed.dropFirst(scheme.count))
        while !rest.isEmpty {
            rest = rest.drop { $0 == " " || $0 == "," }
            guard let eq = rest.firstIndex(of: "=") else { break }
            let key = String(rest[..<eq]).lowercased()
            rest = rest[rest.index(after: eq)...]
            var value = ""
            if rest.first == "\"" {
                rest = rest.dropFirst()
                while let c = rest.first, c != "\"" {
                    if c == "\\" { rest = rest.dropFirst() }
                    if let d = rest.first { value.append(d); rest = rest.dropFirst() }
                }
                rest = rest.dropFirst()
            } else {
                value = String(rest.prefix { $0 != "," })
                rest = rest.dropFirst(value.count)
            }
            params[key] = value
        }
        return (scheme, params)
    }

    private func authorization(scope: String) throws -> String? {
        switch credentials {
        case .bearer(let t): return "Bearer \(t)"
        default: break
        }
        guard let ch = challenge else { return nil }
        if ch.scheme.lowercased() == "basic" {
            if case .basic(let u, let p) = credentials { return "Basic " + Base64.encode("\(u):\(p)") }
            return nil
        }
        if let t = tokens[scope] { return "Bearer \(t)" }
        guard let realm = ch.params["realm"] else { return nil }
        var query: [(String, String)] = []
        if let s = ch.params["service"] { query.append(("service", s)) }
        query.append(("scope", scope))
        var headers = HeaderFields()
        if case .basic(let u, let p) = credentials {
            headers.set("Authorization", "Basic " + Base64.encode("\(u):\(p)"))
            query.append(("account", u))
        }
        let url = realm + (realm.contains("?") ? "&" : "?") + FormCoding.encode(query)
        let r = try LoopbackClient.request("GET", url, headers: headers)
        guard r.status == 200, let json = JSONNode.parse(r.body),
              let token = json["token"]?.string ?? json["access_token"]?.string else {
            throw LoopbackError("token request to \(realm) failed: \(r.status) \(r.bodyText)")
        }
        tokens[scope] = token
        return "Bearer \(token)"
    }

    /// Sends one request (retrying once after a 401 with the challenge's auth), returning the response.
    /// `pathOrURL` is a path on the registry or an absolute URL on the same host (upload `Location`s).
    public func request(_ method: String, _ pathOrURL: String, headers: HeaderFields = [:], body: [UInt8] = [],
                        scope: String? = nil) throws -> ClientResponse {
        try exchange(method, pathOrURL, headers: headers, scope: scope, bodyLength: Int64(body.count)) { c in try c.write(body) }
    }

    private func exchange(_ method: String, _ pathOrURL: String, headers: HeaderFields, scope: String?, bodyLength: Int64,
                          sendBody: (ClientConnection) throws -> Void) throws -> ClientResponse {
        let target = pathOrURL.hasPrefix("http") ? (LoopbackURL(pathOrURL)?.target ?? pathOrURL) : pathOrURL
        for attempt in 0..<2 {
            var h = headers
            if let scope, let auth = try authorization(scope: scope) { h.set("Authorization", auth) }
            let c = try conn()
            try c.writeHead(method: method, target: target, headers: h, bodyLength: bodyLength)
            try sendBody(c)
            let head = try c.readResponseHead()
            let data = try c.readBody(limit: 64 << 20)
            if !c.isReusable { close() }
            if head.status == 401, attempt == 0, let scope, let www = head.headers["WWW-Authenticate"] {
                // Learn (or refresh) the challenge; a cached token may have expired.
                challenge = TestRegistryClient.parseChallenge(www)
                tokens[scope] = nil
                continue
            }
            return ClientResponse(status: head.status, headers: head.headers, body: data)
        }
        throw LoopbackError("unreachable")
    }

    private static func pushScope(_ repository: String) -> String { "repository:\(repository):pull,push" }
    private static func pullScope(_ repository: String) -> String { "repository:\(repository):pull" }

    public func blobExists(repository: String, digest: String) throws -> Bool {
        try request("HEAD", "/v2/\(repository)/blobs/\(digest)", scope: Self.pullScope(repository)).status == 200
    }

    /// Monolithic upload (POST, then one streamed PUT ?digest=); false if the blob was already there.
    @discardableResult
    public func uploadBlobIfMissing(repository: String, blob: TestBlob) throws -> Bool {
        let scope = Self.pushScope(repository)
        if try request("HEAD", "/v2/\(repository)/blobs/\(blob.digest)", scope: scope).status == 200 { return false }
        try uploadBlob(repository: repository, content: blob.content, digest: blob.digest)
        return true
    }

    /// POST + streamed PUT of `content`.
    public func uploadBlob(repository: String, content: BlobContent, digest: String) throws {
        let scope = Self.pushScope(repository)
        let start = try request("POST", "/v2/\(repository)/blobs/uploads/", scope: scope)
        guard start.status == 202, let location = start.headers["Location"] else {
            throw LoopbackError("POST upload: \(start.status) \(start.bodyText)")
        }
        let url = location + (location.contains("?") ? "&" : "?") + "digest=" + FormCoding.percentEncode(digest)
        let put = try exchange("PUT", url, headers: ["Content-Type": "application/octet-stream"], scope: scope,
                               bodyLength: content.size) { c in
            try content.forEachChunk(from: 0) { try c.write($0) }
        }
        guard put.status == 201 else { throw LoopbackError("PUT blob \(digest): \(put.status) \(put.bodyText)") }
    }

    /// PUTs a manifest; returns the registry's `Docker-Content-Digest`.
    @discardableResult
    public func putManifest(repository: String, reference: String, bytes: [UInt8], mediaType: String) throws -> String {
        let r = try request("PUT", "/v2/\(repository)/manifests/\(reference)", headers: ["Content-Type": mediaType], body: bytes,
                            scope: Self.pushScope(repository))
        guard r.status == 201 else { throw LoopbackError("PUT manifest \(repository):\(reference): \(r.status) \(r.bodyText)") }
        return r.headers["Docker-Content-Digest"] ?? ""
    }

    /// GETs a manifest (any OCI/Docker type); nil on 404.
    public func manifest(repository: String, reference: String) throws -> (bytes: [UInt8], mediaType: String, digest: String)? {
        let accept = [MediaTypes.ociManifest, MediaTypes.ociIndex, MediaTypes.dockerManifest, MediaTypes.dockerManifestList].joined(separator: ", ")
        let r = try request("GET", "/v2/\(repository)/manifests/\(reference)", headers: ["Accept": accept],
                            scope: Self.pullScope(repository))
        if r.status == 404 { return nil }
        guard r.status == 200 else { throw LoopbackError("GET manifest \(repository):\(reference): \(r.status) \(r.bodyText)") }
        return (r.body, r.headers["Content-Type"] ?? "", r.headers["Docker-Content-Digest"] ?? SHA256.digest(r.body))
    }

    /// GETs a (small) blob; nil on 404.
    public func blob(repository: String, digest: String) throws -> [UInt8]? {
        let r = try request("GET", "/v2/\(repository)/blobs/\(digest)", scope: Self.pullScope(repository))
        if r.status == 404 { return nil }
        guard r.status == 200 else { throw LoopbackError("GET blob \(digest): \(r.status)") }
        return r.body
    }

    public func tags(repository: String) throws -> [String] {
        let r = try request("GET", "/v2/\(repository)/tags/list", scope: Self.pullScope(repository))
        if r.status == 404 { return [] }
        return JSONNode.parse(r.body)?["tags"]?.array?.compactMap(\.string) ?? []
    }
}
