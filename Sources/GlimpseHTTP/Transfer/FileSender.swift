import GlimpseCore
import NIOCore
import NIOHTTP1

/// Sends response bodies that are files with `sendfile`: the kernel copies from the page
/// cache to the socket, with no copy through the server's memory and no thread hop per
/// chunk.
///
/// Sits between the HTTP/1 encoder and the codec that turns HTTP types into HTTP/1 parts,
/// where a body part may be a `FileRegion`. A route registers its file (`transfer(on:file:)`)
/// and marks its response head with the transfer's key; the handler removes the mark, lets
/// the head pass and writes the file's ranges after it, in the order the route sends them.
/// Installed only on connections without TLS, whose bytes must pass through the server.
public final class FileSender: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = HTTPServerRequestPart
    public typealias OutboundIn = HTTPServerResponsePart
    public typealias OutboundOut = HTTPServerResponsePart

    /// The response header that carries a transfer's key from the route to this handler.
    static let mark = "glimpse-send-file"
    /// Bytes of a file region: the unit of progress a slow client is judged by.
    static let regionSize = 1 << 20

    /// A registered file response; touched on the event loop only.
    final class Transfer {
        let file: any StoredFile
        var headSent = false
        /// Ranges sent before the head passed, to write right after it.
        var waiting: [(range: Range<Int>, promise: EventLoopPromise<Void>)] = []
        init(file: any StoredFile) { self.file = file }
    }

    private var transfers: [UInt64: Transfer] = [:]
    private var lastKey: UInt64 = 0
    /// The transfer whose head passed and whose end has not.
    private var current: UInt64?
    private var context: ChannelHandlerContext?

    public init() {}

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        failAll(ChannelError.ioOnClosedChannel)
        self.context = nil
    }

    public func channelInactive(context: ChannelHandlerContext) {
        failAll(ChannelError.ioOnClosedChannel)
        context.fireChannelInactive()
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head) where head.headers.contains(name: Self.mark):
            let key = head.headers.first(name: Self.mark).flatMap { UInt64($0) }
            head.headers.remove(name: Self.mark)
            guard let key, let transfer = transfers[key] else {
                // Not a transfer of this connection's: the body would never come.
                promise?.fail(ChannelError.inappropriateOperationForState)
                context.close(promise: nil)
                return
            }
            // Responses go out in order: transfers registered before this one whose heads
            // never came (their responses were replaced) will not be sent.
            for (older, stale) in transfers where older < key {
                transfers[older] = nil
                for (_, promise) in stale.waiting { promise.fail(ChannelError.inappropriateOperationForState) }
            }
            context.write(wrapOutboundOut(.head(head)), promise: promise)
            current = key
            transfer.headSent = true
            for (range, promise) in transfer.waiting { write(range, of: transfer, context: context, promise: promise) }
            transfer.waiting = []
        case .end:
            if let key = current {
                transfers[key] = nil
                current = nil
            }
            context.write(data, promise: promise)
        default:
            context.write(data, promise: promise)
        }
    }

    /// Writes `range` as regions of `regionSize` bytes at most; `promise` completes with the
    /// last of them. Each region the socket takes is reported up the pipeline
    /// (`ResponseProgress`), so that a slow client that keeps reading is not taken for one
    /// that stopped.
    private func write(
        _ range: Range<Int>, of transfer: Transfer, context: ChannelHandlerContext, promise: EventLoopPromise<Void>
    ) {
        let file = transfer.file
        // The handle borrows the file's descriptor for the writes, then gives it back.
        let handle = NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: file.descriptor)
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        var offset = range.lowerBound
        var last: EventLoopFuture<Void>?
        while offset < range.upperBound {
            let end = min(offset + Self.regionSize, range.upperBound)
            let region = FileRegion(fileHandle: handle, readerIndex: offset, endIndex: end)
            let written = context.eventLoop.makePromise(of: Void.self)
            written.futureResult.whenSuccess { bound.value.fireUserInboundEventTriggered(ResponseProgress()) }
            context.write(wrapOutboundOut(.body(.fileRegion(region))), promise: written)
            last = written.futureResult
            offset = end
        }
        context.flush()
        guard let last else {
            _ = try? handle.takeDescriptorOwnership()
            promise.succeed()
            return
        }
        last.whenComplete { result in
            _ = try? handle.takeDescriptorOwnership()
            withExtendedLifetime(file) { promise.completeWith(result) }
        }
    }

    private func register(_ file: any StoredFile) -> UInt64 {
        lastKey += 1
        transfers[lastKey] = Transfer(file: file)
        return lastKey
    }

    private func send(_ range: Range<Int>, key: UInt64, promise: EventLoopPromise<Void>) {
        guard let context, let transfer = transfers[key] else {
            promise.fail(ChannelError.ioOnClosedChannel)
            return
        }
        if transfer.headSent {
            write(range, of: transfer, context: context, promise: promise)
        } else {
            transfer.waiting.append((range, promise))
        }
    }

    private func failAll(_ error: any Error) {
        let all = transfers.values
        transfers = [:]
        current = nil
        for transfer in all {
            for (_, promise) in transfer.waiting { promise.fail(error) }
            transfer.waiting = []
        }
    }

    /// Registers `file` for a response on `channel`; nil when the connection cannot send
    /// files (no `FileSender`: TLS, or not HTTP/1), and the body must be streamed.
    public static func transfer(on channel: any Channel, file: any StoredFile) async -> FileTransfer? {
        try? await channel.eventLoop.submit { () throws -> FileTransfer in
            let sender = try channel.pipeline.syncOperations.handler(type: FileSender.self)
            guard sender.context != nil, channel.isActive else { throw ChannelError.ioOnClosedChannel }
            let key = sender.register(file)
            return FileTransfer(key: key, sender: NIOLoopBound(sender, eventLoop: channel.eventLoop), file: file)
        }.get()
    }

    /// A file response registered on a connection.
    public struct FileTransfer: Sendable {
        let key: UInt64
        let sender: NIOLoopBound<FileSender>
        let file: any StoredFile
        /// Bytes sent and waited for at once: one range is being sent while the next is read
        /// into the page cache.
        static let window = 8 << 20

        /// The value of the response header `FileSender.mark`, which tells the handler which
        /// head is this transfer's.
        public var mark: String { String(key) }

        /// Sends `range` of the file after the response head, a window at a time, each read
        /// into the page cache on the store's threads before it is sent; returns once the
        /// socket has taken the last byte.
        public func send(_ range: Range<Int>) async throws {
            var inFlight: [EventLoopFuture<Void>] = []
            do {
                var offset = range.lowerBound
                while offset < range.upperBound {
                    let piece = offset..<min(offset + Self.window, range.upperBound)
                    try await file.load(piece)
                    inFlight.append(sendPiece(piece))
                    if inFlight.count > 1 { try await inFlight.removeFirst().get() }
                    offset = piece.upperBound
                }
                for future in inFlight { try await future.get() }
            } catch {
                // No write may still use the descriptor once this returns.
                for future in inFlight { _ = try? await future.get() }
                throw error
            }
        }

        private func sendPiece(_ range: Range<Int>) -> EventLoopFuture<Void> {
            let (sender, key) = (self.sender, self.key)
            let promise = sender.eventLoop.makePromise(of: Void.self)
            sender.eventLoop.execute { sender.value.send(range, key: key, promise: promise) }
            return promise.futureResult
        }
    }
}

/// Fired up the pipeline each time the socket has taken another part of a response that
/// passed below the HTTP handlers (a file region): the response is moving.
public struct ResponseProgress: Sendable {
    public init() {}
}
