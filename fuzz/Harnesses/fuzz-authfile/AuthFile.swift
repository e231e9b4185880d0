#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import FuzzSupport
import OCIRegistry

/// AuthFile.load (containers auth.json / docker config.json) on an untrusted file, then a credential
/// lookup for a few hosts.
///
/// No credential helper can run: AuthFile.credential spawns `docker-credential-NAME` only when
/// CredentialHelper.findExecutable finds it as an executable regular file in the environment's PATH
/// (NAME cannot contain '/'). Here the environment is exactly {HOME, PATH} with both pointing at
/// private empty directories, checked to stay empty, so every helper lookup returns nil and the
/// file-based `auths` decoding is what gets exercised. No real file is read: the only path
/// given is the fuzz input's temp file.

/// The scratch layout, built on first use (globals are initialised lazily).
struct Scratch {
    let home: String      // HOME: an empty directory, so no default auth file exists
    let bin: String       // PATH: an empty directory, so no docker-credential-* is found
    let input: String     // the fuzz input, passed as explicitPath
    var environment: [String: String] { ["HOME": home, "PATH": bin] }

    init() {
        let dir = makeTempDirectory("imgpromote-fuzz-authfile")
        home = dir + "/home"
        bin = dir + "/bin"
        input = dir + "/auth.json"
        check(mkdir(home, 0o700) == 0 && mkdir(bin, 0o700) == 0, "cannot create directories in \(dir)")
    }
}
let scratch = Scratch()
let hosts: [(String, String?)] = [
    ("quay.io", "ns/app"), ("docker.io", "nginx"), ("registry.example.com:5000", nil),
    ("localhost:5000", "a/b/c"), ("[::1]:5000", "x"),
]

func isEmptyDirectory(_ path: String) -> Bool {
    guard let d = opendir(path) else { return false }
    defer { closedir(d) }
    while let e = readdir(d) {
        let name = withUnsafeBytes(of: e.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        if name != "." && name != ".." { return false }
    }
    return true
}

/// AuthFile.credential is async (a helper runs on its own thread); libFuzzer's callback is not.
final class ResultBox<T>: @unchecked Sendable { var value: T? }
func blocking<T: Sendable>(_ body: @escaping @Sendable () async -> T) -> T {
    let box = ResultBox<T>()
    let done = DispatchSemaphore(value: 0)
    Task {
        box.value = await body()
        done.signal()
    }
    done.wait()
    return box.value!
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    check(isEmptyDirectory(scratch.bin) && isEmptyDirectory(scratch.home),
          "\(scratch.bin) and \(scratch.home) must stay empty (no credential helper may run)")
    writeFile(scratch.input, data, size)
    guard let file = try? AuthFile.load(explicitPath: scratch.input, environment: scratch.environment) else { return 0 }
    check(file.paths == [scratch.input], "read other files: \(file.paths)")
    for (host, repo) in hosts {
        if let c = blocking({ try? await file.credential(host: host, repository: repo) }) ?? nil {
            _ = c.description
            check(!c.description.contains("password:") || c.description.contains("<redacted>"), "password not redacted")
        }
    }
    return 0
}
