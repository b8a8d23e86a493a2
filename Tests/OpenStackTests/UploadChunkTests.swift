import Foundation
import NIOCore
import Testing

@testable import OpenStack

@Suite("SDK: upload pieces")
struct UploadChunkTests {
    func pieces(_ source: UploadSource) async throws -> (sizes: [Int], bytes: [UInt8]) {
        var sizes: [Int] = []
        var bytes: [UInt8] = []
        for try await piece in try await source.chunks() {
            sizes.append(piece.readableBytes)
            bytes += piece.readableBytesView
        }
        return (sizes, bytes)
    }

    @Test("uploads go out in pieces under uWSGI's 1 MiB chunk limit, whatever the source's pieces")
    func bounded() async throws {
        let quarter = 256 << 10
        let first = [UInt8]((0..<((1 << 20) + 10)).map { UInt8(truncatingIfNeeded: $0) })
        let (stream, feed) = AsyncStream.makeStream(of: ByteBuffer.self)
        for part in [ByteBuffer(bytes: first), ByteBuffer(), ByteBuffer(bytes: [1, 2, 3, 4, 5])] { feed.yield(part) }
        feed.finish()
        let streamed = try await pieces(.stream(stream, length: nil))
        #expect(streamed.sizes == [quarter, quarter, quarter, quarter, 10, 5])
        #expect(streamed.bytes == first + [1, 2, 3, 4, 5])

        let path = NSTemporaryDirectory() + "glimpse-sdk-pieces-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data(first).write(to: URL(fileURLWithPath: path))
        let file = try await pieces(.file(path))
        #expect(file.sizes.allSatisfy { $0 <= quarter } && file.bytes == first)
        let memory = try await pieces(.bytes(first))
        #expect(memory.sizes.allSatisfy { $0 <= quarter } && memory.bytes == first)
    }
}
