import XCTest
@testable import OpenShiftCredentials

final class YAMLTests: XCTestCase {
    private func parse(_ text: String) throws -> YAMLValue { try YAMLParser.parse(text) }

    func testKubectlStyleIndentlessSequences() throws {
        let v = try parse("""
        apiVersion: v1
        clusters:
        - cluster:
            certificate-authority-data: QUJD
            server: https://api.example.com:6443
          name: api-example-com:6443
        contexts:
        - context:
            cluster: api-example-com:6443
            namespace: default
            user: kube:admin/api-example-com:6443
          name: default/api-example-com:6443/kube:admin
        current-context: default/api-example-com:6443/kube:admin
        kind: Config
        preferences: {}
        users:
        - name: kube:admin/api-example-com:6443
          user:
            token: sha256~abc
        """)
        guard case .sequence(let clusters)? = v["clusters"] else { return XCTFail("no clusters") }
        XCTAssertEqual(clusters.count, 1)
        XCTAssertEqual(clusters[0]["cluster"]?["server"]?.scalarString, "https://api.example.com:6443")
        XCTAssertEqual(clusters[0]["name"]?.scalarString, "api-example-com:6443")
        XCTAssertEqual(v["current-context"]?.scalarString, "default/api-example-com:6443/kube:admin")
        XCTAssertEqual(v["users"]?.sequenceCount, 1)
        guard case .mapping(let prefs)? = v["preferences"] else { return XCTFail("preferences") }
        XCTAssertTrue(prefs.isEmpty)
    }

    func testIndentedSequencesCommentsAndQuotes() throws {
        let v = try parse("""
        # leading comment
        ---
        a:   # trailing comment
          - "double \\"quoted\\" \\u00e9\\ttab"   # c
          - 'single ''quoted'' # not a comment'
          -   plain value # comment
          -
            nested: true
        b: "x: y"
        c: ~
        d:
        e: null
        "quoted key": 1
        ...
        """)
        guard case .sequence(let a)? = v["a"] else { return XCTFail("a") }
        XCTAssertEqual(a[0].scalarString, "double \"quoted\" é\ttab")
        XCTAssertEqual(a[1].scalarString, "single 'quoted' # not a comment")
        XCTAssertEqual(a[2].scalarString, "plain value")
        XCTAssertEqual(a[3]["nested"]?.boolValue, true)
        XCTAssertEqual(v["b"]?.scalarString, "x: y")
        XCTAssertTrue(v["c"]!.isNull)
        XCTAssertTrue(v["d"]!.isNull)
        XCTAssertTrue(v["e"]!.isNull)
        XCTAssertEqual(v["quoted key"]?.scalarString, "1")
    }

    func testJSONKubeconfig() throws {
        let v = try parse(#"{"kind":"Config","clusters":[{"name":"c","cluster":{"server":"https://h:6443","insecure-skip-tls-verify":true}}],"users":[],"contexts":[{"name":"x","context":{"cluster":"c","user":""}}],"current-context":"x"}"#)
        XCTAssertEqual(v["kind"]?.scalarString, "Config")
        guard case .sequence(let c)? = v["clusters"] else { return XCTFail() }
        XCTAssertEqual(c[0]["cluster"]?["server"]?.scalarString, "https://h:6443")
        XCTAssertEqual(c[0]["cluster"]?["insecure-skip-tls-verify"]?.boolValue, true)
        XCTAssertEqual(v["users"]?.sequenceCount, 0)
    }

    func testMultiLineJSONAndFlowInBlock() throws {
        let v = try parse("""
        exec:
          args: ["get-token", "--server=https://x:6443",
                 'two words']
          env: []
          meta: {a: b, "c": "d", e: }
        """)
        guard case .sequence(let args)? = v["exec"]?["args"] else { return XCTFail() }
        XCTAssertEqual(args.map { $0.scalarString }, ["get-token", "--server=https://x:6443", "two words"])
        XCTAssertEqual(v["exec"]?["meta"]?["c"]?.scalarString, "d")
        XCTAssertTrue(v["exec"]?["meta"]?["e"]?.isNull ?? false)
    }

    func testBlockScalars() throws {
        let v = try parse("""
        lit: |
          line one
            indented
          line three

        folded: >-
          a
          b

          c
        keep: |+
          x

        strip: |-
          y
        explicit: |2
            four spaces
        last: end
        """)
        XCTAssertEqual(v["lit"]?.scalarString, "line one\n  indented\nline three\n")
        XCTAssertEqual(v["folded"]?.scalarString, "a b\nc")
        XCTAssertEqual(v["keep"]?.scalarString, "x\n\n")
        XCTAssertEqual(v["strip"]?.scalarString, "y")
        XCTAssertEqual(v["explicit"]?.scalarString, "  four spaces\n")
        XCTAssertEqual(v["last"]?.scalarString, "end")
    }

    func testMultiLinePlainAndQuotedFolding() throws {
        let v = try parse("""
        a: one
          two

          three
        b: "x
           y"
        c: 'p

           q'
        """)
        XCTAssertEqual(v["a"]?.scalarString, "one two\nthree")
        XCTAssertEqual(v["b"]?.scalarString, "x y")
        XCTAssertEqual(v["c"]?.scalarString, "p\nq")
    }

    func testAnchorsAliasesTagsCRLFAndBOM() throws {
        let v = try parse("\u{FEFF}base: &b\r\n  server: https://s\r\ncopy: *b\r\nt: !!str 123\r\n")
        XCTAssertEqual(v["copy"]?["server"]?.scalarString, "https://s")
        XCTAssertEqual(v["t"]?.scalarString, "123")
    }

    func testSequenceOfSequencesAndNestedCompactMappings() throws {
        let v = try parse("""
        - - a
          - b
        - k: v
          l:
          - m
        """)
        guard case .sequence(let outer) = v, case .sequence(let inner) = outer[0] else { return XCTFail() }
        XCTAssertEqual(inner.map { $0.scalarString }, ["a", "b"])
        XCTAssertEqual(outer[1]["k"]?.scalarString, "v")
        XCTAssertEqual(outer[1]["l"]?.sequenceCount, 1)
    }

    func testEmptyAndCommentOnlyDocuments() throws {
        XCTAssertTrue(try parse("").isNull)
        XCTAssertTrue(try parse("# nothing\n\n---\n").isNull)
    }

    func testErrorsCarryLineNumbers() {
        let cases: [(String, Int, String)] = [
            ("a: b\n  c: d\n", 2, "mapping values"),
            ("a:\n  b: 1\n c: 2\n", 3, "indentation"),
            ("a: [1, 2\n", 1, "unterminated"),
            ("a: \"open\n", 1, "unterminated"),
            ("a: 1\na: 2\n", 2, "duplicate key"),
            ("a:\n\t- b\n", 2, "tab"),
            ("a: 1\n---\nb: 2\n", 2, "several YAML documents"),
            ("a: *nope\n", 1, "unknown alias"),
            ("a: b\n- c\n", 2, "list entry"),
            ("? complex\n: x\n", 1, "complex"),
            ("a: \"bad \\q escape\"\n", 1, "escape"),
        ]
        for (text, line, needle) in cases {
            do {
                _ = try YAMLParser.parse(text)
                XCTFail("no error for \(text.debugDescription)")
            } catch {
                XCTAssertEqual(error.line, line, "\(text.debugDescription): \(error)")
                XCTAssertTrue(error.message.contains(needle), "\(text.debugDescription): \(error)")
            }
        }
    }

    func testBooleansLikeGoYAMLv2() {
        for t in ["true", "True", "yes", "on", "Y"] { XCTAssertEqual(YAMLValue.scalar(t).boolValue, true, t) }
        for f in ["false", "NO", "off", "n"] { XCTAssertEqual(YAMLValue.scalar(f).boolValue, false, f) }
        XCTAssertNil(YAMLValue.scalar("maybe").boolValue)
    }
}

extension YAMLValue {
    var sequenceCount: Int? { if case .sequence(let s) = self { return s.count } else { return nil } }
}
