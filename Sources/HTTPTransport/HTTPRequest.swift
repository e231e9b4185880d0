/// One HTTP request. Bodies here are small (manifests, forms, JSON); blobs go through `BlobTransfer`.
public struct HTTPRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: HTTPHeaders
    public var body: [UInt8]?
    public var tls: TLSOptions
    /// Follow 3xx responses. libcurl never forwards our Authorization header to another host
    /// (scheme, host and port must match), which is what registries redirecting blobs to storage need.
    public var followRedirects: Bool
    /// Responses larger than this fail with `TransportError.responseTooLarge` (manifests are capped at
    /// 4 MiB by the spec; error bodies are tiny). Protects memory from hostile servers.
    public var maxResponseBytes: Int
    /// Abort when the transfer is slower than `lowSpeedBytes` per second for `lowSpeedSeconds`.
    public var timeouts: Timeouts

    public init(method: String = "GET", url: String, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8]? = nil,
                tls: TLSOptions = .default, followRedirects: Bool = false, maxResponseBytes: Int = 8 << 20,
                timeouts: Timeouts = .default) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.tls = tls
        self.followRedirects = followRedirects
        self.maxResponseBytes = maxResponseBytes
        self.timeouts = timeouts
    }

    public struct Timeouts: Sendable, Hashable {
        public var connectSeconds: Int
        public var lowSpeedBytes: Int
        public var lowSpeedSeconds: Int
        /// Whole-request cap for small requests; 0 = none (blob transfers rely on the low-speed guard).
        public var totalSeconds: Int

        public init(connectSeconds: Int = 15, lowSpeedBytes: Int = 1, lowSpeedSeconds: Int = 30, totalSeconds: Int = 0) {
            self.connectSeconds = connectSeconds
            self.lowSpeedBytes = lowSpeedBytes
            self.lowSpeedSeconds = lowSpeedSeconds
            self.totalSeconds = totalSeconds
        }

        public static let `default` = Timeouts()
    }
}

public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: [UInt8]
    /// The URL that answered (after redirects).
    public var url: String

    public init(status: Int, headers: HTTPHeaders, body: [UInt8], url: String) {
        self.status = status
        self.headers = headers
        self.body = body
        self.url = url
    }

    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}
