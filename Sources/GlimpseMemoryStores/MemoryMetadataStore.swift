import GlimpseCore
import GlimpseIdentity
import OpenStackEncoding
import OpenStackJSON
import Synchronization

/// The whole metadata store in memory: the same behaviour as the SQL stores (the
/// metadata-store contract suite runs against both), nothing kept once the process ends.
/// For tests and throw-away servers.
public final class MemoryMetadataStore: Sendable {
    struct State {
        var images: [String: Image] = [:]
        var members: [String: [String: ImageMember]] = [:]
        var leases: [String: UploadLease] = [:]
        var domains: [String: Domain] = [:]
        var projects: [String: Project] = [:]
        var users: [String: User] = [:]
        var roles: [String: Role] = [:]
        var assignments: Set<RoleAssignment> = []
        /// Role ids held on the system, by user id.
        var systemRoles: [String: Set<String>] = [:]
        var tokens: [String: TokenRecord] = [:]
        var registeredLimits: [String: RegisteredLimit] = [:]
        var projectLimits: [String: ProjectLimit] = [:]
        var namespaces: [String: MetadefNamespace] = [:]
        var resourceTypes: [String: MetadefResourceType] = [:]
        var items: [MetadefItemKey: MetadefItem] = [:]
        var tasks: [String: ImageTask] = [:]
    }

    struct MetadefItemKey: Hashable {
        var namespace: String
        var kind: MetadefKind
        var name: String
    }

    let state = Mutex(State())

    public init() {}
}

extension MemoryMetadataStore: MetadataStore {
    public func migrate() async throws {}
    public func schemaStatus() async throws -> SchemaStatus { SchemaStatus(backend: "memory", applied: 0, known: 0) }
    public func ping() async throws {}
    public func withLock<T: Sendable>(
        _ name: String, wait: Bool, _ body: @Sendable () async throws -> T
    ) async throws -> T? { try await body() }
    public func close() async throws {}
}

// MARK: - Images

extension MemoryMetadataStore: ImageStore {
    public func insertImage(_ image: Image) async throws {
        try state.withLock { s in
            guard s.images[image.id] == nil else { throw StoreError.duplicate }
            s.images[image.id] = image
        }
    }

    public func insertImages(_ images: [Image]) async throws {
        try state.withLock { s in
            var ids = Set<String>()
            for image in images where s.images[image.id] != nil || !ids.insert(image.id).inserted {
                throw StoreError.duplicate
            }
            for image in images { s.images[image.id] = image }
        }
    }

    public func image(id: String) async throws -> Image? {
        state.withLock { s in s.images[id].flatMap { $0.deletedAt == nil ? $0 : nil } }
    }

    public func imageIncludingDeleted(id: String) async throws -> Image? {
        state.withLock { $0.images[id] }
    }

    /// The revision-checked write of `updateImage`, inside the lock.
    static func write(_ image: Image, _ s: inout State) -> Image? {
        guard let current = s.images[image.id], current.deletedAt == nil, current.revision == image.revision else {
            return nil
        }
        var saved = image
        saved.revision += 1
        s.images[image.id] = saved
        return saved
    }

    public func updateImage(_ image: Image) async throws -> Image? {
        state.withLock { Self.write(image, &$0) }
    }

    public func markDeleted(id: String, at: Timestamp) async throws -> Bool {
        state.withLock { s in
            guard var image = s.images[id], image.deletedAt == nil, (try? image.transition(to: .deleted)) != nil else {
                return false
            }
            image.deletedAt = at
            image.updatedAt = at
            image.revision += 1
            s.images[id] = image
            s.members[id] = nil
            s.leases[id] = nil
            return true
        }
    }

    /// Lists read the images in memory: there is nothing to summarize.
    public func summarizeImages() async throws -> Int { 0 }

    public func listImages(_ query: ImageListQuery) async throws -> [Image] {
        let candidates = state.withLock { s in
            s.images.values.filter { image in
                Self.inScope(image, query.scope, members: s.members)
                    && query.conditions.allSatisfy { Self.matches(image, $0) }
            }
        }
        var sorted = candidates.sorted { SortKey.precedes($0, $1, in: query.sort) }
        if let marker = query.marker {
            sorted.removeAll { !SortKey.precedes(marker, $0, in: query.sort) }
        }
        return Array(sorted.prefix(query.limit))
    }

    /// Which rows a caller may see, as `ImageQueryBuilder.scopeBranches` says in SQL.
    static func inScope(_ image: Image, _ scope: ListScope, members: [String: [String: ImageMember]]) -> Bool {
        if scope.includeDeleted {
            guard image.status != .killed, image.status != .pendingDelete else { return false }
        } else {
            guard image.deletedAt == nil, ![.killed, .deleted, .pendingDelete].contains(image.status) else {
                return false
            }
        }
        guard image.osHidden == scope.hidden else { return false }
        let v = image.visibility
        if scope.isAdmin {
            switch scope.visibility {
            case .default: return v != .community || (image.owner != nil && image.owner == scope.projectId)
            case .all: return true
            case .only(let only): return v == only
            }
        }
        guard let project = scope.projectId else {
            switch scope.visibility {
            case .default: return v == .public
            case .all: return v == .public || v == .community
            case .only(let only): return (only == .public || only == .community) && v == only
            }
        }
        let owned = image.owner == project
        func sharedWithMe() -> Bool {
            guard v == .shared, let m = members[image.id]?[project] else { return false }
            return scope.memberStatus == .all || m.status.rawValue == scope.memberStatus.rawValue
        }
        switch scope.visibility {
        case .default: return v == .public || owned || sharedWithMe()
        case .all: return v == .public || v == .community || owned || sharedWithMe()
        case .only(.public): return v == .public
        case .only(.community): return v == .community
        case .only(.private): return v == .private && owned
        case .only(.shared): return v == .shared && (owned || sharedWithMe())
        }
    }

    static func text(_ column: ImageColumn, _ image: Image) -> String? {
        switch column {
        case .id: image.id
        case .name: image.name
        case .status: image.status.rawValue
        case .visibility: image.visibility.rawValue
        case .owner: image.owner
        case .diskFormat: image.diskFormat
        case .containerFormat: image.containerFormat
        case .checksum: image.checksum
        case .osHashValue: image.osHashValue
        default: nil
        }
    }

    static func matches(_ image: Image, _ condition: ImageCondition) -> Bool {
        switch condition {
        case .oneOf(let column, let values):
            guard let v = text(column, image) else { return false }
            return values.contains(v)
        case .atLeast(let column, let bound):
            guard let v = image.number(column) else { return false }
            return v >= bound
        case .atMost(let column, let bound):
            guard let v = image.number(column) else { return false }
            return v <= bound
        case .time(let column, let op, let t):
            let value = (column == .createdAt ? image.createdAt : image.updatedAt).microseconds
            let second = Timestamp(seconds: t.seconds).microseconds
            let next = second + 1_000_000
            switch op {
            case .eq: return value >= second && value < next
            case .neq: return value < second || value >= next
            case .gt: return value >= next
            case .gte: return value >= second
            case .lt: return value < second
            case .lte: return value < next
            }
        case .flag(let column, let v):
            return (column == .isProtected ? image.isProtected : image.osHidden) == v
        case .tags(let wanted):
            return wanted.allSatisfy(image.tags.contains)
        case .property(let name, let value):
            guard let v = image.properties[name] else { return false }
            if case .string(let s) = v { return s == value }
            return v.jsonString == value
        case .propertyAbsent(let name):
            return image.properties[name] == nil
        }
    }

    public func isMember(imageId: String, projectId: String) async throws -> Bool {
        state.withLock { $0.members[imageId]?[projectId] != nil }
    }

    public func members(imageId: String) async throws -> [ImageMember] {
        state.withLock { s in
            (s.members[imageId]?.values.map { $0 } ?? []).sorted { a, b in
                if a.createdAt != b.createdAt { return a.createdAt < b.createdAt }
                return SortValue.text(a.memberId) < SortValue.text(b.memberId)
            }
        }
    }

    public func member(imageId: String, memberId: String) async throws -> ImageMember? {
        state.withLock { $0.members[imageId]?[memberId] }
    }

    public func insertMember(_ member: ImageMember) async throws {
        try state.withLock { s in
            guard let image = s.images[member.imageId], image.deletedAt == nil else { throw StoreError.duplicate }
            guard s.members[member.imageId]?[member.memberId] == nil else { throw StoreError.duplicate }
            s.members[member.imageId, default: [:]][member.memberId] = member
        }
    }

    public func updateMember(_ member: ImageMember) async throws -> Bool {
        state.withLock { s in
            guard var m = s.members[member.imageId]?[member.memberId] else { return false }
            m.status = member.status
            m.updatedAt = member.updatedAt
            s.members[member.imageId]?[member.memberId] = m
            return true
        }
    }

    public func deleteMember(imageId: String, memberId: String) async throws -> Bool {
        state.withLock { $0.members[imageId]?.removeValue(forKey: memberId) != nil }
    }

    public func usage(owner: String) async throws -> ImageUsage {
        state.withLock { s in
            var usage = ImageUsage(images: 0, bytes: 0, uploading: 0)
            for image in s.images.values where image.owner == owner && image.deletedAt == nil {
                usage.images += 1
                if !image.locations.isEmpty { usage.bytes += image.size ?? 0 }
                if !image.locations.isEmpty, [.uploading, .importing].contains(image.status) {
                    usage.staged += image.size ?? 0
                }
                if [.saving, .uploading, .importing].contains(image.status) {
                    usage.uploading += 1
                } else if image.status != .killed,
                    !(image.properties["os_glance_importing_to_stores"]?.stringValue ?? "").isEmpty
                {
                    usage.uploading += 1
                }
            }
            return usage
        }
    }

    public func deletedImages(before: Timestamp, limit: Int) async throws -> [Image] {
        state.withLock { s in
            Array(
                s.images.values.filter { ($0.deletedAt ?? before) < before }
                    .sorted { ($0.deletedAt!, $0.id) < ($1.deletedAt!, $1.id) }.prefix(limit))
        }
    }

    public func purge(ids: [String]) async throws {
        state.withLock { s in
            for id in ids where s.images[id]?.deletedAt != nil {
                s.images[id] = nil
                s.members[id] = nil
                s.leases[id] = nil
            }
        }
    }

    public func referencedLocations(storeId: String, _ locations: [String]) async throws -> Set<String> {
        let wanted = Set(locations)
        return state.withLock { s in
            let data = s.images.values.filter { $0.deletedAt == nil }.flatMap { image in
                image.locations.filter { $0.storeId == storeId && wanted.contains($0.location) }.map(\.location)
            }
            let pending = s.leases.values.filter { $0.storeId == storeId && wanted.contains($0.pendingLocation) }
            return Set(data + pending.map(\.pendingLocation))
        }
    }

    // MARK: Uploads

    public func startUpload(_ image: Image, lease: UploadLease) async throws -> Image? {
        state.withLock { s in
            guard let saved = Self.write(image, &s) else { return nil }
            s.leases[image.id] = lease
            return saved
        }
    }

    public func renewLease(_ lease: UploadLease) async throws -> Bool {
        state.withLock { s in
            guard let current = s.leases[lease.imageId], current.owner == lease.owner,
                current.pendingLocation == lease.pendingLocation
            else { return false }
            s.leases[lease.imageId]?.expiresAt = lease.expiresAt
            s.leases[lease.imageId]?.received = lease.received
            return true
        }
    }

    /// Whether the image's lease still is exactly `lease` (as `endUpload` matches it).
    static func holds(_ lease: UploadLease, _ s: State) -> Bool {
        guard let current = s.leases[lease.imageId] else { return false }
        return current.owner == lease.owner && current.pendingLocation == lease.pendingLocation
            && current.expiresAt == lease.expiresAt
    }

    public func endUpload(_ image: Image, lease: UploadLease) async throws -> Image? {
        state.withLock { s in
            guard Self.holds(lease, s), let saved = Self.write(image, &s) else { return nil }
            s.leases[lease.imageId] = nil
            return saved
        }
    }

    public func handOverLease(_ image: Image, from lease: UploadLease, to next: UploadLease) async throws -> Image? {
        state.withLock { s in
            guard Self.holds(lease, s), let saved = Self.write(image, &s) else { return nil }
            s.leases[lease.imageId] = next
            return saved
        }
    }

    public func uploadLeases(imageIds: [String]) async throws -> [UploadLease] {
        state.withLock { s in imageIds.compactMap { s.leases[$0] } }
    }

    public func expiredLeases(now: Timestamp, limit: Int) async throws -> [UploadLease] {
        state.withLock { s in
            Array(s.leases.values.filter { $0.expiresAt < now }.sorted { $0.expiresAt < $1.expiresAt }.prefix(limit))
        }
    }
}
