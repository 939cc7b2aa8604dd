/// Cut at once, raise slowly (docs/design.md, field facts: chargers take a new current every 5 s at
/// best, load managers ramp up, and a stopped car should not restart at once).
///
/// Runs after the safety clamp and only ever lowers what the clamp allowed, so
/// every invariant the clamp established still holds: a paced value is the
/// allocation itself, something below it and at least the charger's min, or 0.
public struct LimitPacer: Sendable {
    public struct Settings: Sendable, Equatable {
        /// A per second a limit may rise.
        public var rampUp: Double
        /// A limit is raised at most this often, by `rampUp x raiseEvery` at most.
        public var raiseEvery: Double
        /// A charger we cut to 0 A stays at 0 at least this long.
        public var restartPause: Double

        /// After a cut, raises elsewhere wait until the cut shows in the measured
        /// current (the car follows within seconds), at most this long: a car
        /// that starts while another is still slowing down would add to it.
        public var settle: Double

        public init(rampUp: Double = 1, raiseEvery: Double = 5, restartPause: Double = 30, settle: Double = 10) {
            self.rampUp = rampUp
            self.raiseEvery = raiseEvery
            self.restartPause = restartPause
            self.settle = settle
        }
    }

    struct Charger: Sendable {
        var value: Double?
        var raisedAt = -Double.infinity
        var stoppedAt = -Double.infinity
        var cutAt = -Double.infinity
    }

    /// A above its limit that a measured current may be before a cut counts as not yet followed.
    static let followTolerance = 1.0

    public var settings: Settings
    private var chargers: [String: Charger] = [:]

    public init(settings: Settings = Settings()) { self.settings = settings }

    /// The limits to write at `time`, given what the clamp allowed and (in
    /// `chargers`) what each charger draws now.
    public mutating func pace(_ allowed: [Double], chargers snapshot: [ChargerSnapshot], at time: Double) -> [Double] {
        var out = allowed
        var states = snapshot.map { chargers[$0.id] ?? Charger() }
        // Cuts (and unchanged or first limits) first: they apply at once.
        var raising: [Int] = []
        for i in snapshot.indices {
            if let previous = states[i].value, allowed[i] > previous {
                raising.append(i)
                continue
            }
            if let previous = states[i].value, allowed[i] < previous { states[i].cutAt = time }
            if allowed[i] <= 0, let previous = states[i].value, previous > 0 { states[i].stoppedAt = time }
            states[i].value = allowed[i]
        }
        // Raises wait while a cut has not shown in the measured current yet.
        let settling = snapshot.indices.contains { i in
            guard let value = states[i].value, time - states[i].cutAt < settings.settle, snapshot[i].responding else { return false }
            return (snapshot[i].current.max() ?? 0) > value + LimitPacer.followTolerance
        }
        for i in raising {
            guard let previous = states[i].value else { continue }   // (raising holds only indices with a value)
            let target = allowed[i]
            var paced = previous
            if settling {
                paced = previous
            } else if previous <= 0 {
                // A paused car restarts at its minimum, once its pause is over.
                if time - states[i].stoppedAt >= settings.restartPause { paced = Swift.min(target, Swift.max(snapshot[i].min, 0.1)) }
            } else if time - states[i].raisedAt >= settings.raiseEvery {
                paced = Swift.min(target, previous + settings.rampUp * settings.raiseEvery)
            }
            if paced > previous { states[i].raisedAt = time }
            states[i].value = paced
        }
        for i in snapshot.indices {
            chargers[snapshot[i].id] = states[i]
            out[i] = states[i].value ?? allowed[i]
        }
        return out
    }
}
