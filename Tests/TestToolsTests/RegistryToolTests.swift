import HTTPTransport
import TestSupport
import XCTest

/// The registry-side test tools against real `docker-registry` 2.8.2: htpasswd auth, the token
/// issuer, and skopeo pushes from an OCI layout. (HTTPTransport against them: HTTPTransportTests.)
final class RegistryToolTests: XCTestCase {
    func testHtpasswdRegistry() async throws {
        let registry = try await RegistryProcess.start(auth: .htpasswd(users: ["alice": "s3cret pass"]))
        defer { registry.stop() }
        let htpasswd = try FileSystem.readText(registry.directory + "/htpasswd")
        XCTAssertTrue(htpasswd.hasPrefix("alice:$2y$"), "bcrypt entry")
        XCTAssertFalse(htpasswd.contains("s3cret"))

        let anonymous = try await sharedTestClient.send(HTTPRequest(url: registry.baseURL + "/v2/"))
        XCTAssertEqual(anonymous.status, 401)
        XCTAssertTrue(anonymous.headers["WWW-Authenticate"]?.hasPrefix("Basic realm=") ?? false)
        let basic = "Basic " + Base64.encode("alice:s3cret pass")
        let authed = try await sharedTestClient.send(HTTPRequest(url: registry.baseURL + "/v2/", headers: ["Authorization": basic]))
        XCTAssertEqual(authed.status, 200)

        let image = TestImage.random(layerSizes: [2048])
        try await ImageSeeder.pushAsync(image, to: registry.baseURL, repository: "team/app", tag: "latest",
                                        credentials: .basic(username: "alice", password: "s3cret pass"))
        do {
            try await ImageSeeder.pushAsync(image, to: registry.baseURL, repository: "team/app", tag: "latest",
                                            credentials: .basic(username: "alice", password: "wrong"))
            XCTFail("wrong password must fail")
        } catch {}
    }

    func testTokenIssuerWithRealRegistry() async throws {
        let issuer = try await TokenIssuer.start(users: [
            "alice": .init(password: "alice-pw", repositories: ["team/*": ["pull", "push"]]),
            "bob": .init(password: "bob-pw", repositories: ["team/*": ["pull"]]),
        ])
        defer { issuer.stop() }
        let registry = try await RegistryProcess.start(auth: issuer.registryAuth)
        defer { registry.stop() }

        // The challenge names the issuer.
        let challenge = try await sharedTestClient.send(HTTPRequest(url: registry.baseURL + "/v2/"))
        XCTAssertEqual(challenge.status, 401)
        XCTAssertEqual(challenge.headers["WWW-Authenticate"],
                       "Bearer realm=\"\(issuer.realm)\",service=\"\(issuer.service)\"")

        // alice may push (the seeder goes through the challenge and the issuer).
        let image = TestImage.random(layerSizes: [4096, 70_000])
        try await ImageSeeder.pushAsync(image, to: registry.baseURL, repository: "team/app", tag: "v1",
                                        credentials: .basic(username: "alice", password: "alice-pw"))
        XCTAssertGreaterThan(issuer.requestCount, 0)

        // bob gets a pull-only token over HTTPTransport and can read the manifest with it.
        let tokenResponse = try await sharedTestClient.send(HTTPRequest(
            url: issuer.realm + "?service=\(issuer.service)&scope=repository:team/app:pull,push&account=bob",
            headers: ["Authorization": "Basic " + Base64.encode("bob:bob-pw")]))
        XCTAssertEqual(tokenResponse.status, 200)
        let json = try XCTUnwrap(JSONNode.parse(tokenResponse.body))
        let bobToken = try XCTUnwrap(json["token"]?.string)
        XCTAssertEqual(json["access_token"]?.string, bobToken)
        XCTAssertEqual(json["expires_in"]?.int, 300)
        XCTAssertNotNil(json["issued_at"]?.string)
        XCTAssertNil(json["refresh_token"])
        let claims = try XCTUnwrap(JWT.decode(bobToken).flatMap { JSONNode.parse($0.claimsJSON) })
        XCTAssertEqual(claims["access"]?[0]?["actions"]?.array?.compactMap(\.string), ["pull"], "push is not granted to bob")
        XCTAssertEqual(issuer.records.last?.granted, [RegistryAccess(name: "team/app", actions: ["pull"])])

        let manifestURL = registry.baseURL + "/v2/team/app/manifests/v1"
        let accept = MediaTypes.ociManifest
        let pulled = try await sharedTestClient.send(HTTPRequest(url: manifestURL, headers: ["Authorization": "Bearer \(bobToken)", "Accept": accept]))
        XCTAssertEqual(pulled.status, 200)
        XCTAssertEqual(pulled.body, image.bytes)

        // ...but the registry refuses bob's push.
        let push = try await sharedTestClient.send(HTTPRequest(method: "POST", url: registry.baseURL + "/v2/team/app/blobs/uploads/",
                                                              headers: ["Authorization": "Bearer \(bobToken)"]))
        XCTAssertEqual(push.status, 401)
        XCTAssertTrue(push.headers["WWW-Authenticate"]?.contains("insufficient_scope") ?? false, push.headers["WWW-Authenticate"] ?? "")

        // An expired token (exp beyond the registry's 60 s leeway) is rejected; a fresh one works.
        issuer.setLifetime(seconds: 1, clockOffsetSeconds: -120)
        let expired = try issuer.mint(account: "alice", access: [RegistryAccess(name: "team/app", actions: ["pull"])])
        issuer.setLifetime(seconds: 300)
        let rejected = try await sharedTestClient.send(HTTPRequest(url: manifestURL, headers: ["Authorization": "Bearer \(expired.token)", "Accept": accept]))
        XCTAssertEqual(rejected.status, 401)
        XCTAssertTrue(rejected.headers["WWW-Authenticate"]?.contains("invalid_token") ?? false)
        let fresh = try issuer.mint(account: "alice", access: [RegistryAccess(name: "team/app", actions: ["pull"])])
        let accepted = try await sharedTestClient.send(HTTPRequest(url: manifestURL, headers: ["Authorization": "Bearer \(fresh.token)", "Accept": accept]))
        XCTAssertEqual(accepted.status, 200)

        // A token for another audience is rejected too.
        let foreign = try RegistryTokenMinter(signer: issuer.signer, issuer: issuer.issuer)
            .mint(subject: "alice", audience: "some-other-registry", access: [RegistryAccess(name: "team/app", actions: ["pull"])])
        let wrongAudience = try await sharedTestClient.send(HTTPRequest(url: manifestURL, headers: ["Authorization": "Bearer \(foreign.token)"]))
        XCTAssertEqual(wrongAudience.status, 401)
    }

    func testTokenIssuerOAuthFlows() async throws {
        let issuer = try await TokenIssuer.start(users: ["alice": .init(password: "pw", repositories: ["*": ["*"]])],
                                                 anonymous: ["public/*": ["pull"]])
        defer { issuer.stop() }
        let post = { (form: [(String, String)]) async throws -> HTTPResponse in
            try await sharedTestClient.send(HTTPRequest(method: "POST", url: issuer.realm,
                                                        headers: ["Content-Type": "application/x-www-form-urlencoded"],
                                                        body: Array(FormCoding.encode(form).utf8)))
        }
        let password = try await post([("grant_type", "password"), ("username", "alice"), ("password", "pw"), ("service", issuer.service),
                                       ("client_id", "imgpromote"), ("access_type", "offline"), ("scope", "repository:x/y:pull,push")])
        XCTAssertEqual(password.status, 200)
        let body = try XCTUnwrap(JSONNode.parse(password.body))
        let refresh = try XCTUnwrap(body["refresh_token"]?.string)
        XCTAssertEqual(body["scope"]?.string, "repository:x/y:pull,push")
        XCTAssertTrue(issuer.signer.verify(try XCTUnwrap(body["access_token"]?.string)))

        let refreshed = try await post([("grant_type", "refresh_token"), ("refresh_token", refresh), ("service", issuer.service),
                                         ("client_id", "imgpromote"), ("scope", "repository:x/y:pull")])
        XCTAssertEqual(refreshed.status, 200)
        XCTAssertNotNil(JSONNode.parse(refreshed.body)?["access_token"]?.string)

        let badGrant = try await post([("grant_type", "refresh_token"), ("refresh_token", "nope"), ("service", issuer.service)])
        XCTAssertEqual(badGrant.status, 401)
        let unsupported = try await post([("grant_type", "client_credentials")])
        XCTAssertEqual(unsupported.status, 400)

        let offline = try await sharedTestClient.send(HTTPRequest(
            url: issuer.realm + "?service=\(issuer.service)&offline_token=true&scope=repository:x/y:pull",
            headers: ["Authorization": "Basic " + Base64.encode("alice:pw")]))
        XCTAssertNotNil(JSONNode.parse(offline.body)?["refresh_token"]?.string)

        let wrong = try await sharedTestClient.send(HTTPRequest(url: issuer.realm + "?service=\(issuer.service)",
                                                               headers: ["Authorization": "Basic " + Base64.encode("alice:nope")]))
        XCTAssertEqual(wrong.status, 401)

        let anonymous = try await sharedTestClient.send(HTTPRequest(
            url: issuer.realm + "?service=\(issuer.service)&scope=repository:public/base:pull,push&scope=repository:private/x:pull"))
        XCTAssertEqual(anonymous.status, 200)
        XCTAssertEqual(issuer.records.last?.granted, [RegistryAccess(name: "public/base", actions: ["pull"])])
        XCTAssertEqual(issuer.requestCount, 7)
    }


    func testSkopeoPushFromOCILayout() async throws {
        guard Subprocess.find("skopeo") != nil else { throw XCTSkip("skopeo not installed") }
        let registry = try await RegistryProcess.start(auth: .htpasswd(users: ["ci": "pw"]))
        defer { registry.stop() }
        let image = TestImage.random(layerSizes: [3000, 100_000], platforms: [.linuxAMD64, .linuxARM64])
        let result = try await ImageSeeder.pushWithSkopeo(image, host: registry.host, repository: "mirror/app", tag: "v2",
                                                          credentials: .basic(username: "ci", password: "pw"))
        XCTAssertTrue(result.succeeded, result.stderrText)
        let fetched = try await runOnThread {
            try TestRegistryClient(baseURL: registry.baseURL, credentials: .basic(username: "ci", password: "pw"))
                .manifest(repository: "mirror/app", reference: "v2")
        }
        XCTAssertEqual(fetched?.digest, image.digest, "--preserve-digests keeps the index bytes")
    }
}
