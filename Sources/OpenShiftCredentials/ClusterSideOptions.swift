/// Everything the user said about one side (src or dest). Secrets arrive already read (never from argv).
public struct ClusterSideOptions: Sendable {
    /// `--src-cluster`: the OpenShift API server URL (normalised like `oc login`).
    public var clusterURL: String?
    /// `--src-context`: a kubeconfig context supplying server, CA, TLS mode and credentials.
    public var context: String?
    /// Resolved by the CLI: `--kubeconfig FILE`, else `KUBECONFIG` (split on ':'), else `~/.kube/config`.
    public var kubeconfigPaths: [String]
    /// True when the paths come from `--kubeconfig`: the file must then exist (kubectl semantics);
    /// missing entries of a `KUBECONFIG` list are skipped.
    public var kubeconfigExplicit: Bool
    public var username: String?
    /// From `IMGPROMOTE_SRC_PASSWORD`, `--src-password-file` or `--src-password-stdin`.
    public var password: String?
    /// From `IMGPROMOTE_SRC_TOKEN` or `--src-token-file` (OAuth user or service-account token).
    public var token: String?
    /// The file `token` was read from (`--src-token-file`): read again when the API rejects the token
    /// mid-run (rotated projected service-account tokens).
    public var tokenFile: String?
    /// `--src-ca-file`: PEM bundle trusted (with the system roots) for this side's API, OAuth and registry.
    public var caFile: String?
    /// False only when the user asked (`--src-tls-verify=false`); the CLI warns.
    public var tlsVerify: Bool
    /// `--src-registry HOST[:PORT]`: skips registry discovery.
    public var registryOverride: String?
    /// How this side's flags are spelled in messages: "--src-", "--dest-", or "--" for `login`/`whoami`.
    public var sideFlagPrefix: String
    /// How this side's variables are spelled in messages: "IMGPROMOTE_SRC_", "IMGPROMOTE_DEST_", "IMGPROMOTE_".
    public var sideEnvPrefix: String

    public init(clusterURL: String? = nil, context: String? = nil, kubeconfigPaths: [String] = [],
                kubeconfigExplicit: Bool = false, username: String? = nil, password: String? = nil,
                token: String? = nil, tokenFile: String? = nil, caFile: String? = nil, tlsVerify: Bool = true,
                registryOverride: String? = nil, sideFlagPrefix: String = "--", sideEnvPrefix: String = "IMGPROMOTE_") {
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
        self.sideFlagPrefix = sideFlagPrefix
        self.sideEnvPrefix = sideEnvPrefix
    }

    var names: SideNames { SideNames(flag: sideFlagPrefix, env: sideEnvPrefix) }
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
