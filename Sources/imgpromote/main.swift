import ArgumentParser
import Dispatch
import HTTPTransport
import OCIRegistry
import OpenShiftCredentials
import ProcessSpawn
import SupplyChain
#if canImport(Glibc)
import Glibc
#endif

struct IMGPromote: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "imgpromote",
        abstract: "Promote container images between OpenShift clusters and registries.",
        discussion: """
        Logs in to each cluster itself (OAuth like `oc login`, tokens, kubeconfig contexts or the pod's service account), finds each cluster's registry, and streams the image registry to registry: no daemon, no temporary files, every digest verified, the tag written last.

        Exit status: 0 promoted, 1 other failure, 2 usage, 3 authentication, 4 permission denied, 5 not found, 6 network or TLS, 7 integrity, 8 refused by policy (signature missing or not by the required key).
        """,
        subcommands: [CopyCommand.self, TagCommand.self, PlanCommand.self, ApplyCommand.self, PromoteCommand.self, InspectCommand.self, LoginCommand.self, WhoAmICommand.self, VersionCommand.self])
}

/// Every exit goes through here: tokens this run created by a password login are revoked first
/// (unless kept: `--keep-tokens`, or a token the user asked for).
func finish(_ code: Int32) async -> Never {
    await RunTokens.shared.revokeAll()
    Spawner.signalAll(SIGKILL)   // no credential helper or exec plugin outlives us (normally none runs)
    exit(code)
}

/// Reports a failure of a parsed command (one line) and exits with its status.
func fail(_ error: any Error) async -> Never {
    let sig = Interruption.shared.current
    if sig != 0 { await finish(128 + sig) }
    let (code, message) = exitStatus(for: error)
    let line = message.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).joined(separator: " ")
    if !line.isEmpty { printErr("imgpromote: " + line) }
    await finish(code)
}

/// The signal that interrupted this run, if any: whichever path exits first reports 128 + signal.
final class Interruption: Sendable {
    static let shared = Interruption()
    private let signal = Locked<Int32>(0)
    var current: Int32 { signal.withLock { $0 } }
    /// True for the first signal only: a repeated signal must not cancel the cleanup (token
    /// revocation, itself bounded by short timeouts) that the first one started.
    func record(_ sig: Int32) -> Bool {
        signal.withLock { s in
            guard s == 0 else { return false }
            s = sig
            return true
        }
    }
}

/// SIGINT/SIGTERM: abort transfers (no tag is written after that), revoke tokens we created, exit.
func installSignalHandlers() -> [any DispatchSourceSignal] {
    [SIGINT, SIGTERM].map { sig in
        signal(sig, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
        source.setEventHandler {
            guard Interruption.shared.record(sig) else { return }
            printErr("imgpromote: interrupted; cancelling transfers" + (RunTokens.shared.count > 0 ? " and revoking tokens" : ""))
            CommandRun.http.cancelAll()
            Spawner.signalAll(SIGTERM)
            Task {
                await RunTokens.shared.revokeAll()
                Spawner.signalAll(SIGKILL)
                exit(128 + sig)
            }
        }
        source.resume()
        return source
    }
}

/// Parses the command line with ArgumentParser. `imgpromote CMD ARGS` is parsed by CMD directly: the
/// root's parse would only pick CMD, and to do so ArgumentParser 1.8.2 builds CMD's whole option set by
/// reflection twice more (`includesPassthroughArguments`), a quarter of the parse (5.6M of 23.5M
/// instructions for `promote`). Whatever the root answers itself stays with the root: `help`, help
/// flags in any spelling (`-h`, `--help`, `-help`, `--help-hidden`, `-h` among short flags as in `-qh`),
/// `--experimental-dump-help`, `--version`, completion scripts and `---completion` requests. (This holds
/// while the root has no options of its own: the root's parse would take those from anywhere.)
func parseCommandLine() throws -> any ParsableCommand {
    let arguments = Array(CommandLine.arguments.dropFirst())
    guard let name = arguments.first,
          let subcommand = IMGPromote.configuration.subcommands.first(where: { $0.configuration.commandName == name }),
          !arguments.dropFirst().contains(where: rootAnswers)
    else { return try IMGPromote.parseAsRoot(arguments) }
    return try subcommand.parseAsRoot(Array(arguments.dropFirst()))
}

/// Could the root command answer this argument itself (see `parseCommandLine`)? Errs towards yes.
func rootAnswers(_ argument: String) -> Bool {
    if argument == "help" { return true }
    if argument.hasPrefix("--") {
        return ["--h", "---", "--experimental", "--version", "--generate-completion"].contains { argument.hasPrefix($0) }
    }
    return argument.hasPrefix("-") && argument.contains("h")
}

/// Opens the existential so the async `run()` is called, not ParsableCommand's synchronous one.
func runAsync<C: AsyncParsableCommand>(_ command: inout C) async throws { try await command.run() }

let signalSources = installSignalHandlers()
var command: any ParsableCommand
do {
    command = try parseCommandLine()
} catch let error as CLIError {
    await fail(error)
} catch {
    if let cli = CLIError.thrownByValidate(error) { await fail(cli) }
    // Parse errors, --help and the like: ArgumentParser's text, but usage errors exit 2 (contract).
    let code = IMGPromote.exitCode(for: error)
    if code == .success {
        IMGPromote.exit(withError: error)
    }
    // One line, like every other usage error (a missing argument, an unknown option), with where to look.
    let name = CommandLine.arguments.dropFirst().first.flatMap { arg in
        IMGPromote.configuration.subcommands.map { $0.configuration.commandName ?? "" }.first { $0 == arg }
    }
    let message = IMGPromote.message(for: error).split(whereSeparator: { $0 == "\n" || $0 == "\r" }).joined(separator: " ")
    printErr("imgpromote: \(message) (see 'imgpromote \(name.map { $0 + " " } ?? "")--help')")
    exit(code == .validationFailure ? 2 : code.rawValue == 64 ? 2 : 1)
}
do {
    if var asyncCommand = command as? any AsyncParsableCommand {
        try await runAsync(&asyncCommand)
    } else {
        try command.run()
    }
} catch {
    // `--help`, `help copy` and a bare `imgpromote` parse into ArgumentParser's help command, whose
    // run throws a clean exit: print the help and exit 0, as ArgumentParser would. Our own commands
    // throw no clean exits, and asking about their errors renders the usage text for nothing
    // (1.2M instructions, a fortieth of a failed `promote`).
    let ours = IMGPromote.configuration.subcommands.contains { $0 == type(of: command) }
    if !ours && IMGPromote.exitCode(for: error) == .success { IMGPromote.exit(withError: error) }
    await fail(error)
}
await finish(0)
