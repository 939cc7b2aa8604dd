import FuseboxCore
import Logging
import NIOCore
import Synchronization

/// The connections open now, in all and by address.
final class ConnectionCount: Sendable {
    private let open = Mutex<(total: Int, byAddress: [String: Int])>((0, [:]))

    /// `exempt`: a trusted proxy, whose connections are many clients'.
    func admit(_ address: String, limits: ConnectionLimits, exempt: Bool) -> Bool {
        open.withLock { o in
            guard o.total < limits.total, exempt || o.byAddress[address, default: 0] < limits.perClient else { return false }
            o.total += 1
            o.byAddress[address, default: 0] += 1
            return true
        }
    }

    func leave(_ address: String) {
        open.withLock { o in
            o.total -= 1
            let left = o.byAddress[address, default: 1] - 1
            o.byAddress[address] = left > 0 ? left : nil
        }
    }

    var total: Int { open.withLock { $0.total } }
}

/// First in each connection's pipeline (after TLS), on raw bytes: admits the connection
/// or answers 503 and closes it, and closes one whose request head, request or
/// idle spell outlasts its timeout. It tells the phases apart without parsing
/// HTTP: a request begins with its first byte, its head ends at the first
/// blank line, and the answer begins with the server's first write. Once the
/// server has answered 101 (the live WebSocket), only the idle timeout holds,
/// and every frame either way counts as activity.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    private enum Phase { case idle, head, request, upgraded }

    private let limits: ConnectionLimits
    private let count: ConnectionCount
    private let exempt: TrustedProxies
    private var address: String?
    private var phase = Phase.idle
    /// The last bytes of the head seen so far, to find "\r\n\r\n" across reads.
    private var tail: [UInt8] = []
    private var timer: Scheduled<Void>?

    init(limits: ConnectionLimits, count: ConnectionCount, exempt: TrustedProxies) {
        self.limits = limits
        self.count = count
        self.exempt = exempt
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { admit(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        if address == nil { admit(context: context) }
        context.fireChannelActive()
    }

    private func admit(context: ChannelHandlerContext) {
        let from = context.channel.remoteAddress?.ipAddress ?? "unknown"
        guard count.admit(from, limits: limits, exempt: exempt.contains(from)) else {
            let body = #"{"error":"too many connections; try again later"}"#
            let reply = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n"
                + "Retry-After: 10\r\nConnection: close\r\n\r\n" + body
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(.byteBuffer(ByteBuffer(string: reply)))).whenComplete { _ in
                channel.close(promise: nil)
            }
            return
        }
        address = from
        // The first request must begin soon (a TLS handshake that stalls shows no bytes here at all).
        arm(limits.headerTimeout, context: context)
    }

    func handlerRemoved(context: ChannelHandlerContext) { release() }

    func channelInactive(context: ChannelHandlerContext) {
        release()
        context.fireChannelInactive()
    }

    private func release() {
        timer?.cancel()
        timer = nil
        if let address { count.leave(address) }
        address = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        switch phase {
        case .upgraded:
            arm(limits.idleTimeout, context: context)
        case .idle:
            phase = .head
            tail = []
            arm(limits.headerTimeout, context: context)
            scanHead(bytes, context: context)
        case .head:
            scanHead(bytes, context: context)
        case .request:
            break
        }
        context.fireChannelRead(data)
    }

    private func scanHead(_ bytes: ByteBuffer, context: ChannelHandlerContext) {
        for b in bytes.readableBytesView {
            tail.append(b)
            if tail.count > 4 { tail.removeFirst() }
            if tail == [13, 10, 13, 10] {
                phase = .request
                arm(limits.requestTimeout, context: context)
                return
            }
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if phase != .upgraded {
            if case .byteBuffer(let buffer) = unwrapOutboundIn(data), buffer.readableBytesView.starts(with: Array("HTTP/1.1 101".utf8)) {
                phase = .upgraded
            } else {
                phase = .idle
            }
        }
        arm(limits.idleTimeout, context: context)
        context.write(data, promise: promise)
    }

    private func arm(_ seconds: Double, context: ChannelHandlerContext) {
        timer?.cancel()
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: .milliseconds(Int64(seconds * 1000))) {
            channel.close(promise: nil)
        }
    }
}
