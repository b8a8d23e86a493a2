import GlimpseCore
import GlimpsePostgres
import GlimpseSQL
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The PostgreSQL database of the tests, named by `GLIMPSE_TEST_DATABASE_URL` (`.ci/run`
/// starts one). Each test works in a schema of its own, dropped afterwards, so tests run in
/// parallel and leave nothing behind.
public enum PostgresTestDatabase {
    public static let url: String? = {
        guard let v = getenv("GLIMPSE_TEST_DATABASE_URL"), v.pointee != 0 else { return nil }
        return String(cString: v)
    }()

    /// Runs `body` with settings for a new, empty schema.
    public static func withSchema<T: Sendable>(_ body: (PostgresSettings) async throws -> T) async throws -> T {
        guard let url else { throw TestFailure("GLIMPSE_TEST_DATABASE_URL is not set") }
        let base = try PostgresSettings(url: url)
        let schema = "test_" + Identifiers.randomHex(bytes: 6)
        let admin = try PostgresDatabase(base, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        try await admin.withTransaction { c in try await c.run("CREATE SCHEMA \(schema)") }
        var settings = base
        settings.schema = schema
        do {
            let result = try await body(settings)
            try await admin.withTransaction { c in try await c.run("DROP SCHEMA \(schema) CASCADE") }
            try await admin.close()
            return result
        } catch {
            _ = try? await admin.withTransaction { c in try await c.run("DROP SCHEMA \(schema) CASCADE") }
            try? await admin.close()
            throw error
        }
    }

    /// Runs `body` with a URL (`database_url`) of a new, empty schema.
    public static func withSchemaURL<T: Sendable>(_ body: (String) async throws -> T) async throws -> T {
        try await withSchema { settings in
            let base = url ?? ""
            return try await body(base + (base.contains("?") ? "&" : "?") + "schema=" + (settings.schema ?? ""))
        }
    }
}
