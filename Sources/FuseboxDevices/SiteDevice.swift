/// What the control cycle needs of a meter or a charger, whatever speaks to
/// it: a reading, a limit written, and where its calls run. `LuaDevice` (a Lua
/// driver over Modbus or HTTP) is one; an OCPP station will be another; the
/// cycle's tests use fakes. Its fail-safe is the cycle's to give: a meter that
/// has not answered for `failsafe.meter_timeout` sends every charger to
/// `failsafe.current`, and so does stopping; a charger that does not answer is
/// counted at its last limit (docs/design.md).
public protocol SiteDevice: AnyObject, Sendable {
    var id: String { get }
    /// Where its calls run when it owns a connection (its queue); nil: anywhere.
    var taskExecutor: (any TaskExecutor)? { get }
    /// What it reads now: a meter's currents, voltages and power; a charger's
    /// status, current and energy.
    func poll() async -> Result<DeviceReading, DeviceError>
    /// A charger's limit, A per phase on `phases` phases; 0 pauses.
    func apply(amps: Double, phases: Int) async -> Result<Void, DeviceError>
    /// What `poll` reads, with nothing written to the device (no watchdog fed,
    /// no setting made): a Test before a device is saved, `fusebox check --live`.
    func read() async -> Result<DeviceReading, DeviceError>
    /// Switched on or off by a command; called beside the cycle, never in it.
    func switched(on: Bool) async
}

extension SiteDevice {
    /// A device whose poll writes nothing reads by polling.
    public func read() async -> Result<DeviceReading, DeviceError> { await poll() }
    /// Switched on or off on the page or over the API; the cycle gives it 0 A while off. Most devices need
    /// nothing more; an OCPP station may be told (ChangeAvailability, RemoteStopTransaction) where configured.
    public func switched(on: Bool) async {}
}

/// A device whose driver is a script that can be replaced while it runs.
public protocol ScriptedDevice: SiteDevice {
    /// Tries `script` on the device and keeps it only when that works.
    func reload(_ script: sending DriverScript) async -> Result<DeviceReading, DeviceError>
}

extension LuaDevice: ScriptedDevice {}

/// The grid meter of a site not set up yet: it never answers, so the cycle
/// stays in its fail-safe until a configuration with a meter takes over.
public final class AbsentMeter: SiteDevice {
    public let id = "grid"
    public var taskExecutor: (any TaskExecutor)? { nil }
    public init() {}
    public func poll() async -> Result<DeviceReading, DeviceError> {
        .failure(DeviceError(device: id, message: "no grid meter set up yet: add one in the page's Setup"))
    }
    public func apply(amps: Double, phases: Int) async -> Result<Void, DeviceError> { .success(()) }
}
