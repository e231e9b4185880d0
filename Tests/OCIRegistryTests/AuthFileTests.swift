import Foundation
import Testing
@testable import OCIRegistry

/// A private scratch directory per test (tests run in parallel).
private final class Scratch {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.path + "/imgpromote-authfile-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    @discardableResult
    func write(_ relative: String, _ content: String, mode: Int = 0o600) throws -> String {
        try write(relative, Array(content.utf8), mode: mode)
    }

    @discardableResult
    func write(_ relative: String, _ bytes: [UInt8], mode: Int = 0o600) throws -> String {
        let full = path + "/" + relative
        try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        // O_CLOEXEC: a helper spawned by a parallel test must not inherit this write descriptor
        // (exec of a file open for writing fails with ETXTBSY).
        let fd = open(full, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        defer { close(fd) }
        let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard n == bytes.count else { throw POSIXError(.EIO) }
        guard fchmod(fd, mode_t(mode)) == 0 else { throw POSIXError(.EPERM) }
        return full
    }

    /// Installs `docker-credential-NAME` in <scratch>/bin; returns an environment whose PATH is that dir.
    func helper(_ body: String, name: String = "test") throws -> [String: String] {
        try write("bin/docker-credential-\(name)", "#!/bin/sh\n" + body + "\n", mode: 0o755)
        return ["PATH": path + "/bin:/usr/bin:/bin", "HOME": path + "/home"]
    }

    func read(_ full: String) throws -> String { try String(contentsOfFile: full, encoding: .utf8) }

    func mode(_ full: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: full)[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }

    func listing(_ dir: String) throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: dir).sorted() }
}

private func b64(_ s: String) -> String { Data(s.utf8).base64EncodedString() }

private func load(_ path: String, env: [String: String] = [:]) throws -> AuthFile {
    try AuthFile.load(explicitPath: path, environment: env)
}

private func authError(_ body: () throws -> Void) -> AuthFileError? {
    do {
        try body()
        return nil
    } catch let e as AuthFileError {
        return e
    } catch {
        Issue.record("unexpected error \(error)")
        return nil
    }
}

private func authErrorAsync(_ body: () async throws -> Void) async -> AuthFileError? {
    do {
        try await body()
        return nil
    } catch let e as AuthFileError {
        return e
    } catch {
        Issue.record("unexpected error \(error)")
        return nil
    }
}

private func cred(_ u: String?, _ p: String?, token: String? = nil) -> RegistryCredential {
    RegistryCredential(username: u, password: p, identityToken: token)
}

@Suite struct AuthFileLoadingTests {
    @Test func explicitFileProblems() throws {
        let s = try Scratch()
        let missing = s.path + "/nope.json"
        let e1 = try #require(authError { _ = try load(missing) })
        #expect(e1.path == missing)
        #expect(e1.description.contains("does not exist"))

        let e2 = try #require(authError { _ = try load(s.path) })
        #expect(e2.reason.contains("not a regular file"))

        let secretFile = try s.write("bad.json", #"{"auths": {"quay.io": {"auth": "SUPERSECRET"}"#)
        let e3 = try #require(authError { _ = try load(secretFile) })
        #expect(e3.reason.contains("invalid JSON"))
        #expect(!e3.description.contains("SUPERSECRET"))

        // A FIFO must be refused, not block the process.
        let fifo = s.path + "/fifo.json"
        #expect(mkfifo(fifo, 0o600) == 0)
        let e4 = try #require(authError { _ = try load(fifo) })
        #expect(e4.reason.contains("not a regular file"))

        let unreadable = try s.write("unreadable.json", "{}", mode: 0o000)
        if getuid() != 0 {  // root reads anything
            #expect(authError { _ = try load(unreadable) }?.reason.contains("cannot open") == true)
        }

        let top = try s.write("array.json", "[]")
        #expect(authError { _ = try load(top) }?.reason.contains("not a JSON object") == true)
        let auths = try s.write("auths.json", #"{"auths": []}"#)
        #expect(authError { _ = try load(auths) }?.reason.contains("\"auths\" is not an object") == true)
        let entry = try s.write("entry.json", #"{"auths": {"quay.io": "x"}}"#)
        #expect(authError { _ = try load(entry) }?.reason.contains("not an object") == true)
        let helpers = try s.write("helpers.json", #"{"credHelpers": {"quay.io": 1}}"#)
        #expect(authError { _ = try load(helpers) } != nil)
        let store = try s.write("store.json", #"{"credsStore": true}"#)
        #expect(authError { _ = try load(store) } != nil)
    }

    @Test func emptyAndUnknown() async throws {
        let s = try Scratch()
        #expect(try await load(s.write("empty.json", "")).credential(host: "quay.io", repository: nil) == nil)
        #expect(try await load(s.write("blank.json", " \n\t")).credential(host: "quay.io", repository: nil) == nil)
        #expect(try await load(s.write("obj.json", "{}")).credential(host: "quay.io", repository: nil) == nil)
        let unknown = try s.write("unknown.json", """
        {"HttpHeaders": {"User-Agent": "x"}, "psFormat": "table", "experimental": "enabled", "currentContext": "x",
         "auths": {"quay.io": {"auth": "\(b64("u:p"))", "email": "a@b.c", "extra": [1, {"k": null}]}},
         "proxies": {"default": {"httpProxy": "http://p:3128"}}, "nulls": null, "n": -1.5e3}
        """)
        #expect(try await load(unknown).credential(host: "quay.io", repository: nil) == cred("u", "p"))
        let bom = try s.write("bom.json", [0xEF, 0xBB, 0xBF] + Array(#"{"auths":{"q.io":{"auth":"\#(b64("a:b"))"}}}"#.utf8))
        #expect(try await load(bom).credential(host: "q.io", repository: nil) == cred("a", "b"))
    }

    @Test func hugeFile() throws {
        let s = try Scratch()
        let big = try s.write("big.json", #"{"pad":""# + String(repeating: "a", count: AuthFile.maxFileSize) + #""}"#)
        let e = try #require(authError { _ = try load(big) })
        #expect(e.reason.contains("limit"))
    }

    @Test func hostKeys() async throws {
        let s = try Scratch()
        let f = try s.write("auth.json", """
        {"auths": {
          "quay.io": {"auth": "\(b64("quay:pw"))"},
          "https://registry.example.com/v1/": {"auth": "\(b64("legacy:pw"))"},
          "localhost:5000": {"auth": "\(b64("local:pw"))"},
          "https://index.docker.io/v1/": {"auth": "\(b64("hub:pw"))"},
          "HTTP://Mixed.Example.COM:8443": {"auth": "\(b64("mixed:pw"))"},
          "[::1]:5000": {"auth": "\(b64("v6:pw"))"}
        }}
        """)
        let a = try load(f)
        #expect(try await a.credential(host: "quay.io", repository: "ns/app") == cred("quay", "pw"))
        #expect(try await a.credential(host: "QUAY.IO", repository: nil) == cred("quay", "pw"))
        #expect(try await a.credential(host: "registry.example.com", repository: "x") == cred("legacy", "pw"))
        #expect(try await a.credential(host: "localhost:5000", repository: "x") == cred("local", "pw"))
        #expect(try await a.credential(host: "localhost", repository: "x") == nil)
        #expect(try await a.credential(host: "localhost:5001", repository: "x") == nil)
        for hub in ["docker.io", "index.docker.io", "registry-1.docker.io"] {
            #expect(try await a.credential(host: hub, repository: "library/nginx") == cred("hub", "pw"))
        }
        #expect(try await a.credential(host: "mixed.example.com:8443", repository: nil) == cred("mixed", "pw"))
        #expect(try await a.credential(host: "[::1]:5000", repository: nil) == cred("v6", "pw"))
        #expect(try await a.credential(host: "quay.io.evil.com", repository: nil) == nil)
        #expect(try await a.credential(host: "example.com", repository: nil) == nil)
    }

    @Test func repositoryScopedKeys() async throws {
        let s = try Scratch()
        let f = try s.write("auth.json", """
        {"auths": {
          "quay.io/ns/repo": {"auth": "\(b64("C:c"))"},
          "quay.io": {"auth": "\(b64("A:a"))"},
          "quay.io/ns": {"auth": "\(b64("B:b"))"},
          "quay.io/empty": {},
          "docker.io/library/nginx": {"auth": "\(b64("D:d"))"},
          "ghcr.io/org/": {"auth": "\(b64("G:g"))"}
        }}
        """)
        let a = try load(f)
        #expect(try await a.credential(host: "quay.io", repository: "ns/repo") == cred("C", "c"))
        #expect(try await a.credential(host: "quay.io", repository: "ns/repo/sub") == cred("C", "c"))
        #expect(try await a.credential(host: "quay.io", repository: "ns/repo2") == cred("B", "b"))
        #expect(try await a.credential(host: "quay.io", repository: "ns") == cred("B", "b"))
        #expect(try await a.credential(host: "quay.io", repository: "nsx/repo") == cred("A", "a"))
        #expect(try await a.credential(host: "quay.io", repository: "other") == cred("A", "a"))
        #expect(try await a.credential(host: "quay.io", repository: nil) == cred("A", "a"))
        // An empty (credsStore placeholder) entry falls through to the less specific one.
        #expect(try await a.credential(host: "quay.io", repository: "empty/x") == cred("A", "a"))
        #expect(try await a.credential(host: "registry-1.docker.io", repository: "nginx") == cred("D", "d"))
        #expect(try await a.credential(host: "docker.io", repository: "library/nginx") == cred("D", "d"))
        #expect(try await a.credential(host: "docker.io", repository: "library/redis") == nil)
        #expect(try await a.credential(host: "ghcr.io", repository: "org/x") == cred("G", "g"))
        #expect(try await a.credential(host: "ghcr.io", repository: "orgx") == nil)
    }

    @Test func entryForms() async throws {
        let s = try Scratch()
        let f = try s.write("auth.json", """
        {"auths": {
          "colon.io": {"auth": "\(b64("user:pa:ss:"))"},
          "fields.io": {"username": "fu", "password": "fp"},
          "token.io": {"auth": "\(b64("tu:"))", "identitytoken": "refresh-123"},
          "onlytoken.io": {"identitytoken": "rt"},
          "unpadded.io": {"auth": "\(b64("ab:c").replacingOccurrences(of: "=", with: ""))"},
          "wrapped.io": {"auth": "\(b64("wrapped:user:pw").prefix(8))\\n\(b64("wrapped:user:pw").dropFirst(8))"},
          "emptypw.io": {"auth": "\(b64("user:"))"},
          "unicode.io": {"auth": "\(b64("jürgen:pässwörd✓"))"},
          "both.io": {"auth": "\(b64("a:b"))", "username": "ignored", "password": "ignored"},
          "nulls.io": {"auth": null, "username": "n", "password": null}
        }}
        """)
        let a = try load(f)
        #expect(try await a.credential(host: "colon.io", repository: nil) == cred("user", "pa:ss:"))
        #expect(try await a.credential(host: "fields.io", repository: nil) == cred("fu", "fp"))
        #expect(try await a.credential(host: "token.io", repository: nil) == cred("tu", nil, token: "refresh-123"))
        #expect(try await a.credential(host: "onlytoken.io", repository: nil) == cred(nil, nil, token: "rt"))
        #expect(try await a.credential(host: "unpadded.io", repository: nil) == cred("ab", "c"))
        #expect(try await a.credential(host: "wrapped.io", repository: nil) == cred("wrapped", "user:pw"))
        #expect(try await a.credential(host: "emptypw.io", repository: nil) == cred("user", nil))
        #expect(try await a.credential(host: "unicode.io", repository: nil) == cred("jürgen", "pässwörd✓"))
        #expect(try await a.credential(host: "both.io", repository: nil) == cred("a", "b"))
        #expect(try await a.credential(host: "nulls.io", repository: nil) == cred("n", nil))
    }

    @Test(arguments: [
        ("!!!notbase64", "not valid base64"),
        ("dXNlcg=", "not valid base64"),                 // bad padding
        ("dXNlc", "not valid base64"),                   // 4n+1 characters
        ("dX=Nlcg==", "not valid base64"),               // data after padding
        ("dXNlcg==", "user:password"),                   // "user": no colon
        ("/w==", "UTF-8"),                               // 0xFF
    ])
    func badAuthValues(_ value: String, _ expected: String) async throws {
        let s = try Scratch()
        let f = try s.write("auth.json", #"{"auths": {"bad.io": {"auth": "\#(value)"}, "good.io": {"auth": "\#(b64("g:g"))"}}}"#)
        let a = try load(f)  // a bad entry does not break the others
        #expect(try await a.credential(host: "good.io", repository: nil) == cred("g", "g"))
        let e = try #require(await authErrorAsync { _ = try await a.credential(host: "bad.io", repository: nil) })
        #expect(e.path == f)
        #expect(e.reason.contains(expected))
        #expect(e.reason.contains("\"bad.io\""))
        if value.count > 4 { #expect(!e.description.contains(value)) }
    }

    @Test func nonStringFields() async throws {
        let s = try Scratch()
        let f = try s.write("auth.json", #"{"auths": {"a.io": {"auth": 12}, "b.io": {"identitytoken": {}}, "c.io": {"username": ["x"]}}}"#)
        let a = try load(f)
        for h in ["a.io", "b.io", "c.io"] {
            #expect(await authErrorAsync { _ = try await a.credential(host: h, repository: nil) }?.reason.contains("not a string") == true)
        }
    }

    @Test func defaultLocations() async throws {
        let s = try Scratch()
        let home = s.path + "/home"
        let run = s.path + "/run"
        try s.write("run/containers/auth.json", #"{"auths": {"a.io": {"auth": "\#(b64("run:1"))"}}}"#)
        try s.write("home/.config/containers/auth.json", #"{"auths": {"a.io": {"auth": "\#(b64("cfg:1"))"}, "b.io": {"auth": "\#(b64("cfg:2"))"}}}"#)
        try s.write("home/.docker/config.json", #"{"auths": {"b.io": {"auth": "\#(b64("docker:2"))"}, "c.io": {"auth": "\#(b64("docker:3"))"}}}"#)
        try s.write("dockercfg/config.json", #"{"auths": {"c.io": {"auth": "\#(b64("dcfg:3"))"}}}"#)
        try s.write("override.json", #"{"auths": {"d.io": {"auth": "\#(b64("override:4"))"}}}"#)
        try s.write("xdg/containers/auth.json", #"{"auths": {"b.io": {"auth": "\#(b64("xdg:2"))"}}}"#)

        var env = ["HOME": home, "XDG_RUNTIME_DIR": run]
        var a = try AuthFile.load(explicitPath: nil, environment: env)
        #expect(a.paths == [run + "/containers/auth.json", home + "/.config/containers/auth.json", home + "/.docker/config.json"])
        #expect(try await a.credential(host: "a.io", repository: nil) == cred("run", "1"))      // first file wins
        #expect(try await a.credential(host: "b.io", repository: nil) == cred("cfg", "2"))      // falls through
        #expect(try await a.credential(host: "c.io", repository: nil) == cred("docker", "3"))
        #expect(try await a.credential(host: "d.io", repository: nil) == nil)

        env["DOCKER_CONFIG"] = s.path + "/dockercfg"
        env["XDG_CONFIG_HOME"] = s.path + "/xdg"
        a = try AuthFile.load(explicitPath: nil, environment: env)
        #expect(try await a.credential(host: "b.io", repository: nil) == cred("xdg", "2"))
        #expect(try await a.credential(host: "c.io", repository: nil) == cred("dcfg", "3"))

        // REGISTRY_AUTH_FILE replaces the XDG_RUNTIME_DIR file; the others still follow.
        env["REGISTRY_AUTH_FILE"] = s.path + "/override.json"
        a = try AuthFile.load(explicitPath: nil, environment: env)
        #expect(try await a.credential(host: "d.io", repository: nil) == cred("override", "4"))
        #expect(try await a.credential(host: "a.io", repository: nil) == nil)
        #expect(try await a.credential(host: "c.io", repository: nil) == cred("dcfg", "3"))

        // An explicit path is used alone.
        a = try AuthFile.load(explicitPath: home + "/.docker/config.json", environment: env)
        #expect(a.paths == [home + "/.docker/config.json"])
        #expect(try await a.credential(host: "d.io", repository: nil) == nil)
        #expect(try await a.credential(host: "b.io", repository: nil) == cred("docker", "2"))

        // Nothing configured, or only missing files: empty, no error.
        #expect(try AuthFile.load(explicitPath: nil, environment: [:]).paths.isEmpty)
        #expect(try AuthFile.load(explicitPath: nil, environment: ["HOME": s.path + "/none",
                                                                   "REGISTRY_AUTH_FILE": s.path + "/none.json"]).paths.isEmpty)
        // A broken default file is reported.
        try s.write("broken/.docker/config.json", "{nope")
        #expect(authError { _ = try AuthFile.load(explicitPath: nil, environment: ["HOME": s.path + "/broken"]) } != nil)
    }
}

@Suite struct CredentialHelperTests {
    static let echoHelper = """
    [ "$#" = 1 ] && [ "$1" = get ] || { echo "bad args: $*" >&2; exit 9; }
    server=$(cat)
    printf '{"ServerURL":"%s","Username":"u-%s","Secret":"s3cr:et"}' "$server" "$server"
    """

    @Test func credHelperGetsHostOnStdin() async throws {
        let s = try Scratch()
        let env = try s.helper(Self.echoHelper)
        let f = try s.write("config.json", """
        {"credHelpers": {"quay.io:5000": "test", "https://gcr.io": "test", "docker.io": "test"},
         "auths": {"quay.io:5000": {"auth": "\(b64("file:pw"))"}}}
        """)
        let a = try load(f, env: env)
        #expect(try await a.credential(host: "quay.io:5000", repository: "a/b") == cred("u-quay.io:5000", "s3cr:et"))
        #expect(try await a.credential(host: "GCR.io", repository: nil) == cred("u-gcr.io", "s3cr:et"))
        #expect(try await a.credential(host: "index.docker.io", repository: nil) == cred("u-https://index.docker.io/v1/", "s3cr:et"))
    }

    @Test func tokenUsername() async throws {
        let s = try Scratch()
        let env = try s.helper(#"cat >/dev/null; printf '{"ServerURL":"x","Username":"<token>","Secret":"refresh-xyz"}'"#)
        let a = try load(s.write("c.json", #"{"credHelpers": {"acr.io": "test"}}"#), env: env)
        #expect(try await a.credential(host: "acr.io", repository: nil) == cred(nil, nil, token: "refresh-xyz"))
    }

    @Test(arguments: ["garbage SECRETVALUE", "", "[]", #"{"Username": 1, "Secret": "SECRETVALUE"}"#, "{\"Secret\":\"SECRETVALUE\""])
    func garbageOutput(_ output: String) async throws {
        let s = try Scratch()
        let env = try s.helper("cat >/dev/null; printf '%s' '\(output)'")
        let a = try load(s.write("c.json", #"{"credHelpers": {"h.io": "test"}}"#), env: env)
        let e = try #require(await authErrorAsync { _ = try await a.credential(host: "h.io", repository: nil) })
        #expect(e.path == "docker-credential-test")
        #expect(!e.description.contains("SECRETVALUE"))
    }

    @Test func emptySecretIsNoCredential() async throws {
        let s = try Scratch()
        let env = try s.helper(#"cat >/dev/null; printf '{"Username":"u","Secret":""}'"#)
        let a = try load(s.write("c.json", #"{"credHelpers": {"h.io": "test"}}"#), env: env)
        #expect(try await a.credential(host: "h.io", repository: nil) == nil)
    }

    @Test func notFoundFallsBackToAuths() async throws {
        let s = try Scratch()
        let env = try s.helper("cat >/dev/null; echo 'credentials not found in native keychain'; exit 1")
        let a = try load(s.write("c.json", """
        {"credHelpers": {"h.io": "test", "n.io": "test"}, "auths": {"h.io": {"auth": "\(b64("file:pw"))"}}}
        """), env: env)
        #expect(try await a.credential(host: "h.io", repository: nil) == cred("file", "pw"))
        #expect(try await a.credential(host: "n.io", repository: nil) == nil)
    }

    @Test func failureIsReported() async throws {
        let s = try Scratch()
        let env = try s.helper("cat >/dev/null; echo 'keychain locked' >&2; exit 3")
        let a = try load(s.write("c.json", #"{"credHelpers": {"h.io": "test"}}"#), env: env)
        let e = try #require(await authErrorAsync { _ = try await a.credential(host: "h.io", repository: nil) })
        #expect(e.description == "docker-credential-test: exited with status 3: keychain locked")

        let env2 = try s.helper("kill -9 $$", name: "sig")
        let b = try load(s.write("c2.json", #"{"credHelpers": {"h.io": "sig"}}"#), env: env2)
        #expect(await authErrorAsync { _ = try await b.credential(host: "h.io", repository: nil) }?.reason.contains("signal 9") == true)
    }

    /// We ignore SIGINT/SIGTERM (dispatch sources) and maybe SIGPIPE; a helper starts with the defaults.
    @Test func helperStartsWithDefaultSignalDispositions() async throws {
        let s = try Scratch()
        let env = try s.helper(#"cat >/dev/null; printf '{"Username":"u","Secret":"ign-%s-blk-%s"}' "$(awk '/^SigIgn/{print $2}' /proc/$$/status)" "$(awk '/^SigBlk/{print $2}' /proc/$$/status)""#)
        let a = try load(s.write("c.json", #"{"credHelpers": {"h.io": "test"}}"#), env: env)
        let saved = [SIGINT, SIGTERM, SIGPIPE].map { ($0, signal($0, SIG_IGN)) }
        defer { for (sig, handler) in saved { signal(sig, handler) } }
        let secret = try await a.credential(host: "h.io", repository: nil)?.password ?? ""
        let parts = secret.split(separator: "-")
        try #require(parts.count == 4, "\(secret)")
        let ignored = UInt64(parts[1], radix: 16) ?? .max
        for sig in [SIGINT, SIGTERM, SIGPIPE] {
            #expect(ignored & (1 << UInt64(sig - 1)) == 0, "signal \(sig) ignored in the helper: \(secret)")
        }
        #expect(UInt64(parts[3], radix: 16) == 0, "no signal blocked in the helper: \(secret)")
    }

    @Test func hangingHelperTimesOut() async throws {
        let s = try Scratch()
        _ = try s.helper("trap '' TERM; cat >/dev/null; sleep 20")
        let start = ContinuousClock.now
        let r = try await CredentialHelper.run(executable: s.path + "/bin/docker-credential-test", arguments: ["docker-credential-test", "get"],
                                         input: Array("h.io".utf8), environment: ["PATH": "/usr/bin:/bin"], timeoutSeconds: 1)
        #expect(r.timedOut)
        #expect(ContinuousClock.now - start < .seconds(8))
    }

    @Test func missingHelperIsNoCredential() async throws {
        let s = try Scratch()
        let a = try load(s.write("c.json", #"{"credHelpers": {"h.io": "absent"}, "credsStore": "alsoabsent"}"#),
                         env: ["PATH": s.path + "/bin:/nonexistent"])
        #expect(try await a.credential(host: "h.io", repository: nil) == nil)
        #expect(try await a.credential(host: "x.io", repository: nil) == nil)
        // Not executable: treated as not installed.
        try s.write("bin/docker-credential-noexec", "#!/bin/sh\nexit 0\n", mode: 0o644)
        let b = try load(s.write("c2.json", #"{"credsStore": "noexec"}"#), env: ["PATH": s.path + "/bin"])
        #expect(try await b.credential(host: "x.io", repository: nil) == nil)
    }

    @Test(arguments: ["../../bin/sh", "a/b", "x y", "tab\t", ""])
    func hostileHelperNames(_ name: String) async throws {
        let s = try Scratch()
        let escaped = name.replacingOccurrences(of: "\t", with: "\\t")
        let a = try load(s.write("c.json", #"{"credsStore": "\#(escaped)", "credHelpers": {"h.io": "\#(escaped)"}}"#),
                         env: ["PATH": "/usr/bin:/bin"])
        if name.isEmpty {
            #expect(try await a.credential(host: "h.io", repository: nil) == nil)  // empty helper = none configured
        } else {
            #expect(await authErrorAsync { _ = try await a.credential(host: "h.io", repository: nil) }?.reason.contains("invalid credential helper name") == true)
        }
    }

    @Test func credsStoreOrder() async throws {
        let s = try Scratch()
        let env = try s.helper(Self.echoHelper)
        try s.write("bin/docker-credential-explode", "#!/bin/sh\necho must-not-run >&2\nexit 7\n", mode: 0o755)
        // auths entries beat credsStore (no spawn); empty placeholders defer to it.
        let a = try load(s.write("c.json", """
        {"credsStore": "test", "auths": {"file.io": {"auth": "\(b64("file:pw"))"}, "https://index.docker.io/v1/": {}}}
        """), env: env)
        #expect(try await a.credential(host: "file.io", repository: nil) == cred("file", "pw"))
        #expect(try await a.credential(host: "store.io:444", repository: nil) == cred("u-store.io:444", "s3cr:et"))
        #expect(try await a.credential(host: "registry-1.docker.io", repository: "library/x")
                == cred("u-https://index.docker.io/v1/", "s3cr:et"))
        let b = try load(s.write("c2.json", #"{"credsStore": "explode", "auths": {"file.io": {"auth": "\#(b64("f:p"))"}}}"#), env: env)
        #expect(try await b.credential(host: "file.io", repository: nil) == cred("f", "p"))
    }

    @Test func helperThatIgnoresStdinCannotKillUs() async throws {
        let s = try Scratch()
        let script = try s.write("bin/quick", "#!/bin/sh\nexit 0\n", mode: 0o755)
        let big = [UInt8](repeating: 0x61, count: 4 << 20)
        let r = try await CredentialHelper.run(executable: script, arguments: ["quick"], input: big, environment: [:])
        #expect(r.status == 0)
    }

    @Test func noDeadlockOnLargeOutput() async throws {
        let s = try Scratch()
        let env = try s.helper("""
        cat >/dev/null
        i=0; while [ $i -lt 3000 ]; do echo "noise line $i with some padding to fill the buffer quickly........" >&2; i=$((i+1)); done
        printf '{"Username":"u","Secret":"s"}'
        """)
        let a = try load(s.write("c.json", #"{"credHelpers": {"h.io": "test"}}"#), env: env)
        #expect(try await a.credential(host: "h.io", repository: nil) == cred("u", "s"))
    }

    @Test func timeout() async throws {
        let s = try Scratch()
        let script = try s.write("bin/slow", "#!/bin/sh\nexec sleep 20\n", mode: 0o755)
        let start = ContinuousClock.now
        let r = try await CredentialHelper.run(executable: script, arguments: ["slow"], input: [], environment: ["PATH": "/usr/bin:/bin"],
                                         timeoutSeconds: 1)
        #expect(r.timedOut)
        #expect(ContinuousClock.now - start < .seconds(10))
    }

    @Test func environmentIsPassed() async throws {
        let s = try Scratch()
        let script = try s.write("bin/env", "#!/bin/sh\nprintf '%s|%s' \"$MARKER\" \"$(cat)\"\n", mode: 0o755)
        let r = try await CredentialHelper.run(executable: script, arguments: ["env"], input: Array("in put".utf8),
                                         environment: ["MARKER": "m=1 2", "PATH": "/usr/bin:/bin"])
        #expect(String(decoding: r.stdout, as: UTF8.self) == "m=1 2|in put")
    }
}

@Suite struct AuthFileStoreTests {
    @Test func createsFileAndDirectories() async throws {
        let s = try Scratch()
        let path = s.path + "/a/b/containers/auth.json"
        try AuthFile.store(host: "quay.io", username: "bob", secret: "p:a:s:s ✓", at: path)
        #expect(try s.mode(path) == 0o600)
        #expect(try s.mode(s.path + "/a") == 0o700)
        #expect(try s.mode(s.path + "/a/b/containers") == 0o700)
        #expect(try await load(path).credential(host: "quay.io", repository: nil) == cred("bob", "p:a:s:s ✓"))
        #expect(try s.read(path) == "{\n\t\"auths\": {\n\t\t\"quay.io\": {\n\t\t\t\"auth\": \"\(b64("bob:p:a:s:s ✓"))\"\n\t\t}\n\t}\n}\n")
        #expect(try s.listing(s.path + "/a/b/containers") == ["auth.json"])
    }

    @Test func mergesAndPreserves() async throws {
        let s = try Scratch()
        let original = """
        {
          "zeta": {"keep": [1, 2.50, -0, 1e400, true, false, null, "\\u0001\\"\\\\"]},
          "auths": {
            "other.io": {"auth": "\(b64("o:p"))", "email": "x@y"},
            "quay.io": {"auth": "\(b64("old:old"))", "identitytoken": "stale"}
          },
          "credHelpers": {"gcr.io": "gcloud"},
          "alpha": "\\ud83d\\ude00"
        }
        """
        let path = try s.write("auth.json", original, mode: 0o644)
        try AuthFile.store(host: "quay.io", username: "new", secret: "new", at: path)
        try AuthFile.store(host: "fresh.io:5000", username: "f", secret: "f", at: path)
        #expect(try s.mode(path) == 0o600)
        let text = try s.read(path)
        let a = try load(path, env: ["PATH": "/nonexistent"])
        #expect(try await a.credential(host: "quay.io", repository: nil) == cred("new", "new"))  // entry replaced, token dropped
        #expect(try await a.credential(host: "other.io", repository: nil) == cred("o", "p"))
        #expect(try await a.credential(host: "fresh.io:5000", repository: nil) == cred("f", "f"))
        #expect(text.contains("\"email\": \"x@y\""))
        #expect(text.contains("\"gcr.io\": \"gcloud\""))
        #expect(text.contains("1e400") && text.contains("2.50") && text.contains("-0"))
        #expect(text.contains(#""\u0001\"\\""#))
        #expect(text.contains("\"alpha\": \"😀\""))
        #expect(!text.contains("stale"))
        // Order kept: zeta, auths (other.io, quay.io, fresh.io:5000), credHelpers, alpha.
        let order = ["\"zeta\"", "\"other.io\"", "\"quay.io\"", "\"fresh.io:5000\"", "\"credHelpers\"", "\"alpha\""]
            .map { text.range(of: $0)!.lowerBound }
        #expect(order == order.sorted())
        #expect(try s.listing(s.path) == ["auth.json"])
    }

    @Test func nullAuthsAndEmptyFile() async throws {
        let s = try Scratch()
        let p1 = try s.write("one.json", #"{"auths": null}"#)
        try AuthFile.store(host: "q.io", username: "u", secret: "s", at: p1)
        #expect(try await load(p1).credential(host: "q.io", repository: nil) == cred("u", "s"))
        let p2 = try s.write("two.json", "")
        try AuthFile.store(host: "q.io", username: "u", secret: "s", at: p2)
        #expect(try await load(p2).credential(host: "q.io", repository: nil) == cred("u", "s"))
    }

    @Test func refusesToClobberInvalidFiles() throws {
        let s = try Scratch()
        for (name, content) in [("bad.json", "{not json"), ("array.json", "[1]"), ("auths.json", #"{"auths": "x"}"#)] {
            let path = try s.write(name, content)
            let e = try #require(authError { try AuthFile.store(host: "q.io", username: "u", secret: "s", at: path) })
            #expect(e.reason.contains("not overwriting"))
            #expect(try s.read(path) == content)
        }
        #expect(try s.listing(s.path) == ["array.json", "auths.json", "bad.json"])
    }

    @Test func invalidArguments() throws {
        let s = try Scratch()
        let path = s.path + "/auth.json"
        #expect(authError { try AuthFile.store(host: "q.io", username: "a:b", secret: "s", at: path) } != nil)
        #expect(authError { try AuthFile.store(host: "", username: "a", secret: "s", at: path) } != nil)
        #expect(authError { try AuthFile.store(host: "q.io\n", username: "a", secret: "s", at: path) } != nil)
        #expect(authError { try AuthFile.store(host: "q io", username: "a", secret: "s", at: path) } != nil)
        #expect(authError { try AuthFile.store(host: "q.io", username: "a\u{1b}", secret: "s", at: path) } != nil)
        #expect(try s.listing(s.path).isEmpty)
    }

    @Test func failedWriteLeavesNoTemporaryFile() throws {
        let s = try Scratch()
        // The target is a non-empty directory: rename fails after the temp file was written.
        try s.write("target.json/inner", "x")
        let e = try #require(authError { try AuthFile.store(host: "q.io", username: "u", secret: "s", at: s.path + "/target.json") })
        #expect(e.reason.contains("not a regular file"))
        let e2 = try #require(authError { try AuthFile.writeAtomically(Array("{}".utf8), to: s.path + "/target.json") })
        #expect(e2.reason.contains("cannot replace"))
        #expect(try s.listing(s.path) == ["target.json"])
        // Parent path component is a file.
        let file = try s.write("plain", "x")
        #expect(authError { try AuthFile.store(host: "q.io", username: "u", secret: "s", at: file + "/auth.json") } != nil)
        #expect(try s.listing(s.path) == ["plain", "target.json"])
    }

    @Test func relativePath() throws {
        let s = try Scratch()
        let cwd = FileManager.default.currentDirectoryPath
        // Relative paths resolve against the working directory; exercise the "no slash" branch via a
        // dedicated helper instead of chdir (tests run in parallel).
        try AuthFile.writeAtomically(Array("{}\n".utf8), to: s.path + "/rel.json")
        #expect(try s.read(s.path + "/rel.json") == "{}\n")
        #expect(FileManager.default.currentDirectoryPath == cwd)
    }
}

@Suite struct AuthEncodingTests {
    @Test func base64Decoding() {
        let vectors = [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="),
                       ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy")]
        for (plain, encoded) in vectors {
            #expect(AuthFile.decodeBase64(encoded) == Array(plain.utf8))
        }
        let all = (0...255).map { UInt8($0) }
        #expect(AuthFile.decodeBase64(Data(all).base64EncodedString()) == all)
        #expect(AuthFile.decodeBase64("Zm9vYg") == Array("foob".utf8))           // unpadded
        #expect(AuthFile.decodeBase64("Zm9v\nYmFy\r\n") == Array("foobar".utf8)) // wrapped
        #expect(AuthFile.decodeBase64("-_8=") == [0xFB, 0xFF])                   // URL-safe alphabet
        for bad in ["Z", "Zm9=v", "Zm===", "Zm9v!", "Zg=", "é", "Zg==Zg==", "Zm9v\u{0}"] {
            #expect(AuthFile.decodeBase64(bad) == nil, "\(bad)")
        }
    }

    @Test func jsonParser() throws {
        for bad in ["", "{", "}", "[1,]", "{\"a\":}", "{\"a\" 1}", "{a:1}", "01", "1.", "-", "1e", "tru", "nul",
                    "\"\\x\"", "\"\\u12\"", "\"\\ud800\"", "\"\\udc00\"", "\"a\u{1}\"", "\"unterminated", "{} {}", "[1 2]",
                    "{\"a\":1,}", "+1", ".5", "NaN"] {
            #expect(throws: AuthJSON.ParseError.self, "\(bad.debugDescription)") { try AuthJSON.parse(Array(bad.utf8)) }
        }
        #expect(throws: AuthJSON.ParseError.self) { try AuthJSON.parse([0x22, 0xFF, 0x22]) }  // invalid UTF-8
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(throws: AuthJSON.ParseError.self) { try AuthJSON.parse(Array(deep.utf8)) }
        let ok = String(repeating: "[", count: 60) + String(repeating: "]", count: 60)
        #expect(throws: Never.self) { try AuthJSON.parse(Array(ok.utf8)) }

        let v = try AuthJSON.parse(Array(#" {"a": [1, -2.5e+3, true, null, "\u00e9\n\ud83d\ude00"], "a": {"b": {}}, "c": []} "#.utf8))
        #expect(v["a"] == .object([.init(key: "b", value: .object([]))]))  // last duplicate wins
        let text = String(decoding: v.serialized(), as: UTF8.self)
        #expect(text.contains("-2.5e+3"))
        #expect(text.contains("\"é\\n😀\""))
        #expect(try AuthJSON.parse(v.serialized()) == v)
    }

    @Test func credentialNeverPrintsSecrets() {
        let c = RegistryCredential(username: "alice", password: "hunter2", identityToken: "refresh-zzz")
        var dumped = ""
        dump(c, to: &dumped)
        for text in [c.description, c.debugDescription, String(describing: c), String(reflecting: c), "\(c)", dumped,
                     "\([c])", String(reflecting: Optional(c))] {
            #expect(!text.contains("hunter2"), "\(text)")
            #expect(!text.contains("refresh-zzz"), "\(text)")
        }
        #expect(c.description == "RegistryCredential(username: alice, password: <redacted>, identityToken: <redacted>)")
        #expect(RegistryCredential(username: "bob", password: "x").description == "RegistryCredential(username: bob, password: <redacted>)")
    }
}
