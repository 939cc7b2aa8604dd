/// What a site's configuration fixes: where each charger sits in the list and
/// which chargers each circuit feeds. Computed once and reused for every cycle
/// while it `fits` the snapshot, so that no cycle hashes charger ids.
public struct SiteLayout: Sendable {
    public let chargerIndex: [String: Int]
    /// For each circuit of `SiteSnapshot.circuits`, depth first (as
    /// `Circuit.flattened`), the indices of every charger below it.
    public let circuitMembers: [[Int]]
    private let ids: [String]
    private let circuits: [Circuit]

    public init(_ snapshot: SiteSnapshot) {
        ids = snapshot.chargers.map(\.id)
        circuits = snapshot.circuits
        let index = snapshot.chargerIndex
        chargerIndex = index
        circuitMembers = snapshot.circuits.flatMap(\.flattened).map { $0.allChargers.compactMap { index[$0] } }
    }

    /// Same chargers in the same order, and circuits of the same shape.
    public func fits(_ snapshot: SiteSnapshot) -> Bool {
        guard ids.count == snapshot.chargers.count else { return false }
        for i in ids.indices where ids[i] != snapshot.chargers[i].id { return false }
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
