import ClusterEmulator
import Foundation
import HTTPTransport
import TestSupport
import XCTest

/// Shared plumbing for the chaos and load suites: real `docker-registry` instances, loopback fault
/// proxies, the built `imgpromote` binary, skopeo cross-checks and a one-line fault summary per test.
class ChaosHarness: WorkspaceTestCase {
    override class var workspacePrefix: String { "imgpromote-chaos" }

    func registry(_ auth: RegistryProcess.Auth = .none) async throws -> RegistryProcess {
        let r = try await RegistryProcess.start(auth: auth)
        cleanups.append { r.stop() }
        return r
    }

    func proxy(_ upstream: String, rules: [FaultProxy.Rule] = [], tls: TLSIdentity? = nil, name: String = "fault-proxy") throws -> FaultProxy {
        let p = try FaultProxy(upstream: upstream, tls: tls, rules: rules, name: name)
        cleanups.append { p.stop() }
        return p
    }

    func imgpromote(_ args: [String], env: [String: String?] = [:], timeout: Double = 120) async throws -> ProcessResult {
        let (bin, environment) = try launchSettings(env: env)
        return try await Subprocess.runAsync(bin, args, environment: environment, timeoutSeconds: timeout)
    }

    /// The binary and a clean environment (no proxies, kubeconfig, auth files or IMGPROMOTE_* from the caller).
    func launchSettings(env: [String: String?] = [:]) throws -> (String, [String: String]) {
        let bin = try XCTUnwrap(BuiltProducts.imgpromote, "imgpromote binary not built")
        var environment = Subprocess.currentEnvironment()
        environment["HOME"] = dir.path
        environment["XDG_RUNTIME_DIR"] = dir.path
        environment["REGISTRY_AUTH_FILE"] = nil
        environment["KUBECONFIG"] = nil
        for k in ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "NO_PROXY", "no_proxy"] { environment[k] = nil }
        for k in environment.keys where k.hasPrefix("IMGPROMOTE_") && k != "IMGPROMOTE_BIN" { environment[k] = nil }
        for (k, v) in env { environment[k] = v }
        return (bin, environment)
    }

    /// Plain-HTTP registries need `--*-tls-verify=false`.
    func copy(_ from: String, _ to: String, _ extra: [String] = [], env: [String: String?] = [:],
              timeout: Double = 120) async throws -> ProcessResult {
        try await imgpromote(["copy", "--src-tls-verify=false", "--dest-tls-verify=false"] + extra + [from, to],
                             env: env, timeout: timeout)
    }

    /// sha256 of the manifest skopeo reads: the digest a real client sees (nil when absent).
    func skopeoDigest(_ reference: String, authfile: String? = nil) async throws -> String? {
        var args = ["inspect", "--raw", "--tls-verify=false"]
        if let authfile { args += ["--authfile", authfile] }
        let r = try await Subprocess.runAsync("skopeo", args + ["docker://" + reference],
                                              environment: Subprocess.environment(adding: ["HOME": dir.path]), timeoutSeconds: 60)
        return r.succeeded ? SHA256.digest(r.stdout) : nil
    }

    func authfile(_ entries: [String: (String, String)]) throws -> String {
        let auths = entries.map { host, cred in
            "\"\(host)\":{\"auth\":\"\(Data("\(cred.0):\(cred.1)".utf8).base64EncodedString())\"}"
        }
        let path = dir.file("auth-\(UInt32.random(in: 0...UInt32.max)).json")
        try FileSystem.write("{\"auths\":{\(auths.joined(separator: ","))}}", to: path, mode: 0o600)
        return path
    }

    /// A failed run explains itself in one line (TLS-off warnings aside) and prints nothing on stdout.
    func assertOneLineError(_ r: ProcessResult, file: StaticString = #filePath, line: UInt = #line) {
        let lines = r.stderrText.split(separator: "\n").filter { !$0.contains("warning:") }
        XCTAssertEqual(lines.count, 1, "one-line message: \(r.stderrText)", file: file, line: line)
        XCTAssertTrue(lines.first?.hasPrefix("imgpromote: ") ?? false, r.stderrText, file: file, line: line)
        XCTAssertEqual(r.stdoutText, "", file: file, line: line)
    }

    /// Every blob of `image` is in `repository` of a plain-HTTP registry (a tag there points at a complete image).
    func assertComplete(_ registry: RegistryProcess, _ repository: String, _ image: TestImage,
                        file: StaticString = #filePath, line: UInt = #line) async throws {
        for blob in image.blobs {
            let r = try await LoopbackClient.requestAsync("HEAD", "\(registry.baseURL)/v2/\(repository)/blobs/\(blob.digest)")
            XCTAssertEqual(r.status, 200, "blob \(blob.digest) present", file: file, line: line)
        }
        for m in image.manifests where image.isIndex {
            let r = try await LoopbackClient.requestAsync("HEAD", "\(registry.baseURL)/v2/\(repository)/manifests/\(m.digest)",
                                                          headers: ["Accept": m.mediaType])
            XCTAssertEqual(r.status, 200, "child manifest \(m.digest) present", file: file, line: line)
        }
    }

    /// Requests a proxy answered with a fault.
    func injected(_ proxies: FaultProxy...) -> Int {
        proxies.reduce(0) { $0 + $1.log.filter { !$0.fault.isEmpty }.count }
    }

    /// The line the lead collects: `faults: kind=K injected=N survived=M exit=E`.
    func summary(_ kind: String, injected: Int, survived: Int, exit: Int32, extra: String = "") {
        print("faults: kind=\(kind) injected=\(injected) survived=\(survived) exit=\(exit)" + (extra.isEmpty ? "" : " " + extra))
    }

    func elapsedSeconds(since start: ContinuousClock.Instant) -> Double {
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}

/// Counts requests per key and remembers when they arrived, for deciders that fail the first N
/// requests of each path and for checking the waits between them.
final class FaultScript: Sendable {
    struct Hit: Sendable {
        var key: String
        var nanos: UInt64
        var fault: FaultProxy.Fault?
    }

    private let state = Protected<(counts: [String: Int], hits: [Hit])>(([:], []))
    private let decide: @Sendable (FaultProxy.ProxyRequest, Int) -> FaultProxy.Fault?

    /// `decide(request, n)`: n is the 1-based number of this request among those with the same method and path.
    init(_ decide: @escaping @Sendable (FaultProxy.ProxyRequest, Int) -> FaultProxy.Fault?) { self.decide = decide }

    var decider: @Sendable (FaultProxy.ProxyRequest) -> FaultProxy.Fault? {
        { [self] request in
            let key = FaultScript.key(request)
            let n = state.withLock { s -> Int in
                s.counts[key, default: 0] += 1
                return s.counts[key]!
            }
            let fault = decide(request, n)
            state.withLock { $0.hits.append(Hit(key: key, nanos: monotonicNanos(), fault: fault)) }
            return fault
        }
    }

    /// Method and path; upload sessions (one path each) count per blob digest instead.
    static func key(_ r: FaultProxy.ProxyRequest) -> String {
        let p = r.pathWithoutQuery
        if let range = p.range(of: "/blobs/uploads/") {
            let digest = r.path.components(separatedBy: "digest=").dropFirst().first.map { String($0.prefix { $0 != "&" }) } ?? ""
            return "\(r.method) \(p[..<range.upperBound])\(digest)"
        }
        return "\(r.method) \(p)"
    }

    var hits: [Hit] { state.snapshot.hits }
    var faults: Int { hits.filter { $0.fault != nil }.count }

    /// For every request answered with a `Retry-After`, the time until the next request on the same key.
    func retryAfterGaps() -> [(key: String, asked: Double, waited: Double)] {
        let all = hits
        var out: [(String, Double, Double)] = []
        for (i, h) in all.enumerated() {
            var asked: Int?
            switch h.fault {
            case .status(_, let r?, _)?: asked = r
            case .tooManyRequests(let r)?: asked = r
            default: break
            }
            guard let asked, let next = all[(i + 1)...].first(where: { $0.key == h.key }) else { continue }
            out.append((h.key, Double(asked), Double(next.nanos - h.nanos) / 1e9))
        }
        return out
    }
}

/// The chaos suite: a loopback fault proxy between `imgpromote` and real registries (and emulated
/// clusters). Every fault ends in success, or in a one-line error with the contract's exit code and
/// no destination tag pointing at an incomplete image.
final class FaultInjectionTests: ChaosHarness {
    static let wrongDigest = "sha256:" + String(repeating: "0", count: 64)

    // MARK: connection resets

    func testResetMidUploadRestartsFromANewSession() async throws {
        let a = try await registry(), b = try await registry()
        let image = TestImage.random(layerSizes: [8 << 20, 3 << 20, 4096], seed: 101)
        try await ImageSeeder.pushAsync(image, to: a.baseURL, repository: "dev/app", tag: "v1")
        let big = image.manifests[0].layers[0].digest, mid = image.manifests[0].layers[1].digest
        // Reset while the blob bodies are being sent (the proxy never reads them).
        let back = try proxy(b.baseURL, rules: [
            .init(method: "PUT", pathContains: "digest=\(big)", fault: .dropConnection, times: 1),
            .init(method: "PUT", pathContains: "digest=\(mid)", fault: .dropConnection, times: 1),
        ])
        let r = try await copy("\(a.host)/dev/app:v1", "\(back.authority)/prod/app:v1", ["-v"])
        XCTAssertEqual(r.exitCode, 0, r.stderrText)
        XCTAssertEqual(r.stdoutText, "\(back.authority)/prod/app@\(image.digest)\n")
        XCTAssertEqual(back.log.filter { $0.interrupted && $0.method == "PUT" }.count, 2, "both faults hit an upload")
        XCTAssertEqual(b.count(method: "POST", pathContains: "/blobs/uploads/"), image.blobs.count + 2,
                       "each broken upload restarted from a new session")
        XCTAssertEqual(b.count(method: "PUT", pathContains: "digest=\(big)", status: 201), 1, "the reset upload was never committed")
        XCTAssertEqual(b.count(method: "PUT", pathContains: "digest=\(mid)", status: 201), 1)
        let seen = try await skopeoDigest("\(b.host)/prod/app:v1")
        XCTAssertEqual(seen, image.digest)
        try await assertComplete(b, "prod/app", image)
        summary("reset-on-upload", injected: injected(back), survived: injected(back), exit: r.exitCode)

        // Resets on every upload of one blob, more than --retries allows: exit 6, no tag.
        back.setRules([.init(method: "PUT", pathContains: "digest=\(big)", fault: .dropConnection)])
        back.resetLog()
        // (Another repository, so the blob is not already there.)
        let failing = try await copy("\(a.host)/dev/app:v1", "\(back.authority)/prod/other:v1", ["-q", "--retries", "1"])
        XCTAssertEqual(failing.exitCode, 6, failing.stderrText)
        assertOneLineError(failing)
        XCTAssertTrue(failing.stderrText.contains(big), failing.stderrText)
        XCTAssertEqual(b.count(method: "PUT", pathContains: "prod/other/manifests/"), 0, "no tag written")
        XCTAssertEqual(b.count(method: "PUT", pathContains: "digest=\(big)", status: 201), 1, "nothing more committed")
        let tag = try await skopeoDigest("\(b.host)/prod/other:v1")
        XCTAssertNil(tag)
        summary("reset-on-upload-beyond-retries", injected: injected(back), survived: injected(back) - 1, exit: failing.exitCode)
    }

    func testRepeatedResetsOnGetAreResumedAndTooManyExitSix() async throws {
        let a = try await registry(), b = try await registry()
        let image = TestImage.random(layerSizes: [4 << 20, 1024], seed: 102)
        try await ImageSeeder.pushAsync(image, to: a.baseURL, repository: "dev/app", tag: "v1")
        let layer = image.manifests[0].layers[0].digest
        let front = try proxy(a.baseURL, rules: [.init(method: "GET", pathContains: "/blobs/\(layer)",
                                                       fault: .cutAfter(bytes: 1_000_000), times: 3)])
        let r = try await copy("\(front.authority)/dev/app:v1", "\(b.host)/prod/app:v1")
        XCTAssertEqual(r.exitCode, 0, r.stderrText)
        let gets = front.log.filter { $0.method == "GET" && $0.path.contains(layer) }
        XCTAssertEqual(gets.count, 4, "three cuts, three Range resumes: \(gets.map(\.requestHeaders))")
        XCTAssertEqual(gets.dropFirst().compactMap { $0.requestHeaders["Range"] }.count, 3, "every resume asks for the rest")
        XCTAssertEqual(gets.reduce(Int64(0)) { $0 + $1.responseBodyBytes }, 4 << 20, "no byte fetched twice")
        XCTAssertEqual(b.count(method: "POST", pathContains: "/blobs/uploads/"), image.blobs.count, "the upload went on")
        let seen = try await skopeoDigest("\(b.host)/prod/app:v1")
        XCTAssertEqual(seen, image.digest)
        summary("reset-on-get", injected: injected(front), survived: injected(front), exit: r.exitCode)

        // Cut on every GET: with --retries 2 each attempt resumes twice, then the copy gives up.
        front.setRules([.init(method: "GET", pathContains: "/blobs/\(layer)", fault: .cutAfter(bytes: 1_000_000))])
        front.resetLog()
        let failing = try await copy("\(front.authority)/dev/app:v1", "\(b.host)/prod/other:v1", ["-q", "--retries", "2"])
        XCTAssertEqual(failing.exitCode, 6, failing.stderrText)
        assertOneLineError(failing)
        XCTAssertEqual(b.count(method: "PUT", pathContains: "digest=\(layer)", status: 201), 1, "only the first run's upload committed")
        XCTAssertEqual(b.count(method: "PUT", pathContains: "prod/other/manifests/"), 0)
        let tag = try await skopeoDigest("\(b.host)/prod/other:v1")
        XCTAssertNil(tag)
        let n = injected(front)
        XCTAssertEqual(n, 9, "(1 + 2 resumes) × (1 + 2 upload attempts)")
        summary("reset-on-get-beyond-retries", injected: n, survived: n - 1, exit: failing.exitCode)
    }

    // MARK: 5xx and 429 storms

    func testServerErrorStormsOnBlobsUploadsAndManifestsAreRetried() async throws {
        let a = try await registry(), b = try await registry()
        let image = TestImage.random(layerSizes: [1 << 20, 256 << 10], platforms: [.linuxAMD64, .linuxARM64], seed: 103)
        try await ImageSeeder.pushAsync(image, to: a.baseURL, repository: "dev/app", tag: "v1")
        let codes = [503, 502, 500, 504]
        // Source: the first two GETs of every blob fail.
        let sourceScript = FaultScript { req, n in
            req.method == "GET" && req.path.contains("/blobs/") && n <= 2 ? .status(codes[n % codes.count]) : nil
        }
        // Destination: the first three upload sessions, the first blob PUT of each blob and the first
        // two PUTs of every manifest (children and the tag) fail.
        let destScript = FaultScript { req, n in
            if req.method == "POST" && req.path.contains("/blobs/uploads/") && n <= 3 { return .status(503) }
            if req.method == "PUT" && req.path.contains("/blobs/uploads/") && n == 1 { return .status(502) }
            if req.method == "PUT" && req.path.contains("/manifests/") && n <= 2 { return .status(codes[n]) }
            return nil
        }
        let front = try proxy(a.baseURL), back = try proxy(b.baseURL)
        front.setDecider(sourceScript.decider)
        back.setDecider(destScript.decider)
        let start = ContinuousClock.now
        let r = try await copy("\(front.authority)/dev/app:v1", "\(back.authority)/prod/app:v1", ["-v"])
        let seconds = elapsedSeconds(since: start)
        XCTAssertEqual(r.exitCode, 0, r.stderrText)
        XCTAssertEqual(sourceScript.faults, 2 * image.blobs.count)
        // Manifest PUTs: the children and the tag (nothing is attached, so the top is not put by digest first).
        XCTAssertEqual(destScript.faults, 3 + image.blobs.count + 2 * (image.manifests.count + 1), "every scripted fault was met")
        let seen = try await skopeoDigest("\(b.host)/prod/app:v1")
        XCTAssertEqual(seen, image.digest)
        try await assertComplete(b, "prod/app", image)
        let n = sourceScript.faults + destScript.faults
        summary("5xx-storm", injected: n, survived: n, exit: r.exitCode, extra: String(format: "seconds=%.1f", seconds))
    }

    func testServerErrorStormBeyondRetriesExitsOneAndKeepsTheOldTag() async throws {
        let a = try await registry(), b = try await registry()
        let old = TestImage.random(layerSizes: [64 << 10], seed: 104)
        let new = TestImage.random(layerSizes: [128 << 10, 2048], seed: 105)
        try await ImageSeeder.pushAsync(old, to: b.baseURL, repository: "prod/app", tag: "v1")
        try await ImageSeeder.pushAsync(new, to: a.baseURL, repository: "dev/app", tag: "v1")
        let back = try proxy(b.baseURL, rules: [.init(method: "PUT", pathContains: "/manifests/v1", fault: .status(503))])
        let r = try await copy("\(a.host)/dev/app:v1", "\(back.authority)/prod/app:v1", ["-q", "--retries", "2"])
        XCTAssertEqual(r.exitCode, 1, r.stderrText)
        assertOneLineError(r)
        XCTAssertTrue(r.stderrText.contains("503") || r.stderrText.lowercased().contains("unavailable"), r.stderrText)
        XCTAssertEqual(back.count(method: "PUT", pathContains: "/manifests/v1"), 3, "first try + 2 retries")
        let kept = try await skopeoDigest("\(b.host)/prod/app:v1")
        XCTAssertEqual(kept, old.digest, "the tag still points at the old, complete image")
        summary("5xx-storm-beyond-retries", injected: injected(back), survived: injected(back) - 1, exit: r.exitCode)

        // The source's manifest is unavailable for good: nothing is written at all.
        let front = try proxy(a.baseURL, rules: [.init(method: "GET", pathContains: "/manifests/", fault: .status(502))])
        let writesBefore = b.accessLog().filter { $0.method != "GET" && $0.method != "HEAD" }.count
        let r2 = try await copy("\(front.authority)/dev/app:v1", "\(b.host)/prod/app:v2", ["-q", "--retries", "1"])
        XCTAssertEqual(r2.exitCode, 1, r2.stderrText)
        assertOneLineError(r2)
        XCTAssertEqual(b.accessLog().filter { $0.method != "GET" && $0.method != "HEAD" }.count, writesBefore, "nothing written")
        summary("5xx-storm-on-source-manifest", injected: injected(front), survived: injected(front) - 1, exit: r2.exitCode)
    }

    func testRetryAfterStormsAreHonoured() async throws {
        let a = try await registry(), b = try await registry()
        let image = TestImage.random(layerSizes: [512 << 10, 1024], seed: 106)
        try await ImageSeeder.pushAsync(image, to: a.baseURL, repository: "dev/app", tag: "v1")
        let layer = image.manifests[0].layers[0].digest
        let sourceScript = FaultScript { req, n in
            if req.method == "GET" && req.path.contains("/blobs/\(layer)") && n <= 2 { return .tooManyRequests(retryAfterSeconds: 1) }
            if req.method == "GET" && req.path.contains("/manifests/v1") && n == 1 { return .status(503, retryAfter: 2) }
            return nil
        }
        let destScript = FaultScript { req, n in
            if req.method == "HEAD" && req.path.contains("/manifests/v1") && n <= 2 { return .tooManyRequests(retryAfterSeconds: 1) }
            if req.method == "POST" && req.path.contains("/blobs/uploads/") && n == 1 { return .status(503, retryAfter: 1) }
            if req.method == "PUT" && req.path.contains("/manifests/v1") && n <= 2 { return .tooManyRequests(retryAfterSeconds: 2) }
            return nil
        }
        let front = try proxy(a.baseURL), back = try proxy(b.baseURL)
        front.setDecider(sourceScript.decider)
        back.setDecider(destScript.decider)
        let start = ContinuousClock.now
        let r = try await copy("\(front.authority)/dev/app:v1", "\(back.authority)/prod/app:v1", ["-v"])
        let seconds = elapsedSeconds(since: start)
        XCTAssertEqual(r.exitCode, 0, r.stderrText)
        // Upload sessions share one path across blobs, so their gaps are not per request: left out.
        let gaps = (sourceScript.retryAfterGaps() + destScript.retryAfterGaps()).filter { !$0.key.contains("/blobs/uploads/") }
        XCTAssertEqual(gaps.count, 7, "every Retry-After answer was followed by a retry: \(gaps)")
        for g in gaps {
            XCTAssertGreaterThanOrEqual(g.waited, g.asked - 0.05, "\(g.key): waited \(g.waited)s, Retry-After \(g.asked)s")
            XCTAssertLessThan(g.waited, g.asked + 5, "\(g.key): no needless extra wait (\(g.waited)s)")
        }
        // On the critical path: 2 (manifest GET) + 1 + 1 (HEAD) + >= 2 (layer GETs, overlapping the upload
        // session retry) + 2 + 2 (tag PUT).
        XCTAssertGreaterThanOrEqual(seconds, 10, "Retry-After waits add up")
        let seen = try await skopeoDigest("\(b.host)/prod/app:v1")
        XCTAssertEqual(seen, image.digest)
        let n = sourceScript.faults + destScript.faults
        summary("retry-after-storm", injected: n, survived: n, exit: r.exitCode, extra: String(format: "seconds=%.1f", seconds))
    }

    func testRateLimitedBeyondRetriesExitsOneWithoutWriting() async throws {
        let a = try await registry(), b = try await registry()
        let image = TestImage.random(layerSizes: [16 << 10], seed: 107)
        try await ImageSeeder.pushAsync(image, to: a.baseURL, repository: "dev/app", tag: "v1")
        let front = try proxy(a.baseURL, rules: [.init(method: "GET", pathContains: "/manifests/v1", fault: .tooManyRequests(retryAfterSeconds: 1))])
        let start = ContinuousClock.now
        let r = try await copy("\(front.authority)/dev/app:v1", "\(b.host)/prod/app:v1", ["-q", "--retries", "2"])
        let seconds = elapsedSeconds(since: start)
        XCTAssertEqual(r.exitCode, 1, r.stderrText)
        assertOneLineError(r)
        XCTAssertGreaterThanOrEqual(seconds, 2, "Retry-After honoured before giving up")
        XCTAssertLessThan(seconds, 20)
        XCTAssertEqual(front.count(pathContains: "/manifests/v1", status: 429), 3)
        XCTAssertFalse(b.accessLog().contains { $0.method == "PUT" || $0.method == "POST" || $0.method == "PATCH" })
        summary("429-beyond-retries", injected: injected(front), survived: injected(front) - 1, exit: r.exitCode)
    }

    // MARK: stalls

    /// A source that stops sending mid-blob: after the 30 s low-speed window the GET is abandoned and
    /// the rest fetched with Range. (The window is fixed at 30 s: there is no CLI or environment knob to
    /// shorten it, so this test is long.)
    func testStalledSourceTimesOutThenResumes() async throws {
        let a = try await registry(), b = try await registry()
        let image = TestImage.random(layerSizes: [3 << 20, 1024], seed: 108)
        try await ImageSeeder.pushAsync(image, to: a.baseURL, repository: "dev/app", tag: "v1")
        let layer = image.manifests[0].layers[0].digest
        // The stalled response is still being held when the copy ends, so the proxy has not logged it yet:
        // count GETs as they arrive.
        let script = FaultScript { req, n in
            req.method == "GET" && req.path.contains("/blobs/\(layer)") && n == 1 ? .stall(seconds: 45, afterBytes: 1_500_000) : nil
        }
        let front = try proxy(a.baseURL)
        front.setDecider(script.decider)
        let start = ContinuousClock.now
        let r = try await copy("\(front.authority)/dev/app:v1", "\(b.host)/prod/app:v1", ["-v", "--stall-timeout", "5"], timeout: 150)
        let seconds = elapsedSeconds(since: start)
        XCTAssertEqual(r.exitCode, 0, r.stderrText)
        XCTAssertGreaterThanOrEqual(seconds, 4.5, "the low-speed timeout fired (not the stall's end)")
        XCTAssertLessThan(seconds, 44, "gave up on the stalled GET before the proxy resumed it")
        let gets = front.log.filter { $0.method == "GET" && $0.path.contains(layer) }   // the ones that ended
        XCTAssertEqual(script.hits.filter { $0.key.hasPrefix("GET ") && $0.key.contains(layer) }.count, 2)
        // Known failure (product): the upload's own 30 s low-speed window ends with the GET's, so the whole
        // blob is restarted from byte 0 in a new session instead of the GET being resumed with Range.
        XCTAssertEqual(gets.last?.requestHeaders["Range"], "bytes=1500000-", "resumed where the stall began: \(r.stderrText)")
        XCTAssertEqual(b.count(method: "POST", pathContains: "/blobs/uploads/"), image.blobs.count, "the upload was not restarted")
        let seen = try await skopeoDigest("\(b.host)/prod/app:v1")
        XCTAssertEqual(seen, image.digest)
        let resumed = gets.last?.requestHeaders["Range"] != nil
        summary("stalled-source", injected: script.faults, survived: script.faults, exit: r.exitCode,
                extra: String(format: "seconds=%.1f", seconds) + " recovery=" + (resumed ? "range-resume" : "upload-restart"))
    }

    // MARK: truncation, lengths, digests

    /// A source registry on a raw loopback server whose manifests can be truncated or mis-framed.
    func lyingSource(_ image: TestImage) throws -> (server: LoopbackServer, requests: Protected<[String]>) {
        let requests = Protected<[String]>([])
        let bytes = image.bytes, digest = image.digest, type = image.mediaType
        let cut = Array(bytes.prefix(bytes.count * 6 / 10))
        let server = try LoopbackServer(options: .init(name: "lying-registry")) { req, w in
            requests.withLock { $0.append("\(req.method) \(req.path)") }
            func raw(_ length: Int, _ body: [UInt8]) throws {
                try w.writeRaw(Array("HTTP/1.1 200 OK\r\nContent-Type: \(type)\r\nDocker-Content-Digest: \(digest)\r\nContent-Length: \(length)\r\nConnection: close\r\n\r\n".utf8) + body)
            }
            switch req.pathWithoutQuery {
            case "/v2/":
                try w.respond(status: 200, json: "{}")
            case "/v2/dev/app/manifests/cut":            // a cut document, honestly framed, true digest header
                try w.respond(status: 200, headers: ["Content-Type": type, "Docker-Content-Digest": digest], body: cut)
            case "/v2/dev/app/manifests/cut-no-digest":  // the same without Docker-Content-Digest
                try w.respond(status: 200, headers: ["Content-Type": type], body: cut)
            case "/v2/dev/app/manifests/short-length":   // Content-Length smaller than the document sent
                try raw(cut.count, bytes)
            case "/v2/dev/app/manifests/long-length":    // Content-Length larger: the body ends early
                try raw(bytes.count + 100, bytes)
            default:
                try w.respond(status: 404, json: "{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\",\"message\":\"manifest unknown\"}]}")
            }
        }
        cleanups.append { server.stop() }
        return (server, requests)
    }

    func testTruncatedManifests() async throws {
        let a = try await registry(), b = try await registry()
        let image = TestImage.random(layerSizes: [64 << 10, 1024], platforms: [.linuxAMD64, .linuxARM64], seed: 109)
        try await ImageSeeder.pushAsync(image, to: a.baseURL, repository: "dev/app", tag: "v1")
        var faults = 0, survived = 0

        // Connection closed part-way through the index, once: retried, promoted.
        let front = try proxy(a.baseURL, rules: [.init(method: "GET", pathContains: "/manifests/v1", fault: .truncate(bytes: 100), times: 1),
                                                 .init(method: "GET", pathContains: "/manifests/sha256:", fault: .truncate(bytes: 50), times: 1)])
        let ok = try await copy("\(front.authority)/dev/app:v1", "\(b.host)/prod/app:v1")
        XCTAssertEqual(ok.exitCode, 0, ok.stderrText)
        XCTAssertEqual(injected(front), 2)
        let seen = try await skopeoDigest("\(b.host)/prod/app:v1")
        XCTAssertEqual(seen, image.digest)
        faults += 2; survived += 2
        summary("truncated-manifest-transfer-once", injected: 2, survived: 2, exit: ok.exitCode)

        // Cut every time: a network failure after the retries (the body never arrived whole).
        front.setRules([.init(method: "GET", pathContains: "/manifests/v1", fault: .truncate(bytes: 100))])
        front.resetLog()
        let cut = try await copy("\(front.authority)/dev/app:v1", "\(b.host)/prod/app:v2", ["-q", "--retries", "1"])
        XCTAssertEqual(cut.exitCode, 6, cut.stderrText)
        assertOneLineError(cut)
        faults += injected(front); survived += injected(front) - 1
        summary("truncated-manifest-transfer-always", injected: injected(front), survived: injected(front) - 1, exit: cut.exitCode)

        // A registry serving a truncated document with honest framing, or a Content-Length that cuts it:
        // integrity failures, exit 7, never retried into a tag.
        let liar = try lyingSource(image)
        for tag in ["cut", "cut-no-digest", "short-length"] {
            let r = try await copy("\(liar.server.authority)/dev/app:\(tag)", "\(b.host)/prod/app:\(tag)", ["-q"])
            XCTAssertEqual(r.exitCode, 7, "\(tag): \(r.stderrText)")
            assertOneLineError(r)
            let t = try await skopeoDigest("\(b.host)/prod/app:\(tag)")
            XCTAssertNil(t, tag)
            faults += 1
            summary("truncated-manifest-\(tag)", injected: 1, survived: 0, exit: r.exitCode)
        }
        XCTAssertEqual(liar.requests.snapshot.filter { $0.contains("/manifests/cut") }.count, 2, "integrity failures are not retried")
        // Content-Length larger than the document: the body ends early, like a cut connection.
        let long = try await copy("\(liar.server.authority)/dev/app:long-length", "\(b.host)/prod/app:long", ["-q", "--retries", "1"])
        XCTAssertEqual(long.exitCode, 6, long.stderrText)
        assertOneLineError(long)
        faults += 2
        summary("manifest-content-length-too-long", injected: 2, survived: 1, exit: long.exitCode)
        // + 1: the tag (nothing is attached, so the top is not put by digest first).
        XCTAssertEqual(b.count(method: "PUT", pathContains: "/manifests/"), image.manifests.count + 1, "only the successful run pushed manifests")
        summary("truncated-manifest-total", injected: faults, survived: survived, exit: 0)
    }

    func testWrongContentLengthOnBlobExitsSeven() async throws {
        let a = try await registry(), b = try await registry()
        let image = TestImage.random(layerSizes: [256 << 10, 1024], seed: 110)
        try await ImageSeeder.pushAsync(image, to: a.baseURL, repository: "dev/app", tag: "v1")
        let layer = image.manifests[0].layers[0]
        let content = try layer.content.allBytes()
        let hits = Protected(0)
        // Blob storage that lies about the length: too long (then closes), or too short (then sends it all).
        let liar = try LoopbackServer(options: .init(name: "lying-storage")) { req, w in
            let n = hits.withLock { h -> Int in h += 1; return h }
            let announced = n % 2 == 1 ? content.count + 4096 : content.count - 4096
            try w.writeRaw(Array("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: \(announced)\r\nConnection: close\r\n\r\n".utf8) + content)
        }
        cleanups.append { liar.stop() }
        let front = try proxy(a.baseURL, rules: [.init(method: "GET", pathContains: "/blobs/\(layer.digest)", fault: .redirect(to: liar.baseURL))])
        for (i, tag) in ["long", "short"].enumerated() {
            let r = try await copy("\(front.authority)/dev/app:v1", "\(b.host)/prod/app:\(tag)", ["-q"])
            XCTAssertEqual(r.exitCode, 7, "\(tag): \(r.stderrText)")
            assertOneLineError(r)
            XCTAssertTrue(r.stderrText.contains(layer.digest), r.stderrText)
            XCTAssertEqual(hits.snapshot, i + 1, "a size mismatch is not retried")
            XCTAssertEqual(b.count(method: "PUT", pathContains: "digest=\(layer.digest)", status: 201), 0, "never committed")
            let t = try await skopeoDigest("\(b.host)/prod/app:\(tag)")
            XCTAssertNil(t)
            summary("wrong-content-length-\(tag)", injected: 1, survived: 0, exit: r.exitCode)
        }
        XCTAssertEqual(b.count(method: "PUT", pathContains: "/manifests/"), 0)
    }

    func testWrongDigestsFromRegistriesExitSeven() async throws {
        let a = try await registry(), b = try await registry()
        let image = TestImage.random(layerSizes: [128 << 10, 1024], platforms: [.linuxAMD64, .linuxARM64], seed: 111)
        try await ImageSeeder.pushAsync(image, to: a.baseURL, repository: "dev/app", tag: "v1")

        // 1. The source says its manifest has another digest than its bytes hash to.
        let front = try proxy(a.baseURL, rules: [.init(method: "GET", pathContains: "/manifests/v1",
                                                       fault: .setHeader("Docker-Content-Digest", Self.wrongDigest))])
        let r1 = try await copy("\(front.authority)/dev/app:v1", "\(b.host)/prod/app:v1", ["-q"])
        XCTAssertEqual(r1.exitCode, 7, r1.stderrText)
        assertOneLineError(r1)
        XCTAssertTrue(r1.stderrText.contains(Self.wrongDigest), r1.stderrText)
        XCTAssertFalse(b.accessLog().contains { $0.method == "PUT" || $0.method == "POST" }, "nothing written")
        summary("wrong-digest-source-manifest", injected: injected(front), survived: 0, exit: r1.exitCode)

        // 2. The destination claims it stored a blob under another digest.
        let layer = image.manifests[0].layers[0].digest
        let back = try proxy(b.baseURL, rules: [.init(method: "PUT", pathContains: "digest=\(layer)",
                                                      fault: .setHeader("Docker-Content-Digest", Self.wrongDigest))])
        let r2 = try await copy("\(a.host)/dev/app:v1", "\(back.authority)/prod/app:v2", ["-q"])
        XCTAssertEqual(r2.exitCode, 7, r2.stderrText)
        assertOneLineError(r2)
        // The other platform, complete, may have gone in by digest (each platform is pushed as soon as its
        // blobs are there); the one that names the blob, the index and the tag never do.
        XCTAssertEqual(b.count(method: "PUT", pathContains: "/manifests/\(image.manifests[0].digest)"), 0, "no manifest naming the blob")
        XCTAssertEqual(b.count(method: "PUT", pathContains: "/manifests/\(image.digest)"), 0, "no index")
        XCTAssertEqual(b.count(method: "PUT", pathContains: "/manifests/v2"), 0, "no tag")
        let t2 = try await skopeoDigest("\(b.host)/prod/app:v2")
        XCTAssertNil(t2)
        summary("wrong-digest-blob-put", injected: injected(back), survived: 0, exit: r2.exitCode)

        // 3. The destination claims it stored a child manifest under another digest: the tag never follows.
        back.setRules([.init(method: "PUT", pathContains: "/manifests/sha256:", fault: .setHeader("Docker-Content-Digest", Self.wrongDigest))])
        back.resetLog()
        let r3 = try await copy("\(a.host)/dev/app:v1", "\(back.authority)/prod/app:v3", ["-q"])
        XCTAssertEqual(r3.exitCode, 7, r3.stderrText)
        assertOneLineError(r3)
        XCTAssertEqual(b.count(method: "PUT", pathContains: "/manifests/v3"), 0, "children first, tag last")
        let t3 = try await skopeoDigest("\(b.host)/prod/app:v3")
        XCTAssertNil(t3)
        summary("wrong-digest-manifest-put", injected: injected(back), survived: 0, exit: r3.exitCode)
    }

    // MARK: redirects

    func testBlobRedirectToAnotherHostDropsAuthorization() async throws {
        let a = try await registry(.htpasswd(users: ["dev": "dev-secret"]))
        let storage = try await registry(), b = try await registry()
        let image = TestImage.random(layerSizes: [2 << 20, 4096], seed: 112)
        try await ImageSeeder.pushAsync(image, to: a.baseURL, repository: "dev/app", tag: "v1",
                                        credentials: .basic(username: "dev", password: "dev-secret"))
        try await ImageSeeder.pushAsync(image, to: storage.baseURL, repository: "dev/app", tag: nil)
        let layer = image.manifests[0].layers[0].digest
        // "Blob storage" on another port: the registry redirects every blob GET there (307).
        let cdn = try proxy(storage.baseURL, rules: [.init(method: "GET", pathContains: "/blobs/\(layer)",
                                                           fault: .cutAfter(bytes: 700_000), times: 1)], name: "cdn")
        let front = try proxy(a.baseURL, rules: [.init(method: "GET", pathContains: "/blobs/", fault: .redirect(to: cdn.baseURL, status: 307))])
        let auth = try authfile([front.authority: ("dev", "dev-secret")])
        let r = try await copy("\(front.authority)/dev/app:v1", "\(b.host)/prod/app:v1", ["-v", "--src-authfile", auth])
        XCTAssertEqual(r.exitCode, 0, r.stderrText)
        let redirected = front.log.filter { $0.method == "GET" && $0.path.contains("/blobs/") }
        XCTAssertEqual(redirected.count, image.blobs.count + 1, "every blob GET (and the resume) went to the registry first")
        XCTAssertTrue(redirected.allSatisfy { $0.hadAuthorization && $0.status == 307 }, "the registry got credentials and redirected")
        let atCDN = cdn.log.filter { $0.method == "GET" }
        XCTAssertEqual(atCDN.count, image.blobs.count + 1)
        XCTAssertTrue(atCDN.allSatisfy { !$0.hadAuthorization }, "Authorization never forwarded to the other host")
        XCTAssertEqual(atCDN.filter { $0.path.contains(layer) }.last?.requestHeaders["Range"], "bytes=700000-",
                       "the cut at the storage host was resumed through a fresh redirect")
        let seen = try await skopeoDigest("\(b.host)/prod/app:v1")
        XCTAssertEqual(seen, image.digest)
        let n = injected(front, cdn)
        summary("blob-redirect", injected: n, survived: n, exit: r.exitCode)
    }

    // MARK: tokens

    /// A token registry (user `ci`, pull and push everywhere) and its issuer.
    func tokenRegistry() async throws -> (RegistryProcess, TokenIssuer) {
        let issuer = try await TokenIssuer.start(users: ["ci": .init(password: "ci-pw", repositories: ["*": ["pull", "push"]])])
        cleanups.append { issuer.stop() }
        return (try await registry(issuer.registryAuth), issuer)
    }

    /// From now on the next token issued is valid for about `seconds` more (the registry allows 60 s of
    /// leeway past `exp`) while its `expires_in` says 1 s, which the client floors to 60 s: it keeps
    /// using it after it has expired. Every token after that one is normal.
    func nextTokenExpiresSoon(_ issuer: TokenIssuer, seconds: Int) {
        let before = issuer.requestCount
        issuer.setLifetime(seconds: 1, clockOffsetSeconds: seconds - 61)
        let watcher = Task.detached {
            while issuer.requestCount == before && !Task.isCancelled { try? await Task.sleep(nanoseconds: 2_000_000) }
            issuer.setLifetime(seconds: 300)
        }
        cleanups.append { watcher.cancel() }
    }

    /// Holds the first GET of every blob `delayMs(k)` (k = 0, 1, ... in arrival order) before it reaches the
    /// registry, so tokens issued at the start of the copy have expired when it gets there.
    func delayFirstBlobGets(_ upstream: RegistryProcess, _ delayMs: @escaping @Sendable (Int) -> Int) throws -> FaultProxy {
        let firsts = Protected(0)
        let script = FaultScript { req, n in
            guard req.method == "GET", req.path.contains("/blobs/"), n == 1 else { return nil }
            let k = firsts.withLock { c -> Int in c += 1; return c - 1 }
            return .latency(requestMs: delayMs(k), responseMs: 0)
        }
        let front = try proxy(upstream.baseURL)
        front.setDecider(script.decider)
        return front
    }

    func testTokenExpiringMidCopyIsRefetchedOnce() async throws {
        let image = TestImage.random(layerSizes: [1 << 20, 4096], seed: 113)
        // Source side: the pull token expires while the first blob GET is held.
        let (a, srcIssuer) = try await tokenRegistry()
        let b = try await registry()
        try await ImageSeeder.pushAsync(image, to: a.baseURL, repository: "dev/app", tag: "v1",
                                        credentials: .basic(username: "ci", password: "ci-pw"))
        let front = try delayFirstBlobGets(a) { k in k == 0 ? 7000 : 0 }
        let auth = try authfile([front.authority: ("ci", "ci-pw"), a.host: ("ci", "ci-pw")])
        let seeded = srcIssuer.requestCount
        nextTokenExpiresSoon(srcIssuer, seconds: 4)
        let r1 = try await copy("\(front.authority)/dev/app:v1", "\(b.host)/prod/app:v1", ["--jobs", "1", "--src-authfile", auth])
        XCTAssertEqual(r1.exitCode, 0, r1.stderrText)
        XCTAssertEqual(front.count(method: "GET", pathContains: "/blobs/", status: 401), 1, "the held GET met an expired token")
        let srcFetches = srcIssuer.requestCount - seeded
        XCTAssertEqual(srcFetches, 2, "one token, one re-authentication")
        let seen1 = try await skopeoDigest("\(b.host)/prod/app:v1")
        XCTAssertEqual(seen1, image.digest)
        summary("token-expiry-mid-copy-source", injected: 1, survived: 1, exit: r1.exitCode, extra: "tokenFetches=\(srcFetches)")

        // Destination side: the push token expires before the blob upload's PUT is sent.
        let a2 = try await registry()
        let (b2, dstIssuer) = try await tokenRegistry()
        try await ImageSeeder.pushAsync(image, to: a2.baseURL, repository: "dev/app", tag: "v1")
        let front2 = try delayFirstBlobGets(a2) { k in k == 0 ? 7000 : 0 }
        let dauth = try authfile([b2.host: ("ci", "ci-pw")])
        nextTokenExpiresSoon(dstIssuer, seconds: 4)
        let r2 = try await copy("\(front2.authority)/dev/app:v1", "\(b2.host)/prod/app:v1", ["--jobs", "1", "--dest-authfile", dauth, "-v"])
        XCTAssertEqual(r2.exitCode, 0, r2.stderrText)
        XCTAssertEqual(b2.count(method: "PUT", pathContains: "/blobs/uploads/", status: 401), 1, "the first upload met an expired token: \(b2.accessLog())")
        let dstFetches = dstIssuer.requestCount   // (skopeo's check below fetches tokens too)
        XCTAssertEqual(dstFetches, 2, "one token, one re-authentication")
        let seen2 = try await skopeoDigest("\(b2.host)/prod/app:v1", authfile: dauth)
        XCTAssertEqual(seen2, image.digest)
        summary("token-expiry-mid-copy-destination", injected: 1, survived: 1, exit: r2.exitCode,
                extra: "tokenFetches=\(dstFetches)")
    }

    /// Several transfers refused with the same expired token need one new token, not one each. The
    /// refusals are staggered so each arrives after the previous re-fetch finished.
    func testConcurrentTransfersRefusedWithOneExpiredTokenReauthenticateOnce() async throws {
        let image = TestImage.random(layerSizes: [256 << 10, 128 << 10, 64 << 10], seed: 117)
        let (a, issuer) = try await tokenRegistry()
        let b = try await registry()
        try await ImageSeeder.pushAsync(image, to: a.baseURL, repository: "dev/app", tag: "v1",
                                        credentials: .basic(username: "ci", password: "ci-pw"))
        let front = try delayFirstBlobGets(a) { k in 6000 + 600 * k }
        let auth = try authfile([front.authority: ("ci", "ci-pw")])
        let seeded = issuer.requestCount
        nextTokenExpiresSoon(issuer, seconds: 4)
        let r = try await copy("\(front.authority)/dev/app:v1", "\(b.host)/prod/app:v1", ["--src-authfile", auth])
        XCTAssertEqual(r.exitCode, 0, r.stderrText)
        let refused = front.count(method: "GET", pathContains: "/blobs/", status: 401)
        XCTAssertEqual(refused, image.blobs.count, "every held GET met the expired token")
        let fetches = issuer.requestCount - seeded
        XCTAssertEqual(fetches, 2, "one token, then one re-authentication shared by all \(refused) refused transfers")
        let seen = try await skopeoDigest("\(b.host)/prod/app:v1")
        XCTAssertEqual(seen, image.digest)
        summary("token-expiry-concurrent", injected: refused, survived: refused, exit: r.exitCode, extra: "tokenFetches=\(fetches)")
    }

    /// Abandoning an upload session (`DELETE`, best effort) must not cost a token round trip nor widen
    /// the scopes asked for: distribution wants `delete` for it, which a promoter has no need for.
    func testAbandonedUploadDoesNotAskForDeleteScope() async throws {
        let image = TestImage.random(layerSizes: [256 << 10], seed: 118)
        let a = try await registry()
        let (b, issuer) = try await tokenRegistry()
        try await ImageSeeder.pushAsync(image, to: a.baseURL, repository: "dev/app", tag: "v1")
        let layer = image.manifests[0].layers[0].digest
        let front = try proxy(a.baseURL, rules: [.init(method: "GET", pathContains: "/blobs/\(layer)", fault: .status(503), times: 1)])
        let auth = try authfile([b.host: ("ci", "ci-pw")])
        let r = try await copy("\(front.authority)/dev/app:v1", "\(b.host)/prod/app:v1", ["--dest-authfile", auth, "-v"])
        XCTAssertEqual(r.exitCode, 0, r.stderrText)
        XCTAssertEqual(b.count(method: "DELETE", pathContains: "/blobs/uploads/") >= 1, true, "the broken upload was abandoned")
        let scopes = issuer.records.flatMap(\.scopes)
        XCTAssertFalse(scopes.contains { $0.hasSuffix(":delete") || $0.contains(",delete") },
                       "no delete scope requested: \(scopes)")
        XCTAssertEqual(issuer.requestCount, 1, "one token for the whole copy: \(issuer.records.map(\.scopes))")
        summary("upload-abandoned-on-token-registry", injected: 1, survived: 1, exit: r.exitCode,
                extra: "tokenFetches=\(issuer.requestCount)")
    }

    func testTokenRefusedAfterOneReauthenticationExitsThree() async throws {
        let users: [String: TokenIssuer.User] = ["ci": .init(password: "ci-pw", repositories: ["*": ["pull", "push"]])]
        let issuer = try await TokenIssuer.start(users: users)
        cleanups.append { issuer.stop() }
        let a = try await registry(), b = try await registry(issuer.registryAuth)
        let image = TestImage.random(layerSizes: [64 << 10], seed: 114)
        try await ImageSeeder.pushAsync(image, to: a.baseURL, repository: "dev/app", tag: "v1")
        issuer.setLifetime(seconds: 1, clockOffsetSeconds: -120)   // every token is already expired
        let auth = try authfile([b.host: ("ci", "ci-pw")])
        let r = try await copy("\(a.host)/dev/app:v1", "\(b.host)/prod/app:v1", ["-q", "--dest-authfile", auth])
        XCTAssertEqual(r.exitCode, 3, r.stderrText)
        assertOneLineError(r)
        XCTAssertEqual(issuer.requestCount, 2, "one token and exactly one re-authentication, then give up")
        XCTAssertFalse(b.accessLog().contains { ($0.method == "PUT" || $0.method == "POST") && $0.status < 300 })
        summary("token-always-expired", injected: 2, survived: 1, exit: r.exitCode)
    }

    // MARK: slow authentication servers

    func testSlowTokenServer() async throws {
        let users: [String: TokenIssuer.User] = ["ci": .init(password: "ci-pw", repositories: ["*": ["pull", "push"]])]
        let issuer = try await TokenIssuer.start(users: users)
        cleanups.append { issuer.stop() }
        let slow = try proxy(issuer.baseURL, rules: [.init(fault: .latency(requestMs: 1500, responseMs: 1500))], name: "slow-issuer")
        let auth = RegistryProcess.Auth.token(realm: slow.url("/token"), service: issuer.service, issuer: issuer.issuer,
                                              rootCertBundlePath: issuer.certificatePath)
        let a = try await registry(auth), b = try await registry(auth)
        let image = TestImage.random(layerSizes: [256 << 10, 1024], seed: 115)
        try await ImageSeeder.pushAsync(image, to: a.baseURL, repository: "dev/app", tag: "v1",
                                        credentials: .basic(username: "ci", password: "ci-pw"))
        slow.resetLog()
        let before = issuer.requestCount
        let authFile = try authfile([a.host: ("ci", "ci-pw"), b.host: ("ci", "ci-pw")])
        let start = ContinuousClock.now
        let r = try await copy("\(a.host)/dev/app:v1", "\(b.host)/prod/app:v1", ["--src-authfile", authFile, "--dest-authfile", authFile])
        let seconds = elapsedSeconds(since: start)
        XCTAssertEqual(r.exitCode, 0, r.stderrText)
        XCTAssertEqual(issuer.requestCount - before, 2, "one token per side despite many parallel requests waiting on it")
        XCTAssertGreaterThanOrEqual(seconds, 3, "each token took 3 s")
        let seen = try await skopeoDigest("\(b.host)/prod/app:v1", authfile: authFile)
        XCTAssertEqual(seen, image.digest)
        summary("slow-token-server", injected: injected(slow), survived: injected(slow), exit: r.exitCode,
                extra: String(format: "seconds=%.1f", seconds))
    }

    /// The OAuth server's URL comes from the cluster's discovery document, so no proxy can be put in front
    /// of it by URL; the slowness is injected by an HTTP CONNECT proxy (HTTPS_PROXY) that delays only
    /// the OAuth server's port.
    static let connectProxy = #"""
    import asyncio, sys
    slow = {int(p): int(ms) / 1000 for p, ms in (x.split(":") for x in sys.argv[2].split(",") if x)}
    log = open(sys.argv[3], "a", buffering=1)
    async def pipe(r, w, delay):
        try:
            while True:
                data = await r.read(65536)
                if not data:
                    break
                if delay:
                    await asyncio.sleep(delay)
                w.write(data)
                await w.drain()
        except Exception:
            pass
        finally:
            try:
                w.close()
            except Exception:
                pass
    async def handle(cr, cw):
        try:
            head = await cr.readuntil(b"\r\n\r\n")
            method, target, _ = head.split(b"\r\n")[0].decode().split(" ")
            host, port = target.rsplit(":", 1)
            delay = slow.get(int(port), 0)
            log.write(f"{method} {port} {delay}\n")
            ur, uw = await asyncio.open_connection(host, int(port))
            if delay:
                await asyncio.sleep(delay)
            cw.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await cw.drain()
            await asyncio.gather(pipe(cr, uw, 0), pipe(ur, cw, delay))
        except Exception as e:
            log.write(f"error {e}\n")
            cw.close()
    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        with open(sys.argv[1] + ".tmp", "w") as f:
            f.write(str(server.sockets[0].getsockname()[1]))
        import os
        os.rename(sys.argv[1] + ".tmp", sys.argv[1])
        async with server:
            await server.serve_forever()
    asyncio.run(main())
    """#

    func testSlowOAuthServerDuringPasswordLogin() async throws {
        let password = "alice-Pa55word"
        let config = EmulatorConfig(
            name: "dev", users: [.init(name: "alice", password: password)],
            projects: [.init(name: "shop", pullers: [], pushers: ["alice"]),
                       .init(name: "openshift", pullers: ["system:authenticated"], pushers: [])],
            imageStreams: [.init(namespace: "openshift", name: "cli")])
        let dev = try await ClusterEmulator.start(config: config, workDirectory: try dir.subdirectory("dev"))
        cleanups.append { dev.stop() }
        let b = try await registry()
        // Seed dev through its own auth: a token for alice via a password login of our own (imgpromote login).
        let image = TestImage.random(layerSizes: [256 << 10, 1024], seed: 116)
        let seedAuth = dir.file("seed-auth.json")
        let login = try await imgpromote(["login", "--cluster", dev.apiURL, "--ca-file", dev.caBundlePath, "--username", "alice",
                                          "--authfile", seedAuth], env: ["IMGPROMOTE_PASSWORD": password])
        XCTAssertEqual(login.exitCode, 0, login.stderrText)
        let layout = try dir.subdirectory("layout")
        try ImageSeeder.writeOCILayout(image, to: layout, tag: "1.0")
        let certs = try dir.subdirectory("dev-certs")
        try FileSystem.write(try FileSystem.read(dev.caBundlePath), to: certs + "/ca.crt")
        let seeded = try await Subprocess.runAsync("skopeo", ["--insecure-policy", "copy", "--quiet", "--preserve-digests",
                                                              "--dest-authfile", seedAuth, "--dest-cert-dir", certs,
                                                              "oci:\(layout):1.0", "docker://\(dev.registryHost)/shop/app:1.0"],
                                                   environment: Subprocess.environment(adding: ["HOME": dir.path]), timeoutSeconds: 120)
        XCTAssertTrue(seeded.succeeded, seeded.stderrText)

        let script = dir.file("connect-proxy.py"), portFile = dir.file("connect-proxy.port"), log = dir.file("connect-proxy.log")
        try FileSystem.write(Self.connectProxy, to: script)
        let oauthPort = try XCTUnwrap(LoopbackURL(dev.oauthURL)?.port)
        let delayMs = 1500
        let child = try Subprocess.launch("python3", [script, portFile, "\(oauthPort):\(delayMs)", log],
                                          stdoutPath: dir.file("connect-proxy.out"), stderrPath: dir.file("connect-proxy.out"))
        cleanups.append { _ = child.terminate(graceSeconds: 1) }
        var port = ""
        for _ in 0..<200 where port.isEmpty {
            port = (try? FileSystem.readText(portFile)) ?? ""
            if port.isEmpty { try await Task.sleep(nanoseconds: 25_000_000) }
        }
        XCTAssertFalse(port.isEmpty, (try? FileSystem.readText(dir.file("connect-proxy.out"))) ?? "proxy did not start")

        let start = ContinuousClock.now
        let r = try await imgpromote(["copy", "--src-cluster", dev.apiURL, "--src-ca-file", dev.caBundlePath, "--src-username", "alice",
                                      "--dest-tls-verify=false", "shop/app:1.0", "\(b.host)/prod/app:1.0"],
                                     env: ["IMGPROMOTE_SRC_PASSWORD": password, "HTTPS_PROXY": "http://127.0.0.1:\(port)"])
        let seconds = elapsedSeconds(since: start)
        XCTAssertEqual(r.exitCode, 0, r.stderrText)
        let connects = ((try? FileSystem.readText(log)) ?? "").split(separator: "\n")
        let slowConnects = connects.filter { $0.hasPrefix("CONNECT \(oauthPort) ") }.count
        XCTAssertGreaterThanOrEqual(slowConnects, 1, "the OAuth server was reached through the slow path: \(connects)")
        XCTAssertGreaterThanOrEqual(seconds, Double(delayMs) / 1000 * 2, "connect and first answer each delayed")
        XCTAssertEqual(dev.tokens().count, 2, "the seeding login and the copy's")
        XCTAssertEqual(dev.tokens().filter { !$0.revoked && !$0.expired }.count, 1, "the seeding login's token only")
        let seen = try await skopeoDigest("\(b.host)/prod/app:1.0")
        XCTAssertEqual(seen, image.digest)
        summary("slow-oauth-server", injected: slowConnects, survived: slowConnects, exit: r.exitCode,
                extra: String(format: "seconds=%.1f", seconds))
    }
}
