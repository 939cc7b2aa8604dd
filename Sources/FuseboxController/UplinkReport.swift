/// How the uplink stands, for the page and `GET /api/status`: nil there when
/// the site has no `mqtt` section.
public struct UplinkReport: Codable, Sendable, Equatable {
    /// `mqtt://host:port` or `mqtts://host:port`.
    public var broker: String
    public var prefix: String
    public var connected: Bool
    /// Messages in the outbox not yet acknowledged by the broker.
    public var waiting: Int
    /// Messages dropped over the outbox's bound since the history file was made.
    public var dropped: Int
    /// Why the last connection failed or ended, if it did.
    public var lastError: String?

    public init(broker: String, prefix: String, connected: Bool, waiting: Int, dropped: Int, lastError: String?) {
        self.broker = broker
        self.prefix = prefix
        self.connected = connected
        self.waiting = waiting
        self.dropped = dropped
        self.lastError = lastError
    }
}
