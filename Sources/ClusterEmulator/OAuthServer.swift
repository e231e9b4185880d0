import LoopbackHTTP
/// The OAuth server (`oauth-openshift` route): `/oauth/authorize`, `/oauth/token` and the token-request pages,
/// following openshift/oauth-server + openshift/osin as described in the protocol notes §2.
final class OAuthServer: Sendable {
    struct Client: Sendable {
        var id: String
        var secret: String
        var respondWithChallenges: Bool
        var redirectURIs: [String]
    }

    let state: ClusterState
    let issuer: String
    let clients: [Client]
    private let browserClientSecret: String

    static let knownScopes: Set<String> = ["user:full", "user:info", "user:check-access", "user:list-projects",
                                           "user:list-scoped-projects"]
    static let noCacheHeaders: [(name: String, value: String)] = [
        ("Cache-Control", "no-cache, no-store, max-age=0, must-revalidate"),
        ("Pragma", "no-cache"),
        ("Expires", "Fri, 01 Jan 1990 00:00:00 GMT"),
    ]
    static let csrfWarning = "A non-empty X-CSRF-Token header is required to receive basic-auth challenges"

    init(state: ClusterState, issuer: String) {
        self.state = state
        self.issuer = issuer
        browserClientSecret = Base64.urlEncode(Crypto.randomBytes(32))
        clients = [
            Client(id: "openshift-challenging-client", secret: "", respondWithChallenges: true,
                   redirectURIs: [issuer + "/oauth/token/implicit"]),
            Client(id: "openshift-browser-client", secret: browserClientSecret, respondWithChallenges: false,
                   redirectURIs: [issuer + "/oauth/token/display"]),
            Client(id: "openshift-cli-client", secret: "", respondWithChallenges: false,
                   redirectURIs: ["http://127.0.0.1/callback", "http://[::1]/callback"]),
        ]
    }

    func handle(_ req: EmuRequest) -> EmuResponse {
        switch (req.method, req.path) {
        case (_, "/oauth/authorize"), (_, "/oauth/authorize/"):
            return authorize(req)
        case ("POST", "/oauth/token"), ("GET", "/oauth/token"):
            return token(req)
        case ("GET", "/oauth/token/request"), ("HEAD", "/oauth/token/request"):
            let query = EmuForm.encode([("client_id", "openshift-browser-client"),
                                           ("redirect_uri", issuer + "/oauth/token/display"),
                                           ("response_type", "code")])
            return EmuResponse(status: 302, headers: [("Location", issuer + "/oauth/authorize?" + query)])
        case ("GET", "/oauth/token/implicit"), ("HEAD", "/oauth/token/implicit"):
            return .text(200, "You have reached this page by following a redirect Location header from an OAuth authorize request.\n\nIf a response_type=token parameter was passed to the /authorize endpoint, that requested an\n\"Implicit Grant\" OAuth flow (see https://tools.ietf.org/html/rfc6749#section-4.2).\n\nThat flow requires the access token to be returned in the fragment portion of a redirect header.\nRather than following the redirect here, you can obtain the access token from the Location header\n(see, for example, the -D or -I options of curl).\n")
        case ("GET", "/oauth/token/display"):
            return .text(200, "<!DOCTYPE html>\n<html><head><title>Display Token</title></head><body>"
                         + "<p>Browser token display is not emulated; use <code>oc login -u</code> on a challenge IdP.</p>"
                         + "</body></html>\n", contentType: "text/html; charset=utf-8")
        case ("GET", "/login"), ("HEAD", "/login"):
            return .text(200, "<!DOCTYPE html>\n<html><head><title>Log in</title></head><body>"
                         + "<form method=\"POST\"><input name=\"username\"><input name=\"password\" type=\"password\">"
                         + "</form></body></html>\n", contentType: "text/html; charset=utf-8")
        case ("GET", "/healthz"):
            return .text(200, "ok")
        case ("GET", "/oauth/info"), ("GET", "/.well-known/oauth-authorization-server"):
            return .json(200, APIServer.oauthMetadata(issuer: issuer, pkceMethods: state.config.pkceMethods))
        default:
            return .text(404, "404 page not found\n")
        }
    }

    // MARK: /oauth/authorize

    private func oauthErrorJSON(_ code: String, _ description: String? = nil) -> EmuResponse {
        .json(400, .object([("error", .string(code)),
                            ("error_description", .string(description ?? OAuthServer.defaultDescription(code)))]),
              extraHeaders: OAuthServer.noCacheHeaders)
    }

    static func defaultDescription(_ code: String) -> String {
        switch code {
        case "invalid_request": return "The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, or is otherwise malformed."
        case "unauthorized_client": return "The client is not authorized to request a token using this method."
        case "access_denied": return "The resource owner or authorization server denied the request."
        case "unsupported_response_type": return "The authorization server does not support obtaining a token using this method."
        case "invalid_scope": return "The requested scope is invalid, unknown, or malformed."
        case "server_error": return "The authorization server encountered an unexpected condition that prevented it from fulfilling the request."
        case "unsupported_grant_type": return "The authorization grant type is not supported by the authorization server."
        case "invalid_grant": return "The provided authorization grant (e.g., authorization code, resource owner credentials) or refresh token is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client."
        case "invalid_client": return "Client authentication failed (e.g., unknown client, no client authentication included, or unsupported authentication method)."
        default: return code
        }
    }

    /// `osin` `Response.GetRedirectUrl`: output merged into the redirect URI's query (keys sorted), or, for the
    /// implicit flow, a form-encoded fragment.
    static func redirectURL(_ base: String, _ output: [(String, String)], fragment: Bool) -> String {
        var uri = base
        if let hash = uri.firstIndex(of: "#") { uri = String(uri[..<hash]) }
        var existing: [(String, String)] = []
        if let q = uri.firstIndex(of: "?") {
            existing = EmuForm.decode(String(uri[uri.index(after: q)...]))
            uri = String(uri[..<q])
        }
        if fragment {
            let query = EmuForm.encode(existing)
            return uri + (query.isEmpty ? "" : "?" + query) + "#" + EmuForm.encode(output)
        }
        let keys = Set(output.map(\.0))
        let merged = existing.filter { !keys.contains($0.0) } + output
        return uri + "?" + EmuForm.encode(merged)
    }

    private func errorRedirect(_ redirectURI: String, _ code: String, _ description: String? = nil, state: String,
                               fragment: Bool) -> EmuResponse {
        var output = [("error", code), ("error_description", description ?? OAuthServer.defaultDescription(code))]
        if !state.isEmpty { output.append(("state", state)) }
        return EmuResponse(status: 302, headers: OAuthServer.noCacheHeaders
                           + [("Location", OAuthServer.redirectURL(redirectURI, output, fragment: fragment))])
    }

    /// `osin` `ValidateUri` (loopback `http` URIs match any port).
    static func validateRedirect(registered: String, requested: String) -> Bool {
        guard let base = SimpleURL(registered), let redirect = SimpleURL(requested),
              base.fragment == nil, redirect.fragment == nil, base.scheme == redirect.scheme else { return false }
        var hostMatch = base.hostPort == redirect.hostPort
        if !hostMatch, base.scheme == "http", SimpleURL.isLoopback(base.host) {
            hostMatch = SimpleURL.isLoopback(redirect.host)
        }
        guard hostMatch else { return false }
        if base.path == redirect.path { return true }
        let prefix = (base.path.hasSuffix("/") ? String(base.path.dropLast()) : base.path) + "/"
        return redirect.path.hasPrefix(prefix)
    }

    private func authorize(_ req: EmuRequest) -> EmuResponse {
        var params = req.query
        if req.method == "POST" { params += req.form }
        func param(_ key: String) -> String { params.first { $0.0 == key }?.1 ?? "" }
        let stateParam = param("state")

        guard let client = clients.first(where: { $0.id == param("client_id") }) else {
            return oauthErrorJSON("unauthorized_client")
        }
        var redirectURI = EmuForm.unescape(Substring(param("redirect_uri")))
        if redirectURI.isEmpty, client.redirectURIs.count == 1 { redirectURI = client.redirectURIs[0] }
        guard !redirectURI.isEmpty,
              client.redirectURIs.contains(where: { OAuthServer.validateRedirect(registered: $0, requested: redirectURI) })
        else { return oauthErrorJSON("invalid_request") }

        let responseType = param("response_type")
        let fragment = responseType == "token"
        var challenge = "", challengeMethod = ""
        switch responseType {
        case "code":
            let c = param("code_challenge")
            if !c.isEmpty {
                var method = param("code_challenge_method")
                if method.isEmpty { method = "plain" }
                guard method == "plain" || method == "S256" else {
                    return errorRedirect(redirectURI, "invalid_request",
                                         "code_challenge_method transform algorithm not supported (rfc7636)",
                                         state: stateParam, fragment: false)
                }
                guard OAuthServer.isPKCEString(c) else {
                    return errorRedirect(redirectURI, "invalid_request", "code_challenge invalid (rfc7636)",
                                         state: stateParam, fragment: false)
                }
                challenge = c
                challengeMethod = method
            }
        case "token":
            break
        default:
            return errorRedirect(redirectURI, "unsupported_response_type", state: stateParam, fragment: false)
        }

        // Authentication (openshift/oauth-server authenticator chain).
        let username: String
        switch authenticate(req) {
        case .user(let name):
            username = name
        case .mappingFailure(let name):
            let idp = state.config.identityProviderName
            return .text(500, "Error: lookup of user for \"\(idp):\(name)\" failed: "
                         + "useridentitymappings.user.openshift.io \"\(idp):\(name)\" not found")
        case .none:
            return authenticationNeeded(req, client: client)
        }

        // Grant (method auto): empty scope means user:full; unknown scopes are refused.
        let scopes = param("scope").split(separator: " ").map(String.init)
        let granted = scopes.isEmpty ? ["user:full"] : scopes
        guard granted.allSatisfy({ OAuthServer.knownScopes.contains($0) || $0.hasPrefix("role:") }) else {
            return errorRedirect(redirectURI, "invalid_scope", state: stateParam, fragment: fragment)
        }

        if responseType == "token" {
            let token = state.issueAccessToken(username: username, clientName: client.id, scopes: granted,
                                               redirectURI: redirectURI)
            var output = [("access_token", token), ("expires_in", String(state.config.tokenLifetimeSeconds)),
                          ("scope", granted.joined(separator: " ")), ("token_type", "Bearer")]
            if !stateParam.isEmpty { output.append(("state", stateParam)) }
            return EmuResponse(status: 302, headers: OAuthServer.noCacheHeaders
                               + [("Location", OAuthServer.redirectURL(redirectURI, output, fragment: true))])
        }
        let code = state.issueCode(AuthorizeCode(clientID: client.id, redirectURI: redirectURI, challenge: challenge,
                                                 challengeMethod: challengeMethod, scopes: granted,
                                                 username: username, created: Clock.now()))
        return EmuResponse(status: 302, headers: OAuthServer.noCacheHeaders
                           + [("Location", OAuthServer.redirectURL(redirectURI, [("code", code), ("state", stateParam)],
                                                                   fragment: false))])
    }

    private enum AuthOutcome { case user(String), mappingFailure(String), none }

    private func authenticate(_ req: EmuRequest) -> AuthOutcome {
        // Browser-only IdPs: no request authenticator reads Basic credentials.
        guard state.config.identityProvider == .challenge else { return .none }
        guard let creds = req.basicCredentials, !creds.user.isEmpty, !creds.password.isEmpty else { return .none }
        switch state.checkPassword(user: creds.user, password: creds.password) {
        case .ok: return .user(creds.user)
        case .mappingFailure: return .mappingFailure(creds.user)
        case .wrong: return .none
        }
    }

    /// `default_auth_handler.go AuthenticationNeeded`.
    private func authenticationNeeded(_ req: EmuRequest, client: Client) -> EmuResponse {
        guard client.respondWithChallenges else {
            // Browser clients are redirected to the login page (password IdP) or the external IdP.
            let then = req.path + (req.rawQuery.isEmpty ? "" : "?" + req.rawQuery)
            return EmuResponse(status: 302, headers: [("Location", "/login?" + EmuForm.encode([("then", then)]))])
        }
        var headers: [(name: String, value: String)] = []
        var warnings: [String] = []
        switch state.config.identityProvider {
        case .challenge:
            if let csrf = req.header("X-CSRF-Token"), !csrf.isEmpty {
                headers.append(("WWW-Authenticate", "Basic realm=\"openshift\""))
            } else {
                warnings.append(OAuthServer.csrfWarning)
            }
        case .browser:
            let url = issuer + "/oauth/token/request"
            warnings.append("You must obtain an API token by visiting \(url)")
            headers.append(("Link", "<\(url)>; rel=\"related\""))
        }
        for w in warnings { headers.append(("Warning", "199 Origin \"\(w)\"")) }
        let body = warnings.map { $0 + "\n" }.joined()
        headers.insert(("Content-Type", "text/plain; charset=utf-8"), at: 0)
        return EmuResponse(status: 401, headers: headers, body: Array(body.utf8))
    }

    static func isPKCEString(_ s: String) -> Bool {
        guard (43...128).contains(s.utf8.count) else { return false }
        return s.utf8.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
                || b == UInt8(ascii: "~") || b == UInt8(ascii: ".") || b == UInt8(ascii: "_") || b == UInt8(ascii: "-")
        }
    }

    // MARK: /oauth/token

    private func token(_ req: EmuRequest) -> EmuResponse {
        guard req.method == "POST" else { return oauthErrorJSON("invalid_request") }
        let form = req.form
        func param(_ key: String) -> String { form.first { $0.0 == key }?.1 ?? "" }
        guard param("grant_type") == "authorization_code" else { return oauthErrorJSON("unsupported_grant_type") }

        // Client authentication: client_secret in params (AllowClientSecretInParams), else HTTP Basic.
        let clientID: String, clientSecret: String
        if form.contains(where: { $0.0 == "client_secret" }), !param("client_id").isEmpty {
            clientID = param("client_id")
            clientSecret = param("client_secret")
        } else if let basic = req.basicCredentials {
            clientID = basic.user
            clientSecret = basic.password
        } else {
            return oauthErrorJSON("invalid_request")
        }
        let code = param("code")
        guard !code.isEmpty else { return oauthErrorJSON("invalid_grant") }
        guard let client = clients.first(where: { $0.id == clientID }),
              constantTimeEqual(client.secret, clientSecret) else { return oauthErrorJSON("unauthorized_client") }

        var redirectURI = param("redirect_uri")
        if redirectURI.isEmpty { redirectURI = client.redirectURIs[0] }
        let verifier = param("code_verifier")

        let outcome = state.exchangeCode(code) { data -> String? in
            if data.clientID != client.id { return "invalid_grant" }
            guard client.redirectURIs.contains(where: {
                OAuthServer.validateRedirect(registered: $0, requested: redirectURI)
            }) else { return "invalid_request" }
            if data.redirectURI != redirectURI { return "invalid_request" }
            if !data.challenge.isEmpty {
                guard OAuthServer.isPKCEString(verifier) else { return "invalid_request" }
                let computed = data.challengeMethod == "S256" ? Base64.urlEncode(Crypto.sha256(verifier)) : verifier
                if !constantTimeEqual(computed, data.challenge) { return "invalid_grant" }
            }
            return nil
        }
        guard let (data, verdict) = outcome else { return oauthErrorJSON("invalid_grant") }
        if let verdict { return oauthErrorJSON(verdict) }

        let token = state.issueAccessToken(username: data.username, clientName: client.id, scopes: data.scopes,
                                           redirectURI: redirectURI)
        return .json(200, .object([("access_token", .string(token)),
                                   ("expires_in", .int(state.config.tokenLifetimeSeconds)),
                                   ("scope", .string(data.scopes.joined(separator: " "))),
                                   ("token_type", .string("Bearer"))]),
                     extraHeaders: OAuthServer.noCacheHeaders)
    }
}

/// Just enough URL parsing for redirect-URI validation.
struct SimpleURL {
    var scheme: String
    var host: String
    var port: String?
    var path: String
    var query: String?
    var fragment: String?

    var hostPort: String { port.map { host + ":" + $0 } ?? host }

    init?(_ text: String) {
        guard let colon = text.firstIndex(of: ":"), text[colon...].hasPrefix("://") else { return nil }
        scheme = String(text[..<colon]).lowercased()
        var rest = Substring(text[text.index(colon, offsetBy: 3)...])
        if let h = rest.firstIndex(of: "#") {
            fragment = String(rest[rest.index(after: h)...])
            rest = rest[..<h]
        }
        if let q = rest.firstIndex(of: "?") {
            query = String(rest[rest.index(after: q)...])
            rest = rest[..<q]
        }
        let authority: Substring
        if let slash = rest.firstIndex(of: "/") {
            authority = rest[..<slash]
            path = String(rest[slash...])
        } else {
            authority = rest
            path = ""
        }
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
            host = String(authority[...close])
            let after = authority[authority.index(after: close)...]
            port = after.hasPrefix(":") ? String(after.dropFirst()) : nil
        } else if let colon = authority.lastIndex(of: ":") {
            host = String(authority[..<colon])
            port = String(authority[authority.index(after: colon)...])
        } else {
            host = String(authority)
        }
        guard !host.isEmpty else { return nil }
    }

    static func isLoopback(_ host: String) -> Bool {
        host.hasPrefix("127.") || host == "[::1]" || host == "::1"
    }
}
