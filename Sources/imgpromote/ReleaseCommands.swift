import ArgumentParser
import Promotion

/// Options every release command shares: the two sides exactly as `copy` has them, plus how the
/// release runs and reports.
struct ReleaseRunOptions: ParsableArguments {
    @OptionGroup(title: "Source") var src: SideOptions<SourceSide>
    @OptionGroup(title: "Destination") var dest: SideOptions<DestinationSide>
    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Supply chain") var supplyChain: SupplyChainOptions

    @Option(name: .customLong("shard"), help: ArgumentHelp(
        "Promote only shard I of N (1-based). Every tag of one destination repository falls in the same shard; the N shards together are the whole file.",
        valueName: "I/N"))
    var shard: String?

    @Flag(name: .customLong("fail-fast"), help: "Stop at the first failed image (default: promote the others and report each).")
    var failFast = false

    @Flag(help: "Print one JSON object (images: [...]) instead of the pinned references.") var json = false

    @Option(name: .customLong("junit"), help: ArgumentHelp("Write a JUnit XML report (one test case per image).", valueName: "file"))
    var junit: String?

    @Flag(name: .customLong("dry-run"), help: "Show what would be copied, mounted or skipped; write nothing.")
    var dryRun = false

    @Flag(name: .customLong("keep-tokens"), help: "Keep tokens obtained by password login (default: revoke them).")
    var keepTokens = false

    @Flag(name: .customLong("no-preflight"), help: "Skip the access reviews that check pull and push rights before any blob moves.")
    var noPreflight = false

    // 16 and 32 (below) measured with bench/release.sh (30 images, 90 MiB unique, one run each, shared
    // machine): at +20 ms 2.6 s against 4.0 s with 8 and 16; on loopback no slower (2.0-2.4 s against 2.5-2.8 s).
    @Option(help: "Requests in flight at once per registry (blob streams included).") var jobs: Int = 16

    @Option(name: .customLong("requests-per-second"), help: ArgumentHelp(
        "Start at most this many requests per second on each registry (default: no limit).", valueName: "n"))
    var requestsPerSecond: Double?

    @Option(name: .customLong("images-at-once"), help: "Images worked on at once.") var imagesAtOnce: Int = 32

    @Option(name: .customLong("report-file"), help: ArgumentHelp(
        "Also write the outcome as JSON to this file, mode 0600: the --json object when every image was reported on (also when some failed: each carries its error), else {\"error\":{\"exitCode\":N,\"message\":\"...\"}}.",
        valueName: "file"))
    var reportFile: String?

    @Option(name: .customLong("tag-page-size"), help: ArgumentHelp("Tags per /tags/list page.", visibility: .hidden))
    var tagPageSize: Int = 1000

    func validate() throws {
        guard (1...64).contains(jobs) else { throw CLIError.usage("--jobs must be between 1 and 64") }
        guard (1...256).contains(imagesAtOnce) else { throw CLIError.usage("--images-at-once must be between 1 and 256") }
        guard (1...10_000).contains(tagPageSize) else { throw CLIError.usage("--tag-page-size must be between 1 and 10000") }
        if let rps = requestsPerSecond, !(rps > 0 && rps <= 100_000) {
            throw CLIError.usage("--requests-per-second must be a positive number")
        }
        if let shard, Shard.parse(shard) == nil {
            throw CLIError.usage("--shard must be I/N with 1 <= I <= N, not \(shard)")
        }
        if src.passwordStdin && dest.passwordStdin {
            throw CLIError.usage("only one side can read its password from stdin")
        }
        if reportFile?.isEmpty == true { throw CLIError.usage("--report-file needs a file name") }
    }
}

struct PlanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Resolve a promotion file to digests and write the lock; move nothing.",
        discussion: """
        FILE is a promotion file (YAML) or an `oc image mirror` mapping file (SRC=DST lines). Every entry is resolved on the source to the digest it names now (tags selected by list, regex or semver range from the source's tag list); the lock (JSON, no secrets) goes to stdout or to -o FILE. `imgpromote apply LOCK` then promotes exactly those digests.

        Example:
          imgpromote plan --src-context dev --dest-context prod -f release.yaml -o release.lock.json
        """)

    @Option(name: .shortAndLong, help: ArgumentHelp("Promotion file or mapping file.", valueName: "file")) var file: String
    @Option(name: .shortAndLong, help: ArgumentHelp("Write the lock here (default: stdout).", valueName: "lock")) var output: String?
    @OptionGroup var run: ReleaseRunOptions

    func run() async throws { try await ReleaseRunner(options: run).run(.plan(file: file, output: output)) }
}

struct ApplyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Promote exactly the digests and tags of a lock written by `plan`.",
        discussion: """
        Every image is read from the source by its locked digest, never by tag: what was approved is what lands. An image already at its tags costs one HEAD.

        Example:
          imgpromote apply --src-context dev --dest-context prod --junit promotion.xml release.lock.json
        """)

    @Argument(help: ArgumentHelp("Lock written by `imgpromote plan`.", valueName: "lock")) var lock: String
    @OptionGroup var run: ReleaseRunOptions

    func run() async throws { try await ReleaseRunner(options: run).run(.apply(lock: lock)) }
}

struct PromoteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "promote",
        abstract: "Plan and apply a promotion file in one run.",
        discussion: """
        All images share one plan and one blob pool: a base layer shared by several images is uploaded once and mounted into the other repositories. One bad image does not stop the others (unless --fail-fast); a failed image never gets a tag. stdout: one digest-pinned destination per image; stderr: one line per image. Exit status: 0 when every image is promoted or already there, else the status of the first failed image in file order.

        Example:
          imgpromote promote --src-context dev --dest-context prod -f release.yaml --junit promotion.xml
        """)

    @Option(name: .shortAndLong, help: ArgumentHelp("Promotion file or mapping file.", valueName: "file")) var file: String
    @OptionGroup var run: ReleaseRunOptions

    func run() async throws { try await ReleaseRunner(options: run).run(.promote(file: file)) }
}
