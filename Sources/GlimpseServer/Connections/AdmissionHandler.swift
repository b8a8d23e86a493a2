import Logging
import NIOCore
import Synchronization

/// Counts the server's open connections against `ConnectionPolicy.maxConnections`.
final class ConnectionCounter: Sendable {
    let limit: Int
    private let open = Atomic<Int>(0)

    init(limit: Int) { self.limit = limit }

    /// Takes a place; false (and nothing taken) when all are taken.
    func acquire() -> Bool {
        var current = open.load(ordering: .relaxed)
        while current < limit {
            let (exchanged, original) = open.compareExchange(
                expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
            if exchanged { return true }
            current = original
        }
        return false
    }

    func release() { open.subtract(1, ordering: .acquiringAndReleasing) }

    var count: Int { open.load(ordering: .relaxed) }
}

/// First handler of every connection, below TLS's plaintext side and the HTTP codec: takes a
/// place from the counter or, when none is left, answers `503 Service Unavailable` (with
/// `Retry-After`, in WebOb's plain-text form) without reading the request, and closes.
final class AdmissionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let counter: ConnectionCounter
    private let logger: Logger
    private enum State { case pending, admitted, refused, released }
    private var state = State.pending

    init(counter: ConnectionCounter, logger: Logger) {
        self.counter = counter
        self.logger = logger
    }

    static let refusal: String = {
        let body = "503 Service Unavailable\n\nThe server has too many connections open; retry later.\n\n   "
        return "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=UTF-8\r\n"
            + "Content-Length: \(body.utf8.count)\r\nRetry-After: 1\r\nConnection: close\r\n\r\n" + body
    }()

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { admit(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        admit(context)
        if state == .admitted { context.fireChannelActive() }
    }

    private func admit(_ context: ChannelHandlerContext) {
        guard state == .pending else { return }
        if counter.acquire() {
            state = .admitted
            return
        }
        state = .refused
        logger.warning("refused a connection: too many open", metadata: ["max_connections": "\(counter.limit)"])
        let response = context.channel.allocator.buffer(string: Self.refusal)
        // Half-close after the answer and give the client a moment to read it: closing with its
        // request unread would reset the connection and could discard the answer.
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(response)).assumeIsolated().whenComplete { _ in
            bound.value.close(mode: .output, promise: nil)
        }
        context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(2)) { bound.value.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if state == .admitted { context.fireChannelRead(data) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if state == .admitted {
            state = .released
            counter.release()
        }
        context.fireChannelInactive()
    }
}
