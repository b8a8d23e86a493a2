/// A value bound to, or read from, an SQL statement.
public enum SQLValue: Sendable, Hashable {
    case null
    case int(Int64)
    case text(String)
    case blob([UInt8])

    public static func int(_ v: Int) -> SQLValue { .int(Int64(v)) }
    public static func optional(_ v: String?) -> SQLValue { v.map { .text($0) } ?? .null }
    public static func optional(_ v: Int?) -> SQLValue { v.map { .int(Int64($0)) } ?? .null }
    public static func bool(_ v: Bool) -> SQLValue { .int(v ? 1 : 0) }
}

/// The differences between the SQL dialects the stores speak.
public enum SQLDialect: Sendable {
    case sqlite
    case postgres

    /// The placeholder for the n-th bound value (1-based).
    public func placeholder(_ n: Int) -> String {
        switch self {
        case .sqlite: "?"
        case .postgres: "$\(n)"
        }
    }
}

/// SQL text with its bound values, built piece by piece.
public struct SQLStatement: Sendable {
    public let dialect: SQLDialect
    public private(set) var sql = ""
    public private(set) var binds: [SQLValue] = []

    public init(_ dialect: SQLDialect, _ sql: String = "") {
        self.dialect = dialect
        self.sql = sql
    }

    /// Appends literal SQL.
    public mutating func append(_ text: String) { sql += text }

    /// Appends a placeholder bound to `value`.
    public mutating func bind(_ value: SQLValue) {
        binds.append(value)
        sql += dialect.placeholder(binds.count)
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
