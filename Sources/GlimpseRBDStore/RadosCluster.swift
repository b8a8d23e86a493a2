#if RBD
import CRBD
import OpenStackJSON
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The librados handles of a store, from its connection to `close()`.
final class Cluster: Sendable {
    struct Handles: @unchecked Sendable {
        let rados: rados_t
        let io: rados_ioctx_t
    }

    let fsid: String
    /// The features of new images.
    let imageFeatures: UInt64
    private let state: Mutex<Handles?>

    private init(_ handles: Handles, fsid: String, imageFeatures: UInt64) {
        state = Mutex(handles)
        self.fsid = fsid
        self.imageFeatures = imageFeatures
    }

    func handles() throws(RBDError) -> Handles {
        guard let h = state.withLock({ $0 }) else { throw .storeClosed }
        return h
    }

    /// The handles, for closing: nil once taken.
    func take() -> Handles? {
        state.withLock { s in
            let taken = s
            s = nil
            return taken
        }
    }

    /// Blocking: reads the configuration, connects and opens the pool.
    static func connect(_ settings: RBDSettings) throws -> Cluster {
        var created: rados_t?
        try check(rados_create(&created, settings.user), "rados_create (user \(settings.user))")
        guard let rados = created else { throw RBDError.call("rados_create", -ENOMEM) }
        do {
            let conf = settings.confPath ?? "the default places"
            // A cluster that does not answer fails the start in 30 s rather than Ceph's 300,
            // unless the configuration file sets its own.
            try check(rados_conf_set(rados, "client_mount_timeout", "30"), "setting client_mount_timeout")
            try check(rados_conf_read_file(rados, settings.confPath), "reading the Ceph configuration from \(conf)")
            // Each image is written once, in order, and read as a stream: a cache would only
            // copy the data once more, and hold up to `rbd_cache_size` (32 MiB) per open image.
            try check(rados_conf_set(rados, "rbd_cache", "false"), "turning the RBD cache off")
            try check(rados_connect(rados), "connecting to the Ceph cluster as client.\(settings.user)")
            var opened: rados_ioctx_t?
            try check(rados_ioctx_create(rados, settings.pool, &opened), "opening the Ceph pool \(settings.pool)")
            guard let io = opened else { throw RBDError.call("rados_ioctx_create", -ENOMEM) }
            let fsid: String
            do {
                fsid = try text("the cluster's fsid") { rados_cluster_fsid(rados, $0, $1) }
            } catch {
                rados_ioctx_destroy(io)
                throw error
            }
            return Cluster(Handles(rados: rados, io: io), fsid: fsid, imageFeatures: imageFeatures(rados))
        } catch {
            rados_shutdown(rados)
            throw error
        }
    }

    /// What Glance creates images with: the client's `rbd_default_features` (Ceph's default:
    /// layering, exclusive-lock, object-map, fast-diff, deep-flatten), or layering alone if
    /// that is 0, so that images can always be cloned.
    static func imageFeatures(_ rados: rados_t) -> UInt64 {
        let layering = UInt64(RBD_FEATURE_LAYERING)
        guard
            let configured = try? text(
                "rbd_default_features", { rados_conf_get(rados, "rbd_default_features", $0, $1) })
        else { return layering }
        var features = UInt64(configured) ?? 0
        if UInt64(configured) == nil, rbd_features_from_string(configured, &features) < 0 { return layering }
        return features == 0 ? layering : features
    }

    /// A string a librados call writes into a buffer.
    static func text(
        _ what: String, _ get: (UnsafeMutablePointer<CChar>, Int) -> Int32
    ) throws(RBDError) -> String {
        var buffer = [CChar](repeating: 0, count: 512)
        let r = buffer.withUnsafeMutableBufferPointer { get($0.baseAddress!, $0.count) }
        try check(r, "reading \(what)")
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Runs a monitor command (JSON in, JSON out), blocking.
    static func monCommand(_ rados: rados_t, _ command: String) throws -> JSONValue {
        var out: UnsafeMutablePointer<CChar>?
        var outLength = 0
        var status: UnsafeMutablePointer<CChar>?
        var statusLength = 0
        let r = command.withCString { c in
            var commands: [UnsafePointer<CChar>?] = [c]
            return rados_mon_command(rados, &commands, 1, nil, 0, &out, &outLength, &status, &statusLength)
        }
        defer {
            rados_buffer_free(out)
            rados_buffer_free(status)
        }
        try check(r, "ceph \(command)")
        return try JSONValue.parse(UnsafeRawBufferPointer(start: out, count: outLength))
    }
}
#endif
