import OCIRegistry
import Release
import XCTest

/// Promotion files, mapping files, tag selection and locks: good inputs and nasty ones.
final class ReleaseFileTests: XCTestCase {
    func parse(_ text: String) throws -> [ReleaseEntry] { try ReleaseFile.parse(text).entries }

    func error(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> ReleaseFileError? {
        do {
            _ = try ReleaseFile.parse(text)
            XCTFail("accepted: \(text)", file: file, line: line)
            return nil
        } catch {
            return error
        }
    }

    func testFullFileWithDefaults() throws {
        let entries = try parse("""
        source: {registry: src.example:5000, project: dev}
        destination:
          registry: dst.example
          project: prod
        images:
          - source: api:1.4
            tags: [1.4, stable]
          - source: team/web@sha256:\(String(repeating: "a", count: 64))
            destination: web
          - source: other.example/lib/db:2
            destination: shop/db:2-prod
            platform: linux/arm64
            digest: sha256:\(String(repeating: "b", count: 64))
          - source: tools
            semver: ">=1.2 <2"
          - source: cli
            tagRegex: 'v1\\.[0-9]+'
        """)
        XCTAssertEqual(entries.count, 5)
        XCTAssertEqual(entries[0].source, ImageReference(registry: "src.example:5000", repository: "dev/api", tag: "1.4"))
        XCTAssertEqual(entries[0].destination, ImageReference(registry: "dst.example", repository: "prod/api"))
        XCTAssertEqual(entries[0].tags, ["1.4", "stable"])
        XCTAssertEqual(entries[0].line, 6)
        XCTAssertEqual(entries[1].source.repository, "team/web", "a name with a path keeps it")
        XCTAssertEqual(entries[1].destination.repository, "prod/web")
        XCTAssertEqual(entries[1].tags, [], "by digest, no tag given: promoted by digest only")
        XCTAssertEqual(entries[2].source.registry, "other.example")
        XCTAssertEqual(entries[2].destination.repository, "shop/db")
        XCTAssertEqual(entries[2].tags, ["2-prod"])
        XCTAssertEqual(entries[2].platform?.description, "linux/arm64")
        XCTAssertEqual(entries[2].expectedDigest, "sha256:" + String(repeating: "b", count: 64))
        XCTAssertEqual(entries[3].selection, .semver(SemVerRange(">=1.2 <2")!))
        XCTAssertEqual(entries[4].selection, .regex("v1\\.[0-9]+"))
    }

    func testNumbersAndBooleansAreTagsAsWritten() throws {
        let e = try parse("images:\n  - source: h.example/a/b:1.10\n    tags: [1.10, 2.0, yes, 010]\n")
        XCTAssertEqual(e[0].tags, ["1.10", "2.0", "yes", "010"], "no YAML 1.1 coercion: 1.10 stays 1.10")
    }


    func testErrorsNameTheirLine() {
        let cases: [(String, Int, String)] = [
            ("images:\n  - source: h.example/p/a:1\n    tag: [x]\n", 3, "unknown key \"tag\""),
            ("images:\n  - source: h.example/p/a:1\n    tags: [a]\n    tags: [b]\n", 4, "duplicate key"),
            ("imagez:\n  - source: a\n", 1, "unknown key"),
            ("images:\n  - destination: h.example/p/a\n", 2, "no source"),
            ("images: {source: a}\n", 1, "must be a list"),
            ("images: []\n", 1, "empty"),
            ("images:\n  - source: h.example/p/A:1\n", 2, "invalid image reference"),
            ("images:\n  - source: h.example/p/a\n    tagRegex: '(unclosed'\n", 3, "not a valid regular expression"),
            ("images:\n  - source: h.example/p/a\n    semver: 'banana'\n", 3, "not a version range"),
            ("images:\n  - source: h.example/p/a\n    semver: '1.x'\n    tagRegex: '.*'\n", 2, "one of"),
            ("images:\n  - source: h.example/p/a:1\n    semver: '1.x'\n", 2, "names a tag"),
            ("images:\n  - source: h.example/p/a\n    tagRegex: '.*'\n    tags: [x]\n", 4, "cannot be combined"),
            ("images:\n  - source: h.example/p/a:1\n    destination: h2.example/q/a:2\n    tags: [x]\n", 4, "either in destination or in tags"),
            ("images:\n  - source: h.example/p/a:1\n    digest: sha256:abc\n", 3, "not a sha256"),
            ("images:\n  - source: h.example/p/a:1\n    platform: linux\n", 3, "invalid platform"),
            ("images:\n  - source: h.example/p/a:1\n    tags: ['bad tag']\n", 3, "not a valid tag"),
            ("images:\n  - source: h.example/p/a:1\n    tags: [a, a]\n", 3, "twice"),
            ("images:\n  - source: h.example/p/a:1\n    tags: [[a]]\n", 3, "must be a string"),
            ("images:\n  - source:\n", 2, "must be a string, not null"),
            ("images:\n  - source: {a: b}\n", 2, "must be a string, not a mapping"),
            ("source: {registry: 'a b'}\nimages:\n  - source: a\n", 1, "HOST[:PORT]"),
            ("destination: {project: 'a/b'}\nimages:\n  - source: h.example/p/a:1\n", 1, "one lower-case path component"),
            ("images:\n  - source: h.example/p/a:1\n    destination: h.example/q/a@sha256:\(String(repeating: "c", count: 64))\n", 3, "names a digest"),
            ("images:\n  - source: h.example/p/a@sha256:\(String(repeating: "c", count: 64))\n    digest: sha256:\(String(repeating: "d", count: 64))\n", 3, "contradicts"),
            ("images:\n  - source: [unclosed\n", 3, "not valid YAML"),
            ("images:\n  - source: a:1\n---\nimages: []\n", 4, "one YAML document"),
            ("", 0, "empty"),
            ("# only a comment\n", 0, "empty"),
            ("images:\n  - 42\n", 2, "must be a mapping"),
            ("images:\n  - {? [a]: b}\n", 2, "keys must be strings"),
        ]
        for (text, line, message) in cases {
            guard let e = error(text) else { continue }
            XCTAssertEqual(e.line, line, "\(text.debugDescription): \(e)")
            XCTAssertTrue(e.message.contains(message), "\(text.debugDescription): \(e.message)")
        }
    }

    func testMappingFiles() throws {
        let file = try ReleaseFile.parse("""
        # release 1.4
        src.example:5000/dev/api:1.4=dst.example/prod/api

          src.example:5000/dev/web:1.4=dst.example/prod/web:stable\r
        src.example:5000/dev/db@sha256:\(String(repeating: "e", count: 64))=dst.example/prod/db
        """)
        XCTAssertEqual(file.format, .mapping)
        XCTAssertEqual(file.entries.map(\.tags), [["1.4"], ["stable"], []])
        XCTAssertEqual(file.entries.map(\.line), [2, 4, 5])
        XCTAssertEqual(file.entries[1].destination, ImageReference(registry: "dst.example", repository: "prod/web"))
        // Not a mapping (a YAML value with '='): parsed as YAML, which refuses it.
        XCTAssertEqual(error("a=b c=d\n")?.message.contains("must be a mapping") ?? false, true)
        XCTAssertEqual(error("h.example/a:1=h.example/b@sha256:\(String(repeating: "e", count: 64))\n")?.line, 1)
        XCTAssertEqual(error("h.example/a:1=h.example/b\nh.example/B:1=h.example/b\n")?.line, 2)
    }

    func testTagSelection() throws {
        let tags = ["latest", "1.0.0", "v1.2.0", "1.2.3", "1.10.0", "2.0.0", "2.0.0-rc.1", "1.2", "sha256-abc.sig", "01.2.3"]
        XCTAssertEqual(try TagSelection.semver(SemVerRange(">=1.2 <2")!).select(from: tags, line: 1),
                       ["1.2", "v1.2.0", "1.2.3", "1.10.0"])
        XCTAssertEqual(try TagSelection.semver(SemVerRange("~1.2")!).select(from: tags, line: 1), ["1.2", "v1.2.0", "1.2.3"])
        XCTAssertEqual(try TagSelection.semver(SemVerRange("^1.2.1")!).select(from: tags, line: 1), ["1.2.3", "1.10.0"])
        XCTAssertEqual(try TagSelection.semver(SemVerRange("2.x")!).select(from: tags, line: 1), ["2.0.0"], "no prerelease unless asked")
        XCTAssertEqual(try TagSelection.semver(SemVerRange(">=2.0.0-rc.0")!).select(from: tags, line: 1), ["2.0.0-rc.1", "2.0.0"])
        XCTAssertEqual(try TagSelection.semver(SemVerRange("<1.1 || >=2")!).select(from: tags, line: 1), ["1.0.0", "2.0.0"])
        XCTAssertEqual(try TagSelection.semver(SemVerRange("1.0 - 1.2")!).select(from: tags, line: 1), ["1.0.0", "1.2", "v1.2.0", "1.2.3"])
        XCTAssertEqual(try TagSelection.regex("1\\.2.*").select(from: tags, line: 1), ["1.2", "1.2.3"], "whole match, not search")
        XCTAssertEqual(try TagSelection.list(["latest", "2.0.0"]).select(from: tags, line: 1), ["latest", "2.0.0"])
        XCTAssertThrowsError(try TagSelection.list(["nope"]).select(from: tags, line: 7)) { e in
            XCTAssertEqual((e as? ReleaseFileError)?.line, 7)
        }
        for bad in ["", "||", ">=", "1.2.3.4", "~banana", ">=1 <", "1.x.3", "^-1"] { XCTAssertNil(SemVerRange(bad), bad) }
        XCTAssertTrue(SemVer("1.0.0-alpha")! < SemVer("1.0.0-alpha.1")!)
        XCTAssertTrue(SemVer("1.0.0-alpha.beta")! < SemVer("1.0.0-beta")!)
        XCTAssertTrue(SemVer("1.0.0-beta.2")! < SemVer("1.0.0-beta.11")!)
        XCTAssertTrue(SemVer("1.0.0-rc.1")! < SemVer("1.0.0")!)
        for notVersion in ["latest", "1.", ".1", "1..2", "1.2.3.4", "v", "1.2.3-", "1.2.3-a..b", "99999999999"] {
            XCTAssertNil(SemVer(notVersion), notVersion)
        }
    }

    func testExpandedEntriesAndConflictingDestinations() throws {
        let entries = try parse("""
        images:
          - source: h.example/p/a
            sourceTags: [1, 2]
          - source: h.example/p/a:3
          - source: h.example/p/b:1
            destination: h.example/p/a:2
        """)
        let expanded = try entries[0].expand(sourceTags: ["1", "2", "3"]) + entries[1].expand(sourceTags: nil)
        XCTAssertEqual(expanded.map(\.tags), [["1"], ["2"], ["3"]])
        XCTAssertNoThrow(try checkDistinctDestinations(expanded))
        XCTAssertThrowsError(try checkDistinctDestinations(expanded + entries[2].expand(sourceTags: nil))) { e in
            XCTAssertEqual((e as? ReleaseFileError)?.line, 5)
            XCTAssertTrue("\(e)".contains("line 2"), "\(e)")
        }
    }

    func testLockRoundTripAndRefusals() throws {
        let digest = "sha256:" + String(repeating: "f", count: 64)
        let lock = LockFile(source: .init(registry: "src.example:5000"), destination: .init(registry: "dst.example"), images: [
            .init(name: "dev/a:1", line: 3, source: .init(repository: "dev/a", reference: "1", digest: digest),
                  destination: .init(repository: "prod/a", tags: ["1", "stable"]), platform: nil,
                  resolved: .init(referenceDigest: digest, mediaType: MediaType.ociManifest, platforms: [])),
        ])
        let bytes = try lock.encoded()
        XCTAssertEqual(try LockFile.decode(bytes), lock)
        let text = String(decoding: bytes, as: UTF8.self)
        for bad in [
            text.replacingOccurrences(of: "imgpromote.lock/v1", with: "v0"),
            text.replacingOccurrences(of: digest, with: "sha256:1234"),
            text.replacingOccurrences(of: "\"stable\"", with: "\"bad tag\""),
            text.replacingOccurrences(of: "\"prod/a\"", with: "\"Prod/a\""),
            text.replacingOccurrences(of: "\"stable\"", with: "\"1\""),
            "{}", "[]", "", "{\"version\":\"imgpromote.lock/v1\"}",
        ] {
            XCTAssertThrowsError(try LockFile.decode(Array(bad.utf8)), bad)
        }
    }
}

extension ReleaseFileTests {
    func testAnchorsAndMergeKeysAreResolved() throws {
        let e = try parse("""
        images:
          - &base
            source: h.example/p/a:1
            tags: [1, stable]
          - <<: *base
            source: h.example/p/b:1
        """)
        XCTAssertEqual(e.map(\.source.repository), ["p/a", "p/b"])
        XCTAssertEqual(e[1].tags, ["1", "stable"])
    }
}

final class JUnitReportTests: XCTestCase {
    func testNastyNamesAndMessagesStayWellFormed() {
        let xml = JUnitReport.render([
            .init(classname: "imgpromote.prod/a", name: "a<b>&\"c'", seconds: 1.23456, outcome: .passed(output: "ok\u{1}\u{FFFF}")),
            .init(classname: "x", name: "fail", seconds: 1e-9, outcome: .failed(type: "notFound", message: "line1\nline2\t]]>")),
            .init(classname: "x", name: "skip", seconds: .nan, outcome: .skipped(message: "cancelled")),
        ], suite: "release \"q\"")
        XCTAssertTrue(xml.hasPrefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites tests=\"3\" failures=\"1\" skipped=\"1\""), xml)
        XCTAssertTrue(xml.contains("name=\"a&lt;b&gt;&amp;&quot;c&apos;\""), xml)
        XCTAssertTrue(xml.contains("time=\"1.235\""), xml)
        XCTAssertTrue(xml.contains("time=\"0.000\""), "no exponent, no nan: \(xml)")
        XCTAssertFalse(xml.contains("nan"))
        XCTAssertTrue(xml.contains("message=\"line1&#10;line2&#9;]]&gt;\""), xml)
        XCTAssertTrue(xml.contains("ok\u{FFFD}\u{FFFD}"), "control characters replaced: \(xml)")
        XCTAssertFalse(xml.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" }, "only structural newlines remain")
        // Balanced: every element opened is closed.
        XCTAssertEqual(xml.components(separatedByString: "<testcase ").count, xml.components(separatedByString: "</testcase>").count)
    }
}

extension String {
    func components(separatedByString separator: String) -> [Substring] {
        var out: [Substring] = []
        var rest = self[...]
        while let r = rest.firstRange(of: separator) {
            out.append(rest[..<r.lowerBound])
            rest = rest[r.upperBound...]
        }
        out.append(rest)
        return out
    }
}
