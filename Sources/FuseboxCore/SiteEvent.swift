/// Something the site should remember: the events log of the page and the history.
public struct SiteEvent: Sendable, Equatable, Codable, CustomStringConvertible {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        case started, stopped
        case failsafeEntered = "failsafe_entered", failsafeLeft = "failsafe_left"
        case policyFallback = "policy_fallback", policyRecovered = "policy_recovered"
        case reloaded, reloadRefused = "reload_refused"
        case rippleChanged = "ripple_changed"
        case deviceError = "device_error", deviceRecovered = "device_recovered"
        case remoteLimit = "remote_limit"
        case overrun
        case configChanged = "config_changed"
        case commissioning
        case historyFull = "history_full"
    }

    public var time: Double
    public var kind: Kind
    /// The charger, meter, policy or input it is about, when there is one.
    public var subject: String?
    public var message: String

    public init(time: Double, kind: Kind, subject: String? = nil, message: String) {
        self.time = time
        self.kind = kind
        self.subject = subject
        self.message = message
    }

    public var description: String { "\(kind.rawValue)\(subject.map { " \($0)" } ?? ""): \(message)" }
}
