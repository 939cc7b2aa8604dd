#if canImport(Glibc)
import Glibc
#endif

/// One Modbus TCP connection, spoken here rather than through libmodbus.
/// libmodbus waits for connections and answers with select(), and glibc aborts
/// the process when select() is given a descriptor above 1023 (FD_SETSIZE):
/// a controller with about 1000 chargers died mid-run. This waits with
/// poll(), which has no such limit. The framing is Modbus TCP's (MBAP header,
/// then the PDU); answers are checked as strictly as libmodbus checks them.
/// Used on its connection's queue only, like the libmodbus context it replaces.
final class ModbusTCPSocket {
    private let fd: Int32
    private var transaction: UInt16 = 0

    private init(fd: Int32) { self.fd = fd }
    deinit { close(fd) }

    /// Connects within `timeout` seconds.
    static func connect(host: String, port: Int, timeout: Double) -> Result<ModbusTCPSocket, ModbusError.Kind> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var found: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &found)
        guard rc == 0, let first = found else {
            return .failure(.connectionFailed("cannot resolve \(host): \(String(cString: gai_strerror(rc)))"))
        }
        defer { freeaddrinfo(found) }
        var lastError = ECONNREFUSED
        var candidate: UnsafeMutablePointer<addrinfo>? = first
        while let a = candidate {
            candidate = a.pointee.ai_next
            let fd = socket(a.pointee.ai_family, a.pointee.ai_socktype | Int32(SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue),
                            a.pointee.ai_protocol)
            guard fd >= 0 else { lastError = errno; continue }
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            if Glibc.connect(fd, a.pointee.ai_addr, a.pointee.ai_addrlen) == 0 { return .success(ModbusTCPSocket(fd: fd)) }
            guard errno == EINPROGRESS else { lastError = errno; close(fd); continue }
            switch wait(fd, for: Int16(POLLOUT), until: deadline(timeout)) {
            case .success:
                var error: Int32 = 0
                var length = socklen_t(MemoryLayout<Int32>.size)
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
                if error == 0 { return .success(ModbusTCPSocket(fd: fd)) }
                lastError = error
            case .failure(.timeout):
                lastError = ETIMEDOUT
            case .failure:
                lastError = errno
            }
            close(fd)
        }
        if lastError == ECONNREFUSED { return .failure(.connectionRefused) }
        return .failure(.connectionFailed(String(cString: strerror(lastError))))
    }

    /// Sends `pdu` to `unit` and returns the answer's PDU, or why there is none:
    /// a Modbus exception (the connection stays usable), or a timeout or a broken
    /// answer (the caller closes the connection: the stream may be out of step).
    func transact(unit: Int, pdu: [UInt8], timeout: Double) -> Result<[UInt8], ModbusError.Kind> {
        transaction &+= 1
        let length = UInt16(pdu.count + 1)
        var frame: [UInt8] = [UInt8(transaction >> 8), UInt8(transaction & 0xFF), 0, 0,
                              UInt8(length >> 8), UInt8(length & 0xFF), UInt8(truncatingIfNeeded: unit)]
        frame += pdu
        let end = Self.deadline(timeout)
        if case .failure(let kind) = send(frame, until: end) { return .failure(kind) }

        let header: [UInt8]
        switch receive(7, until: end) {
        case .success(let h): header = h
        case .failure(let kind): return .failure(kind)
        }
        let answerTransaction = UInt16(header[0]) << 8 | UInt16(header[1])
        let answerLength = Int(UInt16(header[4]) << 8 | UInt16(header[5]))
        guard answerTransaction == transaction else {
            return .failure(.invalidResponse("answer to transaction \(answerTransaction), expected \(transaction)"))
        }
        guard header[2] == 0, header[3] == 0 else { return .failure(.invalidResponse("not the Modbus protocol id (0) in the answer")) }
        guard (3...254).contains(answerLength) else { return .failure(.invalidResponse("answer length \(answerLength)")) }
        guard header[6] == UInt8(truncatingIfNeeded: unit) else {
            return .failure(.invalidResponse("answer from unit \(header[6]), expected \(unit)"))
        }
        let answer: [UInt8]
        switch receive(answerLength - 1, until: end) {
        case .success(let a): answer = a
        case .failure(let kind): return .failure(kind)
        }
        if answer[0] == pdu[0] | 0x80 {
            guard let e = ModbusException(rawValue: answer[1]) else {
                return .failure(.invalidResponse("unknown exception code \(answer[1])"))
            }
            return .failure(.exception(e))
        }
        guard answer[0] == pdu[0] else { return .failure(.invalidResponse("answer for function \(answer[0]), expected \(pdu[0])")) }
        return .success(answer)
    }

    // MARK: - the requests, and their answers checked

    func read(_ function: ModbusFunction, unit: Int, address: Int, count: Int, timeout: Double) -> Result<[UInt16], ModbusError.Kind> {
        let pdu = [function.rawValue, UInt8(address >> 8), UInt8(address & 0xFF), UInt8(count >> 8), UInt8(count & 0xFF)]
        return transact(unit: unit, pdu: pdu, timeout: timeout).flatMap { answer in
            let bits = function == .readCoils || function == .readDiscreteInputs
            let bytes = bits ? (count + 7) / 8 : count * 2
            guard answer.count >= 2, Int(answer[1]) == bytes else {
                return .failure(.invalidResponse("byte count \(answer.count >= 2 ? Int(answer[1]) : 0) in the answer, expected \(bytes)"))
            }
            guard answer.count == 2 + bytes else {
                return .failure(.invalidResponse("\(answer.count - 2) bytes of data in the answer, its byte count says \(bytes)"))
            }
            if bits {
                return .success((0..<count).map { UInt16((answer[2 + $0 / 8] >> UInt8($0 % 8)) & 1) })
            }
            return .success((0..<count).map { UInt16(answer[2 + 2 * $0]) << 8 | UInt16(answer[3 + 2 * $0]) })
        }
    }

    func write(_ requested: ModbusFunction, unit: Int, address: Int, values: [UInt16], timeout: Double) -> Result<Void, ModbusError.Kind> {
        let function = requested == .writeSingleCoil || requested == .writeSingleRegister ? requested : .writeMultipleRegisters
        var pdu = [function.rawValue, UInt8(address >> 8), UInt8(address & 0xFF)]
        switch function {
        case .writeSingleCoil: pdu += [values[0] == 0 ? 0x00 : 0xFF, 0x00]
        case .writeSingleRegister: pdu += [UInt8(values[0] >> 8), UInt8(values[0] & 0xFF)]
        default:
            pdu += [UInt8(values.count >> 8), UInt8(values.count & 0xFF), UInt8(values.count * 2)]
            for v in values { pdu += [UInt8(v >> 8), UInt8(v & 0xFF)] }
        }
        return transact(unit: unit, pdu: pdu, timeout: timeout).flatMap { answer in
            // FC05 and FC06 echo the request; FC16 echoes the address and the count.
            guard answer.count == 5, Array(answer) == Array(pdu.prefix(5)) else {
                return .failure(.invalidResponse("the answer does not confirm the write"))
            }
            return .success(())
        }
    }

    // MARK: - bytes on the socket, bounded by a deadline

    private enum WaitFailure: Error { case timeout, failed }

    private static func deadline(_ seconds: Double) -> Double { now() + seconds }

    private static func now() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }

    private static func wait(_ fd: Int32, for events: Int16, until deadline: Double) -> Result<Void, WaitFailure> {
        while true {
            let left = deadline - now()
            guard left > 0 else { return .failure(.timeout) }
            var p = pollfd(fd: fd, events: events, revents: 0)
            let n = poll(&p, 1, Int32(min(left * 1000, 60_000).rounded(.up)))
            if n > 0 { return .success(()) }
            if n < 0 && errno != EINTR { return .failure(.failed) }
        }
    }

    private func send(_ bytes: [UInt8], until deadline: Double) -> Result<Void, ModbusError.Kind> {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n > 0 { sent += n; continue }
            if n < 0 && (errno == EAGAIN || errno == EINTR) {
                if case .failure(let f) = Self.wait(fd, for: Int16(POLLOUT), until: deadline) {
                    return .failure(f == .timeout ? .timeout : .connectionFailed(String(cString: strerror(errno))))
                }
                continue
            }
            return .failure(.connectionFailed(String(cString: strerror(errno))))
        }
        return .success(())
    }

    private func receive(_ count: Int, until deadline: Double) -> Result<[UInt8], ModbusError.Kind> {
        var out = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            // (Inside `got < count` the buffer has at least one byte: its address is not nil.)
            let n = out.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + got, count - got, 0) }
            if n > 0 { got += n; continue }
            if n == 0 { return .failure(.connectionFailed("the device closed the connection")) }
            if errno == EAGAIN || errno == EINTR {
                switch Self.wait(fd, for: Int16(POLLIN), until: deadline) {
                case .success: continue
                case .failure(.timeout): return .failure(.timeout)
                case .failure: return .failure(.connectionFailed(String(cString: strerror(errno))))
                }
            }
            return .failure(errno == ECONNRESET ? .connectionFailed("connection reset by the device")
                                                : .connectionFailed(String(cString: strerror(errno))))
        }
        return .success(out)
    }
}

/// Whether `host:port` takes a TCP connection within `timeout` seconds (closed
/// at once): the first look of the Setup's Find devices, through the same
/// poll()-based connect the Modbus connections use. Blocks its thread.
public func tcpAcceptsConnection(host: String, port: Int, within timeout: Double) -> Bool {
    if case .success = ModbusTCPSocket.connect(host: host, port: port, timeout: timeout) { return true }
    return false
}

