/// A value bound to, or read from, an SQL statement.
public enum SQLValue: Sendable, Hashable {
    case null
    case int(Int64)
    case bool(Bool)
    case text(String)
    case blob([UInt8])

    public static func int(_ v: Int) -> SQLValue { .int(Int64(v)) }
    public static func optional(_ v: String?) -> SQLValue { v.map { .text($0) } ?? .null }
    public static func optional(_ v: Int?) -> SQLValue { v.map { .int(Int64($0)) } ?? .null }
}

/// SQL text with `?` placeholders and the values bound to them, built piece by piece. (A
/// PostgreSQL connection numbers the placeholders `$1`, `$2`… as it sends them.)
public struct SQLStatement: Sendable {
    public private(set) var sql: String
    public private(set) var binds: [SQLValue]

    public init(_ sql: String = "", _ binds: [SQLValue] = []) {
        self.sql = sql
        self.binds = binds
    }

    /// Appends literal SQL.
    public mutating func append(_ text: String) { sql += text }

    /// Appends a placeholder bound to `value`.
    public mutating func bind(_ value: SQLValue) {
        binds.append(value)
        sql += "?"
    }

    /// Appends another statement's text and bound values.
    public mutating func append(_ other: SQLStatement) {
        sql += other.sql
        binds += other.binds
    }

    /// Appends `(?, ?, …)` for the values.
    public mutating func bindList(_ values: [SQLValue]) {
        sql += "("
        for (i, v) in values.enumerated() {
            if i > 0 { sql += ", " }
            bind(v)
        }
        sql += ")"
    }
}

/// One result row.
public struct SQLRow: Sendable {
    public let values: [SQLValue]

    public init(_ values: [SQLValue]) { self.values = values }

    public func text(_ i: Int) -> String? {
        if case .text(let s) = values[i] { return s }
        return nil
    }

    public func int(_ i: Int) -> Int64? {
        switch values[i] {
        case .int(let v): v
        case .bool(let b): b ? 1 : 0
        default: nil
        }
    }

    /// Booleans are integers in SQLite and booleans in PostgreSQL.
    public func bool(_ i: Int) -> Bool {
        switch values[i] {
        case .bool(let b): b
        case .int(let v): v != 0
        default: false
        }
    }
}
