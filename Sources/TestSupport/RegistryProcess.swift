import LoopbackHTTP
#if canImport(Glibc)
import Glibc
#endif

/// One line of the registry's access log (Apache combined format on its stdout).
public struct AccessLogEntry: Sendable, Equatable, CustomStringConvertible {
    public var method: String
    /// Request URI (path with query).
    public var path: String
    public var status: Int
    public var bytes: Int64
    public var userAgent: String

    public var description: String { "\(method) \(path) \(status)" }

    /// Parses `127.0.0.1 - - [25/Nov/2026:14:43:10 +0000] "GET /v2/ HTTP/1.1" 200 2 "" "curl/7.88.1"`.
    public init?(line: Substring) {
        guard let open = line.range(ofSubstring: "] \"") else { return nil }
        let rest = line[open.upperBound...]
        guard let close = rest.firstIndex(of: "\"") else { return nil }
        let request = rest[..<close].split(separator: " ")
        guard request.count >= 2 else { return nil }
        let after = rest[rest.index(after: close)...].split(separator: " ", maxSplits: 2)
        guard after.count >= 2, let status = Int(after[0]) else { return nil }
        method = String(request[0])
        path = String(request[1])
        self.status = status
        bytes = Int64(after[1]) ?? 0
        let quoted = after.count > 2 ? after[2].split(separator: "\"", omittingEmptySubsequences: false) : []
        userAgent = quoted.count >= 4 ? String(quoted[3]) : ""
    }
}

extension Substring {
    func range(ofSubstring needle: String) -> Range<Substring.Index>? {
        let n = Array(needle.utf8)
        let u = self.utf8
        var i = u.startIndex
        while i != u.endIndex {
            var j = i, k = 0
            while k < n.count, j != u.endIndex, u[j] == n[k] { j = u.index(after: j); k += 1 }
            if k == n.count { return i..<j }
            i = u.index(after: i)
        }
        return nil
    }
}

/// A real CNCF distribution registry (`docker-registry serve`, Debian 2.8.2) on a free loopback
/// port with scratch storage, optional TLS and htpasswd or token auth. The access log (stdout) and
/// the application log (stderr) go to `logPath`. Stopped by `stop()` (SIGTERM, then SIGKILL), which
/// also deletes its directory.
public final class RegistryProcess: Sendable {
    public enum Auth: Sendable {
        case none
        /// Basic auth against a bcrypt htpasswd file generated from `users` (user → password).
        case htpasswd(users: [String: String])
        /// Bearer tokens from a Docker token issuer (see `TokenIssuer.registryAuth`).
        case token(realm: String, service: String, issuer: String, rootCertBundlePath: String)
    }

    public struct Options: Sendable {
        public var executable: String
        public var logLevel: String
        public var readyTimeoutSeconds: Double
        /// Extra YAML appended to the config (top-level keys only, e.g. `"notifications: ..."`).
        public var extraConfig: String
        public var enableDelete: Bool

        public init(executable: String = "docker-registry", logLevel: String = "info", readyTimeoutSeconds: Double = 20,
                    extraConfig: String = "", enableDelete: Bool = true) {
            self.executable = executable
            self.logLevel = logLevel
            self.readyTimeoutSeconds = readyTimeoutSeconds
            self.extraConfig = extraConfig
            self.enableDelete = enableDelete
        }
    }

    public let port: Int
    public let auth: Auth
    public let tls: TLSIdentity?
    /// Scratch directory holding config, storage and logs (deleted by `stop()`).
    public let directory: String
    public let storagePath: String
    public let configPath: String
    public let logPath: String
    private let child: ChildProcess
    private let stopped = Protected(false)

    /// Starts the registry and waits until `GET /v2/` answers (any status). Blocking (a second or two):
    /// from async code prefer `RegistryProcess.start(...)`.
    public init(auth: Auth = .none, tls: TLSIdentity? = nil, options: Options = Options()) throws {
        guard let exe = Subprocess.find(options.executable) else {
            throw LoopbackError("\(options.executable) not found (apt-get install docker-registry)")
        }
        let dir = try FileSystem.makeTemporaryDirectory(prefix: "registry")
        self.auth = auth
        self.tls = tls
        directory = dir
        storagePath = dir + "/storage"
        configPath = dir + "/config.yml"
        logPath = dir + "/registry.log"
        do {
            try FileSystem.createDirectory(storagePath)
            var authYAML = ""
            switch auth {
            case .none:
                break
            case .htpasswd(let users):
                let file = dir + "/htpasswd"
                var lines = ""
                for (user, password) in users.sorted(by: { $0.key < $1.key }) {
                    // The password goes through stdin (-i), never argv.
                    let r = try Subprocess.run("htpasswd", ["-iBn", user], stdin: Array(password.utf8), timeoutSeconds: 30)
                    guard r.succeeded else { throw LoopbackError("htpasswd failed: \(r.stderrText)") }
                    lines += r.stdoutText.split(whereSeparator: \.isNewline).first.map { String($0) + "\n" } ?? ""
                }
                try FileSystem.write(lines, to: file, mode: 0o600)
                authYAML = "auth:\n  htpasswd:\n    realm: imgpromote-test\n    path: \(file)\n"
            case .token(let realm, let service, let issuer, let bundle):
                authYAML = "auth:\n  token:\n    realm: \(realm)\n    service: \(service)\n    issuer: \(issuer)\n    rootcertbundle: \(bundle)\n"
            }
            var lastFailure = "no attempt"
            for _ in 0..<5 {
                let port = try probeFreeLoopbackPort()
                var config = """
                version: 0.1
                log:
                  level: \(options.logLevel)
                  formatter: text
                  accesslog:
                    disabled: false
                storage:
                  filesystem:
                    rootdirectory: \(storagePath)
                  delete:
                    enabled: \(options.enableDelete)
                  maintenance:
                    uploadpurging:
                      enabled: false
                http:
                  addr: 127.0.0.1:\(port)
                  secret: \(randomHex(16))

                """
                if let tls {
                    config += "  tls:\n    certificate: \(tls.certificatePath)\n    key: \(tls.privateKeyPath)\n"
                }
                config += authYAML
                if !options.extraConfig.isEmpty { config += options.extraConfig + "\n" }
                try FileSystem.write(config, to: configPath, mode: 0o600)
                let child = try Subprocess.launch(exe, ["serve", configPath], stdoutPath: logPath, stderrPath: logPath)
                let scheme = tls == nil ? "http" : "https"
                if RegistryProcess.waitReady(url: "\(scheme)://127.0.0.1:\(port)/v2/", child: child,
                                             timeoutSeconds: options.readyTimeoutSeconds) {
                    self.port = port
                    self.child = child
                    return
                }
                child.terminate(graceSeconds: 1)
                let log = (try? FileSystem.readText(logPath)) ?? ""
                lastFailure = String(log.suffix(2000))
                if !log.contains("address already in use") { break }     // only a port clash is worth a retry
                try? FileSystem.write("", to: logPath)
            }
            throw LoopbackError("docker-registry did not start: \(lastFailure)")
        } catch {
            FileSystem.removeTree(dir)
            throw error
        }
    }

    /// Starts a registry from async code without blocking the cooperative pool.
    public static func start(auth: Auth = .none, tls: TLSIdentity? = nil, options: Options = Options()) async throws -> RegistryProcess {
        try await runOnThread(name: "registry-start") { try RegistryProcess(auth: auth, tls: tls, options: options) }
    }

    static func waitReady(url: String, child: ChildProcess, timeoutSeconds: Double) -> Bool {
        let deadline = Deadline(seconds: timeoutSeconds)
        while !deadline.expired {
            if !child.isRunning { return false }
            if let r = try? LoopbackClient.get(url, timeoutSeconds: 2), r.status > 0 { return true }
            sleepMilliseconds(25)
        }
        return false
    }

    deinit { stop() }

    public var scheme: String { tls == nil ? "http" : "https" }
    /// `127.0.0.1:<port>` (the registry part of image references).
    public var host: String { "127.0.0.1:\(port)" }
    /// `http(s)://127.0.0.1:<port>`.
    public var baseURL: String { "\(scheme)://\(host)" }
    public var pid: Int32 { child.pid }
    public var isRunning: Bool { child.isRunning }

    /// The whole log (access log lines and the registry's own messages).
    public func log() -> String { (try? FileSystem.readText(logPath)) ?? "" }

    /// Requests the registry has logged so far, in order.
    public func accessLog() -> [AccessLogEntry] {
        log().split(separator: "\n").compactMap { AccessLogEntry(line: $0) }
    }

    /// Waits until the access log satisfies `predicate` (lines are written just after the response).
    @discardableResult
    public func waitForAccessLog(timeoutSeconds: Double = 5, _ predicate: ([AccessLogEntry]) -> Bool) -> Bool {
        let deadline = Deadline(seconds: timeoutSeconds)
        while true {
            if predicate(accessLog()) { return true }
            if deadline.expired { return false }
            sleepMilliseconds(20)
        }
    }

    /// Logged requests matching `method`, a path substring and `status`.
    public func count(method: String? = nil, pathContains: String? = nil, status: Int? = nil) -> Int {
        accessLog().filter { e in
            (method == nil || e.method == method!) && (pathContains == nil || e.path.contains(pathContains!))
                && (status == nil || e.status == status!)
        }.count
    }

    /// SIGTERM, then SIGKILL after 3 s; deletes the scratch directory. Idempotent.
    public func stop() {
        let first = stopped.withLock { s -> Bool in
            defer { s = true }
            return !s
        }
        guard first else { return }
        child.terminate(graceSeconds: 3)
        FileSystem.removeTree(directory)
    }
}
