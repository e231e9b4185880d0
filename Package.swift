// swift-tools-version:6.0
// imgpromote: promote container images between OpenShift clusters.
//
// Layout: a thin CLI over libraries with one job each.
//   HTTPTransport        libcurl engine (one multi thread, streaming GET→PUT, TLS per side)
//   OCIRegistry          OCI distribution / Docker v2 protocol client (refs, auth, manifests, blobs)
//   OpenShiftCredentials OAuth login, tokens, kubeconfig, registry discovery
//   YAML                 libyaml (the parser go-yaml and so kubectl port) into small node trees
//   Promotion            the copy planner and executor (knows no HTTP)
//   Release              promotion files, mapping files, tag selection and locks for releases
//   SupplyChain          signatures (the gate), attachments that travel, the promotion record
//   imgpromote           the command line
// Test-only tooling (never shipped in the agent image):
//   LoopbackHTTP, ClusterEmulator + openshift-emulator, TestSupport
import PackageDescription

let strict: [SwiftSetting] = [.enableUpcomingFeature("ExistentialAny")]

let package = Package(
    name: "imgpromote",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "imgpromote", targets: ["imgpromote"]),
        .executable(name: "openshift-emulator", targets: ["openshift-emulator"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        .systemLibrary(name: "CCurl", path: "Sources/CCurl", pkgConfig: "libcurl",
                       providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CCrypto", path: "Sources/CCrypto", pkgConfig: "libcrypto",
                       providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CYAML", path: "Sources/CYAML", pkgConfig: "yaml-0.1",
                       providers: [.apt(["libyaml-dev"])]),
        .systemLibrary(name: "CTLS", path: "Sources/CTLS", pkgConfig: "libssl",
                       providers: [.apt(["libssl-dev"])]),

        .systemLibrary(name: "CSpawn", path: "Sources/CSpawn"),

        .target(name: "HTTPTransport", dependencies: ["CCurl", "CCrypto"], swiftSettings: strict),
        // Runs credential helpers and exec plugins (one spawner: own thread, deadline, signals reset).
        .target(name: "ProcessSpawn", dependencies: ["CSpawn"], swiftSettings: strict),
        .target(name: "OCIRegistry", dependencies: ["HTTPTransport", "ProcessSpawn"], swiftSettings: strict),
        .target(name: "YAML", dependencies: ["CYAML"], swiftSettings: strict),
        .target(name: "OpenShiftCredentials",
                dependencies: ["HTTPTransport", "OCIRegistry", "ProcessSpawn", "YAML"],
                swiftSettings: strict),
        .target(name: "Promotion", dependencies: ["OCIRegistry", "HTTPTransport"], swiftSettings: strict),
        .target(name: "Release", dependencies: ["Promotion", "OCIRegistry", "YAML"], swiftSettings: strict),
        .target(name: "SupplyChain", dependencies: ["Promotion", "OCIRegistry", "HTTPTransport", "CCrypto"],
                swiftSettings: strict),
        .executableTarget(name: "imgpromote",
                          dependencies: ["Promotion", "Release", "SupplyChain", "OCIRegistry", "OpenShiftCredentials", "HTTPTransport", "ProcessSpawn",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser")],
                          swiftSettings: strict),

        // Test-only tooling.
        // Shares no code with the product it tests (no HTTPTransport): an oracle, not a copy.
        .target(name: "LoopbackHTTP", dependencies: ["CTLS", "CCrypto"], swiftSettings: strict),
        .target(name: "ClusterEmulator", dependencies: ["LoopbackHTTP", "TestSupport", "CCrypto", "HTTPTransport"],
                exclude: ["README.md"], swiftSettings: strict),
        .executableTarget(name: "openshift-emulator", dependencies: ["ClusterEmulator"], swiftSettings: strict),
        .target(name: "TestSupport", dependencies: ["LoopbackHTTP", "HTTPTransport", "CCrypto"],
                swiftSettings: strict),

        // Benchmarks print what they measure (bench/); never run by `swift test`.
        .executableTarget(name: "transport-bench", dependencies: ["HTTPTransport", "TestSupport"],
                          path: "bench/transport-bench", swiftSettings: strict),

        .testTarget(name: "HTTPTransportTests", dependencies: ["HTTPTransport", "TestSupport"]),
        // The test tools' own tests (LoopbackHTTP, TestSupport), apart from the product's.
        .testTarget(name: "TestToolsTests", dependencies: ["HTTPTransport", "TestSupport"]),
        .testTarget(name: "YAMLTests", dependencies: ["YAML"]),
        .testTarget(name: "OCIRegistryTests", dependencies: ["OCIRegistry", "TestSupport"]),
        .testTarget(name: "OpenShiftCredentialsTests", dependencies: ["OpenShiftCredentials", "ClusterEmulator"]),
        .testTarget(name: "PromotionTests", dependencies: ["Promotion", "Release", "OCIRegistry", "HTTPTransport"]),
        .testTarget(name: "SupplyChainTests", dependencies: ["SupplyChain", "OCIRegistry", "TestSupport"],
                    exclude: ["Fixtures"]),
        .testTarget(name: "IntegrationTests", dependencies: ["TestSupport", "ClusterEmulator"]),
    ],
    swiftLanguageModes: [.v6]
)
