// TEMPORARY stand-in for helper-4's API; deleted at merge.
import HTTPTransport

public struct ClusterSideOptions: Sendable {
    public var clusterURL: String?
    public var context: String?
    public var kubeconfigPaths: [String]
    public var username: String?
    public var password: String?
    public var token: String?
    public var caFile: String?
    public var tlsVerify: Bool
    public var registryOverride: String?
    public var sideFlagPrefix: String
    public init(clusterURL: String? = nil, context: String? = nil, kubeconfigPaths: [String] = [], username: String? = nil,
                password: String? = nil, token: String? = nil, caFile: String? = nil, tlsVerify: Bool = true,
                registryOverride: String? = nil, sideFlagPrefix: String = "--") {
        self.clusterURL = clusterURL; self.context = context; self.kubeconfigPaths = kubeconfigPaths
        self.username = username; self.password = password; self.token = token; self.caFile = caFile
        self.tlsVerify = tlsVerify; self.registryOverride = registryOverride; self.sideFlagPrefix = sideFlagPrefix
    }
}
public final class ClusterSession: Sendable {
    public static func open(_ options: ClusterSideOptions, http: HTTPClient = .shared, environment: [String: String],
                            inClusterDirectory: String = "/var/run/secrets/kubernetes.io/serviceaccount",
                            log: @escaping @Sendable (String) -> Void) async throws -> ClusterSession { fatalError() }
    public var apiURL: String { "" }
    public var tls: TLSOptions { .default }
    public var createdToken: Bool { false }
    public func whoami() async throws -> String { "" }
    public func registryCredential() async throws -> (username: String, password: String) { ("", "") }
    public func registryHost(project: String, imageStream: String?) async throws -> String { "" }
    public func revokeIfCreated() async {}
    public func token() -> String { "" }
}
public final class CreatedTokens: Sendable {
    public static let shared = CreatedTokens()
    public func revokeAll() async {}
}
public struct OpenShiftError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var exitCode: Int32
    public var description: String { message }
}
