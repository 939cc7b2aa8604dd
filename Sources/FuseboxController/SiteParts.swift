import FuseboxCore
import FuseboxDevices
import FuseboxLua

/// The running parts of a new configuration, built beside the cycle
/// (`SiteAssembly.parts`) and handed to `ControlCycle.stage(_:)`, which swaps
/// them in whole at its next boundary: never half a site, never inside a cycle.
/// A part that did not change is carried over as it runs (its device, its
/// connection, its policy memory), so a change to one charger leaves the rest
/// of the site exactly as it was.
public struct SiteParts {
    public var settings: ControlCycle.Settings
    public var meter: any SiteDevice
    public var pv: (any SiteDevice)?
    /// Stations with the id of a running one take over its state (the limit
    /// last written, enabled, priority) when their device is the running one.
    public var stations: [ControlCycle.Station]
    /// nil: the running chain stays, with its memory.
    public var chain: PolicyChain?
    /// nil: the running contacts stay, with the signal's debounced state.
    public var contacts: [(RippleContact, RippleSignal.Contact)]?
    public var meterDrivers: (grid: String, pv: String)
    /// What changed, in words, for the event that records it ("p08 added, fuse 63 -> 50 A").
    public var change: String

    public init(settings: ControlCycle.Settings, meter: any SiteDevice, pv: (any SiteDevice)?, stations: [ControlCycle.Station],
                chain: sending PolicyChain?, contacts: [(RippleContact, RippleSignal.Contact)]?,
                meterDrivers: (grid: String, pv: String), change: String) {
        self.settings = settings
        self.meter = meter
        self.pv = pv
        self.stations = stations
        self.chain = chain
        self.contacts = contacts
        self.meterDrivers = meterDrivers
        self.change = change
    }
}

/// When staged parts took over: the cycle's time, or why they never did.
public enum StagedOutcome: Sendable, Equatable {
    case applied(at: Double)
    /// Newer parts were staged before the cycle reached these.
    case superseded
    /// The controller stopped first.
    case stopped
}
