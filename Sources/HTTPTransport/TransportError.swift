/// Failures below HTTP: the request got no (complete) HTTP answer.
public struct TransportError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case couldNotResolve, couldNotConnect, tlsUntrusted, tls, timeout, connectionLost, tooManyRedirects
        case responseTooLarge, invalidURL, cancelled, digestMismatch, sizeMismatch, sourceStatus(Int), other
    }

    public var kind: Kind
    /// The libcurl code when one applies (for -v diagnostics).
    public var curlCode: Int
    public var message: String
    /// Host the request was for (never the URL: upload URLs carry session state).
    public var host: String

    public init(kind: Kind, curlCode: Int = 0, message: String, host: String) {
        self.kind = kind
        self.curlCode = curlCode
        self.message = message
        self.host = host
    }

    public var description: String { "\(host): \(message)" }

    /// Retrying may help: the connection broke, timed out or was refused.
    public var isTransient: Bool {
        switch kind {
        case .couldNotConnect, .timeout, .connectionLost: return true
        default: return false
        }
    }
}
