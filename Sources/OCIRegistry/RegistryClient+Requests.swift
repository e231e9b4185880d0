import HTTPTransport

/// One logical request's way through authentication and retries: the rules every registry request
/// follows, in one place. `drive` sends ordinary requests with it; a blob copy keeps one for its
/// source GET (inside `BlobSource`) and one for its upload, because both travel in one transfer.
///
/// The rules: authorize per the host's challenge → send → a 401 to a request without credentials
/// teaches the challenge (no ping) → a 401 to a cached token fetches it again once, widened by the scope
/// the registry names → connection errors, 408, 429 (honouring Retry-After) and 5xx back off and retry,
/// bounded by the policy → a refusal of sent credentials goes to their provider, which may renew them
/// once. Every path that goes round again is bounded by a flag or the retry budget.
struct Exchange: Sendable {
    let client: RegistryClient
    let what: String
    let repository: String?
    let actions: [String]
    /// Retry temporary failures (off where a repeat could do harm or nobody waits for the answer).
    var retryable = true
    /// On a 401, fetch a token once more. Off for best-effort calls (abandoning an upload must not
    /// ask for `delete`).
    var reauthorize = true
    /// Follow the host's challenge. Off for the token service's own requests, which carry their own
    /// credentials and whose 401 teaches nothing about the registry.
    var authenticates = true
    /// Answers that are temporary for this request only; returns what to log (a manifest PUT that
    /// races docker-registry's link files is told its blobs are unknown).
    var alsoTemporary: (@Sendable (HTTPResponse) -> String?)?

    private(set) var attempt = 0
    private var refreshedAuth = false
    private var learnedChallenge = false
    private var renewedCredentials = false
    /// The cached token the last attempt carried, and whether it carried any Authorization.
    private var used: TokenUse?
    private var sentAuthorization = false

    init(client: RegistryClient, what: String, repository: String?, actions: [String], retryable: Bool = true,
         reauthorize: Bool = true, authenticates: Bool = true,
         alsoTemporary: (@Sendable (HTTPResponse) -> String?)? = nil) {
        self.client = client
        self.what = what
        self.repository = repository
        self.actions = actions
        self.retryable = retryable
        self.reauthorize = reauthorize
        self.authenticates = authenticates
        self.alsoTemporary = alsoTemporary
    }

    /// The request as it goes out: TLS options, stall guard, absolute URL and Authorization. `racing`
    /// when the host's scheme is still unknown and the request may go out twice (`firstAnswer`).
    mutating func prepare(_ request: HTTPRequest, mayRace: Bool = true) async throws -> (request: HTTPRequest, racing: Bool) {
        var req = request
        req.tls = client.tls
        req.timeouts.lowSpeedSeconds = client.retry.stallSeconds
        let racing = mayRace && req.url.hasPrefix("/") && client.knownScheme == nil && req.body == nil
            && (req.method == "GET" || req.method == "HEAD")
        used = nil
        if !racing {
            req.url = try await client.absolute(req.url)
            if authenticates { used = try await client.authorize(&req, repository: repository, actions: actions) }
        }
        sentAuthorization = req.headers["Authorization"] != nil
        return (req, racing)
    }

    /// Spends one retry: logs, waits (Retry-After when given, else backoff) and returns true; false when
    /// the budget is spent or this request is not retried.
    mutating func backOff(_ reason: String, retryAfter: Double? = nil) async throws -> Bool {
        guard retryable, attempt < client.retry.maxRetries else { return false }
        attempt += 1
        client.log("\(what): \(reason); retry \(attempt)/\(client.retry.maxRetries)"
                   + (retryAfter.map { " after \($0)s (Retry-After)" } ?? ""))
        try await client.retry.sleep(attempt: attempt, retryAfter: retryAfter)
        return true
    }

    /// A transport failure: returns after waiting when another attempt may help, else throws it as
    /// a `RegistryError` with this side's remedy.
    mutating func retry(after error: TransportError) async throws {
        if error.isTransient, try await backOff(error.message) { return }
        throw client.failure(error, what)
    }

    /// An answer: nil when the request should go out again (the wait, if any, is over), else the final
    /// answer, whose status the caller interprets.
    mutating func settle(_ response: HTTPResponse) async throws -> HTTPResponse? {
        if authenticates {
            if response.status == 401, !learnedChallenge, !sentAuthorization, client.learnChallenge(from: response) {
                // The first word from this host: now we know how it wants credentials.
                learnedChallenge = true
                return nil
            }
            if response.status == 403, !learnedChallenge, !sentAuthorization, client.knownChallenge == nil,
               client.credentials != nil {
                // Some fronts refuse anonymous requests with 403 instead of challenging: ask /v2/, which
                // must challenge, before calling it a denial of the credentials we never sent.
                learnedChallenge = true
                if (try? await client.probe()) == true { return nil }
            }
            if response.status == 401, reauthorize, !refreshedAuth, let used {
                // Expired or too narrow: fetch once more, adding the scope the registry asked for.
                refreshedAuth = true
                await client.tokens.invalidate(used)
                if let scope = Self.challenges(response).first(where: { $0.scheme == "bearer" })?.scope {
                    client.state.declare(scopeString: scope)
                }
                return nil
            }
        }
        if client.retry.shouldRetry(status: response.status) {
            let after = RetryPolicy.retryAfterSeconds(response.headers["Retry-After"])
            if retryable, response.status == 429, attempt < client.retry.maxRetries { client.retry.onThrottle?(client.host, after) }
            if try await backOff("HTTP \(response.status)", retryAfter: after) { return nil }
        } else if let reason = alsoTemporary?(response), try await backOff(reason) {
            return nil
        }
        guard authenticates else { return response }
        var final = response
        if response.status == 401, refreshedAuth, Self.challenges(response).first?.error == "insufficient_scope" {
            // A fresh token was still refused for its scope: for a known user that means "not allowed".
            final = HTTPResponse(status: 403, headers: response.headers, body: response.body, url: response.url)
        }
        if final.status == 401 || final.status == 403, reauthorize, sentAuthorization {
            // Our credentials were refused: their provider may know why, or have fresh ones.
            let error = RegistryError.refused(response: final, host: client.host, what: what, repository: repository,
                                              actions: actions)
            if try await client.interpretRefusal(error, renewed: &renewedCredentials) {
                if let used { await client.tokens.invalidate(used) }
                refreshedAuth = false
                return nil
            }
        }
        return final
    }

    static func challenges(_ response: HTTPResponse) -> [AuthChallenge] {
        response.headers.values("WWW-Authenticate").flatMap { AuthChallenge.parse($0) }
    }
}

extension RegistryClient {
    /// Sends a request built for `repository`, authenticating as the challenge demands and retrying
    /// temporary failures. Returns any final response (callers decide what a status means).
    /// - Parameters:
    ///   - reauthorize: on a 401, fetch a token once more, widened by the scope the registry names.
    ///     Off for best-effort calls (abandoning an upload must not ask for `delete`).
    ///   - alsoTemporary: answers to retry for this request only; returns what to log.
    func execute(_ request: HTTPRequest, repository: String?, actions: [String], what: String,
                 retryable: Bool = true, reauthorize: Bool = true,
                 alsoTemporary: (@Sendable (HTTPResponse) -> String?)? = nil) async throws -> HTTPResponse {
        var exchange = Exchange(client: self, what: what, repository: repository, actions: actions, retryable: retryable,
                                reauthorize: reauthorize, alsoTemporary: alsoTemporary)
        return try await drive(request, &exchange)
    }

    /// The one request loop: prepare → send → settle, until the exchange has a final answer.
    func drive(_ request: HTTPRequest, _ exchange: inout Exchange) async throws -> HTTPResponse {
        while true {
            let (req, racing) = try await exchange.prepare(request)
            let response: HTTPResponse
            do {
                response = racing ? try await firstAnswer(req, what: exchange.what) : try await send(req, what: exchange.what)
            } catch let error as TransportError {
                try await exchange.retry(after: error)
                continue
            }
            if let final = try await exchange.settle(response) { return final }
        }
    }
}
