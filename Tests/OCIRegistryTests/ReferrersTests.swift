import HTTPTransport
import TestSupport
import Testing
@testable import OCIRegistry

/// The `Link` header of paginated referrers and tag lists: one rule for both pagers. Only a
/// `rel="next"` target on this registry is followed; a link elsewhere is refused, not silently dropped.
@Suite struct ReferrersLinkTests {
    static func next(_ link: String?, scheme: String? = "https") throws -> String? {
        try RegistryClient.nextPage(link: link, host: "r.example", scheme: scheme, repository: "a", listing: "referrers list")
    }

    @Test(arguments: [
        ("</v2/a/referrers/sha256:x?last=y>; rel=\"next\"", "/v2/a/referrers/sha256:x?last=y"),
        ("<https://r.example/v2/a/tags/list?n=2&last=b>; rel=\"next\"", "https://r.example/v2/a/tags/list?n=2&last=b"),
        ("<https://r.example/v2/x>;rel=next", "https://r.example/v2/x"),
        // The next entry, not the first one (RFC 8288 lists several; the old parser took the first `<…>`).
        ("</v2/a/referrers/sha256:x?last=p>; rel=\"prev\", </v2/a/referrers/sha256:x?last=n>; rel=\"next\"",
         "/v2/a/referrers/sha256:x?last=n"),
        ("<https://evil.example/v2/a>; rel=\"prev\", </v2/a?last=n>; rel=\"next\"", "/v2/a?last=n"),
    ])
    func followsNext(link: String, expected: String) throws {
        #expect(try Self.next(link) == expected)
    }

    @Test func plainHTTPIsFollowedOnAPlainHTTPRegistry() throws {
        #expect(try Self.next("<http://r.example/v2/x>; rel=\"next\"", scheme: "http") == "http://r.example/v2/x")
    }

    @Test(arguments: [nil, "", "garbage", "</v2/a>; rel=\"prev\"", ">backwards<; rel=\"next\"", "</v2/a>; rel=\"nextpage\""])
    func endsTheListing(link: String?) throws {
        #expect(try Self.next(link) == nil)
    }

    @Test(arguments: [
        "<https://evil.example/v2/a/referrers/sha256:x?last=y>; rel=\"next\"",
        "<https://r.example:8443/v2/a>; rel=\"next\"",            // another port is another host
        "<https://r.example@evil.example/v2/a>; rel=\"next\"",    // userinfo: the host is evil.example
        "<https://r.example.evil.example/v2/a>; rel=\"next\"",
        "<https://evil.example#@r.example/v2/a>; rel=\"next\"",
        "<//evil.example/v2/a>; rel=\"next\"",                    // scheme-relative
        "<http://r.example/v2/a>; rel=\"next\"",                  // HTTPS down to plain HTTP
        "<>; rel=\"next\"", "<ftp://r.example/v2/a>; rel=\"next\"", "<javascript:alert(1)>; rel=\"next\"",
        "<relative/path>; rel=\"next\"", "<../../v2/b>; rel=\"next\"",
    ])
    func refusesEverythingElse(link: String) {
        #expect(throws: RegistryError.self) { _ = try Self.next(link) }
    }
}

/// Both pagers against a registry that paginates, and one whose second page is on another host.
@Suite struct PagerTests {
    static let subject = "sha256:" + String(repeating: "a", count: 64)
    static func descriptor(_ n: Int) -> String {
        let digest = "sha256:" + String(repeating: String(n), count: 64)
        return #"{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\#(digest)","size":10}"#
    }

    /// Referrers in two pages, tags in two pages; page 2 of each is `next` (absolute on `nextHost`, or relative).
    static func registry(nextHost: String?) throws -> LoopbackServer {
        try LoopbackServer { request, writer in
            let base = nextHost.map { "http://\($0)" } ?? ""
            switch (request.pathWithoutQuery, request.query ?? "") {
            case ("/v2/", _):
                try writer.respond(status: 200, json: "{}")
            case ("/v2/a/referrers/\(subject)", ""):
                try writer.respond(status: 200, headers: ["Link": "<\(base)/v2/a/referrers/\(subject)?last=1>; rel=\"next\""],
                                   json: #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[\#(descriptor(1))]}"#)
            case ("/v2/a/referrers/\(subject)", "last=1"):
                try writer.respond(status: 200,
                                   json: #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[\#(descriptor(2))]}"#)
            case ("/v2/a/tags/list", let q) where !q.contains("last="):
                try writer.respond(status: 200, headers: ["Link": "<\(base)/v2/a/tags/list?n=1&last=one>; rel=\"next\""],
                                   json: #"{"name":"a","tags":["one"]}"#)
            case ("/v2/a/tags/list", _):
                try writer.respond(status: 200, json: #"{"name":"a","tags":["sha256-\#(String(repeating: "a", count: 64)).sig"]}"#)
            default:
                try writer.respond(status: 404, json: #"{"errors":[{"code":"NAME_UNKNOWN","message":"unknown"}]}"#)
            }
        }
    }

    @Test func followsRelativePages() async throws {
        let server = try Self.registry(nextHost: nil)
        defer { server.stop() }
        let client = RegistryClient(host: server.authority, session: newSession(), allowPlainHTTP: true)
        guard case .listed(let all) = try await client.referrers(repository: "a", digest: Self.subject) else {
            Issue.record("referrers API not seen")
            return
        }
        #expect(all.map(\.digest) == ["sha256:" + String(repeating: "1", count: 64), "sha256:" + String(repeating: "2", count: 64)])
        #expect(try await client.tagList(repository: "a", pageSize: 1) == ["one", "sha256-\(String(repeating: "a", count: 64)).sig"])
    }

    @Test func refusesANextPageOnAnotherHost() async throws {
        let elsewhere = Locked(0)
        let other = try LoopbackServer { _, writer in
            elsewhere.withLock { $0 += 1 }
            try writer.respond(status: 200, json: #"{"schemaVersion":2,"manifests":[],"tags":[]}"#)
        }
        defer { other.stop() }
        let server = try Self.registry(nextHost: other.authority)
        defer { server.stop() }
        let client = RegistryClient(host: server.authority, session: newSession(), allowPlainHTTP: true)
        await #expect(throws: RegistryError.self) { _ = try await client.referrers(repository: "a", digest: Self.subject) }
        do {
            _ = try await client.tagList(repository: "a", pageSize: 1)
            Issue.record("a tag list page on another host was followed")
        } catch let error as RegistryError {
            #expect(error.message.contains("tag list links to another host"), "\(error.message)")
        }
        #expect(elsewhere.withLock { $0 } == 0, "no request reached the other host")
    }
}
