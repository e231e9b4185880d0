import HTTPTransport
import TestSupport
import Testing
@testable import OCIRegistry

/// Refusals of sent credentials: every `WWW-Authenticate` form the OpenShift protocol notes list (§5.2,
/// §7.10, §8) and docker-registry's, classified and handed to the credentials' provider.
struct RefusalHeaderCase: Sendable, CustomTestStringConvertible {
    var status: Int
    var header: String?
    var body: String
    var kind: RegistryError.Kind
    var scheme: String?
    var realm: String?
    var challengeError: String?
    var testDescription: String { "\(status) \(header ?? "-")" }
}

private let unauthorizedBody = #"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":[{"Type":"repository","Class":"","Name":"prod/app","Action":"push"}]}]}"#

private let refusalCases: [RefusalHeaderCase] = [
    // A rejected token and a valid token without the role: the same answer (notes §5.2, §7.10).
    .init(status: 401, header: #"Basic realm=openshift,error="access denied""#, body: unauthorizedBody, kind: .unauthorized,
          scheme: "basic", realm: "openshift", challengeError: "access denied"),
    // Basic with an empty password.
    .init(status: 401, header: #"Basic realm=openshift,error="failed to decode credentials""#, body: unauthorizedBody,
          kind: .unauthorized, scheme: "basic", realm: "openshift", challengeError: "failed to decode credentials"),
    // No (usable) credentials: the token realm, no service, no scope.
    .init(status: 401, header: #"Bearer realm="https://registry.apps.example.com/openshift/token""#, body: unauthorizedBody,
          kind: .unauthorized, scheme: "bearer", realm: "https://registry.apps.example.com/openshift/token", challengeError: nil),
    // The OAuth server's own challenge (quoted realm).
    .init(status: 401, header: #"Basic realm="openshift""#, body: "", kind: .unauthorized, scheme: "basic", realm: "openshift",
          challengeError: nil),
    // The token endpoint's bare 401 (no header, empty body).
    .init(status: 401, header: nil, body: "", kind: .unauthorized, scheme: nil, realm: nil, challengeError: nil),
    // docker-registry's token auth: a token without the scope.
    .init(status: 401, header: #"Bearer realm="https://auth.example.com/token",service="registry",scope="repository:prod/app:pull,push",error="insufficient_scope""#,
          body: unauthorizedBody, kind: .unauthorized, scheme: "bearer", realm: "https://auth.example.com/token",
          challengeError: "insufficient_scope"),
    // OpenShift's DENIED: the stream cannot be created as the user, or a quota (notes §5.4, §7.12).
    .init(status: 403, header: nil, body: #"{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}"#,
          kind: .denied, scheme: nil, realm: nil, challengeError: nil),
]

@Test(arguments: refusalCases)
func refusalIsClassifiedWithItsChallenge(_ c: RefusalHeaderCase) {
    var headers = HTTPHeaders()
    if let h = c.header { headers.set("WWW-Authenticate", h) }
    let response = HTTPResponse(status: c.status, headers: headers, body: Array(c.body.utf8), url: "https://r/v2/prod/app/blobs/uploads/")
    let error = RegistryError.refused(response: response, host: "r", what: "start upload to prod/app",
                                      repository: "prod/app", actions: ["pull", "push"])
    #expect(error.kind == c.kind)
    #expect(error.status == c.status)
    #expect(error.refusal?.repository == "prod/app")
    #expect(error.refusal?.action == .push)
    #expect(error.refusal?.challenges.first?.scheme == c.scheme)
    #expect(error.refusal?.challenges.first?.realm == c.realm)
    #expect(error.refusal?.challengeError == c.challengeError)
    let pull = RegistryError.refused(response: response, host: "r", what: "GET manifest", repository: "prod/app", actions: ["pull"])
    #expect(pull.refusal?.action == .pull)
}

/// A provider that records refusals and answers with a scripted verdict.
final class ScriptedProvider: RefusalInterpreting, Sendable {
    let tokens: Locked<[String]>
    let seen = Locked<[RegistryError]>([])
    let verdict: @Sendable (RegistryError, Int) -> RefusalVerdict

    init(tokens: [String], verdict: @escaping @Sendable (RegistryError, Int) -> RefusalVerdict) {
        self.tokens = Locked(tokens)
        self.verdict = verdict
    }

    func credential(host: String, repository: String?) async throws -> RegistryCredential? {
        RegistryCredential(username: "user", password: tokens.withLock { $0[0] })
    }

    func registryRefused(_ error: RegistryError) async -> RefusalVerdict {
        let n = seen.withLock { s -> Int in
            s.append(error)
            return s.count
        }
        let v = verdict(error, n)
        if case .renewed = v { tokens.withLock { if $0.count > 1 { $0.removeFirst() } } }
        return v
    }
}

struct Denied: Error, Equatable { var what: String }

/// An OpenShift-like registry: the token is the credential, `good` may pull and push, `puller` only pull.
func openShiftLikeRegistry() throws -> LoopbackServer {
    let port = Locked(0)
    let server = try LoopbackServer { request, writer in
        let path = String(request.path.prefix { $0 != "?" })
        let auth = request.headers["Authorization"] ?? ""
        if path == "/openshift/token" {
            guard auth.hasPrefix("Basic "), let raw = Base64.decode(String(auth.dropFirst(6))),
                  case let text = String(decoding: raw, as: UTF8.self), let colon = text.firstIndex(of: ":") else {
                try writer.respond(status: 401)
                return
            }
            let token = String(text[text.index(after: colon)...])
            guard token == "good" || token == "puller" else {
                try writer.respond(status: 401)
                return
            }
            try writer.respond(status: 200, json: #"{"token":"\#(token)","access_token":"\#(token)"}"#)
            return
        }
        let token = auth.hasPrefix("Bearer ") ? String(auth.dropFirst(7)) : ""
        if token.isEmpty {
            try writer.respond(status: 401, headers: ["WWW-Authenticate": #"Bearer realm="http://127.0.0.1:\#(port.withLock { $0 })/openshift/token""#],
                               json: #"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}"#)
            return
        }
        let push = request.method != "GET" && request.method != "HEAD"
        if (token != "good" && token != "puller") || (push && token == "puller") {
            try writer.respond(status: 401, headers: ["WWW-Authenticate": #"Basic realm=openshift,error="access denied""#],
                               json: unauthorizedBody)
            return
        }
        if path == "/v2/" { try writer.respond(status: 200, json: "{}"); return }
        if request.method == "POST" {
            try writer.respond(status: 202, headers: ["Location": "/v2/prod/app/blobs/uploads/u1"])
            return
        }
        try writer.respond(status: 404, json: #"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#)
    }
    port.withLock { $0 = server.port }
    return server
}

@Test func providerExplainsARefusedPush() async throws {
    let server = try openShiftLikeRegistry()
    defer { server.stop() }
    let provider = ScriptedProvider(tokens: ["puller"]) { error, _ in .replace(Denied(what: error.refusal?.repository ?? "?")) }
    let client = RegistryClient(host: "127.0.0.1:\(server.port)", session: newSession(), allowPlainHTTP: true, credentials: provider)
    await #expect(throws: Denied(what: "prod/app")) { _ = try await client.startUpload(repository: "prod/app") }
    let seen = provider.seen.withLock { $0 }
    #expect(seen.count == 1)
    #expect(seen.first?.refusal?.action == .push)
    #expect(seen.first?.refusal?.challengeError == "access denied")
    #expect(seen.first?.status == 401)
    // Pulling is allowed: no refusal, a plain 404.
    await #expect(throws: RegistryError.self) { _ = try await client.manifest(repository: "prod/app", reference: "1") }
    #expect(provider.seen.withLock { $0.count } == 1)
}

@Test func renewedCredentialsRepeatTheRequestOnce() async throws {
    let server = try openShiftLikeRegistry()
    defer { server.stop() }
    // "expired" is refused everywhere (the token endpoint too); the provider renews it to "good".
    let provider = ScriptedProvider(tokens: ["expired", "good"]) { _, n in n == 1 ? .renewed : .unchanged }
    let session = newSession()   // both clients share discovery, as the CLI's do
    let client = RegistryClient(host: "127.0.0.1:\(server.port)", session: session, allowPlainHTTP: true, credentials: provider)
    let location = try await client.startUpload(repository: "prod/app")
    #expect(location.hasSuffix("/v2/prod/app/blobs/uploads/u1"))
    #expect(provider.seen.withLock { $0.count } == 1)

    // A provider that keeps saying "renewed" gets one repeat, then the registry's error.
    let stubborn = ScriptedProvider(tokens: ["expired"]) { _, _ in .renewed }
    let other = RegistryClient(host: "127.0.0.1:\(server.port)", session: session, allowPlainHTTP: true, credentials: stubborn)
    do {
        _ = try await other.startUpload(repository: "prod/app")
        Issue.record("a refused token was accepted")
    } catch let e as RegistryError {
        #expect(e.kind == .unauthorized)
        #expect(e.refusal != nil)
    }
    let refusals = stubborn.seen.withLock { $0.map(\.refusal) }
    #expect(refusals.map { $0?.afterRenewal } == [false, true])
}

@Test func plainCredentialsKeepTheRegistryError() async throws {
    let server = try openShiftLikeRegistry()
    defer { server.stop() }
    let client = RegistryClient(host: "127.0.0.1:\(server.port)", session: newSession(), allowPlainHTTP: true,
                                credentials: StaticCredentials(RegistryCredential(username: "u", password: "puller")))
    do {
        _ = try await client.startUpload(repository: "prod/app")
        Issue.record("push allowed")
    } catch let e as RegistryError {
        #expect(e.kind == .unauthorized)
        #expect(e.refusal?.challengeError == "access denied")
        #expect(e.refusal?.repository == "prod/app")
    }
    try await client.verifyCredentials()
}
