import GlimpseHTTP
import HTTPTypes
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTPTypes
import Testing

@testable import GlimpseServer

/// The connection deadlines on an embedded channel, whose clock the test moves: a client that
/// stalls is cut off, a server that stops reading is not.
@Suite("Connection deadlines")
struct ConnectionDeadlinesTests {
    static let policy = ConnectionPolicy(
        maxConnections: 10, idleTimeout: .seconds(10), bodyTimeout: .seconds(5), sendTimeout: .seconds(7))

    /// A connected channel with the deadlines handler, and an outbound probe in front that
    /// stands for the application asking for more data.
    static func channel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(
            ConnectionDeadlines(policy: policy, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    static let head = HTTPRequestPart.head(
        HTTPRequest(method: .put, scheme: nil, authority: "x", path: "/v2/images/a/file"))
    static let chunk = HTTPRequestPart.body(ByteBuffer(string: "data"))

    @Test("a connection that never completes a request head is closed after the idle timeout")
    func headTimeout() throws {
        let channel = try Self.channel()
        channel.embeddedEventLoop.advanceTime(by: .seconds(9))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(!channel.isActive)
    }

    @Test("a server that stops reading a body (a stalled store) keeps the connection however long")
    func stalledServerKeepsClient() throws {
        let channel = try Self.channel()
        try channel.writeInbound(Self.head)
        try channel.writeInbound(Self.chunk)
        // The application asks for nothing: minutes pass.
        channel.embeddedEventLoop.advanceTime(by: .seconds(300))
        #expect(channel.isActive)
        // It asks again and the client answers in time.
        channel.read()
        channel.embeddedEventLoop.advanceTime(by: .seconds(4))
        try channel.writeInbound(Self.chunk)
        channel.embeddedEventLoop.advanceTime(by: .seconds(4))
        #expect(channel.isActive)
    }

    @Test("a client that sends no body bytes the server asked for is closed after the body timeout")
    func bodyGap() throws {
        let channel = try Self.channel()
        try channel.writeInbound(Self.head)
        channel.read()
        channel.embeddedEventLoop.advanceTime(by: .seconds(4))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(!channel.isActive)
    }

    @Test("after a response the keep-alive wait is the idle timeout, also when the answer came before the body's end")
    func keepAlive() throws {
        let channel = try Self.channel()
        try channel.writeInbound(Self.head)
        // An early answer (a 413, say), then the rest of the body is drained.
        try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .contentTooLarge)))
        try channel.writeOutbound(HTTPResponsePart.end(nil))
        channel.embeddedEventLoop.advanceTime(by: .seconds(20))
        #expect(channel.isActive)
        try channel.writeInbound(HTTPRequestPart.end(nil))
        channel.embeddedEventLoop.advanceTime(by: .seconds(9))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(!channel.isActive)
    }

    @Test(
        "a response is never cut while the client takes it; a client that takes none is closed after the send timeout")
    func sendTimeout() throws {
        let channel = try Self.channel()
        try channel.writeInbound(Self.head)
        try channel.writeInbound(HTTPRequestPart.end(nil))
        try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok)))
        channel.embeddedEventLoop.advanceTime(by: .seconds(60))
        #expect(channel.isActive)
        channel.isWritable = false
        channel.pipeline.fireChannelWritabilityChanged()
        channel.embeddedEventLoop.advanceTime(by: .seconds(6))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(!channel.isActive)
    }

    @Test("a slow client that takes a file response a region at a time keeps its connection; one that stops does not")
    func slowFileClient() throws {
        let channel = try Self.channel()
        try channel.writeInbound(Self.head)
        try channel.writeInbound(HTTPRequestPart.end(nil))
        try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok)))
        // Regions of a file go out below this handler: the socket stays unwritable all along.
        channel.isWritable = false
        channel.pipeline.fireChannelWritabilityChanged()
        for _ in 0..<5 {
            channel.embeddedEventLoop.advanceTime(by: .seconds(6))
            channel.pipeline.fireUserInboundEventTriggered(ResponseProgress())
        }
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(8))
        #expect(!channel.isActive)
    }

    @Test("a pipelined request read while a response is sent does not start the idle clock under that response")
    func pipelined() throws {
        let channel = try Self.channel()
        try channel.writeInbound(Self.head)
        try channel.writeInbound(HTTPRequestPart.end(nil))
        try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok)))
        // The next request arrives whole while the first answer is still being sent.
        try channel.writeInbound(Self.head)
        try channel.writeInbound(HTTPRequestPart.end(nil))
        try channel.writeOutbound(HTTPResponsePart.end(nil))
        // The second answer takes long: no deadline applies while it is produced.
        channel.embeddedEventLoop.advanceTime(by: .seconds(60))
        #expect(channel.isActive)
        try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok)))
        try channel.writeOutbound(HTTPResponsePart.end(nil))
        channel.embeddedEventLoop.advanceTime(by: .seconds(9))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(!channel.isActive)
    }
}
