import Synchronization

/// The counts lists were recently planned by (`ImageQueryBuilder.probes`), reused for a
/// while. A count that reaches its cap reads that many index rows (5,000 at 1,000,000
/// images); the pages of one listing, or a dashboard polling the same filter, would
/// otherwise pay it on every page. A count only chooses a plan: a stale one can make a page
/// slower for `lifetime`, never wrong.
final class RecentCounts: Sendable {
    private struct Entry {
        /// The rows counted, up to `cap`: all of them if fewer.
        var count: Int
        var cap: Int
        var at: ContinuousClock.Instant
    }

    private struct Key: Hashable {
        let sql: String
        let binds: [SQLValue]
    }

    private let entries = Mutex<[Key: Entry]>([:])
    let lifetime: Duration
    let capacity: Int

    init(lifetime: Duration = .seconds(30), capacity: Int = 4096) {
        self.lifetime = lifetime
        self.capacity = capacity
    }

    /// Whether `rows` number at least `cap`, if a count younger than `lifetime` tells.
    func reaches(_ rows: SQLStatement, cap: Int, now: ContinuousClock.Instant = .now) -> Bool? {
        entries.withLock { entries in
            guard let entry = entries[Key(sql: rows.sql, binds: rows.binds)], now - entry.at < lifetime else {
                return nil
            }
            if entry.count >= cap { return true }
            // Below its own cap the count was exact; at it, a higher cap is not known to be met.
            return entry.count < entry.cap ? false : nil
        }
    }

    /// Records a count of `rows` stopped at `cap`.
    func record(_ rows: SQLStatement, count: Int, cap: Int, now: ContinuousClock.Instant = .now) {
        entries.withLock { entries in
            if entries.count >= capacity {
                entries = entries.filter { now - $0.value.at < lifetime }
                if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            }
            entries[Key(sql: rows.sql, binds: rows.binds)] = Entry(count: count, cap: cap, at: now)
        }
    }
}
