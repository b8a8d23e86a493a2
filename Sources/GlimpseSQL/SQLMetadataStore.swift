import GlimpseCore
import OpenStackEncoding
import OpenStackJSON

/// The metadata store on an SQL database: images, members, upload leases, metadata
/// definitions and the built-in identity, in SQL that SQLite and PostgreSQL both run.
public final class SQLMetadataStore<Database: SQLDatabase>: Sendable {
    public let db: Database
    /// The schema, as ordered steps in the database's own dialect.
    let migrations: [String]
    /// The counts recent lists were planned by.
    let counts = RecentCounts()

    public init(_ db: Database, migrations: [String]) {
        self.db = db
        self.migrations = migrations
    }

    /// Thrown inside a transaction to roll it back and report "not applied".
    struct RolledBack: Error {}

    /// Runs a transaction that may decide to undo itself (by throwing `RolledBack`).
    func conditionally<T: Sendable>(
        _ body: @Sendable @escaping (any SQLConnection) async throws -> T?
    ) async throws -> T? {
        do {
            return try await db.withTransaction { c in
                guard let result = try await body(c) else { throw RolledBack() }
                return result
            }
        } catch is RolledBack {
            return nil
        }
    }
}

extension SQLMetadataStore: MetadataStore {
    public func migrate() async throws { try await db.migrate(migrations) }

    public func schemaStatus() async throws -> SchemaStatus {
        SchemaStatus(backend: db.backend, applied: try await db.schemaVersion(), known: migrations.count)
    }

    public func ping() async throws { _ = try await db.read { c in try await c.query("SELECT 1") } }

    public func withLock<T: Sendable>(
        _ name: String, wait: Bool, _ body: @Sendable () async throws -> T
    ) async throws -> T? { try await db.withLock(name, wait: wait, body) }

    public func close() async throws { try await db.close() }
}

// MARK: - Images

extension SQLMetadataStore: ImageStore {
    /// Rows per multi-row INSERT (well under both databases' limits on bound values).
    static var rowsPerInsert: Int { 300 }

    /// Inserts the rows of an image's side tables: its locations, and the tag and property
    /// rows that index it (with its creation time and visibility: `write` rewrites them).
    static func insertSideTables(_ image: Image, _ c: any SQLConnection) async throws {
        try await insertLocations(locationRows(image), c)
        try await insertTags(tagRows(image.tags, of: image), c)
        try await insertProperties(propertyRows(image.properties.members, of: image), c)
    }

    /// Inserts `rows` into `table` (`columns` is its column list, `suffix` ends each
    /// statement), `rowsPerInsert` rows a statement.
    static func insertRows(
        _ table: String, _ columns: String, _ rows: [[SQLValue]], suffix: String = "", _ c: any SQLConnection
    ) async throws {
        for chunk in stride(from: 0, to: rows.count, by: rowsPerInsert) {
            var s = SQLStatement("INSERT INTO \(table) (\(columns)) VALUES ")
            for (i, row) in rows[chunk..<min(chunk + rowsPerInsert, rows.count)].enumerated() {
                s.append(i == 0 ? "" : ", ")
                s.bindList(row)
            }
            s.append(suffix)
            try await c.run(s)
        }
    }

    /// The `image_locations` rows of an image, the `image_tags` rows of `tags` and the
    /// `image_properties` rows of `properties`, for the `insert…` functions below.
    static func locationRows(_ image: Image) -> [[SQLValue]] {
        image.locations.enumerated().map { i, l in
            [
                .text(image.id), .int(i), .text(l.storeId), .text(l.location),
                .optional(l.metadata.isEmpty ? nil : JSONValue.object(l.metadata).jsonString),
            ]
        }
    }

    static func tagRows(_ tags: [String], of image: Image) -> [[SQLValue]] {
        tags.map { [.text(image.id), .text($0), .int(image.createdAt.microseconds), .text(image.visibility.rawValue)] }
    }

    static func propertyRows(_ properties: [JSONObject.Member], of image: Image) -> [[SQLValue]] {
        properties.map {
            [
                .text(image.id), .text($0.key), .text(ImageTable.indexText($0.value)),
                .int(image.createdAt.microseconds), .text(image.visibility.rawValue),
            ]
        }
    }

    static func insertLocations(_ rows: [[SQLValue]], _ c: any SQLConnection) async throws {
        try await insertRows("image_locations", "image_id, position, store_id, location, metadata", rows, c)
    }

    static func insertTags(_ rows: [[SQLValue]], _ c: any SQLConnection) async throws {
        try await insertRows(
            "image_tags", "image_id, tag, created_at, visibility", rows, suffix: " ON CONFLICT DO NOTHING", c)
    }

    static func insertProperties(_ rows: [[SQLValue]], _ c: any SQLConnection) async throws {
        try await insertRows("image_properties", "image_id, name, value, created_at, visibility", rows, c)
    }

    /// Deletes the rows of side table `table` whose `column` is one of `keys`.
    static func deleteSideRows(
        _ table: String, _ column: String, _ keys: [String], of image: Image, _ c: any SQLConnection
    ) async throws {
        for chunk in stride(from: 0, to: keys.count, by: rowsPerInsert) {
            var s = SQLStatement("DELETE FROM \(table) WHERE image_id = ")
            s.bind(.text(image.id))
            s.append(" AND \(column) IN ")
            s.bindList(keys[chunk..<min(chunk + rowsPerInsert, keys.count)].map { .text($0) })
            try await c.run(s)
        }
    }

    static func insert(_ image: Image, _ c: any SQLConnection) async throws {
        try await c.run(ImageTable.insertSQL, ImageTable.values(of: image))
        try await insertSideTables(image, c)
        try await ImageBlocks.widen(image, c)
    }

    /// Writes the image if the stored one is still at its revision; returns the saved image.
    ///
    /// Only what changed is written: the columns whose values differ (an index none of whose
    /// columns is set is left alone), and the location, tag and property rows added, changed
    /// or removed. A PATCH then dirties a few pages of the database, not one in every index.
    static func write(_ image: Image, _ c: any SQLConnection) async throws -> Image? {
        guard
            let row = try await c.query(
                ImageTable.selectLiveByIdSQL + " AND i.revision = ?", [.text(image.id), .int(image.revision)]
            ).first
        else { return nil }
        guard let stored = try await withLocations([ImageTable.decode(row)], c).first else { return nil }
        let before = ImageTable.values(of: stored)
        let after = ImageTable.values(of: image)
        var s = SQLStatement("UPDATE images SET revision = revision + 1")
        for (k, column) in ImageTable.columns.enumerated()
        where column != "id" && column != "revision" && before[k] != after[k] {
            s.append(", \(column) = ")
            s.bind(after[k])
        }
        s.append(" WHERE id = ")
        s.bind(.text(image.id))
        s.append(" AND revision = ")
        s.bind(.int(image.revision))
        guard try await c.run(s) == 1 else { return nil }
        try await writeSideTables(from: stored, to: image, c)
        // Its block's summary holds the stored values already.
        if image.updatedAt != stored.updatedAt || image.name != stored.name
            || ImageBlocks.ranged.contains(where: {
                image.number($0) != stored.number($0)
            })
        {
            try await ImageBlocks.widen(image, c)
        }
        var saved = image
        saved.revision += 1
        return saved
    }

    /// Brings the side tables of `old` to what `new` needs.
    static func writeSideTables(from old: Image, to new: Image, _ c: any SQLConnection) async throws {
        if old.locations != new.locations {
            try await c.run("DELETE FROM image_locations WHERE image_id = ?", [.text(new.id)])
            try await insertLocations(locationRows(new), c)
        }
        if old.visibility != new.visibility || old.createdAt != new.createdAt {
            // Every tag and property row carries both.
            for table in ["image_tags", "image_properties"] {
                try await c.run("DELETE FROM \(table) WHERE image_id = ?", [.text(new.id)])
            }
            try await insertTags(tagRows(new.tags, of: new), c)
            try await insertProperties(propertyRows(new.properties.members, of: new), c)
            return
        }
        let oldTags = Set(old.tags)
        let newTags = Set(new.tags)
        try await deleteSideRows("image_tags", "tag", old.tags.filter { !newTags.contains($0) }, of: new, c)
        try await insertTags(tagRows(new.tags.filter { !oldTags.contains($0) }, of: new), c)
        let oldValues = Dictionary(
            uniqueKeysWithValues: old.properties.members.map { ($0.key, ImageTable.indexText($0.value)) })
        let newValues = Dictionary(
            uniqueKeysWithValues: new.properties.members.map { ($0.key, ImageTable.indexText($0.value)) })
        // A changed value is a row removed and one added (its index entry moves).
        let gone = oldValues.keys.filter { newValues[$0] != oldValues[$0] }
        try await deleteSideRows("image_properties", "name", gone.sorted(), of: new, c)
        try await insertProperties(
            propertyRows(new.properties.members.filter { oldValues[$0.key] != newValues[$0.key] }, of: new), c)
    }

    /// The images with their locations, read in the same transaction as the rows.
    static func withLocations(_ images: [Image], _ c: any SQLConnection) async throws -> [Image] {
        guard !images.isEmpty else { return images }
        var s = SQLStatement("SELECT image_id, store_id, location, metadata FROM image_locations WHERE image_id IN ")
        s.bindList(images.map { .text($0.id) })
        s.append(" ORDER BY image_id, position")
        var locations: [String: [ImageLocation]] = [:]
        for r in try await c.query(s) {
            locations[r.text(0) ?? "", default: []].append(
                ImageLocation(
                    storeId: r.text(1) ?? "", location: r.text(2) ?? "",
                    metadata: r.text(3).flatMap { try? JSONValue.parse($0).objectValue } ?? JSONObject()))
        }
        return images.map { image in
            var image = image
            image.locations = locations[image.id] ?? []
            return image
        }
    }

    /// The first row `sql` selects, as an image with its locations.
    static func one(_ sql: String, _ binds: [SQLValue], _ c: any SQLConnection) async throws -> Image? {
        guard let image = try await c.query(sql, binds).first.map(ImageTable.decode) else { return nil }
        return try await withLocations([image], c).first
    }

    public func insertImage(_ image: Image) async throws {
        try await db.withTransaction { c in try await Self.insert(image, c) }
    }

    /// Inserts the images in one transaction, each table's rows a few hundred a statement.
    public func insertImages(_ images: [Image]) async throws {
        try await db.withTransaction { c in
            try await Self.insertRows(
                "images", ImageTable.columns.joined(separator: ", "), images.map(ImageTable.values), c)
            try await Self.insertLocations(images.flatMap(Self.locationRows), c)
            try await Self.insertTags(images.flatMap { Self.tagRows($0.tags, of: $0) }, c)
            try await Self.insertProperties(images.flatMap { Self.propertyRows($0.properties.members, of: $0) }, c)
            // Read after the rows are in: on PostgreSQL no block can be sealed over them until
            // this transaction ends (`ImageBlocks.seal`), on SQLite no other write runs.
            let lastBlock = try await c.query("SELECT MAX(last_created) FROM image_blocks").first?.int(0)
            guard let lastBlock else { return }
            for image in images where image.createdAt.microseconds <= lastBlock {
                try await ImageBlocks.widen(image, c)
            }
        }
    }

    public func image(id: String) async throws -> Image? {
        try await db.read { c in try await Self.one(ImageTable.selectLiveByIdSQL, [.text(id)], c) }
    }

    public func imageIncludingDeleted(id: String) async throws -> Image? {
        try await db.read { c in try await Self.one(ImageTable.selectByIdSQL, [.text(id)], c) }
    }

    public func updateImage(_ image: Image) async throws -> Image? {
        try await conditionally { c in try await Self.write(image, c) }
    }

    public func markDeleted(id: String, at: Timestamp) async throws -> Bool {
        try await db.withTransaction { c in
            let n = try await c.run(
                "UPDATE images SET status = 'deleted', deleted_at = ?, updated_at = ?, revision = revision + 1 "
                    + "WHERE id = ? AND deleted_at IS NULL",
                [.int(at.microseconds), .int(at.microseconds), .text(id)])
            guard n == 1 else { return false }
            try await c.run("DELETE FROM image_members WHERE image_id = ?", [.text(id)])
            try await c.run("DELETE FROM upload_leases WHERE image_id = ?", [.text(id)])
            return true
        }
    }

    public func listImages(_ query: ImageListQuery) async throws -> [Image] {
        try await db.read { c in
            let plan = try await Self.plan(query, backend: db.backend, c, counts: counts)
            let inOrder = try await ImageBlocks.pageInOrder(query, plan: plan, c) { q, range in
                try await c.query(
                    ImageQueryBuilder.select(
                        q, plan: plan, createdWithin: range, readThenSort: db.backend == "postgresql")
                ).map(ImageTable.decode)
            }
            if let inOrder { return try await Self.withLocations(inOrder, c) }
            let blocks = try await ImageBlocks.ranges(query, plan: plan, c)
            return try await Self.withLocations(Self.page(query, plan: plan, blocks: blocks, c), c)
        }
    }

    /// A page as `plan` reads it; with `blocks`, through those creation-time ranges in turn
    /// until it is full (`ImageBlocks.ranges`).
    static func page(
        _ query: ImageListQuery, plan: ImageQueryBuilder.ListPlan, blocks: ImageBlocks.Ranges?,
        _ c: any SQLConnection
    ) async throws -> [Image] {
        guard var blocks else {
            return try await c.query(ImageQueryBuilder.select(query, plan: plan)).map(ImageTable.decode)
        }
        var rows: [SQLRow] = []
        var rest = query
        while rows.count < query.limit, let range = try await blocks.next(c) {
            rest.limit = query.limit - rows.count
            rows += try await c.query(ImageQueryBuilder.select(rest, plan: plan, createdWithin: range))
        }
        return try rows.map(ImageTable.decode)
    }

    public func summarizeImages() async throws -> Int {
        var sealed = 0
        while try await db.withTransaction({ c in try await ImageBlocks.seal(c, backend: db.backend) }) {
            sealed += 1
        }
        return sealed
    }

    /// The plan of a list, from the counts it depends on (`ImageQueryBuilder.probes`), each
    /// read through an index and stopped at the cap, or taken from `counts` while recent.
    static func plan(
        _ query: ImageListQuery, backend: String, _ c: any SQLConnection, counts: RecentCounts? = nil
    ) async throws -> ImageQueryBuilder.ListPlan {
        var plan = ImageQueryBuilder.ListPlan()
        let probes = ImageQueryBuilder.probes(query, plannerCounts: backend == "postgresql")
        guard !probes.isEmpty else { return plan }
        let size = try await c.query(ImageQueryBuilder.catalogSizeEstimate(backend: backend)).first?.int(0) ?? 0
        let cap = ImageQueryBuilder.probeCap(limit: query.limit, catalogSize: Int(size))
        for probe in probes {
            var reached = counts?.reaches(probe.rows, cap: cap)
            if reached == nil {
                let count = Int(try await c.query(probe.statement(cap: cap)).first?.int(0) ?? 0)
                counts?.record(probe.rows, count: count, cap: cap)
                reached = count >= cap
            }
            if reached == true { probe.apply(&plan) }
        }
        return plan
    }

    public func isMember(imageId: String, projectId: String) async throws -> Bool {
        try await db.read { c in
            try await !c.query(
                "SELECT 1 FROM image_members WHERE image_id = ? AND member = ?",
                [.text(imageId), .text(projectId)]
            ).isEmpty
        }
    }

    static var memberColumns: String { "image_id, member, status, created_at, updated_at" }

    static func member(_ r: SQLRow) -> ImageMember {
        ImageMember(
            imageId: r.text(0) ?? "", memberId: r.text(1) ?? "",
            status: MemberStatus(rawValue: r.text(2) ?? "") ?? .pending,
            createdAt: Timestamp(microseconds: r.int(3) ?? 0), updatedAt: Timestamp(microseconds: r.int(4) ?? 0))
    }

    public func members(imageId: String) async throws -> [ImageMember] {
        try await db.read { c in
            try await c.query(
                "SELECT \(Self.memberColumns) FROM image_members WHERE image_id = ? ORDER BY created_at, member",
                [.text(imageId)]
            ).map(Self.member)
        }
    }

    public func member(imageId: String, memberId: String) async throws -> ImageMember? {
        try await db.read { c in
            try await c.query(
                "SELECT \(Self.memberColumns) FROM image_members WHERE image_id = ? AND member = ?",
                [.text(imageId), .text(memberId)]
            ).first.map(Self.member)
        }
    }

    public func insertMember(_ m: ImageMember) async throws {
        try await db.withTransaction { c in
            try await c.run(
                "INSERT INTO image_members (\(Self.memberColumns)) VALUES (?, ?, ?, ?, ?)",
                [
                    .text(m.imageId), .text(m.memberId), .text(m.status.rawValue),
                    .int(m.createdAt.microseconds), .int(m.updatedAt.microseconds),
                ])
        }
    }

    public func updateMember(_ m: ImageMember) async throws -> Bool {
        try await db.withTransaction { c in
            try await c.run(
                "UPDATE image_members SET status = ?, updated_at = ? WHERE image_id = ? AND member = ?",
                [
                    .text(m.status.rawValue), .int(m.updatedAt.microseconds), .text(m.imageId),
                    .text(m.memberId),
                ]) == 1
        }
    }

    public func deleteMember(imageId: String, memberId: String) async throws -> Bool {
        try await db.withTransaction { c in
            try await c.run(
                "DELETE FROM image_members WHERE image_id = ? AND member = ?",
                [.text(imageId), .text(memberId)]) == 1
        }
    }

    /// Images, bytes, uploads and staged bytes of a project, as Glance counts them: an image
    /// being copied to more stores (copy-image) counts as an upload too.
    public func usage(owner: String) async throws -> ImageUsage {
        try await db.read { c in
            let rows = try await c.query(
                """
                SELECT COUNT(*),
                CAST(COALESCE(SUM(CASE WHEN EXISTS (SELECT 1 FROM image_locations l WHERE l.image_id = images.id)
                    THEN size ELSE 0 END), 0) AS BIGINT),
                CAST(COALESCE(SUM(CASE WHEN status IN ('saving', 'uploading', 'importing') THEN 1 ELSE 0 END), 0) AS BIGINT),
                CAST(COALESCE(SUM(CASE WHEN status IN ('uploading', 'importing') AND EXISTS
                    (SELECT 1 FROM image_locations l WHERE l.image_id = images.id) THEN size ELSE 0 END), 0) AS BIGINT),
                (SELECT COUNT(*) FROM image_properties p JOIN images c ON c.id = p.image_id
                    WHERE p.name = 'os_glance_importing_to_stores' AND p.value <> '' AND c.owner = ?
                    AND c.deleted_at IS NULL AND c.status NOT IN ('saving', 'uploading', 'importing', 'killed'))
                FROM images WHERE owner = ? AND deleted_at IS NULL
                """, [.text(owner), .text(owner)])
            guard let r = rows.first else { return ImageUsage(images: 0, bytes: 0, uploading: 0) }
            return ImageUsage(
                images: Int(r.int(0) ?? 0), bytes: Int(r.int(1) ?? 0),
                uploading: Int(r.int(2) ?? 0) + Int(r.int(4) ?? 0), staged: Int(r.int(3) ?? 0))
        }
    }

    public func deletedImages(before: Timestamp, limit: Int) async throws -> [Image] {
        try await db.read { c in
            try await Self.withLocations(
                c.query(
                    "SELECT \(ImageTable.selectList) FROM images i WHERE i.deleted_at IS NOT NULL AND i.deleted_at < ? "
                        + "ORDER BY i.deleted_at LIMIT ?", [.int(before.microseconds), .int(limit)]
                ).map(ImageTable.decode), c)
        }
    }

    public func purge(ids: [String]) async throws {
        guard !ids.isEmpty else { return }
        try await db.withTransaction { c in
            var s = SQLStatement("DELETE FROM images WHERE deleted_at IS NOT NULL AND id IN ")
            s.bindList(ids.map { .text($0) })
            try await c.run(s)
        }
    }

    public func referencedLocations(storeId: String, _ locations: [String]) async throws -> Set<String> {
        guard !locations.isEmpty else { return [] }
        var s = SQLStatement(
            "SELECT l.location FROM image_locations l JOIN images i ON i.id = l.image_id "
                + "WHERE i.deleted_at IS NULL AND l.store_id = ")
        s.bind(.text(storeId))
        s.append(" AND l.location IN ")
        s.bindList(locations.map { .text($0) })
        s.append(" UNION SELECT pending_location FROM upload_leases WHERE store_id = ")
        s.bind(.text(storeId))
        s.append(" AND pending_location IN ")
        s.bindList(locations.map { .text($0) })
        let statement = s
        return try await db.read { c in Set(try await c.query(statement).compactMap { $0.text(0) }) }
    }
}

// MARK: - Upload leases

extension SQLMetadataStore {
    static var leaseColumns: String { "image_id, owner, store_id, pending_location, expires_at, received, expected" }

    static func lease(_ r: SQLRow) -> UploadLease {
        UploadLease(
            imageId: r.text(0) ?? "", owner: r.text(1) ?? "", storeId: r.text(2) ?? "",
            pendingLocation: r.text(3) ?? "", expiresAt: Timestamp(microseconds: r.int(4) ?? 0),
            received: Int(r.int(5) ?? 0), expected: r.int(6).map(Int.init))
    }

    public func startUpload(_ image: Image, lease l: UploadLease) async throws -> Image? {
        try await conditionally { c in
            guard let saved = try await Self.write(image, c) else { return nil }
            try await Self.putLease(l, c)
            return saved
        }
    }

    /// Records `l` as the image's lease, replacing any other.
    static func putLease(_ l: UploadLease, _ c: any SQLConnection) async throws {
        try await c.run(
            "INSERT INTO upload_leases (\(Self.leaseColumns)) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (image_id) DO UPDATE SET "
                + "owner = excluded.owner, store_id = excluded.store_id, pending_location = excluded.pending_location, "
                + "expires_at = excluded.expires_at, received = excluded.received, expected = excluded.expected",
            [
                .text(l.imageId), .text(l.owner), .text(l.storeId), .text(l.pendingLocation),
                .int(l.expiresAt.microseconds), .int(l.received), .optional(l.expected),
            ])
    }

    public func renewLease(_ l: UploadLease) async throws -> Bool {
        try await db.withTransaction { c in
            try await c.run(
                "UPDATE upload_leases SET expires_at = ?, received = ? WHERE image_id = ? AND owner = ? AND pending_location = ?",
                [
                    .int(l.expiresAt.microseconds), .int(l.received), .text(l.imageId), .text(l.owner),
                    .text(l.pendingLocation),
                ]) == 1
        }
    }

    /// Drops the image's lease if it still is exactly `l`; whether it was.
    static func dropLease(_ l: UploadLease, _ c: any SQLConnection) async throws -> Bool {
        try await c.run(
            "DELETE FROM upload_leases WHERE image_id = ? AND owner = ? AND pending_location = ? AND expires_at = ?",
            [.text(l.imageId), .text(l.owner), .text(l.pendingLocation), .int(l.expiresAt.microseconds)]) == 1
    }

    public func endUpload(_ image: Image, lease l: UploadLease) async throws -> Image? {
        try await conditionally { c in
            guard try await Self.dropLease(l, c) else { return nil }
            return try await Self.write(image, c)
        }
    }

    public func handOverLease(_ image: Image, from l: UploadLease, to next: UploadLease) async throws -> Image? {
        try await conditionally { c in
            guard try await Self.dropLease(l, c), let saved = try await Self.write(image, c) else { return nil }
            try await Self.putLease(next, c)
            return saved
        }
    }

    public func uploadLeases(imageIds: [String]) async throws -> [UploadLease] {
        guard !imageIds.isEmpty else { return [] }
        var s = SQLStatement("SELECT \(Self.leaseColumns) FROM upload_leases WHERE image_id IN ")
        s.bindList(imageIds.map { .text($0) })
        let statement = s
        return try await db.read { c in try await c.query(statement).map(Self.lease) }
    }

    public func expiredLeases(now: Timestamp, limit: Int) async throws -> [UploadLease] {
        try await db.read { c in
            try await c.query(
                "SELECT \(Self.leaseColumns) FROM upload_leases WHERE expires_at < ? ORDER BY expires_at LIMIT ?",
                [.int(now.microseconds), .int(limit)]
            ).map(Self.lease)
        }
    }
}
