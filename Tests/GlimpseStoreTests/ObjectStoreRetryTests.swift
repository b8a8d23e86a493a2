import GlimpseCore
import GlimpseObjectStores
import Hummingbird
import Logging
import NIOCore
import Synchronization
import Testing

/// An S3 endpoint that is busy for its first answers: what a restarting engine does.
@Suite("Object stores: an engine that is busy for a moment")
struct ObjectStoreRetryTests {
    @Test("an S3 PUT answered 503 is sent again, and the data is stored once")
    func busyEngine() async throws {
        let puts = Mutex(0)
        let stored = Mutex<[UInt8]>([])
        let router = Router()
        router.head("/bucket") { _, _ in HTTPResponse.Status.ok }
        router.put("/bucket/{key}") { request, _ -> Response in
            let n = puts.withLock { n in
                n += 1
                return n
            }
            let body = try await request.body.collect(upTo: 1 << 20)
            if n == 1 { return Response(status: .serviceUnavailable) }
            stored.withLock { $0 = Array(body.readableBytesView) }
            return Response(status: .ok, headers: [.eTag: "\"e\""])
        }
        let (ports, cont) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { cont.yield($0.localAddress?.port ?? 0) },
            logger: Logger(label: "busy-s3") { _ in SwiftLogNoOpLogHandler() })
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.run() }
            var it = ports.makeAsyncIterator()
            let port = await it.next() ?? 0
            defer { group.cancelAll() }
            let client = ObjectHTTP.makeClient()
            let store = S3BlobStore(
                id: "s3", settings: try S3StoreSettings(url: "s3://ak:sk@127.0.0.1:\(port)/bucket"), client: client,
                hashing: nil, logger: Logger(label: "test"))
            let writer = try await store.makeWriter(imageId: "00000000-0000-4000-8000-000000000001")
            try await writer.write(ByteBuffer(bytes: [1, 2, 3]))
            _ = try await writer.commit()
            #expect(puts.withLock { $0 } == 2)
            #expect(stored.withLock { $0 } == [1, 2, 3])
            try await client.shutdown()
        }
    }
}
