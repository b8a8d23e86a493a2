import GlimpseCore
import GlimpseMemoryStores
import NIOCore
import OpenStackEncoding
import OpenStackJSON
import Synchronization
import Testing

/// A store in memory that fails as asked: no writer at all, or writes that fail, or writes
/// that wait until the import is cancelled, or data it will not let go (as RBD with clones),
/// or a disk that fills up after `fullAfter` bytes (at a write, or at the commit's fsync), or
/// writes that fail and an abort that takes until `finishAbort()` (as an object store waiting
/// out its own timeout).
final class FaultyBlobStore: BlobStore {
    enum Fault: Equatable {
        case noWriter, failingWrites, stalledWrites, dataInUse, full(after: Int), fullAtCommit, slowAbort
    }
    let inner: MemoryBlobStore
    let fault: Fault
    var id: String { inner.id }
    var type: String { inner.type }

    /// Aborts under way (`slowAbort`), and whether one may finish.
    let aborting = Mutex<(started: Int, finish: Bool)>((0, false))

    init(id: String, _ fault: Fault) {
        inner = MemoryBlobStore(id: id)
        self.fault = fault
    }

    func finishAbort() { aborting.withLock { $0.finish = true } }

    struct Broken: Error {}

    func makeWriter(imageId: String) async throws -> any BlobWriter {
        if fault == .noWriter { throw Broken() }
        return Writer(inner: try await inner.makeWriter(imageId: imageId), fault: fault, store: self)
    }

    func read(location: String, range: ClosedRange<Int>?) async throws -> ByteStream {
        try await inner.read(location: location, range: range)
    }
    func delete(location: String) async throws { try await inner.delete(location: location) }
    func freeSpace() async -> Int? { nil }
    func checkHealth() async throws {}
    func inventory(after marker: String?, limit: Int) async throws -> [StoredBlob] {
        try await inner.inventory(after: marker, limit: limit)
    }
    func checkDeletable(location: String) async throws {
        if fault == .dataInUse { throw ServiceError.conflict("in use") }
    }

    final class Writer: BlobWriter, @unchecked Sendable {
        let inner: any BlobWriter
        let fault: Fault
        let store: FaultyBlobStore
        var written = 0
        var pendingLocation: String { inner.pendingLocation }
        init(inner: any BlobWriter, fault: Fault, store: FaultyBlobStore) {
            self.inner = inner
            self.fault = fault
            self.store = store
        }
        func write(_ chunk: ByteBuffer) async throws {
            switch fault {
            case .failingWrites, .slowAbort: throw Broken()
            case .stalledWrites: try await Task.sleep(for: .seconds(3600))
            case .full(let room) where written + chunk.readableBytes > room:
                throw StorageFull("write: No space left on device")
            case .noWriter, .dataInUse, .full, .fullAtCommit: break
            }
            written += chunk.readableBytes
            try await inner.write(chunk)
        }
        func commit() async throws -> String {
            if fault == .fullAtCommit { throw StorageFull("fsync: No space left on device") }
            return try await inner.commit()
        }
        func abort() async {
            if fault == .slowAbort {
                store.aborting.withLock { $0.started += 1 }
                while !store.aborting.withLock({ $0.finish }) { try? await Task.sleep(for: .milliseconds(10)) }
            }
            await inner.abort()
        }
    }
}

extension ServiceFixture {
    /// An active image whose data is in `local`.
    func activeImage(_ bytes: [UInt8]) async throws -> Image {
        let image = try await createImage()
        try await service.upload(
            image.id, body: [ByteBuffer(bytes: bytes)].async, declaredSize: bytes.count, by: admin)
        return try #require(try await store.image(id: image.id))
    }

    /// A `uploading` image whose staged data is in `local`.
    func stagedImage(_ bytes: [UInt8]) async throws -> Image {
        let image = try await createImage()
        try await service.stage(image.id, body: [ByteBuffer(bytes: bytes)].async, declaredSize: bytes.count, by: admin)
        return try #require(try await store.image(id: image.id))
    }

    func importInto(_ id: String, _ method: String, _ stores: [String], allMustSucceed: Bool) async throws -> Image {
        try await service.importImage(
            id,
            body: [
                "method": ["name": .string(method)], "stores": .array(stores.map { .string($0) }),
                "all_stores_must_succeed": .bool(allMustSucceed),
            ], by: admin)
        await service.imports.wait()
        return try #require(try await store.image(id: id))
    }

    func objects(_ blobs: any BlobStore) async throws -> [StoredBlob] {
        try await blobs.inventory(after: nil, limit: 100)
    }
}

extension Image {
    var storeIds: [String] { locations.map(\.storeId) }
    func property(_ key: String) -> String? { properties[key]?.stringValue }
}

@Suite("Imports into several stores")
struct ImportTests {
    let bytes = (0..<50_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }

    @Test("copies are read best first: by weight, then in the order they were made")
    func order() {
        let copies = ["a", "b", "c", "d"].map { ImageLocation(storeId: $0, location: $0 + "/1") }
        #expect(copies.ordered(by: [:]).map(\.storeId) == ["a", "b", "c", "d"])
        #expect(copies.ordered(by: ["c": 5, "b": 5, "d": -1]).map(\.storeId) == ["b", "c", "a", "d"])
    }

    @Test("copy-image where all must succeed: a failing store undoes the copies made before it")
    func copyAllOrNothing() async throws {
        let good = MemoryBlobStore(id: "good")
        let f = try ServiceFixture(more: [good, FaultyBlobStore(id: "broken", .failingWrites)])
        let image = try await f.activeImage(bytes)
        let after = try await f.importInto(image.id, "copy-image", ["good", "broken"], allMustSucceed: true)
        #expect(after.storeIds == ["local"] && after.status == .active)
        #expect(after.property("os_glance_failed_import") == "broken")
        #expect(after.property("os_glance_importing_to_stores") == "")
        #expect(after.properties["os_glance_import_task"] == nil)
        #expect(try await f.objects(good).isEmpty)
        #expect(try await f.store.uploadLeases(imageIds: [image.id]).isEmpty)
    }

    @Test("copy-image where not all must succeed: the other stores get their copy")
    func copyBestEffort() async throws {
        let good = MemoryBlobStore(id: "good")
        let f = try ServiceFixture(more: [FaultyBlobStore(id: "broken", .noWriter), good])
        let image = try await f.activeImage(bytes)
        let after = try await f.importInto(image.id, "copy-image", ["broken", "good"], allMustSucceed: false)
        #expect(after.storeIds == ["local", "good"])
        #expect(after.property("os_glance_failed_import") == "broken")
        #expect(after.property("os_glance_importing_to_stores") == "")
        #expect(try await f.objects(good).map(\.pending) == [false])
    }

    @Test("glance-direct where all must succeed: a failure puts the image back to queued without data")
    func glanceDirectUndone() async throws {
        let good = MemoryBlobStore(id: "good")
        let f = try ServiceFixture(more: [good, FaultyBlobStore(id: "broken", .failingWrites)])
        let image = try await f.stagedImage(bytes)
        let after = try await f.importInto(image.id, "glance-direct", ["good", "broken"], allMustSucceed: true)
        #expect(after.status == .queued && after.locations.isEmpty)
        #expect(after.size == nil && after.checksum == nil && after.osHashValue == nil)
        #expect(after.property("os_glance_failed_import") == "broken")
        #expect(try await f.objects(good).isEmpty)
        #expect(try await f.objects(f.blobs).isEmpty)
    }

    @Test("glance-direct where not all must succeed: active with the copies made; the staged data goes")
    func glanceDirectBestEffort() async throws {
        let good = MemoryBlobStore(id: "good")
        let f = try ServiceFixture(more: [good, FaultyBlobStore(id: "broken", .failingWrites)])
        let image = try await f.stagedImage(bytes)
        let after = try await f.importInto(image.id, "glance-direct", ["broken", "good"], allMustSucceed: false)
        #expect(after.status == .active && after.storeIds == ["good"])
        #expect(after.property("os_glance_failed_import") == "broken")
        #expect(try await f.objects(f.blobs).isEmpty)
        let source = try #require(try await f.service.data(image.id, by: f.admin))
        var read: [UInt8] = []
        for try await chunk in try await source.open() { read += chunk.readableBytesView }
        #expect(read == bytes)
        // Nothing at all succeeded: back to queued.
        let none = try await f.stagedImage(bytes)
        let failed = try await f.importInto(none.id, "glance-direct", ["broken"], allMustSucceed: false)
        #expect(failed.status == .queued && failed.locations.isEmpty)
    }

    @Test("a copy that does not match the image's digests is not recorded")
    func verified() async throws {
        let good = MemoryBlobStore(id: "good")
        let f = try ServiceFixture(more: [good])
        var image = try await f.activeImage(bytes)
        image.osHashValue = String(repeating: "0", count: 128)
        image = try #require(try await f.store.updateImage(image))
        let after = try await f.importInto(image.id, "copy-image", ["good"], allMustSucceed: false)
        #expect(after.storeIds == ["local"] && after.property("os_glance_failed_import") == "good")
        #expect(try await f.objects(good).isEmpty)
    }

    @Test("stopping the imports (shutdown) counts the stores not done as failed")
    func stopped() async throws {
        let stalled = FaultyBlobStore(id: "stalled", .stalledWrites)
        let f = try ServiceFixture(more: [stalled, MemoryBlobStore(id: "next")])
        let image = try await f.activeImage(bytes)
        try await f.service.importImage(
            image.id, body: ["method": ["name": "copy-image"], "stores": ["stalled", "next"]], by: f.admin)
        let running = try #require(try await f.store.image(id: image.id))
        #expect(running.property("os_glance_importing_to_stores") == "next,stalled")
        #expect(running.properties["os_glance_import_task"] != nil)
        await f.service.imports.stop()
        let after = try #require(try await f.store.image(id: image.id))
        #expect(after.property("os_glance_failed_import") == "next,stalled")
        #expect(after.property("os_glance_importing_to_stores") == "")
        #expect(after.properties["os_glance_import_task"] == nil && after.storeIds == ["local"])
        #expect(try await f.objects(stalled).isEmpty)
    }

    @Test("an import whose process died is ended once its lease runs out")
    func reclaimed() async throws {
        let other = MemoryBlobStore(id: "other")
        let f = try ServiceFixture(more: [other])
        // A copy-image a dead process was running: its lock, its list, its pending data.
        var copying = try await f.activeImage(bytes)
        copying.properties["os_glance_import_task"] = "dead-task"
        copying.properties["os_glance_importing_to_stores"] = "other"
        let writer = try await other.makeWriter(imageId: copying.id)
        try await writer.write(ByteBuffer(bytes: [1, 2]))
        _ = try #require(
            try await f.store.startUpload(
                copying,
                lease: UploadLease(
                    imageId: copying.id, owner: "dead-node", storeId: "other",
                    pendingLocation: writer.pendingLocation, expiresAt: f.clock.now().adding(seconds: 60))))
        // A glance-direct import it was running too.
        var importing = try await f.stagedImage(bytes)
        try importing.transition(to: .importing)
        importing.properties["os_glance_import_task"] = "dead-task-2"
        importing.properties["os_glance_importing_to_stores"] = "other"
        _ = try #require(
            try await f.store.startUpload(
                importing,
                lease: UploadLease(
                    imageId: importing.id, owner: "dead-node", storeId: "other", pendingLocation: "pending/gone",
                    expiresAt: f.clock.now().adding(seconds: 60))))
        // While the lease runs, the lock holds.
        await #expect(throws: ServiceError.self) {
            try await f.service.importImage(
                copying.id, body: ["method": ["name": "copy-image"], "stores": ["other"]], by: f.admin)
        }
        f.clock.advance(seconds: 61)
        #expect(try await f.service.reclaimAbandonedUploads().count == 2)
        let copied = try #require(try await f.store.image(id: copying.id))
        #expect(copied.status == .active && copied.storeIds == ["local"])
        #expect(copied.property("os_glance_failed_import") == "other")
        #expect(copied.property("os_glance_importing_to_stores") == "")
        #expect(copied.properties["os_glance_import_task"] == nil)
        #expect(try await f.objects(other).isEmpty)
        let requeued = try #require(try await f.store.image(id: importing.id))
        #expect(requeued.status == .queued && requeued.locations.isEmpty)
        #expect(try await f.objects(f.blobs).map(\.location) == copied.locations.map(\.location))
        // The image takes a new copy.
        let again = try await f.importInto(copying.id, "copy-image", ["other"], allMustSucceed: true)
        #expect(again.storeIds == ["local", "other"] && again.property("os_glance_failed_import") == "")
    }

    @Test("the orphan sweep keeps every copy; purging a deleted image removes every copy's data")
    func housekeeping() async throws {
        let other = MemoryBlobStore(id: "other")
        let f = try ServiceFixture(more: [other])
        let image = try await f.activeImage(bytes)
        _ = try await f.importInto(image.id, "copy-image", ["other"], allMustSucceed: true)
        let old = Timestamp.now().adding(seconds: -7200)
        for blobs in [f.blobs, other] {
            for blob in try await f.objects(blobs) { blobs.age(blob.location, to: old) }
        }
        #expect(try await f.service.sweepOrphans().count == 0)
        #expect(try await f.objects(f.blobs).count == 1)
        #expect(try await f.objects(other).count == 1)
        // A tombstone whose data was left behind (a store was down at deletion).
        #expect(try await f.store.markDeleted(id: image.id, at: f.clock.now()))
        f.clock.advance(seconds: 10)
        #expect(try await f.service.purgeDeleted(olderThan: 5) == 1)
        #expect(try await f.objects(f.blobs).isEmpty)
        #expect(try await f.objects(other).isEmpty)
    }
}
