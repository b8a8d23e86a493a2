import GlimpseHTTP
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypesHTTP1

/// Hummingbird's HTTP/1.1 channel with the server's connection policy around it: a cap on
/// open connections (`AdmissionHandler`), deadlines for clients that stall
/// (`ConnectionDeadlines`), limits on request heads, and, without TLS, image data sent from
/// files by the kernel (`FileSender`).
struct GuardedHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value

    let inner: HTTP1Channel
    let counter: ConnectionCounter
    let sendsFiles: Bool

    init(
        responder: @escaping HTTPChannelHandler.Responder, policy: ConnectionPolicy, counter: ConnectionCounter,
        sendsFiles: Bool, logger: Logger
    ) {
        let configuration = HTTP1Channel.Configuration(
            // Built anew for each connection.
            additionalChannelHandlers: [ConnectionDeadlines(policy: policy, logger: logger)],
            httpDecoderConfiguration: .init(
                maxHeaderFieldSize: policy.maxHeaderFieldSize, maxHeaderListSize: policy.maxHeaderListSize,
                maxHeaderFieldCount: policy.maxHeaderCount))
        self.inner = HTTP1Channel(responder: responder, configuration: configuration)
        self.counter = counter
        self.sendsFiles = sendsFiles
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            // Last of what is there so far: after TLS, if any, so a refusal is encrypted too.
            try channel.pipeline.syncOperations.addHandler(AdmissionHandler(counter: counter, logger: logger))
        }.flatMap {
            inner.setup(channel: channel, logger: logger)
        }.flatMapThrowing { value in
            if sendsFiles {
                // Below the codec from HTTP types, where a body part may be a file region.
                let codec = try channel.pipeline.syncOperations.handler(type: HTTP1ToHTTPServerCodec.self)
                try channel.pipeline.syncOperations.addHandler(FileSender(), position: .before(codec))
            }
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}
