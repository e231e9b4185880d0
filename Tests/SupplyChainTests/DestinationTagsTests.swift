import HTTPTransport
import OCIRegistry
@testable import SupplyChain
import TestSupport
import XCTest

/// What the attachment copier learns of the destination's tags: every page of the listing (a cosign tag on
/// page 2 is not "absent"), and nothing (per-tag lookups) when the pagination leaves the registry.
final class DestinationTagsTests: XCTestCase {
    /// One HTTP client for these tests; each test gets its own session (no shared discovery).
    static let http = HTTPClient()
    static let signatureTag = "sha256-" + String(repeating: "b", count: 64) + ".sig"

    /// `/v2/prod/app/tags/list` in pages of one tag; page 2 linked relative, or absolute on `nextHost`.
    func registry(nextHost: String? = nil, pages: [[String]]) throws -> (LoopbackServer, Locked<Int>) {
        let listings = Locked(0)
        let server = try LoopbackServer { request, writer in
            if request.pathWithoutQuery == "/v2/" { return try writer.respond(status: 200, json: "{}") }
            if request.pathWithoutQuery.hasSuffix("/tags/list") { listings.withLock { $0 += 1 } }
            guard request.pathWithoutQuery == "/v2/prod/app/tags/list" else {
                return try writer.respond(status: 404, json: #"{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}"#)
            }
            let page = request.queryItems.first { $0.name == "page" }.flatMap { Int($0.value) } ?? 0
            var headers: HeaderFields = [:]
            if page + 1 < pages.count {
                headers.set("Link", "<\(nextHost.map { "http://" + $0 } ?? "")/v2/prod/app/tags/list?n=1&page=\(page + 1)>; rel=\"next\"")
            }
            let tags = pages[page].map { "\"\($0)\"" }.joined(separator: ",")
            try writer.respond(status: 200, headers: headers, json: #"{"name":"prod/app","tags":[\#(tags)]}"#)
        }
        return (server, listings)
    }

    func copier(_ server: LoopbackServer, repository: String = "prod/app") -> AttachmentCopier {
        let client = RegistryClient(host: server.authority, session: RegistrySession(http: Self.http), allowPlainHTTP: true)
        return AttachmentCopier(source: PromotionSide(client: client, repository: "dev/app"),
                                destination: PromotionSide(client: client, repository: repository))
    }

    func testEveryPageCounts() async throws {
        let (server, listings) = try registry(pages: [["1.0"], ["1.1"], [Self.signatureTag]])
        defer { server.stop() }
        let absent = try await copier(server).destinationTags()
        let isAbsent = try XCTUnwrap(absent, "a paginated listing is still a listing")
        XCTAssertFalse(isAbsent(Self.signatureTag), "the tag on page 3 is there")
        XCTAssertFalse(isAbsent("1.0"))
        XCTAssertTrue(isAbsent("sha256-" + String(repeating: "c", count: 64) + ".sig"))
        XCTAssertEqual(listings.withLock { $0 }, 3)
    }

    func testUnknownRepositoryHasNoTags() async throws {
        let (server, _) = try registry(pages: [["1.0"]])
        defer { server.stop() }
        let absent = try await copier(server, repository: "prod/new").destinationTags()
        XCTAssertEqual(absent?(Self.signatureTag), true)
    }

    func testPaginationToAnotherHostFallsBackToLookups() async throws {
        let (other, elsewhere) = try registry(pages: [[], [], []])
        defer { other.stop() }
        let (server, listings) = try registry(nextHost: other.authority, pages: [["1.0"], [Self.signatureTag]])
        defer { server.stop() }
        let absent = try await copier(server).destinationTags()
        XCTAssertNil(absent, "no listing: every tag is looked up")
        XCTAssertEqual(listings.withLock { $0 }, 1)
        XCTAssertEqual(elsewhere.withLock { $0 }, 0, "nothing sent to the other host")
    }
}
