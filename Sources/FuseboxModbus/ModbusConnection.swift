import CModbus
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// Where a Modbus device is: a TCP endpoint, or a serial line (RTU).
public enum ModbusEndpoint: Sendable, Hashable, CustomStringConvertible {
    case tcp(host: String, port: Int)
    case rtu(path: String, baud: Int, parity: Parity = .none, dataBits: Int = 8, stopBits: Int = 1)

    public enum Parity: String, Sendable, Hashable { case none = "N", even = "E", odd = "O" }

    public var description: String {
        switch self {
        case .tcp(let host, let port): "\(host):\(port)"
        case .rtu(let path, let baud, let parity, let dataBits, let stopBits): "\(path) \(baud) \(dataBits)\(parity.rawValue)\(stopBits)"
        }
    }
}

/// How long to wait, and how to back off after failures.
public struct ModbusTimeouts: Sendable, Equatable {
    /// For an answer to one request.
    public var response: Double
    /// Before the first retry after a failed connection; doubles up to `maxBackoff`.
    public var backoff: Double
    public var maxBackoff: Double

    public init(response: Double = 0.5, backoff: Double = 0.5, maxBackoff: Double = 30) {
        self.response = response
        self.backoff = backoff
        self.maxBackoff = maxBackoff
    }
}

/// One TCP endpoint or one serial line, and the only owner of its connection:
/// a libmodbus context on a serial line, our own poll()-based socket on TCP
/// (ModbusTCPSocket says why). Like GRDB's `SerializedDatabase`, every use of the C handle runs on
/// one private serial queue, so requests to several unit ids on the same line
/// never interleave; callers just `await`. A request that fails on the
/// connection closes it; the next request reconnects, after a backoff that
/// doubles with each failed attempt.
// Unchecked: its mutable state (the link, the backoff) is touched on `queue`
// only, which `checkOwner` enforces at run time; the rest is immutable.
public final class ModbusConnection: @unchecked Sendable {
    public let endpoint: ModbusEndpoint
    /// What errors call the device: a charger id, "grid meter".
    public let name: String
    public let timeouts: ModbusTimeouts
    private let queue: DispatchQueue
    /// Marks the queue, so that a request made on it runs there at once.
    private let queueMark = DispatchSpecificKey<Bool>()
    /// The queue as a task executor: a task started on it (`addTask(executorPreference:)`)
    /// makes its requests where the connection lives, with no hop there and back.
    public let taskExecutor: any TaskExecutor
    // Touched on `queue` only: the libmodbus context of a serial line, or our
    // own socket for Modbus TCP (see ModbusTCPSocket for why not libmodbus).
    private var context: OpaquePointer?
    private var socket: ModbusTCPSocket?
    private var failedAttempts = 0
    private var nextAttempt: Double?
    /// Why the last attempt to connect failed, for the errors while backing off.
    private var lastFailure = "none yet"
    /// Seconds on the clock the backoff is measured by: the wall clock, or a
    /// simulation's, so that a simulated minute of backoff is a minute there.
    private let clock: @Sendable () -> Double

    public init(endpoint: ModbusEndpoint, name: String, timeouts: ModbusTimeouts = ModbusTimeouts(),
                clock: @escaping @Sendable () -> Double = { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }) {
        self.endpoint = endpoint
        self.name = name
        self.timeouts = timeouts
        self.clock = clock
        queue = DispatchQueue(label: "fusebox.modbus.\(endpoint)")
        queue.setSpecific(key: queueMark, value: true)
        taskExecutor = QueueExecutor(queue: queue)
    }

    deinit {
        if let context {
            modbus_close(context)
            modbus_free(context)
        }
    }

    // MARK: - requests (each one a session of one request)

    public func readHoldingRegisters(unit: Int, address: Int, count: Int) async throws(ModbusError) -> [UInt16] {
        try await withSession { $0.read(.readHoldingRegisters, unit: unit, address: address, count: count) }.get()
    }

    public func readInputRegisters(unit: Int, address: Int, count: Int) async throws(ModbusError) -> [UInt16] {
        try await withSession { $0.read(.readInputRegisters, unit: unit, address: address, count: count) }.get()
    }

    public func readCoils(unit: Int, address: Int, count: Int) async throws(ModbusError) -> [Bool] {
        try await withSession { $0.read(.readCoils, unit: unit, address: address, count: count) }.get().map { $0 != 0 }
    }

    public func readDiscreteInputs(unit: Int, address: Int, count: Int) async throws(ModbusError) -> [Bool] {
        try await withSession { $0.read(.readDiscreteInputs, unit: unit, address: address, count: count) }.get().map { $0 != 0 }
    }

    public func writeRegister(unit: Int, address: Int, value: UInt16) async throws(ModbusError) {
        try await withSession { $0.write(.writeSingleRegister, unit: unit, address: address, values: [value]) }.get()
    }

    public func writeRegisters(unit: Int, address: Int, values: [UInt16]) async throws(ModbusError) {
        try await withSession { $0.write(.writeMultipleRegisters, unit: unit, address: address, values: values) }.get()
    }

    public func writeCoil(unit: Int, address: Int, value: Bool) async throws(ModbusError) {
        try await withSession { $0.write(.writeSingleCoil, unit: unit, address: address, values: [value ? 1 : 0]) }.get()
    }

    /// Runs `body` on the connection's queue with exclusive use of the line: what
    /// a driver's `poll` does there (several requests, no hop between them).
    public func withSession<T: Sendable>(_ body: @escaping @Sendable (ModbusSession) -> T) async -> T {
        // (body runs on the queue; the session it gets is only valid there)
        if DispatchQueue.getSpecific(key: queueMark) == true { return body(ModbusSession(connection: self)) }
        return await withCheckedContinuation { (done: CheckedContinuation<T, Never>) in
            queue.async { done.resume(returning: body(ModbusSession(connection: self))) }
        }
    }

    /// Closes the connection; the next request opens it again.
    public func close() async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            queue.async {
                self.disconnect()
                done.resume()
            }
        }
    }

    // MARK: - the owner's queue

    /// Stops the process when called off the connection's queue: the link is
    /// the queue's alone, and a second thread on it would corrupt a request.
    /// A programming error, never input: every caller reaches the link through
    /// `withSession` or the request methods, which run on the queue.
    public func checkOwner() { dispatchPrecondition(condition: .onQueue(queue)) }

    /// What a request goes through: libmodbus on a serial line, our socket on TCP.
    private enum Link {
        case serial(OpaquePointer)
        case tcp(ModbusTCPSocket)
    }

    fileprivate func performOnQueue<T>(
        _ function: ModbusFunction, unit: Int, address: Int,
        serial: (OpaquePointer) -> (Int32, T), tcp: (ModbusTCPSocket) -> Result<T, ModbusError.Kind>
    ) -> Result<T, ModbusError> {
        checkOwner()
        func failure(_ kind: ModbusError.Kind) -> Result<T, ModbusError> {
            .failure(ModbusError(kind, device: "\(name) (\(endpoint))", unit: unit, function: function, address: address))
        }
        let result: Result<T, ModbusError.Kind>
        switch connect() {
        case .failure(let kind): return failure(kind)
        case .success(.tcp(let socket)): result = tcp(socket)
        case .success(.serial(let ctx)):
            modbus_set_slave(ctx, Int32(unit))
            let (rc, value) = serial(ctx)
            result = rc >= 0 ? .success(value) : .failure(ModbusConnection.classify(errno))
        }
        switch result {
        case .success(let value): return .success(value)
        case .failure(.exception(let e)): return failure(.exception(e))
        case .failure(let kind):
            // After a timeout or a broken answer the stream may be out of step: start afresh.
            disconnect()
            return failure(kind)
        }
    }

    private func connect() -> Result<Link, ModbusError.Kind> {
        if let context { return .success(.serial(context)) }
        if let socket { return .success(.tcp(socket)) }
        let now = clock()
        // (A wait longer than the longest backoff means the clock went back: try now.)
        if let next = nextAttempt, now < next, next - now <= timeouts.maxBackoff {
            return .failure(.backingOff(seconds: next - now, after: lastFailure))
        }
        func failed(_ kind: ModbusError.Kind) -> Result<Link, ModbusError.Kind> {
            failedAttempts += 1
            lastFailure = kind.reason
            let wait = min(timeouts.maxBackoff, timeouts.backoff * Double(1 << min(failedAttempts - 1, 16)))
            nextAttempt = now + wait
            return .failure(kind)
        }
        let link: Link
        switch endpoint {
        case .tcp(let host, let port):
            // A connection takes at most the response timeout, or one second.
            switch ModbusTCPSocket.connect(host: host, port: port, timeout: max(timeouts.response, 1)) {
            case .success(let s):
                socket = s
                link = .tcp(s)
            case .failure(let kind): return failed(kind)
            }
        case .rtu(let path, let baud, let parity, let dataBits, let stopBits):
            // (Every parity's raw value is one letter: N, E or O.)
            guard let ctx = modbus_new_rtu(path, Int32(baud), CChar(parity.rawValue.utf8.first!), Int32(dataBits), Int32(stopBits)) else {
                return .failure(.connectionFailed(ModbusConnection.message(errno)))
            }
            let whole = timeouts.response.rounded(.down)
            modbus_set_response_timeout(ctx, UInt32(whole), UInt32((timeouts.response - whole) * 1_000_000))
            if modbus_connect(ctx) == -1 {
                let code = errno
                modbus_free(ctx)
                return failed(code == ECONNREFUSED ? .connectionRefused : .connectionFailed(ModbusConnection.message(code)))
            }
            context = ctx
            link = .serial(ctx)
        }
        failedAttempts = 0
        nextAttempt = nil
        return .success(link)
    }

    private func disconnect() {
        socket = nil
        guard let ctx = context else { return }
        modbus_close(ctx)
        modbus_free(ctx)
        context = nil
    }

    static func classify(_ code: Int32) -> ModbusError.Kind {
        let base = Int32(MODBUS_ENOBASE)
        if code > base, code <= base + 11, let e = ModbusException(rawValue: UInt8(code - base)) {
            return .exception(e)
        }
        switch code {
        case ETIMEDOUT: return .timeout
        case ECONNREFUSED: return .connectionRefused
        case ECONNRESET, EPIPE, EBADF, ENOTCONN: return .connectionFailed(message(code))
        default: return .invalidResponse(message(code))
        }
    }

    static func message(_ code: Int32) -> String {
        String(cString: modbus_strerror(code))
    }
}

/// Runs a task's jobs on a connection's serial queue. A request the task makes
/// there finds itself on the queue and runs at once; one job at a time, so it
/// has the line to itself as any other use of the queue does.
// Unchecked: it holds only an immutable reference to a serial queue.
final class QueueExecutor: TaskExecutor, @unchecked Sendable {
    let queue: DispatchQueue

    init(queue: DispatchQueue) { self.queue = queue }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

/// Blocking requests on a connection, valid only inside `withSession` (on the
/// connection's queue). Deliberately not Sendable: it must not leave that closure.
public struct ModbusSession {
    fileprivate let connection: ModbusConnection

    /// Registers, or bits as 0/1 for coils and discrete inputs.
    public func read(_ function: ModbusFunction, unit: Int, address: Int, count: Int) -> Result<[UInt16], ModbusError> {
        let bits = function == .readCoils || function == .readDiscreteInputs
        guard (1...(bits ? 2000 : 125)).contains(count) else {
            let what = bits ? "\(count) bits; a read takes 1 to 2000" : "\(count) registers; a read takes 1 to 125"
            return .failure(ModbusError(.invalidRequest(what), device: connection.name, unit: unit,
                                        function: function, address: address))
        }
        return connection.performOnQueue(function, unit: unit, address: address, serial: { ctx in
            switch function {
            case .readHoldingRegisters, .readInputRegisters:
                var out = [UInt16](repeating: 0, count: count)
                let rc = out.withUnsafeMutableBufferPointer { b in
                    function == .readHoldingRegisters
                        ? modbus_read_registers(ctx, Int32(address), Int32(count), b.baseAddress)
                        : modbus_read_input_registers(ctx, Int32(address), Int32(count), b.baseAddress)
                }
                return (rc, out)
            default:
                var out = [UInt8](repeating: 0, count: count)
                let rc = out.withUnsafeMutableBufferPointer { b in
                    function == .readCoils
                        ? modbus_read_bits(ctx, Int32(address), Int32(count), b.baseAddress)
                        : modbus_read_input_bits(ctx, Int32(address), Int32(count), b.baseAddress)
                }
                return (rc, out.map { UInt16($0) })
            }
        }, tcp: { $0.read(function, unit: unit, address: address, count: count, timeout: connection.timeouts.response) })
    }

    public func write(_ function: ModbusFunction, unit: Int, address: Int, values: [UInt16]) -> Result<Void, ModbusError> {
        guard !values.isEmpty, values.count <= 123 else {
            return .failure(ModbusError(.invalidRequest("\(values.count) registers; a write takes 1 to 123"),
                                        device: connection.name, unit: unit, function: function, address: address))
        }
        return connection.performOnQueue(function, unit: unit, address: address, serial: { ctx in
            switch function {
            case .writeSingleRegister: return (modbus_write_register(ctx, Int32(address), values[0]), ())
            case .writeSingleCoil: return (modbus_write_bit(ctx, Int32(address), values[0] == 0 ? 0 : 1), ())
            default:
                let rc = values.withUnsafeBufferPointer { modbus_write_registers(ctx, Int32(address), Int32(values.count), $0.baseAddress) }
                return (rc, ())
            }
        }, tcp: { $0.write(function, unit: unit, address: address, values: values, timeout: connection.timeouts.response) })
    }
}
