import GlimpseCore
import OpenStackEncoding

/// Summaries of the catalog in creation order, a block of images at a time (zone maps), so
/// that a list with a range filter skips the images that cannot match.
///
/// A range on a column that follows the creation order (sizes that grew over the years,
/// `updated_at=lt:`) matches images far from the newest: walking the order passes all the
/// others first, and reading the matches to sort them reads every match. No B-tree answers
/// "the newest images below a size" without one or the other. A block covers the images
/// created after the previous block's last one, up to its own last, about `size` of them,
/// and keeps the least and greatest of each summarized column. A list in creation order
/// walks the blocks whose summaries admit a match and the images created since the last
/// block, in order, and stops when its page is full (`ranges`). A list by name or by update
/// time reads the blocks whose values come first in its order, until no block left can
/// hold one before the page's last (`pageInOrder`).
///
/// `seal` (a background job) adds a block once `size` images follow the last one. A write
/// that puts a value outside its block's summary widens it in the same transaction
/// (`widen`). Summaries never narrow: a deleted image's values stay, which can only make a
/// list walk a block it did not need.
enum ImageBlocks {
    /// Images per block.
    static let size = 1024

    /// The summarized numbers, with the least and greatest of each in `min_<column>` and
    /// `max_<column>`. Also kept: the least and greatest name (as sorted: a missing name as
    /// `''`) and `updated_at` (the greatest a write leaves may be up to a minute ahead:
    /// `latestUpdate`), and the number of images sealed.
    static let ranged: [ImageColumn] = [.size, .virtualSize, .minDisk, .minRam]

    /// Widens the summary of the block that covers the image's creation time (if one does)
    /// to its values. Changes nothing, and writes no page, when they are inside it already:
    /// an image created after the last block, or one whose values are not new to its block.
    static func widen(_ image: Image, _ c: any SQLConnection) async throws {
        var s = SQLStatement("UPDATE image_blocks SET ")
        var outside = SQLStatement("FALSE")
        // A summary column reaches `v` (the least down, the greatest up); `outside` holds
        // when `v` is beyond it.
        func reach(_ column: String, _ v: SQLValue, down: Bool) {
            if !outside.binds.isEmpty { s.append(", ") }
            s.append("\(column) = CASE WHEN \(column) \(down ? "<=" : ">=") ")
            s.bind(v)
            s.append(" THEN \(column) ELSE ")
            s.bind(v)
            s.append(" END")
            outside.append(" OR \(column) IS NULL OR \(column) \(down ? ">" : "<") ")
            outside.bind(v)
        }
        for column in ranged {
            guard let v = image.number(column) else { continue }
            reach("min_\(column.rawValue)", .int(v), down: true)
            reach("max_\(column.rawValue)", .int(v), down: false)
        }
        reach("min_name", .text(image.name ?? ""), down: true)
        reach("max_name", .text(image.name ?? ""), down: false)
        reach("min_updated_at", .int(image.updatedAt.microseconds), down: true)
        reach("max_updated_at", .int(latestUpdate(image.updatedAt)), down: false)
        s.append(" WHERE last_created = (SELECT MIN(last_created) FROM image_blocks WHERE last_created >= ")
        s.bind(.int(image.createdAt.microseconds))
        s.append(") AND after_created < ")
        s.bind(.int(image.createdAt.microseconds))
        s.append(" AND (")
        s.append(outside)
        s.append(")")
        try await c.run(s)
    }

    /// The greatest update time a write keeps for its block: the next whole minute, so that
    /// the writes to a block's images in the same minute change its summary once (on
    /// PostgreSQL, a write that changes it holds the block's row until it commits).
    static func latestUpdate(_ t: Timestamp) -> Int64 {
        let minute: Int64 = 60_000_000
        return (t.microseconds / minute + 1) * minute
    }

    /// Adds the next block if `size` live images follow the last one; returns whether it did.
    /// Run in a transaction: on PostgreSQL it first waits for the writes in progress and holds
    /// off new ones, so that every write either is summarized or sees the block and widens it.
    static func seal(_ c: any SQLConnection, backend: String) async throws -> Bool {
        // The last block, and the creation time that would end the next one.
        func next() async throws -> (seq: Int64, after: Int64, end: Int64)? {
            let last = try await c.query("SELECT seq, last_created FROM image_blocks ORDER BY seq DESC LIMIT 1").first
            let after = last?.int(1) ?? Int64.min
            guard
                let end = try await c.query(
                    "SELECT created_at FROM images WHERE deleted_at IS NULL AND created_at > ? "
                        + "ORDER BY created_at, id LIMIT 1 OFFSET ?", [.int(after), .int(size - 1)]
                ).first?.int(0)
            else { return nil }
            return ((last?.int(0) ?? 0) + 1, after, end)
        }
        // Checked before the lock, so that a run with nothing to seal holds off no write.
        guard try await next() != nil else { return false }
        if backend == "postgresql" { try await c.run("LOCK TABLE images IN SHARE MODE") }
        guard let (seq, after, end) = try await next() else { return false }
        let summary = ranged.map { "MIN(\($0.rawValue)), MAX(\($0.rawValue))" }.joined(separator: ", ")
        guard
            let row = try await c.query(
                "SELECT \(summary), MIN(COALESCE(name, '')), MAX(COALESCE(name, '')), MIN(updated_at), "
                    + "MAX(updated_at), COUNT(*) FROM images "
                    + "WHERE deleted_at IS NULL AND created_at > ? AND created_at <= ?",
                [.int(after), .int(end)]
            ).first
        else { return false }
        let columns = ranged.map { "min_\($0.rawValue), max_\($0.rawValue)" }.joined(separator: ", ")
        var s = SQLStatement(
            "INSERT INTO image_blocks (seq, after_created, last_created, \(columns), min_name, max_name, "
                + "min_updated_at, max_updated_at, images) VALUES ")
        s.bindList([.int(seq), .int(after), .int(end)] + row.values)
        try await c.run(s)
        return true
    }

    /// Appends what a block's summaries must meet for the block to hold a match of a
    /// condition (`every` false), or for every image in it with a value to match (`every`
    /// true). Returns false, appending nothing, when the summaries cannot tell.
    static func bound(_ c: ImageCondition, every: Bool = false, to s: inout SQLStatement) -> Bool {
        switch c {
        case .atLeast(let column, let v) where ranged.contains(column):
            s.append(" AND \(every ? "min" : "max")_\(column.rawValue) >= ")
            s.bind(.int(v))
        case .atMost(let column, let v) where ranged.contains(column):
            s.append(" AND \(every ? "max" : "min")_\(column.rawValue) <= ")
            s.bind(.int(v))
        case .time(.updatedAt, let op, let t) where !every && [.lt, .lte, .eq].contains(op):
            // At whole seconds, as `ImageQueryBuilder` compares.
            let second = Timestamp(seconds: t.seconds).microseconds
            s.append(" AND min_updated_at < ")
            s.bind(.int(op == .lt ? second : second + 1_000_000))
        default:
            return false
        }
        return true
    }

    /// Whether the summaries can rule blocks out for a condition.
    static func summarizes(_ c: ImageCondition) -> Bool {
        var s = SQLStatement()
        return bound(c, to: &s)
    }

    /// The creation-time ranges a list walks, in the order it lists them: the runs of
    /// consecutive blocks that may hold a match, and the images after the last block. Nil
    /// when the blocks cannot help: the order is not the creation time, or no range the
    /// summaries keep has many matches (few are cheaper read through the range's index and
    /// sorted), as the store's counts found (`ListPlan.commonConditions`).
    static func ranges(
        _ query: ImageListQuery, plan: ImageQueryBuilder.ListPlan, _ c: any SQLConnection
    ) async throws -> Ranges? {
        guard let first = query.sort.first, first.column == .createdAt, !query.scope.includeDeleted,
            query.conditions.indices.contains(where: {
                plan.commonConditions.contains($0) && summarizes(query.conditions[$0])
            }),
            let lastCreated = try await c.query("SELECT MAX(last_created) FROM image_blocks").first?.int(0)
        else { return nil }
        var s = SQLStatement("SELECT seq, after_created, last_created FROM image_blocks WHERE 1 = 1")
        for condition in query.conditions { _ = bound(condition, to: &s) }
        var tail: ClosedRange<Int64>? = (lastCreated + 1)...Int64.max
        if let marker = query.marker?.createdAt.microseconds {
            // The ranges wholly before the marker in the order list nothing after it.
            s.append(first.ascending ? " AND last_created >= " : " AND after_created < ")
            s.bind(.int(marker))
            if !first.ascending && marker <= lastCreated { tail = nil }
        }
        return Ranges(select: s, ascending: first.ascending, tail: tail)
    }

    /// The ranges of a list's walk (`ranges`), the blocks read from their summaries in the
    /// walk's order a batch at a time, so that a page that fills early reads few of them.
    struct Ranges {
        /// The blocks that may hold a match.
        let select: SQLStatement
        let ascending: Bool
        /// The images after the last block: walked first newest first, last oldest first.
        var tail: ClosedRange<Int64>?
        /// The ranges read and not yet walked, the next last.
        var pending: [ClosedRange<Int64>] = []
        /// The last block read, once one is.
        var cursor: Int64?
        /// Blocks the next read asks for: few at first, more each time.
        var batch = 16
        var blocksLeft = true

        /// The next range, or nil when the walk is over.
        mutating func next(_ c: any SQLConnection) async throws -> ClosedRange<Int64>? {
            if !ascending, let tail {
                self.tail = nil
                return tail
            }
            if pending.isEmpty && blocksLeft { try await read(c) }
            if let range = pending.popLast() { return range }
            defer { tail = nil }
            return tail
        }

        /// Reads the next batch of blocks into runs of consecutive ones.
        private mutating func read(_ c: any SQLConnection) async throws {
            var s = select
            if let cursor {
                s.append(ascending ? " AND seq > " : " AND seq < ")
                s.bind(.int(cursor))
            }
            s.append(" ORDER BY seq \(ascending ? "ASC" : "DESC") LIMIT \(batch)")
            let rows = try await c.query(s)
            blocksLeft = rows.count == batch
            batch = min(batch * 4, 1024)
            var runs: [(seq: Int64, range: ClosedRange<Int64>)] = []
            for row in rows {
                guard let seq = row.int(0), let after = row.int(1), let end = row.int(2) else { continue }
                cursor = seq
                let range = (after + 1)...end
                if let run = runs.last, run.seq == seq + (ascending ? -1 : 1) {
                    let merged =
                        ascending ? run.range.lowerBound...range.upperBound : range.lowerBound...run.range.upperBound
                    runs[runs.count - 1] = (seq, merged)
                } else {
                    runs.append((seq, range))
                }
            }
            pending = runs.map(\.range).reversed()
        }
    }

    /// The most blocks a page in summarized order (`pageInOrder`) reads.
    static let blocksPerPage = 8

    /// The orders each block keeps the least and greatest value of (its `min_` and `max_`
    /// columns), as images sort by them.
    static let summarizedOrders: [ImageColumn] = [.name, .updatedAt]

    /// A page of an admin's list sorted by name or by update time with ranges many images
    /// match, read from the blocks (`read` reads a page among the images created in a range):
    /// first the images after the last block, then the blocks that may match, the one whose
    /// values come first in the order first, until the page is full and no block left can
    /// hold a value before its last.
    ///
    /// Walking the order checks the ranges along the way, which passes every image before the
    /// first matches when the ranges follow the creation order (an image's size, its name and
    /// its last update all grow over the years). Nil (the list walks the order) unless every
    /// condition is a range the summaries keep, one with many matches
    /// (`ListPlan.commonConditions`), and the summaries show that at most `blocksPerPage`
    /// blocks can hold the page: the blocks whose every image matches fill it before the value
    /// of the last of them, and the block that comes next in the order starts after it. When
    /// the order does not follow the creation order (names given at random, old images updated
    /// often), every block may, and the walk is the cheaper plan.
    static func pageInOrder(
        _ query: ImageListQuery, plan: ImageQueryBuilder.ListPlan, _ c: any SQLConnection,
        read: (ImageListQuery, ClosedRange<Int64>) async throws -> [Image]
    ) async throws -> [Image]? {
        guard let first = query.sort.first, summarizedOrders.contains(first.column), query.scope.isAdmin,
            !query.scope.includeDeleted, case .default = query.scope.visibility, !query.conditions.isEmpty,
            query.conditions.indices.contains(where: plan.commonConditions.contains)
        else { return nil }
        let ascending = first.ascending
        // The end of each block the page comes from first, and the one it comes from last.
        let column = first.column.rawValue
        let (near, far) = ascending ? ("min_\(column)", "max_\(column)") : ("max_\(column)", "min_\(column)")
        var s = SQLStatement("SELECT after_created, last_created, \(near), \(far), images, CASE WHEN 1 = 1")
        var mayMatch = SQLStatement()
        for condition in query.conditions {
            guard bound(condition, every: true, to: &s), bound(condition, to: &mayMatch) else { return nil }
        }
        s.append(" THEN 1 ELSE 0 END FROM image_blocks WHERE 1 = 1")
        s.append(mayMatch)
        if let marker = query.marker {
            // The blocks wholly before the marker in the order hold nothing after it.
            s.append(" AND \(far) \(ascending ? ">=" : "<=") ")
            s.bind(ImageQueryBuilder.sortValue(first.column, of: marker))
        }
        // The blocks the page may come from, in its order, and the one after them.
        s.append(" ORDER BY \(near) \(ascending ? "ASC" : "DESC") LIMIT \(blocksPerPage + 1)")
        struct Block {
            var range: ClosedRange<Int64>
            var near: SortValue
            var far: SortValue
            var images: Int64
            var full: Bool
        }
        func value(_ r: SQLRow, _ k: Int) -> SortValue {
            first.column == .name ? .text(r.text(k) ?? "") : .number(r.int(k) ?? 0)
        }
        func before(_ a: SortValue, _ b: SortValue) -> Bool { ascending ? a < b : b < a }
        let blocks = try await c.query(s).map { r in
            Block(
                range: ((r.int(0) ?? Int64.min) + 1)...(r.int(1) ?? Int64.max), near: value(r, 2), far: value(r, 3),
                images: r.int(4) ?? 0, full: r.int(5) == 1)
        }.sorted { before($0.near, $1.near) }
        // A value the page cannot end after: the far end of the full blocks that fill it.
        var filled: Int64 = 0
        var bound: SortValue?
        for b in blocks.filter(\.full).sorted(by: { before($0.far, $1.far) }) {
            filled += b.images
            if filled >= query.limit {
                bound = b.far
                break
            }
        }
        guard let bound, blocks.count <= blocksPerPage || before(bound, blocks[blocksPerPage].near),
            let lastCreated = try await c.query("SELECT MAX(last_created) FROM image_blocks").first?.int(0)
        else { return nil }
        var page = try await read(query, (lastCreated + 1)...Int64.max)
        for (reads, b) in blocks.enumerated() {
            if page.count >= query.limit, before(page[query.limit - 1].sortValue(first.column), b.near) { break }
            if reads == blocksPerPage { return nil }
            page = Array(
                (page + (try await read(query, b.range))).sorted { SortKey.precedes($0, $1, in: query.sort) }
                    .prefix(query.limit))
        }
        return page
    }
}
