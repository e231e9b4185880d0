import XCTest
import HTTPTransport
@testable import OpenShiftCredentials

final class OAuthPiecesTests: XCTestCase {
    func testPKCEVerifierShapeAndRFC7636KnownAnswer() {
        // RFC 7636 appendix B.
        XCTAssertEqual(PKCE.s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
        let allowed = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        var seen = Set<String>()
        for _ in 0..<20 {
            let p = PKCE.generate(methodsSupported: ["plain", "S256"])
            XCTAssertEqual(p.verifier.count, 128, "base64url of 96 bytes, like osincli")
            XCTAssertTrue(p.verifier.allSatisfy { allowed.contains($0) })
            XCTAssertEqual(p.method, "S256")
            XCTAssertEqual(p.challenge, PKCE.s256(p.verifier))
            XCTAssertEqual(p.challenge.count, 43)
            seen.insert(p.verifier)
        }
        XCTAssertEqual(seen.count, 20)
        let plain = PKCE.generate(methodsSupported: ["plain"])
        XCTAssertEqual(plain.method, "plain")
        XCTAssertEqual(plain.challenge, plain.verifier)
        XCTAssertEqual(PKCE.generate(methodsSupported: []).method, "plain")
    }

    func testTokenObjectName() {
        // Known answer from the protocol notes §2.7.
        XCTAssertEqual(OpenShiftToken.objectName("sha256~abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ"),
                       "sha256~RqIZl4LIgn8KxW9QO-nTnv7pf0CnNrksx9fF-CXP2FE")
        XCTAssertEqual(OpenShiftToken.objectName("old-style-token"), "old-style-token")
    }

    func testServerURLNormalisation() throws {
        let cases: [(String, String)] = [
            ("api.example.com", "https://api.example.com:443"),
            ("api.example.com:6443", "https://api.example.com:6443"),
            ("https://api.example.com:6443/", "https://api.example.com:6443"),
            ("http://h", "http://h:80"),
            ("HTTPS://h", "https://h:443"),
            ("tcp://h:6443", "https://h:6443"),
            ("https://[::1]:6443", "https://[::1]:6443"),
            ("[::1]", "https://[::1]:443"),
            ("  https://h:6443  ", "https://h:6443"),
            ("https://h:6443/prefix", "https://h:6443/prefix"),
        ]
        for (input, expected) in cases { XCTAssertEqual(try URLTools.normalizeServer(input), expected, input) }
        assertOpenShiftError(.invalidInput, contains: ["No port specified"]) { try URLTools.normalizeServer("tcp://h") }
        assertOpenShiftError(.invalidInput, contains: ["unsupported scheme"]) { try URLTools.normalizeServer("ftp://h") }
        assertOpenShiftError(.invalidInput, contains: ["credentials"]) { try URLTools.normalizeServer("https://u:p@h") }
        assertOpenShiftError(.invalidInput) { try URLTools.normalizeServer("") }
    }

    func testAuthorizeURLIsExactlyWhatOcSends() {
        let pkce = PKCE.make(verifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", methodsSupported: ["S256"])
        let url = OAuthLogin.authorizeURL(endpoint: "https://oauth-openshift.apps.example.com/oauth/authorize",
                                          redirectURI: "https://oauth-openshift.apps.example.com/oauth/token/implicit", pkce: pkce)
        XCTAssertEqual(url, "https://oauth-openshift.apps.example.com/oauth/authorize?client_id=openshift-challenging-client&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&redirect_uri=https%3A%2F%2Foauth-openshift.apps.example.com%2Foauth%2Ftoken%2Fimplicit&response_type=code")
    }

    func testRedirectLocationClassification() {
        let base = "https://oauth.example.com/oauth/authorize?client_id=x"
        XCTAssertEqual(OAuthLogin.classify(location: "https://oauth.example.com/oauth/token/implicit?code=sha256~abc&state=", base: base),
                       .code("sha256~abc"))
        XCTAssertEqual(OAuthLogin.classify(location: "/oauth/token/implicit?state=&code=sha256~x%2By", base: base), .code("sha256~x+y"))
        XCTAssertEqual(OAuthLogin.classify(location: "https://oauth.example.com/oauth/token/implicit?error=access_denied&error_description=The+resource+owner+denied+the+request.&state=", base: base),
                       .error(code: "access_denied", description: "The resource owner denied the request."))
        XCTAssertEqual(OAuthLogin.classify(location: "https://oauth.example.com/x?error=invalid_request", base: base),
                       .error(code: "invalid_request", description: nil))
        XCTAssertEqual(OAuthLogin.classify(location: "/login?then=%2Foauth%2Fauthorize", base: base),
                       .other("https://oauth.example.com/login?then=%2Foauth%2Fauthorize"))
        XCTAssertEqual(OAuthLogin.classify(location: "https://sso.example.com/auth?code=", base: base),
                       .other("https://sso.example.com/auth?code="), "an empty code is not a code")
    }

    func testLocationResolution() {
        let base = "https://h:8443/a/b/c?q=1"
        XCTAssertEqual(URLTools.resolve("https://x/y", against: base), "https://x/y")
        XCTAssertEqual(URLTools.resolve("//x/y", against: base), "https://x/y")
        XCTAssertEqual(URLTools.resolve("/y?z", against: base), "https://h:8443/y?z")
        XCTAssertEqual(URLTools.resolve("d", against: base), "https://h:8443/a/b/d")
        XCTAssertEqual(URLTools.resolve("?k=v", against: base), "https://h:8443/a/b/c?k=v")
    }

    func testFormEncodingLikeGo() {
        XCTAssertEqual(URLTools.formEncode([("z", "a b"), ("a", "x/y:~*")]), "a=x%2Fy%3A~%2A&z=a+b")
        XCTAssertEqual(URLTools.parseQuery("a=1&b=x+y%21&c&=d").map { "\($0.name)=\($0.value)" }, ["a=1", "b=x y!", "c=", "=d"])
    }

    /// A browser-only provider's challenge names the token request page with `rel="related"`, possibly
    /// among other links; without one, the issuer's page.
    func testTokenRequestPageFromTheChallengesLink() {
        func response(_ links: [String]) -> HTTPResponse {
            HTTPResponse(status: 401, headers: HTTPHeaders(links.map { ("Link", $0) }), body: [], url: "https://o/oauth/authorize")
        }
        let issuer = "https://oauth.example"
        XCTAssertEqual(OAuthLogin.tokenRequestURL(issuer, response([#"<https://o/help>; rel="help", <https://o/oauth/token/request>; rel="related""#])),
                       "https://o/oauth/token/request")
        XCTAssertEqual(OAuthLogin.tokenRequestURL(issuer, response([#"<https://o/help>; rel="help""#, #"<https://o/req>; rel="related""#])),
                       "https://o/req", "a second Link header line counts too")
        XCTAssertEqual(OAuthLogin.tokenRequestURL(issuer, response([#"<https://o/help>; rel="help""#])), issuer + "/oauth/token/request",
                       "the first <…> is not taken when it is not the related link")
        XCTAssertEqual(OAuthLogin.tokenRequestURL(issuer, response([#"<javascript:alert(1)>; rel="related""#])), issuer + "/oauth/token/request")
        XCTAssertEqual(OAuthLogin.tokenRequestURL(issuer, nil), issuer + "/oauth/token/request")
    }

    func testBasicChallengeDetection() {
        XCTAssertTrue(OAuthLogin.isBasicChallenge("Basic realm=\"openshift\""))
        XCTAssertTrue(OAuthLogin.isBasicChallenge("  basic"))
        XCTAssertFalse(OAuthLogin.isBasicChallenge("Bearer realm=\"x\""))
        XCTAssertFalse(OAuthLogin.isBasicChallenge("Negotiate"))
    }

    func testRedaction() {
        let text = """
        GET https://o/oauth/token/implicit?code=sha256~AbC123_-x&state= Authorization: Bearer sha256~TOKEN
        jwt eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.eyJzdWIiOiJ4In0.c2lnbmF0dXJl and Basic dXNlcjpwYXNz, hunter22
        """
        let out = Redact.text(text, secrets: ["hunter22"])
        for leak in ["AbC123", "TOKEN", "eyJhbGci", "dXNlcjpwYXNz", "hunter22"] { XCTAssertFalse(out.contains(leak), out) }
        XCTAssertFalse(out.contains("\n"))
        XCTAssertTrue(out.contains("<redacted>"))
        XCTAssertEqual(Redact.text("token sha256~abc-DEF_1 end"), "token sha256~<redacted> end")
        XCTAssertEqual(Redact.text("a\r\nb\nc"), "a b c")
        XCTAssertEqual(Redact.text("cannot be used for basic authentication"), "cannot be used for basic authentication")
        XCTAssertEqual(Redact.text("WWW-Authenticate: Bearer realm=\"x\""), "WWW-Authenticate: Bearer realm=\"x\"")
        XCTAssertEqual(Redact.text("Location: https://o/implicit?code=sha256~abc&state="), "Location: https://o/implicit?code=<redacted>&state=")
        XCTAssertEqual(Redact.text("nothing secret here: https://api:6443/version"), "nothing secret here: https://api:6443/version")
        XCTAssertFalse(OpenShiftError(.authentication, "bad token sha256~abcdef").message.contains("abcdef"))
    }

    func testOptionsNeverPrintSecrets() {
        let o = ClusterSideOptions(clusterURL: "https://h", username: "u", password: "p4ssw0rd!", token: "sha256~tok3n")
        for text in ["\(o)", String(describing: o), String(reflecting: o)] {
            XCTAssertFalse(text.contains("p4ssw0rd"), text)
            XCTAssertFalse(text.contains("tok3n"), text)
        }
    }
}
