import Foundation
import TestSupport
import XCTest

/// The promotion record between two emulated OpenShift clusters: it names the user imgpromote acted as
/// on each side (from the cluster, not from the command line).
extension ClusterPromotionTests {
    func testRecordNamesTheOpenShiftUserOnEachSide() async throws {
        let r = try await imgpromote(["copy", "--record"] + clusterFlags + ["shop/app:1.0", "shop/app:rec"],
                                     env: ["IMGPROMOTE_SRC_USERNAME": "alice", "IMGPROMOTE_SRC_PASSWORD": Self.alicePassword,
                                           "IMGPROMOTE_DEST_TOKEN": Self.prodPromoter, "BUILD_NUMBER": "9"])
        XCTAssertEqual(r.exitCode, 0, r.stderrText)
        XCTAssertTrue(r.stderrText.contains("record: promotion record attached"), r.stderrText)
        let inspect = try await imgpromote(["inspect", "--json", "--cluster", prod.apiURL, "--ca-file", prod.caBundlePath,
                                            "shop/app:rec"], env: ["IMGPROMOTE_TOKEN": Self.prodPromoter])
        XCTAssertEqual(inspect.exitCode, 0, inspect.stderrText)
        let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(inspect.stdout)) as? [String: Any], inspect.stdoutText)
        let attachments = try XCTUnwrap(doc["attachments"] as? [[String: Any]])
        let records = try XCTUnwrap(attachments.compactMap { $0["records"] as? [[String: Any]] }.first, "\(attachments)")
        XCTAssertEqual(records.count, 1)
        let predicate = try XCTUnwrap((records[0]["record"] as? [String: Any])?["predicate"] as? [String: Any])
        let source = try XCTUnwrap(predicate["source"] as? [String: Any]), dest = try XCTUnwrap(predicate["destination"] as? [String: Any])
        XCTAssertEqual(source["user"] as? String, "alice")
        XCTAssertEqual(source["cluster"] as? String, dev.apiURL)
        XCTAssertEqual(dest["user"] as? String, "system:serviceaccount:ci:promoter")
        XCTAssertEqual(dest["cluster"] as? String, prod.apiURL)
        XCTAssertEqual(dest["digest"] as? String, expected!)
        XCTAssertEqual(dest["reference"] as? String, "\(prod.registryHost)/shop/app:rec")
        XCTAssertEqual((predicate["run"] as? [String: Any])?["buildNumber"] as? String, "9")
    }
}
