/// One of the three phases of the building's grid connection.
public enum Phase: Int, Sendable, Codable, CaseIterable, Hashable, CustomStringConvertible {
    case l1 = 1, l2 = 2, l3 = 3

    public var index: Int { rawValue - 1 }
    public var description: String { "L\(rawValue)" }
}

/// A value on each of L1, L2, L3 (amps, volts or watts).
///
/// In JSON and YAML it is an array of three numbers; a single number means the
/// same value on every phase (`limit: 63`).
public struct PhaseValues: Sendable, Equatable, Hashable {
    public var l1: Double
    public var l2: Double
    public var l3: Double

    public init(_ l1: Double, _ l2: Double, _ l3: Double) {
        self.l1 = l1
        self.l2 = l2
        self.l3 = l3
    }

    public init(all value: Double) { self.init(value, value, value) }

    public static let zero = PhaseValues(all: 0)

    public subscript(phase: Phase) -> Double {
        get {
            switch phase {
            case .l1: l1
            case .l2: l2
            case .l3: l3
            }
        }
        set {
            switch phase {
            case .l1: l1 = newValue
            case .l2: l2 = newValue
            case .l3: l3 = newValue
            }
        }
    }

    public var array: [Double] { [l1, l2, l3] }
    public var sum: Double { l1 + l2 + l3 }

    public func map(_ transform: (Phase, Double) -> Double) -> PhaseValues {
        PhaseValues(transform(.l1, l1), transform(.l2, l2), transform(.l3, l3))
    }
}

extension PhaseValues: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let single = try? container.decode(Double.self) {
            self.init(all: single)
            return
        }
        let values = try container.decode([Double].self)
        guard values.count == 3 else {
            throw DecodingError.dataCorruptedError(
                in: container,
                debugDescription: "expected one number or three numbers for L1, L2, L3, got \(values.count)")
        }
        self.init(values[0], values[1], values[2])
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(array)
    }
}

extension PhaseValues: CustomStringConvertible {
    /// "63/63/63": L1/L2/L3, as on a meter's display.
    public var description: String {
        [l1, l2, l3].map(PhaseValues.short).joined(separator: "/")
    }

    private static func short(_ v: Double) -> String {
        if v == v.rounded() && abs(v) < 1e9 { return String(Int(v)) }
        let hundredths: Double = (v * 100).rounded() / 100
        return String(hundredths)
    }
}

extension PhaseValues {
    public static func + (a: PhaseValues, b: PhaseValues) -> PhaseValues { PhaseValues(a.l1 + b.l1, a.l2 + b.l2, a.l3 + b.l3) }
    public static func - (a: PhaseValues, b: PhaseValues) -> PhaseValues { PhaseValues(a.l1 - b.l1, a.l2 - b.l2, a.l3 - b.l3) }
}
