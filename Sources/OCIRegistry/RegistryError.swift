import HTTPTransport

/// Why a registry operation failed, in classes a caller can act on (a CLI maps them to exit codes).
public struct RegistryError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// Credentials missing, refused or expired.
        case unauthorized
        /// Authenticated but not allowed to pull or push.
        case denied
        /// Repository, manifest or blob unknown.
        case notFound
        /// Unreachable host, TLS failure, timeouts.
        case network
        /// Digest mismatch, malformed or unsupported manifest.
        case integrity
        /// Rate limited after all retries.
        case tooManyRequests
        /// Anything else the registry said.
        case other
    }

    /// The registry refused credentials it was sent: for what, and how it said so. A registry cannot
    /// always say why (OpenShift's answers a bad token and a missing role with the same 401); whoever
    /// issued the credentials may know better (`RefusalInterpreting`).
    public struct Refusal: Sendable, Equatable {
        public enum Action: String, Sendable { case pull, push }
        /// `namespace/name`; nil for requests outside a repository (`/v2/`).
        public var repository: String?
        public var action: Action
        /// Every challenge of the refusal, e.g. `Basic realm=openshift,error="access denied"`.
        public var challenges: [AuthChallenge]
        /// The refused request was already a repeat with credentials the provider had renewed.
        public var afterRenewal = false

        public init(repository: String?, action: Action, challenges: [AuthChallenge] = []) {
            self.repository = repository
            self.action = action
            self.challenges = challenges
        }

        /// The challenge's `error` parameter, if any (`access denied`, `insufficient_scope`, ...).
        public var challengeError: String? { challenges.lazy.compactMap(\.error).first }
    }

    /// What the user can change on the client's side to get past a TLS failure.
    public enum Remedy: Sendable, Equatable {
        /// Trust the CA that signed the registry's certificate.
        case trustCA
        /// Stop verifying TLS for this registry (unsafe); also allows plain HTTP for a registry
        /// served without TLS.
        case disableTLSVerification

        /// The library's own words: the `TLSOptions` fields.
        public static let libraryWording: RemedyWording = { remedy in
            switch remedy {
            case .trustCA: return "TLSOptions.caFile"
            case .disableTLSVerification: return "TLSOptions.verify = false"
            }
        }
    }

    /// Words a remedy for a message, e.g. as the flag that applies it (`--src-ca-file FILE`).
    public typealias RemedyWording = @Sendable (Remedy) -> String

    public var kind: Kind
    /// One line; never contains credentials, tokens or upload session URLs.
    public var message: String
    public var status: Int?
    /// Set when the registry refused (401/403) a request that carried credentials.
    public var refusal: Refusal?
    /// What the user can change to get past a TLS failure, in the order the message offers them.
    public var remedies: [Remedy] = []

    public init(_ kind: Kind, _ message: String, status: Int? = nil, refusal: Refusal? = nil) {
        self.kind = kind
        self.message = message
        self.status = status
        self.refusal = refusal
    }

    public var description: String { message }

    /// Classifies an error answer from a registry.
    static func from(response: HTTPResponse, host: String, what: String) -> RegistryError {
        let decoded = RegistryErrorResponse.decode(status: response.status, body: response.body)
        let codes = Set(decoded.errors.map(\.code))
        let summary = decoded.summary
        let kind: Kind
        switch response.status {
        case 401:
            kind = codes.contains("DENIED") ? .denied : .unauthorized
        case 403:
            kind = .denied
        case 404:
            kind = .notFound
        case 429:
            kind = .tooManyRequests
        default:
            if codes.contains("DENIED") { kind = .denied }
            else if codes.contains("UNAUTHORIZED") { kind = .unauthorized }
            else if codes.contains("DIGEST_INVALID") || codes.contains("MANIFEST_INVALID")
                        || codes.contains("SIZE_INVALID") { kind = .integrity }
            else if !codes.isDisjoint(with: ["MANIFEST_UNKNOWN", "BLOB_UNKNOWN", "NAME_UNKNOWN"]) { kind = .notFound }
            else { kind = .other }
        }
        return RegistryError(kind, "\(host): \(what): \(summary)", status: response.status)
    }

    /// Classifies a refusal of credentials that were sent: the error plus what was refused.
    static func refused(response: HTTPResponse, host: String, what: String, repository: String?,
                        actions: [String]) -> RegistryError {
        var error = from(response: response, host: host, what: what)
        error.refusal = Refusal(repository: repository, action: actions.contains("push") ? .push : .pull,
                                challenges: response.headers.values("WWW-Authenticate").flatMap { AuthChallenge.parse($0) })
        return error
    }

    /// Classifies a failure below HTTP. TLS failures carry what to change (`remedies`), worded by
    /// whoever configured the client (`RemedyWording`: the CLI names the side's flags).
    static func from(transport error: TransportError, what: String, wording: RemedyWording = Remedy.libraryWording,
                     plainAllowed: Bool = false) -> RegistryError {
        if error.host.isEmpty { return RegistryError(error.kind == .cancelled ? .other : .network, "\(what): \(error.message)") }
        let host = error.host
        func remedied(_ message: String, _ remedies: [Remedy]) -> RegistryError {
            var e = RegistryError(.network, message)
            e.remedies = remedies
            return e
        }
        switch error.kind {
        case .digestMismatch, .sizeMismatch:
            return RegistryError(.integrity, "\(host): \(what): \(error.message)")
        case .tlsUntrusted:
            return remedied("\(host): \(what): certificate not trusted (\(error.message)); pass the CA that signed it with \(wording(.trustCA)), or skip verification with \(wording(.disableTLSVerification)) (unsafe)",
                            [.trustCA, .disableTLSVerification])
        case .tls where !plainAllowed && Self.answeredInPlainHTTP(error.message):
            return remedied("\(host): \(what): the registry answered in plain HTTP, not TLS; if it is served without TLS, pass \(wording(.disableTLSVerification))",
                            [.disableTLSVerification])
        case .tls:
            return remedied("\(host): \(what): TLS handshake failed (\(error.message)); check the registry host and port, or \(wording(.trustCA))",
                            [.trustCA])
        case .couldNotResolve, .couldNotConnect:
            return RegistryError(.network, "\(host): \(what): \(error.message); check the registry host and port, and HTTPS_PROXY/NO_PROXY")
        default:
            return RegistryError(.network, "\(host): \(what): \(error.message)")
        }
    }

    /// OpenSSL's words for a peer whose first bytes are not a TLS record, as when an HTTP server
    /// answers the hello ("wrong version number"; "packet length too long" with some servers).
    static func answeredInPlainHTTP(_ message: String) -> Bool {
        message.contains("wrong version number") || message.contains("packet length too long")
    }
}
