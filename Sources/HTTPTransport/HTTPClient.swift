import CCurl

/// The HTTP client every other library uses. All transfers run on one dedicated thread that owns one
/// `curl_multi` handle (connections, DNS and TLS sessions are shared for free); async callers hand work
/// over through a queue and are resumed from that thread. Curl never runs on Swift's cooperative pool.
/// There is no process-wide instance: the program creates one and passes it to whatever sends
/// requests (each costs a thread, so one per run; tests make their own).
public final class HTTPClient: Sendable {
    let engine: CurlEngine

    public init(configuration: Configuration = Configuration()) {
        engine = CurlEngine(configuration: configuration)
    }

    public struct Configuration: Sendable {
        /// Receive buffer per transfer. Measured: 16 KiB → 2 MiB doubles GET throughput (fewer syscalls).
        public var receiveBufferBytes: Int
        /// Ring between a source GET and its upload: bounds memory per blob copy.
        public var pipeBufferBytes: Int
        /// Proxy settings; read from the environment by default.
        public var proxy: ProxySettings
        public var userAgent: String
        /// The system's root certificates, added to every verifying side's own CA (see `SystemTrust`).
        public var systemTrust: SystemTrust

        public init(receiveBufferBytes: Int = 1 << 20, pipeBufferBytes: Int = 1 << 20,
                    proxy: ProxySettings = .fromEnvironment(), userAgent: String = "imgpromote",
                    systemTrust: SystemTrust = .detected) {
            self.receiveBufferBytes = receiveBufferBytes
            self.pipeBufferBytes = pipeBufferBytes
            self.proxy = proxy
            self.userAgent = userAgent
            self.systemTrust = systemTrust
        }
    }

    /// Sends a request and collects the (bounded) response body.
    public func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        let id = engine.nextID()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<HTTPResponse, any Error>) in
                engine.submit(.request(id: id, request: request, continuation: c))
            }
        } onCancel: {
            engine.cancel(id: id)
        }
    }

    /// Streams one blob from its source into its destination (see `BlobTransfer`).
    public func transfer(_ transfer: BlobTransfer) async throws -> BlobTransferOutcome {
        let id = engine.nextID()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<BlobTransferOutcome, any Error>) in
                engine.submit(.blob(id: id, transfer: transfer, continuation: c))
            }
        } onCancel: {
            engine.cancel(id: id)
        }
    }

    /// A destination to hand to a `BlobTransfer` once its upload session is open.
    public func pendingUpload() -> PendingUpload { PendingUpload(engine: engine) }

    /// Aborts every transfer in flight (used on SIGINT/SIGTERM); they fail with `.cancelled`.
    public func cancelAll() { engine.cancelAll() }

    /// Counters for benchmarks and tests.
    public var statistics: Statistics { engine.statistics() }

    public struct Statistics: Sendable {
        public var requests: Int
        public var bytesReceived: Int64
        public var bytesSent: Int64
    }
}

/// Proxies as curl users expect them: `HTTPS_PROXY`/`https_proxy` for https URLs,
/// `HTTP_PROXY`/`http_proxy` for http URLs, `NO_PROXY`/`no_proxy` exceptions.
public struct ProxySettings: Sendable, Hashable {
    public var httpProxy: String?
    public var httpsProxy: String?
    public var noProxy: String?

    public init(httpProxy: String? = nil, httpsProxy: String? = nil, noProxy: String? = nil) {
        self.httpProxy = httpProxy
        self.httpsProxy = httpsProxy
        self.noProxy = noProxy
    }

    public static func fromEnvironment(_ env: [String: String] = Environment.all()) -> ProxySettings {
        func first(_ names: String...) -> String? {
            for n in names { if let v = env[n], !v.isEmpty { return v } }
            return nil
        }
        return ProxySettings(httpProxy: first("HTTP_PROXY", "http_proxy"),
                             httpsProxy: first("HTTPS_PROXY", "https_proxy"),
                             noProxy: first("NO_PROXY", "no_proxy"))
    }

    /// The proxy for `url`, or "" to tell curl "no proxy" (so it ignores its own env parsing).
    func proxy(for url: String) -> String {
        let p = url.lowercased().hasPrefix("https:") ? httpsProxy : httpProxy
        return p ?? ""
    }
}

extension HTTPClient {
    /// "libcurl/7.88.1 OpenSSL/3.0.x ..." for `imgpromote version`.
    public static var libraryVersions: String {
        precondition(curlGlobalReady, "curl_global_init failed")
        return String(cString: curl_version())
    }
}
