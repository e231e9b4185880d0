#if canImport(Glibc)
import Glibc
#endif

/// Small local files (CA bundles, tokens, kubeconfigs, secrets) for every library above the transport.
public enum LocalFile {
    /// The whole file, or nil when it cannot be opened or is larger than `limit`.
    public static func read(_ path: String, limit: Int = 16 << 20) -> [UInt8]? {
        guard let f = fopen(path, "rb") else { return nil }
        defer { fclose(f) }
        var out = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&buf, 1, buf.count, f)
            if n > 0 { out += buf[0..<n] }
            if out.count > limit { return nil }
            if n < buf.count { break }
        }
        return ferror(f) != 0 ? nil : out
    }
}
