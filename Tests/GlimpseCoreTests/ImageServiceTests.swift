import GlimpseCore
import GlimpseMemoryStores
import Logging
import NIOCore
import NIOPosix
import OpenStackEncoding
import OpenStackJSON
import Testing

/// The image service on in-memory stores, with a clock moved by hand.
struct ServiceFixture {
    let store = MemoryMetadataStore()
    let blobs = MemoryBlobStore(id: "local")
    let clock = ManualClock()
    let service: ImageService
    let admin = Principal(userId: "u1", projectId: "p1", roles: ["admin"])
    static let pool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        return pool
    }()

    /// - Parameter more: stores besides `local`, the default one.
    init(owner: String = "this-node", more: [any BlobStore] = []) throws {
        var config = ImageServiceConfig()
        config.uploadLeaseSeconds = 60
        config.uploadProgressInterval = .milliseconds(20)
        config.importMethods = ["glance-direct", "copy-image"]
        service = ImageService(
            store: store, blobs: try BlobStores([blobs] + more), config: config, clock: clock,
            hashing: Self.pool, owner: owner, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
    }

    func createImage() async throws -> Image {
        try await service.create(["disk_format": "raw", "container_format": "bare"], by: admin)
    }
}

@Suite("Image service: uploads, leases and housekeeping")
struct ImageServiceTests {
    @Test("an upload holds a lease with its progress while data arrives, and drops it when done")
    func uploadLease() async throws {
        let f = try ServiceFixture()
        let image = try await f.createImage()
        let (body, input) = AsyncStream.makeStream(of: ByteBuffer.self)
        let upload = Task { try await f.service.upload(image.id, body: body, declaredSize: 1000, by: f.admin) }
        input.yield(ByteBuffer(bytes: [UInt8](repeating: 1, count: 400)))
        var lease: UploadLease?
        for _ in 0..<200 {
            lease = try await f.store.uploadLeases(imageIds: [image.id]).first
            if lease?.received == 400 { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(lease?.owner == "this-node" && lease?.percent == 40)
        #expect(
            try await f.service.uploadProgress(of: [try #require(try await f.store.image(id: image.id))]) == [
                image.id: 40
            ])
        input.yield(ByteBuffer(bytes: [UInt8](repeating: 2, count: 600)))
        input.finish()
        try await upload.value
        #expect(try await f.store.image(id: image.id)?.status == .active)
        #expect(try await f.store.uploadLeases(imageIds: [image.id]).isEmpty)
        #expect(try await f.blobs.inventory(after: nil, limit: 10).map(\.pending) == [false])
    }

    @Test("deleting an image stops its upload, and the partial data goes")
    func deletedDuringUpload() async throws {
        let f = try ServiceFixture()
        let image = try await f.createImage()
        let (body, input) = AsyncStream.makeStream(of: ByteBuffer.self)
        let upload = Task { try await f.service.upload(image.id, body: body, declaredSize: nil, by: f.admin) }
        input.yield(ByteBuffer(bytes: [1, 2, 3]))
        for _ in 0..<200 where try await f.store.uploadLeases(imageIds: [image.id]).first?.received != 3 {
            try await Task.sleep(for: .milliseconds(10))
        }
        try await f.service.delete(image.id, by: f.admin)
        // The next renewal finds the lease gone; the upload stops at its next chunk.
        try await Task.sleep(for: .milliseconds(100))
        input.yield(ByteBuffer(bytes: [4]))
        input.finish()
        await #expect(throws: ServiceError.self) { try await upload.value }
        #expect(try await f.blobs.inventory(after: nil, limit: 10).isEmpty)
    }

    @Test("an upload whose process died is undone once its lease runs out; a live one is not")
    func reclaim() async throws {
        let f = try ServiceFixture()
        // An upload a dead process started: its image saving, its pending data in the store.
        let dead = try await f.createImage()
        let writer = try await f.blobs.makeWriter(imageId: dead.id)
        try await writer.write(ByteBuffer(bytes: [1, 2, 3]))
        var saving = dead
        try saving.transition(to: .saving)
        let lease = UploadLease(
            imageId: dead.id, owner: "dead-node", storeId: "local", pendingLocation: writer.pendingLocation,
            expiresAt: f.clock.now().adding(seconds: 60))
        _ = try #require(try await f.store.startUpload(saving, lease: lease))
        // And one that is still alive.
        let alive = try await f.createImage()
        var aliveSaving = alive
        try aliveSaving.transition(to: .saving)
        let aliveLease = UploadLease(
            imageId: alive.id, owner: "other-node", storeId: "local", pendingLocation: "pending/alive",
            expiresAt: f.clock.now().adding(seconds: 600))
        _ = try #require(try await f.store.startUpload(aliveSaving, lease: aliveLease))

        #expect(try await f.service.reclaimAbandonedUploads().count == 0)
        f.clock.advance(seconds: 61)
        #expect(try await f.service.reclaimAbandonedUploads().count == 1)
        #expect(try await f.store.image(id: dead.id)?.status == .queued)
        #expect(try await f.store.uploadLeases(imageIds: [dead.id, alive.id]) == [aliveLease])
        #expect(try await f.store.image(id: alive.id)?.status == .saving)
        #expect(try await f.blobs.inventory(after: nil, limit: 10).isEmpty)
        // The image takes a new upload.
        try await f.service.upload(dead.id, body: [ByteBuffer(bytes: [7])].async, declaredSize: 1, by: f.admin)
        #expect(try await f.store.image(id: dead.id)?.status == .active)
    }

    @Test("a failed upload keeps its lease while its store aborts, however long that takes")
    func leaseHeldThroughAbort() async throws {
        let slow = FaultyBlobStore(id: "slow", .slowAbort)
        let f = try ServiceFixture(more: [slow])
        let image = try await f.createImage()
        let upload = Task {
            try await f.service.upload(
                image.id, body: [ByteBuffer(bytes: [1, 2, 3])].async, declaredSize: 3, into: "slow", by: f.admin)
        }
        while slow.aborting.withLock({ $0.started }) == 0 { try await Task.sleep(for: .milliseconds(5)) }
        // Twice the lease passes while the store aborts; the keeper renews every quarter.
        for _ in 0..<8 {
            f.clock.advance(seconds: 15)
            try await Task.sleep(for: .milliseconds(100))
            #expect(try await f.service.reclaimAbandonedUploads().isEmpty)
        }
        slow.finishAbort()
        await #expect(throws: (any Error).self) { try await upload.value }
        #expect(try await f.store.image(id: image.id)?.status == .queued)
        #expect(try await f.store.uploadLeases(imageIds: [image.id]).isEmpty)
    }

    @Test("the orphan sweep removes old data nothing refers to, and only that")
    func orphanSweep() async throws {
        let f = try ServiceFixture()
        let image = try await f.createImage()
        try await f.service.upload(image.id, body: [ByteBuffer(bytes: [1])].async, declaredSize: 1, by: f.admin)
        let kept = try #require(try await f.store.image(id: image.id)?.locations.first?.location)
        func write(_ name: String, commit: Bool) async throws -> String {
            let w = try await f.blobs.makeWriter(imageId: name)
            try await w.write(ByteBuffer(bytes: [9]))
            return commit ? try await w.commit() : w.pendingLocation
        }
        let orphan = try await write("orphan", commit: true)  // a commit whose metadata write never happened
        let abandoned = try await write("abandoned", commit: false)  // pending, no lease
        let young = try await write("young", commit: true)
        let leased = try await write("leased", commit: false)
        let other = try await f.createImage()
        var saving = other
        try saving.transition(to: .saving)
        _ = try await f.store.startUpload(
            saving,
            lease: UploadLease(
                imageId: other.id, owner: "n", storeId: "local", pendingLocation: leased,
                expiresAt: f.clock.now().adding(seconds: 60)))
        let old = Timestamp.now().adding(seconds: -7200)
        for location in [kept, orphan, abandoned, leased] { f.blobs.age(location, to: old) }

        #expect(try await f.service.sweepOrphans().count == 2)
        let left = Set(try await f.blobs.inventory(after: nil, limit: 10).map(\.location))
        #expect(left == [kept, young, leased])
    }

    @Test("reads and deletes go to the store an image's data is in, not the default one")
    func storeRegistry() async throws {
        let f = try ServiceFixture()
        let image = try await f.createImage()
        try await f.service.upload(image.id, body: [ByteBuffer(bytes: [1, 2, 3])].async, declaredSize: 3, by: f.admin)
        #expect(try await f.store.image(id: image.id)?.locations.map(\.storeId) == ["local"])
        // The same catalog served with another default store.
        let other = MemoryBlobStore(id: "other")
        let service = ImageService(
            store: f.store, blobs: try BlobStores([f.blobs, other], defaultId: "other"), clock: f.clock,
            hashing: ServiceFixture.pool, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        let source = try #require(try await service.data(image.id, by: f.admin))
        var bytes: [UInt8] = []
        for try await chunk in try await source.open() { bytes += chunk.readableBytesView }
        #expect(bytes == [1, 2, 3])
        let next = try await service.create(["disk_format": "raw", "container_format": "bare"], by: f.admin)
        try await service.upload(next.id, body: [ByteBuffer(bytes: [4])].async, declaredSize: 1, by: f.admin)
        #expect(try await f.store.image(id: next.id)?.locations.map(\.storeId) == ["other"])
        try await service.delete(image.id, by: f.admin)
        #expect(try await f.blobs.inventory(after: nil, limit: 10).isEmpty)
        #expect(try await other.inventory(after: nil, limit: 10).count == 1)
        // A store that is no longer configured is an error, not a silent miss.
        let alone = ImageService(
            store: f.store, blobs: try BlobStores([f.blobs]), clock: f.clock, hashing: ServiceFixture.pool,
            logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        await #expect(throws: ServiceError.self) { try await alone.data(next.id, by: f.admin) }
    }

    @Test("an image whose store will not let its data go (RBD clones) is not deleted: 409, still active")
    func dataInUse() async throws {
        let f = try ServiceFixture()
        let held = FaultyBlobStore(id: "held", .dataInUse)
        let service = ImageService(
            store: f.store, blobs: try BlobStores([held]), clock: f.clock, hashing: ServiceFixture.pool,
            logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        let image = try await service.create(["disk_format": "raw", "container_format": "bare"], by: f.admin)
        try await service.upload(image.id, body: [ByteBuffer(bytes: [1])].async, declaredSize: 1, by: f.admin)
        await #expect(throws: ServiceError.conflict("in use")) { try await service.delete(image.id, by: f.admin) }
        #expect(try await f.store.image(id: image.id)?.status == .active)
        #expect(try await held.inventory(after: nil, limit: 10).count == 1)
    }

    @Test("a property quota refuses a huge body before applying it")
    func propertyQuota() async throws {
        let f = try ServiceFixture()
        var body = JSONObject()
        for i in 0..<100_000 { body["k\(i)"] = "v" }
        await #expect(
            throws: ServiceError.tooLarge(
                "The limit has been exceeded on the number of allowed image properties. Attempted: 100000, Maximum: 128"
            )
        ) {
            try await f.service.create(.object(body), by: f.admin)
        }
    }
}

extension Array where Element: Sendable {
    var async: AsyncStream<Element> {
        AsyncStream { c in
            for e in self { c.yield(e) }
            c.finish()
        }
    }
}
