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
