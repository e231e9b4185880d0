import FoundationEssentials
import HTTPTransport
import TestSupport
import Testing
@testable import OCIRegistry

/// The request driver (`Exchange`) through the client's public calls, against loopback registries that
/// script their answers: a refused token is fetched again once, 429 waits as Retry-After says,
/// temporary failures are retried a bounded number of times, and a blob source heals its own GET.

/// Requests a loopback server handled, as "METHOD /path" (query dropped).
final class RequestLog: Sendable {
    private let lines = Locked<[String]>([])
    func add(_ request: ServerRequest) { lines.withLock { $0.append("\(request.method) \(request.pathWithoutQuery)") } }
    var all: [String] { lines.withLock { $0 } }
    func count(_ line: String) -> Int { all.filter { $0 == line }.count }
}

private let digestA = "sha256:" + String(repeating: "a", count: 64)

/// A registry with Docker token auth on loopback: `/token` issues t1, t2, …; `refuse` decides which
/// tokens the registry turns away (as if expired). Manifest HEADs answer 200, blob GETs serve `blob`.
final class TokenRegistry: Sendable {
    let server: LoopbackServer
    let log = RequestLog()
    let issued = Locked(0)
    let refuse: Locked<@Sendable (String) -> Bool>
    var host: String { "127.0.0.1:\(server.port)" }

    init(blob: [UInt8] = [], refuse: @escaping @Sendable (String) -> Bool = { _ in false }) throws {
        let port = Locked(0)
        let issued = self.issued
        let refuser = Locked<@Sendable (String) -> Bool>(refuse)
        self.refuse = refuser
        let log = self.log
        server = try LoopbackServer { request, writer in
            log.add(request)
            let challenge = #"Bearer realm="http://127.0.0.1:\#(port.withLock { $0 })/token",service="test""#
            if request.pathWithoutQuery == "/token" {
                let n = issued.withLock { $0 += 1; return $0 }
                try writer.respond(status: 200, json: #"{"token":"t\#(n)","expires_in":300}"#)
                return
            }
            guard let token = request.bearerToken else {
                try writer.respond(status: 401, headers: ["WWW-Authenticate": challenge],
                                   json: #"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#)
                return
            }
            if refuser.withLock({ $0 })(token) {
                try writer.respond(status: 401, headers: ["WWW-Authenticate": challenge + #",error="invalid_token""#],
                                   json: #"{"errors":[{"code":"UNAUTHORIZED","message":"token expired"}]}"#)
                return
            }
            if request.pathWithoutQuery.contains("/blobs/") {
                try writer.respond(status: 200, headers: ["Content-Type": "application/octet-stream"], body: blob)
                return
            }
            try writer.respond(status: 200, headers: ["Docker-Content-Digest": digestA,
                                                      "Content-Type": MediaType.ociManifest], body: [])
        }
        port.withLock { $0 = server.port }
    }

    func client(_ session: RegistrySession, retry: RetryPolicy = RetryPolicy()) -> RegistryClient {
        RegistryClient(host: host, session: session, allowPlainHTTP: true,
                       credentials: StaticCredentials(RegistryCredential(username: "u", password: "p")), retry: retry)
    }
}

@Test func refusedTokenIsFetchedAgainOnce() async throws {
    // t1 is refused (expired), t2 accepted: one refresh, and the request succeeds.
    let registry = try TokenRegistry(refuse: { $0 == "t1" })
    defer { registry.server.stop() }
    let client = registry.client(newSession())
    let head = try await client.headManifest(repository: "app", reference: "v1")
    #expect(head?.digest == digestA)
    #expect(await client.tokenFetches == 2)
    // Anonymous (learns the challenge), t1 (refused), t2.
    #expect(registry.log.count("HEAD /v2/app/manifests/v1") == 3)

    // Every token refused: fetched again once only, then the refusal is reported.
    let stubborn = try TokenRegistry(refuse: { _ in true })
    defer { stubborn.server.stop() }
    let other = stubborn.client(newSession())
    do {
        _ = try await other.headManifest(repository: "app", reference: "v1")
        Issue.record("a refused token was accepted")
    } catch let error as RegistryError {
        #expect(error.kind == .unauthorized)
        #expect(error.status == 401)
    }
    #expect(await other.tokenFetches == 2)
    #expect(stubborn.log.count("GET /token") == 2)
    #expect(stubborn.log.count("HEAD /v2/app/manifests/v1") == 3)
}

@Test func clientsOfOneSessionShareDiscovery() async throws {
    let registry = try TokenRegistry()
    defer { registry.server.stop() }
    let session = newSession()
    _ = try await registry.client(session).headManifest(repository: "app", reference: "v1")
    #expect(registry.log.count("HEAD /v2/app/manifests/v1") == 2)   // anonymous 401, then with the token
    // A second client of the same run knows scheme and challenge: its first request carries a token.
    _ = try await registry.client(session).headManifest(repository: "app", reference: "v1")
    #expect(registry.log.count("HEAD /v2/app/manifests/v1") == 3)
    #expect(!registry.log.all.contains("GET /v2/"))
    // Another session learns for itself.
    _ = try await registry.client(newSession()).headManifest(repository: "app", reference: "v1")
    #expect(registry.log.count("HEAD /v2/app/manifests/v1") == 5)
}

/// An anonymous registry whose manifest HEADs answer from a script (then 200); "reset" cuts the connection.
func scriptedRegistry(_ script: [(status: Int, headers: [String: String])], log: RequestLog) throws -> LoopbackServer {
    let step = Locked(0)
    return try LoopbackServer { request, writer in
        guard request.pathWithoutQuery.hasPrefix("/v2/") else {   // not HTTP (a TLS hello on this plain port)
            try writer.respond(status: 400, text: "bad request")
            return
        }
        log.add(request)
        let n = step.withLock { $0 += 1; return $0 - 1 }
        guard n < script.count else {
            try writer.respond(status: 200, headers: ["Docker-Content-Digest": digestA], body: [])
            return
        }
        if script[n].status == 0 {
            writer.abortConnection(reset: true)
            return
        }
        let headers = HeaderFields(script[n].headers.map { ($0.key, $0.value) })
        // A fresh connection each time: libcurl silently repeats a request whose reused connection
        // was reset, which would blur the count of attempts the client made.
        writer.closeConnectionAfterResponse()
        try writer.respond(status: script[n].status, headers: headers, json: #"{"errors":[]}"#)
    }
}

@Test func tooManyRequestsWaitsAsRetryAfterSays() async throws {
    let log = RequestLog()
    let server = try scriptedRegistry([(429, ["Retry-After": "1"])], log: log)
    defer { server.stop() }
    let throttled = Locked<[Double?]>([])
    var policy = RetryPolicy(maxRetries: 3, baseDelaySeconds: 0.01, maxDelaySeconds: 0.01)
    policy.onThrottle = { _, after in throttled.withLock { $0.append(after) } }
    let client = RegistryClient(host: "127.0.0.1:\(server.port)", session: newSession(), allowPlainHTTP: true, retry: policy)
    let start = ContinuousClock.now
    let head = try await client.headManifest(repository: "app", reference: "v1")
    let waited = ContinuousClock.now - start
    #expect(head?.digest == digestA)
    #expect(log.count("HEAD /v2/app/manifests/v1") == 2)
    #expect(throttled.withLock { $0 } == [1])
    // The base delay is 10 ms: only Retry-After explains a wait of a second.
    #expect(waited >= .milliseconds(950))
}

@Test func temporaryFailuresAreRetriedBoundedly() async throws {
    let policy = RetryPolicy(maxRetries: 2, baseDelaySeconds: 0.01, maxDelaySeconds: 0.02)
    // 503 then 502 then 200: two retries suffice.
    let log = RequestLog()
    let flaky = try scriptedRegistry([(503, [:]), (502, [:])], log: log)
    defer { flaky.stop() }
    let client = RegistryClient(host: "127.0.0.1:\(flaky.port)", session: newSession(), allowPlainHTTP: true, retry: policy)
    #expect(try await client.headManifest(repository: "app", reference: "v1")?.digest == digestA)
    #expect(log.count("HEAD /v2/app/manifests/v1") == 3)

    // Always 503: 1 + 2 attempts, then the registry's error.
    let downLog = RequestLog()
    let down = try scriptedRegistry(Array(repeating: (503, [:]), count: 10), log: downLog)
    defer { down.stop() }
    let downClient = RegistryClient(host: "127.0.0.1:\(down.port)", session: newSession(), allowPlainHTTP: true, retry: policy)
    do {
        _ = try await downClient.headManifest(repository: "app", reference: "v1")
        Issue.record("503 forever was taken for an answer")
    } catch let error as RegistryError {
        #expect(error.status == 503)
    }
    #expect(downLog.count("HEAD /v2/app/manifests/v1") == 3)

    // Connections reset every time: as many attempts, then a network error. The scheme is settled by
    // the first 503, so resets are not mistaken for "this host does not speak TLS".
    let resetLog = RequestLog()
    let resets = try scriptedRegistry([(503, [:])] + Array(repeating: (0, [:]), count: 10), log: resetLog)
    defer { resets.stop() }
    let resetClient = RegistryClient(host: "127.0.0.1:\(resets.port)", session: newSession(), allowPlainHTTP: true, retry: policy)
    do {
        _ = try await resetClient.headManifest(repository: "app", reference: "v1")
        Issue.record("a reset connection was taken for an answer")
    } catch let error as RegistryError {
        #expect(error.kind == .network)
    }
    #expect(resetLog.count("HEAD /v2/app/manifests/v1") == 3)
}

/// A destination that takes uploads anonymously: POST opens a session, PUT ?digest= stores the body.
final class UploadRegistry: Sendable {
    let server: LoopbackServer
    let log = RequestLog()
    let stored = Locked<[String: [UInt8]]>([:])

    init() throws {
        let log = self.log, stored = self.stored
        server = try LoopbackServer { request, writer in
            guard request.pathWithoutQuery.hasPrefix("/v2/") else {
                try writer.respond(status: 400, text: "bad request")
                return
            }
            log.add(request)
            switch request.method {
            case "POST":
                try writer.respond(status: 202, headers: ["Location": "/v2/dst/blobs/uploads/u1?_state=s"])
            case "PUT":
                let digest = request.queryValue("digest") ?? ""
                stored.withLock { $0[digest] = request.body }
                try writer.respond(status: 201, headers: ["Docker-Content-Digest": digest])
            case "DELETE":
                try writer.respond(status: 204)
            default:
                try writer.respond(status: 200, json: "{}")
            }
        }
    }
}

@Test func blobSourceReauthorizesItsOwnGet() async throws {
    let bytes = Array("layer bytes that cross registries".utf8)
    let blob = Descriptor(mediaType: "application/octet-stream", digest: SHA256.digest(bytes), size: Int64(bytes.count))
    let source = try TokenRegistry(blob: bytes)
    defer { source.server.stop() }
    let destination = try UploadRegistry()
    defer { destination.server.stop() }
    let session = newSession()
    let sourceClient = source.client(session)
    let destClient = RegistryClient(host: "127.0.0.1:\(destination.server.port)", session: session, allowPlainHTTP: true)
    // The source learns its challenge and gets t1; then t1 expires.
    _ = try await sourceClient.headManifest(repository: "src", reference: "v1")
    source.refuse.withLock { $0 = { $0 == "t1" } }

    try await destClient.copyBlob(blob, from: sourceClient, sourceRepository: "src", to: "dst")
    #expect(destination.stored.withLock { $0[blob.digest] } == bytes)
    #expect(await sourceClient.tokenFetches == 2)
    #expect(await destClient.tokenFetches == 0)
    #expect(source.log.count("GET /v2/src/blobs/\(blob.digest)") == 2)   // t1 refused, t2 served

    // A source that refuses every token: one re-authorization, then its refusal; the upload is abandoned.
    source.refuse.withLock { $0 = { _ in true } }
    do {
        try await destClient.copyBlob(blob, from: sourceClient, sourceRepository: "src", to: "dst")
        Issue.record("a refused source GET was copied")
    } catch let error as RegistryError {
        #expect(error.kind == .unauthorized)
        #expect(error.message.contains(source.host))
    }
    #expect(await sourceClient.tokenFetches == 3)
    #expect(source.log.count("GET /v2/src/blobs/\(blob.digest)") == 4)
    // Each refused GET abandons the upload session opened alongside it: one in the first copy, two here.
    #expect(destination.log.count("DELETE /v2/dst/blobs/uploads/u1") == 3)
}
