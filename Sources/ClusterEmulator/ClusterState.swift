import HTTPTransport
/// An issued OAuth access token as the cluster stores it (`OAuthAccessToken`). Never holds the token value.
public struct TokenRecord: Sendable, Equatable {
    /// Object name: `sha256~` + base64url(SHA-256(token minus prefix)).
    public var name: String
    public var userName: String
    public var userUID: String
    public var clientName: String
    public var scopes: [String]
    public var redirectURI: String
    /// Seconds since the epoch.
    public var created: Double
    public var expiresIn: Int
    /// Deleted through the API (`oc logout`).
    public var revoked: Bool
    /// Past `created + expiresIn`, or expired by `expireAllTokens()`.
    public var expired: Bool
}

/// Who a request is.
struct Identity: Sendable, Equatable {
    enum Kind: Sendable { case oauthUser, serviceAccount }
    var username: String
    var uid: String
    var groups: [String]
    var scopes: [String]?
    var kind: Kind
}

/// Why a bearer token was not accepted (message kept for logs; clients only ever see 401 Unauthorized).
enum TokenRejection: Error, Sendable, Equatable {
    case oldFormat, notFound, expired, revoked, userGone
}

struct AuthorizeCode: Sendable {
    var clientID: String
    var redirectURI: String
    var challenge: String
    var challengeMethod: String
    var scopes: [String]
    var username: String
    var created: Double
}

/// Users, tokens and authorization decisions of one emulated cluster. Thread-safe.
final class ClusterState: Sendable {
    let config: EmulatorConfig
    /// Default authorize-code lifetime (`defaultAuthorizeTokenMaxAgeSeconds`).
    static let codeLifetime: Double = 300

    private struct Mutable {
        var tokens: [String: TokenRecord] = [:]
        var forcedExpired: Set<String> = []
        var codes: [String: AuthorizeCode] = [:]
        var order: [String] = []
    }
    private let state = Locked(Mutable())

    init(config: EmulatorConfig) { self.config = config }

    // MARK: Users

    func user(named name: String) -> EmulatorConfig.User? { config.users.first { $0.name == name } }

    func userUID(_ name: String) -> String { stableUID("user/\(config.name)/\(name)") }

    func oauthIdentity(username: String, scopes: [String]) -> Identity {
        let extra = user(named: username)?.groups ?? []
        var groups: [String] = []
        for g in extra where !groups.contains(g) { groups.append(g) }
        groups += ["system:authenticated:oauth", "system:authenticated"]
        return Identity(username: username, uid: userUID(username), groups: groups, scopes: scopes, kind: .oauthUser)
    }

    func serviceAccountIdentity(_ sa: EmulatorConfig.ServiceAccount) -> Identity {
        Identity(username: sa.username, uid: stableUID("sa/\(config.name)/\(sa.namespace)/\(sa.name)"),
                 groups: ["system:serviceaccounts", "system:serviceaccounts:\(sa.namespace)", "system:authenticated"],
                 scopes: nil, kind: .serviceAccount)
    }

    enum PasswordCheck: Equatable { case ok, wrong, mappingFailure }

    func checkPassword(user: String, password: String) -> PasswordCheck {
        guard !user.isEmpty, !password.isEmpty, let u = self.user(named: user),
              constantTimeEqual(u.password, password) else { return .wrong }
        if config.mappingFailureUsers?.contains(user) == true { return .mappingFailure }
        return .ok
    }

    // MARK: Tokens

    /// `sha256~` + base64url-no-pad(32 random bytes), never starting with `-` after the prefix (tokengen.go).
    static func newOpaqueToken() -> String {
        while true {
            let body = EmuBase64.urlNoPad(Crypto.randomBytes(32))
            if !body.hasPrefix("-") { return "sha256~" + body }
        }
    }

    /// `TokenToObjectName`: `sha256~` tokens hash to `sha256~<base64url(sha256(rest))>`; others are used as-is.
    static func objectName(forToken token: String) -> String {
        guard token.hasPrefix("sha256~") else { return token }
        return "sha256~" + EmuBase64.urlNoPad(Crypto.sha256(String(token.dropFirst(7))))
    }

    func issueCode(_ code: AuthorizeCode) -> String {
        let value = ClusterState.newOpaqueToken()
        let name = ClusterState.objectName(forToken: value)
        state.withLock { $0.codes[name] = code }
        return value
    }

    /// Looks up an authorize code and, when `validate` accepts it (returns nil), consumes it (codes are
    /// single-use). A rejected exchange leaves the code in place, as osin removes it only on success.
    /// Returns nil for an unknown or expired code, else the code and `validate`'s verdict.
    func exchangeCode<E>(_ value: String, validate: (AuthorizeCode) -> E?) -> (AuthorizeCode, E?)? {
        let name = ClusterState.objectName(forToken: value)
        return state.withLock { s -> (AuthorizeCode, E?)? in
            guard let code = s.codes[name] else { return nil }
            guard Clock.now() - code.created <= ClusterState.codeLifetime else {
                s.codes.removeValue(forKey: name)
                return nil
            }
            let verdict = validate(code)
            if verdict == nil { s.codes.removeValue(forKey: name) }
            return (code, verdict)
        }
    }

    func issueAccessToken(username: String, clientName: String, scopes: [String], redirectURI: String) -> String {
        let value = ClusterState.newOpaqueToken()
        let record = TokenRecord(name: ClusterState.objectName(forToken: value), userName: username,
                                 userUID: userUID(username), clientName: clientName, scopes: scopes,
                                 redirectURI: redirectURI, created: Clock.now(),
                                 expiresIn: config.tokenLifetimeSeconds, revoked: false, expired: false)
        state.withLock {
            $0.tokens[record.name] = record
            $0.order.append(record.name)
        }
        return value
    }

    func tokens() -> [TokenRecord] {
        let now = Clock.now()
        return state.withLock { s in
            s.order.compactMap { name in
                guard var r = s.tokens[name] else { return nil }
                r.expired = s.forcedExpired.contains(name) || r.created + Double(r.expiresIn) < now
                return r
            }
        }
    }

    func expireAllTokens() {
        state.withLock { s in
            for name in s.tokens.keys { s.forcedExpired.insert(name) }
            s.codes.removeAll()
        }
    }

    /// Validates a bearer token: OAuth access tokens (`sha256~`) or static service-account tokens.
    func authenticate(token: String) -> Result<Identity, TokenRejection> {
        if let sa = config.serviceAccounts.first(where: { constantTimeEqual($0.token, token) }) {
            return .success(serviceAccountIdentity(sa))
        }
        guard token.hasPrefix("sha256~") else { return .failure(.oldFormat) }
        let name = ClusterState.objectName(forToken: token)
        let now = Clock.now()
        return state.withLock { s -> Result<Identity, TokenRejection> in
            guard let r = s.tokens[name] else { return .failure(.notFound) }
            if r.revoked { return .failure(.revoked) }
            if s.forcedExpired.contains(name) || r.created + Double(r.expiresIn) < now { return .failure(.expired) }
            guard self.user(named: r.userName) != nil, self.userUID(r.userName) == r.userUID else {
                return .failure(.userGone)
            }
            return .success(self.oauthIdentity(username: r.userName, scopes: r.scopes))
        }
    }

    /// Deletes (revokes) a token object by name. Returns the record as it was before deletion.
    func revoke(objectName: String) -> TokenRecord? {
        let now = Clock.now()
        return state.withLock { s -> TokenRecord? in
            guard var r = s.tokens[objectName], !r.revoked else { return nil }
            r.expired = s.forcedExpired.contains(objectName) || r.created + Double(r.expiresIn) < now
            s.tokens[objectName]?.revoked = true
            return r
        }
    }

    /// Seconds the token behind `token` has left (nil for tokens that do not expire, e.g. service accounts).
    func remainingLifetime(token: String) -> Double? {
        guard token.hasPrefix("sha256~") else { return nil }
        let name = ClusterState.objectName(forToken: token)
        return state.withLock { s in
            s.tokens[name].map { $0.created + Double($0.expiresIn) - Clock.now() }
        }
    }

    // MARK: Authorization

    func matches(_ identity: Identity?, subjects: [String]) -> Bool {
        guard let identity else { return false }
        return subjects.contains { $0 == identity.username || identity.groups.contains($0) }
    }

    func project(_ name: String) -> EmulatorConfig.Project? { config.projects.first { $0.name == name } }

    func canPull(_ identity: Identity?, project name: String) -> Bool {
        guard let p = project(name) else { return false }
        return matches(identity, subjects: p.pullers + p.pushers)
    }

    func canPush(_ identity: Identity?, project name: String) -> Bool {
        guard let p = project(name) else { return false }
        return matches(identity, subjects: p.pushers)
    }

    func canReadClusterConfig(_ identity: Identity?) -> Bool { matches(identity, subjects: config.clusterReaders) }
}

func constantTimeEqual(_ a: String, _ b: String) -> Bool {
    let x = Array(a.utf8), y = Array(b.utf8)
    guard x.count == y.count else { return false }
    var diff: UInt8 = 0
    for i in 0..<x.count { diff |= x[i] ^ y[i] }
    return diff == 0
}
