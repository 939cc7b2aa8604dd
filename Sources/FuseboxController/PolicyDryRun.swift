import FuseboxCore
import FuseboxLua

/// A new version of a policy tried once on the last snapshot, with a copy of
/// its stage's settings and memory, in a chain of its own: what decides
/// whether a hot reload is taken. It runs wherever the caller runs it, never
/// in the cycle, so a script that uses its whole budget delays no cycle.
public enum PolicyDryRun {
    public struct Inputs: Sendable {
        /// Nil before the first cycle: then there is nothing to try it on.
        public var snapshot: SiteSnapshot?
        public var settings: LuaValue
        public var memory: LuaValue
    }

    /// Nil when the script allocated the snapshot; else why it was refused.
    public static func failure(of script: sending PolicyScript, on inputs: Inputs) -> LuaError? {
        guard let snapshot = inputs.snapshot else { return nil }
        return PolicyChain.dryRun(script, settings: inputs.settings, memory: inputs.memory, on: snapshot)
    }
}
