import CModbus
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A Modbus TCP server on one port answering for several unit ids, each with
/// its own register banks (libmodbus mappings). The simulator puts each
/// simulated device behind one; tests read it with pymodbus.
///
/// One thread per server runs the accept/receive/reply loop; the banks are
/// read and written by that thread and by `withBank` callers under one lock.
// Unchecked: the banks are read and written under one lock, by the server's thread and by `withBank` callers.
public final class ModbusServer: @unchecked Sendable {
    /// The tables of a Modbus device.
    public enum Table: Sendable { case coils, discreteInputs, holdingRegisters, inputRegisters }

    /// How a unit misbehaves, for fault tests.
    public enum Fault: Sendable, Equatable {
        /// Answer normally.
        case none
        /// Never answer.
        case silent
        /// Answer every request with this exception.
        case exception(ModbusException)
        /// Accept writes without applying them (the answer says they were applied).
        case ignoreWrites
        /// Answer normally, this many seconds late (a slow gateway, a busy charger CPU).
        case slow(Double)
    }

    /// A write a client made, after it was applied.
    public struct Write: Sendable, Equatable {
        public var unit: Int
        public var function: ModbusFunction
        public var address: Int
        /// Registers written (FC06, FC16) or bits as 0/1 (FC05, FC15).
        public var values: [UInt16]

        public init(unit: Int, function: ModbusFunction, address: Int, values: [UInt16]) {
            self.unit = unit
            self.function = function
            self.address = address
            self.values = values
        }
    }

    public let host: String
    public private(set) var port: Int
    private let lock = NSLock()
    private var banks: [Int: UnsafeMutablePointer<modbus_mapping_t>] = [:]
    private var faults: [Int: Fault] = [:]
    private var thread: Thread?
    private var wake: (read: Int32, write: Int32) = (-1, -1)
    private var listener: Int32 = -1
    private var context: OpaquePointer?
    private let onWrite: (@Sendable (Write) -> Void)?

    /// `port` 0 picks a free port (read `port` after `start`).
    public init(host: String = "127.0.0.1", port: Int = 0, units: [Int], onWrite: (@Sendable (Write) -> Void)? = nil) {
        self.host = host
        self.port = port
        self.onWrite = onWrite
        for unit in units {
            // Every address exists, as on most chargers' sparse maps read within range.
            banks[unit] = modbus_mapping_new(65536, 65536, 65536, 65536)
        }
    }

    deinit {
        stop()
        for (_, bank) in banks { modbus_mapping_free(bank) }
    }

    /// Reads or changes a unit's banks under the server's lock.
    public func withBank<T>(unit: Int, _ body: (inout Bank) -> T) -> T? {
        lock.lock()
        defer { lock.unlock() }
        guard let mapping = banks[unit] else { return nil }
        var bank = Bank(mapping: mapping)
        return body(&bank)
    }

    public func setFault(_ fault: Fault, unit: Int) {
        lock.lock()
        faults[unit] = fault
        lock.unlock()
    }

    /// A view of one unit's tables; valid inside `withBank` only.
    public struct Bank {
        let mapping: UnsafeMutablePointer<modbus_mapping_t>

        public subscript(table: Table, address: Int) -> UInt16 {
            get {
                switch table {
                case .holdingRegisters: mapping.pointee.tab_registers[address]
                case .inputRegisters: mapping.pointee.tab_input_registers[address]
                case .coils: UInt16(mapping.pointee.tab_bits[address])
                case .discreteInputs: UInt16(mapping.pointee.tab_input_bits[address])
                }
            }
            set {
                switch table {
                case .holdingRegisters: mapping.pointee.tab_registers[address] = newValue
                case .inputRegisters: mapping.pointee.tab_input_registers[address] = newValue
                case .coils: mapping.pointee.tab_bits[address] = newValue == 0 ? 0 : 1
                case .discreteInputs: mapping.pointee.tab_input_bits[address] = newValue == 0 ? 0 : 1
                }
            }
        }

        public func read(_ table: Table, address: Int, count: Int) -> [UInt16] {
            (address..<(address + count)).map { self[table, $0] }
        }

        public mutating func write(_ table: Table, address: Int, values: [UInt16]) {
            for (k, v) in values.enumerated() { self[table, address + k] = v }
        }
    }

    // MARK: - lifecycle

    public func start() throws(ModbusError) {
        guard thread == nil else { return }
        func failure(_ why: String) -> ModbusError {
            ModbusError(.connectionFailed(why), device: "server \(host):\(port)", unit: 0)
        }
        guard let ctx = modbus_new_tcp(host, Int32(port)) else { throw failure(ModbusConnection.message(errno)) }
        let fd = modbus_tcp_listen(ctx, 32)
        guard fd >= 0 else {
            let why = ModbusConnection.message(errno)
            modbus_free(ctx)
            throw failure(why)
        }
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        var pipeFDs: [Int32] = [-1, -1]
        guard pipe(&pipeFDs) == 0 else { throw failure("cannot create the wake pipe") }
        wake = (pipeFDs[0], pipeFDs[1])
        listener = fd
        context = ctx
        let thread = Thread { [unowned self] in self.serve() }
        thread.name = "fusebox.modbus.server.\(port)"
        self.thread = thread
        thread.start()
    }

    /// Stops the loop and closes every connection; returns when the thread is done.
    public func stop() {
        guard thread != nil, wake.write >= 0 else { return }
        var byte: UInt8 = 1
        _ = write(wake.write, &byte, 1)
        stopped.wait()
        thread = nil
        close(wake.read)
        close(wake.write)
        wake = (-1, -1)
        if let ctx = context {
            modbus_free(ctx)
            context = nil
        }
    }

    private let stopped = DispatchSemaphore(value: 0)

    private func serve() {
        var clients: [Int32] = []
        var query = [UInt8](repeating: 0, count: Int(MODBUS_TCP_MAX_ADU_LENGTH))
        defer {
            for c in clients { close(c) }
            close(listener)
            listener = -1
            stopped.signal()
        }
        while true {
            var fds = [pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: listener, events: Int16(POLLIN), revents: 0)]
            fds += clients.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            guard poll(&fds, nfds_t(fds.count), -1) >= 0 else {
                if errno == EINTR { continue }
                return
            }
            if fds[0].revents != 0 { return }
            if fds[1].revents & Int16(POLLIN) != 0 {
                let client = accept(listener, nil, nil)
                if client >= 0 { clients.append(client) }
            }
            for f in fds.dropFirst(2) where f.revents != 0 {
                guard let ctx = context else { return }
                modbus_set_socket(ctx, f.fd)
                let n = query.withUnsafeMutableBufferPointer { modbus_receive(ctx, $0.baseAddress) }
                if n <= 0 {
                    if n < 0 {
                        close(f.fd)
                        clients.removeAll { $0 == f.fd }
                    }
                    continue
                }
                answer(ctx, query: Array(query[0..<Int(n)]))
            }
        }
    }

    private func answer(_ ctx: OpaquePointer, query: [UInt8]) {
        // MBAP header: transaction (2), protocol (2), length (2), unit (1); then the PDU.
        guard query.count >= 8 else { return }
        let unit = Int(query[6])
        let function = ModbusFunction(rawValue: query[7])
        // A slow device keeps the lock free while it dawdles: the simulator
        // goes on publishing its state meanwhile.
        if case .slow(let seconds)? = lock.withLock({ faults[unit] }), seconds > 0 {
            usleep(UInt32(min(seconds, 60) * 1_000_000))
        }
        lock.lock()
        let bank = banks[unit]
        let fault = faults[unit] ?? .none
        var write: Write?
        defer {
            lock.unlock()
            if let write { onWrite?(write) }
        }
        guard let bank else { return }   // a unit nobody answers for stays silent, as on a real gateway
        switch fault {
        case .silent:
            return
        case .exception(let e):
            _ = query.withUnsafeBufferPointer { modbus_reply_exception(ctx, $0.baseAddress, UInt32(e.rawValue)) }
            return
        case .ignoreWrites where function.map(ModbusServer.isWrite) == true:
            // Reply as if applied: answer from a scratch copy of the bank.
            // (Nil only when malloc fails; the simulator's server, never the controller's path.)
            let scratch = modbus_mapping_new(65536, 65536, 65536, 65536)!
            defer { modbus_mapping_free(scratch) }
            _ = query.withUnsafeBufferPointer { modbus_reply(ctx, $0.baseAddress, Int32(query.count), scratch) }
            return
        case .none, .ignoreWrites, .slow:
            _ = query.withUnsafeBufferPointer { modbus_reply(ctx, $0.baseAddress, Int32(query.count), bank) }
        }
        if let function, ModbusServer.isWrite(function), query.count >= 12 {
            let address = Int(query[8]) << 8 | Int(query[9])
            let word = UInt16(query[10]) << 8 | UInt16(query[11])
            var values: [UInt16] = []
            switch function {
            case .writeSingleRegister: values = [word]
            case .writeSingleCoil: values = [word == 0xFF00 ? 1 : 0]
            case .writeMultipleRegisters:
                let count = Int(word)
                values = (0..<count).compactMap { k in
                    let at = 13 + 2 * k
                    return at + 1 < query.count ? UInt16(query[at]) << 8 | UInt16(query[at + 1]) : nil
                }
            case .writeMultipleCoils:
                let count = Int(word)
                values = (0..<count).compactMap { k in
                    let at = 13 + k / 8
                    return at < query.count ? UInt16((query[at] >> (k % 8)) & 1) : nil
                }
            default: break
            }
            write = Write(unit: unit, function: function, address: address, values: values)
        }
    }

    static func isWrite(_ f: ModbusFunction) -> Bool {
        f == .writeSingleRegister || f == .writeMultipleRegisters || f == .writeSingleCoil || f == .writeMultipleCoils
    }
}
