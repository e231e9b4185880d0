import CCurl
#if canImport(Glibc)
import Glibc
#endif

/// Where the system's trusted root certificates come from, and how a side's own CA joins them.
///
/// Why this is not left to libcurl's defaults:
/// - Cost. libcurl keeps a parsed CA store per multi handle only when the roots come from a CA file
///   alone. Debian's libcurl also has a default CA directory (`/etc/ssl/certs`), which turns that
///   cache off: every new connection parsed the whole bundle (about 140 certificates, 20 ms of CPU),
///   so a no-op rerun took 40 ms instead of 19 and each parallel blob connection paid it again. A
///   hashed directory is searched per handshake instead (one or two small files), so where one exists
///   it is the only source.
/// - Trust. A side's own CA goes in as `CURLOPT_CAINFO_BLOB`, which replaces libcurl's CA file. Builds
///   without a CA directory (RHEL's libcurl) would then drop the system roots, and a registry route
///   with a public certificate would fail on a side whose kubeconfig names the API server's CA. There,
///   the system bundle is appended to the side's CA.
public enum SystemTrust: Sendable, Hashable {
    /// A directory of subject-hash links (`openssl rehash`), searched per handshake.
    case directory(String)
    /// A PEM bundle, parsed whole (libcurl caches it per multi handle when it is the only source).
    case bundle(String)
    /// Neither found: libcurl's own defaults, as built.
    case libcurlDefault

    /// libcurl's compiled-in locations, checked once per process.
    public static let detected = detect(caInfo: ccurl_default_cainfo().map { String(cString: $0) },
                                        caPath: ccurl_default_capath().map { String(cString: $0) })

    /// The directory when it holds hash links, else the bundle when it is readable.
    public static func detect(caInfo: String?, caPath: String?) -> SystemTrust {
        if let dir = caPath, !dir.isEmpty, hasHashLinks(dir) { return .directory(dir) }
        if let file = caInfo, !file.isEmpty, access(file, R_OK) == 0 { return .bundle(file) }
        return .libcurlDefault
    }

    /// True when `dir` has at least one `hhhhhhhh.N` entry, the names OpenSSL looks up by subject hash.
    static func hasHashLinks(_ dir: String) -> Bool {
        guard let d = opendir(dir) else { return false }
        defer { closedir(d) }
        while let entry = readdir(d) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if isHashName(name) { return true }
        }
        return false
    }

    static func isHashName(_ name: String) -> Bool {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].utf8.count == 8, !parts[1].isEmpty else { return false }
        return parts[0].utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }
            && parts[1].utf8.allSatisfy { $0 >= 48 && $0 <= 57 }
    }

    /// The system bundle's bytes, read once, for appending to a side's CA where there is no directory.
    static let bundleBytes = Locked<[String: [UInt8]]>([:])
    static func bundleContents(_ file: String) -> [UInt8] {
        if let cached = bundleBytes.withLock({ $0[file] }) { return cached }
        let bytes = LocalFile.read(file) ?? []
        bundleBytes.withLock { $0[file] = bytes }
        return bytes
    }
}
