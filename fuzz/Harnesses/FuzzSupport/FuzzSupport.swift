#if canImport(Glibc)
import Glibc
#endif

/// Writes `message` to stderr and aborts (libFuzzer then saves the input as a crash).
public func die(_ message: String) -> Never {
    var line = Array((message + "\n").utf8)
    _ = line.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
    abort()
}

/// A property the parser must keep; a violation aborts, which libFuzzer reports as a crash and
/// saves the input (unlike `assert`, this stays on in release builds).
public func check(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
                  file: StaticString = #fileID, line: UInt = #line) {
    if !condition() {
        die("fuzz property violated at \(file):\(line): \(message())")
    }
}

/// The fuzz input as text; invalid UTF-8 becomes U+FFFD, as it would reading a header or file.
public func text(_ data: UnsafePointer<UInt8>, _ size: Int) -> String {
    String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
}

public func bytes(_ data: UnsafePointer<UInt8>, _ size: Int) -> [UInt8] {
    Array(UnsafeBufferPointer(start: data, count: size))
}

/// A fresh private directory (mkdtemp) under $TMPDIR or /tmp.
public func makeTempDirectory(_ prefix: String) -> String {
    let base = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
    var template = Array("\(base)/\(prefix).XXXXXX".utf8CString)
    guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
        die("mkdtemp failed in \(base)")
    }
    return String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Replaces the file's content (open O_TRUNC, write, close).
public func writeFile(_ path: String, _ data: UnsafePointer<UInt8>, _ size: Int) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    check(fd >= 0, "cannot create \(path)")
    var done = 0
    while done < size {
        let n = write(fd, data + done, size - done)
        check(n > 0, "cannot write \(path)")
        done += n
    }
    close(fd)
}
