import Foundation
import HTTPTypes
import HummingbirdWSClient
import Logging

/// The station's side of an OCPP-J connection, kept open: to `<url>/<identity>`
/// with the `ocpp1.6` subprotocol (and HTTP Basic `<identity>:<key>` with a
/// key), connecting again a second after it drops, until the calling task is
/// cancelled. Fusebox speaks it upstream as a station to its billing backend
/// (`OCPPUpstream`), and the simulator's stations to the controller.
public enum OCPPClientConnection {
    /// `opened` gets what to write to this connection; every text frame that comes goes to
    /// `received`; `closed` runs when a connection ends, or an attempt fails, before the next one.
    public static func keep(url: String, identity: String, key: String?, maxFrame: Int, label: String,
                            opened: @escaping @Sendable (AsyncStream<String>.Continuation) -> Void,
                            received: @escaping @Sendable (String) -> Void,
                            closed: @escaping @Sendable () -> Void) async {
        var logger = Logger(label: label)
        logger.logLevel = .critical
        var configuration = WebSocketClientConfiguration()
        configuration.additionalHeaders[.secWebSocketProtocol] = "ocpp1.6"
        if let key { configuration.additionalHeaders[.authorization] = "Basic " + Data("\(identity):\(key)".utf8).base64EncodedString() }
        let path = identity.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(["/"])) ?? identity
        while !Task.isCancelled {
            _ = try? await WebSocketClient.connect(url: url + "/" + path, configuration: configuration, logger: logger) { inbound, outbound, _ in
                // What waits to be written is bounded by its owners (one call in flight, and their own limits).
                let (stream, continuation) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .unbounded)
                opened(continuation)
                defer { continuation.finish() }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { for await text in stream { try await outbound.write(.text(text)) } }
                    group.addTask {
                        for try await message in inbound.messages(maxSize: maxFrame) {
                            if case .text(let text) = message { received(text) }
                        }
                    }
                    // Either ending ends the connection.
                    try await group.next()
                    group.cancelAll()
                }
            }
            closed()
            try? await Task.sleep(for: .seconds(1))
        }
    }
}
