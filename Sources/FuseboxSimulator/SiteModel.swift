import Foundation
import FuseboxCore

/// The physical site the simulator plays, stepped by simulated time: the
/// building's own load, step loads on a schedule, PV, and cars at chargers that
/// follow a new limit after a delay and fall back to a fail-safe current when
/// their watchdog expires. Pure and deterministic for a seed: no I/O, no clock.
public final class SiteModel {
    public struct Car: Sendable, Equatable {
        public var id: String
        /// 1 or 3: how many of the charger's phases the car charges on.
        public var phases: Int
        /// A per phase the car takes at most.
        public var maxCurrent: Double
        /// kWh the car still wants.
        public var wanted: Double

        public init(id: String, phases: Int = 3, maxCurrent: Double = 16, wanted: Double = 40) {
            self.id = id
            self.phases = phases
            self.maxCurrent = maxCurrent
            self.wanted = wanted
        }
    }

    public struct Charger: Sendable {
        public var id: String
        /// The building phase each of the charger's own phases is on.
        public var phases: [Phase]
        public var maxCurrent: Double
        /// Seconds from a new limit to the car drawing it (charger and car).
        public var reactionDelay: Double
        /// Seconds without a write after which the charger falls back, if it has a watchdog.
        public var watchdog: Double?
        /// A the charger falls back to.
        public var failsafeCurrent: Double

        public var car: Car?
        /// When the controller last wrote anything to the charger: what feeds its watchdog.
        public var fedAt: Double = -.infinity
        /// The limits written, oldest first, with when: the car follows each one
        /// `reactionDelay` after it came. Trimmed to the one in force and those after it.
        public var written: [(at: Double, amps: Double)] = []

        /// What the controller last wrote, whether or not the car follows it yet.
        public var commanded: Double? { written.last?.amps }
        /// What the car draws now, per phase of the charger.
        public var drawing: Double = 0
        public var sessionEnergy: Double = 0

        public init(id: String, phases: [Phase] = [.l1, .l2, .l3], maxCurrent: Double = 16, reactionDelay: Double = 3,
                    watchdog: Double? = nil, failsafeCurrent: Double = 6) {
            self.id = id
            self.phases = phases
            self.maxCurrent = maxCurrent
            self.reactionDelay = reactionDelay
            self.watchdog = watchdog
            self.failsafeCurrent = failsafeCurrent
        }

        /// The limit in force at `time`: the fail-safe once the watchdog has
        /// expired; otherwise the latest write that is `reactionDelay` old (the
        /// charger's max before any has taken effect).
        public func limit(at time: Double) -> Double {
            if let watchdog, time - fedAt > watchdog { return min(failsafeCurrent, maxCurrent) }
            let effective = written.last { $0.at + reactionDelay <= time }
            return min(effective?.amps ?? maxCurrent, maxCurrent)
        }

        public var status: ChargerStatus {
            guard car != nil else { return .free }
            return drawing > 0 ? .charging : .occupied
        }
    }

    /// A load that is on from `start` to `end` (seconds), A per phase.
    public struct StepLoad: Sendable {
        public var name: String
        public var start: Double
        public var end: Double
        public var current: PhaseValues

        public init(name: String, start: Double, end: Double, current: PhaseValues) {
            self.name = name
            self.start = start
            self.end = end
            self.current = current
        }
    }

    /// A car that comes to a charger at `arrive` and leaves at `leave` (seconds).
    public struct Visit: Sendable {
        public var charger: String
        public var arrive: Double
        public var leave: Double
        public var car: Car

        public init(charger: String, arrive: Double, leave: Double, car: Car) {
            self.charger = charger
            self.arrive = arrive
            self.leave = leave
            self.car = car
        }
    }

    public private(set) var time: Double
    public var chargers: [Charger]
    /// Cars coming and going; each plugs in once, when its time comes.
    public var visits: [Visit] = []
    private var arrived = Set<Int>()
    private var left = Set<Int>()
    public var baseLoad: PhaseValues
    /// 24 factors on the base load, one per hour of the day (at the half hour),
    /// followed linearly in between; nil for a flat day.
    public var dailyShape: [Double]?
    public var steps: [StepLoad]
    /// W at noon on a clear day; 0 for no PV.
    public var pvPeak: Double
    public var cloudy: Bool
    public let voltage = PhaseValues(all: 230)
    /// A of noise on each phase of the base load, drawn anew each step.
    public var noiseAmplitude: Double = 0.5
    public private(set) var noise = PhaseValues.zero
    private var rng: SiteGenerator.Random

    public init(time: Double = 0, chargers: [Charger], baseLoad: PhaseValues = PhaseValues(all: 10),
                steps: [StepLoad] = [], pvPeak: Double = 0, cloudy: Bool = false, seed: UInt64 = 1) {
        self.time = time
        self.chargers = chargers
        self.baseLoad = baseLoad
        self.steps = steps
        self.pvPeak = pvPeak
        self.cloudy = cloudy
        rng = SiteGenerator.Random(seed: seed)
    }

    // MARK: - the controller's side

    public func write(limit amps: Double, to id: String) {
        guard let i = chargers.firstIndex(where: { $0.id == id }) else { return }
        chargers[i].fedAt = time
        chargers[i].written.append((time, amps))
        // Keep the write in force now and every later one.
        let delay = chargers[i].reactionDelay
        if let inForce = chargers[i].written.lastIndex(where: { $0.at + delay <= time }), inForce > 0 {
            chargers[i].written.removeFirst(inForce)
        }
    }

    /// Any write to the charger (an alive register, a timeout register) feeds its watchdog.
    public func feed(_ id: String) {
        guard let i = chargers.firstIndex(where: { $0.id == id }) else { return }
        chargers[i].fedAt = time
    }

    public func plug(_ car: Car, into id: String) {
        guard let i = chargers.firstIndex(where: { $0.id == id }) else { return }
        chargers[i].car = car
        chargers[i].sessionEnergy = 0
    }

    public func unplug(_ id: String) {
        guard let i = chargers.firstIndex(where: { $0.id == id }) else { return }
        chargers[i].car = nil
        chargers[i].drawing = 0
    }

    // MARK: - time

    /// Advances the site by `dt` seconds.
    public func step(_ dt: Double) {
        time += dt
        let a = noiseAmplitude
        noise = PhaseValues(rng.range(-a, a), rng.range(-a, a), rng.range(-a, a))
        for (n, v) in visits.enumerated() {
            if !arrived.contains(n), time >= v.arrive, time < v.leave {
                arrived.insert(n)
                plug(v.car, into: v.charger)
            }
            if arrived.contains(n), !left.contains(n), time >= v.leave {
                left.insert(n)
                unplug(v.charger)
            }
        }
        for i in chargers.indices {
            var c = chargers[i]
            defer { chargers[i] = c }
            guard var car = c.car, car.wanted > 0 else { c.drawing = 0; continue }
            let limit = c.limit(at: time)
            // IEC 61851: under 6 A the car cannot charge.
            c.drawing = limit >= 6 ? min(limit, car.maxCurrent) : 0
            let kWh = c.drawing * 230 * Double(min(car.phases, c.phases.count)) * dt / 3_600_000
            car.wanted = max(0, car.wanted - kWh)
            if car.wanted == 0 { c.drawing = 0 }
            c.sessionEnergy += kWh
            c.car = car
        }
    }

    // MARK: - what the meters see

    /// A per building phase the cars draw.
    public var evCurrent: PhaseValues {
        var v = PhaseValues.zero
        for c in chargers where c.drawing > 0 {
            let used = c.phases.prefix(min(c.car?.phases ?? 3, c.phases.count))
            for p in used { v[p] += c.drawing }
        }
        return v
    }

    /// The factor of `dailyShape` now: 1 for a flat day.
    public var shapeFactor: Double {
        guard let shape = dailyShape, shape.count == 24 else { return 1 }
        let hour = time.truncatingRemainder(dividingBy: 86_400) / 3600 - 0.5
        let h = (hour + 24).truncatingRemainder(dividingBy: 24)
        let i = Int(h), f = h - Double(i)
        return shape[i] * (1 - f) + shape[(i + 1) % 24] * f
    }

    /// Shapes of a day a site can take by name (sim.yaml `site.daily_shape`).
    public static let dailyShapes: [String: [Double]] = [
        // Offices and shops: a low night, the working day, the evening cleaners.
        "office": [0.5, 0.5, 0.5, 0.5, 0.5, 0.55, 0.7, 0.9, 1, 1, 1, 1, 1, 1, 1, 1, 0.95, 0.85, 0.7, 0.6, 0.55, 0.5, 0.5, 0.5],
        // Flats: breakfast, an empty day, the evening peak.
        "home": [0.4, 0.35, 0.35, 0.35, 0.35, 0.45, 0.75, 0.9, 0.7, 0.5, 0.5, 0.55, 0.6, 0.5, 0.5, 0.55, 0.7, 0.9, 1, 1, 0.9, 0.75, 0.6, 0.45],
    ]

    /// W the PV makes now: a half sine from 06:00 to 18:00, dimmed by clouds.
    public var pvPower: Double {
        guard pvPeak > 0 else { return 0 }
        let hour = (time.truncatingRemainder(dividingBy: 86_400)) / 3600
        guard hour > 6, hour < 18 else { return 0 }
        let clear = pvPeak * sin(Double.pi * (hour - 6) / 12)
        return cloudy ? clear * (0.3 + 0.5 * abs(sin(time / 97))) : clear
    }

    /// The grid meter: per phase the building's load, the step loads on now and
    /// the cars, less the PV (spread evenly), signed: negative is export.
    public var gridCurrent: PhaseValues {
        let pvPerPhase = pvPower / 3 / 230
        let ev = evCurrent
        let shape = shapeFactor
        return baseLoad.map { p, base in
            base * shape + noise[p] + steps.filter { $0.start <= time && time < $0.end }.reduce(0.0) { $0 + $1.current[p] }
                + ev[p] - pvPerPhase
        }
    }

    public var gridPower: PhaseValues { gridCurrent.map { p, i in i * voltage[p] } }

    /// What charger `i` shows on its registers.
    public func state(of i: Int) -> SimulatedChargerState {
        let c = chargers[i]
        let carPhases = min(c.car?.phases ?? 3, c.phases.count)
        let current = (0..<3).map { k in k < carPhases ? c.drawing : 0 }
        return SimulatedChargerState(status: c.status, current: current, voltage: [230, 230, 230],
                                     power: c.drawing * 230 * Double(carPhases), sessionEnergy: c.sessionEnergy)
    }
}
