import FuseboxCore
import Foundation
import FuseboxController
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import HummingbirdWebSocket
import Logging
import NIOSSL

/// Where the server listens and who may log in (site.yaml's `http` part).
public struct WebServerSettings: Sendable {
    public var host = "0.0.0.0"
    public var port = 4000
    public var user = "admin"
    /// bcrypt; without it the password is `serial`.
    public var passwordHash: String?
    /// Accounts that see everything and change nothing.
    public var viewers: [(user: String, passwordHash: String)] = []
    public var serial = ""
    /// Where API tokens are kept (their hashes); nil keeps them in memory only.
    public var tokenFile: String?
    public var failedLoginDelay: Duration = .seconds(1)
    /// Timeouts and connection counts (`ConnectionLimits`).
    public var connections = ConnectionLimits()
    /// Addresses of reverse proxies whose X-Forwarded-For (the client's
    /// address, for the login lockout) and X-Forwarded-Proto are believed.
    public var trustedProxies: [String] = []
    /// HTTPS with this certificate chain and key (PEM files); nil: plain HTTP.
    public var tls: (certificate: String, key: String)?

    public init(listen: String = "0.0.0.0:4000", user: String = "admin", passwordHash: String? = nil, serial: String = "",
                tokenFile: String? = nil) {
        let parts = listen.split(separator: ":", omittingEmptySubsequences: false)
        host = parts.dropLast().joined(separator: ":")
        if host.isEmpty { host = "0.0.0.0" }
        port = parts.last.flatMap { Int($0) } ?? 4000
        self.user = user
        self.passwordHash = passwordHash
        self.serial = serial
        self.tokenFile = tokenFile
    }
}

/// The web page, the REST API, the live WebSocket and /metrics, on one port.
public enum WebServer {
    /// The TLS configuration of `settings.tls`, or why its files cannot be used.
    public static func tlsConfiguration(_ settings: WebServerSettings) throws -> TLSConfiguration? {
        guard let (certificate, key) = settings.tls else { return nil }
        return try tlsConfiguration(certificate: certificate, key: key, section: "http.tls")
    }

    /// A server's TLS configuration from PEM files; an error names `section`'s key and the file.
    public static func tlsConfiguration(certificate: String, key: String, section: String) throws -> TLSConfiguration {
        let chain: [NIOSSLCertificate], privateKey: NIOSSLPrivateKey
        do { chain = try NIOSSLCertificate.fromPEMFile(certificate) } catch {
            throw WebServerError(description: "\(section).certificate: cannot read a PEM certificate from \(certificate): \(error)")
        }
        guard !chain.isEmpty else { throw WebServerError(description: "\(section).certificate: \(certificate) holds no certificate") }
        do { privateKey = try NIOSSLPrivateKey(file: key, format: .pem) } catch {
            throw WebServerError(description: "\(section).key: cannot read a PEM private key from \(key): \(error)")
        }
        return TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(privateKey))
    }

    /// The router alone: the tests run it in process.
    public static func router(feed: SiteFeed, accounts: Accounts, settings: WebServerSettings) -> Router<FuseboxRequestContext> {
        let router = Router(context: FuseboxRequestContext.self)
        let table = RouteTable()
        // Outermost first: the security headers go on the JSON errors too.
        router.add(middleware: SecurityHeaders())
        router.add(middleware: JSONErrors(routes: table))
        let api = API(feed: feed, accounts: accounts, failedLoginDelay: settings.failedLoginDelay, openAPI: Page.text("openapi.yaml"),
                      proxies: TrustedProxies(settings.trustedProxies), https: settings.tls != nil)
        api.addPublicRoutes(to: RecordedRoutes(methods: router, prefix: "/", table: table))
        Page(accounts: accounts).addRoutes(to: RecordedRoutes(methods: router, prefix: "/", table: table))
        let authenticated = RecordedRoutes(methods: router.group("api").add(middleware: Authentication(accounts: accounts)),
                                           prefix: "/api/", table: table)
        api.addRoutes(to: authenticated)
        SetupAPI(feed: feed).addRoutes(to: authenticated)
        authenticated.get("live") { _, _ -> Response in
            throw APIError(.badRequest, "/api/live is a WebSocket: send an Upgrade request")
        }
        router.group("metrics").add(middleware: Authentication(accounts: accounts)).get { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(string: feed.metrics.text())))
        }
        return router
    }

    /// The application, with the WebSocket upgrade for /api/live: a status per
    /// cycle; over HTTPS when `settings.tls` names a certificate and a key.
    public static func application(feed: SiteFeed, accounts: Accounts, settings: WebServerSettings,
                                   logger: Logger = Logger(label: "fusebox.http"),
                                   onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) throws -> some ApplicationProtocol {
        let plain = HTTPServerBuilder.answeringHTTP1WebSocketUpgrade(limits: settings.connections, count: ConnectionCount(),
                                                                   exempt: TrustedProxies(settings.trustedProxies)) { head, _, _ in
                guard head.path?.split(separator: "?").first == "/api/live", await allowed(head, accounts: accounts) else { return .dontUpgrade }
                return .upgrade([:]) { inbound, outbound, _ in
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask {
                            // Reads until the client closes; what it sends is ignored.
                            for try await _ in inbound {}
                        }
                        group.addTask {
                            for await _ in feed.updates() {
                                // The status as encoded once for this cycle.
                                if let json = feed.statusJSON { try await outbound.write(.text(String(buffer: json))) }
                            }
                        }
                        try await group.next()
                        group.cancelAll()
                    }
                }
            }
        let server = try tlsConfiguration(settings).map { try HTTPServerBuilder.tls(plain, tlsConfiguration: $0) } ?? plain
        return Application(
            router: router(feed: feed, accounts: accounts, settings: settings),
            server: server,
            configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "fusebox"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? settings.port) },
            logger: logger)
    }

    /// The upgrade request's own credentials (a browser sends its cookie; other
    /// clients a bearer token), and an Origin, when there is one, of this host:
    /// another site's page must not read the live status with the user's cookie.
    static func allowed(_ head: HTTPRequest, accounts: Accounts) async -> Bool {
        if let origin = head.headerFields[.origin], let authority = head.authority {
            guard let url = URL(string: origin), let host = url.host else { return false }
            let port = url.port.map { ":\($0)" } ?? ""
            guard host + port == authority || host == authority else { return false }
        }
        if let auth = head.headerFields[.authorization] {
            guard let secret = Authentication.bearer(auth) else { return false }
            return await accounts.token(forSecret: secret) != nil
        }
        for part in (head.headerFields[.cookie] ?? "").split(separator: ";") {
            let kv = part.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            if kv.count == 2, kv[0] == Authentication.cookie, await accounts.session(String(kv[1])) != nil { return true }
        }
        return false
    }
}

public struct WebServerError: Error, CustomStringConvertible, Sendable {
    public var description: String
}
