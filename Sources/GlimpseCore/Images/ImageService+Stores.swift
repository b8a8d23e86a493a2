import Logging

/// The copies of an image's data in the stores.
extension ImageService {
    /// `DELETE /v2/stores/{store_id}/{image_id}`: removes one copy of an active image's data,
    /// record first, then the data. Glance's checks, in its order: the store must be
    /// configured (409), the image visible (404), the caller an admin (`delete_image_location`,
    /// 403), the image active (409); the last copy cannot go (403) and the image must have one
    /// in that store (404).
    public func deleteFromStore(_ storeId: String, _ id: String, by p: Principal) async throws {
        guard blobs[storeId] != nil else {
            throw ServiceError.conflict("The selected store \(storeId) is not available on this node.")
        }
        try ImagePolicy.requireReader(p, "get_image_location")
        let notFound = ServiceError.notFound("Failed to find image \(id)")
        let current = try await visibleImage(id, p, orElse: notFound)
        try policy.enforce(.getImageLocation, p, .image(current))
        try policy.enforce(.deleteImageLocation, p, .image(current))
        // A store that will not let the data go (clones of an RBD image) keeps the copy.
        if let copy = current.location(in: storeId) {
            try await blobs.store(for: copy).checkDeletable(location: copy.location)
        }
        var removed: ImageLocation?
        _ = try await mutate(id, by: p, notFound: notFound) { image throws(ServiceError) in
            guard image.status == .active else {
                throw .conflict("It's not allowed to remove image data from store if image status is not 'active'")
            }
            guard image.locations.count > 1 else {
                throw .forbidden(
                    "Cannot delete image data from the only store containing it. Consider deleting the image instead.")
            }
            guard let copy = image.location(in: storeId) else {
                throw .notFound("Image \(id) is not stored in store \(storeId).")
            }
            image.locations.removeAll { $0 == copy }
            removed = copy
            return true
        }
        if let removed { await removeData([removed], of: id, retry: "the orphan sweep will") }
        logger.info("image data removed from a store", metadata: ["image_id": "\(id)", "store": "\(storeId)"])
    }
}
