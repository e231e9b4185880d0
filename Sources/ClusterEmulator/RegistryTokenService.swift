/// One access record of a registry request (`type:name:action`).
struct RegistryAccessGrant: Sendable, Equatable {
    var type: String
    var name: String
    var actions: [String]
}

/// `/openshift/token` of the emulated integrated registry (served on the registry host, whose challenge
/// names it as the realm). Follows openshift/image-registry `pkg/dockerregistry/server/token.go`: scope
/// names checked, `anonymous` without credentials, bare 401 for non-Basic or rejected tokens, and on
/// success the presented API token echoed back (not minted, not scoped).
enum RegistryTokenService {
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

    static func handle(_ req: EmuRequest, state: ClusterState) -> EmuResponse {
        let requested = parseScopes(req.queryValues("scope").filter { !$0.isEmpty })
        for access in requested where access.type == "repository" || access.type == "signature" {
            let parts = access.name.split(separator: "/", omittingEmptySubsequences: false)
            if parts.count != 2 {
                return details("repository name \"\(access.name)\" invalid: it must be of the format <project>/<name>")
            }
            if parts[0].isEmpty || parts[1].isEmpty { return details("repository namespace required") }
        }
        guard let authorization = req.header("Authorization"), !authorization.isEmpty else {
            return .json(200, .object([("token", .string("anonymous")), ("access_token", .string("anonymous"))]))
        }
        guard let creds = req.basicCredentials else { return bareUnauthorized }
        // Username ignored; the password is the API token, checked with a SelfSubjectReview.
        guard !creds.password.isEmpty else { return details("unable to validate token: Forbidden") }
        guard case .success = state.authenticate(token: creds.password) else { return bareUnauthorized }
        return .json(200, .object([("token", .string(creds.password)), ("access_token", .string(creds.password))]))
    }
}
