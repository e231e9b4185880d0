import ClusterEmulator
import FoundationEssentials
import HTTPTransport
import TestSupport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// The HTTP client these tests talk to the emulator with (the library has no shared one).
let integrationHTTP = HTTPClient()

/// Drives the OpenShift cluster emulator the way `oc` and skopeo do, over real HTTPS (HTTPTransport) and
/// against the real `docker-registry` it fronts. Each assertion mirrors docs/shared protocol notes §2–§5, §8.
final class EmulatorTests: XCTestCase {
    // MARK: Shared clusters (started once, stopped in class tearDown)

    struct Fixture: Sendable {
        let cluster: ClusterEmulator
        let config: EmulatorConfig
        let directory: String
    }

    static let alicePassword = EmulatorConfig.generatePassword()
    static let bobPassword = EmulatorConfig.generatePassword()
    static let carolPassword = EmulatorConfig.generatePassword()
    static let pipelineToken = "sa-" + randomHex(24)
    static let started = Protected<[Fixture]>([])

    static func start(_ config: EmulatorConfig) -> Result<Fixture, any Error> {
        Result {
            guard Subprocess.find("docker-registry") != nil else {
                throw XCTSkip("docker-registry is not installed (apt-get install docker-registry)")
            }
            let dir = try FileSystem.makeTemporaryDirectory(prefix: "emulator-test")
            let cluster = try ClusterEmulator(config: config, workDirectory: dir)
            let f = Fixture(cluster: cluster, config: config, directory: dir)
            started.withLock { $0.append(f) }
            return f
        }
    }

    /// Password IdP with Basic challenges, OAuth host certificate from another CA, registry published in
    /// image streams.
    static let main: Result<Fixture, any Error> = start(EmulatorConfig(
        name: "dev",
        users: [.init(name: "alice", password: alicePassword, groups: ["developers"]),
                .init(name: "bob", password: bobPassword),
                .init(name: "carol", password: carolPassword),
                .init(name: "dave", password: bobPassword)],
        identityProvider: .challenge,
        mappingFailureUsers: ["carol"],
        serviceAccounts: [.init(namespace: "dev", name: "pipeline", token: pipelineToken)],
        projects: [.init(name: "dev", pushers: ["alice", "system:serviceaccount:dev:pipeline"]),
                   .init(name: "prod", pullers: ["alice"]),
                   .init(name: "openshift", pullers: ["system:authenticated"]),
                   .init(name: "stage", roles: ["system:image-pusher": ["dave"]])],
        tokenLifetimeSeconds: 86400,
        oauthSeparateCA: true,
        imageStreams: [.init(namespace: "openshift", name: "cli"), .init(namespace: "stage", name: "existing")],
        exposeRegistry: .imagestream))

    /// Browser-only IdPs, one CA for everything, registry published only in `images.config.openshift.io`.
    static let browser: Result<Fixture, any Error> = start(EmulatorConfig(
        name: "sso",
        users: [.init(name: "alice", password: alicePassword)],
        identityProvider: .browser,
        serviceAccounts: [.init(namespace: "dev", name: "pipeline", token: pipelineToken)],
        projects: [.init(name: "dev", pushers: ["system:serviceaccount:dev:pipeline"])],
        oauthSeparateCA: false,
        exposeRegistry: .imagesconfig,
        clusterReaders: ["system:serviceaccounts"],
        pkceMethods: ["plain"]))

    /// Registry published only through the `default-route` route.
    static let routed: Result<Fixture, any Error> = start(EmulatorConfig(
        name: "routed",
        serviceAccounts: [.init(namespace: "dev", name: "pipeline", token: pipelineToken)],
        projects: [.init(name: "dev", pushers: ["system:serviceaccount:dev:pipeline"])],
        exposeRegistry: .route,
        clusterReaders: ["system:serviceaccount:dev:pipeline"]))

    override class func tearDown() {
        for f in started.withLock({ s -> [Fixture] in defer { s = [] }; return s }) {
            f.cluster.stop()
            FileSystem.removeTree(f.directory)
        }
        super.tearDown()
    }

    func fixture(_ r: Result<Fixture, any Error>) throws -> Fixture { try r.get() }

    // MARK: HTTP helpers

    @discardableResult
    func send(_ method: String, _ url: String, headers: [(String, String)] = [], body: [UInt8]? = nil,
              caFile: String) async throws -> HTTPResponse {
        try await integrationHTTP.send(HTTPRequest(method: method, url: url, headers: HTTPHeaders(headers), body: body,
                                                   tls: TLSOptions(caFile: caFile), followRedirects: false))
    }

    static func basic(_ user: String, _ password: String) -> String {
        "Basic " + Base64.encode(Array("\(user):\(password)".utf8))
    }

    static func sha256(_ s: String) -> [UInt8] {
        let h = SHA256()
        h.update(Array(s.utf8))
        return h.finalize()
    }

    /// PKCE as osincli: verifier = base64url(96 random bytes) (128 chars), challenge = base64url(SHA-256(verifier)).
    static func pkce() -> (verifier: String, challenge: String) {
        let verifier = Base64.urlEncode((0..<96).map { _ in UInt8.random(in: 0...255) })
        return (verifier, Base64.urlEncode(sha256(verifier)))
    }

    static func queryValue(_ url: String, _ key: String) -> String? {
        guard let q = url.firstIndex(of: "?") else { return nil }
        let query = url[url.index(after: q)...].prefix { $0 != "#" }
        for pair in query.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            if kv.count == 2, kv[0] == key { return String(kv[1]).percentDecoded }
        }
        return nil
    }

    struct Discovery: Decodable {
        var issuer: String
        var authorization_endpoint: String
        var token_endpoint: String
        var code_challenge_methods_supported: [String]?
    }

    struct TokenResponse: Decodable {
        var access_token: String
        var expires_in: Int
        var scope: String
        var token_type: String
        var refresh_token: String?
    }

    struct OAuthError: Decodable, Equatable {
        var error: String
        var error_description: String
    }

    struct Status: Decodable {
        var kind: String
        var apiVersion: String
        var status: String
        var message: String
        var reason: String
        var code: Int
    }

    struct SelfSubjectReview: Decodable {
        struct Body: Decodable {
            struct UserInfo: Decodable {
                var username: String
                var uid: String
                var groups: [String]
                var extra: [String: [String]]?
            }
            var userInfo: UserInfo
        }
        var kind: String
        var apiVersion: String
        var status: Body
    }

    func decode<T: Decodable>(_ type: T.Type, _ r: HTTPResponse, file: StaticString = #filePath,
                              line: UInt = #line) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(r.body))
        } catch {
            XCTFail("cannot decode \(T.self) from \(r.status) \(r.bodyText)", file: file, line: line)
            throw error
        }
    }

    func authorizeURL(_ f: Fixture, challenge: String?, method: String? = "S256", responseType: String = "code") -> String {
        let redirect = f.cluster.oauthURL + "/oauth/token/implicit"
        var items = [("client_id", "openshift-challenging-client")]
        if let challenge { items.append(("code_challenge", challenge)) }
        if let challenge, let method, !challenge.isEmpty { items.append(("code_challenge_method", method)) }
        items += [("redirect_uri", redirect), ("response_type", responseType)]
        return f.cluster.oauthURL + "/oauth/authorize?"
            + items.map { "\($0.0)=\(FormCoding.percentEncode($0.1))" }.joined(separator: "&")
    }

    func exchange(_ f: Fixture, code: String, verifier: String?) async throws -> HTTPResponse {
        var form = [("code", code)]
        if let verifier { form.append(("code_verifier", verifier)) }
        form += [("grant_type", "authorization_code"), ("redirect_uri", f.cluster.oauthURL + "/oauth/token/implicit")]
        let body = form.map { "\($0.0)=\(FormCoding.percentEncode($0.1))" }.joined(separator: "&")
        return try await send("POST", f.cluster.oauthURL + "/oauth/token",
                              headers: [("Authorization", EmulatorTests.basic("openshift-challenging-client", "")),
                                        ("Content-Type", "application/x-www-form-urlencoded"),
                                        ("Accept", "application/json")],
                              body: Array(body.utf8), caFile: f.cluster.caBundlePath)
    }

    /// The `oc login -u -p` sequence; returns the access token.
    func login(_ f: Fixture, user: String = "alice", password: String = EmulatorTests.alicePassword) async throws -> String {
        let (verifier, challenge) = EmulatorTests.pkce()
        let r = try await send("GET", authorizeURL(f, challenge: challenge),
                               headers: [("Authorization", EmulatorTests.basic(user, password)), ("X-CSRF-Token", "1")],
                               caFile: f.cluster.caBundlePath)
        XCTAssertEqual(r.status, 302, r.bodyText)
        let code = try XCTUnwrap(EmulatorTests.queryValue(r.headers["Location"] ?? "", "code"))
        let t = try await exchange(f, code: code, verifier: verifier)
        XCTAssertEqual(t.status, 200, t.bodyText)
        return try decode(TokenResponse.self, t).access_token
    }

    func whoami(_ f: Fixture, token: String) async throws -> HTTPResponse {
        try await send("POST", f.cluster.apiURL + "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                       headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json"),
                                 ("Accept", "application/json")],
                       body: Array(#"{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}"#.utf8),
                       caFile: f.cluster.caBundlePath)
    }

    static let unauthorizedBody =
        #"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}"#

    // MARK: §2 login

    func testFullPasswordLoginSequence() async throws {
        let f = try fixture(Self.main)
        let ca = f.cluster.caBundlePath

        // Request 1: HEAD / — any status, never HTML.
        let probe = try await send("HEAD", f.cluster.apiURL + "/", caFile: ca)
        XCTAssertEqual(probe.status, 403)
        XCTAssertFalse((probe.headers["Content-Type"] ?? "").contains("text/html"))
        // Request 2: version.
        let version = try await send("GET", f.cluster.apiURL + "/version", caFile: ca)
        XCTAssertEqual(version.status, 200)
        XCTAssertTrue(version.bodyText.contains(#""major":"1""#), version.bodyText)
        // Request 3: discovery on the API server.
        let disc = try await send("GET", f.cluster.apiURL + "/.well-known/oauth-authorization-server",
                                  headers: [("X-CSRF-Token", "1")], caFile: ca)
        XCTAssertEqual(disc.status, 200)
        XCTAssertEqual(disc.headers["Content-Type"], "application/json")
        let d = try decode(Discovery.self, disc)
        XCTAssertEqual(d.issuer, f.cluster.oauthURL)
        XCTAssertEqual(d.authorization_endpoint, f.cluster.oauthURL + "/oauth/authorize")
        XCTAssertEqual(d.token_endpoint, f.cluster.oauthURL + "/oauth/token")
        XCTAssertEqual(d.code_challenge_methods_supported, ["plain", "S256"])
        XCTAssertTrue(disc.bodyText.contains(#""grant_types_supported":["authorization_code","implicit"]"#))
        // Request 4: HEAD <issuer> over HTTPS.
        let head = try await send("HEAD", d.issuer, caFile: ca)
        XCTAssertGreaterThan(head.status, 0)

        // Request 5: authorize without credentials ⇒ Basic challenge, empty body.
        let (verifier, challenge) = Self.pkce()
        XCTAssertEqual(challenge.count, 43)
        let url = authorizeURL(f, challenge: challenge)
        let challenged = try await send("GET", url, headers: [("X-CSRF-Token", "1")], caFile: ca)
        XCTAssertEqual(challenged.status, 401)
        XCTAssertEqual(challenged.headers.values("WWW-Authenticate"), [#"Basic realm="openshift""#])
        XCTAssertEqual(challenged.body, [])

        // Request 6: same GET with Basic ⇒ 302 with code and an empty state.
        let granted = try await send("GET", url, headers: [("Authorization", Self.basic("alice", Self.alicePassword)),
                                                          ("X-CSRF-Token", "1")], caFile: ca)
        XCTAssertEqual(granted.status, 302, granted.bodyText)
        XCTAssertEqual(granted.headers["Cache-Control"], "no-cache, no-store, max-age=0, must-revalidate")
        XCTAssertEqual(granted.headers["Pragma"], "no-cache")
        XCTAssertEqual(granted.headers["Expires"], "Fri, 01 Jan 1990 00:00:00 GMT")
        let location = try XCTUnwrap(granted.headers["Location"])
        XCTAssertTrue(location.hasPrefix(f.cluster.oauthURL + "/oauth/token/implicit?code=sha256~"), location)
        XCTAssertTrue(location.hasSuffix("&state="), location)
        let code = try XCTUnwrap(Self.queryValue(location, "code"))
        XCTAssertEqual(code.count, 7 + 43)

        // Request 7: code exchange with PKCE.
        let t = try await exchange(f, code: code, verifier: verifier)
        XCTAssertEqual(t.status, 200, t.bodyText)
        XCTAssertEqual(t.headers["Content-Type"], "application/json")
        XCTAssertEqual(t.headers["Cache-Control"], "no-cache, no-store, max-age=0, must-revalidate")
        let token = try decode(TokenResponse.self, t)
        XCTAssertTrue(token.access_token.hasPrefix("sha256~"))
        XCTAssertEqual(token.access_token.count, 50)
        XCTAssertFalse(token.access_token.dropFirst(7).hasPrefix("-"))
        XCTAssertEqual(token.expires_in, 86400)
        XCTAssertEqual(token.scope, "user:full")
        XCTAssertEqual(token.token_type, "Bearer")
        XCTAssertNil(token.refresh_token)
        XCTAssertTrue(t.bodyText.hasPrefix(#"{"access_token":"sha256~"#))

        // The code is single-use.
        let again = try await exchange(f, code: code, verifier: verifier)
        XCTAssertEqual(again.status, 400)
        XCTAssertEqual(try decode(OAuthError.self, again).error, "invalid_grant")

        // The token works and is recorded by object name only.
        let me = try await whoami(f, token: token.access_token)
        XCTAssertEqual(me.status, 201, me.bodyText)
        let name = ClusterEmulator.tokenObjectName(token.access_token)
        let record = try XCTUnwrap(f.cluster.tokens().first { $0.name == name })
        XCTAssertEqual(record.userName, "alice")
        XCTAssertEqual(record.clientName, "openshift-challenging-client")
        XCTAssertFalse(record.revoked)
        XCTAssertFalse(record.expired)
        // No secret reaches the emulator's access log.
        let log = try FileSystem.readText(f.cluster.accessLogPath)
        XCTAssertFalse(log.contains(token.access_token.dropFirst(7)))
        XCTAssertFalse(log.contains(code.dropFirst(7)))
        XCTAssertFalse(log.contains(Self.alicePassword))
    }

    func testTokenObjectNameMatchesNotesExample() {
        XCTAssertEqual(ClusterEmulator.tokenObjectName("sha256~abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ"),
                       "sha256~RqIZl4LIgn8KxW9QO-nTnv7pf0CnNrksx9fF-CXP2FE")
        XCTAssertEqual(ClusterEmulator.tokenObjectName("not-an-oauth-token"), "not-an-oauth-token")
    }

    func testPlainPKCEAndNoPKCE() async throws {
        let f = try fixture(Self.main)
        let verifier = Base64.urlEncode((0..<32).map { _ in UInt8.random(in: 0...255) })
        let r = try await send("GET", authorizeURL(f, challenge: verifier, method: "plain"),
                               headers: [("Authorization", Self.basic("alice", Self.alicePassword))],
                               caFile: f.cluster.caBundlePath)
        XCTAssertEqual(r.status, 302)
        let code = try XCTUnwrap(Self.queryValue(r.headers["Location"] ?? "", "code"))
        let t = try await exchange(f, code: code, verifier: verifier)
        XCTAssertEqual(t.status, 200, t.bodyText)

        // Without a challenge no verifier is needed.
        let r2 = try await send("GET", authorizeURL(f, challenge: nil),
                                headers: [("Authorization", Self.basic("alice", Self.alicePassword))],
                                caFile: f.cluster.caBundlePath)
        let code2 = try XCTUnwrap(Self.queryValue(r2.headers["Location"] ?? "", "code"))
        let t2 = try await exchange(f, code: code2, verifier: nil)
        XCTAssertEqual(t2.status, 200, t2.bodyText)

        // response_type=token: the token comes back in a form-encoded fragment (§2.9).
        let implicit = try await send("GET", authorizeURL(f, challenge: nil, responseType: "token"),
                                      headers: [("Authorization", Self.basic("alice", Self.alicePassword)), ("X-CSRF-Token", "1")],
                                      caFile: f.cluster.caBundlePath)
        XCTAssertEqual(implicit.status, 302)
        let location = implicit.headers["Location"] ?? ""
        let prefix = f.cluster.oauthURL + "/oauth/token/implicit#access_token=sha256~"
        XCTAssertTrue(location.hasPrefix(prefix), location)
        XCTAssertTrue(location.hasSuffix("&expires_in=86400&scope=user%3Afull&token_type=Bearer"), location)
        let token = String(location.dropFirst(prefix.count - 7).prefix(50))
        let me = try await whoami(f, token: token)
        XCTAssertEqual(me.status, 201)
    }

    func testWrongPKCEVerifierIsRejected() async throws {
        let f = try fixture(Self.main)
        let (verifier, challenge) = Self.pkce()
        let r = try await send("GET", authorizeURL(f, challenge: challenge),
                               headers: [("Authorization", Self.basic("alice", Self.alicePassword)), ("X-CSRF-Token", "1")],
                               caFile: f.cluster.caBundlePath)
        let code = try XCTUnwrap(Self.queryValue(r.headers["Location"] ?? "", "code"))

        // Well-formed but wrong verifier ⇒ invalid_grant with osin's default text.
        let wrong = try await exchange(f, code: code, verifier: Self.pkce().verifier)
        XCTAssertEqual(wrong.status, 400)
        XCTAssertEqual(try decode(OAuthError.self, wrong), OAuthError(
            error: "invalid_grant",
            error_description: "The provided authorization grant (e.g., authorization code, resource owner credentials) or refresh token is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client."))
        // Missing or malformed verifier ⇒ invalid_request.
        let missing = try await exchange(f, code: code, verifier: nil)
        XCTAssertEqual(missing.status, 400)
        XCTAssertEqual(try decode(OAuthError.self, missing).error, "invalid_request")
        // A rejected exchange does not consume the code (osin removes it only on success).
        let right = try await exchange(f, code: code, verifier: verifier)
        XCTAssertEqual(right.status, 200, right.bodyText)

        // A malformed challenge is refused on the redirect.
        let bad = try await send("GET", authorizeURL(f, challenge: "short"),
                                 headers: [("Authorization", Self.basic("alice", Self.alicePassword))],
                                 caFile: f.cluster.caBundlePath)
        XCTAssertEqual(bad.status, 302)
        let loc = bad.headers["Location"] ?? ""
        XCTAssertEqual(Self.queryValue(loc, "error"), "invalid_request")
        XCTAssertEqual(Self.queryValue(loc, "error_description"), "code_challenge invalid (rfc7636)")
    }

    func testWrongPasswordIsChallengedAgain() async throws {
        let f = try fixture(Self.main)
        let r = try await send("GET", authorizeURL(f, challenge: Self.pkce().challenge),
                               headers: [("Authorization", Self.basic("alice", "wrong-password")), ("X-CSRF-Token", "1")],
                               caFile: f.cluster.caBundlePath)
        XCTAssertEqual(r.status, 401)
        XCTAssertEqual(r.headers["WWW-Authenticate"], #"Basic realm="openshift""#)
        XCTAssertNil(r.headers["Location"])

        // Without X-CSRF-Token: no challenge, a 199 warning instead.
        let noCSRF = try await send("GET", authorizeURL(f, challenge: Self.pkce().challenge), caFile: f.cluster.caBundlePath)
        XCTAssertEqual(noCSRF.status, 401)
        XCTAssertNil(noCSRF.headers["WWW-Authenticate"])
        XCTAssertEqual(noCSRF.headers["Warning"],
                       #"199 Origin "A non-empty X-CSRF-Token header is required to receive basic-auth challenges""#)
        XCTAssertEqual(noCSRF.bodyText, "A non-empty X-CSRF-Token header is required to receive basic-auth challenges\n")

        // Unknown client ⇒ 400 JSON, no redirect.
        let unknown = try await send("GET", f.cluster.oauthURL + "/oauth/authorize?client_id=nope&response_type=code",
                                     caFile: f.cluster.caBundlePath)
        XCTAssertEqual(unknown.status, 400)
        XCTAssertEqual(try decode(OAuthError.self, unknown).error, "unauthorized_client")
    }

    func testUnmappableUserGets500() async throws {
        let f = try fixture(Self.main)
        let r = try await send("GET", authorizeURL(f, challenge: Self.pkce().challenge),
                               headers: [("Authorization", Self.basic("carol", Self.carolPassword)), ("X-CSRF-Token", "1")],
                               caFile: f.cluster.caBundlePath)
        XCTAssertEqual(r.status, 500)
        XCTAssertTrue(r.bodyText.hasPrefix(#"Error: lookup of user for "htpasswd:carol" failed: "#), r.bodyText)
    }

    func testOAuthHostCertificateFromAnotherCA() async throws {
        let f = try fixture(Self.main)
        XCTAssertNotEqual(try FileSystem.readText(f.cluster.apiCAPath), try FileSystem.readText(f.cluster.ingressCAPath))
        // The API verifies with the API CA alone …
        let api = try await send("GET", f.cluster.apiURL + "/.well-known/oauth-authorization-server",
                                 caFile: f.cluster.apiCAPath)
        XCTAssertEqual(api.status, 200)
        // … the OAuth host does not (the kubeconfig-CA-lacks-ingress-CA failure) …
        do {
            let r = try await send("HEAD", f.cluster.oauthURL, caFile: f.cluster.apiCAPath)
            XCTFail("OAuth host verified with the API CA only: \(r.status)")
        } catch let e as TransportError {
            XCTAssertEqual(e.kind, .tlsUntrusted, "\(e)")
        }
        // … and the exported bundle trusts both (and the registry).
        _ = try await send("HEAD", f.cluster.oauthURL, caFile: f.cluster.caBundlePath)
        let v2 = try await send("GET", "https://\(f.cluster.registryHost)/v2/", caFile: f.cluster.caBundlePath)
        XCTAssertEqual(v2.status, 401)
    }

    func testConsoleURLServesHTML() async throws {
        let f = try fixture(Self.main)
        let r = try await send("HEAD", f.cluster.consoleURL, caFile: f.cluster.caBundlePath)
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue((r.headers["Content-Type"] ?? "").contains("text/html"))
    }

    // MARK: §3 whoami

    func testWhoAmI() async throws {
        let f = try fixture(Self.main)
        let token = try await login(f)
        let r = try await whoami(f, token: token)
        XCTAssertEqual(r.status, 201)
        let review = try decode(SelfSubjectReview.self, r)
        XCTAssertEqual(review.kind, "SelfSubjectReview")
        XCTAssertEqual(review.apiVersion, "authentication.k8s.io/v1")
        XCTAssertEqual(review.status.userInfo.username, "alice")
        XCTAssertEqual(review.status.userInfo.groups, ["developers", "system:authenticated:oauth", "system:authenticated"])
        XCTAssertEqual(review.status.userInfo.extra?["scopes.authorization.openshift.io"], ["user:full"])

        let user = try await send("GET", f.cluster.apiURL + "/apis/user.openshift.io/v1/users/~",
                                  headers: [("Authorization", "Bearer \(token)")], caFile: f.cluster.caBundlePath)
        XCTAssertEqual(user.status, 200)
        XCTAssertTrue(user.bodyText.contains(#""kind":"User","apiVersion":"user.openshift.io/v1","metadata":{"name":"alice""#),
                      user.bodyText)

        // Service-account token.
        let sa = try decode(SelfSubjectReview.self, try await whoami(f, token: Self.pipelineToken))
        XCTAssertEqual(sa.status.userInfo.username, "system:serviceaccount:dev:pipeline")
        XCTAssertEqual(sa.status.userInfo.groups, ["system:serviceaccounts", "system:serviceaccounts:dev", "system:authenticated"])

        // Anonymous ~ is forbidden, an invalid token is 401 with the exact Status body.
        let anon = try await send("GET", f.cluster.apiURL + "/apis/user.openshift.io/v1/users/~", caFile: f.cluster.caBundlePath)
        XCTAssertEqual(anon.status, 403)
        XCTAssertTrue(try decode(Status.self, anon).message.hasSuffix("requests to ~ must be authenticated"))
        let bad = try await whoami(f, token: "sha256~" + String(repeating: "A", count: 43))
        XCTAssertEqual(bad.status, 401)
        XCTAssertEqual(bad.headers["Content-Type"], "application/json")
        XCTAssertEqual(bad.bodyText, Self.unauthorizedBody + "\n")
        let oldFormat = try await whoami(f, token: "not-sha256-prefixed")
        XCTAssertEqual(oldFormat.status, 401)
    }

    // MARK: §4 revocation and expiry

    func testRevokedTokenIsRejected() async throws {
        let f = try fixture(Self.main)
        let token = try await login(f)
        let name = ClusterEmulator.tokenObjectName(token)
        let url = f.cluster.apiURL + "/apis/oauth.openshift.io/v1/oauthaccesstokens/" + name

        let anonymous = try await send("DELETE", url, caFile: f.cluster.caBundlePath)
        XCTAssertEqual(anonymous.status, 403)
        XCTAssertEqual(try decode(Status.self, anonymous).reason, "Forbidden")

        let deleted = try await send("DELETE", url, headers: [("Authorization", "Bearer \(token)")], caFile: f.cluster.caBundlePath)
        XCTAssertEqual(deleted.status, 200, deleted.bodyText)
        XCTAssertTrue(deleted.bodyText.hasPrefix(
            #"{"kind":"OAuthAccessToken","apiVersion":"oauth.openshift.io/v1","metadata":{"name":"\#(name)""#), deleted.bodyText)
        XCTAssertTrue(deleted.bodyText.contains(#""userName":"alice""#))
        XCTAssertFalse(deleted.bodyText.contains(token))

        let after = try await whoami(f, token: token)
        XCTAssertEqual(after.status, 401)
        XCTAssertEqual(after.bodyText, Self.unauthorizedBody + "\n")
        XCTAssertTrue(f.cluster.tokens().first { $0.name == name }?.revoked == true)

        // Deleting an unknown token as an authenticated user ⇒ 404 Status.
        let other = try await login(f)
        let missing = try await send("DELETE", f.cluster.apiURL + "/apis/oauth.openshift.io/v1/oauthaccesstokens/sha256~nope",
                                     headers: [("Authorization", "Bearer \(other)")], caFile: f.cluster.caBundlePath)
        XCTAssertEqual(missing.status, 404)
        XCTAssertEqual(try decode(Status.self, missing).message, #"oauthaccesstokens.oauth.openshift.io "sha256~nope" not found"#)

        // The registry token endpoint refuses it too (bare 401).
        let realm = try await send("GET", "https://\(f.cluster.registryHost)/openshift/token?scope=repository:dev/app:pull",
                                   headers: [("Authorization", Self.basic("user", token))], caFile: f.cluster.caBundlePath)
        XCTAssertEqual(realm.status, 401)
        XCTAssertEqual(realm.body, [])
    }

    func testExpiredTokenIsRejected() async throws {
        let f = try fixture(Self.main)
        let token = try await login(f)
        let before = try await whoami(f, token: token)
        XCTAssertEqual(before.status, 201)
        f.cluster.expireAllTokens()
        let r = try await whoami(f, token: token)
        XCTAssertEqual(r.status, 401)
        XCTAssertEqual(r.bodyText, Self.unauthorizedBody + "\n")
        XCTAssertTrue(f.cluster.tokens().first { $0.name == ClusterEmulator.tokenObjectName(token) }?.expired == true)
        // Service-account tokens do not expire.
        let sa = try await whoami(f, token: Self.pipelineToken)
        XCTAssertEqual(sa.status, 201)
        // New logins work again.
        let fresh = try await login(f)
        let again = try await whoami(f, token: fresh)
        XCTAssertEqual(again.status, 201)
    }

    // MARK: Browser-only IdP

    func testBrowserOnlyIdentityProviderHasNoChallenge() async throws {
        let f = try fixture(Self.browser)
        let disc = try decode(Discovery.self, try await send("GET", f.cluster.apiURL + "/.well-known/oauth-authorization-server",
                                                            caFile: f.cluster.apiCAPath))
        XCTAssertEqual(disc.code_challenge_methods_supported, ["plain"])
        // One CA: the API CA alone verifies the OAuth host.
        let r = try await send("GET", authorizeURL(f, challenge: Self.pkce().challenge),
                               headers: [("Authorization", Self.basic("alice", Self.alicePassword)), ("X-CSRF-Token", "1")],
                               caFile: f.cluster.apiCAPath)
        XCTAssertEqual(r.status, 401)
        XCTAssertNil(r.headers["WWW-Authenticate"])
        let requestURL = f.cluster.oauthURL + "/oauth/token/request"
        XCTAssertEqual(r.headers["Warning"], "199 Origin \"You must obtain an API token by visiting \(requestURL)\"")
        XCTAssertEqual(r.headers["Link"], "<\(requestURL)>; rel=\"related\"")
        XCTAssertEqual(r.bodyText, "You must obtain an API token by visiting \(requestURL)\n")

        let tokenRequest = try await send("GET", requestURL, caFile: f.cluster.apiCAPath)
        XCTAssertEqual(tokenRequest.status, 302)
        XCTAssertTrue((tokenRequest.headers["Location"] ?? "").contains("client_id=openshift-browser-client"))
    }

    // MARK: §5 registry discovery

    func testRegistryDiscoveryPlaces() async throws {
        let main = try fixture(Self.main)
        let token = try await login(main)
        let stream = try await send("GET", main.cluster.apiURL + "/apis/image.openshift.io/v1/namespaces/openshift/imagestreams/cli",
                                    headers: [("Authorization", "Bearer \(token)")], caFile: main.cluster.caBundlePath)
        XCTAssertEqual(stream.status, 200, stream.bodyText)
        XCTAssertTrue(stream.bodyText.contains(#""publicDockerImageRepository":"\#(main.cluster.registryHost)/openshift/cli""#))
        XCTAssertTrue(stream.bodyText.contains(
            #""dockerImageRepository":"image-registry.openshift-image-registry.svc:5000/openshift/cli""#))
        let list = try await send("GET", main.cluster.apiURL + "/apis/image.openshift.io/v1/namespaces/openshift/imagestreams",
                                  headers: [("Authorization", "Bearer \(token)")], caFile: main.cluster.caBundlePath)
        XCTAssertTrue(list.bodyText.hasPrefix(#"{"kind":"ImageStreamList""#))
        let forbidden = try await send("GET", main.cluster.apiURL + "/apis/image.openshift.io/v1/namespaces/secret/imagestreams/x",
                                       headers: [("Authorization", "Bearer \(token)")], caFile: main.cluster.caBundlePath)
        XCTAssertEqual(forbidden.status, 403)
        let config = try await send("GET", main.cluster.apiURL + "/apis/config.openshift.io/v1/images/cluster",
                                    headers: [("Authorization", "Bearer \(token)")], caFile: main.cluster.caBundlePath)
        XCTAssertEqual(config.status, 403, "regular users cannot read the cluster image config")

        let browser = try fixture(Self.browser)
        let images = try await send("GET", browser.cluster.apiURL + "/apis/config.openshift.io/v1/images/cluster",
                                    headers: [("Authorization", "Bearer \(Self.pipelineToken)")],
                                    caFile: browser.cluster.caBundlePath)
        XCTAssertEqual(images.status, 200, images.bodyText)
        XCTAssertTrue(images.bodyText.contains(#""externalRegistryHostnames":["\#(browser.cluster.registryHost)"]"#))

        let routed = try fixture(Self.routed)
        let route = try await send("GET", routed.cluster.apiURL
                                   + "/apis/route.openshift.io/v1/namespaces/openshift-image-registry/routes/default-route",
                                   headers: [("Authorization", "Bearer \(Self.pipelineToken)")],
                                   caFile: routed.cluster.caBundlePath)
        XCTAssertEqual(route.status, 200, route.bodyText)
        XCTAssertTrue(route.bodyText.contains(#""spec":{"host":"\#(routed.cluster.registryHost)""#))
        let routedConfig = try await send("GET", routed.cluster.apiURL + "/apis/config.openshift.io/v1/images/cluster",
                                          headers: [("Authorization", "Bearer \(Self.pipelineToken)")],
                                          caFile: routed.cluster.caBundlePath)
        XCTAssertFalse(routedConfig.bodyText.contains("externalRegistryHostnames"))
    }

    // MARK: §5 registry token realm and the registry front

    func registryToken(_ f: Fixture, apiToken: String, scopes: [String]) async throws -> (HTTPResponse, String?) {
        let query = scopes.map { "scope=" + FormCoding.percentEncode($0) }.joined(separator: "&")
        let r = try await send("GET", "https://\(f.cluster.registryHost)/openshift/token?" + query,
                               headers: [("Authorization", Self.basic("anything", apiToken))], caFile: f.cluster.caBundlePath)
        guard r.status == 200 else { return (r, nil) }
        struct Body: Decodable { var token: String; var access_token: String }
        let b = try decode(Body.self, r)
        XCTAssertEqual(b.token, b.access_token)
        return (r, b.token)
    }

    func testRegistryTokenEndpointEchoesTheAPIToken() async throws {
        let f = try fixture(Self.main)
        let token = try await login(f)
        let base = "https://\(f.cluster.registryHost)/openshift/token"
        // Echoed, not minted or scoped, whatever the scopes ask (token.go).
        let (_, echoed) = try await registryToken(f, apiToken: token, scopes: [
            "repository:dev/app:pull,push", "repository:prod/app:pull,push", "registry:catalog:*",
        ])
        XCTAssertEqual(echoed, token)

        // Anonymous ⇒ the literal "anonymous" token; non-Basic ⇒ bare 401; bad name ⇒ 401 details.
        let anon = try await send("GET", base + "?scope=repository:dev/app:pull", caFile: f.cluster.caBundlePath)
        XCTAssertEqual(anon.status, 200)
        XCTAssertEqual(anon.bodyText, #"{"token":"anonymous","access_token":"anonymous"}"# + "\n")
        let bearer = try await send("GET", base, headers: [("Authorization", "Bearer \(token)")], caFile: f.cluster.caBundlePath)
        XCTAssertEqual(bearer.status, 401)
        XCTAssertEqual(bearer.body, [])
        let badName = try await send("GET", base + "?scope=repository:app:push",
                                     headers: [("Authorization", Self.basic("u", token))], caFile: f.cluster.caBundlePath)
        XCTAssertEqual(badName.status, 401)
        XCTAssertEqual(badName.bodyText,
                       #"{"details":"repository name \"app\" invalid: it must be of the format \u003cproject\u003e/\u003cname\u003e"}"# + "\n")
        let invalid = try await send("GET", base + "?scope=repository:dev/app:pull",
                                     headers: [("Authorization", Self.basic("u", "sha256~bogus"))], caFile: f.cluster.caBundlePath)
        XCTAssertEqual(invalid.status, 401)
        XCTAssertEqual(invalid.body, [])
        // The API server itself has no such path.
        let onAPI = try await send("GET", f.cluster.apiURL + "/openshift/token", headers: [("Authorization", "Bearer \(token)")],
                                   caFile: f.cluster.caBundlePath)
        XCTAssertEqual(onAPI.status, 404)
    }

    func testRegistryFrontAuthorizesByImageStreamRBAC() async throws {
        let f = try fixture(Self.main)
        let ca = f.cluster.caBundlePath
        let registry = "https://\(f.cluster.registryHost)"
        let accessDenied = #"Basic realm=openshift,error="access denied""#

        let ping = try await send("GET", registry + "/v2/", caFile: ca)
        XCTAssertEqual(ping.status, 401)
        XCTAssertEqual(ping.headers["Docker-Distribution-API-Version"], "registry/2.0")
        XCTAssertEqual(ping.headers["WWW-Authenticate"], #"Bearer realm="https://\#(f.cluster.registryHost)/openshift/token""#)
        XCTAssertTrue(ping.bodyText.contains(#""code":"UNAUTHORIZED""#), ping.bodyText)

        let token = try await login(f)
        let bearer = [("Authorization", "Bearer \(token)")]
        // The API token itself is the credential: Bearer, or Basic with any user name.
        let v2 = try await send("GET", registry + "/v2/", headers: bearer, caFile: ca)
        XCTAssertEqual(v2.status, 200, v2.bodyText)
        let basic = try await send("GET", registry + "/v2/", headers: [("Authorization", Self.basic("whoever", token))], caFile: ca)
        XCTAssertEqual(basic.status, 200)
        let emptyPassword = try await send("GET", registry + "/v2/", headers: [("Authorization", Self.basic("user", ""))], caFile: ca)
        XCTAssertEqual(emptyPassword.headers["WWW-Authenticate"], #"Basic realm=openshift,error="failed to decode credentials""#)

        // Permitted push (alice pushes to dev): the storage registry starts an upload.
        let upload = try await send("POST", registry + "/v2/dev/perm/blobs/uploads/", headers: bearer, caFile: ca)
        XCTAssertEqual(upload.status, 202, upload.bodyText)
        // Permitted pull on prod (no such repository: 404, not 401).
        let pull = try await send("GET", registry + "/v2/prod/perm/tags/list", headers: bearer, caFile: ca)
        XCTAssertEqual(pull.status, 404, pull.bodyText)
        // Push to prod: missing RBAC answers exactly like a bad token.
        let denied = try await send("POST", registry + "/v2/prod/perm/blobs/uploads/", headers: bearer, caFile: ca)
        XCTAssertEqual(denied.status, 401, denied.bodyText)
        XCTAssertEqual(denied.headers["WWW-Authenticate"], accessDenied)
        XCTAssertTrue(denied.bodyText.contains(#""Name":"prod/perm","Action":"push""#), denied.bodyText)
        let bad = try await send("POST", registry + "/v2/prod/perm/blobs/uploads/",
                                 headers: [("Authorization", "Bearer sha256~bogus")], caFile: ca)
        XCTAssertEqual(bad.status, 401)
        XCTAssertEqual(bad.headers["WWW-Authenticate"], accessDenied)
        XCTAssertEqual(bad.bodyText, denied.bodyText)
        // No project role at all: pull refused too.
        let secret = try await send("GET", registry + "/v2/secret/app/tags/list", headers: bearer, caFile: ca)
        XCTAssertEqual(secret.status, 401)
        XCTAssertEqual(secret.headers["WWW-Authenticate"], accessDenied)
        // Bad repository names are not challenges.
        let flat = try await send("GET", registry + "/v2/app/tags/list", headers: bearer, caFile: ca)
        XCTAssertEqual(flat.status, 400)
        // Catalog needs a cluster role nobody here has.
        let catalog = try await send("GET", registry + "/v2/_catalog", headers: bearer, caFile: ca)
        XCTAssertEqual(catalog.status, 401)
        // The front forwards without the user's credentials, and counts what it saw.
        XCTAssertGreaterThan(f.cluster.registryFront.count(pathContains: "/v2/dev/perm/blobs/uploads/", status: 202), 0)
    }

    func accessReview(_ f: Fixture, token: String, namespace: String, verb: String, resource: String,
                      subresource: String? = nil) async throws -> Bool? {
        var attributes = #""namespace":"\#(namespace)","verb":"\#(verb)","group":"image.openshift.io","resource":"\#(resource)""#
        if let subresource { attributes += #","subresource":"\#(subresource)""# }
        let r = try await send("POST", f.cluster.apiURL + "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                               headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")],
                               body: Array(#"{"kind":"SelfSubjectAccessReview","apiVersion":"authorization.k8s.io/v1","spec":{"resourceAttributes":{\#(attributes)}}}"#.utf8),
                               caFile: f.cluster.caBundlePath)
        guard r.status == 201 else { return nil }
        struct Review: Decodable { struct S: Decodable { var allowed: Bool }; var kind: String; var status: S }
        return try decode(Review.self, r).status.allowed
    }

    func testImagePusherCannotCreateStreamsAndTagAPI() async throws {
        let f = try fixture(Self.main)
        let ca = f.cluster.caBundlePath
        let registry = "https://\(f.cluster.registryHost)"
        let dave = try await login(f, user: "dave", password: Self.bobPassword)
        let alice = try await login(f)

        // Reviews: both spellings of the layers subresource; a pusher may not create streams.
        let pushLayers = try await accessReview(f, token: dave, namespace: "stage", verb: "update", resource: "imagestreams",
                                                subresource: "layers")
        XCTAssertEqual(pushLayers, true)
        let combined = try await accessReview(f, token: dave, namespace: "stage", verb: "get", resource: "imagestreams/layers")
        XCTAssertEqual(combined, true)
        let create = try await accessReview(f, token: dave, namespace: "stage", verb: "create", resource: "imagestreams")
        XCTAssertEqual(create, false)
        let alicePull = try await accessReview(f, token: alice, namespace: "prod", verb: "get", resource: "imagestreams",
                                               subresource: "layers")
        XCTAssertEqual(alicePull, true)
        let alicePush = try await accessReview(f, token: alice, namespace: "prod", verb: "update", resource: "imagestreams",
                                               subresource: "layers")
        XCTAssertEqual(alicePush, false)
        let anonymous = try await send("POST", f.cluster.apiURL + "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                                       body: Array("{}".utf8), caFile: ca)
        XCTAssertEqual(anonymous.status, 403)

        // A new stream needs `create imagestreams`: blobs go in, the manifest by tag is DENIED (403).
        let image = TestImage.random(layerSizes: [2048], seed: 13)
        do {
            try await ImageSeeder.pushAsync(image, to: registry, repository: "stage/new", tag: "1", credentials: .bearer(dave))
            XCTFail("a pusher without create imagestreams created a stream")
        } catch {
            XCTAssertTrue("\(error)".contains("403") || "\(error)".contains("DENIED"), "\(error)")
        }
        XCTAssertEqual(f.cluster.registryFront.count(method: "PUT", pathContains: "/v2/stage/new/manifests/1", status: 403), 1)
        // An existing stream takes the push.
        try await ImageSeeder.pushAsync(image, to: registry, repository: "stage/existing", tag: "1", credentials: .bearer(dave))

        // Tag API: alice pushes dev/src:1, then tags it as dev/dst:1 without moving bytes.
        try await ImageSeeder.pushAsync(image, to: registry, repository: "dev/src", tag: "1", credentials: .bearer(alice))
        let istags = f.cluster.apiURL + "/apis/image.openshift.io/v1/namespaces/dev/imagestreamtags/"
        let body = #"{"kind":"ImageStreamTag","apiVersion":"image.openshift.io/v1","metadata":{"name":"dst:1","namespace":"dev"},"tag":{"name":"1","from":{"kind":"ImageStreamImage","namespace":"dev","name":"src@\#(image.digest)"},"referencePolicy":{"type":"Local"}}}"#
        let before = f.cluster.registryFront.log.count
        let put = try await send("PUT", istags + "dst:1", headers: [("Authorization", "Bearer \(alice)"), ("Content-Type", "application/json")],
                                 body: Array(body.utf8), caFile: ca)
        XCTAssertEqual(put.status, 201, put.bodyText)
        XCTAssertEqual(f.cluster.registryFront.log.count, before, "the tag API must not touch the registry")
        let stream = try await send("GET", f.cluster.apiURL + "/apis/image.openshift.io/v1/namespaces/dev/imagestreams/dst",
                                    headers: [("Authorization", "Bearer \(alice)")], caFile: ca)
        XCTAssertTrue(stream.bodyText.contains(#""tag":"1","items":[{"#), stream.bodyText)
        XCTAssertTrue(stream.bodyText.contains(#""image":"\#(image.digest)""#), stream.bodyText)
        XCTAssertTrue(stream.bodyText.contains(#""referencePolicy":{"type":"Local"}"#), stream.bodyText)
        let pulled = try await send("GET", registry + "/v2/dev/dst/manifests/1",
                                    headers: [("Authorization", "Bearer \(alice)"), ("Accept", image.mediaType)], caFile: ca)
        XCTAssertEqual(pulled.status, 200, pulled.bodyText)
        XCTAssertEqual(pulled.headers["Docker-Content-Digest"], image.digest)
        // Creating it again is a conflict; dave may not use the tag API at all; tagging from a project
        // alice cannot pull from is refused by the stream's tag verifier.
        let again = try await send("POST", String(istags.dropLast()), headers: [("Authorization", "Bearer \(alice)")],
                                   body: Array(body.utf8), caFile: ca)
        XCTAssertEqual(again.status, 409, again.bodyText)
        let daveTag = try await send("PUT", istags + "dst:2", headers: [("Authorization", "Bearer \(dave)")], body: Array(body.utf8),
                                     caFile: ca)
        XCTAssertEqual(daveTag.status, 403)
        let cross = body.replacing(#""namespace":"dev","name":"src@"#, with: #""namespace":"stage","name":"existing@"#)
        let crossTag = try await send("PUT", istags + "dst:3", headers: [("Authorization", "Bearer \(alice)")],
                                      body: Array(cross.utf8), caFile: ca)
        XCTAssertEqual(crossTag.status, 422, crossTag.bodyText)
        XCTAssertTrue(crossTag.bodyText.contains("Forbidden: stage/existing"), crossTag.bodyText)
    }

    // MARK: skopeo with an auth file

    /// A one-layer OCI image layout (uncompressed tar layer) tagged `v1`.
    static func writeOCILayout(at dir: String) throws {
        try FileSystem.createDirectory(dir + "/blobs/sha256")
        func put(_ bytes: [UInt8]) throws -> (digest: String, size: Int) {
            let digest = SHA256.digest(bytes)
            try FileSystem.write(bytes, to: dir + "/blobs/sha256/" + digest.dropFirst(7))
            return (digest, bytes.count)
        }
        let layer = try put(tarFile(name: "hello.txt", contents: Array("hello from the emulator test \(randomHex(8))\n".utf8)))
        let config = try put(Array("""
            {"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["\(layer.digest)"]}}
            """.utf8))
        let manifest = try put(Array("""
            {"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",\
            "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\(config.digest)","size":\(config.size)},\
            "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"\(layer.digest)","size":\(layer.size)}]}
            """.utf8))
        try FileSystem.write(#"{"imageLayoutVersion":"1.0.0"}"#, to: dir + "/oci-layout")
        try FileSystem.write("""
            {"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json",\
            "digest":"\(manifest.digest)","size":\(manifest.size),"annotations":{"org.opencontainers.image.ref.name":"v1"}}]}
            """, to: dir + "/index.json")
    }

    static func tarFile(name: String, contents: [UInt8]) -> [UInt8] {
        var header = [UInt8](repeating: 0, count: 512)
        func field(_ offset: Int, _ text: String) {
            for (i, b) in text.utf8.enumerated() { header[offset + i] = b }
        }
        func octal(_ v: Int, width: Int) -> String {
            let s = String(v, radix: 8)
            return String(repeating: "0", count: width - 1 - s.count) + s
        }
        field(0, name)
        field(100, octal(0o644, width: 8))
        field(108, octal(0, width: 8))
        field(116, octal(0, width: 8))
        field(124, octal(contents.count, width: 12))
        field(136, octal(0, width: 12))
        field(148, "        ")
        field(156, "0")
        field(257, "ustar")
        field(263, "00")
        let sum = header.reduce(0) { $0 + Int($1) }
        field(148, octal(sum, width: 7))
        header[155] = UInt8(ascii: " ")
        var out = header + contents
        out += [UInt8](repeating: 0, count: (512 - contents.count % 512) % 512)
        out += [UInt8](repeating: 0, count: 1024)
        return out
    }

    func skopeo(_ args: [String], home: String) async throws -> ProcessResult {
        try await Subprocess.runAsync("skopeo", ["--insecure-policy"] + args,
                                      environment: ["PATH": "/usr/bin:/bin", "HOME": home, "XDG_RUNTIME_DIR": home],
                                      timeoutSeconds: 120)
    }

    func testSkopeoPushAndInspectThroughAuthFile() async throws {
        guard Subprocess.find("skopeo") != nil else { throw XCTSkip("skopeo is not installed") }
        let f = try fixture(Self.main)
        let work = try TemporaryDirectory(prefix: "emulator-skopeo")
        defer { work.remove() }
        let certs = try work.subdirectory("certs")
        try FileSystem.write(try FileSystem.read(f.cluster.caBundlePath), to: certs + "/ca.crt")
        try Self.writeOCILayout(at: work.file("image"))

        let token = try await login(f)
        // `oc registry login` style: username "user", password the API token; the file is 0600, argv holds paths only.
        func authFile(_ secret: String, _ name: String) throws -> String {
            let path = work.file(name)
            let auth = Base64.encode(Array("user:\(secret)".utf8))
            try FileSystem.write(#"{"auths":{"\#(f.cluster.registryHost)":{"auth":"\#(auth)"}}}"#, to: path, mode: 0o600)
            return path
        }
        let aliceAuth = try authFile(token, "alice-auth.json")
        let source = "oci:" + work.file("image") + ":v1"
        let host = f.cluster.registryHost

        let push = try await skopeo(["copy", "--authfile", aliceAuth, "--dest-cert-dir", certs, source,
                                     "docker://\(host)/dev/skopeo:v1"], home: work.path)
        XCTAssertTrue(push.succeeded, push.stderrText)
        let inspect = try await skopeo(["inspect", "--authfile", aliceAuth, "--cert-dir", certs,
                                        "docker://\(host)/dev/skopeo:v1"], home: work.path)
        XCTAssertTrue(inspect.succeeded, inspect.stderrText)
        XCTAssertTrue(inspect.stdoutText.contains(#""Name": "\#(host)/dev/skopeo""#), inspect.stdoutText)

        // Pull-only project: push refused by the real registry.
        let denied = try await skopeo(["copy", "--authfile", aliceAuth, "--dest-cert-dir", certs, source,
                                       "docker://\(host)/prod/skopeo:v1"], home: work.path)
        XCTAssertFalse(denied.succeeded)
        XCTAssertTrue(denied.stderrText.contains("denied") || denied.stderrText.contains("unauthorized"), denied.stderrText)

        // A service-account token pushes too; the pushed repository appears as an image stream.
        let saAuth = try authFile(Self.pipelineToken, "sa-auth.json")
        let saPush = try await skopeo(["copy", "--authfile", saAuth, "--dest-cert-dir", certs, source,
                                       "docker://\(host)/dev/skopeo:sa"], home: work.path)
        XCTAssertTrue(saPush.succeeded, saPush.stderrText)
        let stream = try await send("GET", f.cluster.apiURL + "/apis/image.openshift.io/v1/namespaces/dev/imagestreams/skopeo",
                                    headers: [("Authorization", "Bearer \(token)")], caFile: f.cluster.caBundlePath)
        XCTAssertEqual(stream.status, 200, stream.bodyText)
        XCTAssertTrue(stream.bodyText.contains(#""tag":"sa""#) && stream.bodyText.contains(#""tag":"v1""#), stream.bodyText)

        // Once the token is revoked, skopeo cannot even read.
        _ = try await send("DELETE", f.cluster.apiURL + "/apis/oauth.openshift.io/v1/oauthaccesstokens/"
                           + ClusterEmulator.tokenObjectName(token), headers: [("Authorization", "Bearer \(token)")],
                           caFile: f.cluster.caBundlePath)
        let revoked = try await skopeo(["inspect", "--authfile", aliceAuth, "--cert-dir", certs,
                                        "docker://\(host)/dev/skopeo:v1"], home: work.path)
        XCTAssertFalse(revoked.succeeded)
        XCTAssertFalse(push.stderrText.contains(token) || denied.stderrText.contains(token) || revoked.stderrText.contains(token))
    }

    // MARK: The executable

    func testExecutableWritesStateAndStopsOnSIGTERM() async throws {
        guard Subprocess.find("docker-registry") != nil else { throw XCTSkip("docker-registry is not installed") }
        // The test bundle is <build dir>/<package>PackageTests.xctest; the executable sits beside it.
        var parts = FileSystem.absolutePath(CommandLine.arguments[0]).split(separator: "/")
        while let last = parts.last, !last.hasSuffix(".xctest") { parts.removeLast() }
        if !parts.isEmpty { parts.removeLast() }
        let exe = "/" + parts.joined(separator: "/") + "/openshift-emulator"
        guard FileSystem.isExecutable(exe) else { throw XCTSkip("openshift-emulator not built next to the tests (\(exe))") }
        let work = try TemporaryDirectory(prefix: "emulator-exe")
        defer { work.remove() }

        let example = try await Subprocess.runAsync(exe, ["example-config", "--user", "dora", "--output", work.file("c.json")])
        XCTAssertTrue(example.succeeded, example.stderrText)
        let configText = try FileSystem.readText(work.file("c.json"))
        let config = try JSONDecoder().decode(EmulatorConfig.self, from: Data(configText.utf8))
        XCTAssertEqual(config.users.first?.name, "dora")
        let password = try XCTUnwrap(config.users.first?.password)
        XCTAssertFalse(example.stdoutText.contains(password))
        var st = stat()
        XCTAssertEqual(stat(work.file("c.json"), &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o600)

        let child = try Subprocess.launch(exe, ["--config", work.file("c.json"), "--work-dir", work.file("w"),
                                                "--state-file", work.file("state.json")],
                                          stdoutPath: work.file("out.txt"), stderrPath: work.file("err.txt"))
        struct State: Decodable { var apiURL: String; var oauthURL: String; var registryHost: String
                                  var caBundlePath: String; var pid: Int32; var registryPID: Int32 }
        var state: State?
        for _ in 0..<400 where state == nil {
            if let text = try? FileSystem.readText(work.file("out.txt")), text.hasSuffix("\n") {
                state = try? JSONDecoder().decode(State.self, from: Data(text.utf8))
            }
            if !child.isRunning { break }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        let s = try XCTUnwrap(state, (try? FileSystem.readText(work.file("err.txt"))) ?? "")
        XCTAssertEqual(s.pid, child.pid)
        XCTAssertEqual(try FileSystem.readText(work.file("state.json")), try FileSystem.readText(work.file("out.txt")))
        let version = try await send("GET", s.apiURL + "/version", caFile: s.caBundlePath)
        XCTAssertEqual(version.status, 200)
        let v2 = try await send("GET", "https://\(s.registryHost)/v2/", caFile: s.caBundlePath)
        XCTAssertEqual(v2.status, 401)

        child.signal(SIGTERM)
        let ended = try await runOnThread { child.wait(timeoutSeconds: 20) }
        XCTAssertEqual(ended, .exited(0))
        XCTAssertNotEqual(kill(s.registryPID, 0), 0, "the registry child must be gone")
    }
}

extension FileSystem {
    static func absolutePath(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        var buf = [CChar](repeating: 0, count: 4096)
        guard getcwd(&buf, buf.count) != nil else { return path }
        let cwd = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return cwd + "/" + path
    }
}

extension String {
    /// Percent-decoding for test assertions on Location query values (`+` stays `+`, as Go's query escaping
    /// of our values never produces it for a space).
    var percentDecoded: String? {
        var out: [UInt8] = []
        var it = Array(utf8)[...]
        while let b = it.popFirst() {
            if b == UInt8(ascii: "%") {
                guard it.count >= 2, let v = UInt8(String(decoding: it.prefix(2), as: UTF8.self), radix: 16) else { return nil }
                out.append(v)
                it = it.dropFirst(2)
            } else if b == UInt8(ascii: "+") {
                out.append(UInt8(ascii: " "))
            } else {
                out.append(b)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
