import LoopbackHTTP
#if canImport(Glibc)
import Glibc
#endif

/// Where SwiftPM put the built executables (`imgpromote`, `openshift-emulator`), for tests that run them.
public enum BuiltProducts {
    /// `$IMGPROMOTE_BUILD_DIR` if set, else the directory of the running test binary
    /// (`.build/<triple>/debug`), else `./.build/debug`.
    public static var directory: String {
        if let d = getenv("IMGPROMOTE_BUILD_DIR"), d.pointee != 0 { return String(cString: d) }
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buf, buf.count - 1)
        if n > 0 {
            let exe = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if let slash = exe.lastIndex(of: "/") {
                var dir = String(exe[..<slash])
                // A test bundle directory (`X.xctest/...` on Darwin) sits inside the products directory.
                while let r = dir.lastIndex(of: "/"), dir[dir.index(after: r)...].contains(".xctest") { dir = String(dir[..<r]) }
                return dir
            }
        }
        return ".build/debug"
    }

    /// Full path of a built executable, if it exists.
    public static func executable(_ name: String) -> String? {
        let p = directory + "/" + name
        return FileSystem.isExecutable(p) ? p : nil
    }

    /// The `imgpromote` binary (`$IMGPROMOTE_BIN` overrides).
    public static var imgpromote: String? {
        if let b = getenv("IMGPROMOTE_BIN"), b.pointee != 0 { return String(cString: b) }
        return executable("imgpromote")
    }
}
