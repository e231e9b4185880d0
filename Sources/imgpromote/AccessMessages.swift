import OpenShiftCredentials

/// "permission denied: …" with the role to ask for and the command a project admin runs to grant it.
func render(_ e: ImageAccessDenied) -> String {
    var line = "permission denied: \(e.description)"
    if let role = e.roles.first, !e.namespace.isEmpty {
        line += "; ask an admin of project \(e.namespace) to run: oc policy add-role-to-user \(role) \(e.user ?? "USER") -n \(e.namespace)"
    } else if e.verb == .useRegistry {
        line += "; the registry checks the token with the API itself: ask a cluster admin to check the image registry"
    }
    return line
}
