/// TLS settings for one side of a promotion (its API, OAuth and registry hosts).
public struct TLSOptions: Sendable, Hashable {
    /// PEM bundle trusted for this side, in addition to the system roots (the OAuth host's certificate
    /// may come from another CA than the API's, so both must verify).
    public var caFile: String?
    /// PEM CA certificates held in memory (kubeconfig `certificate-authority-data`).
    public var caPEM: [UInt8]?
    /// Verify the peer's certificate and host name. Off only when the user asked for it on this side.
    public var verify: Bool
    /// Client certificate and key (PEM) for mutual TLS (kubeconfig users).
    public var clientCertFile: String?
    public var clientKeyFile: String?
    public var clientCertPEM: [UInt8]?
    public var clientKeyPEM: [UInt8]?

    public init(caFile: String? = nil, caPEM: [UInt8]? = nil, verify: Bool = true,
                clientCertFile: String? = nil, clientKeyFile: String? = nil,
                clientCertPEM: [UInt8]? = nil, clientKeyPEM: [UInt8]? = nil) {
        self.caFile = caFile
        self.caPEM = caPEM
        self.verify = verify
        self.clientCertFile = clientCertFile
        self.clientKeyFile = clientKeyFile
        self.clientCertPEM = clientCertPEM
        self.clientKeyPEM = clientKeyPEM
    }

    public static let `default` = TLSOptions()
}
