// openshift-emulator: runs one emulated OpenShift cluster (API + OAuth + real docker-registry) on 127.0.0.1
// until SIGTERM/SIGINT. Test-only tooling; never shipped in the agent image.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ClusterEmulator

let usage = """
    usage:
      openshift-emulator --config FILE --work-dir DIR [--state-file FILE]
          Starts the cluster, writes its state JSON (apiURL, oauthURL, consoleURL, registryHost, caBundlePath,
          apiCAPath, pid, ...) to --state-file (default DIR/state.json) and prints it on stdout, then runs
          until SIGTERM or SIGINT, stops everything (registry child included) and exits 0.
      openshift-emulator example-config --user NAME --output FILE [--password-file FILE]
          Writes an example config (mode 0600) for user NAME; the password is read from --password-file
          (first line) or generated, and is written only into FILE.

    """

func writeAll(_ fd: Int32, _ text: String) {
    let bytes = Array(text.utf8)
    var off = 0
    while off < bytes.count {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + off, $0.count - off) }
        if n < 0 { if errno == EINTR { continue }; return }
        off += n
    }
}

func fail(_ message: String, code: Int32 = 2) -> Never {
    writeAll(2, "openshift-emulator: \(message)\n")
    exit(code)
}

func options(_ args: ArraySlice<String>, allowed: Set<String>) -> [String: String] {
    var out: [String: String] = [:]
    var it = args.makeIterator()
    while let a = it.next() {
        if a == "-h" || a == "--help" {
            writeAll(1, usage)
            exit(0)
        }
        var key = a, value: String?
        if let eq = a.firstIndex(of: "=") {
            key = String(a[..<eq])
            value = String(a[a.index(after: eq)...])
        }
        guard allowed.contains(key) else { fail("unknown argument \(a)\n\(usage)") }
        if value == nil { value = it.next() }
        guard let value else { fail("\(key) needs a value") }
        out[key] = value
    }
    return out
}

func writeFile(_ path: String, _ text: String, mode: mode_t) throws {
    let tmp = path + ".tmp\(getpid())"
    let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
    guard fd >= 0 else { throw EmulatorError("cannot create \(tmp): \(String(cString: strerror(errno)))") }
    let bytes = Array(text.utf8)
    var off = 0
    while off < bytes.count {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + off, $0.count - off) }
        if n < 0 { if errno == EINTR { continue }; close(fd); throw EmulatorError("write \(tmp) failed") }
        off += n
    }
    fchmod(fd, mode)
    close(fd)
    guard rename(tmp, path) == 0 else { throw EmulatorError("cannot rename \(tmp) to \(path)") }
}

func readFirstLine(_ path: String) throws -> String {
    guard let f = fopen(path, "r") else { throw EmulatorError("cannot open \(path)") }
    defer { fclose(f) }
    var buf = [CChar](repeating: 0, count: 4096)
    guard fgets(&buf, Int32(buf.count), f) != nil else { return "" }
    let bytes = buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
    var line = String(decoding: bytes, as: UTF8.self)
    while line.hasSuffix("\n") || line.hasSuffix("\r") { line.removeLast() }
    return line
}

func exampleConfig(_ args: ArraySlice<String>) -> Never {
    let o = options(args, allowed: ["--user", "--output", "--password-file"])
    guard let user = o["--user"], !user.isEmpty else { fail("example-config needs --user NAME") }
    guard !user.contains(":") else { fail("a user name cannot contain ':'") }
    guard let output = o["--output"] else { fail("example-config needs --output FILE (the password goes only there)") }
    do {
        let password: String
        if let pf = o["--password-file"] {
            password = try readFirstLine(pf)
            guard !password.isEmpty else { fail("\(pf) holds no password") }
        } else {
            password = EmulatorConfig.generatePassword()
        }
        let config = EmulatorConfig.example(user: user, password: password)
        try writeFile(output, String(decoding: try config.encoded(), as: UTF8.self) + "\n", mode: 0o600)
        writeAll(1, "wrote \(output) (user \(user); its password is stored only in that file)\n")
        exit(0)
    } catch {
        fail("\(error)", code: 1)
    }
}

func run(_ args: ArraySlice<String>) -> Never {
    let o = options(args, allowed: ["--config", "--work-dir", "--state-file"])
    guard let configPath = o["--config"], let workDir = o["--work-dir"] else { fail("missing --config or --work-dir\n\(usage)") }

    // Block the stop signals before any thread starts, so every thread inherits the mask and sigwait gets them.
    var stopSignals = sigset_t()
    sigemptyset(&stopSignals)
    sigaddset(&stopSignals, SIGTERM)
    sigaddset(&stopSignals, SIGINT)
    pthread_sigmask(SIG_BLOCK, &stopSignals, nil)

    let cluster: ClusterEmulator
    do {
        let config = try EmulatorConfig.load(path: configPath)
        cluster = try ClusterEmulator(config: config, workDirectory: workDir)
    } catch {
        fail("cannot start: \(error)", code: 1)
    }
    let statePath = o["--state-file"] ?? cluster.workDirectory + "/state.json"
    let stateText = cluster.stateJSON()
    do {
        try writeFile(statePath, stateText + "\n", mode: 0o644)
    } catch {
        cluster.stop()
        fail("cannot write the state file: \(error)", code: 1)
    }
    writeAll(1, stateText + "\n")

    var exitCode: Int32 = 0
    while true {
        var timeout = timespec(tv_sec: 1, tv_nsec: 0)
        let sig = sigtimedwait(&stopSignals, nil, &timeout)
        if sig == SIGTERM || sig == SIGINT { break }
        if !cluster.registryIsRunning {
            writeAll(2, "openshift-emulator: the registry process exited; see \(cluster.registryLogPath)\n")
            exitCode = 1
            break
        }
    }
    cluster.stop()
    exit(exitCode)
}

let arguments = CommandLine.arguments.dropFirst()
if arguments.first == "example-config" {
    exampleConfig(arguments.dropFirst())
} else {
    run(arguments)
}
