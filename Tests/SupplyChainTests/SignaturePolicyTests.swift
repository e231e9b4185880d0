import FoundationEssentials
import HTTPTransport
import SupplyChain
import TestSupport
import XCTest

/// Files under Fixtures/ (next to this source file).
func fixture(_ name: String) throws -> [UInt8] {
    let dir = String(#filePath.prefix(upTo: #filePath.lastIndex(of: "/")!))
    return try XCTUnwrap(LocalFile.read(dir + "/Fixtures/" + name, limit: 1 << 20), "missing fixture \(name)")
}

func fixtureText(_ name: String) throws -> String { String(decoding: try fixture(name), as: UTF8.self) }

/// The gate's decisions on signatures real cosign (and containers/image) made: containers/image's
/// test fixtures, with the outcomes containers/image's own tests expect.
final class SignaturePolicyTests: XCTestCase {
    func cosignKey() throws -> PublicKey { try PublicKey(pem: try fixtureText("containers-image/cosign.pub")) }
    func layer(_ name: String) throws -> SignatureLayer { try SignatureLayer(containersImageFile: try fixture("containers-image/" + name)) }
    func digestOf(_ name: String) throws -> String { SHA256.digest(try fixture("containers-image/" + name)) }

    func testCosignPublicKeyParses() throws {
        let key = try cosignKey()
        XCTAssertEqual(key.algorithm, "ECDSA P-256")
        XCTAssertTrue(key.fingerprint.hasPrefix("sha256:"))
    }

    func testValidCosignSignaturesPass() throws {
        let policy = SignaturePolicy(keys: [try cosignKey()])
        let digest = try digestOf("valid.manifest.json")
        XCTAssertEqual(digest, "sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00")
        for name in ["valid.signature-1", "valid-2.signature-2", "valid-with-tag.signature-1"] {
            let l = try layer(name)
            XCTAssertEqual(l.mediaType, Cosign.simpleSigningMediaType)
            XCTAssertEqual(policy.evaluate(l, digest: digest), .accepted(key: try cosignKey().fingerprint), name)
        }
        if case .failure(let r) = policy.check([try layer("valid.signature-1")], digest: digest, subject: "img") {
            XCTFail("refused: \(r)")
        }
    }

    func testIdentityIsChecked() throws {
        let digest = try digestOf("valid.manifest.json")
        let good = SignaturePolicy(keys: [try cosignKey()], identity: "192.168.64.2:5000/cosign-signed-single-sample")
        XCTAssertEqual(good.evaluate(try layer("valid.signature-1"), digest: digest), .accepted(key: try cosignKey().fingerprint))
        // containers/image signs with the tag in docker-reference: the repository still matches.
        let tagged = SignaturePolicy(keys: [try cosignKey()], identity: "192.168.64.2:5000/skopeo-signed")
        XCTAssertEqual(tagged.evaluate(try layer("valid-with-tag.signature-1"), digest: digest), .accepted(key: try cosignKey().fingerprint))
        let other = SignaturePolicy(keys: [try cosignKey()], identity: "192.168.64.2:5000/elsewhere")
        guard case .failure(let r) = other.check([try layer("valid.signature-1")], digest: digest, subject: "img") else {
            return XCTFail("accepted a signature for another repository")
        }
        XCTAssertEqual(r.reason, .otherIdentity)
        XCTAssertTrue(r.message.contains("cosign-signed-single-sample"), r.message)
    }

    func testModifiedManifestFailsWithAnotherDigest() throws {
        let policy = SignaturePolicy(keys: [try cosignKey()])
        let digest = try digestOf("modified.manifest.json")
        XCTAssertNotEqual(digest, try digestOf("valid.manifest.json"))
        guard case .failure(let r) = policy.check([try layer("valid.signature-1")], digest: digest, subject: "img") else {
            return XCTFail("accepted a signature over another digest")
        }
        XCTAssertEqual(r.reason, .otherDigest)
        XCTAssertTrue(r.message.contains("sha256:634a8f35"), r.message)
    }

    func testOtherAttachmentIsNoSignature() throws {
        let policy = SignaturePolicy(keys: [try cosignKey()])
        let l = try layer("other-attachment.signature-1")
        XCTAssertEqual(l.mediaType, "text/plain")
        guard case .failure(let r) = policy.check([l], digest: try digestOf("valid.manifest.json"), subject: "img") else {
            return XCTFail("accepted a text/plain attachment as a signature")
        }
        XCTAssertEqual(r.reason, .noSignature)
        XCTAssertTrue(r.message.contains("text/plain"), r.message)
    }

    func testUnknownKeyFailsAsOtherKey() throws {
        let policy = SignaturePolicy(keys: [try cosignKey()])
        let digest = try digestOf("valid.manifest.json")
        XCTAssertEqual(policy.evaluate(try layer("unknown-cosign-key.signature"), digest: digest), .unverified)
        guard case .failure(let r) = policy.check([try layer("unknown-cosign-key.signature")], digest: digest, subject: "img") else {
            return XCTFail("accepted a signature by an unknown key")
        }
        XCTAssertEqual(r.reason, .otherKey)
        // Mixed: one unknown, one valid → passes (containers/image's dir-img-cosign-mixed).
        if case .failure(let r) = policy.check([try layer("unknown-cosign-key.signature"), try layer("valid.signature-1")],
                                               digest: digest, subject: "img") {
            XCTFail("mixed signatures refused: \(r)")
        }
    }

    func testNoLayersIsNoSignature() throws {
        let policy = SignaturePolicy(keys: [try cosignKey()])
        guard case .failure(let r) = policy.check([], digest: try digestOf("valid.manifest.json"), subject: "img") else {
            return XCTFail("accepted nothing")
        }
        XCTAssertEqual(r.reason, .noSignature)
    }

    func testTamperedPayloadOrSignatureFails() throws {
        let policy = SignaturePolicy(keys: [try cosignKey()])
        let digest = try digestOf("valid.manifest.json")
        var l = try layer("valid.signature-1")
        l.payload[l.payload.count / 2] ^= 1
        XCTAssertEqual(policy.evaluate(l, digest: digest), .unverified)
        l = try layer("valid.signature-1")
        l.annotations[Cosign.signatureAnnotation] = "not base64!"
        XCTAssertEqual(policy.evaluate(l, digest: digest), .unverified)
        l.annotations[Cosign.signatureAnnotation] = nil
        XCTAssertEqual(policy.evaluate(l, digest: digest), .unverified)
        l.annotations[Cosign.signatureAnnotation] = Data(repeating: 0x30, count: 70).base64EncodedString()
        XCTAssertEqual(policy.evaluate(l, digest: digest), .unverified)
    }

    func testPublicKeyParserRejectsNastyInput() throws {
        for bad in ["", "hello", "-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n",
                    "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
                    "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n",
                    "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"] {
            XCTAssertThrowsError(try PublicKey(pem: bad), bad)
        }
        // Text around the block (comments, CRLF) is fine.
        let pem = try fixtureText("containers-image/cosign.pub")
        let noisy = "comment line\r\n" + pem.split(separator: "\n").joined(separator: "\r\n") + "\r\ntrailer"
        XCTAssertEqual(try PublicKey(pem: noisy).fingerprint, try cosignKey().fingerprint)
    }

    func testCosignTagNames() {
        let d = "sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00"
        XCTAssertEqual(Cosign.tag(for: d, .signature), "sha256-634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00.sig")
        XCTAssertEqual(Cosign.parseTag(Cosign.tag(for: d, .attestation))?.digest, d)
        XCTAssertEqual(Cosign.parseTag(Cosign.tag(for: d, .sbom))?.suffix, .sbom)
        XCTAssertNil(Cosign.parseTag(Cosign.fallbackTag(for: d))?.suffix)
        XCTAssertEqual(Cosign.parseTag(Cosign.fallbackTag(for: d))?.digest, d)
        for bad in ["latest", "sha256-abc.sig", "sha256-" + String(repeating: "G", count: 64), Cosign.fallbackTag(for: d) + ".foo",
                    "sha512-" + String(repeating: "a", count: 64)] {
            XCTAssertNil(Cosign.parseTag(bad), bad)
        }
    }
}
