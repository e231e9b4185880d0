import LoopbackHTTP

/// A Docker token-spec issuer for a registry in `auth: token` mode, served over LoopbackHTTP:
/// `GET /token?service=&scope=&account=[&offline_token=true]` with Basic auth (or anonymous), and
/// `POST /token` (form: `grant_type=password|refresh_token`, `service`, `scope`, `client_id`,
/// `username`/`password` or `refresh_token`). Grants each user the intersection of what was asked
/// and what its per-repository table allows; tokens are ES256 JWTs from `RegistryTokenMinter`.
public final class TokenIssuer: Sendable {
    /// A user's password and allowed actions per repository. Keys are repository names, `prefix/*`
    /// patterns or `*`.
    public struct User: Sendable {
        public var password: String
        public var repositories: [String: [String]]

        public init(password: String, repositories: [String: [String]]) {
            self.password = password
            self.repositories = repositories
        }

        func allowed(_ repository: String) -> Set<String> {
            TokenIssuer.allowed(repositories, repository)
        }
    }

    /// What the issuer saw and did for one request.
    public struct Record: Sendable {
        public var method: String
        /// `password`, `refresh_token` (POST) or `basic`/`anonymous` (GET).
        public var grant: String
        public var account: String?
        public var service: String?
        public var scopes: [String]
        /// Access actually granted (empty on errors).
        public var granted: [RegistryAccess]
        public var status: Int
        public var offline: Bool
    }

    struct State: Sendable {
        var users: [String: User]
        var anonymous: [String: [String]]
        var lifetimeSeconds: Int
        var clockOffsetSeconds: Int
        var refreshTokens: [String: String] = [:]
        var records: [Record] = []
        var failNext: [(status: Int, body: String)] = []
    }

    public let server: LoopbackServer
    public let signer: JWTSigner
    public let service: String
    public let issuer: String
    private let state: Protected<State>

    /// - Parameters:
    ///   - users: user name → password and per-repository actions.
    ///   - anonymous: actions granted without credentials (repository pattern → actions).
    ///   - lifetimeSeconds: token lifetime (`expires_in`).
    public init(service: String = "imgpromote-test-registry", issuer: String = "imgpromote-test-issuer",
                users: [String: User] = [:], anonymous: [String: [String]] = [:], lifetimeSeconds: Int = 300,
                tls: TLSIdentity? = nil) throws {
        let signer = try JWTSigner.generate(commonName: "imgpromote test token issuer")
        self.signer = signer
        self.service = service
        self.issuer = issuer
        let state = Protected(State(users: users, anonymous: anonymous, lifetimeSeconds: lifetimeSeconds, clockOffsetSeconds: 0))
        self.state = state
        do {
            server = try LoopbackServer(tls: tls, options: .init(name: "token-issuer")) { request, writer in
                try TokenIssuer.handle(request, writer, state: state, signer: signer, service: service, issuer: issuer)
            }
        } catch {
            signer.removeGeneratedFiles()
            throw error
        }
    }

    /// Starts an issuer from async code without blocking the cooperative pool.
    public static func start(service: String = "imgpromote-test-registry", issuer: String = "imgpromote-test-issuer",
                             users: [String: User] = [:], anonymous: [String: [String]] = [:], lifetimeSeconds: Int = 300,
                             tls: TLSIdentity? = nil) async throws -> TokenIssuer {
        try await runOnThread(name: "issuer-start") {
            try TokenIssuer(service: service, issuer: issuer, users: users, anonymous: anonymous,
                            lifetimeSeconds: lifetimeSeconds, tls: tls)
        }
    }

    deinit { stop() }

    /// The token endpoint (`<baseURL>/token`), the registry's `realm`.
    public var realm: String { server.url("/token") }
    public var baseURL: String { server.baseURL }
    /// The signing certificate, the registry's `rootcertbundle`.
    public var certificatePath: String { signer.certificatePath ?? "" }

    /// The `RegistryProcess` auth mode that trusts this issuer.
    public var registryAuth: RegistryProcess.Auth {
        .token(realm: realm, service: service, issuer: issuer, rootCertBundlePath: certificatePath)
    }

    /// A minter with the current lifetime and clock offset.
    public var minter: RegistryTokenMinter {
        let s = state.snapshot
        return RegistryTokenMinter(signer: signer, issuer: issuer, lifetimeSeconds: s.lifetimeSeconds,
                                   clockOffsetSeconds: s.clockOffsetSeconds)
    }

    /// Token lifetime for tokens issued from now on; a negative `clockOffsetSeconds` back-dates them
    /// (the registry allows 60 s of leeway, so `lifetimeSeconds: 1, clockOffsetSeconds: -120` gives a
    /// token it rejects as expired).
    public func setLifetime(seconds: Int, clockOffsetSeconds: Int = 0) {
        state.withLock {
            $0.lifetimeSeconds = seconds
            $0.clockOffsetSeconds = clockOffsetSeconds
        }
    }

    public func setUser(_ name: String, _ user: User?) { state.withLock { $0.users[name] = user } }

    /// The next `count` token requests fail with `status` (e.g. 503) before any checks.
    public func failNext(_ count: Int, status: Int, body: String = "{\"errors\":[{\"code\":\"UNAVAILABLE\",\"message\":\"injected\"}]}") {
        state.withLock { s in for _ in 0..<count { s.failNext.append((status, body)) } }
    }

    /// Mints a token directly (no HTTP, no password check) for `account` with exactly `access`.
    public func mint(account: String, access: [RegistryAccess]) throws -> MintedToken {
        try minter.mint(subject: account, audience: service, access: access)
    }

    /// Number of requests to the token endpoint.
    public var requestCount: Int { state.withLock { $0.records.count } }
    public var records: [Record] { state.withLock { $0.records } }

    public func stop() {
        server.stop()
        signer.removeGeneratedFiles()
    }

    static func allowed(_ table: [String: [String]], _ repository: String) -> Set<String> {
        var out = Set<String>()
        for (pattern, actions) in table {
            let match = pattern == "*" || pattern == repository
                || (pattern.hasSuffix("/*") && repository.hasPrefix(String(pattern.dropLast())))
            if match { out.formUnion(actions.flatMap { $0 == "*" ? ["pull", "push", "delete", "*"] : [$0] }) }
        }
        return out
    }

    private static func handle(_ request: ServerRequest, _ writer: ServerResponseWriter, state: Protected<State>,
                               signer: JWTSigner, service: String, issuer: String) throws {
        let isPost = request.method == "POST"
        guard request.pathWithoutQuery == "/token", request.method == "GET" || isPost else {
            try writer.respond(status: 404, text: "not found\n")
            return
        }
        let form = isPost ? request.formItems : request.queryItems
        func field(_ n: String) -> String? { form.first { $0.name == n }?.value }
        let scopes = form.filter { $0.name == "scope" }.map(\.value)
        var record = Record(method: request.method, grant: "", account: nil, service: field("service"), scopes: scopes,
                            granted: [], status: 0, offline: false)
        // Recorded before the answer goes out, so a test sees the record as soon as it has the token.
        let (status, headers, json) = try decide(request, form: form, record: &record, state: state, signer: signer,
                                                  service: service, issuer: issuer)
        record.status = status
        state.withLock { $0.records.append(record) }
        try writer.respond(status: status, headers: headers, json: json)
    }

    private static func decide(_ request: ServerRequest, form: [(name: String, value: String)], record: inout Record,
                               state: Protected<State>, signer: JWTSigner, service: String,
                               issuer: String) throws -> (Int, HeaderFields, String) {
        let isPost = request.method == "POST"
        func field(_ n: String) -> String? { form.first { $0.name == n }?.value }
        let scopes = record.scopes
        if let injected = state.withLock({ $0.failNext.isEmpty ? nil : $0.failNext.removeFirst() }) {
            return (injected.status, [:], injected.body)
        }
        if let s = field("service"), s != service {
            return (400, [:], "{\"errors\":[{\"code\":\"INVALID_REQUEST\",\"message\":\"unknown service \(s)\"}]}")
        }

        // Who is asking?
        var account: String? = nil
        let unauthorized: (Int, HeaderFields, String) = (401, ["WWW-Authenticate": "Basic realm=\"imgpromote-test-issuer\""],
                                                         "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"invalid credentials\"}]}")
        if isPost {
            let grant = field("grant_type") ?? ""
            record.grant = grant
            switch grant {
            case "password":
                guard let u = field("username"), let p = field("password"),
                      state.withLock({ $0.users[u]?.password == p }) else {
                    return (401, [:], "{\"error\":\"invalid_grant\",\"error_description\":\"bad username or password\"}")
                }
                account = u
            case "refresh_token":
                guard let t = field("refresh_token"), let u = state.withLock({ $0.refreshTokens[t] }),
                      state.withLock({ $0.users[u] != nil }) else {
                    return (401, [:], "{\"error\":\"invalid_grant\",\"error_description\":\"unknown refresh token\"}")
                }
                account = u
            default:
                return (400, [:], "{\"error\":\"unsupported_grant_type\"}")
            }
        } else if request.headers["Authorization"] != nil {
            record.grant = "basic"
            guard let creds = request.basicCredentials, state.withLock({ $0.users[creds.user]?.password == creds.password }) else {
                return unauthorized
            }
            if let a = field("account"), a != creds.user {
                return (400, [:], "{\"errors\":[{\"code\":\"INVALID_REQUEST\",\"message\":\"account does not match the credentials\"}]}")
            }
            account = creds.user
        } else {
            record.grant = "anonymous"
        }
        record.account = account

        // What may they do?
        let snapshot = state.snapshot
        var granted: [RegistryAccess] = []
        for want in RegistryAccess.parse(scopes: scopes) {
            let table = account.flatMap { snapshot.users[$0]?.repositories } ?? snapshot.anonymous
            let allowed = want.type == "repository" ? TokenIssuer.allowed(table, want.name) : []
            let actions = want.actions.filter { allowed.contains($0) || allowed.contains("*") }
            if !actions.isEmpty { granted.append(RegistryAccess(type: want.type, name: want.name, actions: actions)) }
        }
        record.granted = granted

        let minter = RegistryTokenMinter(signer: signer, issuer: issuer, lifetimeSeconds: snapshot.lifetimeSeconds,
                                         clockOffsetSeconds: snapshot.clockOffsetSeconds)
        let minted = try minter.mint(subject: account ?? "", audience: service, access: granted)
        var refresh: String? = nil
        let offline = isPost || field("offline_token") == "true"
        if offline, let account {
            let t = randomHex(24)
            state.withLock { $0.refreshTokens[t] = account }
            refresh = t
        }
        record.offline = offline
        var json = minted.responseJSON(refreshToken: refresh)
        if isPost {
            json.removeLast()
            json += ",\"scope\":\(jsonQuote(granted.map(\.scope).joined(separator: " ")))}"
        }
        return (200, [:], json)
    }
}
