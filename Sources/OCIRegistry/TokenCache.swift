import FoundationEssentials
import HTTPTransport

/// Supplies registry credentials for a host (auth files, OpenShift tokens, ...).
public protocol CredentialProvider: Sendable {
    func credential(host: String, repository: String?) async throws -> RegistryCredential?
}

/// Fixed credentials (for tests and for cluster-derived registry credentials).
public struct StaticCredentials: CredentialProvider {
    public let value: RegistryCredential?
    public init(_ value: RegistryCredential?) { self.value = value }
    public func credential(host: String, repository: String?) async throws -> RegistryCredential? { value }
}

/// Bearer tokens per (realm, service, scope set): fetched once even when many transfers ask at the
/// same moment, renewed shortly before they expire, dropped when the registry refuses them.
actor TokenCache {
    struct Token: Sendable {
        var value: String
        var expires: ContinuousClock.Instant
        var refreshToken: String?
    }

    private var tokens: [String: Token] = [:]
    private var inFlight: [String: Task<Token, any Error>] = [:]
    private(set) var fetches = 0

    func token(key: String, fetch: @escaping @Sendable () async throws -> Token) async throws -> Token {
        if let t = tokens[key], t.expires > .now + .seconds(10) { return t }
        if let task = inFlight[key] { return try await task.value }
        let task = Task { try await fetch() }
        inFlight[key] = task
        defer { inFlight[key] = nil }
        let t = try await task.value
        tokens[key] = t
        fetches += 1
        return t
    }

    /// Drops the token a request was refused with; a newer one another transfer already fetched
    /// for the same key stays (so N refused transfers cause one fetch, not N).
    func invalidate(_ used: TokenUse) {
        if tokens[used.key]?.value == used.token { tokens[used.key] = nil }
    }
}

/// Which cached token a request carried.
struct TokenUse: Sendable {
    var key: String
    var token: String
}

/// The token endpoint's answer (Docker token spec).
struct TokenResponse: Decodable {
    var token: String?
    var access_token: String?
    var expires_in: Int?
    var refresh_token: String?
}

/// What a credential provider makes of a registry's refusal of its credentials.
public enum RefusalVerdict: Sendable {
    /// Report the registry's error as it is.
    case unchanged
    /// The provider obtained fresh credentials: repeat the request (once).
    case renewed
    /// Report this error instead (for example: the credentials are valid, so the refusal is a missing
    /// permission).
    case replace(any Error)
}

/// A credential provider that can explain refusals of its own credentials: it knows whether they are
/// still valid where they came from, and may renew them.
public protocol RefusalInterpreting: CredentialProvider {
    /// Called when the registry refused (401/403) a request that carried this provider's credentials.
    /// May be called by many transfers at once; renewals should happen once.
    func registryRefused(_ error: RegistryError) async -> RefusalVerdict
}
