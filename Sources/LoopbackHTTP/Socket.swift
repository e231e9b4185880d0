import CTLS
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// SIGPIPE must not kill the test process when a peer closes first (TLS writes go through write(2)).
let ignoreSIGPIPE: Bool = {
    signal(SIGPIPE, SIG_IGN)
    return true
}()

enum Sockets {
    static func loopbackAddress(port: Int) -> sockaddr_in {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port)).bigEndian
        addr.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        return addr
    }

    static func newTCPSocket() throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if fd < 0 { throw LoopbackError.posix("socket") }
        return fd
    }

    /// Listens on 127.0.0.1:`port` (0 = kernel-chosen); returns the socket and the bound port.
    static func listen(port: Int, backlog: Int32 = 256) throws -> (fd: Int32, port: Int) {
        let fd = try newTCPSocket()
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = loopbackAddress(port: port)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if rc != 0 {
            let e = LoopbackError.posix("bind 127.0.0.1:\(port)")
            close(fd)
            throw e
        }
        if Glibc.listen(fd, backlog) != 0 {
            let e = LoopbackError.posix("listen")
            close(fd)
            throw e
        }
        return (fd, localPort(fd))
    }

    static func localPort(_ fd: Int32) -> Int {
        var addr = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    static func peerPort(_ fd: Int32) -> Int {
        var addr = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &len) }
        }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    /// A loopback port that was free a moment ago (bind port 0, read it, close). Racy by nature:
    /// callers that hand it to another process must retry on EADDRINUSE.
    static func probeFreePort() throws -> Int {
        let (fd, port) = try listen(port: 0, backlog: 1)
        close(fd)
        return port
    }

    /// Connects to an IPv4 `host` (dotted quad or "localhost") with a bounded connect time.
    static func connect(host: String, port: Int, timeoutSeconds: Double) throws -> Int32 {
        let fd = try newTCPSocket()
        var addr = loopbackAddress(port: port)
        let h = host == "localhost" ? "127.0.0.1" : host
        if inet_pton(AF_INET, h, &addr.sin_addr) != 1 {
            close(fd)
            throw LoopbackError("only IPv4 literal hosts are supported, got '\(host)'")
        }
        // Non-blocking connect + poll gives a bounded connect time.
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        var rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if rc != 0 && errno != EINPROGRESS {
            let e = LoopbackError.posix("connect \(host):\(port)")
            close(fd)
            throw e
        }
        if rc != 0 {
            var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            rc = poll(&p, 1, Int32(max(1, timeoutSeconds * 1000)))
            if rc <= 0 {
                close(fd)
                throw LoopbackError("connect \(host):\(port): timed out", code: ETIMEDOUT)
            }
            var err: Int32 = 0
            var len = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)
            if err != 0 {
                close(fd)
                throw LoopbackError.posix("connect \(host):\(port)", err)
            }
        }
        _ = fcntl(fd, F_SETFL, flags)
        tune(fd)
        return fd
    }

    static func tune(_ fd: Int32) {
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    static func setTimeouts(_ fd: Int32, seconds: Double) {
        guard seconds > 0 else { return }
        var tv = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - Double(Int(seconds))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }
}

/// One connected socket, plain or TLS. Used by one thread at a time, except `shutdownNow()`, which any
/// thread may call to wake a blocked reader or writer (the fd stays open until `close()`).
final class SocketStream: @unchecked Sendable {
    let fd: Int32
    private(set) var ssl: OpaquePointer?
    private let state = Protected<(closed: Bool, shut: Bool)>((false, false))

    init(fd: Int32, ssl: OpaquePointer? = nil) {
        _ = ignoreSIGPIPE
        self.fd = fd
        self.ssl = ssl
    }

    var isTLS: Bool { ssl != nil }

    /// Server-side TLS handshake.
    func acceptTLS(_ context: TLSContext) throws {
        guard let s = SSL_new(context.ctx) else { throw LoopbackError("SSL_new failed") }
        ssl = s
        SSL_set_fd(s, fd)
        let rc = SSL_accept(s)
        if rc != 1 { throw LoopbackError("TLS handshake failed: \(TLSContext.lastError())") }
    }

    /// Client-side TLS handshake (no verification: test tooling talking to its own servers).
    func connectTLS(_ context: TLSContext, serverName: String?) throws {
        guard let s = SSL_new(context.ctx) else { throw LoopbackError("SSL_new failed") }
        ssl = s
        SSL_set_fd(s, fd)
        if let name = serverName, !name.first!.isNumber { _ = ctls_set_tlsext_host_name(s, name) }
        let rc = SSL_connect(s)
        if rc != 1 { throw LoopbackError("TLS handshake failed: \(TLSContext.lastError())") }
    }

    /// Waits until data can be read (TLS-buffered bytes count); false on timeout.
    func waitReadable(timeoutMs: Int) -> Bool {
        if let s = ssl, SSL_pending(s) > 0 { return true }
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while true {
            let rc = poll(&p, 1, Int32(clamping: timeoutMs))
            if rc < 0 && errno == EINTR { continue }
            return rc != 0
        }
    }

    /// Reads up to `max` bytes; 0 means the peer closed.
    func recv(_ ptr: UnsafeMutableRawPointer, _ max: Int) throws -> Int {
        if let s = ssl {
            var got = 0
            let rc = SSL_read_ex(s, ptr, max, &got)
            if rc == 1 { return got }
            let err = SSL_get_error(s, 0)
            if err == SSL_ERROR_ZERO_RETURN { return 0 }
            if err == SSL_ERROR_SYSCALL && errno == 0 { return 0 }     // EOF without close_notify
            if err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE {
                throw LoopbackError("TLS read timed out", code: ETIMEDOUT)
            }
            ERR_clear_error()
            if isShut { return 0 }
            throw LoopbackError("TLS read failed (SSL error \(err), errno \(errno))", code: ECONNRESET)
        }
        while true {
            let n = Glibc.recv(fd, ptr, max, 0)
            if n >= 0 { return n }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { throw LoopbackError("read timed out", code: ETIMEDOUT) }
            if errno == ECONNRESET && isShut { return 0 }
            throw LoopbackError.posix("recv")
        }
    }

    /// Writes all bytes.
    func send(_ ptr: UnsafeRawPointer, _ count: Int) throws {
        var done = 0
        while done < count {
            if let s = ssl {
                var wrote = 0
                let rc = SSL_write_ex(s, ptr + done, count - done, &wrote)
                if rc != 1 {
                    let err = SSL_get_error(s, 0)
                    ERR_clear_error()
                    throw LoopbackError("TLS write failed (SSL error \(err))", code: EPIPE)
                }
                done += wrote
            } else {
                let n = Glibc.send(fd, ptr + done, count - done, Int32(MSG_NOSIGNAL))
                if n < 0 {
                    if errno == EINTR { continue }
                    if errno == EAGAIN || errno == EWOULDBLOCK { throw LoopbackError("write timed out", code: ETIMEDOUT) }
                    throw LoopbackError.posix("send")
                }
                done += n
            }
        }
    }

    func send(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { if $0.count > 0 { try send($0.baseAddress!, $0.count) } }
    }

    private var isShut: Bool { state.withLock { $0.shut } }

    /// Wakes any thread blocked on this socket; safe from any thread, idempotent.
    func shutdownNow() {
        state.withLock { s in
            if !s.closed && !s.shut {
                s.shut = true
                Glibc.shutdown(fd, Int32(SHUT_RDWR))
            }
        }
    }

    /// Sends a TCP RST instead of a FIN on close (an "abrupt" close).
    func setResetOnClose() {
        var l = linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
    }

    /// Closes the socket (owner thread only).
    func close(graceful: Bool = true) {
        let doClose = state.withLock { s -> Bool in
            if s.closed { return false }
            s.closed = true
            return true
        }
        guard doClose else { return }
        if let s = ssl {
            if graceful && !isShutAlready() { _ = SSL_shutdown(s) }
            SSL_free(s)
            ssl = nil
        }
        Glibc.close(fd)
    }

    private func isShutAlready() -> Bool { state.withLock { $0.shut } }
}

/// A loopback TCP port that was free a moment ago (bind 127.0.0.1:0, read the port, close). Another
/// process may take it before you use it: retry on EADDRINUSE.
public func probeFreeLoopbackPort() throws -> Int { try Sockets.probeFreePort() }
