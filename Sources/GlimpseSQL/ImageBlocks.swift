import GlimpseCore
import OpenStackEncoding

/// Summaries of the catalog in creation order, a block of images at a time (zone maps), so
/// that a list in creation order with a range filter skips the images that cannot match.
///
/// A range on a column that follows the creation order (sizes that grew over the years,
/// `updated_at=lt:`) matches images far from the newest: walking the order passes all the
/// others first, and reading the matches to sort them reads every match. No B-tree answers
/// "the newest images below a size" without one or the other. A block covers the images
/// created after the previous block's last one, up to its own last, about `size` of them,
/// and keeps the least and greatest of each summarized column. A list walks the blocks whose
/// summaries admit a match and the images created since the last block, in order, and stops
/// when its page is full.
///
/// `seal` (a background job) adds a block once `size` images follow the last one. A write
/// that puts a value outside its block's summary widens it in the same transaction
/// (`widen`). Summaries never narrow: a deleted image's values stay, which can only make a
/// list walk a block it did not need.
enum ImageBlocks {
    /// Images per block.
    static let size = 1024

    /// The summarized columns, with the least and greatest of each in `min_<column>` and
    /// `max_<column>`; `updated_at` only grows, so only its least is kept.
    static let ranged: [ImageColumn] = [.size, .virtualSize, .minDisk, .minRam]

    static func value(_ column: ImageColumn, of image: Image) -> Int? {
        switch column {
        case .size: image.size
        case .virtualSize: image.virtualSize
        case .minDisk: image.minDisk
        case .minRam: image.minRam
        default: nil
        }
    }

    /// Widens the summary of the block that covers the image's creation time (if one does)
    /// to its values. Changes nothing, and writes no page, when they are inside it already:
    /// an image created after the last block, or one whose values are not new to its block.
    static func widen(_ image: Image, _ c: any SQLConnection) async throws {
        var s = SQLStatement("UPDATE image_blocks SET ")
        var outside = SQLStatement()
        for column in ranged {
            guard let v = value(column, of: image) else { continue }
            let (least, greatest) = ("min_\(column.rawValue)", "max_\(column.rawValue)")
            s.append("\(least) = CASE WHEN \(least) <= ")
            s.bind(.int(v))
            s.append(" THEN \(least) ELSE ")
            s.bind(.int(v))
            s.append(" END, \(greatest) = CASE WHEN \(greatest) >= ")
            s.bind(.int(v))
            s.append(" THEN \(greatest) ELSE ")
            s.bind(.int(v))
            s.append(" END, ")
            outside.append("\(least) IS NULL OR \(least) > ")
            outside.bind(.int(v))
            outside.append(" OR \(greatest) < ")
            outside.bind(.int(v))
            outside.append(" OR ")
        }
        let updated = SQLValue.int(image.updatedAt.microseconds)
        s.append("min_updated_at = CASE WHEN min_updated_at <= ")
        s.bind(updated)
        s.append(" THEN min_updated_at ELSE ")
        s.bind(updated)
        s.append(" END WHERE last_created = (SELECT MIN(last_created) FROM image_blocks WHERE last_created >= ")
        s.bind(.int(image.createdAt.microseconds))
        s.append(") AND after_created < ")
        s.bind(.int(image.createdAt.microseconds))
        s.append(" AND (")
        s.append(outside)
        s.append("min_updated_at > ")
        s.bind(updated)
        s.append(")")
        try await c.run(s)
    }

    /// Adds the next block if `size` live images follow the last one; returns whether it did.
    /// Run in a transaction: on PostgreSQL it first waits for the writes in progress and holds
    /// off new ones, so that every write either is summarized or sees the block and widens it.
    static func seal(_ c: any SQLConnection, backend: String) async throws -> Bool {
        if backend == "postgresql" { try await c.run("LOCK TABLE images IN SHARE MODE") }
        let last = try await c.query("SELECT seq, last_created FROM image_blocks ORDER BY seq DESC LIMIT 1").first
        let after = last?.int(1) ?? Int64.min
        guard
            let end = try await c.query(
                "SELECT created_at FROM images WHERE deleted_at IS NULL AND created_at > ? "
                    + "ORDER BY created_at, id LIMIT 1 OFFSET ?", [.int(after), .int(size - 1)]
            ).first?.int(0)
        else { return false }
        let summary = ranged.map { "MIN(\($0.rawValue)), MAX(\($0.rawValue))" }.joined(separator: ", ")
        guard
            let row = try await c.query(
                "SELECT \(summary), MIN(updated_at) FROM images WHERE deleted_at IS NULL "
                    + "AND created_at > ? AND created_at <= ?", [.int(after), .int(end)]
            ).first
        else { return false }
        let columns = ranged.map { "min_\($0.rawValue), max_\($0.rawValue)" }.joined(separator: ", ")
        var s = SQLStatement(
            "INSERT INTO image_blocks (seq, after_created, last_created, \(columns), min_updated_at) VALUES ")
        s.bindList([.int((last?.int(0) ?? 0) + 1), .int(after), .int(end)] + row.values)
        try await c.run(s)
        return true
    }

    /// The least and greatest column a condition needs a block to reach for it to hold a
    /// match, if the summaries can tell.
    static func admits(_ c: ImageCondition, to s: inout SQLStatement) -> Bool {
        switch c {
        case .atLeast(let column, let v) where ranged.contains(column):
            s.append(" AND max_\(column.rawValue) >= ")
            s.bind(.int(v))
        case .atMost(let column, let v) where ranged.contains(column):
            s.append(" AND min_\(column.rawValue) <= ")
            s.bind(.int(v))
        case .time(.updatedAt, let op, let t) where [.lt, .lte, .eq].contains(op):
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
        return admits(c, to: &s)
    }

    /// The creation-time ranges a list walks, in the order it lists them: the runs of
    /// consecutive blocks that may hold a match, and the images after the last block. Nil
    /// when the blocks cannot help: the order is not the creation time, or no range the
    /// summaries keep has many matches (few are cheaper read through the range's index and
    /// sorted), as the store's counts found (`ListPlan.commonConditions`).
    static func ranges(
        _ query: ImageListQuery, plan: ImageQueryBuilder.ListPlan, _ c: any SQLConnection
    ) async throws -> [ClosedRange<Int64>]? {
        guard let first = query.sort.first, first.column == .createdAt, !query.scope.includeDeleted else { return nil }
        var s = SQLStatement("SELECT seq, after_created, last_created FROM image_blocks WHERE 1 = 1")
        var helps = false
        for (k, condition) in query.conditions.enumerated() where admits(condition, to: &s) {
            helps = helps || plan.commonConditions.contains(k)
        }
        guard helps,
            let lastCreated = try await c.query("SELECT MAX(last_created) FROM image_blocks").first?.int(0)
        else { return nil }
        s.append(" ORDER BY seq")
        var runs: [(seq: Int64, range: ClosedRange<Int64>)] = []
        for row in try await c.query(s) {
            guard let seq = row.int(0), let after = row.int(1), let end = row.int(2) else { continue }
            if let run = runs.last, run.seq == seq - 1 {
                runs[runs.count - 1] = (seq, run.range.lowerBound...end)
            } else {
                runs.append((seq, (after + 1)...end))
            }
        }
        var ranges = runs.map(\.range) + [(lastCreated + 1)...Int64.max]
        if let marker = query.marker?.createdAt.microseconds {
            // The ranges wholly before the marker in the order list nothing after it.
            ranges.removeAll { first.ascending ? $0.upperBound < marker : $0.lowerBound > marker }
        }
        return first.ascending ? ranges : ranges.reversed()
    }
}
