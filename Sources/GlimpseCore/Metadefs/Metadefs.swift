import OpenStackEncoding
import OpenStackJSON

/// A metadata-definition namespace: a named, documented group of properties, objects and
/// tags that tools (Horizon, Nova) use to suggest image properties.
public struct MetadefNamespace: Sendable, Hashable {
    public var namespace: String
    public var displayName: String?
    public var description: String?
    public var visibility: String
    public var isProtected: Bool
    public var owner: String?
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    public init(
        namespace: String, displayName: String?, description: String?, visibility: String, isProtected: Bool,
        owner: String?, createdAt: Timestamp, updatedAt: Timestamp
    ) {
        self.namespace = namespace
        self.displayName = displayName
        self.description = description
        self.visibility = visibility
        self.isProtected = isProtected
        self.owner = owner
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// What a namespace holds besides its own attributes.
public enum MetadefKind: String, Sendable, CaseIterable {
    case object, property, tag
    /// An association with a resource type (`OS::Glance::Image`, …).
    case resourceType = "resource_type"
}

/// One object, property, tag or resource-type association of a namespace. `body` holds the
/// item's own attributes (a property's JSON schema, an object's properties…).
public struct MetadefItem: Sendable, Hashable {
    public var namespace: String
    public var kind: MetadefKind
    public var name: String
    public var body: JSONObject
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    public init(
        namespace: String, kind: MetadefKind, name: String, body: JSONObject, createdAt: Timestamp, updatedAt: Timestamp
    ) {
        self.namespace = namespace
        self.kind = kind
        self.name = name
        self.body = body
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// A resource type namespaces can be associated with.
public struct MetadefResourceType: Sendable, Hashable {
    public var name: String
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    public init(name: String, createdAt: Timestamp, updatedAt: Timestamp) {
        self.name = name
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// Keeps metadata definitions.
public protocol MetadefStore: Sendable {
    func metadefNamespaces() async throws -> [MetadefNamespace]
    func metadefNamespace(_ name: String) async throws -> MetadefNamespace?
    /// Throws `StoreError.duplicate` if the name is taken.
    func insertMetadefNamespace(_ ns: MetadefNamespace) async throws
    /// Replaces the namespace called `name` (which may be renamed); its items follow.
    func updateMetadefNamespace(_ name: String, _ ns: MetadefNamespace) async throws
    /// Deletes a namespace and everything in it.
    func deleteMetadefNamespace(_ name: String) async throws -> Bool

    func metadefResourceTypes() async throws -> [MetadefResourceType]
    func insertMetadefResourceType(_ type: MetadefResourceType) async throws

    func metadefItems(_ namespace: String, _ kind: MetadefKind) async throws -> [MetadefItem]
    func metadefItem(_ namespace: String, _ kind: MetadefKind, _ name: String) async throws -> MetadefItem?
    /// Throws `StoreError.duplicate` if an item of that kind and name exists.
    func insertMetadefItem(_ item: MetadefItem) async throws
    /// Replaces the item called `name` (which may be renamed).
    func updateMetadefItem(_ name: String, _ item: MetadefItem) async throws
    func deleteMetadefItem(_ namespace: String, _ kind: MetadefKind, _ name: String) async throws -> Bool
    func deleteMetadefItems(_ namespace: String, _ kind: MetadefKind) async throws
}
