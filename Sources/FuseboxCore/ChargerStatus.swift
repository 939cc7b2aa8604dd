/// What a charging station reports about the car at its socket.
public enum ChargerStatus: String, Sendable, Codable, CaseIterable {
    /// No car.
    case free
    /// A car is connected but not charging (IEC 61851 state B).
    case occupied
    /// A car is charging (state C or D).
    case charging
    /// A bidirectional car is feeding the building.
    case discharging
    /// The station is off, in fault or unreachable.
    case unavailable

    /// A car is at the socket and would take current if offered.
    public var wantsCurrent: Bool { self == .occupied || self == .charging }
}
