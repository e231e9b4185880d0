import ArgumentParser
import OCIRegistry

/// Names one side of a promotion: its flag prefix and environment prefix.
protocol SideName {
    /// "src-", "dest-" or "" (login/whoami/inspect take the options unprefixed).
    static var flagPrefix: String { get }
    /// "IMGPROMOTE_SRC_", "IMGPROMOTE_DEST_" or "IMGPROMOTE_".
    static var envPrefix: String { get }
    static var label: String { get }
}

enum SourceSide: SideName {
    static let flagPrefix = "src-"
    static let envPrefix = "IMGPROMOTE_SRC_"
    static let label = "source"
}

enum DestinationSide: SideName {
    static let flagPrefix = "dest-"
    static let envPrefix = "IMGPROMOTE_DEST_"
    static let label = "destination"
}

enum PlainSide: SideName {
    static let flagPrefix = ""
    static let envPrefix = "IMGPROMOTE_"
    static let label = "cluster"
}

/// The options of one side, declared once and used twice (src/dest) through the prefix.
/// Secrets have no flag that takes their value: only environment variables, files and stdin.
struct SideOptions<Side: SideName>: ParsableArguments {
    @Option(name: .customLong(Side.flagPrefix + "cluster"), help: ArgumentHelp(
        "OpenShift API server of the \(Side.label) cluster (https://api.CLUSTER:6443).", valueName: "url"))
    var cluster: String?

    @Option(name: .customLong(Side.flagPrefix + "context"), help: ArgumentHelp(
        "Take server, CA and credentials of the \(Side.label) from this kubeconfig context.", valueName: "name"))
    var context: String?

    @Option(name: .customLong(Side.flagPrefix + "username"), help: ArgumentHelp(
        "User for the cluster's OAuth login; without a cluster, the registry's own user (or \(Side.envPrefix)USERNAME).",
        valueName: "name"))
    var username: String?

    @Option(name: .customLong(Side.flagPrefix + "password-file"), help: ArgumentHelp(
        "Read the password from this file (or set \(Side.envPrefix)PASSWORD).", valueName: "file"))
    var passwordFile: String?

    @Flag(name: .customLong(Side.flagPrefix + "password-stdin"), help: "Read the password from standard input.")
    var passwordStdin = false

    @Option(name: .customLong(Side.flagPrefix + "token-file"), help: ArgumentHelp(
        "Bearer token in this file: the cluster's API token; without a cluster, sent to the registry as is (or set \(Side.envPrefix)TOKEN).",
        valueName: "file"))
    var tokenFile: String?

    @Option(name: .customLong(Side.flagPrefix + "ca-file"), help: ArgumentHelp(
        "PEM CA bundle trusted for the \(Side.label)'s API, OAuth and registry hosts.", valueName: "file"))
    var caFile: String?

    @Option(name: .customLong(Side.flagPrefix + "tls-verify"), help: ArgumentHelp(
        "Verify TLS certificates of the \(Side.label) (false skips verification, and allows plain HTTP registries).",
        valueName: "bool"))
    var tlsVerify: Bool = true

    @Option(name: .customLong(Side.flagPrefix + "registry"), help: ArgumentHelp(
        "Registry host of the \(Side.label), skipping discovery.", valueName: "host[:port]"))
    var registry: String?

    @Option(name: .customLong(Side.flagPrefix + "authfile"), help: ArgumentHelp(
        "Registry credentials from a containers auth.json / docker config.json (the side's own user/password or token win).",
        valueName: "file"))
    var authfile: String?

    var flag: String { "--" + Side.flagPrefix }
    /// Registry TLS failures name this side's flags as their remedies.
    var remedyWording: RegistryError.RemedyWording {
        let flag = self.flag
        return { remedy in
            switch remedy {
            case .trustCA: return "\(flag)ca-file FILE"
            case .disableTLSVerification: return "\(flag)tls-verify=false"
            }
        }
    }
    var envPrefix: String { Side.envPrefix }
    var namesCluster: Bool { cluster != nil || context != nil }
}
