import CSQLite
import Dispatch
import GlimpseSQL
import Synchronization

/// An SQLite database in WAL mode: one writer connection behind an actor (writes queue
/// without blocking threads) and a pool of reader connections that read in parallel.
///
/// Reads run on the calling thread: they are short, indexed lookups. Writes are committed
/// with `synchronous=NORMAL`, the usual WAL setting: a crash of the process loses nothing,
/// a power cut may lose the last transactions but never corrupts the database.
/// Checkpoints, which copy the log into the database file and wait for the disk, run on a
/// background thread of their own rather than inside a commit (see `Checkpointer`).
public final class SQLiteDatabase: Sendable {
    public let path: String
    private let writer: Writer
    let checkpointer: Checkpointer
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
        checkpointer = try Checkpointer(path: path)
        checkpointer.attach(to: conn)
        writer = Writer(conn, checkpointer: checkpointer)
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
        /// Kept alive as long as the connection whose commits call it.
        let checkpointer: Checkpointer
        init(_ conn: SQLiteConnection, checkpointer: Checkpointer) {
            self.conn = conn
            self.checkpointer = checkpointer
        }

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

/// Keeps WAL checkpoints off the commit path.
///
/// SQLite's default checkpoints inside the commit that pushes the log past 1000 pages, so
/// that one write waits for the copy into the database file and its fsync. Here commits
/// only report the log's size; past `threshold` pages a passive checkpoint runs on a
/// dedicated queue, on its own connection, while writers and readers go on (a passive
/// checkpoint never blocks them). The log starts over once a checkpoint has copied all of
/// it, which under a steady stream of writes may not happen (new commits keep arriving
/// while a pass runs): past `inlineLimit` pages the commit checkpoints itself, as SQLite
/// would, but finds all but the newest pages already copied.
final class Checkpointer: @unchecked Sendable {
    let threshold: Int32
    let inlineLimit: Int32
    private let conn: SQLiteConnection
    private let queue = DispatchQueue(label: "glimpse.sqlite.checkpoint", qos: .utility)
    private let scheduled = Atomic<Bool>(false)
    private let completed = Atomic<Int>(0)
    /// Held while a checkpoint runs: SQLite runs one at a time and refuses a second.
    private let running = Mutex<Void>(())

    init(path: String, threshold: Int32 = 1000, inlineLimit: Int32 = 8000) throws {
        self.threshold = threshold
        self.inlineLimit = inlineLimit
        conn = try SQLiteConnection(path: path)
    }

    /// How many background checkpoints have run (for tests).
    var checkpointsRun: Int { completed.load(ordering: .acquiring) }

    /// Replaces `conn`'s automatic checkpoints with this checkpointer.
    func attach(to conn: SQLiteConnection) {
        let context = Unmanaged.passUnretained(self).toOpaque()
        sqlite3_wal_hook(conn.handle, { context, db, name, pages in
            guard let context else { return SQLITE_OK }
            let checkpointer = Unmanaged<Checkpointer>.fromOpaque(context).takeUnretainedValue()
            if pages >= checkpointer.inlineLimit {
                // After the background pass in progress, if any. (The commit itself has
                // succeeded whatever the checkpoint does.)
                checkpointer.running.withLock { _ in
                    _ = sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
                }
            } else if pages >= checkpointer.threshold {
                checkpointer.schedule()
            }
            return SQLITE_OK
        }, context)
    }

    private func schedule() {
        guard scheduled.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
        else { return }
        queue.async { [self] in
            scheduled.store(false, ordering: .releasing)
            // A failure (I/O) leaves the log as it is; the next commit asks again.
            running.withLock { _ in try? conn.execute("PRAGMA wal_checkpoint(PASSIVE)") }
            completed.add(1, ordering: .releasing)
        }
    }

    /// Waits for a scheduled checkpoint to finish.
    func drain() { queue.sync {} }
}
