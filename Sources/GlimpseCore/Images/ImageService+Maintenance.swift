import Logging
import OpenStackEncoding
import OpenStackJSON

/// Housekeeping the server runs in the background and `glimpse admin purge` runs by hand:
/// each pass is safe while uploads and other processes run.
extension ImageService {
    /// Removes tombstones of images deleted more than `deletedImageRetention` ago, and the
    /// data of any of their copies left behind (deletion removes data at once; this retries
    /// what failed). Returns how many.
    @discardableResult
    public func purgeDeleted(olderThan age: Int64? = nil) async throws -> Int {
        let before = clock.now().adding(seconds: -(age ?? config.deletedImageRetention))
        var total = 0
        while true {
            let batch = try await store.deletedImages(before: before, limit: 500)
            if batch.isEmpty { return total }
            for image in batch {
                await removeData(image.locations, of: image.id, retry: "the orphan sweep will")
            }
            try await store.purge(ids: batch.map(\.id))
            total += batch.count
            if batch.count < 500 { return total }
        }
    }

    /// Undoes uploads and imports whose process died: each lease that ran out puts its image
    /// back to `queued` (if the upload had not finished; an import into stores ends with the
    /// stores it had not done counted as failed, see `ImportRun.abandon`, and its task failed)
    /// and its pending data is removed. A lease renewed meanwhile is left alone. Returns the
    /// leases undone; with `dryRun`, those that ran out (at most 10,000), changing nothing.
    @discardableResult
    public func reclaimAbandonedUploads(dryRun: Bool = false) async throws -> [UploadLease] {
        if dryRun { return try await store.expiredLeases(now: clock.now(), limit: 10_000) }
        var undone: [UploadLease] = []
        while true {
            let expired = try await store.expiredLeases(now: clock.now(), limit: 100)
            var progressed = false
            for lease in expired {
                guard var image = try await store.image(id: lease.imageId) else { continue }
                var dropped: [ImageLocation] = []
                var abandonedTask: String?
                if [.saving, .uploading].contains(image.status), image.locations.isEmpty {
                    try image.transition(to: .queued)
                    image.updatedAt = clock.now()
                } else if let lock = image.properties[ImportProperty.lock] {
                    abandonedTask = lock.stringValue
                    dropped = ImportRun.abandon(&image)
                    // A location import wrote nothing: the data it named stays where it was.
                    if !lease.writesData { dropped = [] }
                    image.updatedAt = clock.now()
                }
                guard try await store.endUpload(image, lease: lease) != nil else { continue }
                progressed = true
                undone.append(lease)
                if let abandonedTask { await endAbandonedImportTask(abandonedTask) }
                await removeData(dropped, of: lease.imageId, retry: "the orphan sweep will")
                do {
                    try await blobs[lease.storeId]?.delete(location: lease.pendingLocation)
                } catch {
                    logger.warning(
                        "could not remove the data of an abandoned upload; the orphan sweep will",
                        metadata: ["image_id": "\(lease.imageId)", "error": "\(error)"])
                }
                logger.notice(
                    "undid an upload whose process stopped",
                    metadata: ["image_id": "\(lease.imageId)", "owner": "\(lease.owner)"])
            }
            if expired.count < 100 || !progressed { return undone }
        }
    }

    /// Removes stored data that nothing refers to: pending data of uploads without a live
    /// lease, and committed data no image records (a crash between a store's commit and the
    /// metadata write leaves such data). Only data older than `orphanGraceSeconds` counts, so
    /// an upload that is just committing is never touched. Returns the objects removed; with
    /// `dryRun`, those it would remove, changing nothing.
    @discardableResult
    public func sweepOrphans(dryRun: Bool = false) async throws -> [OrphanedObject] {
        let cutoff = clock.now().adding(seconds: -config.orphanGraceSeconds)
        var removed: [OrphanedObject] = []
        for blobStore in blobs.all {
            var marker: String?
            while true {
                let page = try await blobStore.inventory(after: marker, limit: 500)
                marker = page.last?.location
                let old = page.filter { $0.modifiedAt < cutoff }
                let kept = try await store.referencedLocations(storeId: blobStore.id, old.map(\.location))
                for blob in old where !kept.contains(blob.location) {
                    let orphan = OrphanedObject(storeId: blobStore.id, blob: blob)
                    if dryRun {
                        removed.append(orphan)
                        continue
                    }
                    do {
                        try await blobStore.delete(location: blob.location)
                        removed.append(orphan)
                        logger.notice(
                            "removed data no image refers to",
                            metadata: ["store": "\(blobStore.id)", "location": "\(blob.location)"])
                    } catch {
                        logger.warning(
                            "could not remove orphaned data",
                            metadata: ["store": "\(blobStore.id)", "location": "\(blob.location)", "error": "\(error)"])
                    }
                }
                if page.count < 500 { break }
            }
        }
        return removed
    }
}

/// Stored data no image or upload refers to, as the orphan sweep found it.
public struct OrphanedObject: Sendable, Equatable {
    public var storeId: String
    public var blob: StoredBlob
}
