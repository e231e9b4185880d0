import HTTPTransport
import OCIRegistry
@testable import SupplyChain
import XCTest

/// The release-wide memory of a registry's referrers API: after one answer that speaks for the whole
/// registry, no image asks again; any other answer leaves every image to ask for itself.
final class ReferrersSupportTests: XCTestCase {
    /// `count` lookups at once on one host; the first query answers `answer` after a pause, the others
    /// (if asked) answer an empty listing. Returns how many queries were sent and what each lookup got.
    func lookups(_ count: Int, first answer: @escaping @Sendable () throws -> RegistryClient.ReferrersAnswer)
        async throws -> (queries: Int, skipped: Int) {
        let listings = TagListings()
        let sent = Locked(0)
        let query: @Sendable () async throws -> RegistryClient.ReferrersAnswer = {
            let n = sent.withLock { n in n += 1; return n }
            if n == 1 {
                try await Task.sleep(for: .milliseconds(50))
                return try answer()
            }
            return .listed([])
        }
        let results = await withTaskGroup(of: RegistryClient.ReferrersAnswer?.self) { group in
            for _ in 0..<count {
                group.addTask {
                    do { return try await listings.referrers(host: "r.example", query: query) } catch { return .unsupported }
                }
            }
            return await group.reduce(into: [RegistryClient.ReferrersAnswer?]()) { $0.append($1) }
        }
        // A later lookup, after the answer: asks only if the registry was not found without the API.
        let later = try await listings.referrers(host: "r.example", query: query)
        return (sent.withLock { $0 }, (results + [later]).filter { $0 == nil }.count)
    }

    func testAnAnswerForTheWholeRegistrySparesEveryOtherImageItsQuery() async throws {
        let (queries, skipped) = try await lookups(10) { .unsupportedByRegistry }
        XCTAssertEqual(queries, 1)
        XCTAssertEqual(skipped, 10, "the nine that waited and the later one")
    }

    func testARegistryWithTheAPIIsAskedPerImage() async throws {
        let (queries, skipped) = try await lookups(10) { .listed([]) }   // 200 with an empty index: supported
        XCTAssertEqual(queries, 11)
        XCTAssertEqual(skipped, 0)
    }

    func testAnAnswerForOneRepositoryLeavesTheOthersToAsk() async throws {
        let (queries, skipped) = try await lookups(10) { .unsupported }   // e.g. 404 NAME_UNKNOWN
        XCTAssertEqual(queries, 11)
        XCTAssertEqual(skipped, 0)
    }

    func testAFailedFirstQueryLeavesTheOthersToAsk() async throws {
        let (queries, skipped) = try await lookups(10) { throw RegistryError(.denied, "no") }
        XCTAssertEqual(queries, 11)
        XCTAssertEqual(skipped, 0)
    }
}
