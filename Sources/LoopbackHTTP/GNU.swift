#if canImport(Glibc)
import Glibc
#endif

/// glibc extensions Swift's Glibc module does not expose (it is built without _GNU_SOURCE), looked up
/// once with dlsym. Function pointers are immutable and Sendable.
enum GNU {
    private static func symbol<T>(_ name: String, as type: T.Type) -> T? {
        guard let handle = dlopen(nil, RTLD_NOW), let p = dlsym(handle, name) else { return nil }
        return unsafeBitCast(p, to: type)
    }

    typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32
    typealias Accept4 = @convention(c) (Int32, UnsafeMutablePointer<sockaddr>?, UnsafeMutablePointer<socklen_t>?, Int32) -> Int32
    typealias SetName = @convention(c) (pthread_t, UnsafePointer<CChar>) -> Int32
    typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32

    static let pipe2Fn: Pipe2? = symbol("pipe2", as: Pipe2.self)
    static let accept4Fn: Accept4? = symbol("accept4", as: Accept4.self)
    static let setNameFn: SetName? = symbol("pthread_setname_np", as: SetName.self)
    static let closeFromFn: CloseFrom? = symbol("posix_spawn_file_actions_addclosefrom_np", as: CloseFrom.self)
    static let addChdirFn: AddChdir? = symbol("posix_spawn_file_actions_addchdir_np", as: AddChdir.self)

    /// pipe2(O_CLOEXEC | extra); falls back to pipe + fcntl.
    static func pipe(_ fds: inout [Int32], flags: Int32 = 0) -> Int32 {
        fds = [-1, -1]
        if let f = pipe2Fn { return fds.withUnsafeMutableBufferPointer { f($0.baseAddress!, O_CLOEXEC | flags) } }
        let rc = fds.withUnsafeMutableBufferPointer { Glibc.pipe($0.baseAddress!) }
        if rc == 0 {
            for fd in fds {
                _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
                if flags & O_NONBLOCK != 0 { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
            }
        }
        return rc
    }

    /// accept4(SOCK_CLOEXEC); falls back to accept + fcntl.
    static func accept(_ fd: Int32) -> Int32 {
        if let f = accept4Fn { return f(fd, nil, nil, Int32(SOCK_CLOEXEC.rawValue)) }
        let c = Glibc.accept(fd, nil, nil)
        if c >= 0 { _ = fcntl(c, F_SETFD, FD_CLOEXEC) }
        return c
    }

    static func setThreadName(_ name: String) {
        _ = setNameFn?(pthread_self(), String(name.prefix(15)))
    }
}

/// Index of the first occurrence of `needle` in `haystack[0..<count]`.
func findBytes(_ haystack: UnsafeRawPointer, _ count: Int, _ needle: [UInt8]) -> Int? {
    let n = needle.count
    guard n > 0, count >= n else { return nil }
    let h = haystack.assumingMemoryBound(to: UInt8.self)
    let first = needle[0]
    var i = 0
    while i <= count - n {
        guard let p = memchr(h + i, Int32(first), count - n - i + 1) else { return nil }
        let at = UnsafeRawPointer(p) - haystack
        if memcmp(h + at, needle, n) == 0 { return at }
        i = at + 1
    }
    return nil
}

/// Writes a diagnostic line to standard error (the C `stderr` global is not concurrency-safe in Swift 6).
func diagnostic(_ text: String) {
    let line = Array((text + "\n").utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}
