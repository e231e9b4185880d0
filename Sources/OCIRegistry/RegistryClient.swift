import FoundationEssentials
import HTTPTransport

/// A client for one registry host speaking the OCI distribution / Docker v2 protocol.
///
/// Authentication follows the registry's challenge (never pre-emptive Basic): the first 401 teaches
/// the challenge (no ping), Bearer tokens are cached per scope set, and a refused token is fetched
/// again once. Requests are retried with backoff on connection errors, 408, 429 (honouring Retry-After) and
/// 5xx. Error answers become `RegistryError`s with the CLI's exit classes.
public final class RegistryClient: Sendable {
    public let host: String
    public let tls: TLSOptions
    let session: RegistrySession
    let http: HTTPClient
    let credentials: (any CredentialProvider)?
    let retry: RetryPolicy
    let log: @Sendable (String) -> Void
    /// Fall back to http:// when the host does not speak TLS (a side the user marked insecure).
    let allowPlainHTTP: Bool
    /// How TLS failures word their remedies (the CLI: this side's flags).
    let remedyWording: RegistryError.RemedyWording
    let state = SessionState()
    let tokens = TokenCache()

    /// - Parameters:
    ///   - host: `host[:port]` as in image references.
    ///   - session: what this run's clients share (HTTP client, what each host answered so far).
    ///   - allowPlainHTTP: fall back to http:// when the host does not speak TLS. Only for sides the
    ///     user marked insecure: credentials then travel in clear text.
    ///   - remedyWording: how TLS failures word what to change (the CLI names the side's flags).
    public init(host: String, session: RegistrySession, tls: TLSOptions = .default, allowPlainHTTP: Bool = false,
                credentials: (any CredentialProvider)? = nil,
                retry: RetryPolicy = RetryPolicy(),
                remedyWording: @escaping RegistryError.RemedyWording = RegistryError.Remedy.libraryWording,
                log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.host = host
        self.tls = tls
        self.session = session
        self.http = session.http
        self.credentials = credentials
        self.retry = retry
        self.log = log
        self.allowPlainHTTP = allowPlainHTTP
        self.remedyWording = remedyWording
    }

    /// A transport failure, with what to change on this side.
    func failure(_ error: TransportError, _ what: String) -> RegistryError {
        RegistryError.from(transport: error, what: what, wording: remedyWording, plainAllowed: allowPlainHTTP)
    }

    /// Asks for these actions on `repository` in every token of this client, so one token serves
    /// HEAD, upload and cross-repository mounts alike.
    public func declare(repository: String, actions: [String]) async {
        state.declare(repository: repository, actions: actions)
    }

    /// `GET /v2/` with this client's credentials (as `docker login` checks them); throws when the
    /// registry refuses them.
    public func verifyCredentials() async throws {
        let request = HTTPRequest(method: "GET", url: url(""), timeouts: .init(totalSeconds: 60))
        let response = try await execute(request, repository: nil, actions: [], what: "GET /v2/")
        guard response.status == 200 else { throw RegistryError.from(response: response, host: host, what: "GET /v2/") }
    }

    /// Whether the registry knows `repository` (`GET /v2/<repository>/tags/list?n=1`: 200 yes, 404 no).
    /// On OpenShift's registry this says whether the image stream exists.
    public func repositoryExists(_ repository: String) async throws -> Bool {
        let request = HTTPRequest(method: "GET", url: url("\(repository)/tags/list?n=1"), maxResponseBytes: 1 << 20,
                                  timeouts: .init(totalSeconds: 60))
        let response = try await execute(request, repository: repository, actions: ["pull"], what: "GET tags of \(repository)")
        switch response.status {
        case 200: return true
        case 404: return false
        default: throw RegistryError.from(response: response, host: host, what: "tags of \(repository)")
        }
    }

    /// Number of token fetches so far (benchmarks report it).
    public var tokenFetches: Int { get async { await tokens.fetches } }

    // MARK: scheme and challenge, learned from the first answers (shared through the session)

    var endpointKey: String { "\(host)|\(tls.verify)|\(allowPlainHTTP)" }

    /// The settled scheme, or nil while a side allowed plain HTTP has not been answered yet.
    var knownScheme: String? {
        allowPlainHTTP ? session.endpoints.withLock { $0[endpointKey]?.scheme } : "https"
    }

    var knownChallenge: AuthChallenge? { session.endpoints.withLock { $0[endpointKey]?.challenge } }

    func settle(scheme: String) {
        session.endpoints.withLock { $0[endpointKey, default: RegistrySession.Endpoint()].scheme = scheme }
    }

    /// Records the challenge of a 401 answered to a request without credentials; false when it
    /// offers nothing usable.
    func learnChallenge(from response: HTTPResponse) -> Bool {
        let all = response.headers.values("WWW-Authenticate").flatMap { AuthChallenge.parse($0) }
        guard let challenge = all.first(where: { $0.scheme == "bearer" }) ?? all.first(where: { $0.scheme == "basic" }) else {
            return false
        }
        session.endpoints.withLock { $0[endpointKey, default: RegistrySession.Endpoint()].challenge = challenge }
        return true
    }

    /// `/v2/<path>` on this host; made absolute when sent, once the scheme is known.
    func url(_ path: String) -> String { "/v2/\(path)" }

    /// Makes a host-relative URL absolute, settling the scheme first if no answer has done it yet.
    func absolute(_ url: String) async throws -> String {
        guard url.hasPrefix("/") else { return url }
        // Only a request that cannot go out twice gets here first (a side allowed plain HTTP): probe.
        if knownScheme == nil { _ = try await probe() }
        return "\(knownScheme ?? "https")://\(host)\(url)"
    }

    /// `GET /v2/`, which challenges whenever the registry wants credentials: settles the scheme if
    /// needed and records the challenge. True when it learned one.
    func probe() async throws -> Bool {
        var ping = HTTPRequest(method: "GET", url: "/v2/", timeouts: .init(totalSeconds: 60))
        let answer: HTTPResponse
        if let scheme = knownScheme {
            ping.url = "\(scheme)://\(host)/v2/"
            ping.tls = tls
            answer = try await send(ping, what: "ping")
        } else {
            answer = try await firstAnswer(ping, what: "ping")
        }
        return answer.status == 401 && learnChallenge(from: answer)
    }

    /// Sends a credential-free request on a side whose scheme is not settled: over TLS and plain HTTP at
    /// once, so a plain-HTTP registry costs no extra round trip. TLS wins whenever it gets any answer;
    /// plain HTTP is taken only when TLS fails at the transport (the side was marked insecure).
    /// One request per host races at a time; the others wait for its answer and use the scheme it settled.
    func firstAnswer(_ request: HTTPRequest, what: String) async throws -> HTTPResponse {
        if knownScheme == nil, await session.schemeDiscovery.lead(endpointKey) {
            defer { session.schemeDiscovery.finish(endpointKey) }
            return try await raceSchemes(request, what: what)
        }
        // Settled meanwhile; if the discovery failed, this request finds out for itself.
        guard let scheme = knownScheme else { return try await raceSchemes(request, what: what) }
        var known = request
        known.url = "\(scheme)://\(host)\(request.url)"
        known.tls = tls
        return try await send(known, what: what)
    }

    private func raceSchemes(_ request: HTTPRequest, what: String) async throws -> HTTPResponse {
        var tlsRequest = request
        tlsRequest.url = "https://\(host)\(request.url)"
        tlsRequest.tls = tls
        // A server that ignores a TLS hello must not stall us for the full connect timeout.
        tlsRequest.timeouts.connectSeconds = 3
        var plainRequest = request
        plainRequest.url = "http://\(host)\(request.url)"
        async let overTLS = outcome { try await self.send(tlsRequest, what: what) }
        async let overPlain = outcome { try await self.send(plainRequest, what: what) }
        switch await overTLS {
        case .success(let response):
            settle(scheme: "https")
            return response   // leaving scope cancels the plain attempt
        case .failure(let error as TransportError) where [TransportError.Kind.tls, .timeout, .connectionLost].contains(error.kind):
            let response = try await overPlain.get()
            if knownScheme == nil { log("\(host) does not speak TLS; using plain HTTP as allowed for this side") }
            settle(scheme: "http")
            return response
        case .failure(let error):
            throw error
        }
    }

    // MARK: requests with auth and retries (the driver: RegistryClient+Requests.swift)

    /// Hands a refusal of sent credentials to their provider. Returns true when the provider renewed
    /// them (the caller repeats the request; once per `renewed` flag); throws the provider's
    /// replacement, or `error` itself when the provider has nothing to add.
    func interpretRefusal(_ error: RegistryError, renewed: inout Bool) async throws -> Bool {
        guard let interpreter = credentials as? any RefusalInterpreting else { throw error }
        var error = error
        error.refusal?.afterRenewal = renewed
        switch await interpreter.registryRefused(error) {
        case .renewed where !renewed:
            renewed = true
            return true
        case .replace(let replacement):
            throw replacement
        case .renewed, .unchanged:
            throw error
        }
    }

    func send(_ request: HTTPRequest, what: String) async throws -> HTTPResponse {
        let response = try await http.send(request)
        // The URL's own host: token requests go to the token service's.
        let target = Self.hostOf(request.url)
        log("\(request.method) \(target.isEmpty ? host : target)\(RegistryClient.redactedPath(request.url)) -> \(response.status)")
        return response
    }

    /// Path without query: upload URLs carry session state that must not reach logs.
    static func redactedPath(_ url: String) -> String {
        var s = Substring(url)
        if let r = s.firstIndex(of: "?") { s = s[..<r] }
        if let scheme = s.firstRange(of: "://") { s = s[scheme.upperBound...] }
        if let slash = s.firstIndex(of: "/") { return String(s[slash...]) }
        return "/"
    }

    /// Adds an Authorization header per the host's challenge; returns the cached token it used.
    func authorize(_ request: inout HTTPRequest, repository: String?, actions: [String]) async throws -> TokenUse? {
        guard let challenge = knownChallenge else { return nil }
        // Never send credentials to a host other than the registry's own.
        guard Self.hostOf(request.url) == host else { return nil }
        switch challenge.scheme {
        case "basic":
            guard let cred = try await credentials?.credential(host: host, repository: repository) else { return nil }
            guard let user = cred.username, let pass = cred.password else {
                if cred.registryToken != nil {
                    throw RegistryError(.unauthorized, "\(host) asks for a user name and password (Basic auth), not a bearer token")
                }
                return nil
            }
            request.headers.set("Authorization", "Basic " + Data("\(user):\(pass)".utf8).base64EncodedString())
            return nil
        case "bearer":
            if let fixed = try await credentials?.credential(host: host, repository: repository)?.registryToken {
                request.headers.set("Authorization", "Bearer \(fixed)")
                return nil
            }
            if let repository { state.declare(repository: repository, actions: actions) }
            let scopes = state.scopes()
            let key = "\(challenge.realm ?? "")|\(challenge.service ?? "")|\(scopes.joined(separator: " "))"
            let token = try await tokens.token(key: key) {
                try await self.fetchToken(challenge: challenge, scopes: scopes, repository: repository)
            }
            request.headers.set("Authorization", "Bearer \(token.value)")
            return TokenUse(key: key, token: token.value)
        default:
            return nil
        }
    }

    static func hostOf(_ url: String) -> String {
        guard let r = url.firstRange(of: "://") else { return "" }
        return String(url[r.upperBound...].prefix { $0 != "/" && $0 != "?" })
    }

    /// Docker token spec: GET realm?service&scope…&account with Basic credentials, or an OAuth2 POST
    /// with the identity (refresh) token.
    func fetchToken(challenge: AuthChallenge, scopes: [String], repository: String?,
                    renewed: Bool = false) async throws -> TokenCache.Token {
        var renewedCredentials = renewed
        guard let realm = challenge.realm, realm.hasPrefix("https://") || realm.hasPrefix("http://") else {
            throw RegistryError(.unauthorized, "\(host): the registry's token realm is missing or not a URL")
        }
        if realm.hasPrefix("http://") && !allowPlainHTTP {
            throw RegistryError(.network, "\(host): refusing to send credentials to a plain-HTTP token realm; mark this side insecure to allow it")
        }
        let cred = try await credentials?.credential(host: host, repository: repository)
        var request: HTTPRequest
        if let refresh = cred?.identityToken {
            var form = "grant_type=refresh_token&client_id=imgpromote&refresh_token=\(URLText.percentEncode(refresh))"
            if let service = challenge.service { form += "&service=\(URLText.percentEncode(service))" }
            if !scopes.isEmpty { form += "&scope=\(URLText.percentEncode(scopes.joined(separator: " ")))" }
            request = HTTPRequest(method: "POST", url: realm, headers: ["Content-Type": "application/x-www-form-urlencoded"],
                                  body: Array(form.utf8), tls: tls, timeouts: .init(totalSeconds: 60))
        } else {
            var query: [String] = []
            if let service = challenge.service { query.append("service=\(URLText.percentEncode(service))") }
            for s in scopes { query.append("scope=\(URLText.percentEncode(s))") }
            if let user = cred?.username { query.append("account=\(URLText.percentEncode(user))") }
            let sep = realm.contains("?") ? "&" : "?"
            request = HTTPRequest(method: "GET", url: realm + (query.isEmpty ? "" : sep + query.joined(separator: "&")),
                                  tls: tls, timeouts: .init(totalSeconds: 60))
            if let user = cred?.username, let pass = cred?.password {
                request.headers.set("Authorization", "Basic " + Data("\(user):\(pass)".utf8).base64EncodedString())
            }
        }
        // The token service's own answers: retried like any request, never authorized by the challenge.
        var exchange = Exchange(client: self, what: "token request", repository: nil, actions: [], authenticates: false)
        let response = try await drive(request, &exchange)
        switch response.status {
        case 200..<300:
            guard let decoded = try? JSONDecoder().decode(TokenResponse.self, from: Data(response.body)),
                  let value = decoded.token ?? decoded.access_token, !value.isEmpty else {
                throw RegistryError(.unauthorized, "\(host): the token service returned no token")
            }
            // Floor of 60 s as the spec says: some issuers send tiny or missing lifetimes.
            let life = max(decoded.expires_in ?? 60, 60)
            return TokenCache.Token(value: value, expires: .now + .seconds(life), refreshToken: decoded.refresh_token)
        case 401:
            guard cred != nil else {
                throw RegistryError(.unauthorized, "\(host): authentication required; provide credentials for this registry",
                                    status: 401)
            }
            let action: RegistryError.Refusal.Action = scopes.contains { $0.hasSuffix("push") || $0.contains("push,") } ? .push : .pull
            let error = RegistryError(.unauthorized, "\(host): the registry refused the credentials (token service answered 401)",
                                      status: 401, refusal: .init(repository: repository, action: action))
            if try await interpretRefusal(error, renewed: &renewedCredentials) {
                return try await fetchToken(challenge: challenge, scopes: scopes, repository: repository, renewed: true)
            }
            throw error
        case 403:
            throw RegistryError(.denied, "\(host): the token service denied access (403)", status: 403)
        default:
            throw RegistryError.from(response: response, host: host, what: "token request")
        }
    }
}

/// The result of `body` as a value, for work started with `async let` and inspected before deciding.
func outcome<T: Sendable>(_ body: () async throws -> T) async -> Result<T, any Error> {
    do { return .success(try await body()) } catch { return .failure(error) }
}

/// Mutable per-client state: the declared token scopes.
final class SessionState: Sendable {
    private struct Fields {
        var declared: [String: Set<String>] = [:]
        var extraScopes: Set<String> = []
    }
    private let fields = Locked(Fields())

    func declare(repository: String, actions: [String]) {
        fields.withLock { $0.declared[repository, default: []].formUnion(actions) }
    }

    func declare(scopeString: String) {
        fields.withLock { f in
            for s in scopeString.split(separator: " ") { f.extraScopes.insert(String(s)) }
        }
    }

    /// Sorted scope strings ("repository:NAME:pull,push").
    func scopes() -> [String] {
        fields.withLock { f in
            var out = f.extraScopes
            for (repo, actions) in f.declared {
                let ordered = ["pull", "push"].filter(actions.contains) + actions.subtracting(["pull", "push"]).sorted()
                out.insert("repository:\(repo):\(ordered.joined(separator: ","))")
            }
            return out.sorted()
        }
    }
}
