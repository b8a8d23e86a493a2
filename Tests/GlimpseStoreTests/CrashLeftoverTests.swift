import GlimpseBlobStores
import GlimpseCore
import GlimpseTestSupport
import Logging
import NIOCore
import NIOPosix
import OpenStackEncoding
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Issue 13's defect 7: a process killed between the rename of an upload's data file and the
/// metadata write leaves a committed file no image refers to, and its image `saving` under a
/// lease that runs out. The sweeps (in the background, or `glimpse admin fsck`) must undo the
/// upload and remove the file once it is older than the grace period, and nothing younger.
@Suite("Data left by a crash, on files")
struct CrashLeftoverTests {
    static let pool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        return pool
    }()

    struct Node {
        let store: any MetadataStore
        let files: LocalBlobStore
        let clock = ManualClock()
        let service: ImageService
        let admin = Principal(userId: "u1", projectId: "p1", roles: ["admin"])

        init(_ store: any MetadataStore, dir: String) throws {
            self.store = store
            files = try LocalBlobStore(root: dir + "/images", pool: CrashLeftoverTests.pool)
            var config = ImageServiceConfig()
            config.uploadLeaseSeconds = 60
            config.orphanGraceSeconds = 3600
            service = ImageService(
                store: store, blobs: try BlobStores([files]), config: config, clock: clock,
                hashing: CrashLeftoverTests.pool, owner: "crashed-node",
                logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        }

        /// The state the kill leaves: the image `saving` under this node's lease, its data
        /// committed (renamed into place) but not recorded. Returns the data's location.
        func killedAfterRename(_ bytes: [UInt8]) async throws -> (Image, String) {
            let image = try await service.create(["disk_format": "raw", "container_format": "bare"], by: admin)
            let writer = try await files.makeWriter(imageId: image.id)
            var saving = image
            try saving.transition(to: .saving)
            let lease = UploadLease(
                imageId: image.id, owner: "crashed-node", storeId: files.id, pendingLocation: writer.pendingLocation,
                expiresAt: clock.now().adding(seconds: 60), expected: bytes.count)
            _ = try #require(try await store.startUpload(saving, lease: lease))
            try await writer.write(ByteBuffer(bytes: bytes))
            return (image, try await writer.commit())
        }

        func stored() async throws -> [String: StoredBlob] {
            Dictionary(
                uniqueKeysWithValues: try await files.inventory(after: nil, limit: 100).map { ($0.location, $0) })
        }

        /// Backdates a data file, as if the crash had been long ago.
        func age(_ location: String, hours: Int) {
            let old = time(nil) - hours * 3600
            var times = [timeval(tv_sec: old, tv_usec: 0), timeval(tv_sec: old, tv_usec: 0)]
            _ = utimes(files.root + "/" + location, &times)
        }
    }

    @Test(
        "a committed file without its metadata write is undone and removed past the grace period, reported with its size",
        arguments: MetadataBackend.available)
    func killBetweenRenameAndMetadata(_ backend: MetadataBackend) async throws {
        let dir = tempDir()
        defer { _ = system("rm -rf '\(dir)'") }
        try await backend.with { store in
            let node = try Node(store, dir: dir)
            let kept = try await node.service.create(
                ["disk_format": "raw", "container_format": "bare"], by: node.admin)
            try await node.service.upload(
                kept.id, body: [ByteBuffer(bytes: [1, 2, 3])].async, declaredSize: 3, by: node.admin)
            let keptLocation = try #require(try await store.image(id: kept.id)?.locations.first?.location)
            let (old, oldLocation) = try await node.killedAfterRename(Array(repeating: 7, count: 10_000))
            let (young, youngLocation) = try await node.killedAfterRename(Array(repeating: 8, count: 500))
            node.age(oldLocation, hours: 2)
            node.age(keptLocation, hours: 2)
            node.clock.advance(seconds: 61)
            #expect(Set(try await node.stored().keys) == [keptLocation, oldLocation, youngLocation])

            // A dry run reports both upload and the old file, and changes nothing.
            let dry = try await node.service.checkConsistency(dryRun: true)
            #expect(Set(dry.abandonedUploads.map(\.imageId)) == [old.id, young.id])
            #expect(dry.orphans.map(\.blob.location) == [oldLocation])
            #expect(dry.orphans.first?.blob.size == 10_000)
            #expect(dry.damaged.isEmpty && dry.imagesChecked == 1)
            #expect(Set(try await node.stored().keys) == [keptLocation, oldLocation, youngLocation])
            #expect(try await store.image(id: old.id)?.status == .saving)

            // fsck undoes both uploads and removes the old file; the young one waits its grace.
            let report = try await node.service.checkConsistency(dryRun: false)
            #expect(Set(report.abandonedUploads.map(\.imageId)) == [old.id, young.id])
            #expect(report.orphans.map(\.blob.location) == [oldLocation])
            #expect(report.orphans.map(\.storeId) == ["local"])
            #expect(Set(try await node.stored().keys) == [keptLocation, youngLocation])
            #expect(try await store.image(id: old.id)?.status == .queued)
            #expect(try await store.image(id: young.id)?.status == .queued)
            #expect(try await store.uploadLeases(imageIds: [old.id, young.id]).isEmpty)

            // Past its grace the young file goes too, by the background sweep.
            node.age(youngLocation, hours: 2)
            #expect(try await node.service.sweepOrphans().map(\.blob.location) == [youngLocation])
            #expect(Set(try await node.stored().keys) == [keptLocation])
            #expect(try await node.service.checkConsistency(dryRun: false).orphans.isEmpty)
        }
    }

    @Test(
        "a deleted image whose data removal never ran: its data is removed past the grace period",
        arguments: MetadataBackend.available)
    func killBetweenDeleteAndDataRemoval(_ backend: MetadataBackend) async throws {
        let dir = tempDir()
        defer { _ = system("rm -rf '\(dir)'") }
        try await backend.with { store in
            let node = try Node(store, dir: dir)
            let image = try await node.service.create(
                ["disk_format": "raw", "container_format": "bare"], by: node.admin)
            try await node.service.upload(
                image.id, body: [ByteBuffer(bytes: [1, 2, 3, 4])].async, declaredSize: 4, by: node.admin)
            let location = try #require(try await store.image(id: image.id)?.locations.first?.location)
            // The delete's metadata write, and then the kill: the data is still there.
            #expect(try await store.markDeleted(id: image.id, at: node.clock.now()))
            #expect(try await node.service.sweepOrphans().isEmpty)
            node.age(location, hours: 2)
            let report = try await node.service.checkConsistency(dryRun: false)
            #expect(report.orphans.map(\.blob.location) == [location])
            #expect(report.orphans.first?.blob.size == 4)
            #expect(try await node.stored().isEmpty)
            // The tombstone stays until its retention ends; purging it later finds nothing to do.
            #expect(try await store.imageIncludingDeleted(id: image.id)?.status == .deleted)
        }
    }
}
