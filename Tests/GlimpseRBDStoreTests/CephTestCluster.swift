#if RBD
import CRBD
import GlimpseRBDStore
import NIOPosix
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The Ceph the tests use: `GLIMPSE_TEST_RBD_URL` (`scripts/engines/ceph.sh up` prints it).
enum CephTestCluster {
    static let url: String? = getenv("GLIMPSE_TEST_RBD_URL").map { String(cString: $0) }
    static let skipped = "GLIMPSE_TEST_RBD_URL is not set (scripts/engines/ceph.sh up starts a Ceph and prints it)"

    static func settings() throws -> RBDSettings { try RBDSettings(url: url!) }

    /// Runs `body` with a store on the test pool, closed afterwards.
    static func withStore<T: Sendable>(_ body: (RBDBlobStore) async throws -> T) async throws -> T {
        let store = try RBDBlobStore(settings: try settings(), id: "ceph")
        do {
            let result = try await body(store)
            await store.close()
            return result
        } catch {
            await store.close()
            throw error
        }
    }
}

/// What other Ceph clients do to the store's images (Nova and Cinder cloning them, an
/// upload that died), through librbd directly, blocking: a connection of its own.
final class CephClient {
    let rados: rados_t
    let io: rados_ioctx_t

    init() throws {
        let settings = try CephTestCluster.settings()
        var rados: rados_t?
        try Self.check(rados_create(&rados, settings.user), "rados_create")
        try Self.check(rados_conf_read_file(rados, settings.confPath), "rados_conf_read_file")
        try Self.check(rados_connect(rados), "rados_connect")
        var io: rados_ioctx_t?
        try Self.check(rados_ioctx_create(rados, settings.pool, &io), "rados_ioctx_create")
        self.rados = rados!
        self.io = io!
    }

    deinit {
        rados_ioctx_destroy(io)
        rados_shutdown(rados)
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static func check(_ r: Int32, _ what: String) throws {
        guard r >= 0 else { throw Failure(description: "\(what): \(String(cString: strerror(-r)))") }
    }

    /// A copy-on-write clone of `parent@snap`, as Nova or Cinder makes one: in the clone
    /// format 1 (the parent's snapshot must be protected) or 2 (it need not be).
    func clone(_ parent: String, to child: String, format: UInt64) throws {
        var options: rbd_image_options_t?
        rbd_image_options_create(&options)
        defer { rbd_image_options_destroy(options) }
        try Self.check(rbd_image_options_set_uint64(options, Int32(RBD_IMAGE_OPTION_CLONE_FORMAT), format), "options")
        try Self.check(rbd_clone3(io, parent, "snap", io, child, options), "rbd_clone3 \(parent)@snap \(child)")
    }

    /// Removes an image, its snapshot `snap` first if it has one.
    func remove(_ image: String) throws {
        var handle: rbd_image_t?
        if rbd_open(io, image, &handle, nil) >= 0 {
            rbd_snap_unprotect(handle, "snap")
            rbd_snap_remove(handle, "snap")
            rbd_close(handle)
        }
        try Self.check(rbd_remove(io, image), "rbd_remove \(image)")
    }

    /// An image as a crashed upload leaves it: `bytes` written, and maybe the snapshot taken
    /// but not yet protected. With `own` false, as another client makes it (Glance names
    /// its images by image id too, and protects their snapshot `snap`).
    func createLeftover(
        _ image: String, bytes: [UInt8], snapshot: Bool, protected: Bool = false, own: Bool = true
    ) throws {
        var order: Int32 = 22
        try Self.check(rbd_create2(io, image, UInt64(bytes.count), 1, &order), "rbd_create2 \(image)")
        var handle: rbd_image_t?
        try Self.check(rbd_open(io, image, &handle, nil), "rbd_open \(image)")
        defer { rbd_close(handle) }
        if own { try Self.check(rbd_metadata_set(handle, "glimpse_store", "1"), "rbd_metadata_set \(image)") }
        let written = bytes.withUnsafeBytes { rbd_write(handle, 0, $0.count, $0.baseAddress) }
        try Self.check(Int32(clamping: written), "rbd_write \(image)")
        if snapshot { try Self.check(rbd_snap_create(handle, "snap"), "rbd_snap_create \(image)") }
        if protected { try Self.check(rbd_snap_protect(handle, "snap"), "rbd_snap_protect \(image)") }
    }

    /// The features of an image.
    func features(_ image: String) throws -> UInt64 {
        var handle: rbd_image_t?
        try Self.check(rbd_open_read_only(io, image, &handle, nil), "rbd_open_read_only \(image)")
        defer { rbd_close(handle) }
        var features: UInt64 = 0
        try Self.check(rbd_get_features(handle, &features), "rbd_get_features \(image)")
        return features
    }

    /// Whether the pool has an image of that name.
    func exists(_ image: String) -> Bool {
        var handle: rbd_image_t?
        guard rbd_open_read_only(io, image, &handle, nil) >= 0 else { return false }
        rbd_close(handle)
        return true
    }
}
#endif
