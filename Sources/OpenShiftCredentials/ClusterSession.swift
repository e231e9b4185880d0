import FoundationEssentials
import HTTPTransport

/// One side's authenticated connection to an OpenShift cluster: API URL, TLS settings (shared by the
/// API, OAuth and registry hosts of that side) and a bearer token (or a client certificate).
public final class ClusterSession: Sendable {
    public let apiURL: String
    /// For this side's API, OAuth AND registry hosts (CA bundle added to the system roots).
    public let tls: TLSOptions
    /// True when the token was obtained by a password login in this process (revoke it before exit).
    public let createdToken: Bool
    /// The kubeconfig context's namespace, or the pod's namespace for an in-cluster token.
    public let namespace: String?
    /// Where the credentials came from, for -v output ("password login as alice", "kubeconfig context x", …).
    public let credentialSource: String

    enum TokenSource: Sendable {
        /// No bearer token (client certificate, or anonymous); `reason` says why, for registry errors.
        case none(reason: String)
        case fixed(String)
        /// Re-read at most once a minute: in-pod service-account tokens rotate.
        case file(String)
    }

    struct State: Sendable {
        var user: String?
        var revocation: Task<Void, Never>?
        var fileToken: String?
        var fileReadAt: Double = 0
        /// A token obtained by logging in again (replaces a `.fixed` token).
        var renewedToken: String?
        /// Tokens this process created, in order (all revoked at the end).
        var created: [String] = []
        var renewal: Task<Bool, Never>?
        var renewedAt: Double?
        var checks: [String: Task<TokenCheck, Never>] = [:]
    }

    /// The API's verdict on a token.
    enum TokenCheck: Sendable {
        case accepted(user: String)
        case rejected
        /// No verdict (network failure, no review API).
        case unknown
    }

    /// Logs in again with the same credentials (password logins only).
    typealias Relogin = @Sendable () async throws -> String

    let http: HTTPClient
    /// The side this session serves, carried by its errors.
    public let side: ClusterSide?
    let registryOverride: String?
    let tokenSource: TokenSource
    /// What to tell the user when the API answers 401 with these credentials.
    let rejectedHint: RejectionHint
    /// Where a token created by a password login is entered, to be revoked on the way out.
    let tokens: TokenLedger?
    let logSink: @Sendable (String) -> Void
    let warnSink: @Sendable (String) -> Void
    let relogin: Relogin?
    private let state: Locked<State>
    /// Access reviews per project and use, asked once (`preflight`).
    let preflightTasks = Locked<[String: Task<NamespaceAccess, any Error>]>([:])

    init(apiURL: String, tls: TLSOptions, createdToken: Bool, namespace: String?, credentialSource: String,
         http: HTTPClient, side: ClusterSide?, registryOverride: String?, tokenSource: TokenSource, rejectedHint: RejectionHint,
         initialFileToken: String?, relogin: Relogin? = nil, tokens: TokenLedger?, log: @escaping @Sendable (String) -> Void,
         warn: @escaping @Sendable (String) -> Void) {
        self.apiURL = apiURL
        self.tls = tls
        self.createdToken = createdToken
        self.namespace = namespace
        self.credentialSource = credentialSource
        self.http = http
        self.side = side
        self.registryOverride = registryOverride
        self.tokenSource = tokenSource
        self.rejectedHint = rejectedHint
        self.tokens = tokens
        logSink = log
        warnSink = warn
        self.relogin = relogin
        var initial = State(fileToken: initialFileToken, fileReadAt: Clock.monotonicSeconds())
        if createdToken, case .fixed(let t) = tokenSource { initial.created = [t] }
        state = Locked(initial)
    }

    /// Log lines never carry a secret: known secrets and anything shaped like one are scrubbed.
    func log(_ line: String) {
        logSink(Redact.text(line, secrets: hasToken ? [token()] : []))
    }

    func warn(_ line: String) {
        warnSink(Redact.text(line, secrets: hasToken ? [token()] : []))
    }

    // MARK: - opening

    /// Resolves credentials in this order: explicit token; username + password → OAuth login (code +
    /// PKCE, exactly like `oc login -u`); a kubeconfig context (token, tokenFile, exec plugin, client
    /// certificate) — the named one, else one whose cluster is the given URL, else current-context when
    /// no URL was given; finally, in a pod, the service-account token in `inClusterDirectory`.
    ///
    /// - Parameters:
    ///   - tokens: where a token created by a password login is entered, so the caller can revoke every
    ///     such token on its way out (also on a signal) or keep them (`TokenLedger(keepingTokens:)`).
    ///     Without a ledger, only `revokeIfCreated()` revokes it.
    ///   - environment: the environment exec plugins inherit, without variables holding the caller's
    ///     secrets (`KUBERNETES_SERVICE_HOST/PORT` and `POD_NAMESPACE` are read from it).
    ///   - interactive: exec plugins may use the terminal (stdin) when true.
    ///   - warn: messages the user should see even without -v (insecure kubeconfig cluster, failed
    ///     revocation); defaults to `log`.
    ///   - log: -v diagnostics; never receives a token or password.
    /// - Throws: `OpenShiftError`.
    public static func open(_ options: ClusterSideOptions, tokens: TokenLedger? = nil, http: HTTPClient,
                            environment: [String: String],
                            inClusterDirectory: String = "/var/run/secrets/kubernetes.io/serviceaccount",
                            interactive: Bool = false, warn: (@Sendable (String) -> Void)? = nil,
                            log: @escaping @Sendable (String) -> Void) async throws -> ClusterSession {
        try await Opener(options: options, http: http, environment: environment, inClusterDirectory: inClusterDirectory,
                         interactive: interactive, tokens: tokens, warn: warn ?? log, log: log).open()
    }

    // MARK: - token

    /// The bearer token (for registry auth, or a caller that hands it on; "" when the side authenticates
    /// with a client certificate only). Never log it.
    public func token() -> String {
        switch tokenSource {
        case .none:
            return ""
        case .fixed(let t):
            return state.withLock { $0.renewedToken } ?? t
        case .file(let path):
            return state.withLock { s in
                let now = Clock.monotonicSeconds()
                if s.fileToken == nil || now - s.fileReadAt >= 60 {
                    s.fileReadAt = now
                    if let bytes = FileSystem.read(path) {
                        let t = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: " \t\r\n")
                        if !t.isEmpty { s.fileToken = t }
                    }
                }
                return s.fileToken ?? ""
            }
        }
    }

    /// Whether a bearer token is available (false for client-certificate-only credentials).
    public var hasToken: Bool {
        if case .none = tokenSource { return false }
        return true
    }

    // MARK: - API requests

    func api(_ method: String, _ path: String, body: String? = nil, totalSeconds: Int = 60,
             bearer explicitToken: String? = nil) async throws(OpenShiftError) -> HTTPResponse {
        var headers = HTTPHeaders()
        headers.set("Accept", "application/json")
        if body != nil { headers.set("Content-Type", "application/json") }
        let bearer = explicitToken ?? token()
        if !bearer.isEmpty { headers.set("Authorization", "Bearer " + bearer) }
        let url = apiURL + path
        let request = HTTPRequest(method: method, url: url, headers: headers, body: body.map { Array($0.utf8) }, tls: tls,
                                  followRedirects: false, maxResponseBytes: 8 << 20,
                                  timeouts: .init(connectSeconds: 15, totalSeconds: totalSeconds))
        log("\(method) \(url)")
        let r: HTTPResponse
        do {
            r = try await http.send(request)
        } catch let e as TransportError {
            throw OpenShiftError.transport(e, side: side)
        } catch {
            throw self.error(.network, "request to \(URLTools.host(url)) failed: \(error)")
        }
        log("\(r.status) \(method) \(path)")
        if OAuthLogin.isHTML(r) {
            var e = OAuthLogin.consoleURLError(apiURL)
            e.side = side
            throw e
        }
        return r
    }

    /// An error about this session's cluster.
    func error(_ kind: OpenShiftError.Kind, _ problem: ClusterWording, remedies: [ClusterRemedy] = []) -> OpenShiftError {
        OpenShiftError(kind, problem, remedies: remedies, host: apiURL, side: side)
    }

    func rejected(_ status: Int = 401) -> OpenShiftError {
        error(.authentication, "\(apiURL) rejected the credentials (\(status) Unauthorized): \(rejectedHint.problem)",
              remedies: rejectedHint.remedies)
    }

    // MARK: - whoami

    /// The user name: SelfSubjectReview (authentication.k8s.io/v1), falling back to
    /// `GET /apis/user.openshift.io/v1/users/~`. Cached.
    public func whoami() async throws -> String {
        if let cached = state.withLock({ $0.user }) { return cached }
        let name = try await lookupUser()
        state.withLock { $0.user = name }
        return name
    }

    private func lookupUser() async throws(OpenShiftError) -> String {
        struct Review: Decodable {
            struct Status: Decodable {
                struct UserInfo: Decodable { var username: String? }
                var userInfo: UserInfo?
            }
            var status: Status?
        }
        struct User: Decodable {
            struct Meta: Decodable { var name: String? }
            var metadata: Meta?
        }
        let review = try await api("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                                   body: #"{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}"#)
        if review.status == 200 || review.status == 201,
           let name = (try? JSONDecoder().decode(Review.self, from: Data(review.body)))?.status?.userInfo?.username,
           !name.isEmpty {
            return name
        }
        if review.status == 401 { throw rejected() }
        let user = try await api("GET", "/apis/user.openshift.io/v1/users/~")
        switch user.status {
        case 200:
            if let name = (try? JSONDecoder().decode(User.self, from: Data(user.body)))?.metadata?.name, !name.isEmpty {
                return name
            }
            throw error(.protocolError, "\(apiURL) returned a user without a name")
        case 401:
            throw rejected()
        case 403:
            if !hasToken && tls.clientCertPEM == nil && tls.clientCertFile == nil {
                throw error(.authentication, "\(apiURL) treats this request as anonymous: no credentials were given",
                            remedies: [.giveToken])
            }
            if !hasToken {
                throw error(.authentication, "\(apiURL) did not accept the client certificate of \(credentialSource) (the request was treated as anonymous, HTTP 403); check the certificate",
                            remedies: [.giveToken])
            }
            throw error(.authentication, "\(apiURL) did not accept the credentials as a user (HTTP 403): \(rejectedHint.problem)",
                        remedies: rejectedHint.remedies)
        case 404 where review.status == 404:
            throw error(.notOpenShift, "\(apiURL) answers neither SelfSubjectReview nor users/~: is it an OpenShift API server URL (https://api.<cluster>:6443)?")
        default:
            throw error(.protocolError, "cannot determine the user at \(apiURL): SelfSubjectReview answered HTTP \(review.status), users/~ HTTP \(user.status)")
        }
    }

    // MARK: - token validity and renewal

    /// Asks the API whether `token` is valid now (a SelfSubjectReview as that token, never cached beyond
    /// the concurrent callers of one moment).
    func checkToken(_ token: String) async -> TokenCheck {
        let task = state.withLock { s -> Task<TokenCheck, Never> in
            if let t = s.checks[token] { return t }
            let t = Task { await self.lookupCheck(token) }
            s.checks[token] = t
            return t
        }
        let result = await task.value
        state.withLock { _ = $0.checks.removeValue(forKey: token) }
        return result
    }

    private func lookupCheck(_ token: String) async -> TokenCheck {
        struct Review: Decodable {
            struct Status: Decodable { struct UserInfo: Decodable { var username: String? }; var userInfo: UserInfo? }
            var status: Status?
        }
        guard let r = try? await api("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                                     body: #"{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}"#,
                                     bearer: token) else { return .unknown }
        switch r.status {
        case 200, 201:
            let name = (try? JSONDecoder().decode(Review.self, from: Data(r.body)))?.status?.userInfo?.username
            return .accepted(user: name ?? state.withLock { $0.user } ?? "")
        case 401:
            return .rejected
        default:
            // Clusters before SelfSubjectReview (OpenShift < 4.15): the user lookup, as `oc whoami` falls back.
            struct User: Decodable { struct Meta: Decodable { var name: String? }; var metadata: Meta? }
            guard let u = try? await api("GET", "/apis/user.openshift.io/v1/users/~", bearer: token) else { return .unknown }
            switch u.status {
            case 200: return .accepted(user: (try? JSONDecoder().decode(User.self, from: Data(u.body)))?.metadata?.name ?? "")
            case 401: return .rejected
            default: return .unknown
            }
        }
    }

    /// True for a short while after the token was renewed: requests sent before may carry the old one.
    var recentlyRenewed: Bool {
        guard let at = state.withLock({ $0.renewedAt }) else { return false }
        return Clock.monotonicSeconds() - at < 60
    }

    /// After the API rejected `failed` (expired, revoked, rotated): re-reads a token file, or logs in
    /// again with the same credentials, once per session. Concurrent callers share the one attempt.
    /// Says so on the warning channel. Returns true when a different, accepted token is now in use.
    func renewToken(after failed: String) async -> Bool {
        let task = state.withLock { s -> Task<Bool, Never> in
            if let t = s.renewal { return t }
            let t = Task { await self.renewNow(after: failed) }
            s.renewal = t
            return t
        }
        return await task.value
    }

    private func renewNow(after failed: String) async -> Bool {
        switch tokenSource {
        case .none:
            return false
        case .file(let path):
            guard let bytes = FileSystem.read(path) else { return false }
            let fresh = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: " \t\r\n")
            guard !fresh.isEmpty, fresh != failed else {
                warn("\(apiURL) rejected the token from \(path) mid-run, and the file still holds the same token")
                return false
            }
            state.withLock {
                $0.fileToken = fresh
                $0.fileReadAt = Clock.monotonicSeconds()
            }
        case .fixed:
            guard let relogin else { return false }
            do {
                let fresh = try await relogin()
                state.withLock {
                    $0.renewedToken = fresh
                    $0.created.append(fresh)
                }
            } catch {
                warn("\(apiURL) rejected the token mid-run and logging in again failed: \(error)")
                return false
            }
        }
        guard case .accepted = await checkToken(token()) else { return false }
        state.withLock { $0.renewedAt = Clock.monotonicSeconds() }
        switch tokenSource {
        case .file(let path): warn("\(apiURL) rejected the token mid-run (rotated or expired); re-read \(path) and continued")
        default: warn("\(apiURL) rejected the token mid-run (expired or revoked); logged in again as the same user and continued")
        }
        return true
    }

    // MARK: - registry

    /// Basic credentials for the integrated registry.
    ///
    /// The registry ignores the user name and validates only the password, which must be the API token
    /// (protocol notes §5.3). `oc registry login` uses the literal user name `user` for that reason, and
    /// so do we: the real name must NOT be used, because a name containing ':' (kube:admin) would move
    /// part of it into the password when the registry splits `user:password` at the first colon.
    public func registryCredential() async throws -> (username: String, password: String) {
        guard case .none(let reason) = tokenSource else {
            let t = token()
            guard !t.isEmpty else {
                throw error(.authentication, "no token is available for \(apiURL) (\(credentialSource))", remedies: [.giveToken])
            }
            return (username: "user", password: t)
        }
        throw error(.authentication, "\(reason), but the integrated registry of \(apiURL) accepts only a token",
                    remedies: [.giveToken, .logInWithPassword])
    }

    /// The public host of the integrated registry, discovered from the cluster unless
    /// `registryOverride` is set: the image stream's `status.publicDockerImageRepository` (the named
    /// stream, then any stream in `project`, then in `openshift` — like `oc registry login`), then
    /// `images.config.openshift.io/cluster` external hostnames (spec first, then status — the order the
    /// API server uses for publicDockerImageRepository), then route `default-route` in
    /// `openshift-image-registry`.
    public func registryHost(project: String, imageStream: String?) async throws -> String {
        if let override = registryOverride, !override.isEmpty { return Self.cleanHost(override) }
        var internalHost: String?
        let ns = URLTools.pathEscape(project)
        if let name = imageStream, !name.isEmpty {
            let r = try await api("GET", "/apis/image.openshift.io/v1/namespaces/\(ns)/imagestreams/\(URLTools.pathEscape(name))")
            if r.status == 401 { throw rejected() }
            if r.status == 200, let s = try? JSONDecoder().decode(ImageStream.self, from: Data(r.body)) {
                if let host = Self.repositoryHost(s.status?.publicDockerImageRepository) { return found(host, "image stream \(project)/\(name)") }
                internalHost = internalHost ?? Self.repositoryHost(s.status?.dockerImageRepository)
            }
        }
        for namespace in project == "openshift" ? [project] : [project, "openshift"] {
            let r = try await api("GET", "/apis/image.openshift.io/v1/namespaces/\(URLTools.pathEscape(namespace))/imagestreams")
            if r.status == 401 { throw rejected() }
            guard r.status == 200, let list = try? JSONDecoder().decode(ImageStreamList.self, from: Data(r.body)) else { continue }
            for s in list.items ?? [] {
                if let host = Self.repositoryHost(s.status?.publicDockerImageRepository) { return found(host, "image streams in \(namespace)") }
                internalHost = internalHost ?? Self.repositoryHost(s.status?.dockerImageRepository)
            }
        }
        let config = try await api("GET", "/apis/config.openshift.io/v1/images/cluster")
        if config.status == 401 { throw rejected() }
        if config.status == 200, let c = try? JSONDecoder().decode(ImageConfig.self, from: Data(config.body)) {
            let hosts = (c.spec?.externalRegistryHostnames ?? []) + (c.status?.externalRegistryHostnames ?? [])
            if let host = hosts.first(where: { !$0.isEmpty }) { return found(Self.cleanHost(host), "images.config.openshift.io/cluster") }
            internalHost = internalHost ?? c.status?.internalRegistryHostname
        }
        let route = try await api("GET", "/apis/route.openshift.io/v1/namespaces/openshift-image-registry/routes/default-route")
        if route.status == 401 { throw rejected() }
        if route.status == 200, let r = try? JSONDecoder().decode(Route.self, from: Data(route.body)),
           let host = r.spec?.host, !host.isEmpty {
            return found(host, "route default-route")
        }
        let inside = internalHost.map { "; its in-cluster name \($0) works only from inside the cluster" } ?? ""
        throw error(.registryNotExposed, "the integrated registry of \(apiURL) is not exposed outside the cluster (no image stream has a publicDockerImageRepository, no external registry hostname, no default route\(inside))",
                    remedies: [.exposeRegistry, .nameRegistryHost])
    }

    private func found(_ host: String, _ source: String) -> String {
        log("registry host \(host) (from \(source))")
        return host
    }

    /// `host[:port]` of `host[:port]/ns/name`.
    static func repositoryHost(_ repository: String?) -> String? {
        guard let repository, !repository.isEmpty else { return nil }
        let host = cleanHost(repository).split(separator: "/").first.map(String.init) ?? ""
        return host.isEmpty ? nil : host
    }

    static func cleanHost(_ raw: String) -> String {
        var s = raw.trimmingCharacters(in: " \t\r\n")
        for prefix in ["docker://", "https://", "http://"] where s.hasPrefix(prefix) { s = String(s.dropFirst(prefix.count)) }
        while s.hasSuffix("/") { s.removeLast() }
        return s
    }

    private struct ImageStream: Decodable {
        struct Status: Decodable {
            var dockerImageRepository: String?
            var publicDockerImageRepository: String?
        }
        var status: Status?
    }

    private struct ImageStreamList: Decodable { var items: [ImageStream]? }

    private struct ImageConfig: Decodable {
        struct Spec: Decodable { var externalRegistryHostnames: [String]? }
        struct Status: Decodable {
            var externalRegistryHostnames: [String]?
            var internalRegistryHostname: String?
        }
        var spec: Spec?
        var status: Status?
    }

    private struct Route: Decodable {
        struct Spec: Decodable { var host: String? }
        var spec: Spec?
    }

    // MARK: - revocation

    /// Deletes the OAuth access token (object `sha256~<base64url(sha256(token minus prefix))>`) if this
    /// process created it. Idempotent; never throws (a failure is a warning: the token expires anyway).
    public func revokeIfCreated() async {
        guard createdToken else { return }
        // Every caller (the command's own cleanup, a SIGTERM handler) awaits the one DELETE: a signal
        // handler must not exit while the cleanup's request is still in flight.
        let task = state.withLock { s -> Task<Void, Never> in
            if let t = s.revocation { return t }
            let t = Task { await self.revokeNow() }
            s.revocation = t
            return t
        }
        await task.value
    }

    private func revokeNow() async {
        defer { tokens?.remove(self) }
        let all = state.withLock { $0.created }
        for token in all.isEmpty ? [self.token()] : all { await revoke(token) }
    }

    private func revoke(_ token: String) async {
        let name = OpenShiftToken.objectName(token)
        do {
            let r = try await api("DELETE", "/apis/oauth.openshift.io/v1/oauthaccesstokens/\(URLTools.pathEscape(name))", totalSeconds: 10)
            switch r.status {
            case 200, 202, 204: log("revoked the OAuth access token created for this run")
            case 404: log("the OAuth access token created for this run was already deleted")
            case 401: log("the OAuth access token created for this run is no longer valid")
            default:
                warn("could not revoke the OAuth access token created for this run on \(apiURL) (HTTP \(r.status)); it expires on its own, or delete it with 'oc delete useroauthaccesstokens'")
            }
        } catch {
            warn("could not revoke the OAuth access token created for this run on \(apiURL) (\(error)); it expires on its own")
        }
    }
}

/// Why the API may reject a session's credentials, and what to do then.
struct RejectionHint: Sendable {
    var problem: ClusterWording
    var remedies: [ClusterRemedy]

    init(_ problem: ClusterWording, _ remedies: [ClusterRemedy]) {
        self.problem = problem
        self.remedies = remedies
    }
}

/// The tokens that password logins created for one caller (a command run): revoked together on every
/// way out (normal exit, failure, a signal) unless the caller keeps them. The caller creates it, hands
/// it to `ClusterSession.open`, and decides at creation whether tokens are kept.
public final class TokenLedger: Sendable {
    /// Nothing is tracked and nothing revoked: the caller keeps every token created with this ledger.
    public let keepsTokens: Bool
    private let sessions = Locked<[ObjectIdentifier: ClusterSession]>([:])

    public init(keepingTokens: Bool = false) { keepsTokens = keepingTokens }

    func register(_ session: ClusterSession) {
        guard !keepsTokens else { return }
        sessions.withLock { $0[ObjectIdentifier(session)] = session }
    }

    func remove(_ session: ClusterSession) { _ = sessions.withLock { $0.removeValue(forKey: ObjectIdentifier(session)) } }

    /// Sessions whose token is still to be revoked.
    public var count: Int { sessions.withLock { $0.count } }

    /// Keeps this session's token beyond the run (written to an auth file, printed).
    public func keep(_ session: ClusterSession) { remove(session) }

    /// Revokes every token still in the ledger, in parallel (each DELETE is capped at 10 s). Safe to
    /// call more than once and concurrently with `revokeIfCreated()`.
    public func revokeAll() async {
        let all = sessions.withLock { Array($0.values) }
        await withTaskGroup(of: Void.self) { group in
            for session in all { group.addTask { await session.revokeIfCreated() } }
        }
    }
}
