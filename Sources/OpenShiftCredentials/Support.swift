import HTTPTransport
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

enum FileSystem {
    /// Whole file, or nil when it cannot be opened. Files here are small (tokens, kubeconfigs, CAs).
    static func read(_ path: String, limit: Int = 16 << 20) -> [UInt8]? { LocalFile.read(path, limit: limit) }

    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }
    static func isReadable(_ path: String) -> Bool { access(path, R_OK) == 0 }
    static func isExecutable(_ path: String) -> Bool {
        var st = stat()
        guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return false }
        return access(path, X_OK) == 0
    }

    static func isAbsolute(_ path: String) -> Bool { path.hasPrefix("/") }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// `path` made absolute against `base` (the directory of the file that named it), as kubectl does.
    static func resolve(_ path: String, against base: String) -> String {
        if path.isEmpty || isAbsolute(path) { return path }
        var p = Substring(path)
        while p.hasPrefix("./") { p = p.dropFirst(2) }
        return base.hasSuffix("/") ? base + p : base + "/" + p
    }

    static func currentDirectory() -> String {
        var buf = [CChar](repeating: 0, count: 4096)
        guard getcwd(&buf, buf.count) != nil else { return "." }
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func absolute(_ path: String) -> String {
        isAbsolute(path) ? path : resolve(path, against: currentDirectory())
    }
}

enum Clock {
    static func monotonicSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

enum Base64 {
    static func encode(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }
    static func encode(_ text: String) -> String { encode(Array(text.utf8)) }

    /// Standard base64 as Go's encoding/json decodes kubeconfig `[]byte` fields (StdEncoding): line
    /// breaks ignored, padding required, nothing after it, no other blanks.
    static func decode(_ text: String) -> [UInt8]? {
        let s = text.filter { $0 != "\n" && $0 != "\r" }
        guard s.utf8.count % 4 == 0,
              s.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "+" || $0 == "/" || $0 == "=") }) else {
            return nil
        }
        if let pad = s.firstIndex(of: "="), s[pad...].contains(where: { $0 != "=" }) || s.distance(from: pad, to: s.endIndex) > 2 {
            return nil
        }
        return Data(base64Encoded: s).map { Array($0) }
    }

    /// base64url without padding (RFC 4648 §5), as OpenShift names tokens and PKCE challenges.
    static func urlNoPad(_ bytes: [UInt8]) -> String {
        var s = encode(bytes)
        s = String(s.map { $0 == "+" ? "-" : ($0 == "/" ? "_" : $0) })
        while s.hasSuffix("=") { s.removeLast() }
        return s
    }
}

