import GlimpseCore
import GlimpseSQL
import Logging
import NIOCore
import OpenStackEncoding
import PostgresNIO
import _ConnectionPoolModule

/// A PostgreSQL database, reached through a pool of connections (postgres-nio's
/// `PostgresClient`) that any number of Glimpse processes share.
///
/// The client's pool runs in a task the database owns from `init` to `close()`, so that a
/// server, an admin command and a test open and close it alike. Transactions run at READ
/// COMMITTED: a write conditioned on a row's revision waits for a concurrent writer of that
/// row, then finds the revision changed and updates nothing, so of two writers on one
/// revision exactly one wins. A transaction that deadlocks is retried.
public final class PostgresDatabase: SQLDatabase {
    let client: PostgresClient
    let logger: Logger
    /// Mixed into advisory-lock keys, so that deployments sharing a server (or tests sharing
    /// a database in schemas of their own) do not share locks.
    let lockNamespace: String
    private let running: Task<Void, Never>

    public var backend: String { "postgresql" }

    /// Opens a pool of connections with `settings`; the first connection is made by the
    /// first query.
    public init(_ settings: PostgresSettings, logger: Logger) throws {
        client = PostgresClient(configuration: try settings.clientConfiguration(), backgroundLogger: logger)
        self.logger = logger
        lockNamespace = "\(settings.database)/\(settings.schema ?? "")"
        running = Task { [client] in await client.run() }
    }

    public func read<T: Sendable>(_ body: @Sendable (any SQLConnection) async throws -> T) async throws -> T {
        try await withConnection { c in try await body(c) }
    }

    @discardableResult
    public func withTransaction<T: Sendable>(_ body: @Sendable (any SQLConnection) async throws -> T) async throws -> T
    {
        var attempt = 1
        while true {
            do {
                return try await withConnection { c in try await Self.transaction(on: c) { c in try await body(c) } }
            } catch let error as PostgresError where attempt < 3 && error.isRetryable {
                attempt += 1
            }
        }
    }

    /// Leases a connection for `body`; postgres-nio's errors come out as `PostgresError`.
    func withConnection<T: Sendable>(_ body: (PostgresSQLConnection) async throws -> T) async throws -> T {
        do {
            return try await client.withConnection { connection in
                try await body(PostgresSQLConnection(connection: connection, logger: logger))
            }
        } catch let error as PSQLError {
            throw PostgresError.mapped(error)
        } catch let error as ConnectionPoolError {
            // No connection could be made for a while (the pool's circuit breaker).
            throw StoreError.unavailable("PostgreSQL unreachable: \(error)")
        }
    }

    /// BEGIN, `body`, COMMIT; ROLLBACK if `body` throws, which then rethrows `body`'s error
    /// as it is (postgres-nio's own `withTransaction` wraps it).
    static func transaction<T: Sendable>(
        on c: PostgresSQLConnection, _ body: @Sendable (any SQLConnection) async throws -> T
    ) async throws -> T {
        try await c.run("BEGIN")
        do {
            let result = try await body(c)
            try await c.run("COMMIT")
            return result
        } catch {
            _ = try? await c.run("ROLLBACK")
            throw error
        }
    }

    /// Applies the migrations not yet applied, in one transaction that holds an advisory
    /// lock: nodes starting at once take turns, and each later one finds the work done.
    public func migrate(_ migrations: [String]) async throws {
        let key = lockKey("migrate")
        try await withConnection { c in
            try await Self.transaction(on: c) { _ in try await Self.migrate(migrations, on: c, lockKey: key) }
        }
    }

    /// The oldest server the schema runs on (`server_version_num`): statistics on
    /// expressions came with PostgreSQL 14.
    static let minimumServerVersion = 140000

    static func migrate(_ migrations: [String], on c: PostgresSQLConnection, lockKey key: Int64) async throws {
        _ = try await c.query("SELECT pg_advisory_xact_lock(?)", [.int(key)])
        let version = Int(try await c.query("SELECT current_setting('server_version_num')::int").first?.int(0) ?? 0)
        guard version >= minimumServerVersion else {
            throw PostgresError(
                sqlState: nil, description: "Glimpse needs PostgreSQL 14 or newer; the server is \(version / 10000)")
        }
        try await c.run(
            "CREATE TABLE IF NOT EXISTS glimpse_schema (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)")
        let applied = Int(try await c.query("SELECT COALESCE(MAX(version), 0) FROM glimpse_schema").first?.int(0) ?? 0)
        for (i, step) in migrations.enumerated() where i >= applied {
            try await c.runScript(step)
            try await c.run(
                "INSERT INTO glimpse_schema (version, applied_at) VALUES (?, ?)",
                [.int(i + 1), .int(Timestamp.now().microseconds)])
        }
    }

    public func schemaVersion() async throws -> Int {
        try await read { c in
            let exists = try await c.query("SELECT to_regclass('glimpse_schema') IS NOT NULL").first?.bool(0) ?? false
            guard exists else { return 0 }
            return Int(try await c.query("SELECT COALESCE(MAX(version), 0) FROM glimpse_schema").first?.int(0) ?? 0)
        }
    }

    /// A session-level advisory lock, held on a connection of its own for as long as `body`
    /// runs. If the process dies, PostgreSQL ends the session and the lock with it.
    public func withLock<T: Sendable>(
        _ name: String, wait: Bool, _ body: @Sendable () async throws -> T
    ) async throws -> T? {
        let key = lockKey(name)
        return try await withConnection { c in
            if wait {
                _ = try await c.query("SELECT pg_advisory_lock(?)", [.int(key)])
            } else {
                guard try await c.query("SELECT pg_try_advisory_lock(?)", [.int(key)]).first?.bool(0) == true else {
                    return nil
                }
            }
            do {
                let result = try await body()
                _ = try await c.query("SELECT pg_advisory_unlock(?)", [.int(key)])
                return result
            } catch {
                _ = try? await c.query("SELECT pg_advisory_unlock(?)", [.int(key)])
                throw error
            }
        }
    }

    /// A 64-bit key for an advisory lock: FNV-1a of the namespace and the name.
    func lockKey(_ name: String) -> Int64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in "glimpse/\(lockNamespace)/\(name)".utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }
        return Int64(bitPattern: hash)
    }

    /// Closes the pool's connections.
    public func close() async throws {
        running.cancel()
        await running.value
    }
}

/// A leased connection, as the SQL stores see it: `?` placeholders become `$1`, `$2`… and
/// rows come back as `SQLValue`s.
struct PostgresSQLConnection: SQLConnection {
    let connection: PostgresConnection
    let logger: Logger

    func query(_ statement: SQLStatement) async throws -> [SQLRow] {
        try await execute(statement).rows.map(Self.row)
    }

    @discardableResult
    func run(_ statement: SQLStatement) async throws -> Int {
        try await execute(statement).metadata.rows ?? 0
    }

    private func execute(_ statement: SQLStatement) async throws -> PostgresQueryResult {
        let query = PostgresQuery(unsafeSQL: Self.numbered(statement.sql), binds: Self.bindings(statement.binds))
        do {
            let result: PostgresQueryResult = try await connection.query(query, logger: logger).get()
            return result
        } catch let error as PSQLError {
            throw PostgresError.mapped(error)
        }
    }

    /// Runs a schema step: statements separated by `;`, with `--` comments, without
    /// parameters. (The extended protocol takes one statement at a time.)
    func runScript(_ sql: String) async throws {
        let lines: [Substring] = sql.split(separator: "\n").map { line in
            line.firstRange(of: "--").map { line[..<$0.lowerBound] } ?? line
        }
        let code: String = lines.joined(separator: "\n")
        for statement in code.split(separator: ";") where !statement.trimming(" \n\t").isEmpty {
            try await run(String(statement))
        }
    }

    /// `?` → `$n`, outside quoted text and identifiers.
    static func numbered(_ sql: String) -> String {
        var out = ""
        out.reserveCapacity(sql.utf8.count + 16)
        var n = 0
        var quote: Character?
        for ch in sql {
            if let q = quote {
                if ch == q { quote = nil }
                out.append(ch)
            } else if ch == "'" || ch == "\"" {
                quote = ch
                out.append(ch)
            } else if ch == "?" {
                n += 1
                out += "$\(n)"
            } else {
                out.append(ch)
            }
        }
        return out
    }

    static func bindings(_ values: [SQLValue]) -> PostgresBindings {
        var b = PostgresBindings(capacity: values.count)
        for v in values {
            switch v {
            case .null: b.appendNull()
            case .int(let i): b.append(i)
            case .bool(let x): b.append(x)
            case .text(let s): b.append(s)
            case .blob(let bytes): b.append(ByteBuffer(bytes: bytes))
            }
        }
        return b
    }

    static func row(_ row: PostgresRow) -> SQLRow {
        SQLRow(row.map(value))
    }

    static func value(_ cell: PostgresCell) -> SQLValue {
        guard cell.bytes != nil else { return .null }
        switch cell.dataType {
        case .int8, .int4, .int2: return (try? cell.decode(Int64.self)).map { .int($0) } ?? .null
        case .bool: return (try? cell.decode(Bool.self)).map { .bool($0) } ?? .null
        case .bytea: return (try? cell.decode(ByteBuffer.self)).map { .blob(Array($0.readableBytesView)) } ?? .null
        // JSON (as `EXPLAIN (FORMAT JSON)` returns it) is text on the wire in either format.
        case .json: return cell.bytes.map { .text(String(buffer: $0)) } ?? .null
        default: return (try? cell.decode(String.self)).map { .text($0) } ?? .null
        }
    }
}

/// A failure of the database or of the way to it, told without the statement's values.
/// (postgres-nio's own error hides everything, to keep bound values out of logs.)
public struct PostgresError: Error, CustomStringConvertible {
    /// The SQLSTATE the server answered with; nil if it did not answer.
    public let sqlState: String?
    public let description: String

    init(sqlState: String?, description: String) {
        self.sqlState = sqlState
        self.description = description
    }

    init(_ error: PSQLError) {
        sqlState = error.serverInfo?[.sqlState]
        if let info = error.serverInfo {
            let severity = info[.severity] ?? "ERROR"
            description = "PostgreSQL \(severity) \(sqlState ?? "?"): \(info[.message] ?? "")"
        } else {
            let cause = error.underlying.map { ": \($0)" } ?? ""
            description = "PostgreSQL unreachable (\(error.code))\(cause)"
        }
    }

    /// The error the stores throw for `error`: `StoreError.duplicate` for a broken unique
    /// constraint, `StoreError.full` for a full disk, `StoreError.unavailable` when the
    /// server did not answer, else a
    /// `PostgresError`.
    static func mapped(_ error: PSQLError) -> any Error {
        let e = PostgresError(error)
        switch e.sqlState {
        case "23505"?: return StoreError.duplicate
        // disk_full
        case "53100"?: return StoreError.full(e.description)
        case nil: return StoreError.unavailable(e.description)
        // The server is shutting down, or refuses connections.
        case let state? where state.hasPrefix("57P") || state.hasPrefix("08") || state == "53300":
            return StoreError.unavailable(e.description)
        default: return e
        }
    }

    /// A deadlock or serialization failure: the transaction can run again.
    var isRetryable: Bool { sqlState == "40P01" || sqlState == "40001" }
}
