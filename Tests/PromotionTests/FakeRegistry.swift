import HTTPTransport
import OCIRegistry
import Promotion

/// An in-process registry at the engine's seam (go-containerregistry's pkg/registry is the model):
/// content-addressed, verifies every digest, refuses manifests whose blobs or children are missing,
/// records every request in order, and fails or slows down requests on demand.
final class FakeRegistry: RegistryEndpoint, Sendable {
    enum Op: String, Sendable { case headManifest, getManifest, putManifest, headBlob, mount, upload, getBlob, tags, deleteTag }

    struct Request: Sendable, Equatable, CustomStringConvertible {
        var op: Op
        var repository: String
        /// Tag or digest.
        var reference: String
        /// For mounts: the repository mounted from.
        var from: String?
        var description: String { "\(op) \(repository) \(reference)" + (from.map { " from \($0)" } ?? "") }
    }

    /// What happened when, in order: a request's start and its end (tests check overlap and ordering).
    enum Event: Sendable, Equatable {
        case start(Request)
        case end(Request)
    }

    struct Fault: Sendable {
        var matches: @Sendable (Request) -> Bool
        var error: RegistryError
    }

    private struct State {
        var blobs: [String: [UInt8]] = [:]
        var links: [String: Set<String>] = [:]
        /// repository → reference (tag or digest) → manifest bytes and media type.
        var manifests: [String: [String: (bytes: [UInt8], mediaType: String)]] = [:]
        var events: [Event] = []
        var faults: [Fault] = []
        var delays: [(matches: @Sendable (Request) -> Bool, duration: Duration)] = []
        var inFlight = 0
        var peak = 0
        var refuseMounts = false
    }
    private let state = Locked(State())
    let host: String

    init(host: String) { self.host = host }

    // MARK: seeding and inspection

    func seedBlob(_ bytes: [UInt8], repository: String) {
        let digest = SHA256.digest(bytes)
        state.withLock { s in
            s.blobs[digest] = bytes
            s.links[repository, default: []].insert(digest)
        }
    }

    func seedManifest(_ document: ManifestDocument, repository: String, tag: String?) {
        state.withLock { s in
            s.manifests[repository, default: [:]][document.digest] = (document.bytes, document.mediaType)
            if let tag { s.manifests[repository, default: [:]][tag] = (document.bytes, document.mediaType) }
        }
    }

    /// Replaces a blob's stored bytes: a corrupt source.
    func corrupt(_ digest: String) {
        state.withLock { s in s.blobs[digest] = Array("corrupted".utf8) }
    }

    func fail(_ error: RegistryError, when matches: @escaping @Sendable (Request) -> Bool) {
        state.withLock { $0.faults.append(Fault(matches: matches, error: error)) }
    }

    /// Answers every mount with an upload session, as registries without cross-repository mounts do.
    func refuseMounts() { state.withLock { $0.refuseMounts = true } }

    func delay(_ duration: Duration, when matches: @escaping @Sendable (Request) -> Bool) {
        state.withLock { $0.delays.append((matches, duration)) }
    }

    var requests: [Request] {
        state.withLock { s in s.events.compactMap { if case .start(let r) = $0 { return r } else { return nil } } }
    }
    var events: [Event] { state.withLock { $0.events } }
    var peakInFlight: Int { state.withLock { $0.peak } }
    func resetLog() { state.withLock { $0.events = []; $0.peak = 0 } }

    func digest(repository: String, tag: String) -> String? {
        state.withLock { s in s.manifests[repository]?[tag].map { SHA256.digest($0.bytes) } }
    }
    func tagNames(repository: String) -> [String] {
        state.withLock { s in (s.manifests[repository] ?? [:]).keys.filter { !$0.hasPrefix("sha256:") }.sorted() }
    }
    func hasBlob(_ digest: String, repository: String) -> Bool {
        state.withLock { $0.links[repository]?.contains(digest) ?? false }
    }

    // MARK: the seam

    private func handle<T: Sendable>(_ request: Request, _ body: () throws -> T) async throws -> T {
        let (fault, pause): (RegistryError?, Duration?) = state.withLock { s in
            s.events.append(.start(request))
            s.inFlight += 1
            s.peak = max(s.peak, s.inFlight)
            return (s.faults.first { $0.matches(request) }?.error, s.delays.first { $0.matches(request) }?.duration)
        }
        defer { state.withLock { s in s.inFlight -= 1; s.events.append(.end(request)) } }
        if let pause { try await Task.sleep(for: pause) } else { await Task.yield() }
        if let fault { throw fault }
        return try body()
    }

    func declare(repository: String, actions: [String]) async {}

    func headManifest(repository: String, reference: String) async throws -> RegistryClient.ManifestHead? {
        try await handle(Request(op: .headManifest, repository: repository, reference: reference)) {
            state.withLock { s in
                s.manifests[repository]?[reference].map {
                    RegistryClient.ManifestHead(digest: SHA256.digest($0.bytes), mediaType: $0.mediaType, size: Int64($0.bytes.count))
                }
            }
        }
    }

    func manifest(repository: String, reference: String) async throws -> ManifestDocument {
        try await handle(Request(op: .getManifest, repository: repository, reference: reference)) {
            guard let m = state.withLock({ $0.manifests[repository]?[reference] }) else {
                throw RegistryError(.notFound, "\(host)/\(repository):\(reference) not found", status: 404)
            }
            return try ManifestDocument.parse(bytes: m.bytes, contentType: m.mediaType)
        }
    }

    func putManifest(repository: String, reference: String, document: ManifestDocument) async throws -> String {
        try await handle(Request(op: .putManifest, repository: repository, reference: reference)) {
            try state.withLock { s in
                guard SHA256.digest(document.bytes) == document.digest else { throw RegistryError(.integrity, "digest mismatch") }
                if reference.hasPrefix("sha256:"), reference != document.digest {
                    throw RegistryError(.integrity, "manifest PUT under \(reference) hashes to \(document.digest)")
                }
                for blob in document.blobs where !(s.links[repository]?.contains(blob.digest) ?? false) {
                    throw RegistryError(.integrity, "MANIFEST_BLOB_UNKNOWN \(blob.digest) in \(repository)")
                }
                for child in document.children where s.manifests[repository]?[child.digest] == nil {
                    throw RegistryError(.integrity, "MANIFEST_UNKNOWN child \(child.digest) in \(repository)")
                }
                s.manifests[repository, default: [:]][document.digest] = (document.bytes, document.mediaType)
                s.manifests[repository, default: [:]][reference] = (document.bytes, document.mediaType)
                return document.digest
            }
        }
    }

    func headBlob(repository: String, digest: String) async throws -> Int64? {
        try await handle(Request(op: .headBlob, repository: repository, reference: digest)) {
            state.withLock { s in
                (s.links[repository]?.contains(digest) ?? false) ? s.blobs[digest].map { Int64($0.count) } : nil
            }
        }
    }

    func mount(repository: String, digest: String, from source: String) async throws -> RegistryClient.MountResult {
        try await handle(Request(op: .mount, repository: repository, reference: digest, from: source)) {
            state.withLock { s in
                guard !s.refuseMounts, s.links[source]?.contains(digest) ?? false else {
                    return .uploadSession(location: "fake://\(host)/session")
                }
                s.links[repository, default: []].insert(digest)
                return .mounted
            }
        }
    }

    /// The source side of a copy: the blob's bytes, if linked into `repository`.
    func readBlob(repository: String, digest: String) async throws -> [UInt8] {
        try await handle(Request(op: .getBlob, repository: repository, reference: digest)) {
            guard let bytes = state.withLock({ s in (s.links[repository]?.contains(digest) ?? false) ? s.blobs[digest] : nil }) else {
                throw RegistryError(.notFound, "\(host)/\(repository)@\(digest): blob unknown", status: 404)
            }
            return bytes
        }
    }

    func copyBlob(_ blob: Descriptor, from source: any RegistryEndpoint, sourceRepository: String, to repository: String,
                  session: String?, progress: (@Sendable (Int64) -> Void)?) async throws {
        guard let source = source as? FakeRegistry else { throw RegistryError(.other, "fake copies only from fakes") }
        let bytes = try await source.readBlob(repository: sourceRepository, digest: blob.digest)
        try await handle(Request(op: .upload, repository: repository, reference: blob.digest)) {
            guard SHA256.digest(bytes) == blob.digest, Int64(bytes.count) == blob.size else {
                throw RegistryError(.integrity, "\(host): uploaded content does not match \(blob.digest)")
            }
            state.withLock { s in
                s.blobs[blob.digest] = bytes
                s.links[repository, default: []].insert(blob.digest)
            }
        }
    }

    func tags(repository: String) async throws -> [String] {
        try await handle(Request(op: .tags, repository: repository, reference: "")) { tagNames(repository: repository) }
    }

    /// OCI 1.1 tag deletion; `fail(_:when:)` on `.deleteTag` plays a registry that refuses it.
    func deleteTag(repository: String, tag: String) async throws {
        try await handle(Request(op: .deleteTag, repository: repository, reference: tag)) {
            _ = state.withLock { $0.manifests[repository]?.removeValue(forKey: tag) }
        }
    }
}

/// Builds small images (and multi-arch indexes) and seeds them into a fake registry.
struct FakeImage {
    var document: ManifestDocument
    var children: [ManifestDocument] = []
    var blobs: [[UInt8]]

    var digest: String { document.digest }

    static func blob(_ text: String) -> [UInt8] { Array(text.utf8) }

    static func descriptor(_ bytes: [UInt8], _ mediaType: String) -> String {
        "{\"mediaType\":\"\(mediaType)\",\"digest\":\"\(SHA256.digest(bytes))\",\"size\":\(bytes.count)}"
    }

    /// An image manifest with a config and these layers (shared layers: pass the same bytes).
    static func image(layers: [[UInt8]], config: String) -> FakeImage {
        let configBytes = blob("{\"config\":\"\(config)\"}")
        let json = "{\"schemaVersion\":2,\"mediaType\":\"\(MediaType.ociManifest)\",\"config\":"
            + descriptor(configBytes, "application/vnd.oci.image.config.v1+json") + ",\"layers\":["
            + layers.map { descriptor($0, "application/vnd.oci.image.layer.v1.tar") }.joined(separator: ",") + "]}"
        let doc = try! ManifestDocument.parse(bytes: Array(json.utf8), contentType: MediaType.ociManifest)
        return FakeImage(document: doc, blobs: [configBytes] + layers)
    }

    static func index(_ platforms: [(String, FakeImage)]) -> FakeImage {
        let entries = platforms.map { p, img in
            let parts = p.split(separator: "/")
            return "{\"mediaType\":\"\(MediaType.ociManifest)\",\"digest\":\"\(img.digest)\",\"size\":\(img.document.bytes.count),"
                + "\"platform\":{\"os\":\"\(parts[0])\",\"architecture\":\"\(parts[1])\"}}"
        }
        let json = "{\"schemaVersion\":2,\"mediaType\":\"\(MediaType.ociIndex)\",\"manifests\":[\(entries.joined(separator: ","))]}"
        let doc = try! ManifestDocument.parse(bytes: Array(json.utf8), contentType: MediaType.ociIndex)
        return FakeImage(document: doc, children: platforms.map { $0.1.document }, blobs: platforms.flatMap { $0.1.blobs })
    }

    func seed(into registry: FakeRegistry, repository: String, tag: String) {
        for b in blobs { registry.seedBlob(b, repository: repository) }
        for c in children { registry.seedManifest(c, repository: repository, tag: nil) }
        registry.seedManifest(document, repository: repository, tag: tag)
    }
}
