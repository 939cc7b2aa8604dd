/// What one script may spend. Each call (and the loading of the script) runs
/// under the instruction and time budget; the memory ceiling holds for the
/// whole state at all times.
public struct LuaLimits: Sendable, Equatable {
    /// Bytes the script's state may hold.
    public var memory: Int
    /// VM instructions per call, counted in steps of 1000.
    public var instructions: UInt64
    /// Wall-clock budget per call, seconds.
    public var time: Double

    public init(memory: Int = 16 << 20, instructions: UInt64 = 20_000_000, time: Double = 0.2) {
        self.memory = memory
        self.instructions = instructions
        self.time = time
    }
}

/// A script that could not be loaded or whose call failed. The message names the
/// script and, where Lua knows it, the line.
public struct LuaError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable, Codable {
        case runtime = "error"
        case syntax = "syntax error"
        case memory = "memory limit"
        case instructions = "instruction budget"
        case time = "time budget"
        case result = "bad result"
        case contract = "contract"
        case handler = "error in error handling"
        case open = "cannot create Lua state"
    }

    public var kind: Kind
    /// The script's name (a policy or driver name, or a file).
    public var script: String
    public var message: String

    public init(kind: Kind, script: String, message: String) {
        self.kind = kind
        self.script = script
        self.message = message
    }

    public var description: String { "\(script): \(kind.rawValue): \(message)" }
}
