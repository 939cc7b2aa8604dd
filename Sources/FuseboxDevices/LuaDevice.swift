import Foundation
import FuseboxCore
import FuseboxLua
import FuseboxModbus

/// What a driver's `poll` reported.
public struct DeviceReading: Sendable, Equatable {
    /// For chargers.
    public var status: ChargerStatus?
    /// A per phase: the charger's own phases, or L1..L3 of a meter; signed for meters.
    public var current: [Double]
    public var voltage: [Double]
    /// W per phase, for meters that report it.
    public var phasePower: [Double]
    /// W in all.
    public var power: Double?
    /// kWh (a meter's total, a charger's session).
    public var energy: Double?
    /// Seconds since the currents were measured, for a device that reports on its own
    /// schedule (an OCPP station's MeterValues); nil: just now.
    public var age: Double?

    public init(status: ChargerStatus? = nil, current: [Double] = [], voltage: [Double] = [], phasePower: [Double] = [],
                power: Double? = nil, energy: Double? = nil, age: Double? = nil) {
        self.age = age
        self.status = status
        self.current = current
        self.voltage = voltage
        self.phasePower = phasePower
        self.power = power
        self.energy = energy
    }

    /// The ranges a reading must keep to be handed on. Wider than any device the
    /// project supports, narrow enough that a misread register (a float read as
    /// an integer, the wrong word order, noise) is refused, not believed.
    public enum Plausible {
        /// A per phase: 1 MVA at 400 V is 1.4 kA; a charger is far below.
        public static let current = 10_000.0
        public static let voltage = 0.0...1_000.0
        /// W, per phase or in all.
        public static let power = 100e6
        /// kWh.
        public static let energy = 0.0...1e10
    }

    /// Why the reading is outside its type, or nil. A charger's currents are
    /// magnitudes (a little below zero is a sensor's offset, not a direction),
    /// except while it discharges; a meter's are signed.
    public func implausibility(charger: Bool) -> String? {
        for (name, values) in [("current", current), ("voltage", voltage), ("phase_power", phasePower)] where values.count > 3 {
            return "\(values.count) values of \(name), at most 3 expected"
        }
        for v in current + voltage + phasePower + [power ?? 0, energy ?? 0] where !v.isFinite { return "a value that is not a number" }
        let lowest = charger && status != .discharging ? -0.5 : -Plausible.current
        for a in current where a < lowest || a > Plausible.current { return "current \(a) A" }
        for v in voltage where !Plausible.voltage.contains(v) { return "voltage \(v) V" }
        for w in phasePower + [power ?? 0] where abs(w) > Plausible.power { return "power \(w) W" }
        if let e = energy, !Plausible.energy.contains(e) { return "energy \(e) kWh" }
        return nil
    }
}

/// A failed poll or apply: the driver's error, or the device's.
public struct DeviceError: Error, Sendable, CustomStringConvertible {
    public var device: String
    public var message: String
    public var description: String { "\(device): \(message)" }

    public init(device: String, message: String) {
        self.device = device
        self.message = message
    }
}

/// A device run by a Lua driver over one Modbus connection, or over HTTP for a
/// cloud charger. Its Lua state and the connection's libmodbus context (or the
/// HTTP client) are used together on the connection's queue only: a `poll`
/// runs there whole, so the driver's register reads make no thread hop.
// Unchecked: its Lua state, its script and `io` are touched on the link's
// queue only (`onQueue` checks it at run time); `id` and the links are immutable.
public final class LuaDevice: @unchecked Sendable {
    public let id: String
    /// Changed only on the connection's queue (by `reload`).
    public private(set) var script: DriverScript
    /// The Modbus connection, or nil for a device reached over HTTP (`web`).
    public let connection: ModbusConnection?
    public let web: WebAccess?
    public let unit: Int
    private let config: LuaValue
    private let io: DeviceIO
    private var initialized = false
    /// The argument tape of the driver's calls, reused (on the connection's queue only).
    private var tape = TapeWriter(capacity: 512)
    /// Seconds, for `dev.time`: what drivers pace their watchdog writes by.
    private let clock: @Sendable () -> Double

    public init(id: String, script: DriverScript, connection: ModbusConnection, unit: Int, config: LuaValue = .table([]),
                clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) throws(LuaError) {
        self.id = id
        self.script = script
        self.connection = connection
        web = nil
        self.unit = unit
        self.config = config
        self.clock = clock
        io = DeviceIO(unit: unit, web: nil)
        try Self.bind(script, to: io)
    }

    /// A cloud charger: its driver talks HTTP through `web` (`dev:http`), and
    /// has no registers.
    public init(id: String, script: DriverScript, web: WebAccess, config: LuaValue = .table([]),
                clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) throws(LuaError) {
        self.id = id
        self.script = script
        connection = nil
        self.web = web
        unit = 0
        self.config = config
        self.clock = clock
        io = DeviceIO(unit: 0, web: web)
        try Self.bind(script, to: io)
    }

    private static func bind(_ script: DriverScript, to io: DeviceIO) throws(LuaError) {
        guard script.kind != .ocpp else {
            throw LuaError(kind: .contract, script: script.name, message: "\(script.origin) holds an OCPP station's quirks: give it to a charger whose station connects over OCPP (no host or port)")
        }
        try script.sandbox.setDeviceIO(deviceIO, context: Unmanaged.passUnretained(io).toOpaque())
        if io.web != nil { script.sandbox.setDeviceHTTP(deviceHTTP) }
    }

    /// Where to start a task that polls or applies (`addTask(executorPreference:)`):
    /// on the Modbus connection's queue, so the call makes no hop there and back.
    /// Nil for a device reached over HTTP.
    public var taskExecutor: (any TaskExecutor)? { connection?.taskExecutor }

    /// Runs `body` alone with the device's link: on the Modbus connection's
    /// queue with its session, or on the HTTP client's queue.
    private func serially<T: Sendable>(_ body: @escaping @Sendable (ModbusSession?) -> T) async -> T {
        if let connection { return await connection.withSession { body($0) } }
        guard let web else { return body(nil) }
        return await web.serially { body(nil) }
    }

    public func poll() async -> Result<DeviceReading, DeviceError> {
        await serially { session in self.onQueue(session) { try self.pollNow() } }
    }

    /// A poll (with `init` first, when it has not run) whose register writes are
    /// answered as done and never sent. It leaves no trace: `dev.state` is put
    /// back as it was (a watchdog "fed" by it would go unfed), and `init` runs
    /// again, writing, before the next real poll.
    public func read() async -> Result<DeviceReading, DeviceError> {
        await serially { session in
            let script = self.script, state = try? script.sandbox.persistent, initialized = self.initialized
            self.io.dryRun = true
            defer {
                self.io.dryRun = false
                if let state { try? script.sandbox.setPersistent(state) }
                self.initialized = initialized
            }
            return self.onQueue(session) { try self.pollNow() }
        }
    }

    /// Writes a current limit (A per phase, 0 pauses) through the driver's `apply`.
    public func apply(amps: Double, phases: Int = 3) async -> Result<Void, DeviceError> {
        await serially { session in
            self.onQueue(session) {
                let out = try self.call("apply", on: self.script) { t in
                    t.number(amps)
                    t.integer(phases)
                }
                if out.first == .boolean(true) || out.first == nil || out.first == .nil && out.count < 2 { return () }
                throw DeviceError(device: self.id, message: out.dropFirst().first?.string ?? "apply failed")
            }
        }
    }

    /// What the driver's `identify` makes of the device (reads only, no
    /// `init`): its make and what else it could read, or nil when the device
    /// is not one of its make (or the driver cannot tell).
    public func identify() async -> DeviceIdentity? {
        guard script.canIdentify else { return nil }
        return await serially { session in
            self.connection?.checkOwner()
            self.web?.checkOwner()
            self.io.session = session
            self.io.dryRun = true
            defer { self.io.session = nil; self.io.dryRun = false }
            guard let out = try? self.call("identify", on: self.script), let found = out.first, found.entries != nil,
                  let make = found["make"].string, !make.isEmpty else { return nil }
            return DeviceIdentity(make: make, model: found["model"].string, serial: found["serial"].string,
                                  firmware: found["firmware"].string)
        }
    }

    /// Hot reload: `replacement` (compiled fresh by the caller) takes over this
    /// device's `dev.state`, is dry-run through `init` and `poll` on the device,
    /// and replaces the running driver only if both succeed. It all happens on
    /// the connection's queue, between two polls: no poll is missed or doubled.
    /// On failure the old driver keeps running and the error says why.
    public func reload(_ replacement: sending DriverScript) async -> Result<DeviceReading, DeviceError> {
        guard replacement.kind == script.kind else {
            return .failure(DeviceError(device: id, message: "reload refused: \(replacement.origin) is a \(replacement.kind) driver, the device needs a \(script.kind) driver"))
        }
        // The caller gave the script away (`sending`): it moves to the queue.
        let handoff = Handoff(replacement)
        return await serially { session in
            let replacement = handoff.value
            let old = (script: self.script, initialized: self.initialized)
            self.io.session = session
            defer { self.io.session = nil }
            // A dry run reads the device but writes nothing to it: a driver
            // that is then refused must not have changed the live station.
            self.io.dryRun = true
            defer { self.io.dryRun = false }
            do {
                try Self.bind(replacement, to: self.io)
                try replacement.sandbox.setPersistent(old.script.sandbox.persistent)
                self.script = replacement
                self.initialized = false
                if replacement.hasInit { _ = try self.call("init", on: replacement) }
                let reading = try self.pollNow()
                // Taken: its init runs again before the next poll, this time with its writes.
                self.initialized = false
                return .success(reading)
            } catch {
                self.script = old.script
                self.initialized = old.initialized
                let why = (error as? LuaError).map { "driver \($0)" } ?? "\(error)"
                return .failure(DeviceError(device: self.id, message: "reload of \(replacement.origin) refused, \(old.script.origin) keeps running: \(why)"))
            }
        }
    }

    // MARK: - on the connection's queue

    private func onQueue<T>(_ session: ModbusSession?, _ body: () throws -> T) -> Result<T, DeviceError> {
        // The Lua state belongs to the link's queue, checked at run time.
        connection?.checkOwner()
        web?.checkOwner()
        io.session = session
        defer { io.session = nil }
        do {
            if !initialized && script.hasInit { _ = try call("init", on: script) }
            initialized = true
            return .success(try body())
        } catch let error as DeviceError {
            return .failure(error)
        } catch let error as LuaError {
            return .failure(DeviceError(device: id, message: "driver \(error)"))
        } catch {
            return .failure(DeviceError(device: id, message: "\(error)"))
        }
    }

    /// Calls `function(dev, ...)` of `script`; `arguments` writes what follows
    /// `dev`. Uses the device's one tape: on the connection's queue only.
    private func call(_ function: String, on script: DriverScript,
                      _ arguments: (inout TapeWriter) -> Void = { _ in }) throws(LuaError) -> [LuaValue] {
        tape.reset()
        writeDev(into: &tape)
        arguments(&tape)
        // The sandbox checks its time budget between instructions; a driver that
        // waits on slow reads runs few of them. Its I/O stops with the budget.
        io.ioDeadline = DeviceIO.now() + script.sandbox.limits.time
        defer { io.ioDeadline = .infinity }
        return try script.sandbox.call(function, arguments: tape, persist: "state")
    }

    private func writeDev(into t: inout TapeWriter) {
        t.beginTable(fieldCount: 4)
        t.key("id"); t.string(id)
        t.key("time"); t.number(clock())
        t.key("unit"); t.integer(unit)
        t.key("config"); t.value(config.entries == nil ? .table([]) : config)
        t.endTable()
    }

    private func pollNow() throws -> DeviceReading {
        let out = try call("poll", on: script)
        guard let reading = out.first, reading.entries != nil else {
            throw DeviceError(device: id, message: out.dropFirst().first?.string ?? "poll returned \(out.first?.brief ?? "nothing")")
        }
        func numbers(_ key: String) -> [Double] { reading[key].sequence.compactMap(\.number) }
        var status: ChargerStatus?
        if let s = reading["status"].string {
            guard let known = ChargerStatus(rawValue: s) else {
                throw DeviceError(device: id, message: "driver \(script.name) reported unknown status \"\(s)\"")
            }
            status = known
        } else if script.kind == .charger {
            throw DeviceError(device: id, message: "driver \(script.name) reported no status")
        }
        let r = DeviceReading(status: status, current: numbers("current"), voltage: numbers("voltage"),
                              phasePower: numbers("phase_power"), power: reading["power"].number, energy: reading["energy"].number)
        if let why = r.implausibility(charger: script.kind == .charger) {
            throw DeviceError(device: id, message: "driver \(script.name) reported \(why), which no device of its kind can")
        }
        return r
    }
}

/// What a driver's `identify` found out about a device.
public struct DeviceIdentity: Sendable, Equatable, Codable {
    public var make: String
    public var model: String?
    public var serial: String?
    public var firmware: String?
}

/// The session a device's driver may use while one of its calls runs.
// Unchecked: used only during a call of its device, on the device's queue.
final class DeviceIO: @unchecked Sendable {
    let unit: Int
    var session: ModbusSession?
    /// A reload's dry run: register writes are answered as done and not sent.
    var dryRun = false
    /// When the running call's time budget ends (monotonic seconds): device I/O
    /// after it fails at once, so that the budget holds for a driver blocked in reads.
    var ioDeadline = Double.infinity

    static func now() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }

    var budgetSpent: Bool { Self.now() > ioDeadline }
    let web: WebAccess?
    /// The last HTTP answer's body: the shim copies it into Lua after
    /// `deviceHTTP` has returned, so it must outlive that call (and not move).
    private(set) var answer = UnsafeMutableRawBufferPointer(start: nil, count: 0)
    init(unit: Int, web: WebAccess?) {
        self.unit = unit
        self.web = web
    }

    deinit { answer.deallocate() }

    func keep(_ body: Data) -> UnsafePointer<CChar> {
        answer.deallocate()
        answer = .allocate(byteCount: body.count + 1, alignment: 1)
        _ = body.copyBytes(to: answer.bindMemory(to: UInt8.self))
        answer[body.count] = 0
        // (Never nil: the buffer was just allocated with at least one byte, the terminating 0.)
        return UnsafePointer(answer.baseAddress!.assumingMemoryBound(to: CChar.self))
    }
}

private func fill(_ error: UnsafeMutablePointer<CChar>?, _ errorLength: Int, _ message: String) -> Int32 {
    if let error, errorLength > 0 {
        let bytes = Array(message.utf8.prefix(errorLength - 1))
        for (i, b) in bytes.enumerated() { error[i] = CChar(bitPattern: b) }
        error[bytes.count] = 0
    }
    return -1
}

/// The host side of `dev:http` (CLuaShim/Device.c): the blocking request on
/// the device's queue, then a status; the body stays in `io.answer`.
private func deviceHTTP(context: UnsafeMutableRawPointer?, method: UnsafePointer<CChar>?, url: UnsafePointer<CChar>?,
                        headers: UnsafePointer<CChar>?, body: UnsafePointer<CChar>?, bodyLength: Int, timeoutMs: Int32,
                        response: UnsafeMutablePointer<UnsafePointer<CChar>?>?, responseLength: UnsafeMutablePointer<Int>?,
                        error: UnsafeMutablePointer<CChar>?, errorLength: Int) -> Int32 {
    guard let context, let method, let url, let response, let responseLength else { return -1 }
    let io = Unmanaged<DeviceIO>.fromOpaque(context).takeUnretainedValue()
    guard let web = io.web else { return fill(error, errorLength, "this device has no HTTP") }
    if io.budgetSpent { return fill(error, errorLength, "the driver's time budget is spent: no more requests in this call") }
    var fields: [(String, String)] = []
    for line in (headers.map { String(cString: $0) } ?? "").split(separator: "\n") {
        guard let colon = line.firstIndex(of: ":") else { continue }
        fields.append((String(line[..<colon]), String(line[line.index(colon, offsetBy: 2)...])))
    }
    let payload = body.map { Data(bytes: $0, count: bodyLength) }
    switch web.request(method: String(cString: method), url: String(cString: url), headers: fields, body: payload,
                       timeout: Double(timeoutMs) / 1000) {
    case .failure(let e): return fill(error, errorLength, e.message)
    case .success(let answer):
        response.pointee = io.keep(answer.body)
        responseLength.pointee = answer.body.count
        return Int32(clamping: answer.status)
    }
}

/// The host side of `dev:read_holding` and friends (CLuaShim/Device.c): no Lua
/// calls here, only the blocking request on the session, then a status.
private func deviceIO(context: UnsafeMutableRawPointer?, function: Int32, address: Int32, count: Int32,
                      values: UnsafeMutablePointer<UInt16>?, error: UnsafeMutablePointer<CChar>?, errorLength: Int) -> Int32 {
    guard let context, let values else { return -1 }
    let io = Unmanaged<DeviceIO>.fromOpaque(context).takeUnretainedValue()
    func fail(_ message: String) -> Int32 { fill(error, errorLength, message) }
    if io.web != nil { return fail("this device is reached over HTTP: it has no registers") }
    guard let session = io.session, let fc = ModbusFunction(rawValue: UInt8(function)) else {
        return fail("device I/O outside a poll or apply")
    }
    if io.budgetSpent { return fail("the driver's time budget is spent: no more reads or writes in this call") }
    switch fc {
    case .readHoldingRegisters, .readInputRegisters, .readCoils, .readDiscreteInputs:
        switch session.read(fc, unit: io.unit, address: Int(address), count: Int(count)) {
        case .success(let read):
            for (i, v) in read.enumerated() { values[i] = v }
            return 0
        case .failure(let e): return fail(e.description)
        }
    default:
        if io.dryRun { return 0 }
        let input = (0..<Int(count)).map { values[$0] }
        switch session.write(fc, unit: io.unit, address: Int(address), values: input) {
        case .success: return 0
        case .failure(let e): return fail(e.description)
        }
    }
}

/// Carries a value that its sender has given up (a `sending` parameter) onto the
/// connection's queue, where it is used alone.
private final class Handoff<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
