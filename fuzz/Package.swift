// swift-tools-version:6.0
// libFuzzer harnesses for imgpromote's parsers. Built and run by scripts/fuzz.sh, which builds with
//   swift build --package-path fuzz -c release --sanitize=fuzzer -Xswiftc -sanitize=fuzzer,address
// (why not `--sanitize=fuzzer --sanitize=address`: see the script).
//
// The main package exports no library products, so a path dependency cannot reach its modules.
// Instead Sources/<Module> are symlinks to ../../Sources/<Module>: the product sources are compiled
// here, unchanged, with coverage instrumentation (a package may not name paths outside its root,
// but symlinks inside it are fine). Only public API is used, as from any other client.
import PackageDescription

let strict: [SwiftSetting] = [.enableUpcomingFeature("ExistentialAny")]

/// One libFuzzer binary per parser. No main: libFuzzer supplies it and calls LLVMFuzzerTestOneInput.
func harness(_ name: String, _ deps: [Target.Dependency]) -> Target {
    .executableTarget(name: name, dependencies: deps + ["FuzzSupport"], path: "Harnesses/\(name)",
                      swiftSettings: [.unsafeFlags(["-parse-as-library"])])
}

let package = Package(
    name: "imgpromote-fuzz",
    platforms: [.macOS(.v14)],
    targets: [
        .systemLibrary(name: "CCurl", path: "Sources/CCurl", pkgConfig: "libcurl"),
        .systemLibrary(name: "CCrypto", path: "Sources/CCrypto", pkgConfig: "libcrypto"),
        .systemLibrary(name: "CYAML", path: "Sources/CYAML", pkgConfig: "yaml-0.1"),
        .systemLibrary(name: "CSpawn", path: "Sources/CSpawn"),
        .target(name: "HTTPTransport", dependencies: ["CCurl", "CCrypto"], swiftSettings: strict),
        .target(name: "ProcessSpawn", dependencies: ["CSpawn"], swiftSettings: strict),
        .target(name: "YAML", dependencies: ["CYAML"], swiftSettings: strict),
        .target(name: "OCIRegistry", dependencies: ["HTTPTransport", "ProcessSpawn"], swiftSettings: strict),
        .target(name: "OpenShiftCredentials", dependencies: ["HTTPTransport", "OCIRegistry", "ProcessSpawn", "YAML"],
                swiftSettings: strict),
        .target(name: "FuzzSupport", path: "Harnesses/FuzzSupport"),

        harness("fuzz-reference", ["OCIRegistry"]),
        harness("fuzz-platform", ["OCIRegistry"]),
        harness("fuzz-auth-challenge", ["OCIRegistry"]),
        harness("fuzz-manifest", ["OCIRegistry"]),
        harness("fuzz-registry-error", ["OCIRegistry"]),
        harness("fuzz-authfile", ["OCIRegistry"]),
        harness("fuzz-kubeconfig", ["OpenShiftCredentials"]),
    ],
    swiftLanguageModes: [.v6]
)
