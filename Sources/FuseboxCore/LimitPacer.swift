/// Cut at once, raise slowly (field.md: chargers take a new current every 5 s at
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

        public init(rampUp: Double = 1, raiseEvery: Double = 5, restartPause: Double = 30) {
            self.rampUp = rampUp
            self.raiseEvery = raiseEvery
            self.restartPause = restartPause
        }
    }

    struct Charger: Sendable {
        var value: Double?
        var raisedAt = -Double.infinity
        var stoppedAt = -Double.infinity
    }

    public var settings: Settings
    private var chargers: [String: Charger] = [:]

    public init(settings: Settings = Settings()) { self.settings = settings }

    /// The limits to write at `time`, given what the clamp allowed.
    public mutating func pace(_ allowed: [Double], chargers snapshot: [ChargerSnapshot], at time: Double) -> [Double] {
        var out = allowed
        for (i, c) in snapshot.enumerated() {
            var state = chargers[c.id] ?? Charger()
            let target = allowed[i]
            let paced: Double
            if let previous = state.value, target > previous {
                if previous <= 0 {
                    // A paused car restarts at its minimum, once its pause is over.
                    paced = time - state.stoppedAt >= settings.restartPause ? Swift.min(target, Swift.max(c.min, 0.1)) : 0
                } else if time - state.raisedAt >= settings.raiseEvery {
                    paced = Swift.min(target, previous + settings.rampUp * settings.raiseEvery)
                } else {
                    paced = previous
                }
                if paced > previous { state.raisedAt = time }
            } else {
                // A cut, no change, or the first limit this charger gets: at once.
                paced = target
            }
            if paced <= 0, let previous = state.value, previous > 0 { state.stoppedAt = time }
            state.value = paced
            chargers[c.id] = state
            out[i] = paced
        }
        return out
    }
}
