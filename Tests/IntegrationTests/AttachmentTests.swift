import Foundation
import HTTPTransport
import TestSupport
import XCTest

/// Supply chain end to end on real docker-registry instances: the signature gate, attachments that
/// travel, the promotion record. Signatures are made with openssl (keys as cosign writes them) and their
/// `.sig` tags written by skopeo (containers/image's layout, not ours); skopeo reads them back.
final class AttachmentTests: WorkspaceTestCase {
    override class var workspacePrefix: String { "imgpromote-attach" }

    override func setUp() async throws {
        try await super.setUp()
        guard Subprocess.find("skopeo") != nil, Subprocess.find("openssl") != nil else {
            throw XCTSkip("skopeo and openssl are needed")
        }
    }

    func registry() async throws -> RegistryProcess {
        let r = try await RegistryProcess.start()
        cleanups.append { r.stop() }
        return r
    }

    func run(_ exe: String, _ args: [String], stdin: [UInt8]? = nil, env: [String: String] = [:],
             timeout: Double = 120) async throws -> ProcessResult {
        var environment = Subprocess.currentEnvironment()
        if exe == "python3" {
            let (python, problem) = PythonTools.environment()
            guard let python else { throw XCTSkip(problem) }
            environment["PYTHONPATH"] = python["PYTHONPATH"]
        } else {
            environment["HOME"] = dir.path
            environment["XDG_RUNTIME_DIR"] = dir.path
        }
        environment["REGISTRY_AUTH_FILE"] = nil
        for (k, v) in env { environment[k] = v }
        return try await Subprocess.runAsync(exe, args, environment: environment, stdin: stdin, timeoutSeconds: timeout)
    }

    func copy(_ from: String, _ to: String, _ extra: [String] = [], env: [String: String] = [:]) async throws -> ProcessResult {
        let bin = try XCTUnwrap(BuiltProducts.imgpromote, "imgpromote binary not built")
        return try await run(bin, ["copy", "--src-tls-verify=false", "--dest-tls-verify=false"] + extra + [from, to], env: env)
    }

    // MARK: keys and signatures made with openssl

    struct Key {
        var privatePath: String
        var publicPath: String
    }

    /// An ECDSA P-256 key pair; the public half is a PKIX `PUBLIC KEY` PEM, as `cosign generate-key-pair` writes.
    func makeKey(_ name: String) async throws -> Key {
        let priv = dir.file("\(name).key"), pub = dir.file("\(name).pub")
        let g = try await run("openssl", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", priv])
        XCTAssertTrue(g.succeeded, g.stderrText)
        let p = try await run("openssl", ["pkey", "-in", priv, "-pubout", "-out", pub])
        XCTAssertTrue(p.succeeded, p.stderrText)
        return Key(privatePath: priv, publicPath: pub)
    }

    /// A containers/image sigstore signature file: cosign's simple-signing payload for `digest`, signed by `key`.
    func signatureFile(digest: String, identity: String, key: Key) async throws -> [UInt8] {
        let payload = "{\"critical\":{\"identity\":{\"docker-reference\":\"\(identity)\"},\"image\":{\"docker-manifest-digest\":\"\(digest)\"},\"type\":\"cosign container image signature\"},\"optional\":null}"
        let payloadPath = dir.file("payload-\(UInt32.random(in: 0...UInt32.max))")
        try FileSystem.write(payload, to: payloadPath)
        let s = try await run("openssl", ["dgst", "-sha256", "-sign", key.privatePath, payloadPath])
        XCTAssertTrue(s.succeeded, s.stderrText)
        let json = "{\"mimeType\":\"application/vnd.dev.cosign.simplesigning.v1+json\",\"payload\":\"\(Data(payload.utf8).base64EncodedString())\","
            + "\"annotations\":{\"dev.cosignproject.cosign/signature\":\"\(Data(s.stdout).base64EncodedString())\"}}"
        return Array("\u{0}sigstore-json\n".utf8) + Array(json.utf8)
    }

    /// A registries.d directory turning sigstore attachments on for `hosts`.
    func registriesD(_ hosts: [String]) throws -> String {
        let d = try dir.subdirectory("registries.d-\(UInt32.random(in: 0...UInt32.max))")
        try FileSystem.write("docker:\n" + hosts.map { "  \($0):\n    use-sigstore-attachments: true\n" }.joined(), to: d + "/attachments.yaml")
        return d
    }

    /// Pushes `image` to `reference` and lets skopeo attach `signatures` (signature files for the top
    /// manifest) as sigstore `.sig` tags: skopeo copies the image to a dir:, the files go next to it, and
    /// skopeo copies it back with attachments on.
    func pushSigned(_ image: TestImage, to r: RegistryProcess, repository: String, tag: String,
                    signatures: [[UInt8]], instanceSignatures: [String: [[UInt8]]] = [:]) async throws {
        try await ImageSeeder.pushAsync(image, to: r.baseURL, repository: repository, tag: tag)
        let layout = try dir.subdirectory("dir-\(UInt32.random(in: 0...UInt32.max))")
        let ref = "docker://\(r.host)/\(repository):\(tag)"
        let out = try await run("skopeo", ["copy", "--all", "--src-tls-verify=false", ref, "dir:" + layout])
        XCTAssertTrue(out.succeeded, out.stderrText)
        for (i, s) in signatures.enumerated() { try FileSystem.write(s, to: "\(layout)/signature-\(i + 1)") }
        for (digest, sigs) in instanceSignatures {
            let hex = digest.dropFirst("sha256:".count)
            for (i, s) in sigs.enumerated() { try FileSystem.write(s, to: "\(layout)/\(hex).signature-\(i + 1)") }
        }
        let back = try await run("skopeo", ["copy", "--all", "--registries.d", try registriesD([r.host]),
                                            "--dest-tls-verify=false", "dir:" + layout, ref])
        XCTAssertTrue(back.succeeded, back.stderrText)
    }

    func tags(_ r: RegistryProcess, _ repository: String) async throws -> [String] {
        let res = try await run("skopeo", ["list-tags", "--tls-verify=false", "docker://\(r.host)/\(repository)"])
        guard res.succeeded else { return [] }
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(res.stdout)) as? [String: Any])
        return (json["Tags"] as? [String]) ?? []
    }

    func sigTag(_ digest: String, _ suffix: String = "sig") -> String {
        digest.replacingOccurrences(of: ":", with: "-") + "." + suffix
    }

    // MARK: the gate

    func testGateAcceptsTheRequiredKeyAndRefusesEverythingElseBeforeWriting() async throws {
        let a = try await registry(), b = try await registry()
        let key = try await makeKey("release"), other = try await makeKey("other")
        let image = TestImage.random(layerSizes: [4096], seed: 41)
        let identity = "\(a.host)/dev/app"
        try await pushSigned(image, to: a, repository: "dev/app", tag: "1.0",
                             signatures: [try await signatureFile(digest: image.digest, identity: identity, key: key)])
        // Another digest's signature stored under this image's .sig tag (a replayed signature).
        let decoy = TestImage.random(layerSizes: [512], seed: 42)
        try await pushSigned(decoy, to: a, repository: "dev/app", tag: "decoy",
                             signatures: [try await signatureFile(digest: image.digest, identity: identity, key: key)])
        let unsigned = TestImage.random(layerSizes: [512], seed: 43)
        try await ImageSeeder.pushAsync(unsigned, to: a.baseURL, repository: "dev/app", tag: "unsigned")

        func refused(_ src: String, _ extra: [String], _ why: String) async throws {
            let before = b.count(method: "PUT") + b.count(method: "POST")
            let r = try await copy("\(a.host)/dev/app:\(src)", "\(b.host)/prod/app:\(src)", extra)
            XCTAssertEqual(r.exitCode, 8, "\(src): \(r.stderrText)")
            XCTAssertTrue(r.stderrText.contains(why), "\(src): \(r.stderrText)")
            XCTAssertEqual(r.stderrText.split(separator: "\n").filter { !$0.contains("warning") }.count, 1,
                           "one line: \(r.stderrText)")
            XCTAssertEqual(b.count(method: "PUT") + b.count(method: "POST"), before, "nothing written for \(src)")
        }
        try await refused("1.0", ["--require-signature", other.publicPath], "none by the required key")
        try await refused("decoy", ["--require-signature", key.publicPath], "names another image (\(image.digest))")
        try await refused("unsigned", ["--require-signature", key.publicPath], "no sigstore signature")
        try await refused("1.0", ["--require-signature", key.publicPath, "--signature-identity", "\(a.host)/dev/other"],
                          "not \(a.host)/dev/other")

        let ok = try await copy("\(a.host)/dev/app:1.0", "\(b.host)/prod/app:1.0",
                                ["--require-signature", other.publicPath, "--require-signature", key.publicPath,
                                 "--signature-identity", identity])
        XCTAssertEqual(ok.exitCode, 0, ok.stderrText)
        XCTAssertEqual(ok.stdoutText, "\(b.host)/prod/app@\(image.digest)\n")
    }

    func testUnreadableKeyIsAUsageError() async throws {
        let a = try await registry()
        let bad = dir.file("bad.pub")
        try FileSystem.write("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", to: bad)
        for key in [bad, dir.file("missing.pub")] {
            let r = try await copy("\(a.host)/dev/app:1", "\(a.host)/prod/app:1", ["--require-signature", key])
            XCTAssertEqual(r.exitCode, 2, r.stderrText)
            XCTAssertTrue(r.stderrText.contains("--require-signature"), r.stderrText)
        }
    }

    // MARK: attachments travel

    /// Signature files as skopeo writes them into a dir:, decoded (JSON key order is not significant).
    func signatures(in layout: String, prefix: String = "") throws -> [NSDictionary] {
        var out: [NSDictionary] = []
        var i = 1
        while FileSystem.exists("\(layout)/\(prefix)signature-\(i)") {
            let bytes = try FileSystem.read("\(layout)/\(prefix)signature-\(i)")
            let body = Data(bytes.drop { $0 != 0x0A }.dropFirst())
            out.append(try XCTUnwrap(JSONSerialization.jsonObject(with: body) as? NSDictionary))
            i += 1
        }
        return out
    }

    func testSignaturesOfIndexAndEveryPlatformTravelAndSkopeoReadsThemBack() async throws {
        let a = try await registry(), b = try await registry()
        let key = try await makeKey("release")
        let image = TestImage.random(layerSizes: [2048], platforms: [.linuxAMD64, .linuxARM64], seed: 51)
        let identity = "\(a.host)/dev/multi"
        var perInstance: [String: [[UInt8]]] = [:]
        for m in image.manifests { perInstance[m.digest] = [try await signatureFile(digest: m.digest, identity: identity, key: key)] }
        try await pushSigned(image, to: a, repository: "dev/multi", tag: "2.0",
                             signatures: [try await signatureFile(digest: image.digest, identity: identity, key: key),
                                          try await signatureFile(digest: image.digest, identity: identity, key: try await makeKey("second"))],
                             instanceSignatures: perInstance)
        let sourceTags = try await tags(a, "dev/multi")
        XCTAssertEqual(Set(sourceTags), Set(["2.0", sigTag(image.digest)] + image.manifests.map { sigTag($0.digest) }),
                       "skopeo wrote one .sig per manifest")

        let r = try await copy("\(a.host)/dev/multi:2.0", "\(b.host)/prod/multi:2.0", ["--require-signature", key.publicPath])
        XCTAssertEqual(r.exitCode, 0, r.stderrText)
        XCTAssertTrue(r.stderrText.contains("attachments: 3 copied (3 .sig)"), r.stderrText)
        let destTags = try await tags(b, "prod/multi")
        XCTAssertEqual(Set(destTags), Set(["2.0", sigTag(image.digest)] + image.manifests.map { sigTag($0.digest) }))
        // The .sig manifests keep their digests (copied verbatim).
        for d in [image.digest] + image.manifests.map(\.digest) {
            let src = try await run("skopeo", ["inspect", "--raw", "--tls-verify=false", "docker://\(a.host)/dev/multi:\(sigTag(d))"])
            let dst = try await run("skopeo", ["inspect", "--raw", "--tls-verify=false", "docker://\(b.host)/prod/multi:\(sigTag(d))"])
            XCTAssertTrue(src.succeeded && dst.succeeded, dst.stderrText)
            XCTAssertEqual(src.stdout, dst.stdout)
        }
        // The tag was written after every .sig: no one saw it unsigned.
        let log = b.accessLog().filter { $0.method == "PUT" && $0.path.contains("/manifests/") }
        XCTAssertEqual(log.last?.path, "/v2/prod/multi/manifests/2.0", "\(log)")

        // skopeo, with attachments on, finds the same signatures at the destination as at the source.
        let rd = try registriesD([a.host, b.host])
        let fromSource = try dir.subdirectory("from-source"), fromDest = try dir.subdirectory("from-dest")
        let s1 = try await run("skopeo", ["copy", "--all", "--registries.d", rd, "--src-tls-verify=false",
                                          "docker://\(a.host)/dev/multi:2.0", "dir:" + fromSource])
        let s2 = try await run("skopeo", ["copy", "--all", "--registries.d", rd, "--src-tls-verify=false",
                                          "docker://\(b.host)/prod/multi:2.0", "dir:" + fromDest])
        XCTAssertTrue(s1.succeeded && s2.succeeded, s1.stderrText + s2.stderrText)
        XCTAssertEqual(try signatures(in: fromDest).count, 2)
        XCTAssertEqual(try signatures(in: fromDest), try signatures(in: fromSource))
        for m in image.manifests {
            let prefix = String(m.digest.dropFirst(7)) + "."
            XCTAssertEqual(try signatures(in: fromDest, prefix: prefix).count, 1, m.digest)
            XCTAssertEqual(try signatures(in: fromDest, prefix: prefix), try signatures(in: fromSource, prefix: prefix))
        }
    }

    /// A small artifact (SBOM-like) with `subject`, pushed by hand as other tools do; returns its bytes and digest.
    func pushReferrer(_ client: TestRegistryClient, repository: String, subject: TestManifest?, subjectIndex: TestImage? = nil,
                      artifactType: String, content: String) throws -> (bytes: [UInt8], digest: String) {
        let empty = Array("{}".utf8)
        try client.uploadBlob(repository: repository, content: .bytes(empty), digest: SHA256.digest(empty))
        let layer = Array(content.utf8)
        try client.uploadBlob(repository: repository, content: .bytes(layer), digest: SHA256.digest(layer))
        let subjectJSON: String
        if let subject {
            subjectJSON = "{\"mediaType\":\"\(subject.mediaType)\",\"digest\":\"\(subject.digest)\",\"size\":\(subject.size)}"
        } else {
            let i = subjectIndex!
            subjectJSON = "{\"mediaType\":\"\(i.mediaType)\",\"digest\":\"\(i.digest)\",\"size\":\(i.bytes.count)}"
        }
        let manifest = "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"artifactType\":\"\(artifactType)\","
            + "\"config\":{\"mediaType\":\"application/vnd.oci.empty.v1+json\",\"digest\":\"\(SHA256.digest(empty))\",\"size\":2},"
            + "\"layers\":[{\"mediaType\":\"text/plain\",\"digest\":\"\(SHA256.digest(layer))\",\"size\":\(layer.count)}],"
            + "\"subject\":\(subjectJSON),\"annotations\":{\"org.example.note\":\"\(content)\"}}"
        let bytes = Array(manifest.utf8)
        _ = try client.putManifest(repository: repository, reference: SHA256.digest(bytes), bytes: bytes,
                                   mediaType: "application/vnd.oci.image.manifest.v1+json")
        return (bytes, SHA256.digest(bytes))
    }

    /// Writes the referrers fallback index `sha256-HEX` for `subject` listing `entries` (what a pusher does
    /// on a registry without the referrers API).
    func putFallbackIndex(_ client: TestRegistryClient, repository: String, subject: String,
                          entries: [(bytes: [UInt8], digest: String, artifactType: String)]) throws {
        let list = entries.map {
            "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"\($0.digest)\",\"size\":\($0.bytes.count),\"artifactType\":\"\($0.artifactType)\"}"
        }
        let index = "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[\(list.joined(separator: ","))]}"
        _ = try client.putManifest(repository: repository, reference: subject.replacingOccurrences(of: ":", with: "-"),
                                   bytes: Array(index.utf8), mediaType: "application/vnd.oci.image.index.v1+json")
    }

    func fallbackEntries(_ client: TestRegistryClient, repository: String, subject: String) throws -> [String] {
        guard let m = try client.manifest(repository: repository, reference: subject.replacingOccurrences(of: ":", with: "-")) else { return [] }
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(m.bytes)) as? [String: Any])
        return ((json["manifests"] as? [[String: Any]]) ?? []).compactMap { $0["digest"] as? String }
    }

    func testReferrersTravelThroughTheFallbackTagAndMergeWithWhatIsThere() async throws {
        let a = try await registry(), b = try await registry()
        let key = try await makeKey("release")
        let image = TestImage.random(layerSizes: [1024], seed: 61)
        try await ImageSeeder.pushAsync(image, to: a.baseURL, repository: "dev/app", tag: "3.0")
        let src = TestRegistryClient(baseURL: a.baseURL), dst = TestRegistryClient(baseURL: b.baseURL)
        defer { src.close(); dst.close() }
        let sbom = try pushReferrer(src, repository: "dev/app", subject: image.manifests[0],
                                    artifactType: "application/spdx+json", content: "sbom-of-3.0")
        try putFallbackIndex(src, repository: "dev/app", subject: image.digest,
                             entries: [(sbom.bytes, sbom.digest, "application/spdx+json")])
        // The SBOM itself is signed (cosign .sig on the SBOM's digest, written by skopeo): it travels too.
        let sbomSig = try await signatureFile(digest: sbom.digest, identity: "\(a.host)/dev/app", key: key)
        let layout = try dir.subdirectory("sbom-dir")
        let out = try await run("skopeo", ["copy", "--src-tls-verify=false", "docker://\(a.host)/dev/app@\(sbom.digest)", "dir:" + layout])
        XCTAssertTrue(out.succeeded, out.stderrText)
        try FileSystem.write(sbomSig, to: layout + "/signature-1")
        let back = try await run("skopeo", ["copy", "--registries.d", try registriesD([a.host]), "--dest-tls-verify=false",
                                            "dir:" + layout, "docker://\(a.host)/dev/app:sbom-holder"])
        XCTAssertTrue(back.succeeded, back.stderrText)

        // The destination already lists another tool's referrer for this digest.
        try await ImageSeeder.pushAsync(image, to: b.baseURL, repository: "prod/app", tag: nil)
        let foreign = try pushReferrer(dst, repository: "prod/app", subject: image.manifests[0],
                                       artifactType: "application/vnd.example.scan", content: "scan-by-someone-else")
        try putFallbackIndex(dst, repository: "prod/app", subject: image.digest,
                             entries: [(foreign.bytes, foreign.digest, "application/vnd.example.scan")])

        let r = try await copy("\(a.host)/dev/app:3.0", "\(b.host)/prod/app:3.0")
        XCTAssertEqual(r.exitCode, 0, r.stderrText)
        XCTAssertEqual(Set(try fallbackEntries(dst, repository: "prod/app", subject: image.digest)), [foreign.digest, sbom.digest],
                       "the other tool's entry is kept")
        let copied = try XCTUnwrap(try dst.manifest(repository: "prod/app", reference: sbom.digest))
        XCTAssertEqual(copied.bytes, sbom.bytes, "referrer copied verbatim")
        XCTAssertNotNil(try dst.manifest(repository: "prod/app", reference: sigTag(sbom.digest)), "the SBOM's signature travelled")
        let prodTags = try await tags(b, "prod/app")
        XCTAssertTrue(prodTags.contains("3.0"))

        // Again: nothing new to add, the fallback index is not rewritten.
        let fallbackPath = "/manifests/" + image.digest.replacingOccurrences(of: ":", with: "-")
        XCTAssertEqual(b.count(method: "PUT", pathContains: fallbackPath), 2, "written by the other tool, then merged once")
        let again = try await copy("\(a.host)/dev/app:3.0", "\(b.host)/prod/app:3.1")
        XCTAssertEqual(again.exitCode, 0, again.stderrText)
        XCTAssertEqual(b.count(method: "PUT", pathContains: fallbackPath), 2, "nothing new: the fallback index is not rewritten")
    }

    func testAttachmentSelection() async throws {
        let a = try await registry(), b = try await registry()
        let key = try await makeKey("release")
        let image = TestImage.random(layerSizes: [1024], seed: 71)
        try await pushSigned(image, to: a, repository: "dev/app", tag: "1",
                             signatures: [try await signatureFile(digest: image.digest, identity: "x", key: key)])
        let src = TestRegistryClient(baseURL: a.baseURL)
        defer { src.close() }
        // An attestation-like .att and an SBOM referrer next to the signature.
        let att = try pushReferrer(src, repository: "dev/app", subject: image.manifests[0], artifactType: "application/vnd.example.att", content: "att")
        _ = try src.putManifest(repository: "dev/app", reference: sigTag(image.digest, "att"), bytes: att.bytes,
                                mediaType: "application/vnd.oci.image.manifest.v1+json")
        let sbom = try pushReferrer(src, repository: "dev/app", subject: image.manifests[0], artifactType: "application/spdx+json", content: "sbom")
        try putFallbackIndex(src, repository: "dev/app", subject: image.digest, entries: [(sbom.bytes, sbom.digest, "application/spdx+json")])

        let none = try await copy("\(a.host)/dev/app:1", "\(b.host)/none/app:1", ["--attachments", "none"])
        XCTAssertEqual(none.exitCode, 0, none.stderrText)
        let noneTags = try await tags(b, "none/app")
        XCTAssertEqual(noneTags, ["1"])
        XCTAssertEqual(a.count(method: "GET", pathContains: "/tags/list"), 0, "--attachments none looks nothing up")

        let sigs = try await copy("\(a.host)/dev/app:1", "\(b.host)/sigs/app:1", ["--attachments", "signatures"])
        XCTAssertEqual(sigs.exitCode, 0, sigs.stderrText)
        let sigTags = try await tags(b, "sigs/app")
        XCTAssertEqual(Set(sigTags), ["1", sigTag(image.digest)])

        let all = try await copy("\(a.host)/dev/app:1", "\(b.host)/all/app:1")
        XCTAssertEqual(all.exitCode, 0, all.stderrText)
        let allTags = try await tags(b, "all/app")
        XCTAssertEqual(Set(allTags),
                       ["1", sigTag(image.digest), sigTag(image.digest, "att"), image.digest.replacingOccurrences(of: ":", with: "-")])

        let bad = try await copy("\(a.host)/dev/app:1", "\(b.host)/x/app:1", ["--attachments", "some"])
        XCTAssertEqual(bad.exitCode, 2, bad.stderrText)
    }

    func testSignaturesMergeWithTheDestinationsOwnSignatures() async throws {
        let a = try await registry(), b = try await registry()
        let release = try await makeKey("release"), prod = try await makeKey("prod")
        let image = TestImage.random(layerSizes: [1024], seed: 81)
        try await pushSigned(image, to: a, repository: "dev/app", tag: "1",
                             signatures: [try await signatureFile(digest: image.digest, identity: "\(a.host)/dev/app", key: release)])
        // The destination already carries a signature of its own for this digest (say, a prod countersignature).
        try await pushSigned(image, to: b, repository: "prod/app", tag: "old",
                             signatures: [try await signatureFile(digest: image.digest, identity: "\(b.host)/prod/app", key: prod)])
        let r = try await copy("\(a.host)/dev/app:1", "\(b.host)/prod/app:1")
        XCTAssertEqual(r.exitCode, 0, r.stderrText)
        let out = try dir.subdirectory("merged")
        let read = try await run("skopeo", ["copy", "--registries.d", try registriesD([b.host]), "--src-tls-verify=false",
                                            "docker://\(b.host)/prod/app:1", "dir:" + out])
        XCTAssertTrue(read.succeeded, read.stderrText)
        let sigs = try signatures(in: out)
        XCTAssertEqual(sigs.count, 2, "both signatures: \(sigs)")
        // Both verify at the destination with their keys.
        for key in [release, prod] {
            let gate = try await copy("\(b.host)/prod/app:1", "\(b.host)/check/app:1", ["--require-signature", key.publicPath])
            XCTAssertEqual(gate.exitCode, 0, gate.stderrText)
        }
    }

    /// What attachments cost when nothing is attached, counted by the registries: `--attachments all`
    /// against `--attachments none`, for a single image and a two-platform index (three manifests).
    func testAttachmentLookupCostWhenNothingIsAttached() async throws {
        let a = try await registry(), b = try await registry()
        var lines: [String] = []
        for (name, image) in [("single", TestImage.random(layerSizes: [1024], seed: 91)),
                              ("index", TestImage.random(layerSizes: [1024], platforms: [.linuxAMD64, .linuxARM64], seed: 92))] {
            try await ImageSeeder.pushAsync(image, to: a.baseURL, repository: "dev/\(name)", tag: "1")
            var counts: [String: (Int, Int)] = [:]
            for mode in ["none", "all"] {
                let (sa, sb) = (a.accessLog().count, b.accessLog().count)
                let r = try await copy("\(a.host)/dev/\(name):1", "\(b.host)/\(mode)/\(name):1", ["--attachments", mode])
                XCTAssertEqual(r.exitCode, 0, r.stderrText)
                XCTAssertTrue(b.waitForAccessLog { $0.count > sb })
                counts[mode] = (a.accessLog().count - sa, b.accessLog().count - sb)
            }
            let manifests = image.isIndex ? image.manifests.count + 1 : 1
            let extraSource = counts["all"]!.0 - counts["none"]!.0, extraDest = counts["all"]!.1 - counts["none"]!.1
            lines.append("\(name) (\(manifests) manifest(s)): +\(extraSource) source, +\(extraDest) destination requests")
            // tags/list + one referrers query (404: no API, so no more queries), sent while the blobs travel;
            // nothing found, so no top manifest PUT by digest before the tag: the tag PUT writes it.
            XCTAssertEqual(extraSource, 2, name)
            XCTAssertEqual(extraDest, 0, name)
            XCTAssertLessThanOrEqual(extraSource + extraDest, 2 * manifests + 1, name)
        }
        print("attachment lookup cost: " + lines.joined(separator: "; "))
    }

    func testSameRegistryPromotionMountsAttachmentBlobsAndDryRunWritesNothing() async throws {
        let a = try await registry()
        let key = try await makeKey("release")
        let image = TestImage.random(layerSizes: [1024], seed: 131)
        try await pushSigned(image, to: a, repository: "dev/app", tag: "1",
                             signatures: [try await signatureFile(digest: image.digest, identity: "\(a.host)/dev/app", key: key)])
        let puts = a.count(method: "PUT")
        let dry = try await copy("\(a.host)/dev/app:1", "\(a.host)/prod/app:1", ["--dry-run", "--require-signature", key.publicPath])
        XCTAssertEqual(dry.exitCode, 0, dry.stderrText)
        XCTAssertEqual(a.count(method: "PUT"), puts, "a dry run writes nothing, attachments included")

        let r = try await copy("\(a.host)/dev/app:1", "\(a.host)/prod/app:1", ["--require-signature", key.publicPath])
        XCTAssertEqual(r.exitCode, 0, r.stderrText)
        XCTAssertTrue(r.stderrText.contains("attachments: 1 copied (1 .sig); blobs 0 copied, 2 mounted"), r.stderrText)
        let tags = try await tags(a, "prod/app")
        XCTAssertEqual(Set(tags), ["1", sigTag(image.digest)])
        XCTAssertEqual(a.count(method: "PUT", pathContains: "/prod/app/blobs/uploads/"), 0, "nothing uploaded: every blob mounted")
        // The promoted copy passes the gate where it now lives.
        let check = try await copy("\(a.host)/prod/app:1", "\(a.host)/other/app:1", ["--require-signature", key.publicPath])
        XCTAssertEqual(check.exitCode, 0, check.stderrText)
    }

    func testABrokenReferrersEndpointFallsBackToTheTagInsteadOfFailing() async throws {
        let a = try await registry(), b = try await registry()
        let image = TestImage.random(layerSizes: [1024], seed: 141)
        try await ImageSeeder.pushAsync(image, to: a.baseURL, repository: "dev/app", tag: "1")
        let src = TestRegistryClient(baseURL: a.baseURL)
        defer { src.close() }
        let sbom = try pushReferrer(src, repository: "dev/app", subject: image.manifests[0], artifactType: "application/spdx+json", content: "sbom")
        try putFallbackIndex(src, repository: "dev/app", subject: image.digest, entries: [(sbom.bytes, sbom.digest, "application/spdx+json")])
        for (i, fault) in [FaultProxy.Fault.status(200, body: "<html>a login page</html>"),
                           .status(403, body: "{\"errors\":[{\"code\":\"DENIED\",\"message\":\"no\"}]}")].enumerated() {
            let front = try FaultProxy(upstream: a.baseURL, rules: [.init(method: "GET", pathContains: "/referrers/", fault: fault)])
            cleanups.append { front.stop() }
            let r = try await copy("\(front.authority)/dev/app:1", "\(b.host)/prod\(i)/app:1")
            XCTAssertEqual(r.exitCode, 0, "\(fault): \(r.stderrText)")
            let dst = TestRegistryClient(baseURL: b.baseURL)
            defer { dst.close() }
            XCTAssertEqual(try fallbackEntries(dst, repository: "prod\(i)/app", subject: image.digest), [sbom.digest], "\(fault)")
        }
    }

    // MARK: the record

    func testSignedPromotionRecordIsAttachedVerifiesWithSecuresystemslibAndInspectShowsIt() async throws {
        let a = try await registry(), b = try await registry()
        let image = TestImage.random(layerSizes: [1024], platforms: [.linuxAMD64, .linuxARM64], seed: 101)
        let key = try await makeKey("source")
        try await pushSigned(image, to: a, repository: "dev/app", tag: "5.0",
                             signatures: [try await signatureFile(digest: image.digest, identity: "\(a.host)/dev/app", key: key)])
        // openssl's unencrypted PKCS#8 key here (cosign's encrypted format is tested below and in SupplyChainTests).
        let recordKey = try await makeKey("record")
        let password = "never-in-argv-\(UInt32.random(in: 0...UInt32.max))"
        let env = ["BUILD_URL": "https://jenkins.example/job/promote/42/", "JOB_NAME": "promote", "BUILD_NUMBER": "42",
                   "IMGPROMOTE_RECORD_KEY_PASSWORD": password]
        let r = try await copy("\(a.host)/dev/app:5.0", "\(b.host)/prod/app:5.0", ["--record-key", recordKey.privatePath, "-v"], env: env)
        XCTAssertEqual(r.exitCode, 0, r.stderrText)
        XCTAssertFalse(r.stderrText.contains(password) || r.stdoutText.contains(password))
        let tags = try await tags(b, "prod/app")
        XCTAssertTrue(tags.contains(sigTag(image.digest, "att")), "\(tags)")
        XCTAssertTrue(tags.contains(sigTag(image.digest)), "the source signature travelled too")

        // The .att manifest holds one DSSE layer as cosign stores attestations.
        let dst = TestRegistryClient(baseURL: b.baseURL)
        defer { dst.close() }
        let att = try XCTUnwrap(try dst.manifest(repository: "prod/app", reference: sigTag(image.digest, "att")))
        let manifest = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(att.bytes)) as? [String: Any])
        let layers = try XCTUnwrap(manifest["layers"] as? [[String: Any]])
        XCTAssertEqual(layers.count, 1)
        XCTAssertEqual(layers[0]["mediaType"] as? String, "application/vnd.dsse.envelope.v1+json")
        XCTAssertEqual((layers[0]["annotations"] as? [String: String])?["predicateType"], "https://imgpromote.dev/promotion/v1")
        let envelope = try XCTUnwrap(try dst.blob(repository: "prod/app", digest: try XCTUnwrap(layers[0]["digest"] as? String)))
        let envPath = dir.file("record.json")
        try FileSystem.write(envelope, to: envPath)

        // An independent DSSE verifier (securesystemslib) accepts it with the record key's public half.
        let check = try await run("python3", ["-c", """
            import sys, json
            from cryptography.hazmat.primitives import serialization
            from securesystemslib.dsse import Envelope
            from securesystemslib.signer import SSlibKey
            env = Envelope.from_dict(json.load(open(sys.argv[1])))
            pub = serialization.load_pem_public_key(open(sys.argv[2], "rb").read())
            env.verify([SSlibKey.from_crypto(pub, keyid=list(env.signatures)[0])], 1)
            st = json.loads(env.payload)
            p = st["predicate"]
            print(st["subject"][0]["name"], st["subject"][0]["digest"]["sha256"], p["source"]["reference"], p["source"]["digest"],
                  p["destination"]["reference"], p["run"]["buildURL"], p["run"]["jobName"], p["run"]["buildNumber"], p["tool"]["name"])
            """, envPath, recordKey.publicPath])
        if check.stderrText.contains("ModuleNotFoundError") { throw XCTSkip("securesystemslib is not installed") }
        XCTAssertTrue(check.succeeded, check.stderrText)
        XCTAssertEqual(check.stdoutText, "\(b.host)/prod/app \(image.digest.dropFirst(7)) \(a.host)/dev/app:5.0 \(image.digest) "
                       + "\(b.host)/prod/app:5.0 https://jenkins.example/job/promote/42/ promote 42 imgpromote\n")

        // A second promotion's record is appended, not replacing the first; inspect shows both.
        let again = try await copy("\(a.host)/dev/app:5.0", "\(b.host)/prod/app:5.0-ga", ["--record"], env: ["JOB_NAME": "ga"])
        XCTAssertEqual(again.exitCode, 0, again.stderrText)
        let bin = try XCTUnwrap(BuiltProducts.imgpromote)
        let inspect = try await run(bin, ["inspect", "--tls-verify=false", "\(b.host)/prod/app:5.0-ga"])
        XCTAssertEqual(inspect.exitCode, 0, inspect.stderrText)
        XCTAssertTrue(inspect.stdoutText.contains("Attachments:"), inspect.stdoutText)
        XCTAssertEqual(inspect.stdoutText.components(separatedBy: "    record: ").count - 1, 2, inspect.stdoutText)
        XCTAssertTrue(inspect.stdoutText.contains("(unsigned)") && inspect.stdoutText.contains("(signed, key sha256:"), inspect.stdoutText)
        XCTAssertTrue(inspect.stdoutText.contains("in https://jenkins.example/job/promote/42/"), inspect.stdoutText)
        let json = try await run(bin, ["inspect", "--json", "--tls-verify=false", "\(b.host)/prod/app:5.0"])
        let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.stdout)) as? [String: Any], json.stderrText)
        let attachments = try XCTUnwrap(doc["attachments"] as? [[String: Any]])
        XCTAssertEqual(Set(attachments.compactMap { $0["kind"] as? String }), [".sig", ".att"])
        XCTAssertEqual(attachments.first { $0["kind"] as? String == ".att" }?["layers"] as? Int, 2)
    }

    func testWrongRecordKeyPasswordIsAUsageErrorWithoutTheSecret() async throws {
        let a = try await registry()
        let image = TestImage.random(layerSizes: [512], seed: 111)
        try await ImageSeeder.pushAsync(image, to: a.baseURL, repository: "dev/app", tag: "1")
        let keyPath = dir.file("cosign.key")
        // A cosign-format key made by Python (scrypt + PyNaCl), when available; else skip.
        let make = try await run("python3", ["-c", """
            import os, sys, json, base64, hashlib, nacl.secret
            from cryptography.hazmat.primitives.asymmetric import ec
            from cryptography.hazmat.primitives import serialization
            k = ec.generate_private_key(ec.SECP256R1())
            der = k.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
            salt, nonce = os.urandom(32), os.urandom(24)
            key = hashlib.scrypt(b"right-password", salt=salt, n=32768, r=8, p=1, dklen=32, maxmem=64 << 20)
            ct = nacl.secret.SecretBox(key).encrypt(der, nonce).ciphertext
            doc = {"kdf": {"name": "scrypt", "params": {"N": 32768, "r": 8, "p": 1}, "salt": base64.b64encode(salt).decode()},
                   "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(nonce).decode()}, "ciphertext": base64.b64encode(ct).decode()}
            b64 = base64.b64encode(json.dumps(doc).encode()).decode()
            open(sys.argv[1], "w").write("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\\n" + "\\n".join(b64[i:i+64] for i in range(0, len(b64), 64)) + "\\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\\n")
            """, keyPath])
        if make.stderrText.contains("ModuleNotFoundError") { throw XCTSkip("PyNaCl/cryptography are not installed") }
        XCTAssertTrue(make.succeeded, make.stderrText)
        let wrong = try await copy("\(a.host)/dev/app:1", "\(a.host)/prod/app:1", ["--record-key", keyPath],
                                   env: ["COSIGN_PASSWORD": "wrong-password-value"])
        XCTAssertEqual(wrong.exitCode, 2, wrong.stderrText)
        XCTAssertTrue(wrong.stderrText.contains("wrong password"), wrong.stderrText)
        XCTAssertFalse(wrong.stderrText.contains("wrong-password-value"))
        let right = try await copy("\(a.host)/dev/app:1", "\(a.host)/prod/app:1", ["--record-key", keyPath],
                                   env: ["COSIGN_PASSWORD": "right-password"])
        XCTAssertEqual(right.exitCode, 0, right.stderrText)
        XCTAssertTrue(right.stderrText.contains("record: promotion record attached"), right.stderrText)
    }

    // MARK: a registry with the referrers API

    /// A front over a real docker-registry that implements the referrers API the way OCI 1.1 registries do:
    /// `GET /v2/NAME/referrers/DIGEST` lists (from the registry's own storage) every manifest of NAME whose
    /// `subject` is DIGEST, and a manifest PUT of a referrer is answered with `OCI-Subject`.
    func referrersFront(_ r: RegistryProcess, subjects: [String: String]) throws -> FaultProxy {
        let front = try FaultProxy(upstream: r.baseURL, name: "referrers-front")
        cleanups.append { front.stop() }
        let storage = r.storagePath + "/docker/registry/v2"
        front.setDecider { req in
            let path = req.pathWithoutQuery
            if req.method == "GET", let range = path.range(of: "/referrers/") {
                let name = String(path[path.index(path.startIndex, offsetBy: 4)..<range.lowerBound])
                let digest = String(path[range.upperBound...])
                var entries: [String] = []
                let revisions = "\(storage)/repositories/\(name)/_manifests/revisions/sha256"
                for hex in FileSystem.list(revisions).sorted() {
                    guard let bytes = try? FileSystem.read("\(storage)/blobs/sha256/\(hex.prefix(2))/\(hex)/data"),
                          let doc = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
                          (doc["subject"] as? [String: Any])?["digest"] as? String == digest else { continue }
                    let type = doc["artifactType"] as? String ?? ((doc["config"] as? [String: Any])?["mediaType"] as? String ?? "")
                    entries.append("{\"mediaType\":\"\(doc["mediaType"] as? String ?? "")\",\"digest\":\"sha256:\(hex)\",\"size\":\(bytes.count),\"artifactType\":\"\(type)\"}")
                }
                return .status(200, body: "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[\(entries.joined(separator: ","))]}")
            }
            if req.method == "PUT", let at = path.range(of: "/manifests/sha256:"),
               let subject = subjects["sha256:" + path[at.upperBound...]] {
                return .setHeader("OCI-Subject", subject)
            }
            return nil
        }
        return front
    }

    func testReferrersTravelThroughARegistryWithTheReferrersAPI() async throws {
        let a = try await registry(), c = try await registry(), b = try await registry()
        let image = TestImage.random(layerSizes: [1024], seed: 121)
        try await ImageSeeder.pushAsync(image, to: a.baseURL, repository: "dev/app", tag: "1")
        let src = TestRegistryClient(baseURL: a.baseURL)
        defer { src.close() }
        let sbom = try pushReferrer(src, repository: "dev/app", subject: image.manifests[0], artifactType: "application/spdx+json", content: "sbom")
        try putFallbackIndex(src, repository: "dev/app", subject: image.digest, entries: [(sbom.bytes, sbom.digest, "application/spdx+json")])
        let front = try referrersFront(c, subjects: [sbom.digest: image.digest])

        // Fallback tag → referrers API: the referrer goes in by digest, the registry indexes it, no fallback tag.
        let up = try await copy("\(a.host)/dev/app:1", "\(front.authority)/stage/app:1")
        XCTAssertEqual(up.exitCode, 0, up.stderrText)
        XCTAssertEqual(front.count(method: "PUT", pathContains: "/manifests/\(sbom.digest)", status: 201), 1)
        XCTAssertEqual(front.count(method: "PUT", pathContains: "/manifests/sha256-"), 0, "no fallback tag where the API exists")
        let listed = try await run("curl", ["-sf", "http://\(front.authority)/v2/stage/app/referrers/\(image.digest)"])
        XCTAssertTrue(listed.stdoutText.contains(sbom.digest), listed.stdoutText)

        // Referrers API → fallback tag: read through the API, written as the fallback index on docker-registry.
        let down = try await copy("\(front.authority)/stage/app:1", "\(b.host)/prod/app:1")
        XCTAssertEqual(down.exitCode, 0, down.stderrText)
        XCTAssertEqual(front.count(method: "GET", pathContains: "/referrers/\(image.digest)"), 2)
        let dst = TestRegistryClient(baseURL: b.baseURL)
        defer { dst.close() }
        XCTAssertEqual(try fallbackEntries(dst, repository: "prod/app", subject: image.digest), [sbom.digest])
        XCTAssertEqual(try dst.manifest(repository: "prod/app", reference: sbom.digest)?.bytes, sbom.bytes)
    }
}

// MARK: the gate with --platform, reports, reruns, paginated tag lists

extension AttachmentTests {
    func jsonObject(_ r: ProcessResult) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout)) as? [String: Any], r.stdoutText + r.stderrText)
    }

    func testPlatformPromotionAcceptsASignatureOnTheIndexNamedOrOnTheSelectedPlatform() async throws {
        let a = try await registry(), b = try await registry()
        let key = try await makeKey("release"), other = try await makeKey("other")
        // Signed only at the top (what `cosign sign` on a multi-arch tag does by default).
        let topSigned = TestImage.random(layerSizes: [1024], platforms: [.linuxAMD64, .linuxARM64], seed: 301)
        try await pushSigned(topSigned, to: a, repository: "dev/top", tag: "1",
                             signatures: [try await signatureFile(digest: topSigned.digest, identity: "\(a.host)/dev/top", key: key)])
        let arm = try XCTUnwrap(topSigned.manifests.first { $0.platform?.architecture == "arm64" })
        let ok = try await copy("\(a.host)/dev/top:1", "\(b.host)/prod/top:1",
                                ["--platform", "linux/arm64", "--require-signature", key.publicPath])
        XCTAssertEqual(ok.exitCode, 0, ok.stderrText)
        XCTAssertEqual(ok.stdoutText, "\(b.host)/prod/top@\(arm.digest)\n")

        // Signed only at one platform: that platform passes, the other is refused naming both digests checked.
        let platformSigned = TestImage.random(layerSizes: [1024], platforms: [.linuxAMD64, .linuxARM64], seed: 302)
        let arm2 = try XCTUnwrap(platformSigned.manifests.first { $0.platform?.architecture == "arm64" })
        let amd2 = try XCTUnwrap(platformSigned.manifests.first { $0.platform?.architecture == "amd64" })
        try await pushSigned(platformSigned, to: a, repository: "dev/plat", tag: "1", signatures: [],
                             instanceSignatures: [arm2.digest: [try await signatureFile(digest: arm2.digest, identity: "\(a.host)/dev/plat", key: key)]])
        let armOK = try await copy("\(a.host)/dev/plat:1", "\(b.host)/prod/plat:arm",
                                   ["--platform", "linux/arm64", "--require-signature", key.publicPath])
        XCTAssertEqual(armOK.exitCode, 0, armOK.stderrText)
        let puts = b.count(method: "PUT") + b.count(method: "POST")
        let amd = try await copy("\(a.host)/dev/plat:1", "\(b.host)/prod/plat:amd",
                                 ["--platform", "linux/amd64", "--require-signature", key.publicPath])
        XCTAssertEqual(amd.exitCode, 8, amd.stderrText)
        XCTAssertTrue(amd.stderrText.contains("selected platform manifest \(amd2.digest) (no sigstore signature)"), amd.stderrText)
        XCTAssertTrue(amd.stderrText.contains("nor on the index \(platformSigned.digest) (no sigstore signature)"), amd.stderrText)
        // The wrong key on a top-signed index: both digests named, the more telling reason kept.
        let wrong = try await copy("\(a.host)/dev/top:1", "\(b.host)/prod/top:2",
                                   ["--platform", "linux/arm64", "--require-signature", other.publicPath])
        XCTAssertEqual(wrong.exitCode, 8, wrong.stderrText)
        XCTAssertTrue(wrong.stderrText.contains(arm.digest) && wrong.stderrText.contains(topSigned.digest), wrong.stderrText)
        XCTAssertTrue(wrong.stderrText.contains("none by the required key"), wrong.stderrText)
        XCTAssertEqual(wrong.stderrText.split(separator: "\n").filter { !$0.contains("warning") }.count, 1, wrong.stderrText)
        XCTAssertTrue(b.waitForAccessLog { _ in true })
        XCTAssertEqual(b.count(method: "PUT") + b.count(method: "POST"), puts, "nothing written for refused platforms")
    }

    func testSignaturesAddedLaterTravelOnARerunAtMeasuredCostAndReportsCountThem() async throws {
        let a = try await registry(), b = try await registry()
        let first = try await makeKey("first"), second = try await makeKey("second")
        let image = TestImage.random(layerSizes: [1024], seed: 311)
        let identity = "\(a.host)/dev/app"
        try await pushSigned(image, to: a, repository: "dev/app", tag: "1",
                             signatures: [try await signatureFile(digest: image.digest, identity: identity, key: first)])
        let src = "\(a.host)/dev/app:1", dst = "\(b.host)/prod/app:1"
        let r1 = try await copy(src, dst, ["--json", "--record"])
        XCTAssertEqual(r1.exitCode, 0, r1.stderrText)
        let att1 = try XCTUnwrap(try jsonObject(r1)["attachments"] as? [String: Int])
        XCTAssertEqual(att1, ["signatures": 1, "attestations": 0, "sboms": 0, "referrers": 0, "records": 1, "alreadyPresent": 0])
        let human = try await copy(src, "\(b.host)/prod/human:1")
        XCTAssertTrue(human.stderrText.contains("attachments: 1 copied (1 .sig)"), human.stderrText)

        // Rerun, nothing new at the source: the destination is asked for the tag and the .sig only.
        func counted(_ extra: [String]) async throws -> (ProcessResult, source: Int, destination: Int) {
            XCTAssertTrue(a.waitForAccessLog { _ in true } && b.waitForAccessLog { _ in true })
            try await Task.sleep(for: .milliseconds(200))
            let (sa, sb) = (a.accessLog().count, b.accessLog().count)
            let r = try await copy(src, dst, extra)
            try await Task.sleep(for: .milliseconds(300))
            return (r, a.accessLog().count - sa, b.accessLog().count - sb)
        }
        let (r2, s2, d2) = try await counted(["--json"])
        XCTAssertEqual(r2.exitCode, 0, r2.stderrText)
        let o2 = try jsonObject(r2)
        XCTAssertEqual(o2["alreadyPresent"] as? Bool, true)
        XCTAssertEqual(o2["attachments"] as? [String: Int],
                       ["signatures": 1, "attestations": 0, "sboms": 0, "referrers": 0, "records": 0, "alreadyPresent": 1],
                       "the .sig is there already (the record lives at the destination only; no new record on a no-op)")
        // Source: manifest GET, tags list and referrers (in parallel), the .sig manifest; destination: HEAD of
        // the tag, GET of the .sig.
        XCTAssertEqual(s2, 4, "source requests on a no-op rerun")
        XCTAssertEqual(d2, 2, "destination requests on a no-op rerun")

        // A second signature added to the source later travels on the rerun (merged into the .sig).
        try await pushSigned(image, to: a, repository: "dev/app", tag: "1",
                             signatures: [try await signatureFile(digest: image.digest, identity: identity, key: second)])
        let r3 = try await copy(src, dst, ["--json"])
        XCTAssertEqual(r3.exitCode, 0, r3.stderrText)
        let o3 = try jsonObject(r3)
        XCTAssertEqual(o3["alreadyPresent"] as? Bool, true)
        XCTAssertEqual((o3["attachments"] as? [String: Int])?["alreadyPresent"], 0, "the .sig lacked the new signature")
        for key in [first, second] {
            let gate = try await copy(dst, "\(b.host)/check/app:1", ["--require-signature", key.publicPath, "--attachments", "none"])
            XCTAssertEqual(gate.exitCode, 0, gate.stderrText)
        }
        let out = try dir.subdirectory("rerun")
        let read = try await run("skopeo", ["copy", "--registries.d", try registriesD([b.host]), "--src-tls-verify=false",
                                            "docker://\(dst)", "dir:" + out])
        XCTAssertTrue(read.succeeded, read.stderrText)
        XCTAssertEqual(try signatures(in: out).count, 2, "skopeo finds both signatures at the destination")
        let human3 = try await copy(src, dst)
        XCTAssertEqual(human3.exitCode, 0, human3.stderrText)
        XCTAssertFalse(human3.stderrText.contains("attachments:"), "nothing new: nothing said: \(human3.stderrText)")

        // --attachments none keeps the one-HEAD no-op.
        let (r4, s4, d4) = try await counted(["--attachments", "none"])
        XCTAssertEqual(r4.exitCode, 0, r4.stderrText)
        XCTAssertEqual(s4, 1, "the source manifest only")
        XCTAssertEqual(d4, 1, "one HEAD")
        print("no-op rerun cost (signed image with a record): source \(s2), destination \(d2); --attachments none: \(s4), \(d4)")
    }

    func testAttachmentLookupFollowsAPaginatedTagList() async throws {
        let a = try await registry(), b = try await registry()
        let key = try await makeKey("release")
        let image = TestImage.random(layerSizes: [1024], seed: 321)
        try await pushSigned(image, to: a, repository: "dev/app", tag: "1",
                             signatures: [try await signatureFile(digest: image.digest, identity: "\(a.host)/dev/app", key: key)])
        let sig = sigTag(image.digest)
        // docker-registry 2.8 lists everything at once: a proxy serves the list in pages of 2, the .sig tag last.
        let all = ["0.1", "0.2", "0.3", "0.4", "1"] + [sig]
        var rules: [FaultProxy.Rule] = []
        for start in stride(from: 0, to: all.count, by: 2) {
            let page = Array(all[start..<min(start + 2, all.count)])
            let after = start == 0 ? nil : all[start - 1]
            var faults: [FaultProxy.Fault] = []
            if start + 2 < all.count {
                faults.append(.setHeader("Link", "</v2/dev/app/tags/list?n=2&last=\(page.last!)>; rel=\"next\""))
            }
            faults.append(.status(200, body: "{\"name\":\"dev/app\",\"tags\":[\(page.map { "\"\($0)\"" }.joined(separator: ","))]}"))
            rules.append(FaultProxy.Rule(method: "GET", where: { r in
                r.path.hasPrefix("/v2/dev/app/tags/list")
                    && (after.map { r.path.contains("last=\($0)") } ?? !r.path.contains("last="))
            }, fault: .combine(faults)))
        }
        let proxy = try FaultProxy(upstream: a.baseURL, rules: rules)
        cleanups.append { proxy.stop() }
        let r = try await copy("\(proxy.authority)/dev/app:1", "\(b.host)/prod/app:1", ["--json"])
        XCTAssertEqual(r.exitCode, 0, r.stderrText)
        XCTAssertEqual((try jsonObject(r)["attachments"] as? [String: Int])?["signatures"], 1)
        let pages = proxy.log.filter { $0.path.contains("/tags/list") }
        XCTAssertEqual(pages.count, 3, "every page read: \(pages.map(\.path))")
        XCTAssertEqual(pages.filter { $0.path.contains("last=") }.count, 2, "followed the Link header")
        let destTags = try await tags(b, "prod/app")
        XCTAssertEqual(Set(destTags), ["1", sig], "the .sig listed on the last page travelled")
    }
}
