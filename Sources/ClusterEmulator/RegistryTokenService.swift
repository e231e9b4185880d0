/// One `access` entry of a distribution registry token.
struct RegistryAccessGrant: Sendable, Equatable {
    var type: String
    var name: String
    var actions: [String]
}

/// `/openshift/token` for the emulated cluster (served on the API host, which is the registry's token realm).
///
/// Request handling follows openshift/image-registry `pkg/dockerregistry/server/token.go` (scope name check,
/// anonymous token, Basic password = API token, bare 401 for unauthorized tokens, `unable to validate token`
/// details for other API errors). Unlike the real registry, which echoes the API token and authorises every
/// registry request with SubjectAccessReviews, the emulator fronts an unmodified CNCF `docker-registry` in
/// `auth: token` mode: on success it answers with an ES256 JWT whose `access` holds only the actions the
/// token's user may perform per project (insufficient actions dropped).
final class RegistryTokenService: Sendable {
    typealias Minter = @Sendable (_ subject: String, _ access: [RegistryAccessGrant], _ lifetimeSeconds: Int) throws -> String

    let state: ClusterState
    let storageRoot: String
    let mint: Minter
    /// Lifetime of minted registry JWTs (capped by the API token's remaining lifetime).
    let jwtLifetimeSeconds: Int

    init(state: ClusterState, storageRoot: String, jwtLifetimeSeconds: Int = 300, mint: @escaping Minter) {
        self.state = state
        self.storageRoot = storageRoot
        self.jwtLifetimeSeconds = jwtLifetimeSeconds
        self.mint = mint
    }

    private static func details(_ message: String) -> EmuResponse {
        .json(401, .object([("details", .string(message))]))
    }

    private static let bareUnauthorized = EmuResponse(status: 401, headers: [("Content-Type", "application/json")])

    /// `ResolveScopeSpecifiers`: `type[(class)]:name:actions`, anything without three parts is ignored.
    static func parseScopes(_ specs: [String]) -> [RegistryAccessGrant] {
        var out: [RegistryAccessGrant] = []
        for spec in specs {
            let parts = spec.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 3 else { continue }
            var type = parts[0]
            if let paren = type.firstIndex(of: "("), type.hasSuffix(")") { type = String(type[..<paren]) }
            let actions = parts[2].split(separator: ",").map(String.init)
            if let i = out.firstIndex(where: { $0.type == type && $0.name == parts[1] }) {
                for a in actions where !out[i].actions.contains(a) { out[i].actions.append(a) }
            } else {
                out.append(RegistryAccessGrant(type: type, name: parts[1], actions: actions))
            }
        }
        return out
    }

    /// `getNamespaceName`: exactly `<project>/<name>`.
    static func namespaceName(_ name: String) -> (String, String)? {
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
        return (String(parts[0]), String(parts[1]))
    }

    func handle(_ req: EmuRequest) -> EmuResponse {
        let requested = RegistryTokenService.parseScopes(req.queryValues("scope").filter { !$0.isEmpty })
        for access in requested where access.type == "repository" || access.type == "signature" {
            let parts = access.name.split(separator: "/", omittingEmptySubsequences: false)
            if parts.count != 2 {
                return RegistryTokenService.details(
                    "repository name \"\(access.name)\" invalid: it must be of the format <project>/<name>")
            }
            if parts[0].isEmpty || parts[1].isEmpty {
                return RegistryTokenService.details("repository namespace required")
            }
        }
        guard let authorization = req.header("Authorization"), !authorization.isEmpty else {
            return .json(200, .object([("token", .string("anonymous")), ("access_token", .string("anonymous"))]))
        }
        guard let creds = req.basicCredentials else { return RegistryTokenService.bareUnauthorized }
        // Username ignored; password is the API token, validated as the API would (users/~).
        guard !creds.password.isEmpty else {
            // No token means an anonymous `users/~`, which the API forbids.
            return RegistryTokenService.details("unable to validate token: Forbidden")
        }
        let identity: Identity
        switch state.authenticate(token: creds.password) {
        case .success(let id): identity = id
        case .failure: return RegistryTokenService.bareUnauthorized
        }

        var granted: [RegistryAccessGrant] = []
        for access in requested where access.type == "repository" {
            guard let (ns, _) = RegistryTokenService.namespaceName(access.name) else { continue }
            var actions: [String] = []
            for action in access.actions {
                switch action {
                case "pull" where state.canPull(identity, project: ns): actions.append("pull")
                case "push" where state.canPush(identity, project: ns): actions.append("push")
                default: break
                }
            }
            if !actions.isEmpty { granted.append(RegistryAccessGrant(type: "repository", name: access.name, actions: actions)) }
        }
        var lifetime = jwtLifetimeSeconds
        if let remaining = state.remainingLifetime(token: creds.password) {
            lifetime = max(1, min(lifetime, Int(remaining)))
        }
        let jwt: String
        do {
            jwt = try mint(identity.username, granted, lifetime)
        } catch {
            return RegistryTokenService.details("unable to validate token: InternalError")
        }
        return .json(200, .object([("token", .string(jwt)), ("access_token", .string(jwt)),
                                   ("expires_in", .int(lifetime)),
                                   ("issued_at", .string(Clock.rfc3339(Clock.now())))]))
    }

    // MARK: Registry storage (image streams appear for pushed repositories)

    private var repositoriesRoot: String { storageRoot + "/docker/registry/v2/repositories" }

    func storedRepositories(namespace: String) -> [String] {
        let dir = repositoriesRoot + "/" + namespace
        return FileIO.list(dir).filter { FileIO.isDirectory(dir + "/" + $0 + "/_manifests") }
    }

    func storedTags(namespace: String, name: String) -> [(tag: String, digest: String)] {
        let dir = repositoriesRoot + "/\(namespace)/\(name)/_manifests/tags"
        return FileIO.list(dir).compactMap { tag in
            guard let link = try? FileIO.readText(dir + "/\(tag)/current/link") else { return nil }
            return (tag, link.trimmingSpaces)
        }
    }
}
