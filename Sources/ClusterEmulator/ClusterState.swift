import HTTPTransport
import LoopbackHTTP
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
            let body = Base64.urlEncode(Crypto.randomBytes(32))
            if !body.hasPrefix("-") { return "sha256~" + body }
        }
    }

    /// `TokenToObjectName`: `sha256~` tokens hash to `sha256~<base64url(sha256(rest))>`; others are used as-is.
    static func objectName(forToken token: String) -> String {
        guard token.hasPrefix("sha256~") else { return token }
        return "sha256~" + Base64.urlEncode(Crypto.sha256(String(token.dropFirst(7))))
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

    // MARK: Authorization (RBAC of the image resources, per project)

    /// Rules of the cluster roles the emulator knows, for the `image.openshift.io` (and legacy "") group
    /// plus `projects` (bindata/v3.11.0/openshift-apiserver/rbac/20_clusterrole-*.yaml; `view`, `edit`
    /// and `admin` through the registry roles aggregated into them).
    static func rules(of role: String) -> [(resources: Set<String>, verbs: Set<String>)] {
        let read: Set<String> = ["get", "list", "watch"]
        let write: Set<String> = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
        switch role {
        case "system:image-puller":
            return [(["imagestreams/layers"], ["get"])]
        case "system:image-pusher":
            return [(["imagestreams/layers"], ["get", "update"])]
        case "registry-viewer", "view":
            return [(["imagestreamimages", "imagestreammappings", "imagestreams", "imagestreamtags", "imagetags"], read),
                    (["imagestreams/layers"], ["get"]), (["projects", "namespaces"], ["get"])]
        case "registry-editor", "edit", "admin":
            return [(["imagestreamimages", "imagestreammappings", "imagestreams", "imagestreams/secrets", "imagestreamtags",
                      "imagetags"], write),
                    (["imagestreamimports"], ["create"]), (["imagestreams/layers"], ["get", "update"]),
                    (["projects", "namespaces"], ["get"])]
        default:
            return []
        }
    }

    func matches(_ identity: Identity?, subjects: [String]) -> Bool {
        guard let identity else { return false }
        return subjects.contains { $0 == identity.username || identity.groups.contains($0) }
    }

    func project(_ name: String) -> EmulatorConfig.Project? { config.projects.first { $0.name == name } }

    /// Roles bound to `identity` in project `name`.
    func roles(_ identity: Identity?, project name: String) -> [String] {
        guard let p = project(name) else { return [] }
        return p.bindings.filter { matches(identity, subjects: $0.subjects) }.map(\.role)
    }

    /// RBAC's answer for one resource attribute set. `resource` may carry its subresource
    /// (`imagestreams/layers`), as the registry's reviews send it; resource names do not matter here.
    func allowed(_ identity: Identity?, namespace: String, verb: String, group: String, resource: String) -> Bool {
        guard group == "image.openshift.io" || group == "" || group == "project.openshift.io" else { return false }
        for role in roles(identity, project: namespace) {
            for rule in ClusterState.rules(of: role) where rule.resources.contains(resource) && rule.verbs.contains(verb) {
                return true
            }
        }
        return false
    }

    /// The name of the first role granting the access (for review reasons).
    func grantingRole(_ identity: Identity?, namespace: String, verb: String, resource: String) -> String? {
        roles(identity, project: namespace).first { role in
            ClusterState.rules(of: role).contains { $0.resources.contains(resource) && $0.verbs.contains(verb) }
        }
    }

    func canPull(_ identity: Identity?, project name: String) -> Bool {
        allowed(identity, namespace: name, verb: "get", group: "image.openshift.io", resource: "imagestreams/layers")
    }

    func canPush(_ identity: Identity?, project name: String) -> Bool {
        allowed(identity, namespace: name, verb: "update", group: "image.openshift.io", resource: "imagestreams/layers")
    }

    /// May see the project (any role except the two registry-only ones).
    func canSeeProject(_ identity: Identity?, project name: String) -> Bool {
        allowed(identity, namespace: name, verb: "get", group: "project.openshift.io", resource: "projects")
    }

    func canReadClusterConfig(_ identity: Identity?) -> Bool { matches(identity, subjects: config.clusterReaders) }

    // MARK: Image streams (created on first push by tag, or by the image stream tag API)

    struct SpecTag: Sendable, Equatable {
        var fromKind: String
        var fromNamespace: String
        var fromName: String
        var referencePolicy: String
        var image: String
        var dockerImageReference: String
        var created: Double
    }

    private let streams = Locked<[String: [String: SpecTag]]>([:])

    func streamExists(namespace: String, name: String) -> Bool {
        if config.imageStreams.contains(where: { $0.namespace == namespace && $0.name == name }) { return true }
        return streams.withLock { $0["\(namespace)/\(name)"] != nil }
    }

    func createStream(namespace: String, name: String) {
        streams.withLock { s in if s["\(namespace)/\(name)"] == nil { s["\(namespace)/\(name)"] = [:] } }
    }

    func createdStreams(namespace: String) -> [String] {
        streams.withLock { s in
            s.keys.filter { $0.hasPrefix(namespace + "/") }.map { String($0.dropFirst(namespace.count + 1)) }
        }
    }

    func setSpecTag(namespace: String, name: String, tag: String, _ value: SpecTag) {
        streams.withLock { $0["\(namespace)/\(name)", default: [:]][tag] = value }
    }

    func specTags(namespace: String, name: String) -> [String: SpecTag] {
        streams.withLock { $0["\(namespace)/\(name)"] ?? [:] }
    }
}

func constantTimeEqual(_ a: String, _ b: String) -> Bool {
    let x = Array(a.utf8), y = Array(b.utf8)
    guard x.count == y.count else { return false }
    var diff: UInt8 = 0
    for i in 0..<x.count { diff |= x[i] ^ y[i] }
    return diff == 0
}
