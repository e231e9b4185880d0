import ArgumentParser
import FoundationEssentials
import HTTPTransport
import OCIRegistry
import OpenShiftCredentials
import Promotion

struct CopyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "copy",
        abstract: "Promote an image from one registry or cluster to another.",
        discussion: """
        SOURCE and DESTINATION are [docker://]HOST[:PORT]/REPO[:TAG|@sha256:HEX]. When a side names a cluster (--src-cluster or --src-context), PROJECT/NAME[:TAG] is enough: the registry host is discovered.

        On success stdout holds one line, the digest-pinned destination. Passwords and tokens are read from the environment (IMGPROMOTE_SRC_PASSWORD, IMGPROMOTE_SRC_TOKEN, ...), files or stdin, never from arguments.

        Registry credentials of a side without --SIDE-cluster/--SIDE-context replace the auth file for that side's registry host: IMGPROMOTE_SRC_USERNAME with IMGPROMOTE_SRC_PASSWORD (or --src-password-file, --src-password-stdin) for Basic auth or the registry's token service (robot accounts, API keys); or IMGPROMOTE_SRC_TOKEN (or --src-token-file), a bearer token sent to the registry as is, like skopeo --src-registry-token. With a cluster, the same variables log in to the cluster. IMGPROMOTE_DEST_* and --dest-* likewise. A password without a user name, or a token with a user name or password, is a usage error (exit 2) before any request.

        --report-file FILE writes the --json object to FILE (mode 0600) on success, and {"error":{"exitCode":N,"message":"..."}} when the promotion fails after the options were accepted. Read the outcome from it rather than from stderr, which also carries text relayed from elsewhere (exec credential plugins).

        Examples:
          imgpromote copy --src-context dev --dest-context prod shop/app:1.4 shop/app:1.4

          IMGPROMOTE_SRC_TOKEN=... IMGPROMOTE_DEST_TOKEN=... imgpromote copy \\
            --src-cluster https://api.dev:6443 --dest-cluster https://api.prod:6443 shop/app:1.4 shop/app:1.4

          imgpromote copy --dest-authfile auth.json quay.example.com/team/app:1.4 registry.example.com/team/app:1.4

          IMGPROMOTE_SRC_USERNAME='team+ci' IMGPROMOTE_SRC_PASSWORD=... IMGPROMOTE_DEST_TOKEN=... imgpromote copy \\
            --dest-cluster https://api.prod:6443 quay.example.com/team/app:1.4 shop/app:1.4
        """)

    @Argument(help: "Image to promote.") var source: String
    @Argument(help: "Where to put it.") var destination: String

    @OptionGroup(title: "Source") var src: SideOptions<SourceSide>
    @OptionGroup(title: "Destination") var dest: SideOptions<DestinationSide>
    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Supply chain") var supplyChain: SupplyChainOptions

    @Option(help: ArgumentHelp("Copy only this instance of a multi-arch image (default: the whole index).",
                               valueName: "os/arch[/variant]"))
    var platform: String?

    // 8 measured best on the bench (bench/run.sh): 7% faster than 6 on a 9-blob index at 20 ms, the same
    // on loopback; wider gained nothing. Each transfer holds about 2.5 MiB of buffers.
    @Option(help: "Parallel blob transfers.") var jobs: Int = 8
    @Flag(help: "Print one JSON object instead of the pinned reference.") var json = false
    @Flag(name: .customLong("dry-run"), help: "Show what would be copied, mounted or skipped; write nothing.")
    var dryRun = false
    @Flag(name: .customLong("keep-tokens"), help: "Keep tokens obtained by password login (default: revoke them).")
    var keepTokens = false
    @Flag(name: .customLong("no-preflight"), help: "Skip the access reviews that check pull and push rights before any blob moves.")
    var noPreflight = false
    @Option(name: .customLong("report-file"), help: ArgumentHelp(
        "Also write the outcome as JSON to this file (see above).", valueName: "file"))
    var reportFile: String?

    func validate() throws {
        guard (1...64).contains(jobs) else { throw CLIError.usage("--jobs must be between 1 and 64") }
        if src.passwordStdin && dest.passwordStdin {
            throw CLIError.usage("only one side can read its password from stdin")
        }
        if reportFile?.isEmpty == true { throw CLIError.usage("--report-file needs a file name") }
    }

    func run() async throws {
        let environment = Environment.all()
        let log = global.log
        // Before any login: the exit and signal paths revoke what this ledger holds (nothing with --keep-tokens).
        let tokens = RunTokens.shared.ledger(keepingTokens: keepTokens)
        var sessions: [ClusterSession] = []
        do {
            try SideResolver(options: src, global: global, environment: environment, log: log).checkRegistryCredentialKinds()
            try SideResolver(options: dest, global: global, environment: environment, log: log).checkRegistryCredentialKinds()
            let platform = try self.platform.map { p -> Platform in
                do { return try Platform.parse(p) } catch { throw CLIError.usage("--platform: \(error)") }
            }
            let srcSide = try await SideResolver(options: src, global: global, environment: environment, log: log)
                .resolve(source, tokens: tokens)
            if let s = srcSide.session { sessions.append(s) }
            let destSide = try await SideResolver(options: dest, global: global, environment: environment, log: log)
                .resolve(destination, tokens: tokens)
            if let s = destSide.session { sessions.append(s) }

            let progress = ProgressRenderer(quiet: global.quiet || json)
            var request = PromotionRequest(source: srcSide.reference, destination: destSide.reference,
                                           platform: platform, jobs: jobs, dryRun: dryRun,
                                           hooks: try await supplyChain.hooks(source: srcSide, destination: destSide, jobs: jobs,
                                                                               quiet: global.quiet || json,
                                                                               environment: environment))
            if !noPreflight { request.hooks.preflight = permissionPreflight(source: srcSide, destination: destSide) }
            let report = try await ReleaseEngine.copy(request, source: srcSide.client, destination: destSide.client,
                                                      events: { progress.handle($0) })
            progress.finish()
            try output(report)
        } catch {
            if !keepTokens { for s in sessions { await s.revokeIfCreated() } }
            if let reportFile { ReportFile.writeFailure(error, to: reportFile) }
            throw error
        }
        if !keepTokens { for s in sessions { await s.revokeIfCreated() } }
    }

    private func output(_ report: PromotionReport) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let encoded = try encoder.encode(report)
        if let reportFile { try ReportFile.write(Array(encoded) + [0x0A], to: reportFile) }
        if json {
            print(String(decoding: encoded, as: UTF8.self))
            return
        }
        if dryRun && !global.quiet {
            for blob in report.plan ?? [] {
                printErr("imgpromote: would \(blob.action == .copied ? "copy" : blob.action == .mounted ? "mount" : "skip") \(blob.digest) (\(formatBytes(blob.size)))")
            }
            printErr("imgpromote: dry run: \(report.blobs.copied) to copy (\(formatBytes(report.bytes.copied))), \(report.blobs.mounted) to mount, \(report.blobs.skipped) present; nothing written")
        }
        print(report.pinnedDestination)
    }
}
