import Testing
@testable import OCIRegistry

private let hex64 = String(repeating: "f", count: 64)
private let sha = "sha256:" + hex64

struct ValidReference: Sendable, CustomTestStringConvertible {
    var input: String
    var registry: String?
    var repository: String
    var tag: String?
    var digest: String?
    var testDescription: String { input.count > 60 ? String(input.prefix(60)) + "…" : input }
}

private func ok(_ input: String, _ registry: String?, _ repository: String, tag: String? = nil, digest: String? = nil) -> ValidReference {
    ValidReference(input: input, registry: registry, repository: repository, tag: tag, digest: digest)
}

// Mostly from distribution/reference's reference_test.go and normalize_test.go, adapted to "no
// implicit docker.io" (host-less names keep registry == nil).
private let validCases: [ValidReference] = [
    ok("test_com", nil, "test_com"),
    ok("test.com:tag", nil, "test.com", tag: "tag"),
    ok("test.com:5000", nil, "test.com", tag: "5000"),
    ok("test.com/repo:tag", "test.com", "repo", tag: "tag"),
    ok("test:5000/repo", "test:5000", "repo"),
    ok("test:5000/repo:tag", "test:5000", "repo", tag: "tag"),
    ok("test:5000/repo@" + sha, "test:5000", "repo", digest: sha),
    ok("test:5000/repo:tag@" + sha, "test:5000", "repo", tag: "tag", digest: sha),
    ok("lowercase:Uppercase", nil, "lowercase", tag: "Uppercase"),
    ok(String(repeating: "a/", count: 127) + "a:tag-puts-this-over-max", nil,
       String(repeating: "a/", count: 127) + "a", tag: "tag-puts-this-over-max"),
    ok("sub-dom1.foo.com/bar/baz/quux", "sub-dom1.foo.com", "bar/baz/quux"),
    ok("sub-dom1.foo.com/bar/baz/quux:some-long-tag", "sub-dom1.foo.com", "bar/baz/quux", tag: "some-long-tag"),
    ok("b.gcr.io/test.example.com/my-app:test.example.com", "b.gcr.io", "test.example.com/my-app", tag: "test.example.com"),
    ok("xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com", "myimage", tag: "xn--n3h.com"),
    ok("xn--7o8h.com/myimage:xn--7o8h.com@sha512:" + String(repeating: "f", count: 128), "xn--7o8h.com", "myimage",
       tag: "xn--7o8h.com", digest: "sha512:" + String(repeating: "f", count: 128)),
    ok("foo_bar.com:8080", nil, "foo_bar.com", tag: "8080"),
    ok("foo/foo_bar.com:8080", nil, "foo/foo_bar.com", tag: "8080"),
    ok("192.168.1.1", nil, "192.168.1.1"),
    ok("192.168.1.1:tag", nil, "192.168.1.1", tag: "tag"),
    ok("192.168.1.1:5000", nil, "192.168.1.1", tag: "5000"),
    ok("192.168.1.1/repo", "192.168.1.1", "repo"),
    ok("192.168.1.1:5000/repo", "192.168.1.1:5000", "repo"),
    ok("[2001:db8::1]/repo", "[2001:db8::1]", "repo"),
    ok("[2001:db8:1:2:3:4:5:6]/repo:tag", "[2001:db8:1:2:3:4:5:6]", "repo", tag: "tag"),
    ok("[2001:db8::1]:5000/repo", "[2001:db8::1]:5000", "repo"),
    ok("[2001:db8::1]:5000/repo:tag", "[2001:db8::1]:5000", "repo", tag: "tag"),
    ok("[2001:db8::1]:5000/repo@" + sha, "[2001:db8::1]:5000", "repo", digest: sha),
    ok("[2001:db8::1]:5000/repo:tag@" + sha, "[2001:db8::1]:5000", "repo", tag: "tag", digest: sha),
    ok("[2001:db8::]:5000/repo", "[2001:db8::]:5000", "repo"),
    ok("[::1]:5000/repo", "[::1]:5000", "repo"),
    ok("[FC00::1]:5000/docker", "[fc00::1]:5000", "docker"),
    ok("docker://quay.io/proj/app:v1", "quay.io", "proj/app", tag: "v1"),
    ok("localhost/foo", "localhost", "foo"),
    ok("localhost:5000/foo/bar:1.0", "localhost:5000", "foo/bar", tag: "1.0"),
    ok("Uppercase/lowercase:tag", "uppercase", "lowercase", tag: "tag"),
    ok("Example.COM:5000/proj/app", "example.com:5000", "proj/app"),
    ok("a__b/c-d/e---f/g.h/i_j:___", nil, "a__b/c-d/e---f/g.h/i_j", tag: "___"),
    ok("nginx", nil, "nginx"),
    ok("library/nginx:1.25", nil, "library/nginx", tag: "1.25"),
    ok("docker.io/library/nginx@" + sha, "docker.io", "library/nginx", digest: sha),
    ok("registry.example.com/a/b/c/d/e:TAG_1.0-rc", "registry.example.com", "a/b/c/d/e", tag: "TAG_1.0-rc"),
    ok("repo@sha384:" + String(repeating: "0", count: 96), nil, "repo", digest: "sha384:" + String(repeating: "0", count: 96)),
    ok("repo@multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8", nil, "repo",
       digest: "multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8"),
    ok("127.0.0.1:5000/docker/docker", "127.0.0.1:5000", "docker/docker"),
    ok("192.168.0.1:8/debian", "192.168.0.1:8", "debian"),
    ok("default-route-openshift-image-registry.apps.ocp.example.com/proj/app:latest",
       "default-route-openshift-image-registry.apps.ocp.example.com", "proj/app", tag: "latest"),
    ok("quay.io:65535/x", "quay.io:65535", "x"),
    ok("quay.io/x:" + String(repeating: "t", count: 128), "quay.io", "x", tag: String(repeating: "t", count: 128)),
    ok("thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev", nil,
       "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev"),
    ok("0/1", nil, "0/1"),
]

private let invalidCases: [String] = [
    "",
    ":justtag",
    "@" + sha,
    "repo@sha256:" + String(repeating: "f", count: 63),
    "repo@sha256:" + String(repeating: "F", count: 64),
    "repo@sha256:" + String(repeating: "g", count: 64),
    "repo@sha256:" + String(repeating: "f", count: 65),
    "Uppercase:tag",
    "test:5000/Uppercase/lowercase:tag",
    String(repeating: "a/", count: 128) + "a:tag",
    "aa/asdf$$^/aa",
    "[2001:db8::1]",
    "[2001:db8::1]:5000",
    "[2001:db8::1]:tag",
    "[fe80::1%eth0]:5000/repo",
    "[fe80::1%@invalidzone]:5000/repo",
    "https://github.com/docker/docker",
    "docker/Docker",
    "-docker",
    "-docker/docker",
    "-docker.io/docker/docker",
    "docker:///docker/docker",
    "docker.io/docker/Docker",
    "docker.io/docker///docker",
    "[fc00::1]",
    "[fc00::1]:5000",
    "fc00::1:5000/debian",
    "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
    "repo:",
    "repo@",
    "repo:tag@",
    "quay.io/",
    "/repo",
    "repo/",
    "quay.io//repo",
    "quay.io/repo ",
    " quay.io/repo",
    "quay.io/re po",
    "quay.io/repo\n",
    "quay.io/repo\u{0}",
    "quay.io/r\u{1b}[31mepo",
    "quay.io/répo",
    "quay.io/repo\u{202e}",
    "quay.io:99999/repo",
    "quay.io:65536/repo",
    "quay.io:0/repo",
    "quay.io:abc/repo",
    "quay.io:/repo",
    "quay.io:5000:6000/repo",
    "quay..io/repo",
    ".quay.io/repo",
    "quay.io./repo",
    "-quay.io/repo",
    "quay-.io/repo",
    "qu_ay.io/repo",
    "quay.io/repo:" + String(repeating: "t", count: 129),
    "quay.io/repo:-tag",
    "quay.io/repo:.tag",
    "quay.io/repo:ta/g",
    "quay.io/repo:t@g",
    "quay.io/repo@sha256:abc@" + sha,
    "quay.io/repo@SHA256:" + hex64,
    "quay.io/repo@sha256",
    "quay.io/repo@:" + hex64,
    "quay.io/repo@sha256:",
    "quay.io/repo@-sha:abc",
    "quay.io/repo@sha256+:abc",
    "quay.io/repo@foo:a/b",
    "quay.io/a..b",
    "quay.io/a._b",
    "quay.io/a___b",
    "quay.io/_a",
    "quay.io/a_",
    "quay.io/a-",
    "quay.io/a.",
    "docker://",
    "DOCKER://quay.io/repo",
    "oci:layout:v1",
    "[::1]5000/repo",
    "[::1/repo",
    "[zz::1]:5000/repo",
    "[]:5000/repo",
    "[1.2.3.4]/repo",
    "quay.io/repo\t:tag",
    "quay.io/repo:tag@" + sha + "\u{7f}",
    "quay.io/repo:tag:tag2",
    "\"quay.io/repo\"",
    "quay.io\\repo",
]

@Suite struct ReferenceTests {
    @Test(arguments: validCases)
    func parsesValid(_ c: ValidReference) throws {
        let r = try ImageReference.parse(c.input)
        #expect(r.registry == c.registry)
        #expect(r.repository == c.repository)
        #expect(r.tag == c.tag)
        #expect(r.digest == c.digest)
        // The canonical text parses back to the same value, except for a single-label host that
        // was recognised only by its upper case (lower-casing it makes it look like a path).
        if c.input != "Uppercase/lowercase:tag" {
            #expect(try ImageReference.parse(r.description) == r)
        }
    }

    @Test(arguments: invalidCases)
    func rejectsInvalid(_ input: String) {
        do {
            let r = try ImageReference.parse(input)
            Issue.record("accepted \(input.debugDescription) as \(r)")
        } catch let e as ReferenceError {
            #expect(e.input == input)
            #expect(!e.reason.isEmpty)
            let text = e.description
            #expect(text.hasPrefix("invalid image reference \""))
            // Printable inputs are quoted verbatim; others are escaped, never echoed raw.
            let printable = input.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value < 0x7F && $0 != "\"" && $0 != "\\" }
            if printable && input.count <= 200 {
                #expect(text.contains("\"\(input)\""))
            }
            #expect(!text.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F || $0.value == 0x202E })
        } catch {
            Issue.record("unexpected error type \(error)")
        }
    }

    @Test func specificReasons() throws {
        func reason(_ s: String) -> String {
            do { _ = try ImageReference.parse(s); return "" } catch let e as ReferenceError { return e.reason } catch { return "" }
        }
        #expect(reason("").contains("empty"))
        #expect(reason("quay.io/Repo").contains("lower-case"))
        #expect(reason("quay.io:70000/r").contains("port"))
        #expect(reason("quay.io/r:").contains("tag"))
        #expect(reason("quay.io/r@").contains("digest"))
        #expect(reason("quay.io/r@sha256:abc").contains("64"))
        #expect(reason("quay.io//r").contains("empty path component"))
        #expect(reason(String(repeating: "a/", count: 128) + "a").contains("255"))
        #expect(reason("a b").contains("whitespace"))
        #expect(reason("a\u{1}b").contains("control"))
        #expect(reason(hex64).contains("image ID"))
    }

    @Test func longInputIsTruncatedInMessage() {
        let input = "quay.io/" + String(repeating: "A", count: 5000)
        do {
            _ = try ImageReference.parse(input)
            Issue.record("accepted")
        } catch {
            #expect("\(error)".count < 600)
        }
    }

    @Test func defaultRegistryNormalisation() throws {
        #expect(try ImageReference.parse("nginx").withDefaultRegistry().description == "docker.io/library/nginx")
        #expect(try ImageReference.parse("nginx:1").withDefaultRegistry().description == "docker.io/library/nginx:1")
        #expect(try ImageReference.parse("bitnami/nginx").withDefaultRegistry().description == "docker.io/bitnami/nginx")
        #expect(try ImageReference.parse("docker.io/nginx").withDefaultRegistry().repository == "library/nginx")
        #expect(try ImageReference.parse("index.docker.io/nginx").withDefaultRegistry().repository == "library/nginx")
        #expect(try ImageReference.parse("quay.io/nginx").withDefaultRegistry().repository == "nginx")
        let own = try ImageReference.parse("proj/app:v1").withDefaultRegistry("Registry.Example.com:5000")
        #expect(own.registry == "registry.example.com:5000")
        #expect(own.repository == "proj/app")
        // Not applied unless asked.
        #expect(try ImageReference.parse("nginx").registry == nil)
    }

    @Test func apiHostAndIdentifier() throws {
        #expect(try ImageReference.parse("docker.io/library/nginx").apiHost == "registry-1.docker.io")
        #expect(try ImageReference.parse("index.docker.io/library/nginx").apiHost == "registry-1.docker.io")
        #expect(try ImageReference.parse("registry-1.docker.io/library/nginx").apiHost == "registry-1.docker.io")
        #expect(try ImageReference.parse("Quay.IO:443/a/b").apiHost == "quay.io:443")
        #expect(try ImageReference.parse("a/b").apiHost == nil)
        #expect(try ImageReference.parse("q.io/a").identifier == "latest")
        #expect(try ImageReference.parse("q.io/a:v2").identifier == "v2")
        #expect(try ImageReference.parse("q.io/a:v2@" + sha).identifier == sha)
        #expect(try ImageReference.parse("docker://Q.io:5000/a/b:v@" + sha).description == "q.io:5000/a/b:v@" + sha)
        #expect(try ImageReference.parse("q.io/a/b:v").name == "q.io/a/b")
    }

    @Test func digestValidation() {
        #expect(ImageReference.isValidDigest(sha))
        #expect(ImageReference.isValidDigest("sha512:" + String(repeating: "a", count: 128)))
        #expect(ImageReference.isValidDigest("blake3:" + String(repeating: "a", count: 64)))
        #expect(!ImageReference.isValidDigest("sha256:" + String(repeating: "A", count: 64)))
        #expect(!ImageReference.isValidDigest("sha256:abc"))
        #expect(!ImageReference.isValidDigest("sha512:" + hex64))
        #expect(!ImageReference.isValidDigest(""))
        #expect(!ImageReference.isValidDigest(hex64))
        #expect(!ImageReference.isValidDigest("Sha256:" + hex64))
        #expect(!ImageReference.isValidDigest("sha256:" + hex64 + "\n"))
        #expect(!ImageReference.isValidDigest("foo:"))
        #expect(!ImageReference.isValidDigest(":abc"))
    }
}
