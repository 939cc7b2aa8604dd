@_exported import CLuaShim

/// One sandboxed Lua state holding one script. Like GRDB's `SerializedDatabase`
/// around a SQLite handle, it is the single owner of its C handle: it is not
/// `Sendable`, so the compiler keeps every use on the owner's executor (the
/// policy engine actor or the device's connection owner).
///
/// All Lua work happens inside the shim under `lua_pcall`; this class only
/// moves bytes and reads status codes.
public final class LuaSandbox {
    public let name: String
    public let limits: LuaLimits
    private let handle: OpaquePointer
    private var results = fb_buffer()
    private var error = fb_buffer()

    public init(name: String, limits: LuaLimits = LuaLimits(), seed: UInt64 = 0x5EED_F05E_B0C5) throws(LuaError) {
        self.name = name
        self.limits = limits
        var err = fb_buffer()
        guard let h = fb_open(limits.memory, seed, &err) else {
            let message = LuaSandbox.text(err)
            fb_buffer_free(&err)
            throw LuaError(kind: .open, script: name, message: message)
        }
        handle = h
    }

    deinit {
        fb_close(handle)
        fb_buffer_free(&results)
        fb_buffer_free(&error)
    }

    private var budget: fb_budget {
        fb_budget(instructions: limits.instructions, time_ns: UInt64(max(0, limits.time) * 1e9))
    }

    /// Compiles and runs a script's text; what it returns (a table) becomes the
    /// module that `call` looks functions up in. `chunkname` is what error
    /// messages show, e.g. "fair_share.lua".
    public func load(source: String, chunkname: String) throws(LuaError) {
        let status = source.utf8.withContiguousStorageIfAvailable { utf8 in
            utf8.withMemoryRebound(to: CChar.self) { chars in
                fb_load(handle, "@" + chunkname, chars.baseAddress, chars.count, budget, &error)
            }
        } ?? {
            let copy = Array(source.utf8CString)
            return copy.withUnsafeBufferPointer { fb_load(handle, "@" + chunkname, $0.baseAddress, copy.count - 1, budget, &error) }
        }()
        try check(status)
    }

    /// Calls `module[function](...)` with the values on `arguments`. With
    /// `persist`, the first argument's field of that name holds a table the
    /// state keeps from call to call (see `persistent`).
    public func call(_ function: String, arguments: borrowing TapeWriter, persist: String? = nil) throws(LuaError) -> [LuaValue] {
        let status = arguments.withBytes { args, count in
            if let persist {
                return fb_call(handle, function, args, count, arguments.count, persist, budget, &results, &error)
            }
            return fb_call(handle, function, args, count, arguments.count, nil, budget, &results, &error)
        }
        try check(status)
        guard let data = results.data else { return [] }
        var reader = TapeReader(data, length: results.length)
        let n = reader.count()
        var values: [LuaValue] = []
        values.reserveCapacity(Int(n))
        for _ in 0..<n { values.append(reader.value()) }
        return values
    }

    /// As `call`, but hands the encoded results to `read` instead of building
    /// `LuaValue`s: for the hot path, where the shape of the result is known.
    func call<R>(_ function: String, arguments: borrowing TapeWriter, persist: String?,
                 read: (inout TapeReader) throws(LuaError) -> R) throws(LuaError) -> R {
        let status = arguments.withBytes { args, count in
            fb_call(handle, function, args, count, arguments.count, persist, budget, &results, &error)
        }
        try check(status)
        guard let data = results.data else {
            // (A constant non-zero address: never nil, and never read at length 0.)
            var empty = TapeReader(UnsafePointer(bitPattern: 1)!, length: 0)
            return try read(&empty)
        }
        var reader = TapeReader(data, length: results.length)
        return try read(&reader)
    }

    /// The module's field `name`, read raw (no metamethods).
    public func moduleField(_ fieldName: String) throws(LuaError) -> LuaValue {
        var out = fb_buffer()
        defer { fb_buffer_free(&out) }
        try check(fb_module_field(handle, fieldName, &out, &error))
        guard let data = out.data else { return .nil }
        var reader = TapeReader(data, length: out.length)
        return reader.value()
    }

    /// The table the script keeps between calls (its `site.memory`).
    public var persistent: LuaValue {
        get throws(LuaError) {
            var out = fb_buffer()
            defer { fb_buffer_free(&out) }
            try check(fb_persistent_get(handle, &out, &error))
            guard let data = out.data else { return .table([]) }
            var reader = TapeReader(data, length: out.length)
            return reader.value()
        }
    }

    public func setPersistent(_ value: LuaValue) throws(LuaError) {
        var tape = TapeWriter(capacity: 256)
        tape.value(value.entries == nil ? .table([]) : value)
        let status = tape.withBytes { bytes, count in fb_persistent_set(handle, bytes, count, &error) }
        try check(status)
    }

    /// Gives the first argument of every later `call` the `dev` methods, which
    /// do their I/O through `io` (see `fb_set_device_io`).
    public func setDeviceIO(_ io: fb_io_function, context: UnsafeMutableRawPointer) throws(LuaError) {
        try check(fb_set_device_io(handle, io, context, &error))
    }

    /// Bytes every Lua state of this process holds together (policies and drivers).
    public static var memoryOfAllStates: Int { fb_memory_used_by_all_states() }

    /// Gives `dev` its `http` method (cloud drivers), with the context of `setDeviceIO`.
    public func setDeviceHTTP(_ http: fb_http_function) {
        fb_set_device_http(handle, http)
    }

    /// What the script printed since the last call to this.
    public func takeLog() -> String {
        var out = fb_buffer()
        defer { fb_buffer_free(&out) }
        fb_take_log(handle, &out)
        return LuaSandbox.text(out)
    }

    public var memoryUsed: Int { fb_memory_used(handle) }
    public var memoryPeak: Int { fb_memory_peak(handle) }
    public var lastInstructions: UInt64 { fb_last_instructions(handle) }

    private func check(_ status: fb_status) throws(LuaError) {
        let kind: LuaError.Kind
        switch status {
        case FB_OK: return
        case FB_ERR_SYNTAX: kind = .syntax
        case FB_ERR_MEMORY: kind = .memory
        case FB_ERR_INSTRUCTIONS: kind = .instructions
        case FB_ERR_TIME: kind = .time
        case FB_ERR_RESULT: kind = .result
        case FB_ERR_CONTRACT: kind = .contract
        case FB_ERR_HANDLER: kind = .handler
        default: kind = .runtime
        }
        throw LuaError(kind: kind, script: name, message: LuaSandbox.text(error))
    }

    private static func text(_ buffer: fb_buffer) -> String {
        guard let data = buffer.data, buffer.length > 0 else { return "" }
        return String(decoding: UnsafeBufferPointer(start: data, count: buffer.length), as: UTF8.self)
    }
}
