import OpenStackEncoding
import OpenStackJSON

/// The lifecycle states of an image (Glance's state machine).
public enum ImageStatus: String, Sendable, CaseIterable {
    case queued, saving, active, killed, deleted, uploading, importing
    case pendingDelete = "pending_delete"
    case deactivated

    /// Whether `self → next` is a transition Glance allows. Every change of an image's
    /// status goes through `transition(to:)`, which enforces this table.
    public func canTransition(to next: ImageStatus) -> Bool {
        switch self {
        case .queued: [.saving, .uploading, .importing, .active, .deleted].contains(next)
        case .saving: [.active, .killed, .deleted, .queued].contains(next)
        case .uploading: [.importing, .queued, .deleted].contains(next)
        case .importing: [.active, .deleted, .queued].contains(next)
        case .active: [.pendingDelete, .deleted, .deactivated].contains(next)
        case .deactivated: [.active, .deleted].contains(next)
        case .killed: next == .deleted
        case .pendingDelete: [.deleted, .active].contains(next)
        case .deleted: false
        }
    }
}

/// Who may see an image.
public enum Visibility: String, Sendable, CaseIterable {
    case community, `public`, `private`, shared
}

/// An image record: the metadata the catalog keeps about one image.
public struct Image: Sendable, Hashable {
    public var id: String
    public var name: String?
    /// Changed only through `transition(to:)`.
    public internal(set) var status: ImageStatus
    public var visibility: Visibility
    public var owner: String?
    public var size: Int?
    public var virtualSize: Int?
    public var diskFormat: String?
    public var containerFormat: String?
    public var checksum: String?
    public var osHashAlgo: String?
    public var osHashValue: String?
    public var minDisk: Int
    public var minRam: Int
    public var isProtected: Bool
    public var osHidden: Bool
    public var createdAt: Timestamp
    public var updatedAt: Timestamp
    /// Set when the image was deleted (tombstones are kept for compute `changes-since`).
    public var deletedAt: Timestamp?
    /// Custom ("additional") properties, in insertion order; values are any JSON.
    public var properties: JSONObject
    /// Tags: a set kept in first-added order.
    public var tags: [String]
    /// The copies of the image's data, one per store at most (the read-only http store may
    /// name several URLs), in the order they were made. While an image is `uploading` or
    /// `importing`, its only copy is the staged data (or, during a location import, the
    /// location being hashed).
    public var locations: [ImageLocation]
    /// Optimistic-concurrency counter, bumped by every write.
    public var revision: Int64

    public init(
        id: String, name: String? = nil, status: ImageStatus = .queued, visibility: Visibility = .shared,
        owner: String?, size: Int? = nil, virtualSize: Int? = nil, diskFormat: String? = nil,
        containerFormat: String? = nil, checksum: String? = nil, osHashAlgo: String? = nil,
        osHashValue: String? = nil, minDisk: Int = 0, minRam: Int = 0, isProtected: Bool = false,
        osHidden: Bool = false, createdAt: Timestamp, updatedAt: Timestamp, deletedAt: Timestamp? = nil,
        properties: JSONObject = JSONObject(), tags: [String] = [], locations: [ImageLocation] = [],
        revision: Int64 = 0
    ) {
        self.id = id
        self.name = name
        self.status = status
        self.visibility = visibility
        self.owner = owner
        self.size = size
        self.virtualSize = virtualSize
        self.diskFormat = diskFormat
        self.containerFormat = containerFormat
        self.checksum = checksum
        self.osHashAlgo = osHashAlgo
        self.osHashValue = osHashValue
        self.minDisk = minDisk
        self.minRam = minRam
        self.isProtected = isProtected
        self.osHidden = osHidden
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.deletedAt = deletedAt
        self.properties = properties
        self.tags = tags
        self.locations = locations
        self.revision = revision
    }

    /// Moves the image to `next`, if the status machine allows it from where it is.
    public mutating func transition(to next: ImageStatus) throws(ServiceError) {
        guard status.canTransition(to: next) else {
            throw .conflict("Image status transition from \(status.rawValue) to \(next.rawValue) is not allowed")
        }
        status = next
    }

    /// Whether the image has data that can be downloaded.
    public var hasData: Bool { !locations.isEmpty && (status == .active || status == .deactivated) }

    /// The copy of the data in a store, if that store has one.
    public func location(in storeId: String) -> ImageLocation? { locations.first { $0.storeId == storeId } }
}

/// One copy of an image's data: the store that holds it and the store's name for it (opaque
/// to everyone but the store), with the metadata a location added through the locations API
/// was given (shown with `store` in `locations`).
public struct ImageLocation: Sendable, Hashable {
    public var storeId: String
    public var location: String
    public var metadata: JSONObject

    public init(storeId: String, location: String, metadata: JSONObject = JSONObject()) {
        self.storeId = storeId
        self.location = location
        self.metadata = metadata
    }
}

extension [ImageLocation] {
    /// The copies in the order they are best read from: by their store's weight, highest
    /// first (a store without one weighs 0); copies of equal weight in the order they were
    /// made. Glance sorts an image's locations so, and lists its `stores` in this order.
    public func ordered(by weights: [String: Int]) -> [ImageLocation] {
        enumerated().sorted { a, b in
            let (x, y) = (weights[a.element.storeId] ?? 0, weights[b.element.storeId] ?? 0)
            return x != y ? x > y : a.offset < b.offset
        }.map(\.element)
    }
}

/// Membership of another project in a shared image.
public enum MemberStatus: String, Sendable, CaseIterable {
    case pending, accepted, rejected
}

/// One project an image is shared with.
public struct ImageMember: Sendable, Hashable {
    public var imageId: String
    public var memberId: String
    public var status: MemberStatus
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    public init(imageId: String, memberId: String, status: MemberStatus, createdAt: Timestamp, updatedAt: Timestamp) {
        self.imageId = imageId
        self.memberId = memberId
        self.status = status
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}
