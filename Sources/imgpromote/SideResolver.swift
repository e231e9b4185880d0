import HTTPTransport
import OCIRegistry
import OpenShiftCredentials
#if canImport(Glibc)
import Glibc
#endif

/// One side made ready: its registry client, the resolved reference, and the cluster session
/// (if any) whose token may need revoking.
struct ResolvedSide {
    var reference: ImageReference
    var client: RegistryClient
    var session: ClusterSession?
}

/// Turns a side's options into credentials, a registry host and a client.
struct SideResolver<Side: SideName> {
    let options: SideOptions<Side>
    let global: GlobalOptions
    let environment: [String: String]
    let log: @Sendable (String) -> Void
    /// Replaces `global.retryPolicy` (a release adds its per-registry throttle hook).
    var retry: RetryPolicy? = nil

    /// Secrets come only from the environment, files or stdin: never from argv.
    func password() throws -> String? {
        if let file = options.passwordFile { return try readSecretFile(file, what: "password") }
        if options.passwordStdin { return readSecretStdin() }
        return environment[options.envPrefix + "PASSWORD"].flatMap { $0.isEmpty ? nil : $0 }
    }

    func token() throws -> String? {
        if let file = options.tokenFile { return try readSecretFile(file, what: "token") }
        return environment[options.envPrefix + "TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
    }

    var username: String? { options.username ?? environment[options.envPrefix + "USERNAME"].flatMap { $0.isEmpty ? nil : $0 } }

    func clusterOptions() throws -> ClusterSideOptions {
        ClusterSideOptions(clusterURL: options.cluster, context: options.context,
                           kubeconfigPaths: global.kubeconfigPaths(environment), kubeconfigExplicit: global.kubeconfig != nil,
                           username: username, password: try password(), token: try token(),
                           tokenFile: options.tokenFile,
                           caFile: options.caFile, tlsVerify: options.tlsVerify,
                           registryOverride: options.registry, side: Side.clusterSide)
    }

    /// Opens the cluster session when this side names a cluster (or brings a token/user for one). A
    /// token its password login creates goes into `tokens`, the command's ledger.
    func openSession(tokens: TokenLedger) async throws -> ClusterSession? {
        guard options.namesCluster else { return nil }
        if !options.tlsVerify { warnInsecure() }
        // Exec plugins inherit the environment, but not the variables holding our secrets (either side's).
        let inherited = environment.filter { !$0.key.hasPrefix(PlainSide.envPrefix) }   // IMGPROMOTE_*
        return try await ClusterSession.open(try clusterOptions(), tokens: tokens, http: CommandRun.http,
                                             environment: inherited,
                                             warn: { printErr("imgpromote: warning: " + $0) }, log: log)
    }

    func warnInsecure() {
        printErr("imgpromote: warning: TLS verification is off for the \(Side.label) (\(options.flag)tls-verify=false)")
    }

    /// Checks, before any request and without reading a secret, that a side without a cluster got
    /// credentials that can apply to a plain registry: a user name with a password, or a token.
    func checkRegistryCredentialKinds() throws {
        guard !options.namesCluster else { return }
        func set(_ name: String) -> Bool { !(environment[options.envPrefix + name] ?? "").isEmpty }
        let hasUser = username != nil
        let hasPassword = options.passwordFile != nil || options.passwordStdin || set("PASSWORD")
        let hasToken = options.tokenFile != nil || set("TOKEN")
        let v = options.envPrefix, f = options.flag, side = Side.label
        if hasToken && (hasUser || hasPassword) {
            throw CLIError.usage("the \(side) registry got a token (\(v)TOKEN or \(f)token-file) and a user name or password (\(v)USERNAME, \(v)PASSWORD); give one kind")
        }
        if hasPassword && !hasUser {
            throw CLIError.usage("the \(side) registry got a password but no user name: set \(v)USERNAME (or \(f)username) as well")
        }
        if hasUser && !hasPassword && !hasToken {
            throw CLIError.usage("the \(side) registry got a user name but no password: set \(v)PASSWORD, or pass \(f)password-file or \(f)password-stdin")
        }
    }

    /// Registry credentials of a side without a cluster, from the environment or files: a user name
    /// with a password (Basic, or the account for the registry's token service) or a bearer token
    /// sent as is (skopeo's --registry-token). They replace the auth file for this side.
    func registryCredential() throws -> RegistryCredential? {
        try checkRegistryCredentialKinds()
        if let token = try token() { return RegistryCredential(registryToken: token) }
        guard let user = username, let pass = try password() else { return nil }
        return RegistryCredential(username: user, password: pass)
    }

    func resolve(_ text: String, tokens: TokenLedger) async throws -> ResolvedSide {
        var reference: ImageReference
        do {
            reference = try ImageReference.parse(text)
        } catch {
            throw CLIError.usage("\(error)")
        }
        let session = try await openSession(tokens: tokens)
        if let session {
            if reference.registry == nil || options.registry != nil {
                let host: String
                if let override = options.registry {
                    host = override
                } else {
                    let parts = reference.repository.split(separator: "/")
                    host = try await session.registryHost(project: String(parts.first ?? ""),
                                                          imageStream: parts.count > 1 ? String(parts[1]) : nil)
                }
                reference.registry = host
            }
            _ = try await session.registryCredential()   // fails early when this side has no token
            let client = RegistryClient(host: reference.registry!, session: CommandRun.registries, tls: session.tls, allowPlainHTTP: !options.tlsVerify,
                                        credentials: session.registryCredentials(),
                                        retry: retry ?? global.retryPolicy, remedyWording: options.remedyWording, log: log)
            return ResolvedSide(reference: reference, client: client, session: session)
        }
        if let override = options.registry { reference.registry = override }
        guard reference.registry != nil else {
            throw CLIError.usage("'\(text)' names no registry host; give HOST/REPO[:TAG], or \(options.flag)cluster/\(options.flag)context to resolve it")
        }
        reference = reference.withDefaultRegistry()
        if !options.tlsVerify { warnInsecure() }
        let credentials: any CredentialProvider
        if let explicit = try registryCredential() {
            // The client talks to this one host only, so the side's own credentials replace the auth file.
            credentials = StaticCredentials(explicit)
        } else {
            do {
                credentials = AuthFileCredentials(file: try AuthFile.load(explicitPath: options.authfile, environment: environment))
            } catch {
                throw CLIError.usage("\(error)")
            }
        }
        let tls = TLSOptions(caFile: options.caFile, verify: options.tlsVerify)
        let client = RegistryClient(host: reference.apiHost ?? reference.registry!, session: CommandRun.registries, tls: tls, allowPlainHTTP: !options.tlsVerify,
                                    credentials: credentials, retry: retry ?? global.retryPolicy,
                                    remedyWording: options.remedyWording, log: log)
        return ResolvedSide(reference: reference, client: client, session: nil)
    }
}

extension SideName {
    /// The library's neutral label for this side (its errors carry it; `SideSpelling` names its flags).
    static var clusterSide: ClusterSide? {
        if Self.self == SourceSide.self { return .source }
        if Self.self == DestinationSide.self { return .destination }
        return nil
    }
}

/// Credentials from an auth file, looked up per host and repository.
struct AuthFileCredentials: CredentialProvider {
    let file: AuthFile
    func credential(host: String, repository: String?) async throws -> RegistryCredential? {
        try await file.credential(host: host, repository: repository)
    }
}

func readSecretFile(_ path: String, what: String) throws -> String {
    guard let bytes = LocalFile.read(path, limit: 1 << 20) else {
        throw CLIError.usage("cannot read the \(what) file \(path): \(String(cString: strerror(errno)))")
    }
    return trimNewline(String(decoding: bytes, as: UTF8.self))
}

func readSecretStdin() -> String {
    var out = ""
    while let line = readLine(strippingNewline: false) { out += line }
    return trimNewline(out)
}

private func trimNewline(_ s: String) -> String {
    var s = Substring(s)
    while let last = s.last, last == "\n" || last == "\r" { s = s.dropLast() }
    return String(s)
}

func printErr(_ line: String) { writeStderr(line + "\n") }

/// write(2) straight to fd 2: unbuffered, and no shared `stderr` FILE* (not concurrency-safe in Swift 6).
func writeStderr(_ text: String) {
    var bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
        let n = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress! + offset, $0.count - offset) }
        if n <= 0 { break }
        offset += n
    }
}
