import HTTPTransport
import TestSupport
import Testing
@testable import OCIRegistry

/// What a registry's first answers teach the client, against an in-process plain-HTTP server.
@Suite struct DiscoveryTests {
    /// A client for `server`'s host on a side allowed plain HTTP (as `--src-tls-verify=false` makes it).
    func insecureClient(_ server: LoopbackServer) -> RegistryClient {
        RegistryClient(host: server.authority, session: newSession(), tls: TLSOptions(verify: false), allowPlainHTTP: true)
    }

    /// A release's first wave: many requests before the scheme is known. One of them races TLS against
    /// plain HTTP; the others wait for its answer instead of each opening a TLS connection the plain
    /// registry has to refuse.
    @Test func concurrentFirstRequestsRaceTheSchemeOnce() async throws {
        let server = try LoopbackServer(options: .init(name: "plain-registry")) { request, writer in
            try writer.respond(json: #"{"name":"a","tags":["1.0"]}"#)
        }
        defer { server.stop() }
        let client = insecureClient(server)
        let count = 24
        let lists = try await withThrowingTaskGroup(of: [String].self) { group in
            for i in 0..<count { group.addTask { try await client.tagList(repository: "dev/app\(i)") } }
            return try await group.reduce(into: [[String]]()) { $0.append($1) }
        }
        #expect(lists.count == count && lists.allSatisfy { $0 == ["1.0"] })
        #expect(client.knownScheme == "http")
        let stats = server.statistics
        #expect(stats.requests == count, "every request answered over plain HTTP once")
        // Connections: the plain ones (at most one per request) plus the one TLS hello.
        #expect(stats.connectionsAccepted <= count + 1, "\(stats)")
    }

    /// docker-registry 2.8 has no referrers route: a plain 404 speaks for the whole registry. A
    /// NAME_UNKNOWN 404 speaks for one repository only; 405 and 501 for the registry.
    @Test(arguments: [
        (404, "404 page not found", "registry"),
        (404, #"{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}"#, "repository"),
        (405, "", "registry"),
        (501, "", "registry"),
        (400, "", "repository"),
    ])
    func referrersUnsupportedSaysForWhom(status: Int, body: String, scope: String) async throws {
        let server = try LoopbackServer(options: .init(name: "referrers")) { request, writer in
            try writer.respond(status: status, text: body)
        }
        defer { server.stop() }
        let answer = try await insecureClient(server).referrers(repository: "dev/a", digest: "sha256:" + String(repeating: "a", count: 64))
        switch answer {
        case .unsupportedByRegistry: #expect(scope == "registry")
        case .unsupported: #expect(scope == "repository")
        case .listed: Issue.record("\(status) is not a listing")
        }
    }

    /// A registry with the API answers 200 with an (empty) index: that is support, not absence.
    @Test func emptyReferrersIndexIsSupport() async throws {
        let server = try LoopbackServer(options: .init(name: "referrers")) { request, writer in
            var headers = HeaderFields()
            headers.set("Content-Type", MediaType.ociIndex)
            try writer.respond(status: 200, headers: headers, text: #"{"schemaVersion":2,"mediaType":"\#(MediaType.ociIndex)","manifests":[]}"#)
        }
        defer { server.stop() }
        let answer = try await insecureClient(server).referrers(repository: "dev/a", digest: "sha256:" + String(repeating: "b", count: 64))
        guard case .listed(let list) = answer else { Issue.record("not listed: \(answer)"); return }
        #expect(list.isEmpty)
    }
}
