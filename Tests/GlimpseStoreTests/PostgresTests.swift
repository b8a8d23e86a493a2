import GlimpseCore
import GlimpseTestSupport
import Logging
import OpenStackEncoding
import Synchronization
import Testing

@testable import GlimpsePostgres
@testable import GlimpseSQL

/// What PostgreSQL adds to the contract: several processes on one database.
@Suite("PostgreSQL", .enabled(if: PostgresTestDatabase.url != nil, "GLIMPSE_TEST_DATABASE_URL is not set"))
struct PostgresTests {
    /// Stores on one database, as several API nodes have.
    func withNodes<T: Sendable>(
        _ count: Int, _ body: ([PostgresMetadataStore]) async throws -> T
    ) async throws -> T {
        try await PostgresTestDatabase.withSchema { settings in
            let nodes = try (0..<count).map { _ in try PostgresMetadataStore(settings, logger: Logger(label: "test")) }
            do {
                let result = try await body(nodes)
                for n in nodes { try await n.close() }
                return result
            } catch {
                for n in nodes { try? await n.close() }
                throw error
            }
        }
    }

    @Test("nodes migrating at once apply each step once")
    func concurrentMigrations() async throws {
        try await withNodes(4) { nodes in
            #expect(try await nodes[0].schemaStatus().applied == 0)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for n in nodes { group.addTask { try await n.migrate() } }
                try await group.waitForAll()
            }
            let status = try await nodes[1].schemaStatus()
            #expect(status.backend == "postgresql" && status.isCurrent && status.applied == status.known)
            try await nodes[2].migrate()
            #expect(try await nodes[3].schemaStatus() == status)
        }
    }

    @Test("a database made by an older Glimpse is brought up to date in place: an image's data becomes its copy")
    func migrationInPlace() async throws {
        try await withNodes(1) { nodes in
            let store = nodes[0]
            try await store.db.migrate(Array(PostgresSchema.migrations.prefix(2)))
            try await store.db.withTransaction { c in
                for (n, storeId) in [(1, "'fast'"), (2, "NULL")] {
                    try await c.run(
                        ImageTable.insertSQL,
                        ImageTable.values(
                            of: Image(
                                id: "00000000-0000-4000-8000-00000000000\(n)", status: .active, owner: "p1",
                                createdAt: Timestamp(seconds: 1), updatedAt: Timestamp(seconds: 1))))
                    try await c.run(
                        "UPDATE images SET location = 'data/\(n)', store_id = \(storeId) WHERE id = ?",
                        [.text("00000000-0000-4000-8000-00000000000\(n)")])
                }
            }
            try await store.migrate()
            #expect(try await store.schemaStatus().isCurrent)
            #expect(
                try await store.image(id: "00000000-0000-4000-8000-000000000001")?.locations == [
                    ImageLocation(storeId: "fast", location: "data/1")
                ])
            #expect(
                try await store.image(id: "00000000-0000-4000-8000-000000000002")?.locations == [
                    ImageLocation(storeId: "local", location: "data/2")
                ])
        }
    }

    @Test("a lock is held by one node at a time, and let go when its holder finishes")
    func locks() async throws {
        try await withNodes(2) { nodes in
            let (entered, enter) = AsyncStream.makeStream(of: Void.self)
            let (release, letGo) = AsyncStream.makeStream(of: Void.self)
            let holder = Task {
                try await nodes[0].withLock("job", wait: false) {
                    enter.yield()
                    for await _ in release { break }
                    return 1
                }
            }
            for await _ in entered { break }
            let refused = try await nodes[1].withLock("job", wait: false) { 2 }
            let other = try await nodes[1].withLock("other job", wait: false) { 3 }
            #expect(refused == nil && other == 3)
            let waiter = Task { try await nodes[1].withLock("job", wait: true) { 4 } }
            letGo.yield()
            #expect(try await holder.value == 1)
            #expect(try await waiter.value == 4)
            let again = try await nodes[0].withLock("job", wait: false) { 5 }
            #expect(again == 5)
        }
    }

    @Test("a lock whose body throws is let go")
    func lockReleasedOnError() async throws {
        struct Boom: Error {}
        try await withNodes(2) { nodes in
            await #expect(throws: Boom.self) { try await nodes[0].withLock("job", wait: true) { throw Boom() } }
            let next = try await nodes[1].withLock("job", wait: false) { 1 }
            #expect(next == 1)
        }
    }

    @Test("settings from a URL, and a description without the password")
    func settings() throws {
        let s = try PostgresSettings(
            url: "postgresql://glimpse:s%40cret@db.example.com:6432/images?sslmode=verify-full&schema=g1")
        #expect(s.user == "glimpse" && s.password == "s@cret" && s.host == "db.example.com" && s.port == 6432)
        #expect(s.database == "images" && s.sslMode == .verifyFull && s.schema == "g1")
        #expect(s.description == "postgres://glimpse:***@db.example.com:6432/images?sslmode=verify-full&schema=g1")
        let d = try PostgresSettings(url: "postgres://u@[::1]")
        #expect(d.host == "::1" && d.port == 5432 && d.database == "u" && d.password == nil && d.sslMode == .prefer)
        for bad in ["mysql://u@h/db", "postgres://h/db", "postgres://u@h:99999/db", "postgres://u@h/db?sslmode=on"] {
            #expect(throws: PostgresSettings.InvalidURL.self) { try PostgresSettings(url: bad) }
        }
    }
}
