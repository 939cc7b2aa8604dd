// swift-tools-version: 6.0
import PackageDescription

// Linux only: the controller uses Glibc, the Linux GPIO character device and
// Debian's system libraries (liblua5.4, libmodbus, libsqlite3, libcurl).
// Each target lists exactly the modules its files import.
let package = Package(
    name: "Fusebox",
    products: [
        // What a device runs.
        .executable(name: "fusebox", targets: ["fusebox"]),
        // What developers run: benchmarks, the soak, the fuzzers.
        .executable(name: "fusebox-dev", targets: ["fusebox-dev"]),
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
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
    ],
    targets: [
        .systemLibrary(
            name: "CLua",
            pkgConfig: "lua5.4",
            providers: [.apt(["liblua5.4-dev"])]
        ),
        .systemLibrary(
            name: "CMosquitto",
            pkgConfig: "libmosquitto",
            providers: [.apt(["libmosquitto-dev"])]
        ),
        .systemLibrary(
            name: "CModbus",
            pkgConfig: "libmodbus",
            providers: [.apt(["libmodbus-dev"])]
        ),
        // Every Lua API call that can raise or yield lives here, in C, so that no
        // longjmp ever crosses a Swift frame (docs/sandbox.md).
        .target(name: "CLuaShim", dependencies: ["CLua"]),
        // A GPIO line through the Linux character device (ripple-control inputs).
        .target(name: "CGPIO"),
        // The HTTP client of cloud drivers: libcurl's easy interface (libcurl4-openssl-dev).
        .target(name: "CHTTP", linkerSettings: [.linkedLibrary("curl")]),
        // What malloc holds, for the soak's memory report.
        .target(name: "CHeap"),

        .target(name: "FuseboxCore"),
        .target(name: "FuseboxLua", dependencies: ["CLuaShim", "FuseboxCore"]),
        .target(name: "FuseboxModbus", dependencies: ["CModbus"]),
        .target(name: "FuseboxDevices", dependencies: ["FuseboxCore", "FuseboxLua", "FuseboxModbus", "CHTTP"]),
        .target(name: "FuseboxYAML", dependencies: [.product(name: "Yams", package: "Yams")]),
        // SQLite history through GRDB: samples, events, sessions, retention, queries.
        .target(name: "FuseboxHistory", dependencies: ["FuseboxCore", .product(name: "GRDB", package: "GRDB.swift")]),
        .target(name: "FuseboxController", dependencies: [
            "CGPIO", "FuseboxCore", "FuseboxDevices", "FuseboxHistory", "FuseboxLua", "FuseboxModbus", "FuseboxOCPP", "FuseboxYAML",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            .product(name: "Yams", package: "Yams"),
        ]),
        .target(name: "FuseboxSimulator", dependencies: [
            "FuseboxCore", "FuseboxModbus", "FuseboxOCPP", "FuseboxYAML",
            .product(name: "Yams", package: "Yams"),
        ]),
        // The web page, the REST API, live updates, login and /metrics (Hummingbird).
        .target(name: "FuseboxServer", dependencies: [
            "FuseboxController", "FuseboxCore", "FuseboxHistory", "FuseboxOCPP",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
            .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], exclude: ["Page"]),
        // The controller driving the simulated site in simulated time: the demo and the scenarios.
        .target(name: "FuseboxSimulation", dependencies: [
            "FuseboxController", "FuseboxCore", "FuseboxLua", "FuseboxModbus", "FuseboxOCPP", "FuseboxSimulator", "FuseboxYAML",
            .product(name: "Yams", package: "Yams"),
        ]),
        // The uplink to a fleet portal and Home Assistant over MQTT (libmosquitto), with store and forward.
        .target(name: "FuseboxUplink", dependencies: [
            "CMosquitto", "FuseboxController", "FuseboxCore", "FuseboxHistory",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // OCPP 1.6J: the central system's side of what stations send (being built: issue 20).
        .target(name: "FuseboxOCPP", dependencies: [
            "FuseboxCore", "FuseboxDevices",
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // What the commands of both executables share: their output and their errors.
        .target(name: "FuseboxCommandLine"),
        .executableTarget(name: "fusebox", dependencies: [
            "FuseboxCommandLine", "FuseboxController", "FuseboxCore", "FuseboxDevices", "FuseboxHistory", "FuseboxLua",
            "FuseboxModbus", "FuseboxOCPP", "FuseboxServer", "FuseboxSimulation", "FuseboxSimulator", "FuseboxUplink", "FuseboxYAML",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),

        // Developers' code, never linked into `fusebox`.
        // A week of the demo site in simulated time, with the heap watched.
        .target(name: "FuseboxSoak", dependencies: [
            "CHeap", "FuseboxController", "FuseboxCore", "FuseboxHistory", "FuseboxLua", "FuseboxSimulation", "FuseboxSimulator",
        ]),
        // Loading and checking the JSON case files, random sites: for the tests and the fuzzers.
        .target(name: "FuseboxTesting", dependencies: ["FuseboxCore", "CHTTP"]),
        // The case tables of the tests: the one part that uses Swift Testing.
        .target(name: "FuseboxTestCases", dependencies: ["FuseboxTesting"]),
        .target(name: "FuseboxFuzz", dependencies: [
            "FuseboxController", "FuseboxCore", "FuseboxDevices", "FuseboxLua", "FuseboxModbus", "FuseboxSimulation",
            "FuseboxSimulator", "FuseboxTesting", "FuseboxYAML", .product(name: "Yams", package: "Yams"),
        ]),
        .executableTarget(name: "fusebox-dev", dependencies: [
            "CModbus", "FuseboxCommandLine", "FuseboxController", "FuseboxCore", "FuseboxDevices", "FuseboxFuzz", "FuseboxHistory",
            "FuseboxLua", "FuseboxModbus", "FuseboxServer", "FuseboxSimulation", "FuseboxSimulator", "FuseboxSoak", "FuseboxUplink",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),

        .testTarget(name: "FuseboxFuzzTests", dependencies: ["FuseboxFuzz", "FuseboxTesting"], exclude: ["Kept"]),
        .testTarget(name: "FuseboxCoreTests", dependencies: ["FuseboxCore", "FuseboxTesting", "FuseboxTestCases"], exclude: ["Cases"]),
        .testTarget(name: "FuseboxLuaTests", dependencies: ["FuseboxLua", "FuseboxCore", "FuseboxTesting"], exclude: ["Cases", "Hostile"]),
        .testTarget(name: "FuseboxModbusTests", dependencies: ["FuseboxModbus", "FuseboxTesting", "FuseboxTestCases"], exclude: ["Cases"]),
        .testTarget(name: "FuseboxControllerTests", dependencies: [
            "FuseboxController", "FuseboxCore", "FuseboxDevices", "FuseboxHistory", "FuseboxLua", "FuseboxModbus",
            "FuseboxSimulation", "FuseboxSimulator", "FuseboxSoak", "FuseboxTestCases", "FuseboxTesting", "FuseboxYAML",
        ], exclude: ["Cases", "Scenarios"]),
        .testTarget(name: "FuseboxSimulatorTests", dependencies: ["FuseboxSimulator", "FuseboxDevices", "FuseboxLua", "FuseboxModbus", "FuseboxCore", "FuseboxTesting"]),
        .testTarget(name: "FuseboxServerTests", dependencies: [
            "FuseboxController", "FuseboxCore", "FuseboxDevices", "FuseboxHistory", "FuseboxLua", "FuseboxOCPP", "FuseboxServer",
            "FuseboxSimulation", "FuseboxSimulator", "FuseboxTesting", "FuseboxYAML",
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
            .product(name: "HummingbirdTesting", package: "hummingbird"),
        ], exclude: ["Cases"]),
        .testTarget(name: "FuseboxHistoryTests", dependencies: ["FuseboxHistory", "FuseboxCore", "FuseboxTesting", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "FuseboxOCPPTests", dependencies: ["FuseboxCore", "FuseboxDevices", "FuseboxOCPP"], exclude: ["Cases"]),
        .testTarget(name: "FuseboxUplinkTests", dependencies: [
            "FuseboxController", "FuseboxCore", "FuseboxHistory", "FuseboxSimulation", "FuseboxSimulator", "FuseboxTesting", "FuseboxUplink",
            "FuseboxYAML",
        ], exclude: ["Cases"]),
        .testTarget(name: "FuseboxDevicesTests", dependencies: ["FuseboxDevices", "FuseboxLua", "FuseboxModbus", "FuseboxCore", "FuseboxTesting", "FuseboxTestCases"], exclude: ["Cases"]),
    ],
    swiftLanguageModes: [.v6]
)
