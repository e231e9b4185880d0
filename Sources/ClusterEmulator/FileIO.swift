#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public struct EmulatorError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

enum FileIO {
    static func read(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw EmulatorError("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { readFD(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw EmulatorError("cannot read \(path): \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            out += buf[0..<n]
        }
        return out
    }

    static func readText(_ path: String) throws -> String { String(decoding: try read(path), as: UTF8.self) }

    /// Writes atomically (temp file + rename) with the given mode.
    static func write(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) throws {
        let tmp = path + ".tmp\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw EmulatorError("cannot create \(tmp): \(String(cString: strerror(errno)))") }
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { writeFD(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                close(fd)
                throw EmulatorError("cannot write \(tmp): \(String(cString: strerror(errno)))")
            }
            offset += n
        }
        fchmod(fd, mode)
        close(fd)
        guard rename(tmp, path) == 0 else { throw EmulatorError("cannot rename \(tmp): \(String(cString: strerror(errno)))") }
    }

    static func write(_ path: String, _ text: String, mode: mode_t = 0o644) throws {
        try write(path, Array(text.utf8), mode: mode)
    }

    static func makeDirectories(_ path: String, mode: mode_t = 0o700) throws {
        var current = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            current += "/" + part
            if mkdir(current, mode) != 0 && errno != EEXIST {
                throw EmulatorError("cannot create \(current): \(String(cString: strerror(errno)))")
            }
        }
    }

    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    static func list(_ path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// Removes a tree (best effort).
    static func removeTree(_ path: String) {
        if isDirectory(path) {
            for name in list(path) { removeTree(path + "/" + name) }
            rmdir(path)
        } else {
            unlink(path)
        }
    }

    static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        var buf = [CChar](repeating: 0, count: 4096)
        guard getcwd(&buf, buf.count) != nil else { return path }
        let cwd = buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        return cwd + "/" + path
    }
}

private func readFD(_ fd: Int32, _ buf: UnsafeMutableRawPointer?, _ count: Int) -> Int { read(fd, buf, count) }
private func writeFD(_ fd: Int32, _ buf: UnsafeRawPointer?, _ count: Int) -> Int { write(fd, buf, count) }
