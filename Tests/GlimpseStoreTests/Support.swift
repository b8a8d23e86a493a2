import GlimpseCore
import GlimpseIdentity
import GlimpseMemoryStores
import GlimpsePostgres
import GlimpseSQL
import GlimpseSQLite
import GlimpseTestSupport
import Logging
import OpenStackEncoding
import OpenStackJSON
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The metadata stores every contract test runs against: memory, SQLite, and PostgreSQL
/// when `GLIMPSE_TEST_DATABASE_URL` names a database (`.ci/run` starts one).
enum MetadataBackend: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case memory, sqlite, postgresql
    var testDescription: String { rawValue }

    /// The backends this run can reach.
    static var available: [MetadataBackend] { PostgresTestDatabase.url == nil ? [.memory, .sqlite] : allCases }

    /// Runs `body` with a new, migrated store, closed afterwards.
    func with<T: Sendable>(_ body: (any MetadataStore & IdentityStore) async throws -> T) async throws -> T {
        switch self {
        case .memory: return try await Self.run(MemoryMetadataStore(), body)
        case .sqlite:
            let dir = tempDir()
            defer { _ = system("rm -rf '\(dir)'") }
            return try await Self.run(try SQLiteMetadataStore(path: dir + "/test.db"), body)
        case .postgresql:
            return try await PostgresTestDatabase.withSchema { settings in
                try await Self.run(try PostgresMetadataStore(settings, logger: Logger(label: "test")), body)
            }
        }
    }

    private static func run<T: Sendable>(
        _ store: any MetadataStore & IdentityStore, _ body: (any MetadataStore & IdentityStore) async throws -> T
    ) async throws -> T {
        do {
            try await store.migrate()
            let result = try await body(store)
            try await store.close()
            return result
        } catch {
            try? await store.close()
            throw error
        }
    }
}

func tempDir() -> String {
    var template = Array("/tmp/glimpse-store-XXXXXX".utf8CString)
    return template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
}

func image(
    _ id: String, owner: String?, name: String? = nil, status: ImageStatus = .queued, visibility: Visibility = .shared,
    at seconds: Int64, tags: [String] = [], properties: JSONObject = [:]
) -> Image {
    Image(
        id: id, name: name, status: status, visibility: visibility, owner: owner,
        createdAt: Timestamp(seconds: seconds),
        updatedAt: Timestamp(seconds: seconds), properties: properties, tags: tags)
}

/// `00000000-0000-4000-8000-00000000000n`.
func uuid(_ n: Int) -> String {
    let digits = String(n)
    return "00000000-0000-4000-8000-" + String(repeating: "0", count: 12 - digits.count) + digits
}
