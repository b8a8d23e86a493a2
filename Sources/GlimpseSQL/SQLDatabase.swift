/// A database the SQL stores run on: SQLite or PostgreSQL.
///
/// Work is handed in as closures that receive a connection, as postgres-nio's
/// `withTransaction` does: `read` for queries, `withTransaction` for changes that commit
/// together or not at all. The implementations keep blocking calls off Swift's cooperative
/// threads.
public protocol SQLDatabase: Sendable {
    /// Runs queries on a connection; `body` must not write.
    func read<T: Sendable>(_ body: @Sendable (any SQLConnection) async throws -> T) async throws -> T

    /// Runs `body` in one transaction: it commits if `body` returns and rolls back if it throws.
    @discardableResult
    func withTransaction<T: Sendable>(_ body: @Sendable (any SQLConnection) async throws -> T) async throws -> T

    /// The engine's name, as `SchemaStatus` reports it.
    var backend: String { get }

    /// Applies the schema steps (in the database's own dialect) not yet applied; processes
    /// migrating at once apply each step once.
    func migrate(_ migrations: [String]) async throws

    /// How many schema steps have been applied.
    func schemaVersion() async throws -> Int

    /// Runs `body` holding a lock no other process on this database holds at the same time
    /// (see `MetadataStore.withLock`).
    func withLock<T: Sendable>(_ name: String, wait: Bool, _ body: @Sendable () async throws -> T) async throws -> T?

    /// Finishes the work in progress and releases connections and threads.
    func close() async throws
}

/// A connection handed to a `read` or `withTransaction` closure.
///
/// A statement that breaks a UNIQUE or PRIMARY KEY constraint throws `StoreError.duplicate`.
public protocol SQLConnection: Sendable {
    /// Runs a statement and returns its rows.
    func query(_ statement: SQLStatement) async throws -> [SQLRow]
    /// Runs a statement that returns no rows; returns how many rows it changed.
    @discardableResult
    func run(_ statement: SQLStatement) async throws -> Int
}

extension SQLConnection {
    public func query(_ sql: String, _ binds: [SQLValue] = []) async throws -> [SQLRow] {
        try await query(SQLStatement(sql, binds))
    }

    @discardableResult
    public func run(_ sql: String, _ binds: [SQLValue] = []) async throws -> Int {
        try await run(SQLStatement(sql, binds))
    }
}
