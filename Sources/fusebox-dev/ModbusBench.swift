import CModbus
import Foundation
import FuseboxCommandLine
import FuseboxDevices
import FuseboxModbus

/// The Modbus figures: one register read through our stack beside a raw
/// libmodbus loop against the same in-process server, and the wall time to poll
/// 100 devices at once, each over its own connection.
struct ModbusBench {
    var rounds: Int

    func run() async throws -> [String: Any] {
        let units = Array(1...100)
        let server = ModbusServer(units: units)
        try server.start()
        defer { server.stop() }
        for u in units { server.withBank(unit: u) { $0.write(.holdingRegisters, address: 0x400C, values: [0, 4]) } }

        // Raw: one libmodbus context and a blocking read loop.
        guard let context = modbus_new_tcp("127.0.0.1", Int32(server.port)), modbus_connect(context) == 0 else {
            throw Failure(message: "bench: cannot connect to the in-process Modbus server")
        }
        let raw = RawLoop(context: context)
        let ours = ModbusConnection(endpoint: .tcp(host: "127.0.0.1", port: server.port), name: "bench")
        _ = try await ours.readHoldingRegisters(unit: 1, address: 0x400C, count: 2)

        // One register read through a Lua driver: connection + driver + sandbox.
        let driven = try LuaDevice(id: "bench", script: DriverScript(source: """
            return { name = "bench", kind = "meter", poll = function(dev)
              local r, err = dev:read_holding(0x400C, 2)
              if not r then return nil, err end
              return { power = fusebox.decode(r, 1, "uint32") }
            end }
            """, origin: "bench.lua"), connection: ours, unit: 1)
        // A poll that reads nothing: the hop and the call into Lua alone.
        let idle = try LuaDevice(id: "idle", script: DriverScript(source: """
            return { name = "idle", kind = "meter", poll = function(dev) return { power = 1 } end }
            """, origin: "idle.lua"), connection: ours, unit: 1)
        // A poll of 20 reads: what one more read costs a driver once its poll runs.
        let reads = 20
        let many = try LuaDevice(id: "many", script: DriverScript(source: """
            return { name = "many", kind = "meter", poll = function(dev)
              local total = 0
              for _ = 1, \(reads) do
                local r, err = dev:read_holding(0x400C, 2)
                if not r then return nil, err end
                total = total + fusebox.decode(r, 1, "uint32")
              end
              return { power = total }
            end }
            """, origin: "many.lua"), connection: ours, unit: 1)
        for device in [driven, idle, many] { _ = try await device.poll().get() }

        // The variants in blocks, interleaved round by round. The raw loop runs
        // twice: on this task's thread, and on the connection's queue, the
        // thread our reads block on. On a virtual machine a wakeup across CPUs
        // can cost more than the whole read, and which thread shares a CPU with
        // the server's decides it (docs/modbus.md): the second raw loop is the
        // baseline that pays the same.
        let clock = ContinuousClock()
        let perBlock = 500
        var samples: [String: [Double]] = [:]
        func timed(_ body: () async throws -> Void) async rethrows -> Double {
            let start = clock.now
            try await body()
            return start.duration(to: clock.now).microseconds
        }
        for _ in 0..<rounds {
            samples["raw", default: []] += raw.reads(perBlock)
            samples["raw_on_queue", default: []] += await ours.withSession { _ in raw.reads(perBlock) }
            // The same again for the CPU time of the thread alone, which no wakeup delays.
            samples["raw_on_queue_cpu", default: []].append(await ours.withSession { _ in
                let start = threadCPUMicroseconds()
                _ = raw.reads(perBlock)
                return (threadCPUMicroseconds() - start) / Double(perBlock)
            })
            for _ in 0..<perBlock {
                samples["connection", default: []].append(try await timed { _ = try await ours.readHoldingRegisters(unit: 1, address: 0x400C, count: 2) })
            }
            samples["in_session", default: []] += await ours.withSession { session in
                (0..<perBlock).map { _ in
                    let start = ContinuousClock.now
                    _ = session.read(.readHoldingRegisters, unit: 1, address: 0x400C, count: 2)
                    return start.duration(to: .now).microseconds
                }
            }
            for _ in 0..<perBlock {
                samples["driver", default: []].append(try await timed { _ = try await driven.poll().get() })
                samples["idle", default: []].append(try await timed { _ = try await idle.poll().get() })
            }
            // Polls in a task that runs on the connection's queue: no hop per poll.
            samples["driver_on_queue", default: []] += await Task(executorPreference: driven.taskExecutor) {
                var out: [Double] = []
                for _ in 0..<perBlock { out.append(await timed { _ = await driven.poll() }) }
                return out
            }.value
            samples["driver_on_queue_cpu", default: []].append(await Task(executorPreference: driven.taskExecutor) {
                let t = threadCPUMicroseconds()
                for _ in 0..<perBlock { _ = await driven.poll() }
                return (threadCPUMicroseconds() - t) / Double(perBlock)
            }.value)
            // The same two read by read, in turn on the queue's thread: a raw read,
            // then a one-read poll. Blocks of 500 run a few hundred ms apart, and
            // the scheduler can move the queue's thread in between (docs/modbus.md);
            // pairs see the same placement.
            let (raws, polls) = await Task(executorPreference: driven.taskExecutor) {
                var raws: [Double] = [], polls: [Double] = []
                for _ in 0..<perBlock {
                    raws += raw.reads(1)
                    polls.append(await timed { _ = await driven.poll() })
                }
                return (raws, polls)
            }.value
            samples["raw_paired", default: []] += raws
            samples["driver_paired", default: []] += polls
            samples["idle_on_queue", default: []] += await Task(executorPreference: idle.taskExecutor) {
                var out: [Double] = []
                for _ in 0..<perBlock { out.append(await timed { _ = await idle.poll() }) }
                return out
            }.value
            for _ in 0..<perBlock {
                samples["hop", default: []].append(await timed { await ours.withSession { _ in } })
            }
            for _ in 0..<(perBlock / reads) {
                samples["in_poll", default: []].append(try await timed { _ = try await many.poll().get() } / Double(reads))
            }
        }

        // 100 devices, one connection each, polled together.
        let devices = units.map { ModbusConnection(endpoint: .tcp(host: "127.0.0.1", port: server.port), name: "c\($0)") }
        for (i, d) in devices.enumerated() { _ = try await d.readHoldingRegisters(unit: units[i], address: 0x400C, count: 2) }
        // The same through the shipped ABB Terra driver (two reads a poll).
        let abb = try units.map { u in
            try LuaDevice(id: "c\(u)", script: DriverLibrary.shipped().load("abb_terra"),
                          connection: ModbusConnection(endpoint: .tcp(host: "127.0.0.1", port: server.port), name: "c\(u)"), unit: u)
        }
        for d in abb { _ = try await d.poll().get() }
        // Each poll a task started on its connection's queue, as the cycle does;
        // beside it the same started anywhere, which hops onto the queue and back.
        // Wall time, and the process's CPU time (user + system) per round.
        var pollDrivers: [Double] = [], pollDriversHopping: [Double] = []
        var cpuOnQueue: [Double] = [], cpuHopping: [Double] = []
        for _ in 0..<(rounds * 10) {
            var cpu = processCPUSeconds()
            pollDrivers.append(await timed {
                await withTaskGroup(of: Void.self) { group in
                    for d in abb { group.addTask(executorPreference: d.taskExecutor) { _ = await d.poll() } }
                }
            })
            cpuOnQueue.append((processCPUSeconds() - cpu) * 1e6)
            cpu = processCPUSeconds()
            pollDriversHopping.append(await timed {
                await withTaskGroup(of: Void.self) { group in
                    for d in abb { group.addTask { _ = await d.poll() } }
                }
            })
            cpuHopping.append((processCPUSeconds() - cpu) * 1e6)
        }
        var pollAll: [Double] = []
        for _ in 0..<(rounds * 10) {
            pollAll.append(try await timed {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for (i, d) in devices.enumerated() {
                        group.addTask { _ = try await d.readHoldingRegisters(unit: units[i], address: 0x400C, count: 2) }
                    }
                    try await group.waitForAll()
                }
            })
        }

        func figure(_ key: String) -> [String: Any] {
            let v = samples[key]!
            return ["median": round2(median(v)), "p99": round2(p99(v)), "samples": v.count]
        }
        func ratio(_ key: String, to base: String) -> Double { round2(median(samples[key]!) / median(samples[base]!)) }
        let limit = (Thresholds.load()["modbus"] as? [String: Double])?["round_trip_ratio"]
        var result: [String: Any] = [
            "round_trip_raw_libmodbus_us": figure("raw"),
            "round_trip_raw_libmodbus_on_queue_us": figure("raw_on_queue"),
            "round_trip_fusebox_us": figure("connection"),
            "round_trip_ratio": ratio("connection", to: "raw"),
            "round_trip_through_driver_us": figure("driver"),
            "round_trip_through_driver_ratio": ratio("driver", to: "raw"),
            "poll_without_io_us": figure("idle"),
            "hop_us": figure("hop"),
            "poll_on_queue_us": figure("driver_on_queue"),
            "cpu_raw_on_queue_us": figure("raw_on_queue_cpu"),
            "cpu_poll_on_queue_us": figure("driver_on_queue_cpu"),
            "cpu_poll_on_queue_ratio_to_raw_on_queue": ratio("driver_on_queue_cpu", to: "raw_on_queue_cpu"),
            "poll_without_io_on_queue_us": figure("idle_on_queue"),
            "poll_on_queue_ratio_to_raw_on_queue": ratio("driver_on_queue", to: "raw_on_queue"),
            "round_trip_raw_libmodbus_paired_us": figure("raw_paired"),
            "poll_on_queue_paired_us": figure("driver_paired"),
            "poll_on_queue_paired_ratio_to_raw": ratio("driver_paired", to: "raw_paired"),
            "read_in_session_us": figure("in_session"),
            "read_in_session_ratio_to_raw_on_queue": ratio("in_session", to: "raw_on_queue"),
            "read_within_a_20_read_poll_us": figure("in_poll"),
            "read_within_a_20_read_poll_ratio_to_raw_on_queue": ratio("in_poll", to: "raw_on_queue"),
            "poll_100_chargers_abb_terra_driver_wall_ms": ["median": round2(median(pollDrivers) / 1000),
                                                           "p99": round2(p99(pollDrivers) / 1000), "samples": pollDrivers.count],
            "poll_100_chargers_abb_terra_driver_started_anywhere_wall_ms": [
                "median": round2(median(pollDriversHopping) / 1000), "p99": round2(p99(pollDriversHopping) / 1000),
                "samples": pollDriversHopping.count],
            "poll_100_chargers_abb_terra_driver_cpu_ms": ["median": round2(median(cpuOnQueue) / 1000),
                                                          "p99": round2(p99(cpuOnQueue) / 1000), "samples": cpuOnQueue.count],
            "poll_100_chargers_abb_terra_driver_started_anywhere_cpu_ms": [
                "median": round2(median(cpuHopping) / 1000), "p99": round2(p99(cpuHopping) / 1000), "samples": cpuHopping.count],
            "poll_100_devices_wall_ms": ["median": round2(median(pollAll) / 1000), "p99": round2(p99(pollAll) / 1000),
                                         "samples": pollAll.count],
            "note": "fusebox = a ModbusConnection read (hop onto its queue and back); through_driver adds a Lua driver's poll; "
                + "in_session = reads on the connection's queue without the hop; poll_without_io = the hop and the Lua call alone; "
                + "on_queue = polls in a task on the connection's queue, as the cycle starts them (no hop per poll); "
                + "cpu_*_on_queue = the CPU time of the queue's thread per read or poll (blocks of 500); "
                + "poll_100 cpu = the whole process's (the in-process server's too); "
                + "raw_on_queue = the raw libmodbus loop run on the connection's queue; "
                + "paired = a raw read and a one-read poll in turn on the queue, read by read. Pin with `taskset -c 0` to take "
                + "cross-CPU wakeups out (docs/modbus.md).",
        ]
        // Issue 3's ratio: a one-read poll as the controller starts it (a task on
        // the connection's queue) against a raw libmodbus read on that same
        // thread, read by read in turn.
        let pollRatio = median(samples["driver_paired"]!) / median(samples["raw_paired"]!)
        if let limit {
            result["targets"] = ["poll_on_queue_paired_ratio_to_raw": ["limit": limit, "value": round2(pollRatio), "met": pollRatio <= limit]]
        }
        return result
    }

    func median(_ v: [Double]) -> Double { v.sorted()[v.count / 2] }
    func p99(_ v: [Double]) -> Double { let s = v.sorted(); return s[min(s.count - 1, Int(Double(s.count) * 0.99))] }
    func round2(_ v: Double) -> Double { (v * 100).rounded() / 100 }
}

/// The raw libmodbus baseline: one context, used by one thread at a time (the
/// bench's blocks run one after another).
// Unchecked: one libmodbus context, used by one thread at a time (the bench's blocks run one after another).
private final class RawLoop: @unchecked Sendable {
    let context: OpaquePointer
    private var registers = [UInt16](repeating: 0, count: 2)

    init(context: OpaquePointer) {
        self.context = context
        modbus_set_slave(context, 1)
    }

    deinit {
        modbus_close(context)
        modbus_free(context)
    }

    /// `count` reads, each timed, in µs.
    func reads(_ count: Int) -> [Double] {
        (0..<count).map { _ in
            let start = ContinuousClock.now
            _ = registers.withUnsafeMutableBufferPointer { modbus_read_registers(context, 0x400C, 2, $0.baseAddress) }
            return start.duration(to: .now).microseconds
        }
    }
}

/// User and system time of the whole process so far, in seconds.
private func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

/// CPU time of the calling thread so far, in µs.
private func threadCPUMicroseconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
    return Double(t.tv_sec) * 1e6 + Double(t.tv_nsec) / 1e3
}
