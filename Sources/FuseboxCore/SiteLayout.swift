/// What a site's configuration fixes: where each charger sits in the list and
/// which chargers each circuit feeds. Computed once and reused for every cycle
/// while it `fits` the snapshot, so that no cycle hashes charger ids.
public struct SiteLayout: Sendable {
    public let chargerIndex: [String: Int]
    /// For each circuit of `SiteSnapshot.circuits`, depth first (as
    /// `Circuit.flattened`), the indices of every charger below it.
    public let circuitMembers: [[Int]]
    /// The phase limits of the grid connection (L1, L2, L3) and then of each
    /// circuit, with names, members and weights filled in; `Budget` sets only
    /// what is `available` each cycle.
    public let phaseLimits: [Constraint]
    private let ids: [String]
    private let phases: [[Phase]]
    private let circuits: [Circuit]

    public init(_ snapshot: SiteSnapshot) {
        ids = snapshot.chargers.map(\.id)
        phases = snapshot.chargers.map(\.phases)
        circuits = snapshot.circuits
        let index = snapshot.chargerIndex
        chargerIndex = index
        let flat = snapshot.circuits.flatMap(\.flattened)
        let members = flat.map { $0.allChargers.compactMap { index[$0] } }
        circuitMembers = members
        let onPhase = snapshot.chargers.map { c in
            var w = PhaseValues.zero
            for p in c.phases { w[p] += 1 }
            return w
        }
        var limits: [Constraint] = []
        for p in Phase.allCases {
            limits.append(SiteLayout.phaseLimit("grid \(p)", p, Array(snapshot.chargers.indices), onPhase))
        }
        for (c, circuit) in flat.enumerated() {
            for p in Phase.allCases {
                limits.append(SiteLayout.phaseLimit("circuit \(circuit.id) \(p)", p, members[c], onPhase))
            }
        }
        phaseLimits = limits
    }

    private static func phaseLimit(_ name: String, _ phase: Phase, _ candidates: [Int], _ onPhase: [PhaseValues]) -> Constraint {
        var members: [Int] = []
        var weights: [Double] = []
        for i in candidates where onPhase[i][phase] > 0 {
            members.append(i)
            weights.append(onPhase[i][phase])
        }
        return Constraint(name: name, unit: .amps, kind: .phase, available: 0, members: members, weights: weights)
    }

    /// Same chargers in the same order on the same phases, and circuits of the same shape.
    public func fits(_ snapshot: SiteSnapshot) -> Bool {
        guard ids.count == snapshot.chargers.count else { return false }
        for i in ids.indices where ids[i] != snapshot.chargers[i].id || phases[i] != snapshot.chargers[i].phases {
            return false
        }
        return SiteLayout.sameShape(circuits, snapshot.circuits)
    }

    private static func sameShape(_ a: [Circuit], _ b: [Circuit]) -> Bool {
        guard a.count == b.count else { return false }
        for i in a.indices {
            guard a[i].id == b[i].id, a[i].chargers == b[i].chargers, sameShape(a[i].circuits, b[i].circuits) else {
                return false
            }
        }
        return true
    }
}
