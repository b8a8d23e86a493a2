/// Keeps image metadata: images, tags, custom properties and members.
///
/// A store knows nothing of policy: the service tells it exactly which rows a caller may see
/// (`ListScope`). It answers list queries with indexed, paged SQL — never by loading the
/// catalog. Every write bumps `Image.revision`; writes conditioned on a revision let the
/// service apply read-modify-write changes without losing a concurrent one.
public protocol ImageStore: Sendable {
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

    /// Marks an image deleted (a tombstone with `deleted_at`) and drops its members.
    /// Returns false if it was already gone.
    func markDeleted(id: String, at: Timestamp) async throws -> Bool

    /// One page of images in sort order.
    func listImages(_ query: ImageListQuery) async throws -> [Image]

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

    /// Puts images left in `saving` by a crash back to `queued`; returns how many.
    func recoverInterruptedUploads() async throws -> Int

    /// Tombstones deleted before `before`, oldest first, for purging.
    func deletedImages(before: Timestamp, limit: Int) async throws -> [Image]
    /// Removes tombstones for good.
    func purge(ids: [String]) async throws
}

/// A project's use of the image service.
public struct ImageUsage: Sendable, Equatable {
    /// Images not deleted.
    public var images: Int
    /// Bytes of stored image data.
    public var bytes: Int
    /// Images receiving data right now.
    public var uploading: Int

    public init(images: Int, bytes: Int, uploading: Int) {
        self.images = images
        self.bytes = bytes
        self.uploading = uploading
    }
}

/// Store-level failures the service turns into API errors.
public enum StoreError: Error, Sendable, Equatable {
    /// A row with this key exists.
    case duplicate
}
