import LoopbackHTTP

/// Python packages tests use as independent oracles (securesystemslib's DSSE verifier, PyNaCl,
/// pyca/cryptography), installed once per machine from PyPI into a private directory with
/// `pip install --target` (Debian's securesystemslib 0.26 has no DSSE module). Tests skip when
/// neither an installed copy nor PyPI is available.
public enum PythonTools {
    public static let directory = "/tmp/imgpromote-python-tools"
    /// Uses each tool the way the tests do: importing is not enough (securesystemslib 1.x refuses an
    /// old pyca/cryptography only when a key is made).
    static let probe = """
        import nacl.secret
        from securesystemslib.dsse import Envelope
        from securesystemslib.signer import SSlibKey
        from cryptography.hazmat.primitives.asymmetric import ec
        SSlibKey.from_crypto(ec.generate_private_key(ec.SECP256R1()).public_key(), keyid="probe")
        nacl.secret.SecretBox(bytes(32)).encrypt(b"x", bytes(24))
        """
    static let packages = ["securesystemslib[crypto]>=0.28", "pynacl", "cryptography"]
    private static let ready = Protected<Bool?>(nil)

    /// The environment `python3` needs to import the tools, or nil (with why) when they cannot be had.
    public static func environment() -> (env: [String: String]?, problem: String) {
        var env = Subprocess.currentEnvironment()
        env["PYTHONPATH"] = directory + (env["PYTHONPATH"].map { ":" + $0 } ?? "")
        if ready.withLock({ $0 }) == true { return (env, "") }
        if let r = try? Subprocess.run("python3", ["-c", probe], environment: env, timeoutSeconds: 60), r.succeeded {
            ready.withLock { $0 = true }
            return (env, "")
        }
        var pipEnv = env
        pipEnv["PIP_BREAK_SYSTEM_PACKAGES"] = "1"
        pipEnv["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
        let install = try? Subprocess.run("python3", ["-m", "pip", "install", "--quiet", "--upgrade", "--target", directory] + packages,
                                          environment: pipEnv, timeoutSeconds: 300)
        if let r = try? Subprocess.run("python3", ["-c", probe], environment: env, timeoutSeconds: 60), r.succeeded {
            ready.withLock { $0 = true }
            return (env, "")
        }
        return (nil, "python3 with securesystemslib, PyNaCl and cryptography is needed (pip install --target \(directory) failed: "
                + (install.map { String($0.stderrText.suffix(300)) } ?? "no pip") + ")")
    }
}
