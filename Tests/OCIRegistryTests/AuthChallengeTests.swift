import Testing
@testable import OCIRegistry

struct ChallengeCase: Sendable, CustomTestStringConvertible {
    var header: String
    var expected: [AuthChallenge]
    var testDescription: String { header.debugDescription }
}

private func c(_ scheme: String, _ params: [String: String] = [:], token68: String? = nil) -> AuthChallenge {
    AuthChallenge(scheme: scheme, parameters: params, token68: token68)
}

private let cases: [ChallengeCase] = [
    .init(header: #"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push""#,
          expected: [c("bearer", ["realm": "https://auth.docker.io/token", "service": "registry.docker.io",
                                  "scope": "repository:samalba/my-app:pull,push"])]),
    .init(header: #"Basic realm="Registry Realm""#, expected: [c("basic", ["realm": "Registry Realm"])]),
    // OpenShift's integrated registry.
    .init(header: #"Basic realm=openshift,error="access denied""#,
          expected: [c("basic", ["realm": "openshift", "error": "access denied"])]),
    .init(header: #"Bearer realm="x",service="y", Basic realm="z""#,
          expected: [c("bearer", ["realm": "x", "service": "y"]), c("basic", ["realm": "z"])]),
    .init(header: "", expected: []),
    .init(header: "   \t ", expected: []),
    .init(header: #"BEARER REALM="x",Service="y""#, expected: [c("bearer", ["realm": "x", "service": "y"])]),
    .init(header: #"Bearer realm="a \"quoted\" word""#, expected: [c("bearer", ["realm": #"a "quoted" word"#])]),
    .init(header: #"Bearer realm="a\\b\c""#, expected: [c("bearer", ["realm": #"a\bc"#])]),
    .init(header: "Negotiate", expected: [c("negotiate")]),
    .init(header: "Negotiate YIIBhwYGKwYBBQUCoIIBezCCAXegMDAuBgkqhkiC9xIBAgIGCSqGSIb3EgECAgYKKwYBBAGCNwICHg+/",
          expected: [c("negotiate", token68: "YIIBhwYGKwYBBQUCoIIBezCCAXegMDAuBgkqhkiC9xIBAgIGCSqGSIb3EgECAgYKKwYBBAGCNwICHg+/")]),
    .init(header: "Basic dXNlcjpwYXNz==", expected: [c("basic", token68: "dXNlcjpwYXNz==")]),
    .init(header: #"Basic abc=, Bearer realm="x""#, expected: [c("basic", token68: "abc="), c("bearer", ["realm": "x"])]),
    .init(header: #"Bearer realm="x"   ,   service="y"   "#, expected: [c("bearer", ["realm": "x", "service": "y"])]),
    .init(header: "  Bearer   realm = \"x\" , service =\ty  ", expected: [c("bearer", ["realm": "x", "service": "y"])]),
    .init(header: #"Bearer realm="unterminated"#, expected: []),
    .init(header: #"Basic realm="ok", Bearer realm="unterminated"#, expected: [c("basic", ["realm": "ok"])]),
    .init(header: #"realm="x""#, expected: []),
    .init(header: #""Bearer""#, expected: []),
    .init(header: #"Bearer"realm""#, expected: []),
    .init(header: ",,, Bearer realm=x,,,", expected: [c("bearer", ["realm": "x"])]),
    .init(header: "Bearer realm=https://host:8443/openshift/token?a=b",
          expected: [c("bearer", ["realm": "https://host:8443/openshift/token?a=b"])]),
    .init(header: #"Bearer realm="x",error="insufficient_scope",scope="repository:a/b:pull repository:c/d:push""#,
          expected: [c("bearer", ["realm": "x", "error": "insufficient_scope",
                                  "scope": "repository:a/b:pull repository:c/d:push"])]),
    .init(header: #"Bearer realm="x", realm="y""#, expected: [c("bearer", ["realm": "x"])]),
    .init(header: #"Bearer realm="x" service="y""#, expected: [c("bearer", ["realm": "x", "service": "y"])]),
    .init(header: #"Bearer realm="x"service="y""#, expected: [c("bearer", ["realm": "x", "service": "y"])]),
    .init(header: #"Basic, Bearer realm="x""#, expected: [c("basic"), c("bearer", ["realm": "x"])]),
    .init(header: #"Bearer error=,realm="x""#, expected: [c("bearer", ["error": "", "realm": "x"])]),
    .init(header: #"Bearer realm="",service="""#, expected: [c("bearer", ["realm": "", "service": ""])]),
    .init(header: "Bearer\trealm=\"x\"", expected: [c("bearer", ["realm": "x"])]),
    .init(header: "Basic @@@", expected: []),
    .init(header: #"Bearer realm="x", @@@"#, expected: [c("bearer", ["realm": "x"])]),
    .init(header: #"Digest realm="r", qop="auth,auth-int", nonce="n", Basic realm="b""#,
          expected: [c("digest", ["realm": "r", "qop": "auth,auth-int", "nonce": "n"]), c("basic", ["realm": "b"])]),
    .init(header: #"Bearer realm="zürich""#, expected: [c("bearer", ["realm": "zürich"])]),
    .init(header: #"Bearer realm="x","#, expected: [c("bearer", ["realm": "x"])]),
    .init(header: #"Bearer realm="x",Basic"#, expected: [c("bearer", ["realm": "x"]), c("basic")]),
    .init(header: #"Bearer realm="x\"#, expected: []),
    .init(header: "=====", expected: []),
    .init(header: #"Bearer realm="x", service="y", Basic realm="z", Negotiate abc"#,
          expected: [c("bearer", ["realm": "x", "service": "y"]), c("basic", ["realm": "z"]), c("negotiate", token68: "abc")]),
    .init(header: "Bearer realm=\"line\r\nbreak\"", expected: [c("bearer", ["realm": "line\r\nbreak"])]),
]

@Suite struct AuthChallengeTests {
    @Test(arguments: cases)
    func parses(_ t: ChallengeCase) {
        #expect(AuthChallenge.parse(t.header) == t.expected)
    }

    @Test func accessors() throws {
        let ch = try #require(AuthChallenge.parse(#"Bearer realm="r",service="s",scope="repository:a:pull",error="insufficient_scope""#).first)
        #expect(ch.scheme == "bearer")
        #expect(ch.realm == "r")
        #expect(ch.service == "s")
        #expect(ch.scope == "repository:a:pull")
        #expect(ch.error == "insufficient_scope")
        let basic = try #require(AuthChallenge.parse("Basic").first)
        #expect(basic.realm == nil && basic.service == nil && basic.scope == nil && basic.error == nil)
        #expect(AuthChallenge(scheme: "BeArEr").scheme == "bearer")
    }

    @Test func neverCrashesOnHostileInput() {
        // Fuzz-ish: every prefix of tricky headers, plus random bytes; must terminate without trapping.
        let samples = [#"Bearer realm="a\"b",scope="x,y", Basic realm=o,error="e""#, "Basic ====, ,=,\"\\", "\u{0}\u{1}\"\\=,"]
        for s in samples {
            let u = Array(s.utf8)
            for n in 0...u.count { _ = AuthChallenge.parse(String(decoding: u[0..<n], as: UTF8.self)) }
        }
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array(#"Bb a=",\ r;"#.utf8)
        for _ in 0..<2000 {
            let len = Int.random(in: 0..<40, using: &rng)
            let bytes = (0..<len).map { _ in alphabet.randomElement(using: &rng)! }
            _ = AuthChallenge.parse(String(decoding: bytes, as: UTF8.self))
        }
        let long = "Bearer " + String(repeating: "k=v,", count: 20000)
        #expect(AuthChallenge.parse(long).first?.parameters.count == 1)
    }
}
