import Foundation
import FuseboxCore
import FuseboxDevices
import FuseboxLua
import Synchronization

/// The control cycle of docs/design.md, read top to bottom in `sample(at:)` and `run(at:)`:
///   0. a new configuration staged since the last cycle takes over (`SiteParts`);
///   1. sample the grid meter, the PV meter and the ripple contacts, all at once;
///   2. poll every charger, all at once (each on its own connection);
///   3. build one immutable snapshot (remote limits and the ripple mode applied);
///   4-6. budget, policy chain and safety clamp (`PolicyChain.allocate`);
///   7. pace the limits (cut at once, raise slowly), write each one that changed
///      and refresh the others so charger watchdogs stay fed;
///   8. hand the record back: the runner publishes it to history and the page.
///
/// An actor: the one owner of the policies' Lua states and of the site's state
/// between cycles. Commands from outside (API, SIGHUP, file watcher) are actor
/// calls too, so they land between two steps of a cycle, never inside one:
/// allocation is synchronous, and a replaced policy is first used by the next
/// `allocate`.
public actor ControlCycle {
    /// What one charger is: its settings (min, max, phases, priority) and the
    /// device that speaks to it.
    public struct Station: Sendable {
        public var settings: ChargerSnapshot
        public var device: any SiteDevice
        /// The driver's name, for reloads.
        public var driver: String
        /// Whether the configuration lets it charge (the page and the API may change that at runtime).
        public var enabled: Bool

        public init(settings: ChargerSnapshot, device: any SiteDevice, driver: String = "", enabled: Bool = true) {
            self.settings = settings
            self.device = device
            self.driver = driver
            self.enabled = enabled
        }
    }

    /// What the cycle keeps of one station from one cycle to the next.
    struct StationState {
        /// The limit last written (nil: none yet).
        var setpoint: Double?
        var writtenAt = -Double.infinity
        /// When the setpoint last took another value (a refresh of the same does not count).
        var changedAt = -Double.infinity
        /// The highest limit written since the last write known to have taken: a write that failed or
        /// came too late may still have reached the device, so while it does not answer it is counted at this.
        var unconfirmed: Double?
        /// Since when it draws more than its setpoint (nil: it follows it).
        var overSetpointSince: Double?
        /// It takes writes but does not follow them (after `pacing.settle`):
        /// its draw is counted as the building's load, and it is given 0.
        var notFollowing = false
        /// Whether it answered the last poll (nil: not asked yet).
        var responding: Bool?
        var enabled = true
        /// Its priority as set at runtime (the page, the API).
        var priority: Int?
        /// So that it never holds the cycle (`DeviceGate`).
        let gate = DeviceGate()
    }

    /// The limits and habits of the cycle (site.yaml's site, control and ripple parts).
    public struct Settings: Sendable {
        public var limits: SiteLimits
        public var circuits: [Circuit] = []
        public var failsafe = FailsafeSettings()
        public var ripple = RippleSettings()
        public var pacing = LimitPacer.Settings()
        /// Seconds after which an unchanged limit is written again (docs/design.md, "The cycle").
        public var refresh: Double = 30
        /// Seconds the cycle waits for one device's poll, and again for its
        /// write; a device that takes longer counts as not answering this cycle.
        /// Infinite: wait for every device (simulated time, where a cycle has no
        /// wall-clock period to keep).
        public var deviceDeadline: Double = 0.4

        public init(limits: SiteLimits, circuits: [Circuit] = [], failsafe: FailsafeSettings = FailsafeSettings(),
                    ripple: RippleSettings = RippleSettings(), pacing: LimitPacer.Settings = LimitPacer.Settings(),
                    refresh: Double = 30, deviceDeadline: Double = 0.4) {
            self.deviceDeadline = deviceDeadline
            self.limits = limits
            self.circuits = circuits
            self.failsafe = failsafe
            self.ripple = ripple
            self.pacing = pacing
            self.refresh = refresh
        }
    }

    /// What a cycle did, for the log, the history, the page and the tests.
    public struct Record: Sendable {
        public var time: Double
        public var snapshot: SiteSnapshot
        /// The limits the clamp allowed, and what was written after pacing.
        public var allowed: [Double]
        public var allocation: [Double]
        public var budget: PhaseValues
        public var fallback: String?
        public var corrections: [ClampCorrection]
        public var errors: [String]
        public var events: [SiteEvent]
        public var invariantViolations: [String]
        /// Everything set from outside, when it changed since the last record:
        /// the history keeps it so that a restart finds it again.
        public var commands: SiteCommands? = nil
    }

    public private(set) var settings: Settings
    private var meter: any SiteDevice
    private var pvMeter: (any SiteDevice)?
    private var stations: [Station]
    /// The stations as the cycle runs them now, for readers outside the actor
    /// (the page, the history); replaced with them at a cycle boundary.
    private nonisolated let rosterStorage: Mutex<[Station]>
    public nonisolated var roster: [Station] { rosterStorage.withLock { $0 } }
    private var chain: PolicyChain
    private var contacts: [RippleContact]
    /// One gate per device, so that no device holds the cycle: the stations'
    /// (in `state`), the meters', the ripple contacts' by index.
    private var meterGate = DeviceGate()
    private var pvGate = DeviceGate()
    private var contactGates: [DeviceGate]
    /// A new configuration's parts, waiting for the next cycle boundary.
    private var staged: StagedParts?
    /// Caps (A) a commissioning check holds on stations, by id: 0 pauses one.
    private var testCaps: [String: Double] = [:]
    /// Who waits for the next cycle's snapshot (a commissioning check).
    private var snapshotWaiters: [CheckedContinuation<SiteSnapshot?, Never>] = []
    private var signal: RippleSignal
    private var pacer: LimitPacer

    /// What the cycle keeps of each station between cycles, by station index.
    private var state: [StationState]
    private var remote = RemoteLimits()
    private var lastGrid: GridMeasurement?
    private var lastMeterAnswer: Double?
    /// What the answering chargers drew in the cycle of the meter's last reading.
    private var evDrawAtMeterReading = PhaseValues.zero
    private var lastPV: PVReading?
    private var inFailsafe = false
    private var fallbackReason: String?
    private var rippleMode = RippleMode.normal
    private var commissioning = Commissioning()
    private var lastSnapshot: SiteSnapshot?
    /// Events from commands between cycles, reported with the next record.
    private var pending: [SiteEvent] = []
    private var now: Double = 0
    /// A command changed what `commands()` returns since the last record.
    private var commandsChanged = false

    /// Driver names of the grid and PV meters, for reloads.
    private var meterDrivers: (grid: String, pv: String)

    public init(settings: Settings, meter: any SiteDevice, pv: (any SiteDevice)? = nil, stations: [Station],
                chain: sending PolicyChain, contacts: [(RippleContact, RippleSignal.Contact)] = [],
                meterDrivers: (grid: String, pv: String) = ("", "")) {
        self.settings = settings
        self.meterDrivers = meterDrivers
        self.meter = meter
        pvMeter = pv
        self.stations = stations
        rosterStorage = Mutex(stations)
        self.chain = chain
        self.contacts = contacts.map(\.0)
        state = stations.map { StationState(enabled: $0.enabled) }
        contactGates = contacts.map { _ in DeviceGate() }
        signal = RippleSignal(contacts: contacts.map(\.1))
        pacer = LimitPacer(settings: settings.pacing)
    }

    /// A charger that answers and acknowledges its limits but goes on drawing
    /// more (a firmware fault, a write to the wrong register) would take its
    /// excess out of the margin, or past it: the allocation counts on it
    /// following. Once it has drawn over its setpoint for `pacing.settle` (the
    /// cars' reaction is 3 s), it is marked as not following (`followsLimit`),
    /// so that the budget leaves its measured draw in the building's load, and
    /// it is given 0 until it follows again. Its reading stays as measured, for
    /// the page and the history.
    private func followCheck(_ i: Int, _ c: inout ChargerSnapshot, at time: Double, events: inout [SiteEvent]) {
        let drawing = c.current.max() ?? 0
        guard let setpoint = state[i].setpoint, drawing > setpoint + 1 + 0.05 * setpoint else {
            state[i].overSetpointSince = nil
            if state[i].notFollowing {
                state[i].notFollowing = false
                events.append(SiteEvent(time: time, kind: .deviceRecovered, subject: c.id, message: "follows its limit again"))
            }
            return
        }
        let since = state[i].overSetpointSince ?? time
        state[i].overSetpointSince = since
        if !state[i].notFollowing, time - since >= settings.pacing.settle {
            state[i].notFollowing = true
            events.append(SiteEvent(time: time, kind: .deviceError, subject: c.id, message: String(
                format: "draws %.1f A with a limit of %.1f A for %.0f s: counted as the building's load and given 0 until it follows",
                drawing, setpoint, time - since)))
        }
        if state[i].notFollowing {
            c.followsLimit = false
            c.cableMax = 0
        }
    }

    /// Steps 1 to 3 of a cycle: sample the meters and contacts, poll the chargers,
    /// build the snapshot (remote limits and the ripple mode applied).
    private func sample(at time: Double, writing: Bool = true) async -> (SiteSnapshot, [String], [SiteEvent]) {
        now = time
        var errors: [String] = []
        var events = pending
        pending = []
        for gone in remote.expire(at: time) {
            events.append(SiteEvent(time: time, kind: .remoteLimit, subject: gone, message: "remote limit expired"))
        }

        // 1. Meter, PV and ripple contacts at once. A silent meter keeps its last
        // reading, which ages until the fail-safe takes over.
        let deadline = settings.deviceDeadline
        let meters = [meter] + (pvMeter.map { [$0] } ?? [])
        async let meterReadings = Self.poll(meters, [meterGate, pvGate], within: deadline, writing: writing)
        async let contactReadings = readContacts(within: deadline)
        let sampled = await meterReadings
        switch sampled[0] {
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
        let pvPower: Double?
        switch sampled.count > 1 ? sampled[1] : nil {
        case .success(let r)?: pvPower = r.power ?? r.phasePower.reduce(0, +)
        case .failure(let e)?: errors.append(e.description); pvPower = nil
        case nil: pvPower = nil
        }
        for (i, closed) in await contactReadings.enumerated() {
            switch closed {
            case .success(let c): signal.observe(i, closed: c, at: time)
            case .failure(let e): errors.append(e.description)
            }
        }
        let mode = signal.mode(at: time)
        if mode != rippleMode {
            events.append(SiteEvent(time: time, kind: .rippleChanged, message: "\(rippleMode.rawValue) -> \(mode.rawValue)"))
            rippleMode = mode
        }

        // 2. Every charger at once, each until the device deadline; one that does
        // not answer in time counts at its setpoint, as any silent charger.
        let readings = await Self.poll(stations.map(\.device), state.map(\.gate), within: deadline, writing: writing)

        // 3. The snapshot: settings, readings, what we last wrote, remote limits.
        var chargers: [ChargerSnapshot] = []
        for (i, s) in stations.enumerated() {
            var c = s.settings
            c.setpoint = state[i].setpoint.map { max($0, state[i].unconfirmed ?? 0) } ?? state[i].unconfirmed
            if let p = state[i].priority { c.priority = p }
            if let cap = remote.max(for: c.id, at: time) { c.cableMax = min(c.cableMax ?? .infinity, cap) }
            if !state[i].enabled { c.cableMax = 0 }
            if let cap = testCaps[c.id] { c.cableMax = min(c.cableMax ?? .infinity, cap) }
            switch readings[i] {
            case .success(let r):
                c.status = r.status ?? .unavailable
                c.current = Array(r.current.prefix(c.phases.count))
                c.sessionEnergy = r.energy ?? 0
                c.responding = true
                if state[i].responding == false {
                    events.append(SiteEvent(time: time, kind: .deviceRecovered, subject: c.id, message: "answers again"))
                }
                // A reading from before its limit last changed (a station that reports every few seconds, as OCPP's
                // MeterValues do) says what it drew then: now it draws at most that limit, and it is not judged on it.
                if let age = r.age, age > 0, time - age < state[i].changedAt, let setpoint = state[i].setpoint {
                    c.current = c.current.map { min($0, setpoint) }
                    if state[i].notFollowing {
                        c.followsLimit = false
                        c.cableMax = 0
                    }
                } else {
                    followCheck(i, &c, at: time, events: &events)
                }
            case .failure(let e):
                errors.append(e.description)
                c.responding = false
                c.status = .unavailable
                if state[i].responding != false {
                    events.append(SiteEvent(time: time, kind: .deviceError, subject: c.id, message: e.message))
                }
            }
            state[i].responding = c.responding
            chargers.append(c)
        }
        // A meter's reading and the chargers' currents belong together: while
        // the meter is silent, its last reading is moved by what the answering
        // chargers draw more or less since, so that the building's own load is
        // what stays as it was (not the grid's, which would hand the cars' new
        // draw out a second time).
        let evDraw = Self.evDraw(chargers)
        if lastMeterAnswer == time {
            evDrawAtMeterReading = evDraw
        } else if lastGrid != nil {
            let change = evDraw.map { p, amps in amps - evDrawAtMeterReading[p] }
            grid.current = grid.current.map { p, amps in amps + change[p] }
            grid.power = grid.power.map { power in power.map { p, watts in watts + change[p] * grid.voltage[p] } }
        }
        // The surplus: what the cars draw less what the grid delivers (negative: import).
        let pv = pvPower.map { power in
            PVReading(power: power, surplus: Phase.allCases.reduce(0.0) { $0 + evDraw[$1] * grid.effectiveVoltage[$1] } - grid.effectivePower.sum)
        }
        let snapshot = SiteSnapshot(time: time, grid: grid, pv: pv ?? lastPV, limits: remote.applied(to: settings.limits, at: time),
                                    circuits: settings.circuits, chargers: chargers, ripple: rippleMode,
                                    rippleSettings: settings.ripple, failsafe: settings.failsafe)
        if let pv { lastPV = pv }
        if snapshot.meterSilent != inFailsafe {
            inFailsafe = snapshot.meterSilent
            events.append(inFailsafe
                ? SiteEvent(time: time, kind: .failsafeEntered, subject: "grid",
                            message: "the grid meter has not answered for \(settings.failsafe.meterTimeout) s: every charger at \(settings.failsafe.current) A")
                : SiteEvent(time: time, kind: .failsafeLeft, subject: "grid", message: "the grid meter answers again"))
        }
        lastSnapshot = snapshot
        for w in commissioning.observe(snapshot) {
            events.append(SiteEvent(time: time, kind: .commissioning, subject: w.subject, message: w.message))
        }
        return (snapshot, errors, events)
    }

    /// One cycle at `time` (seconds since 1970, or simulated seconds): steps 1 to 3
    /// above, then 4 to 7 here.
    public func run(at time: Double) async -> Record {
        // 0. A new configuration takes over here, between two cycles; removed
        // stations are left at the fail-safe current while the site is sampled.
        let adopted = adoptStagedParts(at: time)
        let leavingCalls = adopted.calls, farewellDeadline = settings.deviceDeadline
        // (A task only when a station leaves: most cycles have none.)
        let farewell = leavingCalls.isEmpty ? nil : Task { await DeviceGate.callAll(leavingCalls, within: farewellDeadline) }
        let (snapshot, sampleErrors, sampleEvents) = await sample(at: time)
        var errors = sampleErrors, events = adopted.events + sampleEvents
        for (left, outcome) in zip(adopted.leaving, await farewell?.value ?? []) {
            switch Self.settle(outcome, left.id, "write", settings.deviceDeadline) {
            case .success: events.append(SiteEvent(time: time, kind: .configChanged, subject: left.id,
                                                   message: "removed from the configuration; left at the fail-safe current of \(left.amps) A"))
            case .failure(let e): errors.append(e.description)
            }
        }
        let chargers = snapshot.chargers

        // 4-6. Budget, policies, clamp. Then down to 0.1 A, the finest step chargers
        // take: never above the allocation, and no rewrite for a hundredth of an amp.
        let outcome = chain.allocate(snapshot)
        let allowed = outcome.allocation.map { ($0 * 10 + 1e-9).rounded(.down) / 10 }
        let reason = outcome.fallback?.description
        if reason != fallbackReason {
            if let reason {
                events.append(SiteEvent(time: time, kind: .policyFallback, message: "equal share for now: \(reason)"))
            } else {
                events.append(SiteEvent(time: time, kind: .policyRecovered, message: "the policy chain allocates again"))
            }
            fallbackReason = reason
        }

        // 7. Cut at once, raise slowly; write what changed and what is due for a
        // refresh (to answering chargers only; to one that does not follow, every cycle).
        let targets = pacer.pace(allowed, chargers: chargers, at: time)
        let deadline = settings.deviceDeadline
        let due = stations.indices.filter { i in
            chargers[i].responding && (state[i].setpoint != targets[i] || time - state[i].writtenAt >= settings.refresh || state[i].notFollowing)
        }
        let writes = await DeviceGate.callAll(due.map { i in
            let device = stations[i].device, amps = targets[i], phases = stations[i].settings.phases.count
            return DeviceGate.Call(gate: state[i].gate, executor: device.taskExecutor) { await device.apply(amps: amps, phases: phases) }
        }, within: deadline)
        for (i, outcome) in zip(due, writes) {
            switch Self.settle(outcome, stations[i].device.id, "write", deadline) {
            case .success:
                if state[i].setpoint != targets[i] { state[i].changedAt = time }
                state[i].setpoint = targets[i]
                state[i].writtenAt = time
                state[i].unconfirmed = nil
            case .failure(let e):
                state[i].unconfirmed = max(state[i].unconfirmed ?? 0, targets[i])
                errors.append(e.description)
            }
        }
        for waiter in snapshotWaiters { waiter.resume(returning: snapshot) }
        snapshotWaiters = []
        var changed: SiteCommands?
        if commandsChanged {
            changed = commands()
            commandsChanged = false
        }
        return Record(time: time, snapshot: snapshot, allowed: allowed, allocation: targets,
                      budget: outcome.budget.available, fallback: reason, corrections: outcome.corrections,
                      errors: errors, events: events,
                      invariantViolations: InvariantCheck.violations(targets, snapshot: snapshot), commands: changed)
    }

    /// Steps 1 to 3 alone: what the site looks like now, with no allocation and
    /// no writes (`fusebox check --live` watches a site this way).
    public func observe(at time: Double) async -> (snapshot: SiteSnapshot, errors: [String], events: [SiteEvent]) {
        await sample(at: time, writing: false)
    }

    /// The devices' polls at once, each on its connection's queue, under the
    /// deadline (`DeviceGate`); `gates` holds each device's gate, in order.
    private static func poll(_ devices: [any SiteDevice], _ gates: [DeviceGate], within deadline: Double,
                             writing: Bool) async -> [Result<DeviceReading, DeviceError>] {
        let outcomes = await DeviceGate.callAll(zip(devices, gates).map { device, gate in
            DeviceGate.Call(gate: gate, executor: device.taskExecutor) { writing ? await device.poll() : await device.read() }
        }, within: deadline)
        return zip(devices, outcomes).map { device, outcome in settle(outcome, device.id, "poll", deadline) }
    }

    /// A late or busy device is an error of this cycle, which names it.
    private static func settle<T>(_ outcome: DeviceGate.Outcome<Result<T, DeviceError>>, _ id: String, _ what: String,
                                  _ deadline: Double) -> Result<T, DeviceError> {
        switch outcome {
        case .answered(let result): return result
        case .late:
            return .failure(DeviceError(device: id, message: late(what, deadline) + ": counted as not answering"))
        case .busy:
            return .failure(DeviceError(device: id, message: busy + ": counted as not answering"))
        }
    }

    private static func late(_ what: String, _ deadline: Double) -> String {
        "no answer to its \(what) within the cycle's deadline of \(String(format: "%.0f", deadline * 1000)) ms"
    }
    private static let busy = "still busy with a call of an earlier cycle"

    /// The ripple contacts at once, under the deadline as any device: a late
    /// one is not read this cycle, and the signal keeps its last state.
    private func readContacts(within deadline: Double) async -> [Result<Bool, RippleContactError>] {
        let outcomes = await DeviceGate.callAll(zip(contacts, contactGates).map { contact, gate in
            DeviceGate.Call(gate: gate, executor: nil) { await contact.read() }
        }, within: deadline)
        return zip(contacts, outcomes).map { contact, outcome in
            switch outcome {
            case .answered(let result): result
            case .late: .failure(RippleContactError("\(contact.name): " + Self.late("read", deadline)))
            case .busy: .failure(RippleContactError("\(contact.name): " + Self.busy))
            }
        }
    }

    // MARK: - A new configuration, at a cycle boundary

    struct StagedParts {
        var parts: SiteParts
        var done: @Sendable (StagedOutcome) -> Void
    }

    /// Hands over a new configuration's parts; they take over at the start of
    /// the next cycle. Returns once they have (or were superseded by newer
    /// parts, or the controller stopped).
    public func stage(_ parts: sending SiteParts) async -> StagedOutcome {
        await withCheckedContinuation { waiter in
            stage(parts) { waiter.resume(returning: $0) }
        }
    }

    /// The same, returning at once: `done` is called when the parts took over
    /// (or never will). For a caller that steps the cycles itself.
    public func stage(_ parts: sending SiteParts, done: @escaping @Sendable (StagedOutcome) -> Void) {
        staged?.done(.superseded)
        staged = StagedParts(parts: parts, done: done)
    }

    /// Step 0: swaps the staged parts in, all at once. A station that stays
    /// (same id, same device) keeps what the cycle knows of it; one with a new
    /// device starts afresh and gets its limit this cycle; one removed is left
    /// at the fail-safe current, as on stopping, by the calls returned (made
    /// beside this cycle's sampling, so that they cost it no time).
    private func adoptStagedParts(at time: Double) -> (calls: [DeviceGate.Call<Result<Void, DeviceError>>], leaving: [(id: String, amps: Double)], events: [SiteEvent]) {
        guard let next = staged else { return ([], [], []) }
        staged = nil
        let parts = next.parts
        let old = (stations: stations, state: state, settings: settings)
        var carried: [StationState] = []
        for s in parts.stations {
            var st = StationState(enabled: s.enabled)
            if let i = old.stations.firstIndex(where: { $0.settings.id == s.settings.id }) {
                if old.stations[i].device === s.device { st = old.state[i] }
                // What the page or the API set stays, unless the configuration now says otherwise.
                st.enabled = old.stations[i].enabled == s.enabled ? old.state[i].enabled : s.enabled
                st.priority = old.stations[i].settings.priority == s.settings.priority ? old.state[i].priority : nil
            }
            carried.append(st)
        }
        let ids = Set(parts.stations.map(\.settings.id))
        var calls: [DeviceGate.Call<Result<Void, DeviceError>>] = [], leaving: [(id: String, amps: Double)] = []
        for (i, s) in old.stations.enumerated() where !ids.contains(s.settings.id) {
            remote.chargers[s.settings.id] = nil
            guard old.state[i].responding == true else { continue }
            var c = s.settings
            c.cableMax = old.state[i].enabled ? c.cableMax : 0
            let amps = old.settings.failsafe.current(for: c), device = s.device, phases = s.settings.phases.count
            calls.append(DeviceGate.Call(gate: old.state[i].gate, executor: device.taskExecutor) { await device.apply(amps: amps, phases: phases) })
            leaving.append((s.settings.id, amps))
        }

        settings = parts.settings
        pacer.settings = parts.settings.pacing
        if parts.meter !== meter { meterGate = DeviceGate() }
        if let pv = parts.pv, pv !== pvMeter { pvGate = DeviceGate() }
        meter = parts.meter
        pvMeter = parts.pv
        meterDrivers = parts.meterDrivers
        stations = parts.stations
        state = carried
        rosterStorage.withLock { $0 = parts.stations }
        if let chain = parts.chain { self.chain = chain }
        if let contacts = parts.contacts {
            let remoteRipple = signal.remote
            self.contacts = contacts.map(\.0)
            contactGates = contacts.map { _ in DeviceGate() }
            signal = RippleSignal(contacts: contacts.map(\.1))
            if let remoteRipple { signal.setRemote(remoteRipple.mode, until: remoteRipple.until) }
        }
        // The readings of a new wiring are judged afresh.
        commissioning = Commissioning()
        commandsChanged = true
        next.done(.applied(at: time))
        return (calls, leaving, [SiteEvent(time: time, kind: .configChanged, subject: "site", message: "new configuration in force: " + parts.change)])
    }

    // MARK: - A commissioning check

    /// The snapshot of the next cycle, once it has run; nil when the controller stops first.
    public func nextSnapshot() async -> SiteSnapshot? {
        await withCheckedContinuation { snapshotWaiters.append($0) }
    }

    /// Caps a commissioning check holds from the next cycle on (nil or empty: none).
    /// Under the clamp like any limit: a cap only ever lowers what a station gets.
    public func setTestCaps(_ caps: [String: Double]?) {
        testCaps = caps ?? [:]
    }

    // MARK: - Commands between cycles (API, SIGHUP, file watcher)

    /// The ripple mode from outside (REST or MQTT, the "cloud" path) for `ttl` seconds;
    /// nil clears it. It can add a restriction, never lift one a contact holds.
    public func setRipple(_ mode: RippleMode?, ttl: Double = .infinity, by source: String? = nil) {
        signal.setRemote(mode, until: now + ttl)
        commandsChanged = true
        pending.append(SiteEvent(time: now, kind: .remoteLimit, subject: "ripple",
                                 message: (mode.map { "remote ripple mode \($0.rawValue) for \(ttl) s" } ?? "remote ripple mode cleared") + Self.by(source)))
    }

    /// ", by token 'portal'": who made a change, for the event that records it.
    private static func by(_ source: String?) -> String { source.map { ", by \($0)" } ?? "" }

    /// A site limit (A per phase, below the fuse) for `ttl` seconds; nil clears it.
    public func setSiteLimit(_ amps: Double?, ttl: Double, by source: String? = nil) {
        remote.site = amps.map { RemoteLimits.Entry(amps: $0, until: now + ttl) }
        commandsChanged = true
        pending.append(SiteEvent(time: now, kind: .remoteLimit, subject: "site",
                                 message: (amps.map { "site limit \($0) A for \(ttl) s" } ?? "site limit cleared") + Self.by(source)))
    }

    /// A charger's own limit for `ttl` seconds; nil clears it. Unknown ids are refused.
    public func setChargerLimit(_ id: String, amps: Double?, ttl: Double, by source: String? = nil) -> Bool {
        guard stations.contains(where: { $0.settings.id == id }) else { return false }
        remote.chargers[id] = amps.map { RemoteLimits.Entry(amps: $0, until: now + ttl) }
        commandsChanged = true
        pending.append(SiteEvent(time: now, kind: .remoteLimit, subject: id,
                                 message: (amps.map { "limit \($0) A for \(ttl) s" } ?? "limit cleared") + Self.by(source)))
        return true
    }

    public func setEnabled(_ id: String, _ on: Bool, by source: String? = nil) -> Bool {
        guard let i = stations.firstIndex(where: { $0.settings.id == id }) else { return false }
        let changed = state[i].enabled != on
        state[i].enabled = on
        commandsChanged = true
        pending.append(SiteEvent(time: now, kind: .configChanged, subject: id, message: (on ? "enabled" : "disabled") + Self.by(source)))
        // The device hears of it beside the cycle: a station told over a WebSocket must not hold a cycle up.
        if changed {
            let device = stations[i].device
            Task { await device.switched(on: on) }
        }
        return true
    }

    /// A charger's priority from now on (the page, the API); unknown ids are refused.
    public func setPriority(_ id: String, _ priority: Int, by source: String? = nil) -> Bool {
        guard let i = stations.firstIndex(where: { $0.settings.id == id }) else { return false }
        state[i].priority = priority
        commandsChanged = true
        pending.append(SiteEvent(time: now, kind: .configChanged, subject: id, message: "priority \(priority)" + Self.by(source)))
        return true
    }

    /// What has been set from outside and is in force now, for the page and the API.
    public struct Overrides: Sendable {
        public var remote: RemoteLimits
        public var ripple: RippleMode?
        public var enabled: [String: Bool]
        public var priority: [String: Int]
    }

    /// What was set from outside, as the history keeps it across restarts.
    public func commands() -> SiteCommands {
        var c = SiteCommands()
        c.siteLimit = remote.site
        c.chargerLimits = remote.chargers
        c.ripple = signal.remote.map { SiteCommands.Ripple(mode: $0.mode, until: $0.until) }
        for (i, s) in stations.enumerated() {
            if !state[i].enabled { c.enabled[s.settings.id] = false }
            if let p = state[i].priority { c.priorities[s.settings.id] = SiteCommands.Priority(value: p, configured: s.settings.priority) }
        }
        return c
    }

    /// Puts back what a previous run had set from outside (see `SiteCommands`),
    /// leaving out what ran out meanwhile, chargers no longer configured and
    /// priorities the configuration has changed since. Call before the first
    /// cycle. Returns a line for each thing restored or left out, for the log;
    /// an event says the same.
    public func restore(_ saved: SiteCommands, at time: Double) -> [String] {
        now = max(now, time)
        let (kept, dropped) = saved.restorable(at: time, chargers: stations.map { ($0.settings.id, $0.settings.priority) })
        remote.site = kept.siteLimit
        remote.chargers.merge(kept.chargerLimits) { _, restored in restored }
        if let r = kept.ripple { signal.setRemote(r.mode, until: r.until) }
        for (i, s) in stations.enumerated() {
            if let on = kept.enabled[s.settings.id] { state[i].enabled = on }
            if let p = kept.priorities[s.settings.id] { state[i].priority = p.value }
        }
        let lines = kept.summary(at: time).map { "restored: " + $0 } + dropped.map { "not restored: " + $0 }
        if !lines.isEmpty {
            pending.append(SiteEvent(time: time, kind: .remoteLimit, subject: "restart", message: lines.joined(separator: "; ")))
        }
        // The history then holds what is in force, not what was left out.
        if !dropped.isEmpty { commandsChanged = true }
        return lines
    }

    /// The time of the cycle last run (its clock: the wall clock, or a simulated one): what commands' times to live count from.
    public var time: Double { now }

    public func overrides() -> Overrides {
        var e: [String: Bool] = [:], p: [String: Int] = [:]
        for (i, s) in stations.enumerated() {
            e[s.settings.id] = state[i].enabled
            p[s.settings.id] = state[i].priority ?? s.settings.priority
        }
        return Overrides(remote: remote, ripple: signal.remoteMode(at: now), enabled: e, priority: p)
    }

    /// What a policy's dry run needs: the last snapshot, and the stage's
    /// settings and memory. The caller runs it beside the cycle, on a copy
    /// (`PolicyDryRun`), then hands a fresh script to `replacePolicy(_:tested:)`.
    public func dryRunInputs(for name: String) -> PolicyDryRun.Inputs? {
        guard let stage = chain.stages.first(where: { $0.script.name == name }) else { return nil }
        return PolicyDryRun.Inputs(snapshot: lastSnapshot, settings: stage.settings, memory: stage.memory)
    }

    /// A policy refused beside the cycle: the event the cycle would have made.
    public func policyRefused(_ name: String, _ error: ReloadError) {
        pending.append(SiteEvent(time: now, kind: .reloadRefused, subject: name, message: error.description))
    }

    /// Swaps in a policy whose dry run passed beside the cycle: no script runs here.
    public func replacePolicy(_ script: sending PolicyScript, tested: Bool) -> Result<Void, ReloadError> {
        guard tested else { return replacePolicy(script) }
        let name = script.name, origin = script.origin
        do {
            guard try chain.replace(with: script) else {
                throw LuaError(kind: .contract, script: name, message: "not in the chain (\(policyNames.joined(separator: ", ")))")
            }
        } catch {
            let e = ReloadError("policy \(name): \(origin) refused, the running version stays: \(error)")
            policyRefused(name, e)
            return .failure(e)
        }
        pending.append(SiteEvent(time: now, kind: .reloaded, subject: name, message: "policy \(name) now runs \(origin)"))
        return .success(())
    }

    /// Hot reload of a policy: the new script (compiled fresh by the caller) is
    /// dry-run against the last snapshot and replaces the stage of its name only
    /// if that succeeds; otherwise the old one keeps running. The dry run runs
    /// here, in the cycle's actor: for simulated runs; the page and the API go
    /// through `ScriptManager`, which runs it beside the cycle.
    public func replacePolicy(_ script: sending PolicyScript) -> Result<Void, ReloadError> {
        let name = script.name
        let origin = script.origin
        do {
            if let lastSnapshot { try chain.replace(with: script, dryRunOn: lastSnapshot) }
            else if try !chain.replace(with: script) {
                throw LuaError(kind: .contract, script: name, message: "not in the chain (\(policyNames.joined(separator: ", ")))")
            }
        } catch {
            let e = ReloadError("policy \(name): \(origin) refused, the running version stays: \(error)")
            pending.append(SiteEvent(time: now, kind: .reloadRefused, subject: name, message: e.description))
            return .failure(e)
        }
        pending.append(SiteEvent(time: now, kind: .reloaded, subject: name, message: "policy \(name) now runs \(origin)"))
        return .success(())
    }

    /// A per building phase that the answering chargers draw.
    private static func evDraw(_ chargers: [ChargerSnapshot]) -> PhaseValues {
        var draw = PhaseValues.zero
        for c in chargers where c.responding {
            for (p, amps) in zip(c.phases, c.current) { draw[p] += amps }
        }
        return draw
    }

    /// Hot reload of a driver on every station and meter that uses it; `make`
    /// compiles a fresh script per device. Each device dry-runs it through init
    /// and poll and keeps its old driver when that fails.
    public func reloadDriver(_ driver: String, make: @Sendable () throws -> DriverScript) async -> [String: Result<Void, ReloadError>] {
        var results: [String: Result<Void, ReloadError>] = [:]
        var devices = stations.filter { $0.driver == driver }.map { ($0.settings.id, $0.device) }
        if meterDrivers.grid == driver { devices.append((meter.id, meter)) }
        if let pvMeter, meterDrivers.pv == driver { devices.append((pvMeter.id, pvMeter)) }
        for (id, device) in devices {
            guard let scripted = device as? any ScriptedDevice else {
                results[id] = .failure(ReloadError("\(id): its driver is not a script"))
                continue
            }
            let script: DriverScript
            do { script = try make() } catch {
                results[id] = .failure(ReloadError("\(id): \(error)"))
                continue
            }
            switch await scripted.reload(script) {
            case .success: results[id] = .success(())
            case .failure(let e): results[id] = .failure(ReloadError(e.description))
            }
        }
        for (id, r) in results.sorted(by: { $0.key < $1.key }) {
            switch r {
            case .success: pending.append(SiteEvent(time: now, kind: .reloaded, subject: id, message: "driver \(driver) reloaded"))
            case .failure(let e): pending.append(SiteEvent(time: now, kind: .reloadRefused, subject: id, message: e.description))
            }
        }
        return results
    }

    /// The controller is stopping: every answering charger gets the fail-safe
    /// current, so no station is left at a high limit with nobody watching
    /// (those with a watchdog would fall back anyway; those without would not).
    public func standDown(at time: Double) async -> [String] {
        now = time
        staged?.done(.stopped)
        staged = nil
        testCaps = [:]
        for waiter in snapshotWaiters { waiter.resume(returning: nil) }
        snapshotWaiters = []
        var errors: [String] = []
        for (i, s) in stations.enumerated() where state[i].responding == true {
            var c = s.settings
            c.cableMax = state[i].enabled ? c.cableMax : 0
            let amps = settings.failsafe.current(for: c)
            if case .failure(let e) = await s.device.apply(amps: amps, phases: s.settings.phases.count) { errors.append(e.description) }
            else { state[i].setpoint = amps }
        }
        pending.append(SiteEvent(time: time, kind: .stopped, message: "controller stopped; chargers left at the fail-safe current of \(settings.failsafe.current) A"))
        return errors
    }

    /// Events not yet handed out with a record (the last ones, on stopping).
    public func takePendingEvents() -> [SiteEvent] {
        defer { pending = [] }
        return pending
    }

    /// An event from outside the cycle (an overrun, a history problem), reported
    /// with the next record.
    public func note(_ event: SiteEvent) { pending.append(event) }

    /// A change made from outside (a script, a token), recorded at the cycle's
    /// time with who made it.
    public func noteChange(_ subject: String, _ message: String, by source: String?) {
        pending.append(SiteEvent(time: now, kind: .configChanged, subject: subject, message: message + Self.by(source)))
    }

    public var policyNames: [String] { chain.stages.map(\.script.name) }

    /// Every driver name in use, meters included.
    public var driverNames: [String] {
        Array(Set(stations.map(\.driver) + [meterDrivers.grid, pvMeter == nil ? "" : meterDrivers.pv]).subtracting([""])).sorted()
    }
}

public struct ReloadError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
