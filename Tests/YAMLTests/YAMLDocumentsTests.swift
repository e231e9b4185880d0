import XCTest
import YAML

final class YAMLDocumentsTests: XCTestCase {
    private func one(_ text: String, file: StaticString = #filePath, line: UInt = #line) throws -> YAMLNode {
        let docs = try YAMLDocuments.parse(text)
        XCTAssertEqual(docs.count, 1, "documents", file: file, line: line)
        return try XCTUnwrap(docs.first, file: file, line: line)
    }

    private func error(_ text: String) -> YAMLError? {
        do {
            _ = try YAMLDocuments.parse(text)
            return nil
        } catch {
            return error
        }
    }

    func testBlockMappingsSequencesAndPositions() throws {
        let root = try one("""
        # comment
        images:
          - source: shop/app:1.4
            tags: [a, "b", 'c']
          - source: shop/web@sha256:00
        """)
        let images = try XCTUnwrap(root["images"]?.sequence)
        XCTAssertEqual(images.count, 2)
        XCTAssertEqual(images[0]["source"]?.scalar, "shop/app:1.4")
        XCTAssertEqual(images[0]["tags"]?.sequence?.compactMap(\.scalar), ["a", "b", "c"])
        XCTAssertEqual(images[1].line, 5)
        XCTAssertEqual(images[1]["source"]?.line, 5)
        XCTAssertEqual(images[1]["source"]?.column, 13)
        XCTAssertEqual(root["images"]?.line, 3, "a block sequence starts at its first dash")
    }

    func testScalarStylesAndNulls() throws {
        let root = try one("""
        a:
        b: ~
        c: null
        d: "null"
        e: !!null ''
        f: |
          line one
          line two
        g: >-
          folded
          text
        h: "tab\\there \\u00e9"
        """)
        XCTAssertEqual(root["a"]?.isNull, true)
        XCTAssertEqual(root["b"]?.isNull, true)
        XCTAssertEqual(root["c"]?.isNull, true)
        XCTAssertEqual(root["d"]?.isNull, false, "a quoted null is a string")
        XCTAssertEqual(root["d"]?.scalar, "null")
        XCTAssertEqual(root["e"]?.isNull, true)
        XCTAssertEqual(root["f"]?.scalar, "line one\nline two\n")
        XCTAssertEqual(root["f"]?.isPlainScalar, false)
        XCTAssertEqual(root["g"]?.scalar, "folded text")
        XCTAssertEqual(root["h"]?.scalar, "tab\there é")
    }

    func testJSONIsYAML() throws {
        let root = try one(#"{"apiVersion": "v1", "clusters": [{"name": "a", "cluster": {"server": "https://x:6443"}}]}"#)
        XCTAssertEqual(root["clusters"]?.sequence?.first?["cluster"]?["server"]?.scalar, "https://x:6443")
    }

    func testAnchorsAliasesAndMergeKeys() throws {
        let root = try one("""
        defaults: &defaults
          user: alice
          namespace: dev
        other: &other
          namespace: other
          insecure: true
        a:
          <<: *defaults
          namespace: prod
        b:
          namespace: qa
          <<: [*other, *defaults]
        c: *defaults
        """)
        let a = try XCTUnwrap(root["a"])
        XCTAssertEqual(a["user"]?.scalar, "alice")
        XCTAssertEqual(a["namespace"]?.scalar, "prod", "an explicit key wins over a merged one")
        XCTAssertEqual(a.mapping?.count, 2)
        let b = try XCTUnwrap(root["b"])
        XCTAssertEqual(b["namespace"]?.scalar, "qa", "explicit wins even when written before <<")
        XCTAssertEqual(b["insecure"]?.scalar, "true")
        XCTAssertEqual(b["user"]?.scalar, "alice")
        XCTAssertEqual(b.mapping?.count, 3, "the earlier merged mapping wins; no duplicates")
        XCTAssertEqual(root["c"]?["user"]?.scalar, "alice")
        XCTAssertEqual(root["c"]?.line, 13, "an alias reports where it is used")
    }

    func testQuotedMergeKeyIsAnOrdinaryKey() throws {
        let root = try one("""
        d: &d {x: 1}
        m:
          "<<": *d
        """)
        XCTAssertEqual(root["m"]?["<<"]?["x"]?.scalar, "1")
        XCTAssertNil(root["m"]?["x"])
    }

    func testMergeOfAScalarIsAnError() {
        let e = error("a: &s text\nb:\n  <<: *s\n")
        XCTAssertEqual(e?.line, 3)
        XCTAssertTrue(e?.message.contains("merge key") ?? false, "\(String(describing: e))")
    }

    func testDuplicateKeysAreKeptInOrder() throws {
        let root = try one("k: 1\nk: 2\n")
        XCTAssertEqual(root.mapping?.map { $0.value.scalar }, ["1", "2"])
        XCTAssertEqual(root["k"]?.scalar, "1")
    }

    func testSeveralDocumentsAndEmptyInput() throws {
        let docs = try YAMLDocuments.parse("a: 1\n---\nb: 2\n---\n")
        XCTAssertEqual(docs.count, 3)
        XCTAssertEqual(docs[1]["b"]?.scalar, "2")
        XCTAssertEqual(docs[2].isNull, true)
        XCTAssertEqual(try YAMLDocuments.parse("").count, 0)
        XCTAssertEqual(try YAMLDocuments.parse("# only a comment\n").count, 0)
    }

    func testSyntaxErrorsCarryTheLine() {
        let e = error("a: 1\nb: [unclosed\nc: 3\n")
        XCTAssertNotNil(e)
        XCTAssertGreaterThanOrEqual(e?.line ?? 0, 2)
        XCTAssertEqual(error("a: *nowhere\n")?.message, "unknown anchor 'nowhere' referenced")
        XCTAssertNotNil(error("a: b: c\n"))
        XCTAssertNotNil(error("\t- tab indented\n"))
        XCTAssertNotNil(error("key: \"unterminated\n"))
    }

    func testBillionLaughsIsRefused() {
        var text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for i in 1...9 {
            let refs = Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ")
            text += "a\(i): &a\(i) [\(refs)]\n"
        }
        let e = error(text)
        XCTAssertTrue(e?.message.contains("aliases expand") ?? false, "\(String(describing: e))")
    }

    func testDeepNestingIsRefusedNotCrashing() {
        let deep = String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000)
        XCTAssertTrue(error(deep)?.message.contains("nested deeper") ?? false)
        XCTAssertNoThrow(try YAMLDocuments.parse(String(repeating: "[", count: 100) + String(repeating: "]", count: 100)))
    }

    func testInvalidUTF8AndNulBytes() {
        XCTAssertNotNil(error("a: \u{0}b\n"))
        let bom = "\u{FEFF}a: 1\n"
        XCTAssertEqual(try? YAMLDocuments.parse(bom).first?["a"]?.scalar, "1")
    }

    func testTagsAreKept() throws {
        let root = try one("a: !!str 123\nb: !custom {x: 1}\n")
        XCTAssertEqual(root["a"]?.tag, "tag:yaml.org,2002:str")
        XCTAssertEqual(root["b"]?.tag, "!custom")
        XCTAssertEqual(root["b"]?.kindName, "a mapping")
    }

    /// Without merging, `<<` pairs stay where they were written (aliases resolved), for a consumer
    /// that merges like go-yaml v2; a quoted "<<" is no merge key.
    func testMergeKeysLeftInPlaceOnRequest() throws {
        let text = "base: &b {k: 1, j: 2}\nm:\n  k: 0\n  <<: *b\n  \"<<\": text\n"
        let root = try XCTUnwrap(YAMLDocuments.parse(text, applyingMergeKeys: false).first)
        let pairs = try XCTUnwrap(root["m"]?.mapping)
        XCTAssertEqual(pairs.map { $0.key.scalar }, ["k", "<<", "<<"])
        XCTAssertEqual(pairs.map { $0.key.isMergeKey }, [false, true, false])
        XCTAssertEqual(pairs[1].value["j"]?.scalar, "2")
        let merged = try XCTUnwrap(YAMLDocuments.parse(text).first?["m"]?.mapping)
        XCTAssertEqual(merged.map { $0.key.scalar }, ["k", "j", "<<"], "explicit k wins over the merged one")
    }
}
