import TestSupport
import XCTest

/// The test tools' own encoders and JSON reader, with inputs a product bug could hide behind.
final class CodingTests: XCTestCase {
    func testBase64BothAlphabetsPaddedOrNot() {
        let bytes: [UInt8] = [0xFB, 0xFF, 0xBF, 0x00, 0x61]
        XCTAssertEqual(Base64.encode(bytes), "+/+/AGE=")
        XCTAssertEqual(Base64.urlEncode(bytes), "-_-_AGE")
        XCTAssertEqual(Base64.urlEncode([0x61, 0x62]), "YWI")
        for text in ["+/+/AGE=", "-_-_AGE", "+/+/\nAGE", " -_-_AGE= "] {
            XCTAssertEqual(Base64.decode(text), bytes, text)
        }
        XCTAssertEqual(Base64.encode("user:pa ss"), "dXNlcjpwYSBzcw==")
        for bad in ["Z", "Zm9v!", "é", "YW I!"] { XCTAssertNil(Base64.decode(bad), bad) }
    }

    func testFormCodingRoundTripsAndEncodesEverythingButUnreserved() {
        XCTAssertEqual(FormCoding.percentEncode("a b+c/d?e=f&g~h-i.j_k\u{1}é"), "a%20b%2Bc%2Fd%3Fe%3Df%26g~h-i.j_k%01%C3%A9")
        let items = [("scope", "repository:a/b:pull,push"), ("x y", "1+1=2 & é")]
        let encoded = FormCoding.encode(items)
        XCTAssertFalse(encoded.contains(" ") || encoded.contains("+"))
        XCTAssertEqual(FormCoding.decode(encoded).map { [$0.name, $0.value] }, items.map { [$0.0, $0.1] })
        XCTAssertEqual(FormCoding.decode("a=1+2%2B3&b").map { [$0.name, $0.value] }, [["a", "1 2+3"], ["b", ""]])
    }

    func testJSONNodeParsesWithFoundation() throws {
        let node = try XCTUnwrap(JSONNode.parse(#" {"a": [1, -2.5e+3, true, null, "\u00e9\n\ud83d\ude00"], "b": {"c": {}}} "#))
        XCTAssertEqual(node["a"]?[0]?.int, 1)
        XCTAssertEqual(node["a"]?[1]?.double, -2500)
        XCTAssertEqual(node["a"]?[2]?.bool, true)
        XCTAssertEqual(node["a"]?[3], .null)
        XCTAssertEqual(node["a"]?[4]?.string, "é\n😀")
        XCTAssertEqual(node["b"]?["c"], .object([:]))
        XCTAssertEqual(JSONNode.parse("\"x\"")?.string, "x")
        // (Foundation's decoder accepts a trailing comma, "[1,]"; Go's and the auth-file parser do not.)
        for bad in ["", "{", "{a:1}", "tru", "{} {}", "\"\\ud800\"x"] {
            XCTAssertNil(JSONNode.parse(bad), bad)
        }
    }
}
