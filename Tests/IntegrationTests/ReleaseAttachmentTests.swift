import Foundation
import HTTPTransport
import TestSupport
import XCTest

/// A release runs each image through the same supply-chain hooks as `copy`: the signature gate per
/// image, and signatures travelling before each image's tag.
extension AttachmentTests {
    func testReleaseGatesEachImageAndCarriesItsSignatures() async throws {
        let a = try await registry(), b = try await registry()
        let key = try await makeKey("release")
        let signed = TestImage.random(layerSizes: [4096], seed: 61)
        try await pushSigned(signed, to: a, repository: "dev/signed", tag: "1.0",
                             signatures: [try await signatureFile(digest: signed.digest, identity: "\(a.host)/dev/signed", key: key)])
        let unsigned = TestImage.random(layerSizes: [4096], seed: 62)
        try await ImageSeeder.pushAsync(unsigned, to: a.baseURL, repository: "dev/unsigned", tag: "1.0")
        let file = dir.file("release.yaml")
        try FileSystem.write("""
        source: {registry: "\(a.host)", project: dev}
        destination: {registry: "\(b.host)", project: prod}
        images:
          - source: unsigned:1.0
          - source: signed:1.0
        """, to: file)
        let bin = try XCTUnwrap(BuiltProducts.imgpromote)
        let r = try await run(bin, ["promote", "--src-tls-verify=false", "--dest-tls-verify=false", "--json",
                                    "--require-signature", key.publicPath, "-f", file])
        XCTAssertEqual(r.exitCode, 8, "the first failed image's class: \(r.stderrText)")
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout)) as? [String: Any])
        let images = try XCTUnwrap(object["images"] as? [[String: Any]])
        XCTAssertEqual(images.map { $0["status"] as? String }, ["failed", "promoted"])
        XCTAssertEqual((images[0]["error"] as? [String: Any])?["class"] as? String, "policy")
        let unsignedTags = try await tags(b, "prod/unsigned")
        XCTAssertEqual(unsignedTags, [], "refused before anything was written")
        let signedTags = try await tags(b, "prod/signed")
        XCTAssertEqual(Set(signedTags), ["1.0", sigTag(signed.digest)], "the signature travelled with the image")
    }
}

extension AttachmentTests {
    /// A release rerun with nothing new attached costs one destination HEAD per image (attachments on);
    /// a signature added to the source since travels on the next rerun and the reports count it.
    func testReleaseRerunCarriesLateSignaturesAtOneDestinationRequestPerImage() async throws {
        let a = try await registry(), b = try await registry()
        let key = try await makeKey("release")
        let count = 30
        var images: [TestImage] = []
        for i in 0..<count {
            let image = TestImage.random(layerSizes: [256], seed: UInt64(400 + i))
            try await ImageSeeder.pushAsync(image, to: a.baseURL, repository: "dev/app\(i)", tag: "1.0")
            images.append(image)
        }
        let file = dir.file("release.yaml")
        try FileSystem.write("""
        source: {registry: "\(a.host)", project: dev}
        destination: {registry: "\(b.host)", project: prod}
        images:
        \((0..<count).map { "  - source: app\($0):1.0" }.joined(separator: "\n"))
        """, to: file)
        let bin = try XCTUnwrap(BuiltProducts.imgpromote)
        func promote(_ extra: [String] = []) async throws -> (ProcessResult, source: Int, destination: Int) {
            try await Task.sleep(for: .milliseconds(300))
            let (sa, sb) = (a.accessLog().count, b.accessLog().count)
            let r = try await run(bin, ["promote", "--src-tls-verify=false", "--dest-tls-verify=false", "-f", file] + extra)
            try await Task.sleep(for: .milliseconds(300))
            return (r, a.accessLog().count - sa, b.accessLog().count - sb)
        }
        let (first, _, _) = try await promote()
        XCTAssertEqual(first.exitCode, 0, first.stderrText)

        let (again, source, destination) = try await promote(["--json"])
        XCTAssertEqual(again.exitCode, 0, again.stderrText)
        let images1 = try XCTUnwrap(try jsonObject(again)["images"] as? [[String: Any]])
        XCTAssertEqual(Set(images1.map { $0["status"] as? String }), ["present"])
        XCTAssertEqual(images1[0]["attachments"] as? [String: Int],
                       ["signatures": 0, "attestations": 0, "sboms": 0, "referrers": 0, "records": 0, "alreadyPresent": 0])
        XCTAssertEqual(destination, count, "one HEAD per image (target: at most 40 for 30 images)")
        // Source: the tag's manifest and the tag list per image, and one referrers query for the release
        // (docker-registry has no referrers API: its 404 spares the other images theirs).
        XCTAssertEqual(source, 2 * count + 1)
        let (none, noneSource, noneDestination) = try await promote(["--attachments", "none"])
        XCTAssertEqual(none.exitCode, 0, none.stderrText)
        XCTAssertEqual(noneDestination, count)
        XCTAssertEqual(noneSource, count)

        // Sign app1 after its promotion: the next rerun brings the signature, before nothing else changes.
        try await pushSigned(images[1], to: a, repository: "dev/app1", tag: "1.0",
                             signatures: [try await signatureFile(digest: images[1].digest, identity: "\(a.host)/dev/app1", key: key)])
        let (late, _, lateDestination) = try await promote(["--json"])
        XCTAssertEqual(late.exitCode, 0, late.stderrText)
        let images2 = try XCTUnwrap(try jsonObject(late)["images"] as? [[String: Any]])
        XCTAssertEqual(images2[1]["status"] as? String, "present")
        XCTAssertEqual((images2[1]["attachments"] as? [String: Int])?["signatures"], 1)
        XCTAssertEqual((images2[1]["attachments"] as? [String: Int])?["alreadyPresent"], 0)
        let signedTags = try await tags(b, "prod/app1")
        XCTAssertEqual(Set(signedTags), ["1.0", sigTag(images[1].digest)])
        let gate = try await copy("\(b.host)/prod/app1:1.0", "\(b.host)/check/app1:1.0", ["--require-signature", key.publicPath])
        XCTAssertEqual(gate.exitCode, 0, gate.stderrText)

        // Next rerun: the signature is there; the human line says so briefly.
        let (human, _, humanDestination) = try await promote()
        XCTAssertEqual(human.exitCode, 0, human.stderrText)
        XCTAssertTrue(human.stderrText.contains("present \(a.host)/dev/app1:1.0 -> \(b.host)/prod/app1@\(images[1].digest) tags 1.0 "
                                                + "(attachments: 1 signature (1 already there))"), human.stderrText)
        XCTAssertEqual(humanDestination, count + 1, "one HEAD per image and one read of app1's .sig")
        print("release no-op rerun, \(count) images: destination \(destination), source \(source); --attachments none: "
              + "\(noneDestination), \(noneSource); one image newly signed: destination \(lateDestination); signed and present: \(humanDestination)")
    }
}
