import HTTPTransport

/// A failure talking to or authenticating with a cluster. `message` is one line, says what to do,
/// and never contains a password or token (it is scrubbed on construction as a last line of defence).
public struct OpenShiftError: Error, Sendable, CustomStringConvertible, Equatable {
    public enum Kind: Sendable, Equatable {
        case usage
        case authentication
        case browserOnlyProvider
        case permission
        case notFound
        case network
        case tls
        case notOpenShift
        /// The cluster does not expose its integrated registry outside the cluster.
        case registryNotExposed
        case protocolError
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = Redact.text(message)
    }

    /// Exit status per the CLI contract.
    public var exitCode: Int32 {
        switch kind {
        case .usage: return 2
        case .authentication, .browserOnlyProvider: return 3
        case .permission: return 4
        case .notFound: return 5
        case .network, .tls: return 6
        case .notOpenShift, .registryNotExposed, .protocolError: return 1
        }
    }

    public var description: String { message }
}

/// How this side's options are spelled, so messages name the right flag (`--src-ca-file`,
/// `IMGPROMOTE_DEST_TOKEN`, or `--ca-file` for `imgpromote login`).
struct SideNames: Sendable {
    var flag: String   // "--src-"
    var env: String    // "IMGPROMOTE_SRC_"

    var tokenOptions: String { "\(env)TOKEN or \(flag)token-file" }
    var passwordOptions: String { "\(env)PASSWORD, \(flag)password-file or \(flag)password-stdin" }
}

extension OpenShiftError {
    /// Maps a transport failure to a user-facing error naming the side's TLS flags.
    static func transport(_ error: TransportError, side: SideNames, oauthHost: Bool = false) -> OpenShiftError {
        let host = error.host
        switch error.kind {
        case .tlsUntrusted:
            var m = "the TLS certificate of \(host) is not trusted (\(error.message)); pass its CA bundle with \(side.flag)ca-file FILE, or skip verification with \(side.flag)tls-verify=false (unsafe)"
            if oauthHost {
                m += "; the OAuth server usually has the ingress (router) certificate, whose CA differs from the API server's"
            }
            return OpenShiftError(.tls, m)
        case .tls:
            return OpenShiftError(.tls, "TLS connection to \(host) failed (\(error.message)); check that the URL uses https and the right port, or set \(side.flag)ca-file")
        case .couldNotResolve:
            return OpenShiftError(.network, "cannot resolve \(host) (\(error.message)); check the cluster URL and DNS, or HTTPS_PROXY/NO_PROXY")
        case .couldNotConnect:
            return OpenShiftError(.network, "cannot connect to \(host) (\(error.message)); check the URL, port and HTTPS_PROXY/NO_PROXY")
        case .timeout:
            return OpenShiftError(.network, "timed out talking to \(host) (\(error.message)); check the network and HTTPS_PROXY/NO_PROXY")
        case .connectionLost:
            return OpenShiftError(.network, "connection to \(host) was lost (\(error.message)); try again")
        case .invalidURL:
            return OpenShiftError(.usage, "invalid URL for \(host): \(error.message)")
        case .cancelled:
            return OpenShiftError(.network, "request to \(host) was cancelled")
        case .responseTooLarge:
            return OpenShiftError(.protocolError, "\(host) sent an oversized response (\(error.message))")
        default:
            return OpenShiftError(.network, "request to \(host) failed: \(error.message)")
        }
    }
}
