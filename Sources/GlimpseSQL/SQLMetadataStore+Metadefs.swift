import GlimpseCore
import OpenStackEncoding
import OpenStackJSON

extension SQLMetadataStore: MetadefStore {
    static var namespaceColumns: String {
        "namespace, display_name, description, visibility, protected, owner, created_at, updated_at"
    }

    static func namespace(_ r: SQLRow) -> MetadefNamespace {
        MetadefNamespace(
            namespace: r.text(0) ?? "", displayName: r.text(1), description: r.text(2),
            visibility: r.text(3) ?? "private", isProtected: r.bool(4), owner: r.text(5),
            createdAt: Timestamp(microseconds: r.int(6) ?? 0), updatedAt: Timestamp(microseconds: r.int(7) ?? 0))
    }

    static func values(_ ns: MetadefNamespace) -> [SQLValue] {
        [
            .text(ns.namespace), .optional(ns.displayName), .optional(ns.description), .text(ns.visibility),
            .bool(ns.isProtected), .optional(ns.owner), .int(ns.createdAt.microseconds),
            .int(ns.updatedAt.microseconds),
        ]
    }

    public func metadefNamespaces() async throws -> [MetadefNamespace] {
        try await db.read { c in
            try await c.query("SELECT \(Self.namespaceColumns) FROM metadef_namespaces ORDER BY namespace").map(
                Self.namespace)
        }
    }

    public func metadefNamespace(_ name: String) async throws -> MetadefNamespace? {
        try await db.read { c in
            try await c.query(
                "SELECT \(Self.namespaceColumns) FROM metadef_namespaces WHERE namespace = ?",
                [.text(name)]
            ).first.map(Self.namespace)
        }
    }

    public func insertMetadefNamespace(_ ns: MetadefNamespace) async throws {
        try await db.withTransaction { c in
            try await c.run(
                "INSERT INTO metadef_namespaces (\(Self.namespaceColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                Self.values(ns))
        }
    }

    public func updateMetadefNamespace(_ name: String, _ ns: MetadefNamespace) async throws {
        try await db.withTransaction { c in
            try await c.run(
                "UPDATE metadef_namespaces SET namespace = ?, display_name = ?, description = ?, visibility = ?, "
                    + "protected = ?, owner = ?, created_at = ?, updated_at = ? WHERE namespace = ?",
                Self.values(ns) + [.text(name)])
        }
    }

    public func deleteMetadefNamespace(_ name: String) async throws -> Bool {
        try await db.withTransaction { c in
            try await c.run("DELETE FROM metadef_items WHERE namespace = ?", [.text(name)])
            return try await c.run("DELETE FROM metadef_namespaces WHERE namespace = ?", [.text(name)]) == 1
        }
    }

    public func metadefResourceTypes() async throws -> [MetadefResourceType] {
        try await db.read { c in
            try await c.query("SELECT name, created_at, updated_at FROM metadef_resource_types ORDER BY name").map {
                r in
                MetadefResourceType(
                    name: r.text(0) ?? "", createdAt: Timestamp(microseconds: r.int(1) ?? 0),
                    updatedAt: Timestamp(microseconds: r.int(2) ?? 0))
            }
        }
    }

    public func insertMetadefResourceType(_ t: MetadefResourceType) async throws {
        try await db.withTransaction { c in
            try await c.run(
                "INSERT INTO metadef_resource_types (name, created_at, updated_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                [.text(t.name), .int(t.createdAt.microseconds), .int(t.updatedAt.microseconds)])
        }
    }

    static var itemColumns: String { "namespace, kind, name, body, created_at, updated_at" }

    static func item(_ r: SQLRow) throws -> MetadefItem {
        guard let text = r.text(3), case .object(let body)? = try? JSONValue.parse(text),
            let kind = MetadefKind(rawValue: r.text(1) ?? "")
        else { throw MetadefDecodeError(namespace: r.text(0) ?? "", name: r.text(2) ?? "") }
        return MetadefItem(
            namespace: r.text(0) ?? "", kind: kind, name: r.text(2) ?? "", body: body,
            createdAt: Timestamp(microseconds: r.int(4) ?? 0), updatedAt: Timestamp(microseconds: r.int(5) ?? 0))
    }

    public func metadefItems(_ namespace: String, _ kind: MetadefKind) async throws -> [MetadefItem] {
        try await db.read { c in
            try await c.query(
                "SELECT \(Self.itemColumns) FROM metadef_items WHERE namespace = ? AND kind = ? ORDER BY created_at, name",
                [.text(namespace), .text(kind.rawValue)]
            ).map(Self.item)
        }
    }

    public func metadefItem(_ namespace: String, _ kind: MetadefKind, _ name: String) async throws -> MetadefItem? {
        try await db.read { c in
            try await c.query(
                "SELECT \(Self.itemColumns) FROM metadef_items WHERE namespace = ? AND kind = ? AND name = ?",
                [.text(namespace), .text(kind.rawValue), .text(name)]
            ).first.map(Self.item)
        }
    }

    public func insertMetadefItem(_ i: MetadefItem) async throws {
        try await db.withTransaction { c in
            try await c.run(
                "INSERT INTO metadef_items (\(Self.itemColumns)) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    .text(i.namespace), .text(i.kind.rawValue), .text(i.name),
                    .text(JSONValue.object(i.body).jsonString), .int(i.createdAt.microseconds),
                    .int(i.updatedAt.microseconds),
                ])
        }
    }

    public func updateMetadefItem(_ name: String, _ i: MetadefItem) async throws {
        try await db.withTransaction { c in
            try await c.run(
                "UPDATE metadef_items SET name = ?, body = ?, updated_at = ? WHERE namespace = ? AND kind = ? AND name = ?",
                [
                    .text(i.name), .text(JSONValue.object(i.body).jsonString), .int(i.updatedAt.microseconds),
                    .text(i.namespace), .text(i.kind.rawValue), .text(name),
                ])
        }
    }

    public func deleteMetadefItem(_ namespace: String, _ kind: MetadefKind, _ name: String) async throws -> Bool {
        try await db.withTransaction { c in
            try await c.run(
                "DELETE FROM metadef_items WHERE namespace = ? AND kind = ? AND name = ?",
                [.text(namespace), .text(kind.rawValue), .text(name)]) == 1
        }
    }

    public func deleteMetadefItems(_ namespace: String, _ kind: MetadefKind) async throws {
        try await db.withTransaction { c in
            try await c.run(
                "DELETE FROM metadef_items WHERE namespace = ? AND kind = ?",
                [.text(namespace), .text(kind.rawValue)])
        }
    }
}

/// A stored metadata definition that cannot be read back.
public struct MetadefDecodeError: Error, CustomStringConvertible {
    public let namespace: String
    public let name: String
    public var description: String { "metadata definition \(name) in namespace \(namespace) cannot be read" }
}
