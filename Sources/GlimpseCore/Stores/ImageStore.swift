import OpenStackEncoding

/// Keeps image metadata: images with the locations of their data, tags, custom properties,
/// members, upload leases and the tasks run on images.
///
/// A store knows nothing of policy: the service tells it exactly which rows a caller may see
/// (`ListScope`). It answers list queries with indexed, paged queries — never by loading the
/// catalog. Every write bumps `Image.revision`; writes conditioned on a revision let the
/// service apply read-modify-write changes without losing a concurrent one.
public protocol ImageStore: TaskStore {
    /// Inserts a new image. Throws `StoreError.duplicate` when the id exists (deleted or not).
    func insertImage(_ image: Image) async throws

    /// Inserts many images in one transaction (bulk imports, seeding); all or none.
    func insertImages(_ images: [Image]) async throws

    /// The image with this id, unless deleted.
    func image(id: String) async throws -> Image?

    /// The image with this id, deleted (a tombstone) or not.
    func imageIncludingDeleted(id: String) async throws -> Image?

    /// Replaces an image's record if its stored revision is still `image.revision`.
    /// Returns the stored image (with the new revision), or nil when the revision moved on
    /// or the image is gone.
    func updateImage(_ image: Image) async throws -> Image?

    /// Marks an image deleted (a tombstone with `deleted_at`) and drops its members and its
    /// upload lease. Returns false if it was already gone.
    func markDeleted(id: String, at: Timestamp) async throws -> Bool

    /// One page of images in sort order.
    func listImages(_ query: ImageListQuery) async throws -> [Image]

    /// Summarizes the images created since the last call, which lets lists with a range
    /// filter skip those that cannot match (a background job runs it).
    /// Returns how many summaries it added; a store that lists without them adds none.
    func summarizeImages() async throws -> Int

    /// Whether the project is a member of the image (any status).
    func isMember(imageId: String, projectId: String) async throws -> Bool

    func members(imageId: String) async throws -> [ImageMember]
    func member(imageId: String, memberId: String) async throws -> ImageMember?
    /// Adds a member. Throws `StoreError.duplicate` if present.
    func insertMember(_ member: ImageMember) async throws
    func updateMember(_ member: ImageMember) async throws -> Bool
    func deleteMember(imageId: String, memberId: String) async throws -> Bool

    /// What a project stores (for `user_storage_quota` and `/v2/info/usage`).
    func usage(owner: String) async throws -> ImageUsage

    /// Tombstones deleted before `before`, oldest first, for purging.
    func deletedImages(before: Timestamp, limit: Int) async throws -> [Image]
    /// Removes tombstones for good.
    func purge(ids: [String]) async throws
    /// Which of these locations of a blob store a copy of an image's data or an upload in
    /// progress (its lease's pending location) still refers to. A deleted image's copies do
    /// not count: a process that died between marking the image deleted and removing its
    /// data leaves data only the sweep would otherwise find before the tombstone's purge.
    func referencedLocations(storeId: String, _ locations: [String]) async throws -> Set<String>

    // MARK: Uploads

    /// Writes `image` if its revision is still current (as `updateImage`) and records
    /// `lease`, in one transaction: the start of an upload.
    func startUpload(_ image: Image, lease: UploadLease) async throws -> Image?
    /// Moves the expiry and progress of a lease its owner still holds (same image, owner
    /// and pending location) to `lease`'s; false when the lease is gone.
    func renewLease(_ lease: UploadLease) async throws -> Bool
    /// Writes `image` if its revision is still current and drops its lease if that still is
    /// exactly `lease`, in one transaction; nil (and no change) otherwise. Ends an upload,
    /// whether its owner finishes it or another process reclaims it after its owner died.
    func endUpload(_ image: Image, lease: UploadLease) async throws -> Image?
    /// Writes `image` if its revision is still current and replaces its lease, if that still
    /// is exactly `lease`, with `next`, in one transaction; nil (and no change) otherwise. A
    /// job writing an image's data into several stores moves its lease from one store's
    /// pending data to the next this way, recording what it finished on the way.
    func handOverLease(_ image: Image, from lease: UploadLease, to next: UploadLease) async throws -> Image?
    /// The leases of uploads in progress among these images.
    func uploadLeases(imageIds: [String]) async throws -> [UploadLease]
    /// Leases that ran out before `now`, oldest first.
    func expiredLeases(now: Timestamp, limit: Int) async throws -> [UploadLease]
}

/// A project's use of the image service.
public struct ImageUsage: Sendable, Equatable {
    /// Images not deleted.
    public var images: Int
    /// Bytes of stored image data.
    public var bytes: Int
    /// Images receiving or holding data not yet active (`saving`, `uploading`, `importing`),
    /// and images being copied to more stores (`os_glance_importing_to_stores` not empty).
    public var uploading: Int
    /// Bytes of data staged for import (images `uploading` or `importing`), part of `bytes`.
    public var staged: Int

    public init(images: Int, bytes: Int, uploading: Int, staged: Int = 0) {
        self.images = images
        self.bytes = bytes
        self.uploading = uploading
        self.staged = staged
    }
}

/// Store-level failures the service turns into API errors.
public enum StoreError: Error, Sendable, Equatable {
    /// A row with this key exists.
    case duplicate
    /// The database cannot be reached (the API answers 503: another node may serve).
    case unavailable(String)
    /// The database has no room to write (a full disk: SQLite's `SQLITE_FULL`, PostgreSQL's
    /// `53100`); nothing was written. The API answers 507.
    case full(String)
}

/// Everything the metadata store of a deployment keeps: images, metadata definitions, and
/// (for the built-in identity) users, projects, roles and tokens — in one database.
public protocol MetadataStore: ImageStore, MetadefStore {
    /// Brings the schema up to date; safe to run while other processes use the database.
    func migrate() async throws
    /// The schema steps the database has and those this build knows.
    func schemaStatus() async throws -> SchemaStatus
    /// Returns once the database has answered a query; throws if it cannot (health checks).
    func ping() async throws
    /// Runs `body` while holding the lock `name`, which no other process on this database
    /// can hold at the same time: one node of a deployment runs a job or the bootstrap at a
    /// time. With `wait: false`, returns nil at once, without running `body`, when another
    /// process holds the lock. Stores only one process uses run `body` directly.
    func withLock<T: Sendable>(_ name: String, wait: Bool, _ body: @Sendable () async throws -> T) async throws -> T?
    /// Releases the database's connections and threads; no call may follow.
    func close() async throws
}

/// Where a database's schema stands.
public struct SchemaStatus: Sendable, Equatable {
    /// The database engine (`sqlite`, `postgresql`, `memory`).
    public var backend: String
    /// Schema steps applied to the database.
    public var applied: Int
    /// Schema steps this build knows; `migrate()` applies the difference.
    public var known: Int

    public init(backend: String, applied: Int, known: Int) {
        self.backend = backend
        self.applied = applied
        self.known = known
    }

    /// Whether `migrate()` has nothing to do.
    public var isCurrent: Bool { applied >= known }
}
