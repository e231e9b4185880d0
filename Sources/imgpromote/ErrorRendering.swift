import ArgumentParser
import HTTPTransport
import OCIRegistry
import OpenShiftCredentials
import SupplyChain

/// Maps any error to the contract's exit status and one line that says what to do. The one place
/// where error types meet exit codes, and where the libraries' inputs and remedies become this CLI's
/// flags and variables (`SideSpelling`).
func exitStatus(for error: any Error) -> (Int32, String) {
    switch error {
    case let e as CLIError: return (e.exitCode, e.message)
    case let e as RegistryError: return (exitCode(e.kind), e.message)
    case let e as OpenShiftError: return (exitCode(e.kind), render(e))
    case let e as ImageAccessDenied: return (4, render(e))
    case let e as PolicyRefusal: return (8, e.message)   // no signature / another key / another digest
    case let e as AuthFileError:
        switch e.kind {
        case .file: return (2, e.description)
        case .helper: return (3, e.description + "; fix the credential helper, or remove it (credHelpers or credsStore) from the auth file")
        }
    case let e as TransportError:
        return (e.kind == .cancelled ? 130 : 6, e.description)
    case is CancellationError: return (130, "interrupted")
    case let e as ExitCode: return (e.rawValue, "")
    default: return (1, "\(error)")
    }
}

/// Contract: 3 auth, 4 denied, 5 not found, 6 network/TLS, 7 integrity, 1 other.
func exitCode(_ kind: RegistryError.Kind) -> Int32 {
    switch kind {
    case .unauthorized: return 3
    case .denied: return 4
    case .notFound: return 5
    case .network: return 6
    case .integrity: return 7
    case .tooManyRequests, .other: return 1
    }
}

/// Contract: 2 usage (bad input), 3 auth, 4 denied, 5 not found, 6 network/TLS, 1 other.
func exitCode(_ kind: OpenShiftError.Kind) -> Int32 {
    switch kind {
    case .invalidInput: return 2
    case .authentication, .browserOnlyProvider: return 3
    case .permission: return 4
    case .notFound: return 5
    case .network, .tls: return 6
    case .notOpenShift, .registryNotExposed, .protocolError: return 1
    }
}

/// The error's problem and remedies, naming the flags and variables of the side it happened on.
func render(_ e: OpenShiftError) -> String {
    let spelling = SideSpelling(e.side)
    return e.message(input: spelling.name, remedy: spelling.words)
}

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

/// How one side's options are spelled: `--src-ca-file`, `IMGPROMOTE_DEST_TOKEN`, or `--ca-file` and
/// `IMGPROMOTE_TOKEN` for a lone cluster (`login`, `whoami`, `tag`, `inspect`).
struct SideSpelling {
    /// "--src-", "--dest-" or "--".
    let flag: String
    /// "IMGPROMOTE_SRC_", "IMGPROMOTE_DEST_" or "IMGPROMOTE_".
    let env: String

    init(_ side: ClusterSide?) {
        switch side {
        case .source: (flag, env) = ("--" + SourceSide.flagPrefix, SourceSide.envPrefix)
        case .destination: (flag, env) = ("--" + DestinationSide.flagPrefix, DestinationSide.envPrefix)
        case nil: (flag, env) = ("--" + PlainSide.flagPrefix, PlainSide.envPrefix)
        }
    }

    var tokenOptions: String { "\(env)TOKEN or \(flag)token-file" }
    var passwordOptions: String { "\(env)PASSWORD, \(flag)password-file or \(flag)password-stdin" }

    func name(_ input: ClusterInput) -> String {
        switch input {
        case .clusterURL: return "\(flag)cluster"
        case .context: return "\(flag)context"
        case .kubeconfigPaths: return "--kubeconfig"
        case .username: return "\(flag)username"
        case .password: return "\(env)PASSWORD"
        case .token: return tokenOptions
        case .tokenFile: return "\(flag)token-file"
        case .caFile: return "\(flag)ca-file"
        case .tlsVerify: return "\(flag)tls-verify"
        case .registryOverride: return "\(flag)registry"
        }
    }

    func words(_ remedy: ClusterRemedy) -> String {
        switch remedy {
        case .trustCA: return "pass its CA bundle with \(flag)ca-file FILE"
        case .disableTLSVerification: return "skip verification with \(flag)tls-verify=false (unsafe)"
        case .giveToken: return "set \(tokenOptions)"
        case .renewToken: return "get a new one and set \(tokenOptions)"
        case .replaceTokenFile(let path): return "put a new one in \(path)"
        case .givePassword: return "set \(passwordOptions)"
        case .logInWithPassword: return "log in with \(flag)username and a password (\(passwordOptions))"
        case .nameCluster: return "use \(flag)cluster URL"
        case .nameContext: return "use \(flag)context NAME"
        case .nameRegistryHost: return "pass \(flag)registry HOST[:PORT]"
        case .logInAgain, .exposeRegistry: return remedy.libraryWording
        }
    }
}
