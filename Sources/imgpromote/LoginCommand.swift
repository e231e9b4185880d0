import ArgumentParser
import HTTPTransport
import OCIRegistry
import OpenShiftCredentials

struct LoginCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "login",
        abstract: "Log in to a cluster; optionally write its registry credentials to an auth file.",
        discussion: """
        The token is revoked again before exit unless it is kept for later use (--authfile, --show-token
        or --keep-tokens).

        Examples:
          IMGPROMOTE_PASSWORD=... imgpromote login --cluster https://api.dev:6443 --username alice
          imgpromote login --context dev --authfile $XDG_RUNTIME_DIR/containers/auth.json
        """)

    @OptionGroup var side: SideOptions<PlainSide>
    @OptionGroup var global: GlobalOptions
    @Flag(name: .customLong("show-token"), help: "Print the token (the only command that prints a secret).")
    var showToken = false
    @Flag(name: .customLong("keep-tokens"), help: "Keep a token obtained by password login.")
    var keepTokens = false

    func validate() throws {
        guard side.namesCluster else { throw CLIError.usage("login needs --cluster URL or --context NAME") }
    }

    func run() async throws {
        let tokens = RunTokens.shared.ledger(keepingTokens: keepTokens)
        let resolver = SideResolver(options: side, global: global, environment: Environment.all(), log: global.log)
        guard let session = try await resolver.openSession(tokens: tokens) else { return }
        let keep = keepTokens || showToken || side.authfile != nil
        do {
            let user = try await session.whoami()
            if let path = side.authfile {
                var host = side.registry ?? ""
                if host.isEmpty { host = try await session.registryHost(project: "openshift", imageStream: nil) }
                let cred = try await session.registryCredential()
                // Prove the registry takes the token before writing it (a refusal is explained: exit 3 or 4).
                let client = RegistryClient(host: host, session: CommandRun.registries, tls: session.tls, allowPlainHTTP: !side.tlsVerify,
                                            credentials: session.registryCredentials(), retry: global.retryPolicy,
                                            remedyWording: side.remedyWording, log: global.log)
                try await client.verifyCredentials()
                do {
                    try AuthFile.store(host: host, username: cred.username, secret: cred.password, at: path)
                } catch {
                    throw CLIError(message: "cannot write \(path): \(error)", exitCode: 1)
                }
                printErr("imgpromote: registry credentials for \(host) written to \(path)")
            }
            printErr("Logged in to \(session.apiURL) as \(user)")
            if showToken { print(session.token()) }
        } catch {
            await session.revokeIfCreated()
            throw error
        }
        if keep { tokens.keep(session) } else { await session.revokeIfCreated() }
    }
}

struct WhoAmICommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "whoami", abstract: "Print the user name the cluster sees.",
        discussion: "Example:\n  imgpromote whoami --context prod")

    @OptionGroup var side: SideOptions<PlainSide>
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard side.namesCluster else { throw CLIError.usage("whoami needs --cluster URL or --context NAME") }
    }

    func run() async throws {
        let resolver = SideResolver(options: side, global: global, environment: Environment.all(), log: global.log)
        guard let session = try await resolver.openSession(tokens: RunTokens.shared.ledger(keepingTokens: false)) else { return }
        do {
            print(try await session.whoami())
        } catch {
            await session.revokeIfCreated()
            throw error
        }
        await session.revokeIfCreated()
    }
}
