import Logging
import OpenStackEncoding

/// `glimpse admin fsck`: the background sweeps run on demand, plus a check of every image's
/// data against its record.
extension ImageService {
    /// What a consistency check found (and, unless it was a dry run, undid or removed).
    public struct ConsistencyReport: Sendable {
        /// Uploads whose lease ran out (undone: back to `queued`, pending data removed).
        public var abandonedUploads: [UploadLease]
        /// Data no image or live upload refers to, older than the grace period (removed).
        public var orphans: [OrphanedObject]
        /// Images whose data is missing or of another size than recorded (only reported).
        public var damaged: [DamagedImage]
        /// Images with data whose copies were looked at.
        public var imagesChecked: Int
    }

    /// A copy of an image's data that its store does not hold as the image records it.
    public struct DamagedImage: Sendable, Equatable {
        public enum Problem: Sendable, Equatable {
            case missing
            case sizeDiffers(stored: Int)
        }
        public var imageId: String
        public var location: ImageLocation
        public var recordedSize: Int?
        public var problem: Problem

        public init(imageId: String, location: ImageLocation, recordedSize: Int?, problem: Problem) {
            self.imageId = imageId
            self.location = location
            self.recordedSize = recordedSize
            self.problem = problem
        }
    }

    /// Undoes abandoned uploads, removes orphaned data (as the background jobs do) and checks
    /// the data of every image that has some; with `dryRun` it only reports. Images are never
    /// changed for damaged data: that takes a person.
    public func checkConsistency(dryRun: Bool) async throws -> ConsistencyReport {
        let abandoned = try await reclaimAbandonedUploads(dryRun: dryRun)
        let orphans = try await sweepOrphans(dryRun: dryRun)
        let (checked, damaged) = try await findDamagedImages()
        return ConsistencyReport(
            abandonedUploads: abandoned, orphans: orphans, damaged: damaged, imagesChecked: checked)
    }

    /// Compares every `active` or `deactivated` image's copies with the stores' inventories:
    /// a copy the store lacks, or holds with another size than the image's, is damaged.
    /// Images changed after the inventories were read are skipped (their data may be newer).
    /// Holds one entry per stored object in memory while it runs.
    public func findDamagedImages() async throws -> (checked: Int, damaged: [DamagedImage]) {
        let started = clock.now()
        var stored: [String: [String: Int?]] = [:]
        for blobStore in blobs.all {
            var objects: [String: Int?] = [:]
            var marker: String?
            while true {
                let page = try await blobStore.inventory(after: marker, limit: 500)
                for blob in page where !blob.pending { objects[blob.location] = .some(blob.size) }
                marker = page.last?.location
                if page.count < 500 { break }
            }
            stored[blobStore.id] = objects
        }
        var checked = 0
        var damaged: [DamagedImage] = []
        for hidden in [false, true] {
            let scope = ListScope(projectId: nil, isAdmin: true, visibility: .all, memberStatus: .all, hidden: hidden)
            var marker: Image?
            while true {
                let page = try await store.listImages(
                    ImageListQuery(
                        scope: scope, conditions: [.oneOf(.status, ["active", "deactivated"])],
                        sort: ImageListQuery.completeSort([], defaultAscending: true), limit: 500, marker: marker))
                for image in page where image.hasData && image.updatedAt < started {
                    checked += 1
                    for location in image.locations {
                        // A store this process does not have cannot be checked from here.
                        guard let objects = stored[location.storeId] else { continue }
                        let problem: DamagedImage.Problem? =
                            switch objects[location.location] {
                            case nil: .missing
                            case let size?? where image.size.map({ $0 != size }) ?? false: .sizeDiffers(stored: size)
                            default: nil
                            }
                        if let problem {
                            damaged.append(
                                DamagedImage(
                                    imageId: image.id, location: location, recordedSize: image.size, problem: problem))
                        }
                    }
                }
                marker = page.last
                if page.count < 500 { break }
            }
        }
        if !damaged.isEmpty {
            logger.error("images whose data is damaged", metadata: ["images": "\(damaged.map(\.imageId))"])
        }
        return (checked, damaged)
    }
}
