import ClusterEmulator
import Foundation
import HTTPTransport
import TestSupport
import XCTest

/// `imgpromote promote` between two emulated OpenShift clusters: host-less names, one login per
/// side for the whole release, tokens revoked, no secret in any output.
extension ClusterPromotionTests {
    func testReleaseBetweenClustersLogsInOncePerSideAndRevokes() async throws {
        let file = dir.file("release.yaml")
        try FileSystem.write("""
        images:
          - source: shop/app:1.0
            tags: [1.0, stable]
          - source: shop/app:1.0
            destination: shop/web
            tags: [1.0]
        """, to: file)
        let junit = dir.file("release.xml")
        let r = try await imgpromote(["promote", "-f", file, "--json", "--junit", junit, "--src-username", "alice",
                                      "--dest-username", "alice"] + clusterFlags,
                                     env: ["IMGPROMOTE_SRC_PASSWORD": Self.alicePassword, "IMGPROMOTE_DEST_PASSWORD": Self.alicePassword])
        XCTAssertEqual(r.exitCode, 0, r.stderrText)
        let stable = try await prodDigest("stable")
        XCTAssertEqual(stable, expected!)
        let one = try await prodDigest("1.0")
        XCTAssertEqual(one, expected!)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout)) as? [String: Any])
        let images = try XCTUnwrap(object["images"] as? [[String: Any]])
        XCTAssertEqual(images.map { $0["status"] as? String }, ["promoted", "promoted"])
        XCTAssertEqual(images.map { $0["pinned"] as? String },
                       ["\(prod.registryHost)/shop/app@\(expected!)", "\(prod.registryHost)/shop/web@\(expected!)"])
        // Whichever repository received the blobs first, the other mounted them all: nothing crossed twice.
        let blobs = images.compactMap { $0["blobs"] as? [String: Any] }
        XCTAssertEqual(blobs.compactMap { $0["copied"] as? Int }.reduce(0, +), 6, "\(images)")
        XCTAssertEqual(blobs.compactMap { $0["mounted"] as? Int }.reduce(0, +), 6, "\(images)")
        XCTAssertEqual(dev.tokens().count, 1, "one login on dev for the whole release")
        XCTAssertEqual(prod.tokens().count, 1, "one login on prod for the whole release")
        XCTAssertEqual(activeTokens(dev).count + activeTokens(prod).count, 0, "every token created was revoked")
        assertNoSecrets(try FileSystem.readText(junit), context: "junit report")

        // The lock written by plan carries no secret either, and applying it is a no-op now.
        let lock = dir.file("release.lock.json")
        let plan = try await imgpromote(["plan", "-f", file, "-o", lock] + clusterFlags,
                                        env: ["IMGPROMOTE_SRC_TOKEN": Self.devPromoter, "IMGPROMOTE_DEST_TOKEN": Self.prodPromoter])
        XCTAssertEqual(plan.exitCode, 0, plan.stderrText)
        assertNoSecrets(try FileSystem.readText(lock), context: "lock")
        XCTAssertTrue(try FileSystem.readText(lock).contains(prod.registryHost))
        let apply = try await imgpromote(["apply", "--json", lock] + clusterFlags,
                                         env: ["IMGPROMOTE_SRC_TOKEN": Self.devPromoter, "IMGPROMOTE_DEST_TOKEN": Self.prodPromoter])
        XCTAssertEqual(apply.exitCode, 0, apply.stderrText)
        XCTAssertTrue(apply.stdoutText.contains("\"status\":\"present\""), apply.stdoutText)
    }

    func testReleasePreflightRefusalFailsOnlyThatImage() async throws {
        let file = dir.file("release.yaml")
        try FileSystem.write("""
        images:
          - source: shop/app:1.0
            destination: locked/app
          - source: shop/app:1.0
            tags: [3.0]
        """, to: file)
        let r = try await imgpromote(["promote", "-f", file, "--json", "--src-username", "alice", "--dest-username", "alice"] + clusterFlags,
                                     env: ["IMGPROMOTE_SRC_PASSWORD": Self.alicePassword, "IMGPROMOTE_DEST_PASSWORD": Self.alicePassword])
        XCTAssertEqual(r.exitCode, 4, r.stderrText)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout)) as? [String: Any])
        let images = try XCTUnwrap(object["images"] as? [[String: Any]])
        XCTAssertEqual(images.map { $0["status"] as? String }, ["failed", "promoted"])
        XCTAssertEqual((images[0]["error"] as? [String: Any])?["class"] as? String, "denied")
        XCTAssertEqual(images[0]["blobs"] as? [String: Any] == nil, true, "refused before any blob moved")
        let promoted = try await prodDigest("3.0")
        XCTAssertEqual(promoted, expected!)
        XCTAssertEqual(activeTokens(dev).count + activeTokens(prod).count, 0)
    }

    /// `promote --keep-tokens`: the login tokens outlive the run (the exit path once revoked them anyway:
    /// only copy and login told the process-wide token list to keep).
    func testReleaseKeepTokensKeepsTheLoginTokens() async throws {
        let file = dir.file("release-keep.yaml")
        try FileSystem.write("images:\n  - source: shop/app:1.0\n    tags: [4.0]\n", to: file)
        let r = try await imgpromote(["promote", "-f", file, "--keep-tokens", "--src-username", "alice", "--dest-username", "alice"]
                                        + clusterFlags,
                                     env: ["IMGPROMOTE_SRC_PASSWORD": Self.alicePassword, "IMGPROMOTE_DEST_PASSWORD": Self.alicePassword])
        XCTAssertEqual(r.exitCode, 0, r.stderrText)
        XCTAssertEqual(dev.tokens().count + prod.tokens().count, 2, "one login per side")
        XCTAssertEqual(activeTokens(dev).count + activeTokens(prod).count, 2, "--keep-tokens keeps both: \(r.stderrText)")
    }
}
