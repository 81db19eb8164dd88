// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Portail",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "portail", targets: ["portail"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
    ],
    targets: [
        // Pure values and rules: no I/O.
        .target(name: "PortailDomain"),
        // centers/*.yaml -> validated configuration.
        .target(
            name: "PortailConfig",
            dependencies: [
                "PortailDomain",
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        // The payment provider protocol and helpers; nothing provider-specific.
        .target(name: "PaymentKit", dependencies: [.product(name: "Crypto", package: "swift-crypto")]),
        // PostgreSQL: migrations, tenant-scoped transactions, repositories, embedded cluster.
        .target(
            name: "PortailStore",
            dependencies: [
                "PortailDomain",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            resources: [.copy("Migrations")]
        ),
        // HTTP: pages, middleware, health and metrics.
        .target(
            name: "PortailApp",
            dependencies: [
                "PortailDomain",
                "PortailConfig",
                "PortailStore",
                "PaymentKit",
                "PortailDocuments",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            resources: [.copy("Templates"), .copy("Public")]
        ),
        // What the database and HTTP tests share: a throwaway cluster and fresh databases.
        .target(
            name: "PortailTestSupport",
            dependencies: ["PortailStore", "PortailDomain", .product(name: "Logging", package: "swift-log")]
        ),
        // PDF documents (invoices, receipts, certificates) drawn with cairo, fonts embedded.
        .systemLibrary(name: "CCairo", pkgConfig: "cairo", providers: [.apt(["libcairo2-dev"])]),
        .target(name: "PortailDocuments", dependencies: ["CCairo", "PortailDomain"]),
        // Payment providers: each depends on PaymentKit only.
        .target(name: "Simulator", dependencies: ["PaymentKit"], path: "Plugins/Simulator"),
        .target(name: "SystemPay", dependencies: ["PaymentKit"], path: "Plugins/SystemPay"),
        .target(name: "PayFiP", dependencies: ["PaymentKit"], path: "Plugins/PayFiP"),
        .target(name: "HelloAsso", dependencies: ["PaymentKit"], path: "Plugins/HelloAsso"),
        .target(name: "Stripe", dependencies: ["PaymentKit"], path: "Plugins/Stripe"),
        .target(name: "Monetico", dependencies: ["PaymentKit"], path: "Plugins/Monetico"),
        // A fake of each provider's bank, speaking its documented protocol over real HTTP on a local port:
        // for the tests, and for the demo (each center pays through the fake of its own provider).
        .target(
            name: "FakeBanks",
            dependencies: [
                "PaymentKit", "SystemPay", "Stripe", "Monetico",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Sources/FakeBanks"
        ),
        .executableTarget(
            name: "portail",
            dependencies: [
                "PortailApp",
                "PortailConfig",
                "PortailStore",
                "Simulator",
                "SystemPay",
                "PayFiP",
                "HelloAsso",
                "Stripe",
                "Monetico",
                "FakeBanks",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Opening-day figures for docs/benchmarks.md.
        .executableTarget(
            name: "portail-benchmarks",
            dependencies: ["PortailStore", "PortailConfig", "PortailDomain", "PortailTestSupport", .product(name: "Logging", package: "swift-log"),
                           .product(name: "AsyncHTTPClient", package: "async-http-client")],
            path: "Benchmarks",
            exclude: ["Baseline", "LargeDatabase"]
        ),
        // The three-select Hummingbird + PostgresNIO server the pages are measured against (scripts/bench-pages).
        .executableTarget(
            name: "portail-baseline",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/Baseline"
        ),
        .testTarget(name: "PortailDomainTests", dependencies: ["PortailDomain"]),
        .testTarget(
            name: "PortailConfigTests",
            dependencies: ["PortailConfig"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(name: "PaymentKitTests", dependencies: ["PaymentKit", "Simulator", "SystemPay", "FakeBanks", "PayFiP", "HelloAsso", "Stripe", "Monetico",
                                                            .product(name: "AsyncHTTPClient", package: "async-http-client")]),
        .testTarget(name: "PortailStoreTests", dependencies: ["PortailStore", "PortailConfig", "PortailTestSupport"]),
        .testTarget(
            name: "PortailAppTests",
            dependencies: [
                "PortailApp",
                "PortailStore",
                "PortailConfig",
                "PortailTestSupport",
                "PaymentKit",
                "SystemPay",
                "PayFiP",
                "HelloAsso",
                "Stripe",
                "Monetico",
                "Simulator",
                "FakeBanks",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
