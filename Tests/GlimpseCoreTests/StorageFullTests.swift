import GlimpseCore
import GlimpseMemoryStores
import NIOCore
import OpenStackEncoding
import Testing

/// Issue 13's defect 9: image data that does not fit in its store is Glance's 413, with the
/// image back in `queued`, no lease and no bytes left, so that the upload can be retried.
@Suite("Image service: a full store")
struct StorageFullTests {
    let chunks = (0..<5).map { _ in ByteBuffer(bytes: [UInt8](repeating: 3, count: 1000)) }

    func expectCleanAfterFailure(_ f: ServiceFixture, _ full: FaultyBlobStore, _ id: String) async throws {
        let image = try #require(try await f.store.image(id: id))
        #expect(image.status == .queued && image.locations.isEmpty && image.size == nil && image.checksum == nil)
        #expect(try await f.store.uploadLeases(imageIds: [id]).isEmpty)
        #expect(try await f.objects(full).isEmpty)
    }

    @Test("the store fills up during the upload: 413 'Image storage media is full', the image queued, nothing kept")
    func fullDuringWrites() async throws {
        let full = FaultyBlobStore(id: "small", .full(after: 2500))
        let f = try ServiceFixture(more: [full])
        let image = try await f.createImage()
        await #expect(throws: ServiceError.storageFull) {
            try await f.service.upload(image.id, body: chunks.async, declaredSize: 5000, into: "small", by: f.admin)
        }
        #expect(ServiceError.storageFull.kind == .payloadTooLarge)
        #expect(
            ServiceError.storageFull.message
                == "Image storage media is full: There is not enough disk space on the image storage media.")
        try await expectCleanAfterFailure(f, full, image.id)
        // The retry into a store with room works.
        try await f.service.upload(image.id, body: chunks.async, declaredSize: 5000, by: f.admin)
        #expect(try await f.store.image(id: image.id)?.status == .active)
    }

    @Test("the store finds itself full at the commit (fsync): the same 413, nothing kept")
    func fullAtCommit() async throws {
        let full = FaultyBlobStore(id: "small", .fullAtCommit)
        let f = try ServiceFixture(more: [full])
        let image = try await f.createImage()
        await #expect(throws: ServiceError.storageFull) {
            try await f.service.upload(image.id, body: chunks.async, declaredSize: nil, into: "small", by: f.admin)
        }
        try await expectCleanAfterFailure(f, full, image.id)
    }
}

/// `glimpse admin fsck`'s check of images against their data.
@Suite("Image service: consistency check")
struct ConsistencyTests {
    @Test("images whose data is missing or of another size are reported and left as they are")
    func damagedImages() async throws {
        let f = try ServiceFixture()
        let good = try await f.activeImage([1, 2, 3])
        let lost = try await f.activeImage([4, 5, 6])
        let resized = try await f.activeImage([7, 8, 9])
        let queued = try await f.createImage()
        try await f.blobs.delete(location: try #require(lost.locations.first?.location))
        var changed = resized
        changed.size = 4
        _ = try #require(try await f.store.updateImage(changed))
        f.clock.advance(seconds: 1)

        let report = try await f.service.checkConsistency(dryRun: false)
        #expect(report.imagesChecked == 3)
        #expect(
            report.damaged.sorted { $0.imageId < $1.imageId }
                == [
                    .init(imageId: lost.id, location: lost.locations[0], recordedSize: 3, problem: .missing),
                    .init(
                        imageId: resized.id, location: resized.locations[0], recordedSize: 4,
                        problem: .sizeDiffers(stored: 3)),
                ].sorted { $0.imageId < $1.imageId })
        #expect(!report.damaged.contains { $0.imageId == good.id || $0.imageId == queued.id })
        #expect(try await f.store.image(id: lost.id)?.status == .active)
        #expect(try await f.store.image(id: resized.id)?.size == 4)
    }

    @Test("an image changed after the check began is not judged against the older inventory")
    func newerImagesSkipped() async throws {
        let f = try ServiceFixture()
        let image = try await f.activeImage([1, 2, 3])
        try await f.blobs.delete(location: try #require(image.locations.first?.location))
        // Not a second has passed: the image may be newer than what the inventory saw.
        #expect(try await f.service.findDamagedImages().checked == 0)
        f.clock.advance(seconds: 1)
        #expect(try await f.service.findDamagedImages().damaged.map(\.imageId) == [image.id])
    }
}
