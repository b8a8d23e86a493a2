import GlimpseSQL
import Synchronization

/// An SQLite database in WAL mode: one writer connection behind an actor (writes queue
/// without blocking threads) and a pool of reader connections that read in parallel.
///
/// Reads run on the calling thread: they are short, indexed lookups. Writes are committed
/// with `synchronous=NORMAL`, the usual WAL setting: a crash of the process loses nothing,
/// a power cut may lose the last transactions but never corrupts the database.
public final class SQLiteDatabase: Sendable {
    public let path: String
    private let writer: Writer
    private let readers = Mutex<[SQLiteConnection]>([])
    private let maxIdleReaders = 8

    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    public init(path: String, migrations: [String]) throws {
        self.path = path
        let conn = try SQLiteConnection(path: path)
        try conn.execute("""
            PRAGMA journal_mode = WAL;
            PRAGMA synchronous = NORMAL;
            PRAGMA foreign_keys = ON;
            PRAGMA temp_store = MEMORY;
            PRAGMA cache_size = -8000;
            """)
        let version = try conn.scalar("PRAGMA user_version") ?? 0
        if version < Int64(migrations.count) {
            try conn.execute("BEGIN IMMEDIATE")
            do {
                for (i, m) in migrations.enumerated() where i >= Int(version) { try conn.execute(m) }
                try conn.execute("PRAGMA user_version = \(migrations.count)")
                try conn.execute("COMMIT")
            } catch {
                try? conn.execute("ROLLBACK")
                throw error
            }
        }
        writer = Writer(conn)
    }

    func makeReader() throws -> SQLiteConnection {
        let c = try SQLiteConnection(path: path)
        try c.execute("PRAGMA foreign_keys = ON; PRAGMA query_only = ON; PRAGMA cache_size = -2000;")
        return c
    }

    /// Runs read-only work on a pooled connection.
    func read<T>(_ body: (SQLiteConnection) throws -> T) throws -> T {
        let conn = try readers.withLock { $0.popLast() } ?? makeReader()
        defer {
            readers.withLock { pool in
                if pool.count < maxIdleReaders { pool.append(conn) }
            }
        }
        return try body(conn)
    }

    /// Runs `body` in one write transaction; it commits if `body` returns, rolls back if it throws.
    @discardableResult
    func write<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) throws -> T) async throws -> T {
        try await writer.transaction(body)
    }

    private actor Writer {
        let conn: SQLiteConnection
        init(_ conn: SQLiteConnection) { self.conn = conn }

        func transaction<T: Sendable>(_ body: @Sendable (SQLiteConnection) throws -> T) throws -> T {
            try conn.run("BEGIN IMMEDIATE")
            do {
                let result = try body(conn)
                try conn.run("COMMIT")
                return result
            } catch {
                _ = try? conn.run("ROLLBACK")
                throw error
            }
        }
    }
}
