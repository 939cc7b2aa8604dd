import FuseboxCore
import FuseboxDevices
import FuseboxLua

/// The control cycle of DESIGN.md, read top to bottom in `run(at:)`:
///   1. sample the grid meter;
///   2. poll every charger, all at once (each on its own connection);
///   3. build one immutable snapshot;
///   4-6. budget, policy chain and safety clamp (`PolicyChain.allocate`);
///   7. write each limit that changed, and refresh the others on the chargers'
///      own schedule (their drivers feed the watchdogs from `poll`).
/// An actor: the one owner of the policies' Lua states and of the site's state
/// between cycles (setpoints, when the meter last answered).
///
/// This is the first part of issue 4: no history, ripple inputs, ramps or
/// hot-reload wiring yet.
public actor ControlCycle {
    /// What one charger is: its settings (min, max, phases, priority) and its driver.
    public struct Station: Sendable {
        public var settings: ChargerSnapshot
        public var device: LuaDevice

        public init(settings: ChargerSnapshot, device: LuaDevice) {
            self.settings = settings
            self.device = device
        }
    }

    /// What a cycle did, for the log, the history and the tests.
    public struct Record: Sendable {
        public var time: Double
        public var snapshot: SiteSnapshot
        public var allocation: [Double]
        public var fallback: String?
        public var corrections: [ClampCorrection]
        public var errors: [String]
        public var invariantViolations: [String]
    }

    private let limits: SiteLimits
    private let circuits: [Circuit]
    private let failsafe: FailsafeSettings
    private let meter: LuaDevice
    private let stations: [Station]
    private let chain: PolicyChain
    private var setpoints: [Double?]
    private var writtenAt: [Double]
    /// Seconds after which an unchanged limit is written again, for chargers
    /// whose watchdog is fed by limit writes (DESIGN "Apply").
    public let refreshInterval: Double
    private var lastGrid: GridMeasurement?
    private var lastMeterAnswer: Double?
    public var ripple: RippleMode = .normal
    private let rippleSettings: RippleSettings

    public init(limits: SiteLimits, circuits: [Circuit] = [], failsafe: FailsafeSettings = FailsafeSettings(),
                rippleSettings: RippleSettings = RippleSettings(), meter: LuaDevice, stations: [Station],
                chain: sending PolicyChain, refreshInterval: Double = 30) {
        self.refreshInterval = refreshInterval
        writtenAt = Array(repeating: -.infinity, count: stations.count)
        self.limits = limits
        self.circuits = circuits
        self.failsafe = failsafe
        self.rippleSettings = rippleSettings
        self.meter = meter
        self.stations = stations
        self.chain = chain
        setpoints = Array(repeating: nil, count: stations.count)
    }

    public func setRipple(_ mode: RippleMode) { ripple = mode }

    /// One cycle at `time` (seconds since 1970, or simulated seconds).
    public func run(at time: Double) async -> Record {
        var errors: [String] = []

        // 1. The grid meter. Silent: keep the last reading and let it age.
        switch await meter.poll() {
        case .success(let r) where r.current.count == 3:
            lastGrid = GridMeasurement(current: PhaseValues(r.current[0], r.current[1], r.current[2]),
                                       voltage: r.voltage.count == 3 ? PhaseValues(r.voltage[0], r.voltage[1], r.voltage[2]) : PhaseValues(all: 230),
                                       power: r.phasePower.count == 3 ? PhaseValues(r.phasePower[0], r.phasePower[1], r.phasePower[2]) : nil)
            lastMeterAnswer = time
        case .success:
            errors.append("grid meter: reading without three phase currents")
        case .failure(let e):
            errors.append(e.description)
        }
        var grid = lastGrid ?? GridMeasurement(current: .zero)
        grid.age = lastMeterAnswer.map { time - $0 } ?? .infinity

        // 2. Every charger at once; one that does not answer counts at its setpoint.
        let readings = await withTaskGroup(of: (Int, Result<DeviceReading, DeviceError>).self) { group in
            for (i, s) in stations.enumerated() { group.addTask { (i, await s.device.poll()) } }
            var out = [Result<DeviceReading, DeviceError>?](repeating: nil, count: stations.count)
            for await (i, r) in group { out[i] = r }
            return out
        }

        // 3. The snapshot: settings, readings, what we last wrote.
        var chargers: [ChargerSnapshot] = []
        for (i, s) in stations.enumerated() {
            var c = s.settings
            c.setpoint = setpoints[i]
            switch readings[i] {
            case .success(let r):
                c.status = r.status ?? .unavailable
                c.current = Array(r.current.prefix(c.phases.count))
                c.sessionEnergy = r.energy ?? 0
                c.responding = true
            case .failure(let e):
                errors.append(e.description)
                c.responding = false
                c.status = .unavailable
            case nil:
                c.responding = false
            }
            chargers.append(c)
        }
        let snapshot = SiteSnapshot(time: time, grid: grid, limits: limits, circuits: circuits, chargers: chargers,
                                    ripple: ripple, rippleSettings: rippleSettings, failsafe: failsafe)

        // 4-6. Budget, policies, clamp. Then down to 0.1 A, the finest step chargers
        // take: never above the allocation, and no rewrite for a hundredth of an amp.
        let outcome = chain.allocate(snapshot)
        let targets = outcome.allocation.map { ($0 * 10 + 1e-9).rounded(.down) / 10 }

        // 7. Write what changed, and what is due for a refresh (to answering chargers).
        await withTaskGroup(of: (Int, String?).self) { group in
            for (i, s) in stations.enumerated() where chargers[i].responding
                && (setpoints[i] != targets[i] || time - writtenAt[i] >= refreshInterval) {
                let amps = targets[i]
                group.addTask {
                    switch await s.device.apply(amps: amps, phases: s.settings.phases.count) {
                    case .success: (i, nil)
                    case .failure(let e): (i, e.description)
                    }
                }
            }
            for await (i, failure) in group {
                if let failure { errors.append(failure) } else {
                    setpoints[i] = targets[i]
                    writtenAt[i] = time
                }
            }
        }

        return Record(time: time, snapshot: snapshot, allocation: targets,
                      fallback: outcome.fallback?.description, corrections: outcome.corrections, errors: errors,
                      invariantViolations: InvariantCheck.violations(targets, snapshot: snapshot))
    }
}
