import FoundationEssentials
import HTTPTransport
import OCIRegistry

/// `oc login -u U -p P`: authorization code + PKCE on `openshift-challenging-client`, answering the
/// `WWW-Authenticate: Basic` challenge, then exchanging the code (protocol notes §2.2–§2.6, §2.11).
/// Redirects are never followed by the transport: every hop is inspected here.
struct OAuthLogin {
    static let clientID = "openshift-challenging-client"
    static let maxRedirects = 10

    let http: HTTPClient
    let apiURL: String
    let tls: TLSOptions
    let username: String
    let password: String
    let side: ClusterSide?
    let log: @Sendable (String) -> Void
    /// Injectable for tests (known verifier).
    var pkceVerifier: String?

    struct Metadata: Decodable, Sendable {
        var issuer: String
        var authorization_endpoint: String
        var token_endpoint: String
        var code_challenge_methods_supported: [String]?
    }

    private func say(_ line: String) { log(Redact.text(line, secrets: [password])) }

    private func send(_ request: HTTPRequest, oauthHost: Bool) async throws(OpenShiftError) -> HTTPResponse {
        say("\(request.method) \(request.url)")
        let response: HTTPResponse
        do {
            response = try await http.send(request)
        } catch let e as TransportError {
            throw OpenShiftError.transport(e, side: side, oauthHost: oauthHost)
        } catch {
            throw OpenShiftError(.network, "request to \(URLTools.host(request.url)) failed: \(error)", host: URLTools.host(request.url), side: side)
        }
        say("\(response.status) from \(URLTools.host(request.url))" + (response.headers["Location"].map { " Location: \($0)" } ?? ""))
        return response
    }

    private func request(_ method: String, _ url: String, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8]? = nil) -> HTTPRequest {
        HTTPRequest(method: method, url: url, headers: headers, body: body, tls: tls, followRedirects: false,
                    maxResponseBytes: 1 << 20, timeouts: .init(connectSeconds: 15, totalSeconds: 60))
    }

    static func isHTML(_ r: HTTPResponse) -> Bool {
        if (r.headers["Content-Type"] ?? "").lowercased().contains("text/html") { return true }
        let head = String(decoding: r.body.prefix(256), as: UTF8.self).lowercased().trimmingCharacters(in: " \t\r\n")
        return head.hasPrefix("<!doctype html") || head.hasPrefix("<html")
    }

    static func consoleURLError(_ url: String) -> OpenShiftError {
        OpenShiftError(.invalidInput, "\(url) answered with an HTML page: this looks like the web console URL; give the API server URL (https://api.<cluster>:6443)")
    }

    /// Request 3: `GET /.well-known/oauth-authorization-server` on the API server.
    func discover() async throws(OpenShiftError) -> Metadata {
        var headers = HTTPHeaders()
        headers.set("X-CSRF-Token", "1")
        headers.set("Accept", "application/json")
        let url = apiURL + "/.well-known/oauth-authorization-server"
        let r = try await send(request("GET", url, headers: headers), oauthHost: false)
        if Self.isHTML(r) { throw Self.consoleURLError(apiURL) }
        switch r.status {
        case 200:
            guard let m = try? JSONDecoder().decode(Metadata.self, from: Data(r.body)),
                  !m.issuer.isEmpty, !m.authorization_endpoint.isEmpty, !m.token_endpoint.isEmpty else {
                throw OpenShiftError(.protocolError, "\(url) did not return OAuth server metadata; is \(apiURL) an OpenShift API server?")
            }
            return m
        case 404:
            throw OpenShiftError(.notOpenShift, "cluster \(apiURL) does not expose OAuth discovery (external OIDC?), so a user name and password cannot log in",
                                 remedies: [.giveToken], host: apiURL)
        case 401, 403:
            throw OpenShiftError(.protocolError, "\(apiURL) refused anonymous OAuth discovery (HTTP \(r.status)), so a user name and password cannot log in",
                                 remedies: [.giveToken], host: apiURL)
        default:
            throw OpenShiftError(.protocolError, "couldn't get \(url): unexpected response status \(r.status)")
        }
    }

    /// The whole login; returns the access token. Its errors are about the cluster at `apiURL`.
    func run() async throws(OpenShiftError) -> String {
        do {
            return try await login()
        } catch {
            var e = error
            if e.host == nil { e.host = apiURL }
            if e.side == nil { e.side = side }
            throw e
        }
    }

    private func login() async throws(OpenShiftError) -> String {
        guard !username.isEmpty else { throw OpenShiftError(.invalidInput, "the user name is empty") }
        guard !username.contains(":") else {
            throw OpenShiftError(.invalidInput, "user name \"\(username)\" contains ':' and cannot be used for basic authentication (log in as kubeadmin, not kube:admin)")
        }
        guard !password.isEmpty else {
            throw OpenShiftError(.invalidInput, "the password for \(username) is empty", remedies: [.givePassword])
        }
        let metadata = try await discover()
        let issuer = metadata.issuer.hasSuffix("/") ? String(metadata.issuer.dropLast()) : metadata.issuer
        let redirectURI = issuer + "/oauth/token/implicit"
        let methods = metadata.code_challenge_methods_supported ?? []
        let pkce = pkceVerifier.map { PKCE.make(verifier: $0, methodsSupported: methods) }
            ?? PKCE.generate(methodsSupported: methods)
        let code = try await authorize(metadata: metadata, issuer: issuer, redirectURI: redirectURI, pkce: pkce)
        return try await exchange(code: code, metadata: metadata, redirectURI: redirectURI, pkce: pkce)
    }

    static func authorizeURL(endpoint: String, redirectURI: String, pkce: PKCE) -> String {
        let query = URLTools.formEncode([
            ("client_id", clientID),
            ("code_challenge", pkce.challenge),
            ("code_challenge_method", pkce.method),
            ("redirect_uri", redirectURI),
            ("response_type", "code"),
        ])
        return endpoint + (endpoint.contains("?") ? "&" : "?") + query
    }

    /// What a redirect's `Location` means to the code flow.
    enum RedirectOutcome: Equatable {
        case code(String)
        case error(code: String, description: String?)
        case other(String)
    }

    static func classify(location: String, base: String) -> RedirectOutcome {
        let target = URLTools.resolve(location, against: base)
        let params = URLTools.parseQuery(URLTools.query(target))
        if let e = params.first(where: { $0.name == "error" }) {
            return .error(code: e.value, description: params.first { $0.name == "error_description" }?.value)
        }
        if let c = params.first(where: { $0.name == "code" }), !c.value.isEmpty { return .code(c.value) }
        return .other(target)
    }

    /// Where a browser-only user gets a token: the challenge's `rel="related"` link, else the issuer's page.
    static func tokenRequestURL(_ issuer: String, _ r: HTTPResponse?) -> String {
        // placeholderchallenger: `Link: <https://oauth…/oauth/token/request>; rel="related"` (possibly among others).
        let links = r.map { $0.headers.values("Link").joined(separator: ", ") }
        if let url = LinkHeader.target(links, rel: "related"), url.hasPrefix("https://") || url.hasPrefix("http://") {
            return url
        }
        return issuer + "/oauth/token/request"
    }

    private func browserOnly(_ issuer: String, _ r: HTTPResponse?) -> OpenShiftError {
        OpenShiftError(.browserOnlyProvider,
                       "the identity provider of \(apiURL) does not accept a user name and password (browser-only login, e.g. SSO or 2FA): get a token at \(Self.tokenRequestURL(issuer, r))",
                       remedies: [.giveToken], host: apiURL)
    }

    /// Requests 5–6 and any redirects in between, up to the code.
    func authorize(metadata: Metadata, issuer: String, redirectURI: String, pkce: PKCE) async throws(OpenShiftError) -> String {
        let start = Self.authorizeURL(endpoint: metadata.authorization_endpoint, redirectURI: redirectURI, pkce: pkce)
        let authOrigin = URLTools.origin(start)
        var url = start
        var visited = [start]
        var answered = false
        var redirects = 0
        while true {
            var headers = HTTPHeaders()
            headers.set("X-CSRF-Token", "1")
            // Credentials only ever go to the authorization endpoint's origin.
            if answered && URLTools.origin(url) == authOrigin {
                headers.set("Authorization", "Basic " + Base64.encode(username + ":" + password))
            }
            let r = try await send(request("GET", url, headers: headers), oauthHost: true)
            switch r.status {
            case 401:
                let challenges = r.headers.values("WWW-Authenticate")
                if challenges.contains(where: Self.isBasicChallenge) {
                    guard URLTools.origin(url) == authOrigin else {
                        throw OpenShiftError(.protocolError, "the OAuth flow was redirected to \(URLTools.host(url)), which asks for a password; not sending it there")
                    }
                    if answered {
                        throw OpenShiftError(.authentication, "login failed (401 Unauthorized): verify the user name \"\(username)\" and its password for \(apiURL)")
                    }
                    answered = true
                    continue
                }
                let warning = Self.warningText(r)
                if warning.contains("X-CSRF-Token") {
                    throw OpenShiftError(.protocolError, "the OAuth server asked for an X-CSRF-Token header it was sent: \(warning)")
                }
                if answered && challenges.isEmpty && warning.isEmpty {
                    throw OpenShiftError(.authentication, "login failed (401 Unauthorized): verify the user name \"\(username)\" and its password for \(apiURL)")
                }
                throw browserOnly(issuer, r)
            case 300..<400:
                guard let location = r.headers["Location"], !location.isEmpty else {
                    throw OpenShiftError(.protocolError, "the OAuth server answered HTTP \(r.status) without a Location")
                }
                switch Self.classify(location: location, base: url) {
                case .code(let code):
                    return code
                case .error(let code, let description):
                    let text = [code, description ?? ""].filter { !$0.isEmpty }.joined(separator: " ")
                    let kind: OpenShiftError.Kind = code == "access_denied" ? .authentication : .protocolError
                    throw OpenShiftError(kind, "the OAuth server of \(apiURL) refused the login: \(text)")
                case .other(let target):
                    if visited.contains(target) {
                        throw OpenShiftError(.protocolError, "redirect loop: \(URLTools.stripQuery(url)) -> \(URLTools.stripQuery(target)); check the OAuth route and any proxy in front of it")
                    }
                    redirects += 1
                    if redirects > Self.maxRedirects {
                        throw OpenShiftError(.protocolError, "too many redirects during login (last: \(URLTools.stripQuery(target)))")
                    }
                    visited.append(target)
                    url = target
                }
            case 200..<300:
                // A page (an SSO login form) instead of a challenge or a code.
                throw browserOnly(issuer, r)
            case 500..<600:
                let detail = Self.firstLine(r)
                if answered {
                    throw OpenShiftError(.authentication, "user \"\(username)\" was authenticated but the OAuth server could not map it to an OpenShift user (HTTP \(r.status)\(detail.isEmpty ? "" : ": " + detail)); ask a cluster administrator to check the identity provider's mappingMethod and the user's identity")
                }
                throw OpenShiftError(.protocolError, "the OAuth server answered HTTP \(r.status)\(detail.isEmpty ? "" : ": " + detail)")
            case 400:
                throw OpenShiftError(.protocolError, "the OAuth server rejected the authorization request: \(Self.oauthErrorText(r))")
            default:
                throw OpenShiftError(.protocolError, "unexpected response HTTP \(r.status) from the OAuth server \(URLTools.host(url))")
            }
        }
    }

    /// Request 7: `POST /oauth/token` (Basic `openshift-challenging-client:`, form keys sorted, no
    /// client_id in the body: osincli sends the client in the Authorization header).
    func exchange(code: String, metadata: Metadata, redirectURI: String, pkce: PKCE) async throws(OpenShiftError) -> String {
        var headers = HTTPHeaders()
        headers.set("Authorization", "Basic " + Base64.encode(Self.clientID + ":"))
        headers.set("Content-Type", "application/x-www-form-urlencoded")
        headers.set("Accept", "application/json")
        let body = URLTools.formEncode([
            ("code", code),
            ("code_verifier", pkce.verifier),
            ("grant_type", "authorization_code"),
            ("redirect_uri", redirectURI),
        ])
        let r = try await send(request("POST", metadata.token_endpoint, headers: headers, body: Array(body.utf8)), oauthHost: true)
        struct TokenResponse: Decodable {
            var access_token: String?
            var token_type: String?
        }
        switch r.status {
        case 200:
            guard let t = try? JSONDecoder().decode(TokenResponse.self, from: Data(r.body)),
                  let token = t.access_token, !token.isEmpty else {
                throw OpenShiftError(.protocolError, "the OAuth token endpoint returned no access_token")
            }
            return token
        case 400, 401:
            throw OpenShiftError(.authentication, "the OAuth server refused the authorization code: \(Self.oauthErrorText(r))")
        default:
            throw OpenShiftError(.protocolError, "unexpected response HTTP \(r.status) from the OAuth token endpoint")
        }
    }

    // MARK: parsing helpers

    /// library-go's `(?i)^\s*basic(\s+realm\s*=\s*"(.*?)")?…`: any challenge whose scheme is Basic.
    static func isBasicChallenge(_ header: String) -> Bool {
        let t = header.trimmingCharacters(in: " \t").lowercased()
        return t == "basic" || t.hasPrefix("basic ") || t.hasPrefix("basic\t") || t.hasPrefix("basic,")
    }

    /// Text of `Warning: 199 Origin "…"` headers, or the body's first line.
    static func warningText(_ r: HTTPResponse) -> String {
        var parts: [String] = []
        for w in r.headers.values("Warning") {
            if let open = w.firstIndex(of: "\""), let close = w.lastIndex(of: "\""), open < close {
                parts.append(String(w[w.index(after: open)..<close]))
            } else {
                parts.append(w)
            }
        }
        if parts.isEmpty { return "" }
        return parts.joined(separator: "; ")
    }

    static func firstLine(_ r: HTTPResponse) -> String {
        if isHTML(r) { return "" }
        let line = r.bodyText.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).first.map(String.init) ?? ""
        return String(line.prefix(300))
    }

    static func oauthErrorText(_ r: HTTPResponse) -> String {
        struct E: Decodable {
            var error: String?
            var error_description: String?
        }
        if let e = try? JSONDecoder().decode(E.self, from: Data(r.body)), let code = e.error {
            return [code, e.error_description ?? ""].filter { !$0.isEmpty }.joined(separator: " ")
        }
        let line = firstLine(r)
        return line.isEmpty ? "HTTP \(r.status)" : "HTTP \(r.status): \(line)"
    }
}
