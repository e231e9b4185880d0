import HTTPTransport

/// What the registry clients of one run share: the HTTP client their requests go through, and what
/// each registry host answered so far (the scheme it speaks, the challenge it sent with a 401), so
/// several clients of one registry (both sides of a copy, attachment lookups) discover it once.
/// The caller owns it: the CLI creates one per command run, each test its own.
public final class RegistrySession: Sendable {
    public let http: HTTPClient
    let endpoints = Locked<[String: Endpoint]>([:])
    let schemeDiscovery = SchemeDiscovery()

    public init(http: HTTPClient) {
        self.http = http
    }

    /// What a host answered so far, per TLS mode. There is no separate ping: the first request learns
    /// both, which saves a round trip on anonymous registries and costs the same as a ping (401, token,
    /// retry) on authenticated ones.
    struct Endpoint: Sendable {
        var scheme: String?
        var challenge: AuthChallenge?
    }
}
