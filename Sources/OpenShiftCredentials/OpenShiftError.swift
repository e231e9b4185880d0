import HTTPTransport

/// A failure talking to or authenticating with a cluster, in the library's own terms: what went wrong
/// (`problem`, which may name the caller's inputs), what to do about it (`remedies`), where (`host`,
/// `side`) and the failure underneath. Whoever shows it to a person words the inputs and remedies
/// (a CLI names its flags); `message` is the library's own wording. Never contains a password or token
/// (text is scrubbed on construction as a last line of defence).
public struct OpenShiftError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The caller's input is wrong or incomplete (options, kubeconfig, files it names).
        case invalidInput
        /// Credentials missing, refused or expired.
        case authentication
        /// The identity provider wants a browser; a user name and password cannot log in.
        case browserOnlyProvider
        /// Authenticated, but not allowed.
        case permission
        case notFound
        case network
        case tls
        /// The URL does not answer like an OpenShift API server.
        case notOpenShift
        /// The cluster does not expose its integrated registry outside the cluster.
        case registryNotExposed
        case protocolError
    }

    public var kind: Kind
    /// What went wrong; one line.
    public var problem: ClusterWording
    /// What the user can do, the preferred first.
    public var remedies: [ClusterRemedy]
    /// The API server URL (or the host of the failed request), when known.
    public var host: String?
    /// The side the failing session was opened for (`ClusterSideOptions.side`).
    public var side: ClusterSide?
    /// The failure underneath (a `TransportError`, a spawn failure), when there is one.
    public var underlying: (any Error & Sendable)?

    public init(_ kind: Kind, _ problem: ClusterWording, remedies: [ClusterRemedy] = [], host: String? = nil,
                side: ClusterSide? = nil, underlying: (any Error & Sendable)? = nil) {
        self.kind = kind
        self.problem = problem.redacted()
        self.remedies = remedies
        self.host = host
        self.side = side
        self.underlying = underlying
    }

    /// The problem and its remedies, with inputs and remedies worded by the caller:
    /// "problem; remedy, or remedy".
    public func message(input: (ClusterInput) -> String, remedy: (ClusterRemedy) -> String) -> String {
        var line = problem.rendered(input)
        if !remedies.isEmpty { line += "; " + remedies.map(remedy).joined(separator: ", or ") }
        return line
    }

    /// In the library's words (inputs named as `ClusterSideOptions` fields).
    public var message: String { message(input: \.fieldName, remedy: \.libraryWording) }

    public var description: String { message }
}

/// Which side of a promotion a session serves. The library only carries it (on sessions and their
/// errors) so that whoever words a message can name that side's inputs.
public enum ClusterSide: String, Sendable, Equatable {
    case source, destination
}

/// One of the caller's inputs (a `ClusterSideOptions` field) that a message refers to.
public enum ClusterInput: String, Sendable, Equatable, CaseIterable {
    case clusterURL, context, kubeconfigPaths, username, password, token, tokenFile, caFile, tlsVerify, registryOverride

    /// The library's words: the field.
    public var fieldName: String { "ClusterSideOptions." + rawValue }
}

/// What the user can do about a failure, in the library's terms.
public enum ClusterRemedy: Sendable, Equatable {
    /// Trust the CA that signed the host's certificate (`caFile`).
    case trustCA
    /// Stop verifying TLS certificates (`tlsVerify = false`; unsafe).
    case disableTLSVerification
    /// Give a bearer token (`token`).
    case giveToken
    /// Get a new token (the one given is invalid or expired) and give it (`token`).
    case renewToken
    /// Put a new token in this file (the one it holds was rejected).
    case replaceTokenFile(String)
    /// Give the user's password (`password`).
    case givePassword
    /// Log in with a user name and a password (`username`, `password`).
    case logInWithPassword
    /// Log in again where these credentials came from (`oc login` refreshes a kubeconfig).
    case logInAgain
    /// Name the cluster's API server (`clusterURL`).
    case nameCluster
    /// Name a kubeconfig context (`context`).
    case nameContext
    /// Name the registry host, skipping discovery (`registryOverride`).
    case nameRegistryHost
    /// A cluster administrator exposes the integrated registry (its default route).
    case exposeRegistry

    /// The library's words, naming `ClusterSideOptions` fields.
    public var libraryWording: String {
        func field(_ input: ClusterInput) -> String { input.fieldName }
        switch self {
        case .trustCA: return "trust the CA that signed the certificate (\(field(.caFile)))"
        case .disableTLSVerification: return "skip verification (\(field(.tlsVerify)) = false; unsafe)"
        case .giveToken: return "give a token (\(field(.token)))"
        case .renewToken: return "get a new token (\(field(.token)))"
        case .replaceTokenFile(let path): return "put a new token in \(path)"
        case .givePassword: return "give the password (\(field(.password)))"
        case .logInWithPassword: return "log in with a user name and password (\(field(.username)), \(field(.password)))"
        case .logInAgain: return ClusterRemedy.logInAgainWording
        case .nameCluster: return "name the API server (\(field(.clusterURL)))"
        case .nameContext: return "name a kubeconfig context (\(field(.context)))"
        case .nameRegistryHost: return "name the registry host (\(field(.registryOverride)))"
        case .exposeRegistry: return ClusterRemedy.exposeRegistryWording
        }
    }

    /// Remedies that name no input read the same everywhere.
    public static let logInAgainWording = "log in again (oc login)"
    public static let exposeRegistryWording = "ask a cluster administrator to set spec.defaultRoute: true in configs.imageregistry.operator.openshift.io/cluster"
}

/// A line of text that may name the caller's inputs (`\(input: .caFile)`); whoever shows it spells them.
public struct ClusterWording: Sendable, Equatable, ExpressibleByStringInterpolation, CustomStringConvertible {
    public enum Piece: Sendable, Equatable {
        case text(String)
        case input(ClusterInput)
    }

    public private(set) var pieces: [Piece]

    public init(_ text: String) { pieces = [.text(text)] }
    public init(stringLiteral value: String) { self.init(value) }
    public init(stringInterpolation: Interpolation) { pieces = stringInterpolation.pieces }

    public struct Interpolation: StringInterpolationProtocol {
        var pieces: [Piece] = []
        public init(literalCapacity: Int, interpolationCount: Int) {}
        public mutating func appendLiteral(_ literal: String) { if !literal.isEmpty { pieces.append(.text(literal)) } }
        public mutating func appendInterpolation(input: ClusterInput) { pieces.append(.input(input)) }
        public mutating func appendInterpolation(_ wording: ClusterWording) { pieces += wording.pieces }
        /// Only describable values: an Optional must be unwrapped first (no silent "Optional(…)").
        public mutating func appendInterpolation<T: CustomStringConvertible>(_ value: T) { appendLiteral(value.description) }
        public mutating func appendInterpolation(_ error: any Error) { appendLiteral(String(describing: error)) }
    }

    public func rendered(_ input: (ClusterInput) -> String) -> String {
        pieces.map { piece in
            switch piece {
            case .text(let s): return s
            case .input(let i): return input(i)
            }
        }.joined()
    }

    /// The inputs this text names.
    public var inputs: [ClusterInput] {
        pieces.compactMap { if case .input(let i) = $0 { return i } else { return nil } }
    }

    public var description: String { rendered(\.fieldName) }

    public static func + (lhs: ClusterWording, rhs: ClusterWording) -> ClusterWording {
        var joined = lhs
        joined.pieces += rhs.pieces
        return joined
    }

    func redacted() -> ClusterWording {
        var copy = self
        copy.pieces = pieces.map { piece in
            guard case .text(let s) = piece else { return piece }
            // Redact trims; the blanks next to an input are part of the sentence.
            let lead = s.prefix { $0 == " " }, trail = s.reversed().prefix { $0 == " " }
            let scrubbed = Redact.text(s)
            return .text(scrubbed.isEmpty ? String(lead) : lead + scrubbed + String(trail))
        }
        return copy
    }
}

extension OpenShiftError {
    /// Maps a transport failure to an error about `error.host`, with what the caller can change.
    static func transport(_ error: TransportError, side: ClusterSide?, oauthHost: Bool = false) -> OpenShiftError {
        let host = error.host
        func make(_ kind: Kind, _ problem: ClusterWording, _ remedies: [ClusterRemedy] = []) -> OpenShiftError {
            OpenShiftError(kind, problem, remedies: remedies, host: host, side: side, underlying: error)
        }
        switch error.kind {
        case .tlsUntrusted:
            let note = oauthHost ? "; the OAuth server usually has the ingress (router) certificate, whose CA differs from the API server's" : ""
            return make(.tls, "the TLS certificate of \(host) is not trusted (\(error.message)\(note))",
                        [.trustCA, .disableTLSVerification])
        case .tls:
            return make(.tls, "TLS connection to \(host) failed (\(error.message)); check that the URL uses https and the right port",
                        [.trustCA])
        case .couldNotResolve:
            return make(.network, "cannot resolve \(host) (\(error.message)); check the cluster URL and DNS, or HTTPS_PROXY/NO_PROXY")
        case .couldNotConnect:
            return make(.network, "cannot connect to \(host) (\(error.message)); check the URL, port and HTTPS_PROXY/NO_PROXY")
        case .timeout:
            return make(.network, "timed out talking to \(host) (\(error.message)); check the network and HTTPS_PROXY/NO_PROXY")
        case .connectionLost:
            return make(.network, "connection to \(host) was lost (\(error.message)); try again")
        case .invalidURL:
            return make(.invalidInput, "invalid URL for \(host): \(error.message)")
        case .cancelled:
            return make(.network, "request to \(host) was cancelled")
        case .responseTooLarge:
            return make(.protocolError, "\(host) sent an oversized response (\(error.message))")
        default:
            return make(.network, "request to \(host) failed: \(error.message)")
        }
    }
}
