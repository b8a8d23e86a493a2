import CSQLite
import GlimpseCore
import GlimpseSQL

/// An SQLite error with the library's code and message.
public struct SQLiteError: Error, CustomStringConvertible, Sendable {
    public let code: Int32
    public let message: String
    public var description: String { "SQLite error \(code): \(message)" }

    /// A UNIQUE or PRIMARY KEY constraint failed.
    public var isUniqueViolation: Bool {
        // SQLITE_CONSTRAINT_PRIMARYKEY and SQLITE_CONSTRAINT_UNIQUE (macros Swift does not import).
        code == SQLITE_CONSTRAINT | (6 << 8) || code == SQLITE_CONSTRAINT | (8 << 8)
    }

    /// The disk (or the database's size limit) has no room: `SQLITE_FULL`.
    public var isFull: Bool { code & 0xff == SQLITE_FULL }
}

/// One SQLite connection with a cache of prepared statements.
///
/// Not thread-safe: `SQLiteDatabase` hands each connection to one task at a time, on its
/// own threads. A broken UNIQUE or PRIMARY KEY constraint throws `StoreError.duplicate`.
final class SQLiteConnection: SQLConnection, @unchecked Sendable {
    let handle: OpaquePointer
    private var statements: [String: OpaquePointer] = [:]

    init(path: String) throws {
        var db: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open \(path)"
            if let db { sqlite3_close_v2(db) }
            throw SQLiteError(code: rc, message: message)
        }
        handle = db
        sqlite3_extended_result_codes(db, 1)
        sqlite3_busy_timeout(db, 10_000)
    }

    deinit {
        for s in statements.values { sqlite3_finalize(s) }
        sqlite3_close_v2(handle)
    }

    func error(_ rc: Int32) -> SQLiteError {
        SQLiteError(code: rc, message: String(cString: sqlite3_errmsg(handle)))
    }

    /// Runs one or more statements without results (schema changes, pragmas).
    func executeScript(_ sql: String) throws {
        var errmsg: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &errmsg)
        if rc != SQLITE_OK {
            let message = errmsg.map { String(cString: $0) } ?? "error"
            sqlite3_free(errmsg)
            throw SQLiteError(code: rc, message: message)
        }
    }

    private func prepare(_ sql: String) throws -> OpaquePointer {
        if let s = statements[sql] { return s }
        var stmt: OpaquePointer?
        let rc = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &stmt, nil)
        guard rc == SQLITE_OK, let stmt else { throw error(rc) }
        if statements.count > 256 {
            for s in statements.values { sqlite3_finalize(s) }
            statements.removeAll()
        }
        statements[sql] = stmt
        return stmt
    }

    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    private func bind(_ stmt: OpaquePointer, _ values: [SQLValue]) throws {
        for (i, v) in values.enumerated() {
            let idx = Int32(i + 1)
            let rc: Int32
            switch v {
            case .null: rc = sqlite3_bind_null(stmt, idx)
            case .int(let n): rc = sqlite3_bind_int64(stmt, idx, n)
            case .bool(let b): rc = sqlite3_bind_int64(stmt, idx, b ? 1 : 0)
            case .text(let s): rc = sqlite3_bind_text(stmt, idx, s, -1, Self.transient)
            case .blob(let b):
                rc = b.withUnsafeBytes { sqlite3_bind_blob(stmt, idx, $0.baseAddress, Int32($0.count), Self.transient) }
            }
            guard rc == SQLITE_OK else { throw error(rc) }
        }
    }

    func query(_ statement: SQLStatement) async throws -> [SQLRow] {
        try duplicateAware { try rows(statement.sql, statement.binds) }
    }

    @discardableResult
    func run(_ statement: SQLStatement) async throws -> Int {
        try duplicateAware { try execute(statement.sql, statement.binds) }
    }

    private func duplicateAware<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let e as SQLiteError where e.isUniqueViolation {
            throw StoreError.duplicate
        }
    }

    /// Runs a statement and returns its rows.
    func rows(_ sql: String, _ values: [SQLValue] = []) throws -> [SQLRow] {
        try query(sql, values) { SQLRow($0.values()) }
    }

    /// Runs a statement and maps each result row.
    func query<T>(_ sql: String, _ values: [SQLValue] = [], _ map: (Row) throws -> T) throws -> [T] {
        let stmt = try prepare(sql)
        defer {
            sqlite3_reset(stmt)
            sqlite3_clear_bindings(stmt)
        }
        try bind(stmt, values)
        var out: [T] = []
        while true {
            let rc = sqlite3_step(stmt)
            if rc == SQLITE_ROW {
                out.append(try map(Row(stmt: stmt)))
            } else if rc == SQLITE_DONE {
                return out
            } else {
                throw error(rc)
            }
        }
    }

    /// Runs a statement that returns no rows; returns the number of rows changed.
    @discardableResult
    func execute(_ sql: String, _ values: [SQLValue] = []) throws -> Int {
        let stmt = try prepare(sql)
        defer {
            sqlite3_reset(stmt)
            sqlite3_clear_bindings(stmt)
        }
        try bind(stmt, values)
        var rc = sqlite3_step(stmt)
        while rc == SQLITE_ROW { rc = sqlite3_step(stmt) }
        guard rc == SQLITE_DONE else { throw error(rc) }
        return Int(sqlite3_changes(handle))
    }

    /// The first column of the first row, as an integer.
    func scalar(_ sql: String, _ values: [SQLValue] = []) throws -> Int64? {
        try query(sql, values) { $0.int(0) }.first ?? nil
    }

    /// A result row being read.
    struct Row {
        let stmt: OpaquePointer

        var count: Int { Int(sqlite3_column_count(stmt)) }

        func isNull(_ i: Int) -> Bool { sqlite3_column_type(stmt, Int32(i)) == SQLITE_NULL }

        func int(_ i: Int) -> Int64? {
            isNull(i) ? nil : sqlite3_column_int64(stmt, Int32(i))
        }

        func text(_ i: Int) -> String? {
            guard let p = sqlite3_column_text(stmt, Int32(i)) else { return nil }
            let n = Int(sqlite3_column_bytes(stmt, Int32(i)))
            return String(decoding: UnsafeBufferPointer(start: p, count: n), as: UTF8.self)
        }

        /// The whole row as bound values.
        func values() -> [SQLValue] {
            (0..<count).map { i in
                switch sqlite3_column_type(stmt, Int32(i)) {
                case SQLITE_NULL: .null
                case SQLITE_INTEGER: .int(sqlite3_column_int64(stmt, Int32(i)))
                case SQLITE_BLOB:
                    .blob(
                        Array(
                            UnsafeRawBufferPointer(
                                start: sqlite3_column_blob(stmt, Int32(i)),
                                count: Int(sqlite3_column_bytes(stmt, Int32(i))))))
                default: .text(text(i) ?? "")
                }
            }
        }
    }
}
