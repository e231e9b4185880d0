import ArgumentParser
import HTTPTransport
import OCIRegistry

/// Options shared by every command.
struct GlobalOptions: ParsableArguments {
    @Option(name: .customLong("kubeconfig"), help: ArgumentHelp(
        "Kubeconfig file (default: KUBECONFIG, else ~/.kube/config).", valueName: "file"))
    var kubeconfig: String?

    @Option(name: .customLong("retries"), help: "Retries per request on connection errors, 408, 429 and 5xx.")
    var retries: Int = 4

    @Option(name: .customLong("stall-timeout"), help: ArgumentHelp(
        "Seconds without progress after which a transfer is resumed or retried.", valueName: "seconds"))
    var stallTimeout: Int = 30

    @Flag(name: .shortAndLong, help: "Print only the result (and errors).")
    var quiet = false

    @Flag(name: .shortAndLong, help: "Log every request (method, host, path, status; never credentials).")
    var verbose = false

    func kubeconfigPaths(_ env: [String: String]) -> [String] {
        if let kubeconfig { return [kubeconfig] }
        if let list = env["KUBECONFIG"], !list.isEmpty { return list.split(separator: ":").map(String.init) }
        return [(env["HOME"] ?? "") + "/.kube/config"]
    }

    var retryPolicy: RetryPolicy { RetryPolicy(maxRetries: max(0, retries), stallSeconds: stallTimeout) }

    func validate() throws {
        guard (0...20).contains(retries) else { throw CLIError.usage("--retries must be between 0 and 20") }
        guard (1...3600).contains(stallTimeout) else { throw CLIError.usage("--stall-timeout must be between 1 and 3600 seconds") }
    }

    /// Verbose diagnostics to stderr; the transport and registry layers never hand it secrets.
    var log: @Sendable (String) -> Void {
        if verbose { return { printErr("imgpromote: " + $0) } }
        return { _ in }
    }
}
