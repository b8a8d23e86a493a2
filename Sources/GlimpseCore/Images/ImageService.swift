import Logging
import NIOPosix
import OpenStackEncoding
import OpenStackJSON

/// A list request as the API received it, already translated from query parameters.
public struct ImageListRequest: Sendable {
    public var visibility: ListScope.VisibilityFilter = .default
    public var memberStatus: ListScope.MemberStatusFilter = .accepted
    public var hidden = false
    /// Also list deleted images (tombstones).
    public var includeDeleted = false
    public var conditions: [ImageCondition] = []
    /// Complete sort (see `ImageListQuery.completeSort`).
    public var sort: [SortKey] = ImageListQuery.completeSort([], defaultAscending: false)
    /// Requested page size; nil means the default.
    public var limit: Int?
    public var marker: String?
    public init() {}
}

/// One page of a listing.
public struct ImagePage: Sendable {
    public var images: [Image]
    /// Whether images follow this page.
    public var hasMore: Bool
}

/// The image use cases: what the Glance v2 API (and the compute images API) can do,
/// with Glance's rules for validation, policy and the status machine.
public final class ImageService: Sendable {
    public let store: any ImageStore
    public let blobs: BlobStores
    public let config: ImageServiceConfig
    public let schemas: ImageSchemas
    let clock: any WallClock
    /// Threads that hash image data.
    let hashing: NIOThreadPool
    /// This process, as upload leases name it.
    let owner: String
    let logger: Logger
    /// Imports running in the background in this process.
    public let imports = BackgroundImports()
    /// This node's cache of image data (`image_cache_dir`), if it has one.
    public let cache: ImageCache?
    /// Fetches the data of `web-download` imports; nil where the method is not offered.
    let webDownloader: (any WebDownloader)?
    /// The operator's policy rules (Glance's defaults unless a policy file overrides them).
    public let policy: PolicyEnforcer
    /// The projects' limits (Keystone's unified limits); none by default.
    let limits: any LimitsSource

    public init(
        store: any ImageStore, blobs: BlobStores, config: ImageServiceConfig = .init(),
        clock: any WallClock = SystemClock(), hashing: NIOThreadPool, owner: String = UploadOwner.current,
        cache: ImageCache? = nil, webDownloader: (any WebDownloader)? = nil, policy: PolicyEnforcer = .init(),
        limits: any LimitsSource = NoLimits(), logger: Logger
    ) {
        self.limits = limits
        self.store = store
        self.blobs = blobs
        self.cache = cache
        self.config = config
        self.schemas = ImageSchemas(config: config)
        self.clock = clock
        self.hashing = hashing
        self.owner = owner
        self.webDownloader = webDownloader
        self.policy = policy
        self.logger = logger
    }

    // MARK: Lookup and visibility

    /// Whether the caller may know the image exists.
    public func isVisible(_ image: Image, to p: Principal) async throws -> Bool {
        if ImagePolicy.visibleWithoutMembership(p, image) { return true }
        guard image.visibility == .shared, let project = p.projectId else { return false }
        return try await store.isMember(imageId: image.id, projectId: project)
    }

    /// The image as the policy sees it: `member_id` is the caller's project when the image is
    /// shared with it (Glance's `image.member`).
    func policyTarget(_ image: Image, _ p: Principal) async throws -> PolicyTarget {
        guard image.visibility == .shared, let project = p.projectId, !ImagePolicy.owns(p, image) else {
            return .image(image)
        }
        // Only a member sees a shared image it does not own, unless visible without membership.
        var isMember = !ImagePolicy.visibleWithoutMembership(p, image)
        if !isMember { isMember = try await store.isMember(imageId: image.id, projectId: project) }
        return .image(image, memberId: isMember ? project : nil)
    }

    /// The image if it exists and the caller may see it; otherwise `notFound` built by the caller.
    func visibleImage(_ id: String, _ p: Principal, orElse error: @autoclosure () -> ServiceError) async throws -> Image
    {
        guard isUUIDLike(id), let image = try await store.image(id: id), try await isVisible(image, to: p) else {
            throw error()
        }
        return image
    }

    /// Ids longer than a UUID can never exist; skip the lookup.
    func isUUIDLike(_ id: String) -> Bool { !id.isEmpty && id.utf8.count <= 36 }

    // MARK: Create

    /// `POST /v2/images`.
    public func create(_ body: JSONValue, by p: Principal) async throws -> Image {
        try policy.enforce(.addImage, p, .project(p.projectId))
        guard case .object(let object) = body else {
            throw ServiceError.badRequest("Request body must be a JSON object.")
        }
        for m in object {
            if m.key == "locations" || ImageAttributes.readOnly.contains(m.key) {
                throw ServiceError.forbidden("Attribute '\(m.key)' is read-only.")
            }
            if ImageAttributes.reserved.contains(m.key) {
                throw ServiceError.forbidden("Attribute '\(m.key)' is reserved.")
            }
            if m.key.hasPrefix("os_glance") {
                throw ServiceError.forbiddenDetail("Attribute '\(m.key)' is reserved.")
            }
        }
        if let failure = schemas.imageValidator.validate(body) {
            throw schemas.imageValidator.error(for: failure)
        }
        // The quota first: applying a huge body member by member would cost time for nothing.
        let properties = object.filter { !ImageAttributes.core.contains($0.key) }
        try checkPropertyCount(properties.filter { !$0.key.hasPrefix("os_glance") }.count)
        for m in properties { try ImageAttributes.checkProperty(m.key, m.value) }
        for key in ["min_disk", "min_ram"] {
            if let v = object[key] { try ImageAttributes.checkLimits(key, v) }
        }
        let now = clock.now()
        var image = Image(
            id: object["id"]?.stringValue ?? Identifiers.uuid(), owner: p.projectId,
            createdAt: now, updatedAt: now)
        for m in object where m.key != "id" {
            ImageAttributes.apply(m.key, m.value, to: &image)
        }
        if image.visibility == .public { try policy.enforce(.publicizeImage, p, .image(image)) }
        if let owner = object["owner"], owner.stringValue != p.projectId, !p.isAdmin {
            throw ServiceError.forbidden(
                "You are not permitted to create images owned by '\(owner.stringValue ?? "None")'.")
        }
        if image.visibility == .community { try policy.enforce(.communitizeImage, p, .image(image)) }
        try checkQuotas(image)
        try await enforce([(.imageCountTotal, 1)], project: p.projectId)
        do {
            try await store.insertImage(image)
        } catch StoreError.duplicate {
            throw ServiceError.conflict("Image ID \(image.id) already exists!")
        }
        logger.info("image created", metadata: ["image_id": "\(image.id)", "owner": "\(image.owner ?? "")"])
        return image
    }

    func checkQuotas(_ image: Image) throws(ServiceError) {
        if image.tags.count > config.tagQuota {
            throw .tooLarge(
                "The limit has been exceeded on the number of allowed image tags. Attempted: \(image.tags.count), Maximum: \(config.tagQuota)"
            )
        }
        try checkPropertyCount(image.properties.filter { !$0.key.hasPrefix("os_glance") }.count)
    }

    func checkPropertyCount(_ count: Int) throws(ServiceError) {
        if count > config.propertyQuota {
            throw .tooLarge(
                "The limit has been exceeded on the number of allowed image properties. Attempted: \(count), Maximum: \(config.propertyQuota)"
            )
        }
    }

    // MARK: Read

    /// `GET /v2/images/{id}`.
    public func show(_ id: String, by p: Principal) async throws -> Image {
        try ImagePolicy.requireReader(p, "get_image")
        let image = try await visibleImage(id, p, orElse: .imageNotFound(id))
        // As Glance: an image the policy hides is not found.
        guard policy.allows(.getImage, p, try await policyTarget(image, p)) else {
            throw ServiceError.imageNotFound(id)
        }
        return image
    }

    /// `GET /v2/images`: one page, in sort order.
    public func list(_ request: ImageListRequest, by p: Principal) async throws -> ImagePage {
        try policy.enforce(.getImages, p, .project(p.projectId))
        let limit = min(max(request.limit ?? config.defaultPageSize, 0), config.maxPageSize)
        var markerImage: Image?
        if let marker = request.marker {
            let found =
                isUUIDLike(marker)
                ? (request.includeDeleted
                    ? try await store.imageIncludingDeleted(id: marker) : try await store.image(id: marker))
                : nil
            guard let m = found else {
                throw ServiceError.badRequest("No image found with ID \(marker)")
            }
            guard try await isVisible(m, to: p) else {
                throw ServiceError.forbidden("Forbidden to access image \(marker)")
            }
            markerImage = m
        }
        if limit == 0 { return ImagePage(images: [], hasMore: false) }
        var images = try await store.listImages(Self.listQuery(request, by: p, limit: limit + 1, marker: markerImage))
        let hasMore = images.count > limit
        if hasMore { images.removeLast(images.count - limit) }
        return ImagePage(images: images, hasMore: hasMore)
    }

    /// What the store is asked for a list request by `p`: the caller's scope, the filters,
    /// the sort, `limit` rows after `marker`.
    public static func listQuery(
        _ request: ImageListRequest, by p: Principal, limit: Int, marker: Image? = nil
    ) -> ImageListQuery {
        let scope = ListScope(
            projectId: p.projectId, isAdmin: p.isAdmin, visibility: request.visibility,
            memberStatus: request.memberStatus, hidden: request.hidden,
            includeDeleted: request.includeDeleted)
        return ImageListQuery(
            scope: scope, conditions: request.conditions, sort: request.sort, limit: limit, marker: marker)
    }

    /// How far the uploads in progress among `images` have got (0–99), by image id, whichever
    /// process receives them.
    public func uploadProgress(of images: [Image]) async throws -> [String: Int] {
        let receiving = images.filter { $0.status == .saving }.map(\.id)
        guard !receiving.isEmpty else { return [:] }
        var out: [String: Int] = [:]
        for lease in try await store.uploadLeases(imageIds: receiving) { out[lease.imageId] = lease.percent }
        return out
    }

    // MARK: Update

    /// `PATCH /v2/images/{id}`: applies all changes or none.
    public func update(_ id: String, _ ops: [PatchOperation], by p: Principal) async throws -> Image {
        try ImagePolicy.requireReader(p, "modify_image")
        let checked = try await checkPatchLocations(ops, image: id, by: p)
        var removed: [ImageLocation] = []
        let image = try await mutate(id, by: p, notFound: .imageNotFound(id)) { image throws(ServiceError) in
            try self.policy.enforce(.modifyImage, p, .image(image))
            if ops.isEmpty { return false }
            removed = []
            for op in ops {
                if op.attribute == "locations" {
                    try self.applyLocations(op, to: &image, checked: checked, removed: &removed)
                } else {
                    try self.apply(op, to: &image, by: p)
                }
            }
            try self.checkQuotas(image)
            return true
        }
        await removeData(removed, of: id, retry: "the orphan sweep will")
        return image
    }

    func apply(_ op: PatchOperation, to image: inout Image, by p: Principal) throws(ServiceError) {
        let name = op.attribute
        if name == "id" || ImageAttributes.readOnly.contains(name) {
            throw .forbidden("Attribute '\(name)' is read-only.")
        }
        if ImageAttributes.isReserved(name) { throw .forbidden("Attribute '\(name)' is reserved.") }
        let isCore = ImageAttributes.core.contains(name)
        if !isCore { try ImageAttributes.checkProperty(name, op.value ?? .null) }
        switch op.op {
        case .remove:
            if isCore { throw .forbidden("Property \(name) may not be removed.") }
            guard image.properties.removeValue(forKey: name) != nil else {
                throw .conflictDetail("Property \(name) does not exist.")
            }
        case .add, .replace:
            let value = op.value ?? .null
            if op.op == .replace, !isCore, image.properties[name] == nil {
                throw .conflictDetail("Property \(name) does not exist.")
            }
            if let failure = schemas.imageValidator.validateProperty(name, value) {
                throw schemas.imageValidator.error(for: failure)
            }
            try ImageAttributes.checkLimits(name, value)
            switch name {
            case "visibility" where value.stringValue == Visibility.public.rawValue && image.visibility != .public:
                try policy.enforce(.publicizeImage, p, .image(image))
            case "visibility"
            where value.stringValue == Visibility.community.rawValue && image.visibility != .community:
                try policy.enforce(.communitizeImage, p, .image(image))
            case "owner" where value.stringValue != image.owner:
                if !p.isAdmin { throw .forbidden("Owner can't be updated by non admin.") }
            case "disk_format", "container_format":
                if ImageAttributes.value(name, of: image) != value, image.status != .queued, image.status != .importing
                {
                    throw .forbidden("Attribute \(name) can be only replaced for a queued image.")
                }
            default: break
            }
            ImageAttributes.apply(name, value, to: &image)
        }
    }

    /// Read-modify-write of one image with optimistic concurrency: `change` runs on the
    /// current record and returns whether it changed anything; a concurrent write makes it
    /// run again on the newer record, so no update is lost. `save` writes the changed record
    /// (revision-checked); nil from it means the record moved on.
    func mutate(
        _ id: String, by p: Principal, notFound: @autoclosure () -> ServiceError,
        save: ((Image) async throws -> Image?)? = nil,
        _ change: (inout Image) throws(ServiceError) -> Bool
    ) async throws -> Image {
        for _ in 0..<16 {
            var image = try await visibleImage(id, p, orElse: notFound())
            guard try change(&image) else { return image }
            image.updatedAt = clock.now()
            let saved = if let save { try await save(image) } else { try await store.updateImage(image) }
            if let saved { return saved }
        }
        throw ServiceError(.conflict, explanation: "The image was changed by another request; try again.")
    }

    // MARK: Delete

    /// `DELETE /v2/images/{id}`: leaves a tombstone and removes the data of every copy.
    public func delete(_ id: String, by p: Principal) async throws {
        try ImagePolicy.requireReader(p, "delete_image")
        let image = try await visibleImage(id, p, orElse: .notFound("Failed to find image \(id) to delete"))
        try policy.enforce(.deleteImage, p, .image(image))
        if image.isProtected { throw ServiceError.forbidden("Image \(id) is protected and cannot be deleted.") }
        var deleted = image
        try deleted.transition(to: .deleted)
        // A store that will not let the data go (clones of an RBD image) keeps the image as it is.
        for copy in image.locations { try await blobs.store(for: copy).checkDeletable(location: copy.location) }
        guard try await store.markDeleted(id: id, at: clock.now()) else {
            throw ServiceError.notFound("Failed to find image \(id) to delete")
        }
        await removeData(image.locations, of: id, retry: "purge will retry")
        await cache?.remove(id)
        logger.info("image deleted", metadata: ["image_id": "\(id)"])
    }

    /// Deletes copies of an image's data whose records are gone; a copy that cannot be
    /// deleted is logged and left to `retry` (a later purge or the orphan sweep).
    func removeData(_ locations: [ImageLocation], of id: String, retry: String) async {
        for location in locations {
            do {
                try await blobs.store(for: location).delete(location: location.location)
            } catch {
                logger.warning(
                    "could not delete image data; \(retry)",
                    metadata: ["image_id": "\(id)", "store": "\(location.storeId)", "error": "\(error)"])
            }
        }
    }

    // MARK: Actions

    /// `POST /v2/images/{id}/actions/deactivate`.
    public func deactivate(_ id: String, by p: Principal) async throws {
        try await setActive(false, id, by: p)
    }

    /// `POST /v2/images/{id}/actions/reactivate`.
    public func reactivate(_ id: String, by p: Principal) async throws {
        try await setActive(true, id, by: p)
    }

    func setActive(_ active: Bool, _ id: String, by p: Principal) async throws {
        try ImagePolicy.requireReader(p, active ? "reactivate" : "deactivate")
        _ = try await mutate(id, by: p, notFound: .imageNotFound(id)) { image throws(ServiceError) in
            try self.policy.enforce(active ? .reactivate : .deactivate, p, .image(image))
            let (from, to): (ImageStatus, ImageStatus) = active ? (.deactivated, .active) : (.active, .deactivated)
            if image.status == to { return false }
            guard image.status == from else {
                throw .forbidden(
                    "Not allowed to \(active ? "reactivate" : "deactivate") image in status '\(image.status.rawValue)'")
            }
            try image.transition(to: to)
            return true
        }
        // A deactivated image's data is not served from the cache, and need not stay there.
        if !active { await cache?.remove(id) }
    }

    // MARK: Tags

    /// `PUT /v2/images/{id}/tags/{tag}`.
    public func addTag(_ id: String, _ tag: String, by p: Principal) async throws {
        try ImagePolicy.requireReader(p, "modify_image")
        if let failure = schemas.imageValidator.validateProperty("tags", .array([.string(tag)])) {
            throw schemas.imageValidator.error(for: failure)
        }
        _ = try await mutate(id, by: p, notFound: .imageNotFound(id)) { image throws(ServiceError) in
            try self.policy.enforce(.modifyImage, p, .image(image))
            if image.tags.contains(tag) { return false }
            image.tags.append(tag)
            try self.checkQuotas(image)
            return true
        }
    }

    /// `DELETE /v2/images/{id}/tags/{tag}`.
    public func removeTag(_ id: String, _ tag: String, by p: Principal) async throws {
        try ImagePolicy.requireReader(p, "modify_image")
        _ = try await mutate(id, by: p, notFound: .imageNotFound(id)) { image throws(ServiceError) in
            try self.policy.enforce(.modifyImage, p, .image(image))
            guard let i = image.tags.firstIndex(of: tag) else { throw .notFound() }
            image.tags.remove(at: i)
            return true
        }
    }
}
