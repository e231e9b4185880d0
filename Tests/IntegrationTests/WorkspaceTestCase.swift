import TestSupport
import XCTest

/// An end-to-end test's workspace: a temporary directory, and what the test started (registries,
/// emulators, proxies), stopped in reverse order when it ends, passed or not.
class WorkspaceTestCase: XCTestCase {
    /// The temporary directory's name prefix (a leftover names the suite that left it).
    class var workspacePrefix: String { "imgpromote-test" }
    var cleanups: [() -> Void] = []
    var dir: TemporaryDirectory!

    override func setUp() async throws {
        dir = try TemporaryDirectory(prefix: Self.workspacePrefix)
    }

    override func tearDown() async throws {
        for c in cleanups.reversed() { c() }
        cleanups = []
        dir?.remove()
    }
}
