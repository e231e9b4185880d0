import Foundation
import HTTPTransport
import TestSupport
import XCTest

/// `imgpromote plan | apply | promote` end to end between real docker-registry instances, every end
/// state cross-checked with skopeo.
final class ReleaseTests: WorkspaceTestCase {
    override class var workspacePrefix: String { "imgpromote-release" }

    func registry() async throws -> RegistryProcess {
        let r = try await RegistryProcess.start()
        cleanups.append { r.stop() }
        return r
    }

    func imgpromote(_ args: [String], timeout: Double = 120) async throws -> ProcessResult {
        let bin = try XCTUnwrap(BuiltProducts.imgpromote, "imgpromote binary not built")
        var environment = Subprocess.currentEnvironment()
        environment["HOME"] = dir.path
        environment["XDG_RUNTIME_DIR"] = dir.path
        environment["REGISTRY_AUTH_FILE"] = nil
        return try await Subprocess.runAsync(bin, args, environment: environment, timeoutSeconds: timeout)
    }

    func release(_ command: String, _ args: [String]) async throws -> ProcessResult {
        try await imgpromote([command, "--src-tls-verify=false", "--dest-tls-verify=false"] + args)
    }

    func write(_ name: String, _ text: String) throws -> String {
        let path = dir.file(name)
        try FileSystem.write(text, to: path)
        return path
    }

    func skopeoDigest(_ reference: String) async throws -> String? {
        let r = try await Subprocess.runAsync("skopeo", ["inspect", "--raw", "--tls-verify=false", "docker://" + reference],
                                              timeoutSeconds: 60)
        return r.succeeded ? SHA256.digest(r.stdout) : nil
    }

    func skopeoTags(_ repository: String) async throws -> [String] {
        let r = try await Subprocess.runAsync("skopeo", ["list-tags", "--tls-verify=false", "docker://" + repository],
                                              timeoutSeconds: 60)
        guard r.succeeded, let json = try JSONSerialization.jsonObject(with: Data(r.stdout)) as? [String: Any] else { return [] }
        return ((json["Tags"] as? [String]) ?? []).sorted()
    }

    func json(_ r: ProcessResult) throws -> [[String: Any]] {
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout)) as? [String: Any], r.stderrText)
        return try XCTUnwrap(object["images"] as? [[String: Any]])
    }

    /// An app image: the shared base layers first, then its own layer.
    func app(base: [TestBlob], ownSize: Int64, seed: UInt64) -> TestImage {
        var image = TestImage.random(layerSizes: [ownSize], seed: seed)
        var m = image.manifests[0]
        m.layers = base + m.layers
        func descriptor(_ b: TestBlob) -> String { "{\"mediaType\":\"\(b.mediaType)\",\"digest\":\"\(b.digest)\",\"size\":\(b.size)}" }
        let text = "{\"schemaVersion\":2,\"mediaType\":\"\(MediaTypes.ociManifest)\",\"config\":\(descriptor(m.config)),"
            + "\"layers\":[\(m.layers.map(descriptor).joined(separator: ","))]}"
        m.bytes = Array(text.utf8)
        m.digest = SHA256.digest(m.bytes)
        image.manifests[0] = m
        return image
    }

    /// Three apps on one 1 MiB base, pushed to `a` as dev/app1..3:1.0.
    func seedApps(_ a: RegistryProcess, count: Int = 3) async throws -> (base: TestBlob, apps: [TestImage]) {
        let base = TestImage.random(layerSizes: [], sharedLayerSizes: [1 << 20], seed: 99).manifests[0].layers[0]
        var apps: [TestImage] = []
        for i in 1...count {
            let image = app(base: [base], ownSize: 64 << 10, seed: UInt64(100 + i))
            try await ImageSeeder.pushAsync(image, to: a.baseURL, repository: "dev/app\(i)", tag: "1.0")
            apps.append(image)
        }
        return (base, apps)
    }

    func appsFile(_ a: RegistryProcess, _ b: RegistryProcess, count: Int = 3, extra: String = "") throws -> String {
        var text = "source: {registry: \"\(a.host)\", project: dev}\ndestination: {registry: \"\(b.host)\", project: prod}\nimages:\n"
        for i in 1...count { text += "  - source: app\(i):1.0\n" }
        return try write("release.yaml", text + extra)
    }

    // MARK: tests

    func testSharedBaseIsUploadedOnceAndMountedIntoTheOtherRepositories() async throws {
        let a = try await registry(), b = try await registry()
        let (base, apps) = try await seedApps(a)
        let file = try appsFile(a, b)
        let r = try await release("promote", ["-f", file, "--json"])
        XCTAssertEqual(r.exitCode, 0, r.stderrText)
        for (i, image) in apps.enumerated() {
            let seen = try await skopeoDigest("\(b.host)/prod/app\(i + 1):1.0")
            XCTAssertEqual(seen, image.digest, "skopeo sees app\(i + 1)")
        }
        XCTAssertEqual(b.count(method: "PUT", pathContains: "digest=\(base.digest)", status: 201), 1, "the base crossed once")
        XCTAssertEqual(b.count(method: "POST", pathContains: "mount=\(base.digest)", status: 201), 2, "and was mounted twice")
        // Bytes uploaded are the unique bytes: base once, each own layer and config once.
        let unique = Set(apps.flatMap(\.blobs).map(\.digest)).count
        XCTAssertEqual(b.count(method: "PUT", pathContains: "/blobs/uploads/"), unique)
        let images = try json(r)
        XCTAssertEqual(images.map { $0["status"] as? String }, ["promoted", "promoted", "promoted"])
        let copied = images.compactMap { ($0["bytes"] as? [String: Any])?["copied"] as? Int }.reduce(0, +)
        let uniqueBytes = apps.flatMap(\.blobs).reduce(into: [String: Int64]()) { $0[$1.digest] = $1.size }.values.reduce(0, +)
        XCTAssertEqual(copied, Int(uniqueBytes), "bytes copied equal the unique bytes")
        XCTAssertEqual((images[0]["destination"] as? [String: Any])?["digest"] as? String, apps[0].digest)

        // Human output: pinned references on stdout, one line per image on stderr.
        let plain = try await release("promote", ["-f", file])
        XCTAssertEqual(plain.exitCode, 0, plain.stderrText)
        XCTAssertEqual(plain.stdoutText, apps.enumerated().map { "\(b.host)/prod/app\($0.offset + 1)@\($0.element.digest)\n" }.joined())
        XCTAssertEqual(plain.stderrText.split(separator: "\n").filter { $0.contains("imgpromote: present \(a.host)/dev/app") }.count, 3,
                       plain.stderrText)
    }

    /// A later release adds app3 on the base app1 and app2 took in an earlier run: the base is mounted
    /// from their repositories (known from the manifests read to see they are there), not uploaded.
    func testARerunMountsTheBaseAnEarlierRunPushedInsteadOfUploadingIt() async throws {
        let a = try await registry(), b = try await registry()
        let (base, apps) = try await seedApps(a)
        let first = try await release("promote", ["-f", try appsFile(a, b, count: 2)])
        XCTAssertEqual(first.exitCode, 0, first.stderrText)
        XCTAssertEqual(b.count(method: "PUT", pathContains: "digest=\(base.digest)", status: 201), 1)
        let uploadsBefore = b.count(method: "PUT", pathContains: "/blobs/uploads/")

        let r = try await release("promote", ["-f", try appsFile(a, b, count: 3), "--json"])
        XCTAssertEqual(r.exitCode, 0, r.stderrText)
        XCTAssertEqual(try json(r).map { $0["status"] as? String }, ["present", "present", "promoted"])
        let seen = try await skopeoDigest("\(b.host)/prod/app3:1.0")
        XCTAssertEqual(seen, apps[2].digest, "skopeo sees app3")
        XCTAssertEqual(b.count(method: "PUT", pathContains: "digest=\(base.digest)", status: 201), 1, "the base did not cross again")
        let mounts = b.accessLog().filter { $0.method == "POST" && $0.path.contains("mount=\(base.digest)") && $0.status == 201 }
        XCTAssertEqual(mounts.count, 2, "app2 in the first run, app3 now: \(mounts)")
        XCTAssertTrue(mounts.last.map { $0.path.contains("/v2/prod/app3/") && ($0.path.contains("from=prod%2Fapp") || $0.path.contains("from=prod/app")) } ?? false,
                      "\(mounts)")
        // Only app3's own layer and config were uploaded.
        XCTAssertEqual(b.count(method: "PUT", pathContains: "/blobs/uploads/") - uploadsBefore, 2)
        let app3 = try json(r)[2]
        XCTAssertEqual((app3["blobs"] as? [String: Any])?["mounted"] as? Int, 1, "\(app3)")
        XCTAssertEqual((app3["blobs"] as? [String: Any])?["copied"] as? Int, 2, "\(app3)")
    }

    func testAFailingImageAmongGoodOnesIsReportedAndGetsNoTag() async throws {
        let a = try await registry(), b = try await registry()
        let (_, apps) = try await seedApps(a)
        let file = try appsFile(a, b, extra: "  - source: missing:1.0\n")
        let junit = dir.file("report.xml")
        let r = try await release("promote", ["-f", file, "--json", "--junit", junit])
        XCTAssertEqual(r.exitCode, 5, r.stderrText)
        for i in 1...3 {
            let seen = try await skopeoDigest("\(b.host)/prod/app\(i):1.0")
            XCTAssertEqual(seen, apps[i - 1].digest)
        }
        let missing = try await skopeoDigest("\(b.host)/prod/missing:1.0")
        XCTAssertNil(missing)
        XCTAssertTrue(r.stderrText.contains("FAILED \(a.host)/dev/missing:1.0"), r.stderrText)
        let images = try json(r)
        let error = try XCTUnwrap(images[3]["error"] as? [String: Any])
        XCTAssertEqual(error["exitCode"] as? Int, 5)
        XCTAssertEqual(error["class"] as? String, "notFound")
        XCTAssertNotNil(error["message"] as? String)
        let xml = try FileSystem.readText(junit)
        XCTAssertTrue(xml.contains("tests=\"4\" failures=\"1\""), xml)
        XCTAssertEqual(xml.components(separatedBy: "<testcase ").count - 1, 4)
        XCTAssertTrue(xml.contains("<failure type=\"notFound\""), xml)
        XCTAssertTrue(xml.hasPrefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites "), xml)

        // plan: an image that cannot be resolved means no lock at all (an approver must not see half a release).
        let lock = dir.file("lock.json")
        let plan = try await release("plan", ["-f", file, "-o", lock])
        XCTAssertEqual(plan.exitCode, 5, plan.stderrText)
        XCTAssertFalse(FileManager.default.fileExists(atPath: lock))

        // --fail-fast: the missing image first; nothing after it is promoted.
        let c = try await registry()
        let ordered = try write("ordered.yaml", "source: {registry: \"\(a.host)\"}\ndestination: {registry: \"\(c.host)\"}\n"
                                + "images:\n  - source: dev/missing:1.0\n  - source: dev/app1:1.0\n")
        let ff = try await release("promote", ["-f", ordered, "--fail-fast", "--images-at-once", "1"])
        XCTAssertEqual(ff.exitCode, 5, ff.stderrText)
        let tags = try await skopeoTags("\(c.host)/dev/app1")
        XCTAssertEqual(tags, [])
        // A tag list that cannot be read fails its entry before the engine starts; --fail-fast then
        // starts nothing else, and the report still names every image.
        let listing = try write("listing.yaml", "source: {registry: \"\(a.host)\"}\ndestination: {registry: \"\(c.host)\"}\n"
                                + "images:\n  - source: dev/nothing\n    tagRegex: '.*'\n  - source: dev/app2:1.0\n")
        let stopped = try await release("promote", ["-f", listing, "--fail-fast", "--json"])
        XCTAssertEqual(stopped.exitCode, 5, stopped.stderrText)
        let report = try json(stopped)
        XCTAssertEqual(report.map { $0["status"] as? String }, ["failed", "cancelled"])
        XCTAssertEqual(report.map { $0["name"] as? String }, ["\(a.host)/dev/nothing [tagRegex .*]", "\(a.host)/dev/app2:1.0"])
        let untouched = try await skopeoTags("\(c.host)/dev/app2")
        XCTAssertEqual(untouched, [])
    }

    func testPlanApplyAndRerunCostsOneHeadPerImage() async throws {
        let a = try await registry(), b = try await registry()
        let (_, apps) = try await seedApps(a)
        let file = try appsFile(a, b)
        let lock = dir.file("release.lock.json")
        let bBefore = b.accessLog().count
        let plan = try await release("plan", ["-f", file, "-o", lock])
        XCTAssertEqual(plan.exitCode, 0, plan.stderrText)
        XCTAssertEqual(b.accessLog().count, bBefore, "plan asks the destination nothing")
        let lockJSON = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: lock))) as? [String: Any])
        let lockImages = try XCTUnwrap(lockJSON["images"] as? [[String: Any]])
        XCTAssertEqual(lockImages.compactMap { ($0["source"] as? [String: Any])?["digest"] as? String }, apps.map(\.digest))
        XCTAssertEqual((lockJSON["destination"] as? [String: Any])?["registry"] as? String, b.host)

        let apply = try await release("apply", [lock])
        XCTAssertEqual(apply.exitCode, 0, apply.stderrText)
        for (i, image) in apps.enumerated() {
            let seen = try await skopeoDigest("\(b.host)/prod/app\(i + 1):1.0")
            XCTAssertEqual(seen, image.digest)
        }
        let aMark = a.accessLog().count, bMark = b.accessLog().count
        let again = try await release("apply", [lock, "--json"])
        XCTAssertEqual(again.exitCode, 0, again.stderrText)
        XCTAssertTrue(b.waitForAccessLog { $0.count >= bMark + 3 })
        let during = Array(b.accessLog().dropFirst(bMark))
        XCTAssertEqual(during.map(\.method), ["HEAD", "HEAD", "HEAD"], "one HEAD per image: \(during)")
        // Attachments on (the default): each image's source repository is asked what is attached since (its
        // tag list, read beside the HEADs); no manifest. docker-registry has no referrers API: its 404 to the
        // first query (not a NAME_UNKNOWN error) spares the other images theirs.
        XCTAssertTrue(a.waitForAccessLog { $0.count >= aMark + 4 })
        try await Task.sleep(for: .milliseconds(200))
        let asked = Array(a.accessLog().dropFirst(aMark))
        XCTAssertEqual(asked.filter { $0.path.contains("/tags/list") }.count, 3, "\(asked)")
        XCTAssertEqual(asked.filter { $0.path.contains("/referrers/") }.count, 1, "\(asked)")
        XCTAssertEqual(asked.count, 4, "\(asked)")
        XCTAssertEqual(try json(again).map { $0["status"] as? String }, ["present", "present", "present"])
        // Without attachments a rerun of a lock asks the source nothing.
        try await Task.sleep(for: .milliseconds(200))
        let aMark2 = a.accessLog().count, bMark2 = b.accessLog().count
        let bare = try await release("apply", [lock, "--attachments", "none"])
        XCTAssertEqual(bare.exitCode, 0, bare.stderrText)
        XCTAssertTrue(b.waitForAccessLog { $0.count >= bMark2 + 3 })
        try await Task.sleep(for: .milliseconds(200))
        XCTAssertEqual(b.accessLog().count, bMark2 + 3, "one HEAD per image")
        XCTAssertEqual(a.accessLog().count, aMark2, "a rerun of a lock with --attachments none asks the source nothing")
    }

    func testMovedSourceTagIsRefusedButTheLockStillPromotesWhatWasApproved() async throws {
        let a = try await registry(), b = try await registry()
        let (_, apps) = try await seedApps(a, count: 1)
        let file = try appsFile(a, b, count: 1)
        let lock = dir.file("lock.json")
        let plan = try await release("plan", ["-f", file, "-o", lock])
        XCTAssertEqual(plan.exitCode, 0, plan.stderrText)
        // The tag moves after the plan was approved.
        let moved = TestImage.random(layerSizes: [4096], seed: 555)
        try await ImageSeeder.pushAsync(moved, to: a.baseURL, repository: "dev/app1", tag: "1.0")

        let pinned = try write("pinned.yaml", "source: {registry: \"\(a.host)\", project: dev}\ndestination: {registry: \"\(b.host)\", project: prod}\n"
                               + "images:\n  - source: app1:1.0\n    digest: \(apps[0].digest)\n")
        let refused = try await release("promote", ["-f", pinned])
        XCTAssertEqual(refused.exitCode, 7, refused.stderrText)
        XCTAssertTrue(refused.stderrText.contains("moved"), refused.stderrText)
        let none = try await skopeoDigest("\(b.host)/prod/app1:1.0")
        XCTAssertNil(none)

        let apply = try await release("apply", [lock])
        XCTAssertEqual(apply.exitCode, 0, apply.stderrText)
        let seen = try await skopeoDigest("\(b.host)/prod/app1:1.0")
        XCTAssertEqual(seen, apps[0].digest, "the approved digest, not what the tag says now")

        // The approved digest gone from the source: apply fails that image (not found) and tags nothing.
        let client = TestRegistryClient(baseURL: a.baseURL)
        defer { client.close() }
        let deleted = try client.request("DELETE", "/v2/dev/app1/manifests/\(apps[0].digest)")
        XCTAssertEqual(deleted.status, 202)
        let c = try await registry()
        let gone = try await release("apply", ["--dest-registry", c.host, lock])
        XCTAssertEqual(gone.exitCode, 5, gone.stderrText)
        let tags = try await skopeoTags("\(c.host)/prod/app1")
        XCTAssertEqual(tags, [])
    }

    func testRegexAndSemverSelectionReadPaginatedTagLists() async throws {
        let a = try await registry(), b = try await registry()
        let tags = ["1.0.0", "1.1.0", "1.2.0", "1.2.1", "2.0.0", "2.0.0-rc.1", "latest", "nightly-1"]
        for (i, tag) in tags.enumerated() {
            try await ImageSeeder.pushAsync(TestImage.random(layerSizes: [1024], seed: UInt64(700 + i)), to: a.baseURL,
                                            repository: "dev/tool", tag: tag)
        }
        let file = try write("select.yaml", """
        source: {registry: "\(a.host)"}
        destination: {registry: "\(b.host)"}
        images:
          - source: dev/tool
            destination: prod/tool
            semver: ">=1.1 <2"
          - source: dev/tool
            destination: nightly/tool
            tagRegex: 'nightly-[0-9]+'
        """)
        // docker-registry 2.8 answers the whole list whatever `n` says: a proxy in front serves it in
        // pages of 3 with `Link: <…>; rel="next"`, the way registries that paginate do.
        let sorted = tags.sorted()
        var rules: [FaultProxy.Rule] = []
        for start in stride(from: 0, to: sorted.count, by: 3) {
            let page = Array(sorted[start..<min(start + 3, sorted.count)])
            let after = start == 0 ? nil : sorted[start - 1]
            var faults: [FaultProxy.Fault] = []
            if start + 3 < sorted.count {
                faults.append(.setHeader("Link", "</v2/dev/tool/tags/list?n=3&last=\(page.last!)>; rel=\"next\""))
            }
            let body = "{\"name\":\"dev/tool\",\"tags\":[\(page.map { "\"\($0)\"" }.joined(separator: ","))]}"
            faults.append(.status(200, body: body))
            rules.append(FaultProxy.Rule(method: "GET", where: { r in
                r.path.hasPrefix("/v2/dev/tool/tags/list")
                    && (after.map { r.path.contains("last=\($0)") } ?? !r.path.contains("last="))
            }, fault: .combine(faults)))
        }
        let proxy = try FaultProxy(upstream: a.baseURL, rules: rules)
        cleanups.append { proxy.stop() }
        let viaProxy = try String(contentsOfFile: file, encoding: .utf8).replacingOccurrences(of: a.host, with: proxy.server.authority)
        try FileSystem.write(viaProxy, to: file)
        let r = try await release("promote", ["-f", file, "--tag-page-size", "3"])
        XCTAssertEqual(r.exitCode, 0, r.stderrText)
        // One listing of the one source repository (3 pages, following the Link header) serves both
        // entries' selection and the attachment lookups of the 4 promoted images.
        let first = proxy.log.filter { $0.path.hasSuffix("/tags/list?n=3") }
        XCTAssertEqual(first.count, 1, "one listing per repository: \(first.map(\.path))")
        XCTAssertEqual(proxy.log.filter { $0.path.contains("/tags/list?n=1000") }.count, 0, "attachments reuse it")
        let later = proxy.log.filter { $0.path.contains("/tags/list?n=3&last=") }
        XCTAssertEqual(later.count, 2, "followed the Link header: \(later.map(\.path))")
        let prod = try await skopeoTags("\(b.host)/prod/tool")
        XCTAssertEqual(prod, ["1.1.0", "1.2.0", "1.2.1"])
        let nightly = try await skopeoTags("\(b.host)/nightly/tool")
        XCTAssertEqual(nightly, ["nightly-1"])
    }

    func testMappingFile() async throws {
        let a = try await registry(), b = try await registry()
        let (_, apps) = try await seedApps(a, count: 2)
        let mapping = try write("mapping.txt", """
        # oc image mirror style
        \(a.host)/dev/app1:1.0=\(b.host)/mirror/app1

        \(a.host)/dev/app2:1.0=\(b.host)/mirror/app2:renamed
        """)
        let r = try await release("promote", ["-f", mapping])
        XCTAssertEqual(r.exitCode, 0, r.stderrText)
        let one = try await skopeoDigest("\(b.host)/mirror/app1:1.0")
        XCTAssertEqual(one, apps[0].digest)
        let two = try await skopeoDigest("\(b.host)/mirror/app2:renamed")
        XCTAssertEqual(two, apps[1].digest)
    }

    func testShardsTogetherLeaveExactlyTheStateOneRunLeaves() async throws {
        let a = try await registry(), sharded = try await registry(), whole = try await registry()
        let (_, _) = try await seedApps(a, count: 5)
        var text = "source: {registry: \"\(a.host)\", project: dev}\nimages:\n"
        for i in 1...5 { text += "  - source: app\(i):1.0\n    tags: [1.0, stable]\n" }
        let file = try write("shards.yaml", text)
        for i in 1...3 {
            let r = try await imgpromote(["promote", "--src-tls-verify=false", "--dest-tls-verify=false",
                                          "--dest-registry", sharded.host, "--shard", "\(i)/3", "-f", file])
            XCTAssertEqual(r.exitCode, 0, r.stderrText)
        }
        let r = try await imgpromote(["promote", "--src-tls-verify=false", "--dest-tls-verify=false",
                                      "--dest-registry", whole.host, "-f", file])
        XCTAssertEqual(r.exitCode, 0, r.stderrText)
        for i in 1...5 {
            let s = try await skopeoTags("\(sharded.host)/dev/app\(i)")
            let w = try await skopeoTags("\(whole.host)/dev/app\(i)")
            XCTAssertEqual(s, ["1.0", "stable"])
            XCTAssertEqual(s, w)
            for tag in s {
                let sd = try await skopeoDigest("\(sharded.host)/dev/app\(i):\(tag)")
                let wd = try await skopeoDigest("\(whole.host)/dev/app\(i):\(tag)")
                XCTAssertEqual(sd, wd)
            }
        }
    }

    func testUsageErrorsNameTheLineAndMoveNothing() async throws {
        let a = try await registry(), b = try await registry()
        let file = try write("bad.yaml", "images:\n  - source: \(a.host)/dev/app1:1.0\n    destination: \(b.host)/prod/app1\n    tagz: [x]\n")
        let before = a.accessLog().count + b.accessLog().count
        let r = try await release("promote", ["-f", file])
        XCTAssertEqual(r.exitCode, 2)
        XCTAssertTrue(r.stderrText.contains("line 4"), r.stderrText)
        XCTAssertTrue(r.stderrText.contains("unknown key \"tagz\""), r.stderrText)
        XCTAssertEqual(a.accessLog().count + b.accessLog().count, before, "nothing asked of either registry")
        let shard = try await release("promote", ["-f", file, "--shard", "4/3"])
        XCTAssertEqual(shard.exitCode, 2)
        let c = try await registry()
        let twoHosts = try write("two.yaml", "images:\n  - source: \(a.host)/dev/app1:1.0\n    destination: \(b.host)/prod/app1\n"
                                 + "  - source: \(c.host)/dev/app2:1.0\n    destination: \(b.host)/prod/app2\n")
        let mixed = try await release("promote", ["-f", twoHosts])
        XCTAssertEqual(mixed.exitCode, 2, mixed.stderrText)
        XCTAssertTrue(mixed.stderrText.contains("line 4: source registry \(c.host) differs"), mixed.stderrText)
        let conflict = try write("conflict.yaml", "images:\n  - source: \(a.host)/dev/app1:1.0\n    destination: \(b.host)/prod/app:1\n"
                                 + "  - source: \(a.host)/dev/app2:1.0\n    destination: \(b.host)/prod/app:1\n")
        let twice = try await release("promote", ["-f", conflict])
        XCTAssertEqual(twice.exitCode, 2, twice.stderrText)
        XCTAssertTrue(twice.stderrText.contains("also written by the entry at line 2"), twice.stderrText)
        XCTAssertFalse(b.accessLog().contains { ["PUT", "POST", "PATCH"].contains($0.method) })
    }

    func testDryRunPlansCopiesAndMountsAndWritesNothing() async throws {
        let a = try await registry(), b = try await registry()
        let (base, apps) = try await seedApps(a)
        let r = try await release("promote", ["-f", try appsFile(a, b), "--dry-run", "--json"])
        XCTAssertEqual(r.exitCode, 0, r.stderrText)
        let images = try json(r)
        XCTAssertEqual(images.map { $0["status"] as? String }, ["planned", "planned", "planned"])
        let plans = images.compactMap { $0["plan"] as? [[String: Any]] }
        XCTAssertEqual(plans.count, 3)
        let baseActions = plans.compactMap { $0.first { $0["digest"] as? String == base.digest }?["action"] as? String }
        XCTAssertEqual(baseActions.sorted(), ["copied", "mounted", "mounted"], "the base would cross once")
        XCTAssertEqual(plans.map(\.count), apps.map(\.blobs.count))
        XCTAssertFalse(b.accessLog().contains { ["PUT", "POST", "PATCH", "DELETE"].contains($0.method) }, "\(b.accessLog())")
    }

    func testTooManyRequestsPausesTheRegistryAndTheReleaseCompletes() async throws {
        let a = try await registry(), b = try await registry()
        let (_, apps) = try await seedApps(a)
        let front = try FaultProxy(upstream: b.baseURL, rules: [
            .init(method: "HEAD", pathContains: "/prod/app1/manifests/1.0", fault: .tooManyRequests(retryAfterSeconds: 1), times: 1),
        ])
        cleanups.append { front.stop() }
        let file = try write("release.yaml", "source: {registry: \"\(a.host)\", project: dev}\n"
                             + "destination: {registry: \"\(front.authority)\", project: prod}\n"
                             + "images:\n  - source: app1:1.0\n  - source: app2:1.0\n  - source: app3:1.0\n")
        let clock = ContinuousClock()
        let start = clock.now
        let r = try await release("promote", ["-f", file, "-v"])
        XCTAssertEqual(r.exitCode, 0, r.stderrText)
        XCTAssertGreaterThanOrEqual(clock.now - start, .seconds(1), "Retry-After was honoured")
        XCTAssertTrue(r.stderrText.contains("HTTP 429; retry 1/"), r.stderrText)
        XCTAssertEqual(front.log.filter { $0.status == 429 }.count, 1)
        for (i, image) in apps.enumerated() {
            let seen = try await skopeoDigest("\(b.host)/prod/app\(i + 1):1.0")
            XCTAssertEqual(seen, image.digest)
        }
    }
}
