#if RBD
import CRBD
import GlimpseCore
import Logging
import NIOCore
import NIOPosix
import OpenStackEncoding
import OpenStackJSON

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Image data as RBD images in a Ceph pool, as Glance's rbd store keeps it, so that Nova and
/// Cinder on the same cluster can clone images copy-on-write instead of copying them.
///
/// Each image is an RBD image named by the image id, with the features of the client's
/// `rbd_default_features` (layering at least) and objects of `chunkSize`, written in order
/// and grown as data arrives (the size is not known in advance), then cut to its exact size
/// (the RBD cache is off: data passes once). Committing takes the snapshot `snap` and
/// protects it: that snapshot is what clones start from, and what reads and direct URLs
/// (`rbd://<fsid>/<pool>/<image>/snap`) name. An RBD image without the protected snapshot is
/// pending. The location of an image's data is the RBD image name.
///
/// Only images named like Glance image ids (UUIDs) and marked as Glimpse's when created (the
/// image metadata `glimpse_store`) are the store's: the inventory lists no others, so the
/// orphan sweep never touches Cinder's `volume-…`, Nova's `…_disk` or Glance's own images
/// in a shared pool. The connection is opened once; every blocking librados and librbd call
/// runs on the thread pool.
public final class RBDBlobStore: BlobStore {
    public let id: String
    public let type = "rbd"
    public let settings: RBDSettings
    /// The cluster's fsid.
    public var fsid: String { cluster.fsid }
    let cluster: Cluster
    let threads: NIOThreadPool
    let logger: Logger
    /// The snapshot a committed image has, protected.
    static let snapshot = "snap"
    /// The object health checks write (not an RBD image).
    static let healthObject = "glimpse.health_check"

    /// Connects to the cluster as `settings.user` and opens the pool, blocking the caller
    /// meanwhile (at most Ceph's `client_mount_timeout`, 30 s unless the configuration file
    /// says otherwise): a server opens its stores before it serves. Later blocking calls run
    /// on `threads`.
    public init(
        settings: RBDSettings, id: String = "rbd", threads: NIOThreadPool = .singleton,
        logger: Logger = Logger(label: "glimpse.rbd")
    ) throws {
        guard (12...25).contains(settings.order), settings.chunkSize == 1 << settings.order else {
            throw RBDError.configuration(
                "the RBD chunk size must be a power of two from 4 KiB to 32 MiB, not \(settings.chunkSize) bytes")
        }
        self.id = id
        self.settings = settings
        self.threads = threads
        self.logger = logger
        cluster = try Cluster.connect(settings)
    }

    /// Disconnects from the cluster, once every read and write of the store has ended.
    public func close() async {
        guard let handles = cluster.take() else { return }
        try? await threads.runIfActive {
            rados_ioctx_destroy(handles.io)
            rados_shutdown(handles.rados)
        }
    }

    /// The URL Glance shows as an image's `direct_url`, which Nova and Cinder clone from.
    public func directURL(location: String) -> String? {
        "rbd://" + [fsid, settings.pool, location, Self.snapshot].map(URLCoding.quotePath).joined(separator: "/")
    }

    /// Glance's image `imageId` in this pool, as its location names it
    /// (`rbd://<fsid>/<pool>/<image id>/snap`; Nova's direct snapshots are named the same
    /// way): adopted once its snapshot is protected, i.e. the data is complete. Another
    /// cluster's or pool's URL is not the store's (nil).
    public func adopt(url: String, imageId: String) async throws -> AdoptedData? {
        guard url.hasPrefix("rbd://") else { return nil }
        let parts = url.dropFirst("rbd://".count).split(separator: "/", omittingEmptySubsequences: false)
            .map { URLCoding.decode($0) }
        guard parts.count == 4, parts[0] == fsid, parts[1] == settings.pool else { return nil }
        guard parts[2] == imageId, parts[3] == Self.snapshot else {
            throw ServiceError.badRequest(
                "Invalid location: \(url) is not image \(imageId)'s data (rbd://\(fsid)/\(settings.pool)/\(imageId)/\(Self.snapshot))"
            )
        }
        let name = try Self.imageName(imageId)
        let size: Int? = try await run { pool in
            let (snapshot, size): (RBDImage, Int)
            do {
                (snapshot, size) = try pool.openSnapshot(name)
            } catch RBDError.call(_, let code) where code == -ENOENT {
                return nil
            }
            defer { rbd_close(snapshot.handle) }
            return try pool.isCommitted(snapshot, name) ? size : nil
        }
        guard let size else {
            throw ServiceError.badRequest(
                "Invalid location: \(url): no RBD image \(settings.pool)/\(name) with the protected snapshot \(Self.snapshot)"
            )
        }
        return AdoptedData(location: name, size: size)
    }

    /// Runs blocking calls on the thread pool, on the store's pool.
    func run<T: Sendable>(_ body: @escaping @Sendable (RBDPool) throws -> T) async throws -> T {
        let (cluster, name) = (self.cluster, settings.pool)
        return try await threads.runIfActive { try body(RBDPool(io: try cluster.handles().io, name: name)) }
    }

    /// The RBD image name a location or image id stands for.
    static func imageName(_ location: String) throws(RBDError) -> String {
        guard isUUID(location) else { throw .badLocation(location) }
        return location
    }

    /// Creates the image. One left by an upload that died (pending) is removed first; one
    /// with committed data is refused (409).
    public func makeWriter(imageId: String) async throws -> any BlobWriter {
        let name = try Self.imageName(imageId)
        let (order, features, logger) = (settings.order, cluster.imageFeatures, self.logger)
        let image = try await run { pool in
            if let image = try pool.create(name, order: order, features: features) { return image }
            try pool.removeLeftover(name)
            logger.notice("removed the pending data of an earlier upload", metadata: ["image": "\(pool.spec(name))"])
            guard let image = try pool.create(name, order: order, features: features) else {
                throw ServiceError.conflict("Another upload of image \(name) has started.")
            }
            return image
        }
        return RBDBlobWriter(image: image, name: name, store: self)
    }

    public func read(location: String, range: ClosedRange<Int>?) async throws -> ByteStream {
        let name = try Self.imageName(location)
        let (image, size) = try await run { pool in try pool.openSnapshot(name) }
        let reader = RBDReader(
            image: image, name: name, offset: range?.lowerBound ?? 0,
            end: min(size, range.map { $0.upperBound + 1 } ?? size), threads: threads)
        return ByteStream(pull: { try await reader.next() }, onCancel: { reader.close() })
    }

    /// Unprotects and removes the snapshot, then the image. Refuses (409, as Glance's
    /// `InUseByStore`) while the snapshot has clones or the image is open elsewhere, leaving
    /// the image as it was.
    public func delete(location: String) async throws {
        let name = try Self.imageName(location)
        try await run { pool in try pool.remove(name) }
    }

    /// Refuses (409) while the image's snapshot has clones, so that the image is not marked
    /// deleted only for its data to stay.
    public func checkDeletable(location: String) async throws {
        let name = try Self.imageName(location)
        try await run { pool in try pool.checkNoClones(name) }
    }

    /// The pool's `max_avail` in `ceph df`: what can still be written, after replication.
    public func freeSpace() async -> Int? {
        let (cluster, name) = (self.cluster, settings.pool)
        return try? await threads.runIfActive { () throws -> Int? in
            let df = try Cluster.monCommand(try cluster.handles().rados, #"{"prefix": "df", "format": "json"}"#)
            let stats = df["pools"]?.arrayValue?.first { $0["name"]?.stringValue == name }?["stats"]
            return stats?["max_avail"]?.intValue
        }
    }

    /// Writes a small object to the pool: the cluster is reachable and the pool takes data.
    /// Nothing waits on a thread meanwhile, so a cluster that does not answer cannot use up
    /// the thread pool, one health check after another.
    public func checkHealth() async throws {
        let cluster = self.cluster
        let result = await RadosCompletion.wait(on: threads) { completion in
            guard let io = try? cluster.handles().io else { return -ESHUTDOWN }
            return rados_aio_write_full(io, Self.healthObject, completion, "ok", 2)
        }
        guard result >= 0 else {
            throw ServiceError(
                .serviceUnavailable,
                explanation: "RBD pool \(settings.pool) cannot be written to: \(RBDError.call("write", result))")
        }
    }

    /// The pool's images named like image ids and marked as Glimpse's, in byte order after
    /// `marker`; those without the protected snapshot are pending.
    public func inventory(after marker: String?, limit: Int) async throws -> [StoredBlob] {
        let logger = self.logger
        return try await run { pool in
            var out: [StoredBlob] = []
            for name in try pool.list() where isUUID(name) && marker.map({ Self.before($0, name) }) ?? true {
                if out.count == limit { break }
                do {
                    if let blob = try pool.describe(name) { out.append(blob) }
                } catch {
                    // Left out (and so left alone by the orphan sweep) rather than stopping the sweep.
                    logger.warning(
                        "could not read an RBD image for the inventory",
                        metadata: ["image": "\(pool.spec(name))", "error": "\(error)"])
                }
            }
            return out
        }
    }

    static func before(_ a: String, _ b: String) -> Bool { a.utf8.lexicographicallyPrecedes(b.utf8) }
}
#endif
