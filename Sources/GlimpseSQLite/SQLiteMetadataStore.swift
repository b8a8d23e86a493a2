import GlimpseCore
import GlimpseSQL
import OpenStackJSON

/// The embedded metadata store: images, members and the built-in identity in one SQLite file.
public final class SQLiteMetadataStore: Sendable {
    let db: SQLiteDatabase
    let builder = ImageQueryBuilder(dialect: .sqlite)

    /// Opens or creates the database file at `path`.
    public init(path: String) throws {
        db = try SQLiteDatabase(path: path, migrations: Schema.migrations)
    }

    @discardableResult
    static func duplicateAware<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let e as SQLiteError where e.isUniqueViolation {
            throw StoreError.duplicate
        }
    }
}

// MARK: - Images

extension SQLiteMetadataStore: ImageStore {
    static let insertSQL = "INSERT INTO images (\(ImageTable.columns.joined(separator: ", "))) VALUES ("
        + Array(repeating: "?", count: ImageTable.columns.count).joined(separator: ", ") + ")"
    static let updateSQL = "UPDATE images SET "
        + ImageTable.columns.dropFirst().map { $0 == "revision" ? "revision = revision + 1" : "\($0) = ?" }.joined(separator: ", ")
        + " WHERE id = ? AND revision = ? AND deleted_at IS NULL"
    static let selectByIdSQL = "SELECT \(ImageTable.selectList) FROM images i WHERE i.id = ? AND i.deleted_at IS NULL"

    /// Rewrites the tag and property rows that index an image.
    static func writeSideTables(_ image: Image, _ c: SQLiteConnection, replacing: Bool) throws {
        if replacing {
            try c.run("DELETE FROM image_tags WHERE image_id = ?", [.text(image.id)])
            try c.run("DELETE FROM image_properties WHERE image_id = ?", [.text(image.id)])
        }
        for tag in image.tags {
            try c.run("INSERT OR IGNORE INTO image_tags (image_id, tag) VALUES (?, ?)", [.text(image.id), .text(tag)])
        }
        for p in image.properties {
            try c.run("INSERT OR REPLACE INTO image_properties (image_id, name, value) VALUES (?, ?, ?)",
                      [.text(image.id), .text(p.key), .text(ImageTable.indexText(p.value))])
        }
    }

    public func insertImage(_ image: Image) async throws {
        try await db.write { c in
            try Self.duplicateAware { try c.run(Self.insertSQL, ImageTable.values(of: image)) }
            try Self.writeSideTables(image, c, replacing: false)
        }
    }

    public func insertImages(_ images: [Image]) async throws {
        try await db.write { c in
            for image in images {
                try Self.duplicateAware { try c.run(Self.insertSQL, ImageTable.values(of: image)) }
                try Self.writeSideTables(image, c, replacing: false)
            }
        }
    }

    public func image(id: String) async throws -> Image? {
        try db.read { c in
            try c.query(Self.selectByIdSQL, [.text(id)]) { try ImageTable.decode($0.values()) }.first
        }
    }

    public func imageIncludingDeleted(id: String) async throws -> Image? {
        try db.read { c in
            try c.query("SELECT \(ImageTable.selectList) FROM images i WHERE i.id = ?", [.text(id)]) { try ImageTable.decode($0.values()) }.first
        }
    }

    public func updateImage(_ image: Image) async throws -> Image? {
        try await db.write { c in
            var values = Array(ImageTable.values(of: image).dropFirst().dropLast())
            values += [.text(image.id), .int(image.revision)]
            guard try c.run(Self.updateSQL, values) == 1 else { return nil }
            try Self.writeSideTables(image, c, replacing: true)
            var saved = image
            saved.revision += 1
            return saved
        }
    }

    public func markDeleted(id: String, at: Timestamp) async throws -> Bool {
        try await db.write { c in
            let n = try c.run(
                "UPDATE images SET status = 'deleted', deleted_at = ?, updated_at = ?, revision = revision + 1 WHERE id = ? AND deleted_at IS NULL",
                [.int(at.microseconds), .int(at.microseconds), .text(id)])
            guard n == 1 else { return false }
            try c.run("DELETE FROM image_members WHERE image_id = ?", [.text(id)])
            return true
        }
    }

    public func listImages(_ query: ImageListQuery) async throws -> [Image] {
        let statement = builder.select(query)
        return try db.read { c in
            try c.query(statement.sql, statement.binds) { try ImageTable.decode($0.values()) }
        }
    }

    public func isMember(imageId: String, projectId: String) async throws -> Bool {
        try db.read { c in
            try c.scalar("SELECT 1 FROM image_members WHERE image_id = ? AND member = ?", [.text(imageId), .text(projectId)]) != nil
        }
    }

    static func member(_ row: SQLiteConnection.Row) -> ImageMember {
        ImageMember(
            imageId: row.text(0) ?? "", memberId: row.text(1) ?? "",
            status: MemberStatus(rawValue: row.text(2) ?? "") ?? .pending,
            createdAt: Timestamp(microseconds: row.int(3) ?? 0), updatedAt: Timestamp(microseconds: row.int(4) ?? 0))
    }

    public func members(imageId: String) async throws -> [ImageMember] {
        try db.read { c in
            try c.query("SELECT image_id, member, status, created_at, updated_at FROM image_members WHERE image_id = ? ORDER BY created_at, member",
                        [.text(imageId)], Self.member)
        }
    }

    public func member(imageId: String, memberId: String) async throws -> ImageMember? {
        try db.read { c in
            try c.query("SELECT image_id, member, status, created_at, updated_at FROM image_members WHERE image_id = ? AND member = ?",
                        [.text(imageId), .text(memberId)], Self.member).first
        }
    }

    public func insertMember(_ m: ImageMember) async throws {
        try await db.write { c in
            try Self.duplicateAware {
                try c.run("INSERT INTO image_members (image_id, member, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                          [.text(m.imageId), .text(m.memberId), .text(m.status.rawValue),
                           .int(m.createdAt.microseconds), .int(m.updatedAt.microseconds)])
            }
        }
    }

    public func updateMember(_ m: ImageMember) async throws -> Bool {
        try await db.write { c in
            try c.run("UPDATE image_members SET status = ?, updated_at = ? WHERE image_id = ? AND member = ?",
                      [.text(m.status.rawValue), .int(m.updatedAt.microseconds), .text(m.imageId), .text(m.memberId)]) == 1
        }
    }

    public func deleteMember(imageId: String, memberId: String) async throws -> Bool {
        try await db.write { c in
            try c.run("DELETE FROM image_members WHERE image_id = ? AND member = ?", [.text(imageId), .text(memberId)]) == 1
        }
    }

    public func usage(owner: String) async throws -> ImageUsage {
        try db.read { c in
            try c.query(
                "SELECT COUNT(*), COALESCE(SUM(CASE WHEN location IS NOT NULL THEN size ELSE 0 END), 0), COALESCE(SUM(status IN ('saving', 'uploading', 'importing')), 0) FROM images WHERE owner = ? AND deleted_at IS NULL",
                [.text(owner)]
            ) { r in ImageUsage(images: Int(r.int(0) ?? 0), bytes: Int(r.int(1) ?? 0), uploading: Int(r.int(2) ?? 0)) }.first
                ?? ImageUsage(images: 0, bytes: 0, uploading: 0)
        }
    }

    public func recoverInterruptedUploads() async throws -> Int {
        try await db.write { c in
            try c.run("UPDATE images SET status = 'queued', revision = revision + 1 WHERE status = 'saving' AND deleted_at IS NULL")
        }
    }

    public func deletedImages(before: Timestamp, limit: Int) async throws -> [Image] {
        try db.read { c in
            try c.query("SELECT \(ImageTable.selectList) FROM images i WHERE i.deleted_at IS NOT NULL AND i.deleted_at < ? ORDER BY i.deleted_at LIMIT ?",
                        [.int(before.microseconds), .int(limit)]) { try ImageTable.decode($0.values()) }
        }
    }

    public func purge(ids: [String]) async throws {
        try await db.write { c in
            for id in ids { try c.run("DELETE FROM images WHERE id = ? AND deleted_at IS NOT NULL", [.text(id)]) }
        }
    }
}
