#if canImport(Glibc)
import Glibc
#endif

/// A file the user named (promotion file, lock), read whole. A failure is a usage error (exit 2) that
/// says why, as the system put it: "No such file or directory", "Permission denied", "Is a directory".
func readInputFile(_ path: String, what: String, limit: Int = 16 << 20) throws -> [UInt8] {
    func refused(_ reason: String) -> CLIError { CLIError.usage("cannot read the \(what) \(path): \(reason)") }
    func reason(_ code: Int32) -> String { String(cString: strerror(code)) }
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw refused(reason(errno)) }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0 else { throw refused(reason(errno)) }
    if st.st_mode & S_IFMT == S_IFDIR { throw refused(reason(EISDIR)) }
    var out: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n < 0 { throw refused(reason(errno)) }
        if n == 0 { return out }
        out += buffer[0..<n]
        if out.count > limit { throw refused("larger than \(limit >> 20) MiB") }
    }
}
