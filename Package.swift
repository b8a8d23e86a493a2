// swift-tools-version:6.2
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "glimpse",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "glimpse", targets: ["glimpse"]),
        .library(name: "OpenStack", targets: ["OpenStack"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        .systemLibrary(name: "CLibCrypto", providers: [.apt(["libssl-dev"])]),
        // MD5 and SHA-2 for image data (system libcrypto on Linux, swift-crypto elsewhere).
        .target(
            name: "StreamDigests",
            dependencies: [
                .target(name: "CLibCrypto", condition: .when(platforms: [.linux])),
                .product(name: "Crypto", package: "swift-crypto", condition: .when(platforms: [.macOS, .iOS])),
            ],
            swiftSettings: strict
        ),
        // JSON value, parser and serializer shared by the server and the SDK.
        .target(name: "OpenStackJSON", swiftSettings: strict),
        // Domain model, policy, validation, use cases and the store protocols.
        .target(
            name: "GlimpseCore",
            dependencies: [
                "OpenStackJSON", "StreamDigests",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // Built-in Keystone v3 subset: users, projects, roles, tokens.
        .target(
            name: "GlimpseIdentity",
            dependencies: [
                "GlimpseCore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // SQL text for image queries, shared by the SQL metadata stores.
        .target(name: "GlimpseSQL", dependencies: ["GlimpseCore"], swiftSettings: strict),
        .systemLibrary(name: "CSQLite", providers: [.apt(["libsqlite3-dev"]), .brew(["sqlite"])]),
        // Embedded metadata store: SQLite in WAL mode.
        .target(
            name: "GlimpseSQLite",
            dependencies: ["CSQLite", "GlimpseCore", "GlimpseIdentity", "GlimpseSQL"],
            swiftSettings: strict
        ),
        // Image data stores: local files.
        .target(
            name: "GlimpseBlobStores",
            dependencies: [
                "GlimpseCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // The HTTP server: identity, image and compute APIs.
        .target(
            name: "GlimpseServer",
            dependencies: [
                "GlimpseCore", "GlimpseIdentity", "GlimpseSQLite", "GlimpseBlobStores", "OpenStackJSON",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // The client SDK. Depends on no server target.
        .target(
            name: "OpenStack",
            dependencies: [
                "OpenStackJSON", "StreamDigests",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "glimpse",
            dependencies: [
                "GlimpseServer", "GlimpseCore", "GlimpseIdentity", "GlimpseSQLite", "OpenStack", "OpenStackJSON",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "OpenStackJSONTests", dependencies: ["OpenStackJSON"]),
        .testTarget(
            name: "GlimpseCoreTests",
            dependencies: ["GlimpseCore", "OpenStackJSON", .product(name: "NIOCore", package: "swift-nio")]
        ),
        .testTarget(
            name: "GlimpseStoreTests",
            dependencies: ["GlimpseCore", "GlimpseIdentity", "GlimpseSQLite", "GlimpseBlobStores", "OpenStackJSON",
                           .product(name: "NIOCore", package: "swift-nio")]
        ),
        // A real server on an ephemeral port, for the HTTP and SDK tests.
        .target(
            name: "GlimpseTestSupport",
            dependencies: [
                "GlimpseServer", "GlimpseCore", "GlimpseIdentity", "OpenStackJSON",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Tests/GlimpseTestSupport"
        ),
        .testTarget(name: "GlimpseCLITests", dependencies: ["glimpse", "OpenStack"]),
        .testTarget(
            name: "OpenStackTests",
            dependencies: [
                "OpenStack", "GlimpseTestSupport", "GlimpseServer",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "GlimpseServerTests",
            dependencies: [
                "GlimpseTestSupport", "GlimpseServer", "GlimpseCore", "GlimpseIdentity", "OpenStackJSON",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
    ]
)

// Micro-benchmarks of the hot paths (package-benchmark), only when asked for, so that
// ordinary builds and CI do not compile the benchmark toolchain:
//   GLIMPSE_BENCHMARKS=1 swift package benchmark
if Context.environment["GLIMPSE_BENCHMARKS"] != nil {
    package.dependencies.append(
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]))
    package.targets.append(
        .executableTarget(
            name: "GlimpseBenchmarks",
            dependencies: [
                "GlimpseCore", "GlimpseSQL", "GlimpseServer", "OpenStackJSON", "StreamDigests",
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Benchmarks/GlimpseBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]))
}
