// swift-tools-version:6.2
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let nio: [Target.Dependency] = [
    .product(name: "NIOCore", package: "swift-nio"),
    .product(name: "NIOPosix", package: "swift-nio"),
]

let propertyBased: Target.Dependency = .product(name: "PropertyBased", package: "swift-property-based")

let package = Package(
    name: "glimpse",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "glimpse", targets: ["glimpse"]),
        .library(name: "OpenStack", targets: ["OpenStack"]),
    ],
    traits: [
        .trait(
            name: "RBD",
            description: "The Ceph RBD image store (needs librbd and librados: apt install librbd-dev librados-dev)."
        )
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        // Property-based tests (test targets only).
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
    ],
    targets: [
        // MARK: Shared by the server and the SDK

        // ISO 8601 timestamps, hex, percent-encoding: the text encodings of the OpenStack wire.
        .target(name: "OpenStackEncoding", swiftSettings: strict),
        // JSON value, parser and writer that keep member order and number literals.
        .target(name: "OpenStackJSON", swiftSettings: strict),
        .systemLibrary(name: "CLibCrypto", providers: [.apt(["libssl-dev"])]),
        // MD5 and SHA-2 for image data (system libcrypto on Linux, swift-crypto elsewhere).
        .target(
            name: "StreamDigests",
            dependencies: [
                "OpenStackEncoding",
                .target(name: "CLibCrypto", condition: .when(platforms: [.linux])),
                .product(name: "Crypto", package: "swift-crypto", condition: .when(platforms: [.macOS, .iOS])),
            ],
            swiftSettings: strict
        ),

        // MARK: The server

        // Domain: model, status machine, policy, validation, use cases, store protocols.
        .target(
            name: "GlimpseCore",
            dependencies: [
                "OpenStackEncoding", "OpenStackJSON", "StreamDigests", .product(name: "Logging", package: "swift-log"),
            ]
                + nio,
            swiftSettings: strict
        ),
        // The built-in Keystone: users, projects, roles, tokens, password hashing.
        .target(
            name: "GlimpseIdentity",
            dependencies: [
                "GlimpseCore", "OpenStackEncoding",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // The metadata store in SQL that SQLite and PostgreSQL both run.
        .target(
            name: "GlimpseSQL",
            dependencies: ["GlimpseCore", "GlimpseIdentity", "OpenStackEncoding", "OpenStackJSON"],
            swiftSettings: strict
        ),
        .systemLibrary(name: "CSQLite", providers: [.apt(["libsqlite3-dev"]), .brew(["sqlite"])]),
        // The embedded metadata store: SQLite in WAL mode, on threads of its own.
        .target(
            name: "GlimpseSQLite",
            dependencies: ["CSQLite", "GlimpseCore", "GlimpseSQL"] + nio,
            swiftSettings: strict
        ),
        // The metadata store at scale: PostgreSQL, shared by every API node.
        .target(
            name: "GlimpsePostgres",
            dependencies: [
                "GlimpseCore", "GlimpseSQL", "OpenStackEncoding",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "_ConnectionPoolModule", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ] + nio,
            swiftSettings: strict
        ),
        // Tokens validated by the cloud's Keystone (through the SDK), cached as keystonemiddleware does.
        .target(
            name: "GlimpseKeystoneAuth",
            dependencies: [
                "GlimpseCore", "OpenStack", "OpenStackEncoding", "OpenStackJSON",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // Metadata and image data in memory: for tests and throw-away servers.
        .target(
            name: "GlimpseMemoryStores",
            dependencies: [
                "GlimpseCore", "GlimpseIdentity", "OpenStackEncoding", "OpenStackJSON",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // Image data stores: local files.
        .target(
            name: "GlimpseBlobStores",
            dependencies: ["GlimpseCore", "OpenStackEncoding"] + nio,
            swiftSettings: strict
        ),
        // Image data stores on the object stores clouds run: OpenStack Swift and S3 (SigV4 on
        // swift-crypto), over HTTP.
        .target(
            name: "GlimpseObjectStores",
            dependencies: [
                "GlimpseCore", "OpenStack", "OpenStackEncoding", "OpenStackJSON",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ] + nio,
            swiftSettings: strict
        ),
        .systemLibrary(name: "CRBD", providers: [.apt(["librbd-dev", "librados-dev"])]),
        // Image data store: Ceph RBD images, as Glance's rbd store keeps them. Built empty without
        // the `RBD` trait (its sources are `#if RBD`), so a default build needs no Ceph headers.
        .target(
            name: "GlimpseRBDStore",
            dependencies: [
                "GlimpseCore", "OpenStackEncoding", "OpenStackJSON",
                .target(name: "CRBD", condition: .when(traits: ["RBD"])),
                .product(name: "Logging", package: "swift-log"),
            ] + nio,
            swiftSettings: strict
        ),
        // HTTP: the image, metadefs, identity and compute APIs as route collections, and the
        // middleware around them.
        .target(
            name: "GlimpseHTTP",
            dependencies: [
                "GlimpseCore", "GlimpseIdentity", "OpenStackEncoding", "OpenStackJSON",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdAuth", package: "hummingbird-auth"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ] + nio,
            swiftSettings: strict,
            // `OpenAPI/openapi.yaml`, served at `GET /openapi.yaml`, is compiled in as a string.
            plugins: ["EmbedTextPlugin"]
        ),
        // Build tool: a text file of a target as a Swift string constant, so that the binary
        // serves it wherever it is copied.
        .executableTarget(name: "EmbedText", swiftSettings: strict),
        .plugin(name: "EmbedTextPlugin", capability: .buildTool(), dependencies: ["EmbedText"]),
        // The composition root: configuration, backends, services, `buildApplication`.
        .target(
            name: "GlimpseServer",
            dependencies: [
                "GlimpseCore", "GlimpseIdentity", "GlimpseHTTP", "GlimpseSQLite", "GlimpsePostgres",
                "GlimpseKeystoneAuth", "GlimpseMemoryStores", "GlimpseBlobStores", "GlimpseObjectStores", "OpenStack",
                .target(name: "GlimpseRBDStore", condition: .when(traits: ["RBD"])),
                "OpenStackEncoding",
                "OpenStackJSON",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ] + nio,
            swiftSettings: strict
        ),

        // MARK: The SDK and the CLI

        // The client SDK. Depends on no server target.
        .target(
            name: "OpenStack",
            dependencies: [
                "OpenStackEncoding", "OpenStackJSON",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Yams", package: "Yams"),
            ] + nio,
            swiftSettings: strict
        ),
        .executableTarget(
            name: "glimpse",
            dependencies: [
                "GlimpseServer", "GlimpseCore", "GlimpseIdentity", "OpenStack", "OpenStackEncoding", "OpenStackJSON",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),

        // MARK: Tests

        .testTarget(
            name: "OpenStackJSONTests", dependencies: ["OpenStackJSON", propertyBased], exclude: ["JSONTestSuite"]),
        .testTarget(name: "OpenStackEncodingTests", dependencies: ["OpenStackEncoding"]),
        .testTarget(
            name: "GlimpseCoreTests",
            dependencies: [
                "GlimpseCore", "GlimpseMemoryStores", "GlimpseTestSupport", "OpenStackEncoding", "OpenStackJSON",
                "StreamDigests", propertyBased, .product(name: "Logging", package: "swift-log"),
            ] + nio
        ),
        // The metadata-store and blob-store contracts, run against every backend; the plans of
        // every list shape the HTTP API can ask for.
        .testTarget(
            name: "GlimpseStoreTests",
            dependencies: [
                "GlimpseCore", "GlimpseIdentity", "GlimpseSQL", "GlimpseSQLite", "GlimpsePostgres",
                "GlimpseMemoryStores", "GlimpseBlobStores", "GlimpseObjectStores", "GlimpseTestSupport", "GlimpseHTTP",
                "OpenStackEncoding",
                "OpenStackJSON",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ] + nio
        ),
        // The RBD store against a real Ceph (`GLIMPSE_TEST_RBD_URL`); empty without the `RBD` trait.
        .testTarget(
            name: "GlimpseRBDStoreTests",
            dependencies: [
                "GlimpseCore", "OpenStackEncoding",
                .target(name: "GlimpseRBDStore", condition: .when(traits: ["RBD"])),
                .target(name: "CRBD", condition: .when(traits: ["RBD"])),
            ] + nio
        ),
        // Servers for the tests: the application without a socket, or on an ephemeral port.
        .target(
            name: "GlimpseTestSupport",
            dependencies: [
                "GlimpseServer", "GlimpseCore", "GlimpseIdentity", "GlimpsePostgres", "GlimpseSQL", "OpenStackEncoding",
                "OpenStackJSON",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ] + nio,
            path: "Tests/GlimpseTestSupport"
        ),
        // Routes, policy and validation through `app.test(.router)`: no socket.
        .testTarget(
            name: "GlimpseHTTPTests",
            dependencies: [
                "GlimpseTestSupport", "GlimpseServer", "GlimpseHTTP", "GlimpseCore", "GlimpseIdentity",
                "OpenStackEncoding",
                "OpenStackJSON",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Yams", package: "Yams"),
                propertyBased,
            ] + nio
        ),
        // Live servers: streaming, `100-continue`, processes sharing a data directory.
        .testTarget(
            name: "GlimpseServerTests",
            dependencies: [
                "glimpse", "GlimpseTestSupport", "GlimpseServer", "GlimpseHTTP", "GlimpseCore", "OpenStackEncoding",
                "OpenStackJSON",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ] + nio
        ),
        .testTarget(
            name: "OpenStackTests",
            dependencies: [
                "OpenStack", "OpenStackEncoding", "GlimpseTestSupport", "GlimpseServer",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        // Request signing and response parsing of the object stores, without an engine.
        .testTarget(
            name: "GlimpseObjectStoreTests",
            dependencies: ["GlimpseObjectStores", "GlimpseCore", "OpenStack", "OpenStackEncoding"] + nio
        ),
        .testTarget(name: "GlimpseCLITests", dependencies: ["glimpse", "OpenStack", "GlimpseTestSupport"]),
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
                "GlimpseCore", "GlimpseSQL", "GlimpseHTTP", "OpenStackEncoding", "OpenStackJSON", "StreamDigests",
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Benchmarks/GlimpseBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]))
}
