/// A sub-distribution with its own fuse, inside the grid connection or inside
/// another circuit. The grid connection itself is the root and is described by
/// `SiteLimits`.
public struct Circuit: Sendable, Equatable, Codable {
    public var id: String
    /// The fuse, A per phase.
    public var limit: PhaseValues
    /// Headroom kept below the fuse, A.
    public var margin: Double
    /// Chargers fed directly by this circuit.
    public var chargers: [String]
    /// Circuits fed by this one.
    public var circuits: [Circuit]
    /// Non-EV load on this circuit when it is metered, A per phase; 0 when not.
    public var load: PhaseValues

    public init(id: String, limit: PhaseValues, margin: Double = 0, chargers: [String] = [],
                circuits: [Circuit] = [], load: PhaseValues = .zero) {
        self.id = id
        self.limit = limit
        self.margin = margin
        self.chargers = chargers
        self.circuits = circuits
        self.load = load
    }

    /// Every charger id in this circuit and the circuits below it.
    public var allChargers: [String] { chargers + circuits.flatMap(\.allChargers) }

    /// This circuit and every circuit below it, depth first.
    public var flattened: [Circuit] { [self] + circuits.flatMap(\.flattened) }

    /// Calls `body` with each circuit of `circuits` and every circuit below
    /// them, in the order of `flattened`, without making that list.
    public static func visit(_ circuits: [Circuit], _ body: (Circuit) -> Void) {
        for circuit in circuits {
            body(circuit)
            visit(circuit.circuits, body)
        }
    }

    enum CodingKeys: String, CodingKey { case id, limit, margin, chargers, circuits, load }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        limit = try c.decode(PhaseValues.self, forKey: .limit)
        margin = try c.decodeIfPresent(Double.self, forKey: .margin) ?? 0
        chargers = try c.decodeIfPresent([String].self, forKey: .chargers) ?? []
        circuits = try c.decodeIfPresent([Circuit].self, forKey: .circuits) ?? []
        load = try c.decodeIfPresent(PhaseValues.self, forKey: .load) ?? .zero
        guard limit.array.allSatisfy({ (0...10_000).contains($0) }) else {
            throw DecodingError.dataCorruptedError(forKey: .limit, in: c, debugDescription: "expected the circuit's fuse, A per phase from 0 to 10000, got \(limit.array)")
        }
        guard (0...1000).contains(margin) else {
            throw DecodingError.dataCorruptedError(forKey: .margin, in: c, debugDescription: "expected A from 0 to 1000, got \(margin)")
        }
    }
}

/// The grid connection: its fuse, the margin kept below it, and an optional
/// contractual power limit (peak shaving).
public struct SiteLimits: Sendable, Equatable, Codable {
    /// A per phase.
    public var current: PhaseValues
    /// A kept free below `current` on every phase.
    public var margin: Double
    /// W over all three phases, when the contract caps it.
    public var power: Double?

    public init(current: PhaseValues, margin: Double = 0, power: Double? = nil) {
        self.current = current
        self.margin = margin
        self.power = power
    }

    enum CodingKeys: String, CodingKey { case current, margin, power }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        current = try c.decode(PhaseValues.self, forKey: .current)
        margin = try c.decodeIfPresent(Double.self, forKey: .margin) ?? 0
        power = try c.decodeIfPresent(Double.self, forKey: .power)
        // The ranges of site.yaml's site.limit (SiteConfig): a snapshot is held to what a configuration is.
        guard current.array.allSatisfy({ (1...4000).contains($0) }) else {
            throw DecodingError.dataCorruptedError(forKey: .current, in: c, debugDescription: "expected the fuse, A per phase from 1 to 4000, got \(current.array)")
        }
        guard (0...1000).contains(margin), margin < current.array.min() ?? 0 else {
            throw DecodingError.dataCorruptedError(forKey: .margin, in: c, debugDescription: "expected A from 0 to 1000, less than the smallest fuse, got \(margin)")
        }
        if let power, !(0...100_000_000).contains(power) {
            throw DecodingError.dataCorruptedError(forKey: .power, in: c, debugDescription: "expected W from 0 to 100000000, got \(power)")
        }
    }
}
