import Foundation
import GlimpseCore
import GlimpseHTTP
import GlimpseTestSupport
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Image data sent from files by the kernel (`FileSender`): the handler on a test channel,
/// then downloads over real connections.
@Suite("File sends")
struct FileSendTests {
    /// A file of the test's own, as a store would hand it out.
    final class TestFile: StoredFile {
        let descriptor: Int32
        let size: Int
        init(path: String, bytes: [UInt8]) throws {
            let fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o600)
            guard fd >= 0, write(fd, bytes, bytes.count) == bytes.count else { throw TestFailure("write \(path)") }
            descriptor = fd
            size = bytes.count
        }
        deinit { close(descriptor) }
        func load(_ range: Range<Int>) async throws {}
    }

    static func head(marked mark: String?) -> HTTPServerResponsePart {
        var headers = HTTPHeaders([("Content-Length", "10")])
        if let mark { headers.add(name: "glimpse-send-file", value: mark) }
        return .head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))
    }

    /// A file of 100 bytes in `dir`, and a connected test channel with a `FileSender`.
    static func connected(in dir: String) async throws -> (TestFile, NIOAsyncTestingChannel) {
        let file = try TestFile(path: dir + "/data", bytes: testBytes(100))
        let channel = NIOAsyncTestingChannel()
        try await channel.pipeline.addHandler(FileSender())
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1))
        return (file, channel)
    }

    @Test("a marked head leaves without its mark, then the file's range; other responses pass as they are")
    func handler() async throws {
        let dir = TestServer.temporaryDirectory()
        defer { _ = system("rm -rf '\(dir)'") }
        let (file, channel) = try await Self.connected(in: dir)

        let transfer = try #require(await FileSender.transfer(on: channel, file: file))
        let sending = Task { try await transfer.send(40..<50) }
        try await channel.writeOutbound(Self.head(marked: transfer.mark))
        guard case .head(let head) = try await channel.waitForOutboundWrite(as: HTTPServerResponsePart.self) else {
            Issue.record("no head first")
            return
        }
        #expect(!head.headers.contains(name: "glimpse-send-file") && head.headers["Content-Length"] == ["10"])
        guard
            case .body(.fileRegion(let region)) = try await channel.waitForOutboundWrite(
                as: HTTPServerResponsePart.self)
        else {
            Issue.record("no file region after the head")
            return
        }
        #expect(region.readerIndex == 40 && region.endIndex == 50)
        try await sending.value
        try await channel.writeOutbound(HTTPServerResponsePart.end(nil))
        guard case .end = try await channel.waitForOutboundWrite(as: HTTPServerResponsePart.self) else {
            Issue.record("no end")
            return
        }

        // A range longer than a region goes out as regions of a megabyte, in order.
        let long = try #require(await FileSender.transfer(on: channel, file: file))
        try await channel.writeOutbound(Self.head(marked: long.mark))
        _ = try await channel.waitForOutboundWrite(as: HTTPServerResponsePart.self)
        let sendingLong = Task { try await long.send(5..<(2 << 20) + 6) }
        var regions: [Range<Int>] = []
        for _ in 0..<3 {
            if case .body(.fileRegion(let r)) = try await channel.waitForOutboundWrite(as: HTTPServerResponsePart.self)
            {
                regions.append(r.readerIndex..<r.endIndex)
            }
        }
        #expect(regions == [5..<(1 << 20) + 5, (1 << 20) + 5..<(2 << 20) + 5, (2 << 20) + 5..<(2 << 20) + 6])
        try await sendingLong.value
        try await channel.writeOutbound(HTTPServerResponsePart.end(nil))
        _ = try await channel.waitForOutboundWrite(as: HTTPServerResponsePart.self)

        // A response that is not a file's is not touched.
        try await channel.writeOutbound(Self.head(marked: nil))
        try await channel.writeOutbound(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(string: "0123456789"))))
        guard case .head = try await channel.waitForOutboundWrite(as: HTTPServerResponsePart.self),
            case .body(.byteBuffer(let body)) = try await channel.waitForOutboundWrite(as: HTTPServerResponsePart.self)
        else {
            Issue.record("a plain response was changed")
            return
        }
        #expect(String(buffer: body) == "0123456789")

        // The transfer is over: sending more fails. A mark no transfer has closes the connection.
        await #expect(throws: (any Error).self) { try await transfer.send(0..<10) }
        await #expect(throws: (any Error).self) { try await channel.writeOutbound(Self.head(marked: "99")) }
        #expect(!channel.isActive)
    }

    @Test("a transfer whose connection closes before its head fails instead of waiting")
    func closedBeforeHead() async throws {
        let dir = TestServer.temporaryDirectory()
        defer { _ = system("rm -rf '\(dir)'") }
        let (file, channel) = try await Self.connected(in: dir)
        let transfer = try #require(await FileSender.transfer(on: channel, file: file))
        let sending = Task { try await transfer.send(0..<100) }
        try await channel.close()
        await #expect(throws: (any Error).self) { try await sending.value }
        // A channel without the handler (TLS) gets no transfer: the route streams instead.
        let plain = NIOAsyncTestingChannel()
        try await plain.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1))
        #expect(await FileSender.transfer(on: plain, file: file) == nil)
    }

    /// Reads exactly `count` bytes.
    static func read(_ fd: Int32, _ count: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = out[done...].withUnsafeMutableBytes { recv(fd, $0.baseAddress, count - done, 0) }
            guard n > 0 else { throw TestFailure("recv: \(n) after \(done) of \(count)") }
            done += n
        }
        return out
    }

    static func contentLength(_ head: String) -> Int {
        head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
            .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
    }

    @Test("pipelined on one connection: file, range, JSON and file again come back whole and in order")
    func pipelined() async throws {
        try await TestServer.with { s in
            let token = try await s.adminToken()
            // Two windows of the sender, the last one short.
            let bytes = testBytes(9 << 20 + 5)
            let id = try await s.createImageId(token)
            #expect(try await s.upload(id, token: token, bytes).status == 204)
            let port = s.port
            try await RawHTTP.offload {
                let fd = try RawHTTP.connect(port: port)
                defer { close(fd) }
                let get = { (path: String, extra: String) in
                    "GET \(path) HTTP/1.1\r\nHost: x\r\nX-Auth-Token: \(token)\r\n\(extra)\r\n"
                }
                try RawHTTP.send(
                    fd,
                    Array(
                        (get("/v2/images/\(id)/file", "") + get("/v2/images/\(id)/file", "Range: bytes=5000000-\r\n")
                            + get("/v2/images/\(id)", "") + get("/v2/images/\(id)/file", "")).utf8))
                for (k, expected) in [bytes, Array(bytes[5_000_000...]), nil, bytes].enumerated() {
                    let head = try RawHTTP.readResponseHead(fd)
                    #expect(!head.lowercased().contains("glimpse-send-file"), "response \(k)")
                    let body = try Self.read(fd, Self.contentLength(head))
                    if let expected {
                        #expect(body == expected, "response \(k): \(head)")
                    } else {
                        #expect(String(decoding: body, as: UTF8.self).contains("\"id\":\"\(id)\""), "response \(k)")
                    }
                }
            }
        }
    }

    /// Descriptors of this process open on files whose path contains `name`.
    static func openFiles(named name: String) -> Int {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return 0 }
        return entries.count { entry in
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + entry))?.contains(name)
                ?? false
        }
    }

    @Test("a client that reads a download slower than the send timeout per window keeps reading it to the end")
    func slowReader() async throws {
        try await TestServer.with({ $0.clientSendTimeout = 2 }) { s in
            let token = try await s.adminToken()
            let bytes = testBytes(12 << 20)
            let id = try await s.createImageId(token)
            #expect(try await s.upload(id, token: token, bytes).status == 204)
            let port = s.port
            try await RawHTTP.offload {
                let fd = try RawHTTP.connect(port: port)
                defer { close(fd) }
                try RawHTTP.send(
                    fd, Array("GET /v2/images/\(id)/file HTTP/1.1\r\nHost: x\r\nX-Auth-Token: \(token)\r\n\r\n".utf8))
                _ = try RawHTTP.readResponseHead(fd)
                // A megabyte every 0.7 s: the socket stays full far longer than 2 s, but moves.
                var body: [UInt8] = []
                while body.count < bytes.count {
                    body += try Self.read(fd, min(1 << 20, bytes.count - body.count))
                    usleep(700_000)
                }
                #expect(body == bytes)
            }
        }
    }

    @Test("a client that leaves mid-download: the server lets go of the file and serves on")
    func clientLeaves() async throws {
        try await TestServer.with { s in
            let token = try await s.adminToken()
            let bytes = testBytes(12 << 20)
            let id = try await s.createImageId(token)
            #expect(try await s.upload(id, token: token, bytes).status == 204)
            let port = s.port
            try await RawHTTP.offload {
                let fd = try RawHTTP.connect(port: port)
                try RawHTTP.send(
                    fd, Array("GET /v2/images/\(id)/file HTTP/1.1\r\nHost: x\r\nX-Auth-Token: \(token)\r\n\r\n".utf8))
                _ = try RawHTTP.readResponseHead(fd)
                _ = try Self.read(fd, 1 << 20)
                close(fd)
            }
            var open = Self.openFiles(named: id)
            for _ in 0..<100 where open > 0 {
                try await Task.sleep(for: .milliseconds(50))
                open = Self.openFiles(named: id)
            }
            #expect(open == 0, "descriptors still open on the image's file")
            let again = try await s.request(.GET, "/v2/images/\(id)/file", token: token)
            #expect(again.status == 200 && again.body == bytes)
        }
    }
}
