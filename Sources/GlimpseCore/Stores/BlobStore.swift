import NIOCore
import OpenStackEncoding

/// Keeps image data. Writes go to a pending object that becomes visible only on `commit`;
/// a failed or abandoned write leaves nothing behind once it is aborted, or once the
/// orphan sweep finds it.
public protocol BlobStore: Sendable {
    /// The store's id, as `/v2/info/stores` lists it and images record it (`storeId`).
    var id: String { get }
    /// What kind of backend this is (`file`, `memory`; later `swift`, `s3`, `rbd`).
    var type: String { get }

    /// Starts writing the data of an image.
    func makeWriter(imageId: String) async throws -> any BlobWriter

    /// Streams bytes `range` (or all) of a stored object, in chunks, pulled on demand.
    func read(location: String, range: ClosedRange<Int>?) async throws -> ByteStream

    /// The stored object as a local file, for sending without copying; nil (the default)
    /// when the store keeps its data elsewhere.
    func openFile(location: String) async throws -> (any StoredFile)?

    /// Deletes a stored object, committed or pending. Deleting a missing object is not an error.
    func delete(location: String) async throws

    /// Bytes free for new data, if the backend can tell.
    func freeSpace() async -> Int?

    /// Returns once the store has shown it can take new data; throws, saying why, if it
    /// cannot (health checks).
    func checkHealth() async throws

    /// The objects the store holds, committed or pending, in location order after `marker`,
    /// at most `limit`: the inventory a page at a time, for the orphan sweep. A page shorter
    /// than `limit` is the last.
    func inventory(after marker: String?, limit: Int) async throws -> [StoredBlob]

    /// Throws (409) if the data at `location` may not be deleted now: Ceph RBD refuses while
    /// clones of the image exist (Glance's `InUseByStore`). Checked before an image is deleted.
    func checkDeletable(location: String) async throws

    /// The URL other services read the data at directly (`direct_url`: Nova and Cinder clone
    /// from `rbd://fsid/pool/image/snap`), if the store has one.
    func directURL(location: String) -> String?

    /// The URL an image's `locations` show for a copy in this store (`file:///…` for a file
    /// store); the `direct_url` where there is one (the default).
    func locationURL(location: String) -> String?

    /// The committed data another service wrote for image `imageId` in this store's backend
    /// (Glance sharing the pool or container, Nova's direct snapshots), if `url` names it as
    /// that service's location does: its location here and size, read from the backend.
    /// Nil when `url` is not this store's (another scheme, cluster, pool or container);
    /// throws (400) when it is, but names other data than the image's own or data that is
    /// missing or incomplete. Only reads: the data stays as it is. The default: nil.
    func adopt(url: String, imageId: String) async throws -> AdoptedData?

    /// Releases the store's connections, once every read and write has ended.
    func close() async
}

/// Data a store adopted (`BlobStore.adopt`): where it is, and how long.
public struct AdoptedData: Sendable, Hashable {
    public var location: String
    public var size: Int

    public init(location: String, size: Int) {
        self.location = location
        self.size = size
    }
}

extension BlobStore {
    public func openFile(location: String) async throws -> (any StoredFile)? { nil }
    public func checkDeletable(location: String) async throws {}
    public func directURL(location: String) -> String? { nil }
    public func locationURL(location: String) -> String? { directURL(location: location) }
    public func adopt(url: String, imageId: String) async throws -> AdoptedData? { nil }
    public func close() async {}
}

/// One object of a blob store, as its inventory lists it.
public struct StoredBlob: Sendable, Hashable {
    public var location: String
    /// Written by an upload that has not committed (or never will).
    public var pending: Bool
    public var modifiedAt: Timestamp
    /// Bytes stored, where the listing tells.
    public var size: Int?

    public init(location: String, pending: Bool, modifiedAt: Timestamp, size: Int? = nil) {
        self.location = location
        self.pending = pending
        self.modifiedAt = modifiedAt
        self.size = size
    }
}

/// A blob store has no room for more data (a full disk or an exhausted quota, Glance's
/// `StorageFull`). The writer that throws it has kept none of the data.
public struct StorageFull: Error, CustomStringConvertible, Sendable {
    /// What failed, for the log (`write /data/.tmp/x: No space left on device`).
    public let reason: String

    public init(_ reason: String) { self.reason = reason }

    public var description: String { "storage full: \(reason)" }
}

/// An in-progress write of one object.
public protocol BlobWriter: Sendable {
    /// The store's name for the data while it is being written, recorded in the upload's
    /// lease so that the data can be removed if the upload is abandoned.
    var pendingLocation: String { get }
    /// Appends bytes. Chunks arrive in order; the writer may buffer.
    func write(_ chunk: ByteBuffer) async throws
    /// Makes the data durable and visible; returns the location to record.
    func commit() async throws -> String
    /// Discards everything written so far.
    func abort() async
}

/// The blob stores of a deployment, by id: every read and delete goes to the store a copy of
/// an image's data names; new data goes to the default store unless a store is asked for.
public struct BlobStores: Sendable {
    /// In the order `/v2/info/stores` lists them.
    public let all: [any BlobStore]
    public let `default`: any BlobStore
    /// Preference among the stores holding copies of an image (Glance's `weight`): higher
    /// first; a store without one weighs 0.
    public let weights: [String: Int]
    /// The read-only store of locations given as `http`/`https` URLs (Glance's `http` store),
    /// if one is configured: it holds no data of its own, is not listed and takes no uploads.
    public let http: HTTPLocationStore?

    /// - Parameter defaultId: the store new uploads go to; the first one if nil.
    public init(
        _ stores: [any BlobStore], defaultId: String? = nil, weights: [String: Int] = [:],
        http: HTTPLocationStore? = nil
    ) throws(ServiceError) {
        guard let first = stores.first else { throw .internalError("no image store is configured") }
        var seen = Set<String>()
        for s in stores where !seen.insert(s.id).inserted {
            throw .internalError("two image stores have the id '\(s.id)'")
        }
        if let http, seen.contains(http.id) {
            throw .internalError("the http store's id '\(http.id)' is an image store's too")
        }
        all = stores
        self.weights = weights
        self.http = http
        if let defaultId {
            guard let d = stores.first(where: { $0.id == defaultId }) else {
                throw .internalError("the default store '\(defaultId)' is not configured")
            }
            self.default = d
        } else {
            self.default = first
        }
    }

    public subscript(id: String) -> (any BlobStore)? { all.first { $0.id == id } }

    /// The weight of a store (0 unless configured).
    public func weight(of storeId: String) -> Int { weights[storeId] ?? 0 }

    /// The store holding a copy of an image's data.
    public func store(for location: ImageLocation) throws(ServiceError) -> any BlobStore {
        let readOnly: (any BlobStore)? = http?.id == location.storeId ? http : nil
        guard let store = self[location.storeId] ?? readOnly else {
            throw .internalError("image data is in store '\(location.storeId)', which is not configured")
        }
        return store
    }

}

/// A pull-driven sequence of byte chunks: the next chunk is read only when the consumer
/// asks for it, so a slow reader slows the source instead of filling memory.
public struct ByteStream: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer
    let pull: @Sendable () async throws -> ByteBuffer?
    let onCancel: @Sendable () -> Void

    public init(pull: @escaping @Sendable () async throws -> ByteBuffer?, onCancel: @escaping @Sendable () -> Void = {})
    {
        self.pull = pull
        self.onCancel = onCancel
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let pull: @Sendable () async throws -> ByteBuffer?
        public mutating func next() async throws -> ByteBuffer? { try await pull() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(pull: pull) }

    /// Releases the source early (e.g. the client went away).
    public func cancel() { onCancel() }
}
