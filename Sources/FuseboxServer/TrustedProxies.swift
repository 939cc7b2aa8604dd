import HTTPTypes

/// Reverse proxies in front of the server (nginx, Caddy) whose forwarded
/// headers are believed. Behind a proxy every connection comes from the
/// proxy's address: the login lockout would lock everyone out at once, and
/// the per-client connection limit would throttle the proxy. A forwarded
/// header from any other address is ignored: a client could write it itself.
struct TrustedProxies: Sendable {
    let addresses: Set<String>

    init(_ addresses: [String]) { self.addresses = Set(addresses) }

    func contains(_ address: String) -> Bool { addresses.contains(address) }

    /// The client's address: the connection's, or, from a trusted proxy, the
    /// right-most address in X-Forwarded-For that is not itself a trusted proxy.
    func client(connection: String, headers: HTTPFields) -> String {
        guard contains(connection) else { return connection }
        let hops = headers[values: .xForwardedFor].flatMap { $0.split(separator: ",") }
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        return hops.last { !contains($0) } ?? connection
    }

    /// Whether the browser reached the server over HTTPS: directly, or through
    /// a trusted proxy that says so (X-Forwarded-Proto: https).
    func https(connection: String, headers: HTTPFields, direct: Bool) -> Bool {
        direct || (contains(connection) && headers[.xForwardedProto]?.lowercased() == "https")
    }
}

extension HTTPField.Name {
    static let xForwardedFor = Self("X-Forwarded-For")!
    static let xForwardedProto = Self("X-Forwarded-Proto")!
}
