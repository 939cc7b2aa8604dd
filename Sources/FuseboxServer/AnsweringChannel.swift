import FuseboxCore
import HTTPTypes
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOHTTP1

/// The server's connections, made sure to end with an answer.
///
/// With the WebSocket upgrade in the pipeline (hummingbird-websocket 2.8), a
/// request head that cannot be parsed, e.g. a control character in a header
/// value, got no answer at all: the decoder's error passed by the upgrade
/// handler, the connection stayed open, and the client hung until its own
/// timeout (schemathesis found it, docs/reliability.md). Here such an error
/// is answered 400, as raw bytes written past the HTTP codec, and the
/// connection is closed, as the server without the upgrade does.
///
/// Each connection is also admitted, timed and counted first (`ConnectionGuard`).
struct AnsweringChannel<Inner: ServerChildChannel>: ServerChildChannel {
    let inner: Inner
    let limits: ConnectionLimits
    let count: ConnectionCount
    let exempt: TrustedProxies

    /// The guard and the raw writer go last of what is there: right after the
    /// TLS handler when there is one, so that both see the plain bytes of HTTP.
    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Inner.Value> {
        do {
            try channel.pipeline.syncOperations.addHandler(ConnectionGuard(limits: limits, count: count, exempt: exempt), position: .last)
            try channel.pipeline.syncOperations.addHandler(RawReply(), position: .last)
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        return inner.setup(channel: channel, logger: logger).flatMapThrowing { value in
            try channel.pipeline.syncOperations.addHandler(ParseErrorAnswer(), position: .last)
            return value
        }
    }

    func handle(value: Inner.Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}

/// Next to the socket, so that `ParseErrorAnswer` can write bytes past the
/// HTTP codec; everything else passes through untouched.
final class RawReply: ChannelOutboundHandler, RemovableChannelHandler, Sendable {
    typealias OutboundIn = IOData
}

/// Answers a request that could not be parsed with 400 and closes the connection.
final class ParseErrorAnswer: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard error is HTTPParserError, let raw = try? context.pipeline.syncOperations.context(handlerType: RawReply.self) else {
            context.fireErrorCaught(error)
            return
        }
        let body = #"{"error":"the request could not be parsed as HTTP/1.1"}"#
        let reply = "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n"
            + "Connection: close\r\n\r\n" + body
        let channel = context.channel
        raw.writeAndFlush(NIOAny(IOData.byteBuffer(ByteBuffer(string: reply)))).whenComplete { _ in
            channel.close(promise: nil)
        }
    }
}

extension HTTPServerBuilder {
    /// `http1WebSocketUpgrade`, with every connection answered (`AnsweringChannel`).
    static func answeringHTTP1WebSocketUpgrade(
        limits: ConnectionLimits, count: ConnectionCount, exempt: TrustedProxies,
        shouldUpgrade: @escaping @Sendable (HTTPRequest, any Channel, Logger) async throws -> ShouldUpgradeResult<
            WebSocketDataHandler<HTTP1WebSocketUpgradeChannel.Context>
        >
    ) -> HTTPServerBuilder {
        .init { responder in
            AnsweringChannel(inner: HTTP1WebSocketUpgradeChannel(responder: responder, configuration: .init(), shouldUpgrade: shouldUpgrade),
                             limits: limits, count: count, exempt: exempt)
        }
    }
}
