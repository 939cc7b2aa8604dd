// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "Fusebox",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "fusebox", targets: ["fusebox"]),
        .library(name: "FuseboxCore", targets: ["FuseboxCore"]),
        .library(name: "FuseboxLua", targets: ["FuseboxLua"]),
        .library(name: "FuseboxModbus", targets: ["FuseboxModbus"]),
        .library(name: "FuseboxDevices", targets: ["FuseboxDevices"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth", from: "2.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
    ],
    targets: [
        .systemLibrary(
            name: "CLua",
            pkgConfig: "lua5.4",
            providers: [.apt(["liblua5.4-dev"])]
        ),
        .systemLibrary(
            name: "CModbus",
            pkgConfig: "libmodbus",
            providers: [.apt(["libmodbus-dev"])]
        ),
        // Every Lua API call that can raise or yield lives here, in C, so that no
        // longjmp ever crosses a Swift frame.
        .target(name: "CLuaShim", dependencies: ["CLua"]),
        // A GPIO line through the Linux character device (ripple-control inputs).
        .target(name: "CGPIO"),
        .target(name: "FuseboxCore"),
        .target(name: "FuseboxLua", dependencies: ["CLuaShim", "FuseboxCore"]),
        .target(name: "FuseboxModbus", dependencies: ["CModbus"]),
        // The HTTP client of cloud drivers: libcurl's easy interface (libcurl4-openssl-dev).
        .target(name: "CHTTP", linkerSettings: [.linkedLibrary("curl")]),
        // What malloc holds, for the soak's memory report.
        .target(name: "CHeap"),
        .target(name: "FuseboxDevices", dependencies: ["FuseboxCore", "FuseboxLua", "FuseboxModbus", "CHTTP"]),
        // SQLite history through GRDB: samples, events, sessions, retention, queries.
        .target(name: "FuseboxYAML", dependencies: [.product(name: "Yams", package: "Yams")]),
        .target(name: "FuseboxHistory", dependencies: ["FuseboxCore", .product(name: "GRDB", package: "GRDB.swift")]),
        .target(name: "FuseboxController", dependencies: [
            "FuseboxCore", "FuseboxLua", "FuseboxDevices", "FuseboxHistory", "FuseboxYAML", "CGPIO", .product(name: "Yams", package: "Yams"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "FuseboxSimulator", dependencies: [
            "FuseboxCore", "FuseboxModbus", "FuseboxYAML", .product(name: "Yams", package: "Yams"),
        ]),
        // The web page, the REST API, live updates, login and /metrics (Hummingbird).
        .target(name: "FuseboxServer", dependencies: [
            "FuseboxController", "FuseboxHistory", "FuseboxCore", "FuseboxLua", "FuseboxDevices",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
            .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Yams", package: "Yams"),
        ], resources: [.copy("Page")]),
        // The controller driving the simulated site in simulated time: demo, scenarios, bench.
        .target(name: "FuseboxSimulation", dependencies: [
            "CHeap",
            "FuseboxController", "FuseboxSimulator", "FuseboxHistory", "FuseboxYAML", "FuseboxModbus", "FuseboxLua", "FuseboxCore", .product(name: "Yams", package: "Yams"),
        ]),
        .executableTarget(
            name: "fusebox",
            dependencies: [
                "FuseboxCore", "FuseboxLua", "FuseboxModbus", "FuseboxDevices", "FuseboxSimulator", "FuseboxController", "FuseboxSimulation", "FuseboxHistory", "FuseboxServer", "FuseboxFuzz", "CModbus",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
            ]
        ),
        // Loading and checking the JSON case files, random sites: for the tests and the fuzzers.
        .target(name: "FuseboxTesting", dependencies: ["FuseboxCore", "CHTTP"]),
        // The case tables of the tests: the one part that uses Swift Testing, kept
        // out of FuseboxTesting so that the product (through the fuzzers) never links it.
        .target(name: "FuseboxTestCases", dependencies: ["FuseboxTesting"]),
        .target(name: "FuseboxFuzz", dependencies: [
            "FuseboxCore", "FuseboxLua", "FuseboxDevices", "FuseboxModbus", "FuseboxSimulator", "FuseboxSimulation",
            "FuseboxController", "FuseboxTesting", "FuseboxYAML", .product(name: "Yams", package: "Yams"),
        ]),
        .testTarget(name: "FuseboxFuzzTests", dependencies: ["FuseboxFuzz", "FuseboxTesting"], exclude: ["Kept"]),
        .testTarget(name: "FuseboxCoreTests", dependencies: ["FuseboxCore", "FuseboxTesting", "FuseboxTestCases"], exclude: ["Cases"]),
        .testTarget(name: "FuseboxLuaTests", dependencies: ["FuseboxLua", "FuseboxCore", "FuseboxTesting"], exclude: ["Cases", "Hostile"]),
        .testTarget(name: "FuseboxModbusTests", dependencies: ["FuseboxModbus", "FuseboxTesting", "FuseboxTestCases"], exclude: ["Cases"]),
        .testTarget(name: "FuseboxControllerTests", dependencies: ["FuseboxController", "FuseboxSimulation", "FuseboxSimulator", "FuseboxDevices", "FuseboxLua", "FuseboxModbus", "FuseboxCore", "FuseboxHistory", "FuseboxTesting", "FuseboxTestCases"], exclude: ["Cases", "Scenarios"]),
        .testTarget(name: "FuseboxSimulatorTests", dependencies: ["FuseboxSimulator", "FuseboxDevices", "FuseboxLua", "FuseboxModbus", "FuseboxCore", "FuseboxTesting"]),
        .testTarget(name: "FuseboxServerTests", dependencies: [
            "FuseboxServer", "FuseboxController", "FuseboxSimulation", "FuseboxSimulator", "FuseboxHistory", "FuseboxCore", "FuseboxTesting",
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
        ], exclude: ["Cases"]),
        .testTarget(name: "FuseboxHistoryTests", dependencies: ["FuseboxHistory", "FuseboxCore", "FuseboxTesting", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "FuseboxDevicesTests", dependencies: ["FuseboxDevices", "FuseboxLua", "FuseboxModbus", "FuseboxCore", "FuseboxTesting", "FuseboxTestCases"], exclude: ["Cases"]),
    ],
    swiftLanguageModes: [.v6]
)
