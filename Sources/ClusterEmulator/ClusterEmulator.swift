import HTTPTransport
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import LoopbackHTTP
import TestSupport

/// An emulated OpenShift cluster on 127.0.0.1: API server, OAuth server (separate port and, by default,
/// certificate from a different CA), a console-like HTML host, and the integrated registry: a front that
/// authenticates and authorizes as openshift/image-registry does (API token as credential, image-stream
/// RBAC, `/openshift/token`), streaming to a real `docker-registry` as its storage. Test-only tooling.
/// Deviations from a real cluster: Sources/ClusterEmulator/README.md.
public final class ClusterEmulator: Sendable {
    public let config: EmulatorConfig
    public let workDirectory: String
    /// `https://127.0.0.1:<port>` of the API server (the kubeconfig `server`).
    public let apiURL: String
    /// `https://127.0.0.1:<port>` of the OAuth server (`issuer` in OAuth discovery).
    public let oauthURL: String
    /// `https://127.0.0.1:<port>/` of a console-like host answering every path with HTML (the
    /// "console URL given instead of the API URL" case).
    public let consoleURL: String
    /// `127.0.0.1:<port>` of the registry (its authorizing front).
    public let registryHost: String
    /// The registry front: every request it saw (method, path, status, body bytes), for assertions.
    public let registryFront: FaultProxy
    /// PEM bundle with every CA in use (API CA + ingress CA): what a user passes as `--src-ca-file`.
    public let caBundlePath: String
    /// The API server's CA only (the kubeconfig CA that lacks the ingress CA).
    public let apiCAPath: String
    /// The CA of the OAuth, console and registry hosts (equal to `apiCAPath` unless `oauthSeparateCA`).
    public let ingressCAPath: String
    /// The access log of the emulator's API, OAuth and console hosts.
    public let accessLogPath: String
    /// The storage registry's own log (distribution's access log included; in the registry's scratch
    /// directory, which `stop()` deletes).
    public let registryLogPath: String

    let state: ClusterState
    let front: RegistryFront
    private let api: RouteHost
    private let oauth: RouteHost
    private let console: RouteHost
    private let registry: RegistryProcess
    private let stopped = Locked(false)

    /// Starts everything. `workDirectory` is created if missing and holds certificates, registry storage,
    /// configuration and logs; `stop()` leaves it in place (the caller owns it).
    public init(config: EmulatorConfig, workDirectory: String) throws {
        self.config = config
        let work = FileIO.absolute(workDirectory)
        self.workDirectory = work
        try FileIO.makeDirectories(work)
        let state = ClusterState(config: config)
        self.state = state

        // Certificates: API CA; ingress CA (OAuth, console, registry) separate unless configured otherwise.
        let apiTLS = try TLSIdentity.generate(commonName: "127.0.0.1", sans: ["127.0.0.1", "localhost"],
                                              directory: work + "/tls/api")
        let ingressTLS = config.oauthSeparateCA
            ? try TLSIdentity.generate(commonName: "127.0.0.1", sans: ["127.0.0.1", "localhost"],
                                       directory: work + "/tls/ingress")
            : apiTLS
        apiCAPath = apiTLS.caPath!
        ingressCAPath = ingressTLS.caPath!
        caBundlePath = work + "/ca-bundle.pem"
        var bundle = try FileIO.readText(apiCAPath)
        if config.oauthSeparateCA { bundle += try FileIO.readText(ingressCAPath) }
        try FileIO.write(caBundlePath, bundle)

        accessLogPath = work + "/access.log"
        let log = AccessLog(path: accessLogPath)
        oauth = try RouteHost(name: "oauth", tls: ingressTLS, log: log)
        api = try RouteHost(name: "api", tls: apiTLS, log: log)
        console = try RouteHost(name: "console", tls: ingressTLS, log: log)
        apiURL = api.baseURL
        oauthURL = oauth.baseURL
        consoleURL = console.baseURL + "/"

        // Storage: a plain docker-registry on loopback, reachable only through the front.
        do {
            registry = try RegistryProcess(auth: .none)
            registryFront = try FaultProxy(upstream: registry.baseURL, tls: ingressTLS, name: "registry-\(config.name)")
        } catch {
            oauth.stop(); api.stop(); console.stop()
            throw error
        }
        registryHost = registryFront.authority
        registryLogPath = registry.logPath
        let storage = RegistryStorage(root: registry.storagePath)
        let front = RegistryFront(state: state, storage: storage, host: registryHost)
        self.front = front
        registryFront.setDecider { front.fault(for: $0) }

        let oauthServer = OAuthServer(state: state, issuer: oauthURL)
        let apiServer = APIServer(state: state, issuer: oauthURL, registryHost: registryHost, storage: storage)
        oauth.install { oauthServer.handle($0) }
        api.install { apiServer.handle($0) }
        console.install { _ in ConsolePage.response }
    }

    /// `init` on a dedicated thread (certificate generation and the registry start block for a moment).
    public static func start(config: EmulatorConfig, workDirectory: String) async throws -> ClusterEmulator {
        try await runOnThread(name: "emulator-start") { try ClusterEmulator(config: config, workDirectory: workDirectory) }
    }

    deinit { stop() }

    /// Issued OAuth access tokens (object names and metadata only, never token values).
    public func tokens() -> [TokenRecord] { state.tokens() }

    /// Marks every issued access token expired (and drops pending authorize codes).
    public func expireAllTokens() { state.expireAllTokens() }

    /// Called with method and path of every registry request before the front decides it (nil: none).
    /// Runs on the front's connection thread, before the request is authorized.
    public func observeRegistryRequests(_ observer: (@Sendable (_ method: String, _ path: String) -> Void)?) {
        front.observer.withLock { $0 = observer }
    }

    /// `sha256~` + base64url(SHA-256(token minus prefix)): the `oauthaccesstokens` object name of a token.
    public static func tokenObjectName(_ token: String) -> String { ClusterState.objectName(forToken: token) }

    /// Process id of the registry child.
    public var registryPID: Int32 { registry.pid }

    /// False once the registry child has exited.
    public var registryIsRunning: Bool { registry.isRunning }

    /// Stops the servers and the registry process. Idempotent.
    public func stop() {
        let first = stopped.withLock { s -> Bool in
            defer { s = true }
            return !s
        }
        guard first else { return }
        registryFront.stop()
        registry.stop()
        api.stop()
        oauth.stop()
        console.stop()
    }

    /// The state file written by the `openshift-emulator` executable.
    public func stateJSON(pid: Int32 = getpid()) -> String {
        JSON.object([
            ("name", .string(config.name)), ("apiURL", .string(apiURL)), ("oauthURL", .string(oauthURL)),
            ("consoleURL", .string(consoleURL)), ("registryHost", .string(registryHost)),
            ("caBundlePath", .string(caBundlePath)), ("apiCAPath", .string(apiCAPath)),
            ("ingressCAPath", .string(ingressCAPath)), ("workDirectory", .string(workDirectory)),
            ("accessLogPath", .string(accessLogPath)), ("registryLogPath", .string(registryLogPath)),
            ("pid", .int(Int(pid))), ("registryPID", .int(Int(registry.pid))),
        ]).serialized(escapeHTML: false)
    }
}

enum ConsolePage {
    static let response = EmuResponse.text(200, """
        <!DOCTYPE html>
        <html lang="en-us"><head><meta charset="utf-8"><title>Red Hat OpenShift</title></head>
        <body><div id="app">OpenShift web console (emulated)</div></body></html>

        """, contentType: "text/html; charset=utf-8")
}
