import HTTPTransport
import TestSupport
import XCTest

/// HTTPTransport against real `docker-registry` 2.8.2 instances: copying blobs between registries,
/// through the fault proxy, redirects to storage, TLS. (The tools' own tests: TestToolsTests.)
final class RegistryTests: XCTestCase {
    func testSeedMultiPlatformImageAndCopyABlobWithHTTPTransport() async throws {
        let a = try await RegistryProcess.start()
        defer { a.stop() }
        let b = try await RegistryProcess.start()
        defer { b.stop() }
        let image = TestImage.random(layerSizes: [1024, 300_000], platforms: [.linuxAMD64, .linuxARM64], sharedLayerSizes: [65_536])
        XCTAssertEqual(image.blobs.count, 7, "2×2 own layers + 1 shared + 2 configs")
        let pushed = try await ImageSeeder.pushAsync(image, to: a.baseURL, repository: "src/app", tag: "v1")
        XCTAssertEqual(pushed.uploadedBlobs, 7)
        XCTAssertEqual(pushed.reference, "\(a.host)/src/app:v1")

        XCTAssertTrue(a.waitForAccessLog { log in log.filter { $0.method == "PUT" && $0.path.contains("/manifests/") }.count == 3 })
        XCTAssertEqual(a.count(method: "PUT", pathContains: "/blobs/uploads/", status: 201), 7)
        XCTAssertEqual(a.count(method: "PUT", pathContains: "/manifests/v1", status: 201), 1)

        // The registry serves back the exact index bytes.
        let fetched = try await runOnThread { try TestRegistryClient(baseURL: a.baseURL).manifest(repository: "src/app", reference: "v1") }
        let index = try XCTUnwrap(fetched)
        XCTAssertEqual(index.bytes, image.bytes)
        XCTAssertEqual(index.digest, image.digest)
        XCTAssertEqual(index.mediaType, MediaTypes.ociIndex)

        // Copy the biggest layer A → B with HTTPTransport: POST upload on B, stream GET → PUT ?digest=.
        let layer = image.manifests[0].layers.max { $0.size < $1.size }!
        let http = sharedTestClient
        let start = try await http.send(HTTPRequest(method: "POST", url: b.baseURL + "/v2/dst/app/blobs/uploads/"))
        XCTAssertEqual(start.status, 202)
        let location = try XCTUnwrap(start.headers["Location"])
        let put = (location.hasPrefix("http") ? location : b.baseURL + location) + (location.contains("?") ? "&" : "?") + "digest=\(layer.digest)"
        let outcome = try await transferWithin(60, BlobTransfer(
            source: HTTPRequest(url: a.baseURL + "/v2/src/app/blobs/\(layer.digest)"),
            destination: HTTPRequest(method: "PUT", url: put, headers: ["Content-Type": "application/octet-stream"]),
            expectedDigest: layer.digest, expectedSize: layer.size))
        guard case .completed(let bytes, _, let response) = outcome else { return XCTFail("\(outcome)") }
        XCTAssertEqual(bytes, layer.size)
        XCTAssertEqual(response?.status, 201)
        XCTAssertEqual(response?.headers["Docker-Content-Digest"], layer.digest)
        let head = try await http.send(HTTPRequest(method: "HEAD", url: b.baseURL + "/v2/dst/app/blobs/\(layer.digest)"))
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(head.headers["Content-Length"], String(layer.size))

        // A second push skips every blob.
        let again = try await ImageSeeder.pushAsync(image, to: a.baseURL, repository: "src/app", tag: "v1")
        XCTAssertEqual(again.skippedBlobs, 7)
        XCTAssertEqual(again.uploadedBlobs, 0)
    }

    func testFaultProxyInFrontOfRegistry() async throws {
        let registry = try await RegistryProcess.start()
        defer { registry.stop() }
        let proxy = try FaultProxy(upstream: registry.baseURL)
        defer { proxy.stop() }

        // Seeding through the proxy works because absolute upload Locations are rewritten to it.
        let image = TestImage.random(layerSizes: [500_000])
        try await ImageSeeder.pushAsync(image, to: proxy.baseURL, repository: "app", tag: "v1")
        XCTAssertTrue(proxy.waitForLog { $0.contains { $0.method == "PUT" && $0.path.contains("/manifests/v1") } })
        XCTAssertEqual(proxy.count(method: "PUT", pathContains: "/blobs/uploads/", status: 201), 2)
        XCTAssertTrue(registry.waitForAccessLog { $0.filter { $0.method == "PUT" }.count == 3 })

        let layer = image.manifests[0].layers[0]
        let blobURL = proxy.url("/v2/app/blobs/\(layer.digest)")

        // 429 with Retry-After for the first two GETs, then the real answer.
        proxy.setRules([.init(method: "GET", pathContains: "/blobs/", fault: .tooManyRequests(retryAfterSeconds: 2), times: 2)])
        for _ in 0..<2 {
            let limited = try await sharedTestClient.send(HTTPRequest(url: blobURL))
            XCTAssertEqual(limited.status, 429)
            XCTAssertEqual(limited.headers["Retry-After"], "2")
        }
        let ok = try await sharedTestClient.send(HTTPRequest(url: blobURL))
        XCTAssertEqual(ok.status, 200)
        XCTAssertEqual(SHA256.digest(ok.body), layer.digest)

        // 5xx once.
        proxy.setRules([.init(fault: .status(503), times: 1)])
        let first = try await sharedTestClient.send(HTTPRequest(url: proxy.url("/v2/")))
        let second = try await sharedTestClient.send(HTTPRequest(url: proxy.url("/v2/")))
        XCTAssertEqual([first.status, second.status], [503, 200])

        // One corrupted byte: HTTPTransport rejects the blob.
        proxy.setRules([.init(method: "GET", pathContains: "/blobs/", fault: .corruptByte(at: 12_345))])
        await assertTransportError(.digestMismatch) {
            try await transferWithin(60, BlobTransfer(source: HTTPRequest(url: blobURL), destination: nil,
                                                      expectedDigest: layer.digest, expectedSize: layer.size))
        }

        // Headers can be dropped or rewritten.
        proxy.setRules([.init(method: "HEAD", fault: .combine([.removeHeader("Docker-Content-Digest"), .setHeader("X-Injected", "1")]))])
        let head = try await sharedTestClient.send(HTTPRequest(method: "HEAD", url: proxy.url("/v2/app/manifests/v1"),
                                                              headers: ["Accept": MediaTypes.ociManifest]))
        XCTAssertEqual(head.status, 200)
        XCTAssertNil(head.headers["Docker-Content-Digest"])
        XCTAssertEqual(head.headers["X-Injected"], "1")
        XCTAssertEqual(head.headers["Content-Length"], String(image.bytes.count))

        // Latency per direction: 20 ms each way is a 40 ms round trip per request.
        proxy.setRules([.init(fault: .latency(requestMs: 20, responseMs: 20))])
        let t0 = monotonicNanos()
        for _ in 0..<3 { _ = try await sharedTestClient.send(HTTPRequest(url: proxy.url("/v2/"))) }
        XCTAssertGreaterThanOrEqual(elapsedSeconds(since: t0), 0.12)

        // A cut blob GET is resumed through the proxy (the registry honours Range).
        proxy.setRules([.init(method: "GET", pathContains: "/blobs/", fault: .cutAfter(bytes: 100_000), times: 1)])
        let resumed = try await transferWithin(60, BlobTransfer(source: HTTPRequest(url: blobURL), destination: nil,
                                                                expectedDigest: layer.digest, expectedSize: layer.size))
        guard case .completed(_, let resumes, _) = resumed else { return XCTFail("\(resumed)") }
        XCTAssertEqual(resumes, 1)
    }

    func testBlobRedirectToStorageDropsAuthorization() async throws {
        // The "registry" requires Basic auth and redirects blob GETs to "storage" (another registry on
        // another port, without auth), as registries backed by object storage do.
        let storage = try await RegistryProcess.start()
        defer { storage.stop() }
        let registry = try await RegistryProcess.start(auth: .htpasswd(users: ["u": "p"]))
        defer { registry.stop() }
        let image = TestImage.random(layerSizes: [200_000])
        try await ImageSeeder.pushAsync(image, to: storage.baseURL, repository: "app", tag: "v1")
        let storageProxy = try FaultProxy(upstream: storage.baseURL, name: "storage")
        defer { storageProxy.stop() }
        let front = try FaultProxy(upstream: registry.baseURL, rules: [
            .init(method: "GET", pathContains: "/blobs/sha256:", fault: .redirect(to: storageProxy.baseURL)),
        ])
        defer { front.stop() }
        let layer = image.manifests[0].layers[0]
        let outcome = try await transferWithin(60, BlobTransfer(
            source: HTTPRequest(url: front.url("/v2/app/blobs/\(layer.digest)"), headers: ["Authorization": "Basic " + Base64.encode("u:p")]),
            destination: nil, expectedDigest: layer.digest, expectedSize: layer.size))
        guard case .completed = outcome else { return XCTFail("\(outcome)") }
        XCTAssertEqual(front.log.first?.hadAuthorization, true)
        XCTAssertEqual(storageProxy.log.map(\.hadAuthorization), [false], "credentials must not follow the redirect")
        XCTAssertEqual(storageProxy.log.first?.status, 200)
    }

    func testTLSRegistry() async throws {
        let identity = try await runOnThread { try TLSIdentity.generate() }
        defer { identity.remove() }
        let registry = try await RegistryProcess.start(tls: identity)
        defer { registry.stop() }
        XCTAssertTrue(registry.baseURL.hasPrefix("https://"))
        let r = try await sharedTestClient.send(HTTPRequest(url: registry.baseURL + "/v2/", tls: TLSOptions(caFile: identity.caPath)))
        XCTAssertEqual(r.status, 200)
        try await ImageSeeder.pushAsync(TestImage.random(layerSizes: [10_000]), to: registry.baseURL, repository: "secure/app")
        let tags = try await runOnThread { try TestRegistryClient(baseURL: registry.baseURL).tags(repository: "secure/app") }
        XCTAssertEqual(tags, ["latest"])

        // A TLS fault proxy in front of the TLS registry (upstream TLS is not verified by the proxy).
        let proxy = try FaultProxy(upstream: registry.baseURL, tls: identity)
        defer { proxy.stop() }
        let image = TestImage.random(layerSizes: [50_000])
        try await ImageSeeder.pushAsync(image, to: proxy.baseURL, repository: "secure/other", tag: "v1")
        XCTAssertEqual(proxy.count(method: "PUT", pathContains: "/blobs/uploads/"), 2, "uploads stayed on the proxy")
        let viaProxy = try await sharedTestClient.send(HTTPRequest(url: proxy.url("/v2/secure/other/manifests/v1"),
                                                                  headers: ["Accept": MediaTypes.ociManifest],
                                                                  tls: TLSOptions(caFile: identity.caPath)))
        XCTAssertEqual(viaProxy.body, image.bytes)
    }
}
