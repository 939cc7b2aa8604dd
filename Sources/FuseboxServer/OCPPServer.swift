import Foundation
import FuseboxCore
import FuseboxOCPP
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import HummingbirdTLS
import Logging
import NIOSSL
import Synchronization

/// The central system's WebSocket endpoint: `ws://<box>:<port>/<station id>`
/// with the `ocpp1.6` subprotocol (docs/ocpp.md). A connection without it,
/// to another path, for a station id not allowed, or without the station's
/// key (security profile 1) is refused before the upgrade. Frames larger than 64 KB close the connection.
public enum OCPPServer {
    /// The longest station id taken (OCPP 1.6 gives the identity no length; 48 is SteVe's).
    public static let maxIdentity = 48

    /// With `tls`, security profile 2: `wss://` (docs/ocpp.md).
    public static func application(stations: OCPPStations, host: String = "0.0.0.0", port: Int, limits: ConnectionLimits = OCPPServer.limits,
                                   tls: TLSConfiguration? = nil, logger: Logger = Logger(label: "fusebox.ocpp"),
                                   onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) throws -> some ApplicationProtocol {
        let plain = HTTPServerBuilder.answeringHTTP1WebSocketUpgrade(limits: limits, count: ConnectionCount(), exempt: TrustedProxies([])) { head, _, _ in
            guard let id = identity(head), stations.admits(id, authorization: head.headerFields[.authorization]) else { return .dontUpgrade }
            let offered = (head.headerFields[.secWebSocketProtocol] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            guard offered.contains("ocpp1.6") else { return .dontUpgrade }
            return .upgrade([.secWebSocketProtocol: "ocpp1.6"]) { inbound, outbound, _ in
                let (connection, calls) = stations.attach(id)
                defer { stations.detach(id, connection) }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    // Fusebox's own calls (a charging profile), written as they come.
                    group.addTask { for await text in calls { try await outbound.write(.text(text)) } }
                    group.addTask {
                        for try await message in inbound.messages(maxSize: 65_536) {
                            guard case .text(let text) = message else {
                                try await outbound.close(.unacceptableData, reason: "OCPP-J is text")
                                return
                            }
                            let (answer, current) = stations.received(id, connection, text, now: Date().timeIntervalSince1970)
                            guard current else {
                                try await outbound.close(.normalClosure, reason: "another connection took station \(id) over")
                                return
                            }
                            if let answer { try await outbound.write(.text(answer.text)) }
                        }
                    }
                    // Either ending ends the connection: the station left, or it was taken over.
                    try await group.next()
                    group.cancelAll()
                }
            }
        }
        let server = try tls.map { try HTTPServerBuilder.tls(plain, tlsConfiguration: $0) } ?? plain
        let router = Router()
        router.get("**") { request, _ -> Response in
            let body = #"{"error":"stations connect with a WebSocket to /<station id>, subprotocol ocpp1.6"}"#
            return Response(status: .badRequest, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
        }
        return Application(router: router, server: server, configuration: .init(address: .hostname(host, port: port), serverName: "fusebox-ocpp"),
                           onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) }, logger: logger)
    }

    /// Stations stay connected for days and report rarely: a long idle timeout, and room for a car park's worth.
    public static var limits: ConnectionLimits {
        var l = ConnectionLimits()
        l.idleTimeout = 3600
        // A car park's stations may all come through one gateway's address.
        l.total = SiteConfig.OCPP.maxConnections
        l.perClient = SiteConfig.OCPP.maxConnections
        return l
    }

    /// The station id of `/<id>`, percent-decoded; nil for any other path.
    static func identity(_ head: HTTPRequest) -> String? {
        guard let path = head.path?.split(separator: "?").first, path.hasPrefix("/") else { return nil }
        let raw = path.dropFirst()
        guard !raw.isEmpty, !raw.contains("/"), let id = String(raw).removingPercentEncoding, !id.isEmpty,
              id.count <= maxIdentity, !id.unicodeScalars.contains(where: { $0.value < 32 || $0.value == 127 }) else { return nil }
        return id
    }
}
