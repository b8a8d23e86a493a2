#if RBD
import CRBD
import GlimpseCore
import OpenStackEncoding

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An open RBD image, handed between tasks (librbd's image handles are thread-safe).
struct RBDImage: @unchecked Sendable {
    let handle: rbd_image_t
}

/// The images of a pool, through blocking librbd calls: used only on the store's thread pool.
struct RBDPool {
    let io: rados_ioctx_t
    let name: String
    static let snapshot = RBDBlobStore.snapshot
    /// The image metadata key (`rbd image-meta`) Glimpse sets on every image it creates.
    /// Glance names its images by image id too: an image without the key is another
    /// client's, which the inventory never lists (so the orphan sweep never removes it) and a
    /// new upload never replaces.
    static let ownerKey = "glimpse_store"

    func spec(_ image: String) -> String { "\(name)/\(image)" }

    /// Creates an empty image and opens it; nil if an image of that name exists.
    func create(_ image: String, order: Int, features: UInt64) throws -> RBDImage? {
        var options: rbd_image_options_t?
        rbd_image_options_create(&options)
        defer { rbd_image_options_destroy(options) }
        try check(
            rbd_image_options_set_uint64(options, Int32(RBD_IMAGE_OPTION_FEATURES), features),
            "rbd_image_options_set_uint64")
        try check(
            rbd_image_options_set_uint64(options, Int32(RBD_IMAGE_OPTION_ORDER), UInt64(order)),
            "rbd_image_options_set_uint64")
        let r = rbd_create4(io, image, 0, options)
        if r == -EEXIST { return nil }
        try check(r, "creating RBD image \(spec(image))")
        let opened: RBDImage
        do {
            opened = try open(image)
        } catch {
            rbd_remove(io, image)
            throw error
        }
        do {
            try check(rbd_metadata_set(opened.handle, Self.ownerKey, "1"), "marking RBD image \(spec(image))")
        } catch {
            rbd_close(opened.handle)
            rbd_remove(io, image)
            throw error
        }
        return opened
    }

    /// Whether Glimpse created an open image (it has `ownerKey`).
    func isOwn(_ image: RBDImage, _ name: String) throws(RBDError) -> Bool {
        var value = [CChar](repeating: 0, count: 8)
        var length = value.count
        let r = rbd_metadata_get(image.handle, Self.ownerKey, &value, &length)
        if r == -ENOENT { return false }
        // A longer value than this buffer is still the key (-ERANGE).
        if r == -ERANGE { return true }
        try check(r, "reading the metadata of \(spec(name))")
        return true
    }

    /// Opens an image for writing.
    func open(_ image: String) throws(RBDError) -> RBDImage {
        var handle: rbd_image_t?
        try check(rbd_open(io, image, &handle, nil), "opening RBD image \(spec(image))")
        return RBDImage(handle: handle!)
    }

    /// Opens an image's snapshot for reading; returns its size too.
    func openSnapshot(_ image: String) throws(RBDError) -> (RBDImage, Int) {
        var handle: rbd_image_t?
        try check(
            rbd_open_read_only(io, image, &handle, Self.snapshot),
            "opening RBD snapshot \(spec(image))@\(Self.snapshot)")
        var size: UInt64 = 0
        let r = rbd_get_size(handle, &size)
        guard r >= 0 else {
            rbd_close(handle)
            throw .call("reading the size of \(spec(image))@\(Self.snapshot)", r)
        }
        return (RBDImage(handle: handle!), Int(size))
    }

    /// Whether an open image has the protected snapshot, i.e. its data was committed.
    func isCommitted(_ image: RBDImage, _ name: String) throws(RBDError) -> Bool {
        var protected: Int32 = 0
        let r = rbd_snap_is_protected(image.handle, Self.snapshot, &protected)
        if r == -ENOENT { return false }
        try check(r, "reading the snapshot of \(spec(name))")
        return protected != 0
    }

    /// Removes what a crashed upload left behind, to write the image again; refuses to if
    /// the image was committed, or was not created by Glimpse.
    func removeLeftover(_ image: String) throws {
        let handle = try open(image)
        let committed: Bool
        let own: Bool
        do {
            committed = try isCommitted(handle, image)
            own = try isOwn(handle, image)
        } catch {
            rbd_close(handle.handle)
            throw error
        }
        rbd_close(handle.handle)
        if committed {
            throw ServiceError.conflict("The data of image \(image) is already stored in RBD pool \(name).")
        }
        if !own {
            throw ServiceError.conflict(
                "RBD image \(image) in pool \(name) was not created by Glimpse (by Glance?): it is left alone.")
        }
        do {
            try remove(image)
        } catch let error as ServiceError where error.kind == .conflict {
            throw ServiceError.conflict(
                "The pending data of image \(image) in RBD pool \(name) is still in use (by another upload?).")
        }
    }

    /// Unprotects and removes the snapshot, then removes the image. A missing image is not
    /// an error. While the snapshot has clones, or the image is open elsewhere, refuses with
    /// Glance's `InUseByStore` (409) and leaves the image as it was.
    func remove(_ image: String) throws {
        var opened: rbd_image_t?
        let r = rbd_open(io, image, &opened, nil)
        if r == -ENOENT { return }
        try check(r, "opening RBD image \(spec(image))")
        let handle = RBDImage(handle: opened!)
        do {
            try removeSnapshot(handle, image)
            rbd_close(handle.handle)
        } catch {
            rbd_close(handle.handle)
            throw error
        }
        switch rbd_remove(io, image) {
        case -ENOENT: return
        case -EBUSY: throw inUse(image, because: "it is open elsewhere")
        case -ENOTEMPTY: throw inUse(image, because: "it has snapshots other than '\(Self.snapshot)'")
        case let r: try check(r, "removing RBD image \(spec(image))")
        }
    }

    /// Throws Glance's `InUseByStore` (409) if the snapshot of `image` has clones.
    func checkNoClones(_ image: String) throws {
        var opened: rbd_image_t?
        let r = rbd_open_read_only(io, image, &opened, nil)
        if r == -ENOENT { return }
        try check(r, "opening RBD image \(spec(image))")
        let handle = RBDImage(handle: opened!)
        defer { rbd_close(handle.handle) }
        var protected: Int32 = 0
        let p = rbd_snap_is_protected(handle.handle, Self.snapshot, &protected)
        if p == -ENOENT { return }
        try check(p, "reading the snapshot of \(spec(image))")
        let clones = try children(handle)
        if !clones.isEmpty {
            throw inUse(image, because: "its snapshot has clones: " + clones.joined(separator: ", "))
        }
    }

    private func removeSnapshot(_ image: RBDImage, _ name: String) throws {
        var protected: Int32 = 0
        let r = rbd_snap_is_protected(image.handle, Self.snapshot, &protected)
        if r == -ENOENT { return }
        try check(r, "reading the snapshot of \(spec(name))")
        // Clones in format 2 do not keep the snapshot from being unprotected, and removing it
        // would only move it to the trash: look for clones of either format first.
        let clones = try children(image)
        if !clones.isEmpty {
            throw inUse(name, because: "its snapshot has clones: " + clones.joined(separator: ", "))
        }
        if protected != 0 {
            let u = rbd_snap_unprotect(image.handle, Self.snapshot)
            if u == -EBUSY { throw inUse(name, because: "its snapshot has clones") }
            try check(u, "unprotecting RBD snapshot \(spec(name))@\(Self.snapshot)")
        }
        let s = rbd_snap_remove(image.handle, Self.snapshot)
        if s != -ENOENT { try check(s, "removing RBD snapshot \(spec(name))@\(Self.snapshot)") }
    }

    /// The clones of an image's snapshot, as `pool/image`.
    private func children(_ image: RBDImage) throws(RBDError) -> [String] {
        try check(rbd_snap_set(image.handle, Self.snapshot), "rbd_snap_set")
        defer { rbd_snap_set(image.handle, nil) }
        var capacity = 8
        while true {
            var specs = [rbd_linked_image_spec_t](repeating: rbd_linked_image_spec_t(), count: capacity)
            var count = capacity
            let r = rbd_list_children3(image.handle, &specs, &count)
            if r == -ERANGE {
                capacity = max(count, capacity * 2)
                continue
            }
            try check(r, "rbd_list_children3")
            defer { rbd_linked_image_spec_list_cleanup(&specs, count) }
            return specs[..<count].map {
                String(cString: $0.pool_name) + "/" + String(cString: $0.image_name)
                    + ($0.trash ? " (in the trash)" : "")
            }
        }
    }

    /// Glance's refusal to delete data that is in use outside of it.
    private func inUse(_ image: String, because reason: String) -> ServiceError {
        ServiceError(
            .conflict,
            explanation: "Image \(image) could not be deleted because it is in use: The image cannot be deleted "
                + "because it is in use through the backend store outside of Glance.",
            detail: "RBD image \(spec(image)): \(reason).")
    }

    /// The names of the pool's images, in byte order.
    func list() throws(RBDError) -> [String] {
        var capacity = 256
        while true {
            var specs = [rbd_image_spec_t](repeating: rbd_image_spec_t(), count: capacity)
            var count = capacity
            let r = rbd_list2(io, &specs, &count)
            if r == -ERANGE {
                capacity = max(count, capacity * 2)
                continue
            }
            try check(r, "listing the RBD images of pool \(name)")
            defer { rbd_image_spec_list_cleanup(&specs, count) }
            return specs[..<count].map { String(cString: $0.name) }.sorted {
                $0.utf8.lexicographicallyPrecedes($1.utf8)
            }
        }
    }

    /// An image as the inventory lists it; nil if it is gone, or not Glimpse's.
    func describe(_ image: String) throws(RBDError) -> StoredBlob? {
        var opened: rbd_image_t?
        let r = rbd_open_read_only(io, image, &opened, nil)
        if r == -ENOENT { return nil }
        try check(r, "opening RBD image \(spec(image))")
        let handle = RBDImage(handle: opened!)
        defer { rbd_close(handle.handle) }
        guard try isOwn(handle, image) else { return nil }
        var modified = timespec()
        try check(rbd_get_modify_timestamp(handle.handle, &modified), "reading the times of \(spec(image))")
        if modified.tv_sec == 0 {
            try check(rbd_get_create_timestamp(handle.handle, &modified), "reading the times of \(spec(image))")
        }
        return StoredBlob(
            location: image, pending: !(try isCommitted(handle, image)),
            modifiedAt: Timestamp(microseconds: Int64(modified.tv_sec) * 1_000_000 + Int64(modified.tv_nsec) / 1000))
    }
}
#endif
