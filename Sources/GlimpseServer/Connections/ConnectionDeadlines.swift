import GlimpseHTTP
import HTTPTypes
import Logging
import NIOCore
import NIOHTTPTypes

/// Closes a connection whose client holds it without making progress, by
/// `ConnectionPolicy`'s three clocks:
/// - waiting for a request head (a new connection, or keep-alive between requests):
///   `idleTimeout` from the moment the wait began, however the head trickles in;
/// - waiting for request body the server asked for: `bodyTimeout` since it asked. When the
///   server stops reading (its store is slow, the body stream is full) it asks for nothing,
///   so a stalled store never cuts a client off;
/// - sending a response the client does not take: `sendTimeout` while the socket stays
///   unwritable and no part of a file response (`ResponseProgress`) is taken.
///
/// Sits after the HTTP codec, where request parts arrive and where the application's
/// requests for more data (`read`) pass on their way to the socket. One timer per
/// connection, re-armed only when it fires, keeps the per-part cost to a few assignments.
final class ConnectionDeadlines: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let policy: ConnectionPolicy
    private let logger: Logger
    /// When the wait for a request head began; nil while a request is being handled.
    private var awaitingHeadSince: NIODeadline?
    /// When the server asked for body bytes it has not had yet.
    private var bodyRequestedSince: NIODeadline?
    /// Request heads read, requests read to their end, responses written to their end. A
    /// pipelining client's next request can arrive while a response is being sent, and an
    /// early answer (a 413, say) can precede its request's end: the connection waits for a
    /// head only when every request has been read and answered.
    private var requestsStarted = 0
    private var requestsEnded = 0
    private var responsesEnded = 0
    private var unwritableSince: NIODeadline?
    private var timer: Scheduled<Void>?

    init(policy: ConnectionPolicy, logger: Logger) {
        self.policy = policy
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    private func start(_ context: ChannelHandlerContext) {
        guard timer == nil else { return }
        awaitingHeadSince = context.eventLoop.now
        arm(context, at: context.eventLoop.now + shortest)
    }

    private var shortest: TimeAmount { min(policy.idleTimeout, policy.bodyTimeout, policy.sendTimeout) }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        bodyRequestedSince = nil
        switch unwrapInboundIn(data) {
        case .head:
            awaitingHeadSince = nil
            requestsStarted += 1
        case .body:
            break
        case .end:
            requestsEnded += 1
            waitForHeadIfIdle(context)
        }
        context.fireChannelRead(data)
    }

    func read(context: ChannelHandlerContext) {
        if requestsEnded < requestsStarted, bodyRequestedSince == nil { bodyRequestedSince = context.eventLoop.now }
        context.read()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            responsesEnded += 1
            waitForHeadIfIdle(context)
        }
        context.write(data, promise: promise)
    }

    private func waitForHeadIfIdle(_ context: ChannelHandlerContext) {
        if requestsEnded == requestsStarted, responsesEnded >= requestsStarted {
            awaitingHeadSince = context.eventLoop.now
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // Part of a file response was taken: the client is reading, however slowly.
        if event is ResponseProgress, unwritableSince != nil { unwritableSince = context.eventLoop.now }
        context.fireUserInboundEventTriggered(event)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        unwritableSince = context.channel.isWritable ? nil : context.eventLoop.now
        context.fireChannelWritabilityChanged()
    }

    /// The first deadline that applies now, and what it is for.
    private func nextDeadline() -> (NIODeadline, String)? {
        var candidates: [(NIODeadline, String)] = []
        if let since = awaitingHeadSince { candidates.append((since + policy.idleTimeout, "no complete request")) }
        if let since = bodyRequestedSince { candidates.append((since + policy.bodyTimeout, "no request body")) }
        if let since = unwritableSince { candidates.append((since + policy.sendTimeout, "response not taken")) }
        return candidates.min { $0.0 < $1.0 }
    }

    private func arm(_ context: ChannelHandlerContext, at deadline: NIODeadline) {
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            self.check(bound.value)
        }
    }

    /// Closes the connection if a deadline has passed; otherwise re-arms for the nearest one,
    /// or for one timeout ahead if none applies (any deadline set meanwhile lies beyond it).
    private func check(_ context: ChannelHandlerContext) {
        let now = context.eventLoop.now
        if let (deadline, reason) = nextDeadline(), deadline <= now {
            timer = nil
            logger.info(
                "closing an idle connection",
                metadata: ["reason": "\(reason)", "remote": "\(context.remoteAddress?.description ?? "?")"])
            context.close(promise: nil)
            return
        }
        let next = min(nextDeadline()?.0 ?? now + shortest, now + shortest)
        arm(context, at: next)
    }
}
