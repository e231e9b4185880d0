import HTTPTransport

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import XCTest
@testable import OpenShiftCredentials

/// The HTTP client of these tests (each `HTTPClient` costs a thread).
let testHTTP = HTTPClient()

/// A scratch directory removed at the end of the test.
final class TempDir {
    let path: String

    init() {
        var template = Array("/tmp/osc-test-XXXXXX".utf8CString)
        let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        path = p.map { String(cString: $0) } ?? "/tmp"
    }

    deinit { _ = system("rm -rf '\(path)'") }

    @discardableResult
    func write(_ name: String, _ text: String, mode: mode_t = 0o644) -> String {
        let full = path + "/" + name
        if let slash = full.lastIndex(of: "/") { _ = system("mkdir -p '\(full[..<slash])'") }
        let f = fopen(full, "wb")!
        _ = text.utf8CString.withUnsafeBufferPointer { fwrite($0.baseAddress!, 1, $0.count - 1, f) }
        fclose(f)
        chmod(full, mode)
        return full
    }
}

/// `remedies`, when given, must be exactly the error's; `side`, when given, the side it carries.
func assertOpenShiftError<T>(_ kind: OpenShiftError.Kind, contains: [String] = [], remedies: [ClusterRemedy]? = nil,
                             side: ClusterSide? = nil, file: StaticString = #filePath,
                             line: UInt = #line, _ body: () throws -> T) {
    do {
        _ = try body()
        XCTFail("expected an OpenShiftError(\(kind))", file: file, line: line)
    } catch let e as OpenShiftError {
        check(e, kind, contains, remedies, side, file, line)
    } catch {
        XCTFail("unexpected error \(error)", file: file, line: line)
    }
}

func assertOpenShiftErrorAsync<T>(_ kind: OpenShiftError.Kind, contains: [String] = [], remedies: [ClusterRemedy]? = nil,
                                  side: ClusterSide? = nil, file: StaticString = #filePath,
                                  line: UInt = #line, _ body: () async throws -> T) async {
    do {
        _ = try await body()
        XCTFail("expected an OpenShiftError(\(kind))", file: file, line: line)
    } catch let e as OpenShiftError {
        check(e, kind, contains, remedies, side, file, line)
    } catch {
        XCTFail("unexpected error \(error)", file: file, line: line)
    }
}

private func check(_ e: OpenShiftError, _ kind: OpenShiftError.Kind, _ contains: [String], _ remedies: [ClusterRemedy]?,
                   _ side: ClusterSide?, _ file: StaticString, _ line: UInt) {
    if getenv("OSC_PRINT_ERRORS") != nil { print("[\(e.kind)] \(e.message)") }
    XCTAssertEqual(e.kind, kind, "message: \(e.message)", file: file, line: line)
    XCTAssertFalse(e.message.contains("\n"), "multi-line message: \(e.message)", file: file, line: line)
    // The library speaks its own language: no command-line flags or CLI variables in its messages.
    XCTAssertFalse(e.message.contains(" --") || e.message.hasPrefix("--") || e.message.contains("IMGPROMOTE"),
                   "CLI words in a library message: \(e.message)", file: file, line: line)
    if let remedies { XCTAssertEqual(e.remedies, remedies, "message: \(e.message)", file: file, line: line) }
    if let side { XCTAssertEqual(e.side, side, "message: \(e.message)", file: file, line: line) }
    for needle in contains {
        XCTAssertTrue(e.message.contains(needle), "'\(e.message)' does not contain '\(needle)'", file: file, line: line)
    }
}

/// Collects log lines (the -v sink) for secret-leak checks.
final class LogSink: Sendable {
    private let lines = Locked<[String]>([])
    var all: [String] { lines.withLock { $0 } }
    var closure: @Sendable (String) -> Void { { [lines] line in lines.withLock { $0.append(line) } } }
}
