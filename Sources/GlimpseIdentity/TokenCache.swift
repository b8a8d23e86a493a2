import GlimpseCore
import OpenStackEncoding
import Synchronization

/// Validated tokens kept in memory for a short while, so that most requests need no
/// identity lookup at all.
final class TokenCache: Sendable {
    private struct Entry {
        var info: TokenInfo
        var cachedAt: Timestamp
    }

    private let entries = Mutex<[String: Entry]>([:])
    private let ttlSeconds: Int64
    private let capacity: Int
    private let clock: any WallClock

    init(ttlSeconds: Int64, clock: any WallClock, capacity: Int = 20_000) {
        self.ttlSeconds = ttlSeconds
        self.clock = clock
        self.capacity = capacity
    }

    func get(_ hash: String) -> TokenInfo? {
        let now = clock.now()
        return entries.withLock { e in
            guard let entry = e[hash] else { return nil }
            if entry.cachedAt.adding(seconds: ttlSeconds) < now {
                e[hash] = nil
                return nil
            }
            return entry.info
        }
    }

    func put(_ hash: String, _ info: TokenInfo) {
        guard ttlSeconds > 0 else { return }
        let now = clock.now()
        entries.withLock { e in
            if e.count >= capacity {
                // Drop the expired entries; if that frees nothing, start over.
                e = e.filter { $0.value.cachedAt.adding(seconds: ttlSeconds) >= now }
                if e.count >= capacity { e.removeAll(keepingCapacity: true) }
            }
            e[hash] = Entry(info: info, cachedAt: now)
        }
    }

    func remove(_ hash: String) {
        _ = entries.withLock { $0.removeValue(forKey: hash) }
    }

    func removeAll() {
        entries.withLock { $0.removeAll() }
    }
}
