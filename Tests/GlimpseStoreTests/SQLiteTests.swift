import GlimpseCore
import OpenStackEncoding
import OpenStackJSON
import Testing

@testable import GlimpseSQL
@testable import GlimpseSQLite

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite("SQLite")
struct SQLiteTests {
    @Test("creating an image and changing one property write few pages of the log")
    func pagesPerWrite() async throws {
        let dir = tempDir()
        defer { _ = system("rm -rf \(dir)") }
        let store = try SQLiteMetadataStore(path: dir + "/test.db")
        try await store.migrate()
        // Images as clients create them: two tags, a property, the defaults elsewhere.
        func make(_ i: Int) -> Image {
            var img = image(
                uuid(i), owner: "p1", name: "image-\(i)", visibility: .private, at: Int64(i),
                tags: ["all", "t\(i % 7)"],
                properties: ["seq": .string("\(i)")])
            img.diskFormat = "raw"
            img.containerFormat = "bare"
            return img
        }
        for i in 1...100 { try await store.insertImage(make(i)) }
        // Each commit adds the pages it changed to the log (no checkpoint restarts it here).
        func pages(_ write: () async throws -> Void) async throws -> Int32 {
            let before = store.db.checkpointer.pagesInLog
            try await write()
            return store.db.checkpointer.pagesInLog - before
        }
        let created = try await pages { try await store.insertImage(make(101)) }
        // The image's row and an entry in each of its indexes but those of values it does
        // not have (hidden, protected, minimums, hashes), and three for each tag and property:
        // 24 here; every index taking every image would add seven.
        #expect(created <= 26, "\(created) pages for a new image")
        var img = try #require(try await store.image(id: uuid(50)))
        img.properties["added"] = "yes"
        img.updatedAt = Timestamp(seconds: 1000)
        let patched = try await pages { _ = try #require(try await store.updateImage(img)) }
        // The row, the indexes on updated_at, the new property's rows: 9 here. Writing every
        // column dirties a page in each of the 20 indexes.
        #expect(patched <= 12, "\(patched) pages for a PATCH")
        try await store.close()
    }

    @Test("commits leave checkpoints to the background, and the log stays bounded")
    func backgroundCheckpoints() async throws {
        let dir = tempDir()
        defer { _ = system("rm -rf \(dir)") }
        let store = try SQLiteMetadataStore(path: dir + "/test.db")
        try await store.migrate()
        // Each commit appends the pages it touched to the log: 3000 of them would grow it to
        // well over 200 MB if nothing copied it back; the bound is a little over the inline
        // limit of 16000 pages (64 MB).
        for i in 1...3000 {
            try await store.insertImage(
                image(
                    uuid(i), owner: "p1", name: "image-\(i)", at: Int64(i),
                    tags: ["t\(i % 7)"], properties: ["k": .string("v\(i)")]))
        }
        store.db.checkpointer.drain()
        #expect(store.db.checkpointer.checkpointsRun > 0)
        var st = stat()
        #expect(stat(dir + "/test.db-wal", &st) == 0)
        #expect(st.st_size < 72 << 20, "log of \(st.st_size) bytes")
        #expect(try await store.image(id: uuid(3000))?.name == "image-3000")
        #expect(try await store.image(id: uuid(1))?.properties["k"] == .string("v1"))
        try await store.close()
    }

    @Test("a row whose properties cannot be read is an error, never an image without properties")
    func undecodableRow() async throws {
        let dir = tempDir()
        defer { _ = system("rm -rf \(dir)") }
        let store = try SQLiteMetadataStore(path: dir + "/test.db")
        try await store.migrate()
        try await store.insertImage(image(uuid(1), owner: "p1", at: 1, properties: ["keep": "me"]))
        try await store.db.withTransaction { c in
            try await c.run("UPDATE images SET properties = '{\"keep\": ' WHERE id = ?", [.text(uuid(1))])
        }
        await #expect(throws: ImageTable.DecodeError.self) { try await store.image(id: uuid(1)) }
        try await store.close()
    }

    @Test("a database made by an older Glimpse is brought up to date in place")
    func migrationInPlace() async throws {
        let dir = tempDir()
        defer { _ = system("rm -rf \(dir)") }
        let old = try SQLiteDatabase(path: dir + "/test.db")
        try await old.migrate(Array(Schema.migrations.prefix(3)))
        try await old.withTransaction { c in
            try await c.run(
                ImageTable.insertSQL, ImageTable.values(of: image(uuid(1), owner: "p1", name: "old", at: 1)))
            // Images with data, as Glimpse recorded them before copies in several stores.
            for (n, store) in [(2, "'fast'"), (3, "NULL")] {
                try await c.run(
                    ImageTable.insertSQL, ImageTable.values(of: image(uuid(n), owner: "p1", status: .active, at: 2)))
                try await c.run(
                    "UPDATE images SET location = 'data/\(n)', store_id = \(store) WHERE id = ?", [.text(uuid(n))])
            }
        }
        #expect(try await old.schemaVersion() == 3)
        try await old.close()

        let store = try SQLiteMetadataStore(path: dir + "/test.db")
        // Two processes migrating at once apply each step once.
        async let a: Void = store.migrate()
        async let b: Void = store.migrate()
        _ = try await (a, b)
        #expect(try await store.db.schemaVersion() == Schema.migrations.count)
        #expect(try await store.image(id: uuid(1))?.name == "old")
        #expect(try await store.image(id: uuid(1))?.locations == [])
        #expect(try await store.image(id: uuid(2))?.locations == [ImageLocation(storeId: "fast", location: "data/2")])
        #expect(try await store.image(id: uuid(3))?.locations == [ImageLocation(storeId: "local", location: "data/3")])
        #expect(try await store.referencedLocations(storeId: "local", ["data/3", "data/2"]) == ["data/3"])
        #expect(try await store.expiredLeases(now: Timestamp(seconds: 1), limit: 1).isEmpty)
        try await store.close()
    }

    @Test("many concurrent transactions on one writer all commit")
    func concurrentWriters() async throws {
        let dir = tempDir()
        defer { _ = system("rm -rf \(dir)") }
        let store = try SQLiteMetadataStore(path: dir + "/test.db")
        try await store.migrate()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 1...200 {
                group.addTask { try await store.insertImage(image(uuid(i), owner: "p\(i % 3)", at: Int64(i))) }
            }
            try await group.waitForAll()
        }
        #expect(try await store.usage(owner: "p1").images == 67)
        try await store.close()
    }
}
