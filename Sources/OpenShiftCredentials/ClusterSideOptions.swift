/// Everything the caller says about one cluster. Secrets arrive already read.
public struct ClusterSideOptions: Sendable {
    /// The OpenShift API server URL (normalised like `oc login`).
    public var clusterURL: String?
    /// A kubeconfig context supplying server, CA, TLS mode and credentials.
    public var context: String?
    /// The kubeconfig files, in `KUBECONFIG` order (the caller resolves them, e.g. `KUBECONFIG` split on
    /// ':', else `~/.kube/config`).
    public var kubeconfigPaths: [String]
    /// True when the user named the file explicitly: it must then exist (kubectl's `--kubeconfig`);
    /// otherwise missing entries are skipped (a `KUBECONFIG` list).
    public var kubeconfigExplicit: Bool
    public var username: String?
    /// The password for `username` (an OAuth login like `oc login -u`).
    public var password: String?
    /// A bearer token (OAuth user or service-account token).
    public var token: String?
    /// The file `token` was read from, if any: read again when the API rejects the token
    /// mid-run (rotated projected service-account tokens).
    public var tokenFile: String?
    /// PEM bundle trusted (with the system roots) for this side's API, OAuth and registry.
    public var caFile: String?
    /// False only when the user asked to skip TLS verification (unsafe).
    public var tlsVerify: Bool
    /// `HOST[:PORT]` of the integrated registry: skips registry discovery.
    public var registryOverride: String?
    /// The side this cluster serves in a promotion, carried by the session's errors (nil: a lone cluster).
    public var side: ClusterSide?

    public init(clusterURL: String? = nil, context: String? = nil, kubeconfigPaths: [String] = [],
                kubeconfigExplicit: Bool = false, username: String? = nil, password: String? = nil,
                token: String? = nil, tokenFile: String? = nil, caFile: String? = nil, tlsVerify: Bool = true,
                registryOverride: String? = nil, side: ClusterSide? = nil) {
        self.clusterURL = clusterURL
        self.tokenFile = tokenFile
        self.context = context
        self.kubeconfigPaths = kubeconfigPaths
        self.kubeconfigExplicit = kubeconfigExplicit
        self.username = username
        self.password = password
        self.token = token
        self.caFile = caFile
        self.tlsVerify = tlsVerify
        self.registryOverride = registryOverride
        self.side = side
    }
}

/// Printing options (e.g. in a debug log) never shows the password or token.
extension ClusterSideOptions: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String {
        var parts: [String] = []
        if let clusterURL { parts.append("cluster=\(clusterURL)") }
        if let context { parts.append("context=\(context)") }
        if let username { parts.append("username=\(username)") }
        if password != nil { parts.append("password=<redacted>") }
        if token != nil { parts.append("token=<redacted>") }
        if let caFile { parts.append("caFile=\(caFile)") }
        if !tlsVerify { parts.append("tlsVerify=false") }
        if let registryOverride { parts.append("registry=\(registryOverride)") }
        return "ClusterSideOptions(" + parts.joined(separator: ", ") + ")"
    }

    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["description": description]) }
}
