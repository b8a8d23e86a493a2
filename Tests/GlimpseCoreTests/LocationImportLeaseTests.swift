import GlimpseCore
import GlimpseMemoryStores
import Logging
import NIOCore
import OpenStackEncoding
import OpenStackJSON
import StreamDigests
import Synchronization
import Testing

/// Serves the same bytes at every URL; `…/gated` gives its first half at once and the rest
/// once `open()` is called, so that a location import can be caught while it hashes.
final class GatedDownloader: WebDownloader {
    let bytes: [UInt8]
    private let opened = Atomic<Bool>(false)
    private let started = Atomic<Int>(0)

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// How many reads of `…/gated` have delivered their first half.
    var gatedReads: Int { started.load(ordering: .relaxed) }

    func open() { opened.store(true, ordering: .relaxed) }

    func permits(_ uri: String) async -> Bool { true }

    func size(_ uri: String) async throws -> Int? { bytes.count }

    func open(_ uri: String, token: String?) async throws -> WebDownload {
        let pieces = [Array(bytes[..<(bytes.count / 2)]), Array(bytes[(bytes.count / 2)...])]
        let gated = uri.hasSuffix("/gated")
        let sent = Mutex(0)
        return WebDownload(
            length: bytes.count,
            body: ByteStream(pull: { [self] in
                let i = sent.withLock { n in
                    defer { n += 1 }
                    return n
                }
                guard i < pieces.count else { return nil }
                if gated, i == 1 {
                    started.add(1, ordering: .relaxed)
                    while !opened.load(ordering: .relaxed) { try await Task.sleep(for: .milliseconds(5)) }
                }
                return ByteBuffer(bytes: pieces[i])
            }))
    }
}

/// Two nodes sharing one metadata store (and clock), each with the http store.
struct TwoNodes {
    let store = MemoryMetadataStore()
    let clock = ManualClock()
    let web: GatedDownloader
    let admin = Principal(userId: "u1", projectId: "p1", roles: ["admin"])

    init(_ bytes: [UInt8]) { web = GatedDownloader(bytes) }

    /// A node; with a long `renewEvery`, it never renews its leases while a test runs, as a
    /// process that died.
    func node(_ name: String, renewEvery interval: Duration = .milliseconds(20)) throws -> ImageService {
        var config = ImageServiceConfig()
        config.uploadLeaseSeconds = 60
        config.uploadProgressInterval = interval
        return ImageService(
            store: store,
            blobs: try BlobStores(
                [MemoryBlobStore(id: "local")], http: HTTPLocationStore(id: "web", fetcher: web)),
            config: config, clock: clock, hashing: ServiceFixture.pool, owner: name,
            logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
    }

    func validation(_ algorithm: StreamDigest.Algorithm, _ name: String) -> JSONValue {
        let digest = StreamDigest(algorithm)
        web.bytes.withUnsafeBytes { digest.update($0) }
        return ["os_hash_algo": .string(name), "os_hash_value": .string(digest.hexDigest())]
    }

    /// Waits until `condition` holds (at most two seconds).
    func until(_ condition: () async throws -> Bool) async throws {
        for _ in 0..<400 where try await !condition() { try await Task.sleep(for: .milliseconds(5)) }
    }
}

@Suite("Location imports hold an upload lease")
struct LocationImportLeaseTests {
    @Test("a location import whose process died while hashing is ended once its lease runs out; a new one works")
    func deadWhileHashing() async throws {
        let bytes = (0..<50_000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        let nodes = TwoNodes(bytes)
        let dead = try nodes.node("dead-node", renewEvery: .seconds(3600))
        let alive = try nodes.node("alive-node")
        let image = try await dead.create(["disk_format": "raw", "container_format": "bare"], by: nodes.admin)
        let sha512 = nodes.validation(.sha512, "sha512")
        try await dead.addLocation(
            image.id, body: ["url": "http://origin/gated", "validation_data": sha512], by: nodes.admin)
        try await nodes.until { nodes.web.gatedReads == 1 }
        // Hashing, with validation data: `importing`, locked, under the dead node's lease.
        let hashing = try #require(try await nodes.store.image(id: image.id))
        #expect(hashing.status == .importing)
        let task = try #require(hashing.properties["os_glance_import_task"]?.stringValue)
        #expect(try await nodes.store.uploadLeases(imageIds: [image.id]).map(\.owner) == ["dead-node"])
        // While the lease runs, the image is the import's.
        #expect(try await alive.reclaimAbandonedUploads().isEmpty)
        await #expect(throws: ServiceError.self) {
            try await alive.addLocation(image.id, body: ["url": "http://origin/image"], by: nodes.admin)
        }

        nodes.clock.advance(seconds: 61)
        #expect(try await alive.reclaimAbandonedUploads().map(\.owner) == ["dead-node"])
        let freed = try #require(try await nodes.store.image(id: image.id))
        #expect(freed.status == .queued && freed.locations.isEmpty && freed.size == nil)
        #expect(freed.properties["os_glance_import_task"] == nil && freed.osHashAlgo == nil)
        let ended = try #require(try await nodes.store.task(id: task))
        #expect(ended.status == .failure && ended.message == "Expired lock preempted")

        // A new location import takes the image and finishes.
        try await alive.addLocation(
            image.id, body: ["url": "http://origin/image", "validation_data": nodes.validation(.sha1, "sha1")],
            by: nodes.admin)
        await alive.imports.wait()
        var done = try #require(try await nodes.store.image(id: image.id))
        #expect(done.status == .active && done.size == bytes.count && done.osHashAlgo == "sha1")
        #expect(done.osHashValue == nodes.validation(.sha1, "sha1")["os_hash_value"]?.stringValue)
        #expect(try await nodes.store.uploadLeases(imageIds: [image.id]).isEmpty)

        // The dead node's task, if it ever wakes, leaves the image alone.
        nodes.web.open()
        await dead.imports.wait()
        done = try #require(try await nodes.store.image(id: image.id))
        #expect(done.status == .active && done.osHashAlgo == "sha1" && done.locations.count == 1)
        #expect(try await nodes.store.uploadLeases(imageIds: [image.id]).isEmpty)
    }

    @Test("a live location import renews its lease and is never reclaimed; a lock left without a lease is taken over")
    func aliveAndLeftover() async throws {
        let bytes = (0..<20_000).map { UInt8(truncatingIfNeeded: $0 * 13) }
        let nodes = TwoNodes(bytes)
        let node = try nodes.node("node")
        let image = try await node.create(["disk_format": "raw", "container_format": "bare"], by: nodes.admin)
        try await node.addLocation(
            image.id, body: ["url": "http://origin/gated", "validation_data": nodes.validation(.sha512, "sha512")],
            by: nodes.admin)
        try await nodes.until { nodes.web.gatedReads == 1 }
        for _ in 0..<6 {
            nodes.clock.advance(seconds: 20)
            try await Task.sleep(for: .milliseconds(100))
            #expect(try await node.reclaimAbandonedUploads().isEmpty)
        }
        nodes.web.open()
        await node.imports.wait()
        let active = try #require(try await nodes.store.image(id: image.id))
        #expect(active.status == .active && active.properties["os_glance_import_task"] == nil)
        #expect(active.osHashValue == nodes.validation(.sha512, "sha512")["os_hash_value"]?.stringValue)
        #expect(try await nodes.store.uploadLeases(imageIds: [image.id]).isEmpty)

        // A lock a location import of an earlier version left, without a lease: taken over.
        var left = try await node.create(["disk_format": "raw", "container_format": "bare"], by: nodes.admin)
        left.properties["os_glance_import_task"] = "left-behind"
        _ = try #require(try await nodes.store.updateImage(left))
        try await node.addLocation(left.id, body: ["url": "http://origin/image"], by: nodes.admin)
        await node.imports.wait()
        left = try #require(try await nodes.store.image(id: left.id))
        #expect(left.status == .active && left.properties["os_glance_import_task"] == nil)
    }
}
