/// How much of the box the web server may hold: connections and time. A
/// flood from the network (half-sent requests, idle connections by the
/// thousand) must never take the descriptors or the event loop the Modbus and
/// cloud connections need (docs/web.md).
public struct ConnectionLimits: Sendable, Equatable {
    /// The web server's share of the 256 descriptors kept beside the chargers'
    /// connections (`DescriptorLimit.reserve`): at most half, so that the
    /// history, pipes and serial lines keep theirs whatever the network does.
    public static let maxTotal = 128

    /// Seconds from a request's first byte to the end of its head.
    public var headerTimeout: Double = 10
    /// Seconds from the end of a request's head until the answer starts (its body, and the handler).
    public var requestTimeout: Double = 60
    /// Seconds a connection may stay open with no request.
    public var idleTimeout: Double = 120
    /// Connections at once, in all: at most `maxTotal`.
    public var total = ConnectionLimits.maxTotal
    /// Connections at once from one address.
    public var perClient = 16

    public init(headerTimeout: Double = 10, requestTimeout: Double = 60, idleTimeout: Double = 120, total: Int = ConnectionLimits.maxTotal, perClient: Int = 16) {
        self.headerTimeout = headerTimeout
        self.requestTimeout = requestTimeout
        self.idleTimeout = idleTimeout
        self.total = total
        self.perClient = perClient
    }
}

