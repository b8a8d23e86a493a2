import GlimpseCore
import GlimpseSQL
import OpenStackJSON

extension SQLiteMetadataStore: MetadefStore {
    static let namespaceColumns = "namespace, display_name, description, visibility, protected, owner, created_at, updated_at"

    static func namespace(_ r: SQLiteConnection.Row) -> MetadefNamespace {
        MetadefNamespace(namespace: r.text(0) ?? "", displayName: r.text(1), description: r.text(2),
                         visibility: r.text(3) ?? "private", isProtected: r.int(4) == 1, owner: r.text(5),
                         createdAt: Timestamp(microseconds: r.int(6) ?? 0), updatedAt: Timestamp(microseconds: r.int(7) ?? 0))
    }

    static func values(_ ns: MetadefNamespace) -> [SQLValue] {
        [.text(ns.namespace), .optional(ns.displayName), .optional(ns.description), .text(ns.visibility), .bool(ns.isProtected),
         .optional(ns.owner), .int(ns.createdAt.microseconds), .int(ns.updatedAt.microseconds)]
    }

    public func metadefNamespaces() async throws -> [MetadefNamespace] {
        try db.read { try $0.query("SELECT \(Self.namespaceColumns) FROM metadef_namespaces ORDER BY namespace", [], Self.namespace) }
    }

    public func metadefNamespace(_ name: String) async throws -> MetadefNamespace? {
        try db.read { try $0.query("SELECT \(Self.namespaceColumns) FROM metadef_namespaces WHERE namespace = ?", [.text(name)], Self.namespace).first }
    }

    public func insertMetadefNamespace(_ ns: MetadefNamespace) async throws {
        try await db.write { c in
            try Self.duplicateAware {
                try c.run("INSERT INTO metadef_namespaces (\(Self.namespaceColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", Self.values(ns))
            }
        }
    }

    public func updateMetadefNamespace(_ name: String, _ ns: MetadefNamespace) async throws {
        try await db.write { c in
            try Self.duplicateAware {
                try c.run("""
                    UPDATE metadef_namespaces SET namespace = ?, display_name = ?, description = ?, visibility = ?, protected = ?,
                    owner = ?, created_at = ?, updated_at = ? WHERE namespace = ?
                    """, Self.values(ns) + [.text(name)])
            }
        }
    }

    public func deleteMetadefNamespace(_ name: String) async throws -> Bool {
        try await db.write { c in try c.run("DELETE FROM metadef_namespaces WHERE namespace = ?", [.text(name)]) == 1 }
    }

    public func metadefResourceTypes() async throws -> [MetadefResourceType] {
        try db.read {
            try $0.query("SELECT name, created_at, updated_at FROM metadef_resource_types ORDER BY name", []) { r in
                MetadefResourceType(name: r.text(0) ?? "", createdAt: Timestamp(microseconds: r.int(1) ?? 0),
                                    updatedAt: Timestamp(microseconds: r.int(2) ?? 0))
            }
        }
    }

    public func insertMetadefResourceType(_ t: MetadefResourceType) async throws {
        try await db.write { c in
            try c.run("INSERT OR IGNORE INTO metadef_resource_types (name, created_at, updated_at) VALUES (?, ?, ?)",
                      [.text(t.name), .int(t.createdAt.microseconds), .int(t.updatedAt.microseconds)])
        }
    }

    static func item(_ r: SQLiteConnection.Row) -> MetadefItem {
        var body = JSONObject()
        if let text = r.text(3), case .object(let o)? = try? JSONValue.parse(text) { body = o }
        return MetadefItem(namespace: r.text(0) ?? "", kind: MetadefKind(rawValue: r.text(1) ?? "") ?? .object, name: r.text(2) ?? "",
                           body: body, createdAt: Timestamp(microseconds: r.int(4) ?? 0), updatedAt: Timestamp(microseconds: r.int(5) ?? 0))
    }

    static let itemColumns = "namespace, kind, name, body, created_at, updated_at"

    public func metadefItems(_ namespace: String, _ kind: MetadefKind) async throws -> [MetadefItem] {
        try db.read {
            try $0.query("SELECT \(Self.itemColumns) FROM metadef_items WHERE namespace = ? AND kind = ? ORDER BY created_at, name",
                         [.text(namespace), .text(kind.rawValue)], Self.item)
        }
    }

    public func metadefItem(_ namespace: String, _ kind: MetadefKind, _ name: String) async throws -> MetadefItem? {
        try db.read {
            try $0.query("SELECT \(Self.itemColumns) FROM metadef_items WHERE namespace = ? AND kind = ? AND name = ?",
                         [.text(namespace), .text(kind.rawValue), .text(name)], Self.item).first
        }
    }

    public func insertMetadefItem(_ i: MetadefItem) async throws {
        try await db.write { c in
            try Self.duplicateAware {
                try c.run("INSERT INTO metadef_items (\(Self.itemColumns)) VALUES (?, ?, ?, ?, ?, ?)",
                          [.text(i.namespace), .text(i.kind.rawValue), .text(i.name), .text(JSONValue.object(i.body).jsonString),
                           .int(i.createdAt.microseconds), .int(i.updatedAt.microseconds)])
            }
        }
    }

    public func updateMetadefItem(_ name: String, _ i: MetadefItem) async throws {
        try await db.write { c in
            try Self.duplicateAware {
                try c.run("UPDATE metadef_items SET name = ?, body = ?, updated_at = ? WHERE namespace = ? AND kind = ? AND name = ?",
                          [.text(i.name), .text(JSONValue.object(i.body).jsonString), .int(i.updatedAt.microseconds),
                           .text(i.namespace), .text(i.kind.rawValue), .text(name)])
            }
        }
    }

    public func deleteMetadefItem(_ namespace: String, _ kind: MetadefKind, _ name: String) async throws -> Bool {
        try await db.write { c in
            try c.run("DELETE FROM metadef_items WHERE namespace = ? AND kind = ? AND name = ?",
                      [.text(namespace), .text(kind.rawValue), .text(name)]) == 1
        }
    }

    public func deleteMetadefItems(_ namespace: String, _ kind: MetadefKind) async throws {
        try await db.write { c in
            try c.run("DELETE FROM metadef_items WHERE namespace = ? AND kind = ?", [.text(namespace), .text(kind.rawValue)])
        }
    }
}
