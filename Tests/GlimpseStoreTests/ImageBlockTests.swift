import GlimpseCore
import GlimpseMemoryStores
import GlimpsePostgres
import OpenStackEncoding
import Testing

@testable import GlimpseSQL
@testable import GlimpseSQLite

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Lists with a range filter in creation order walk only the blocks of the catalog whose
/// summaries admit a match, and by name or by update time read the blocks whose values
/// come first (`ImageBlocks`); both list exactly what the memory store lists, including
/// after writes that put values outside their block's summary.
@Suite("Image blocks")
struct ImageBlockTests {
    /// Three blocks and 300 images after them. Sizes and minimum disks grow with the
    /// creation time; minimum memory does not; every seventh image has no data.
    static let count = 3 * ImageBlocks.size + 300

    static func catalog() -> [Image] {
        (1...count).map { n in
            var img = image(
                uuid(n), owner: n % 2 == 0 ? "p1" : "p2", name: "img-\(n)", status: n % 7 == 0 ? .queued : .active,
                visibility: n % 5 == 0 ? .public : .shared, at: Int64(n), tags: n % 3 == 0 ? ["t"] : [])
            if n % 7 != 0 {
                img.size = n
                img.virtualSize = 2 * n
            }
            img.minDisk = n / 100
            img.minRam = (n * 7) % 50
            return img
        }
    }

    /// Writes made after the blocks were sealed, each outside its block's summary.
    static func laterWrites(_ store: any ImageStore) async throws {
        // An old image gets data far larger than its block's.
        var old = try #require(try await store.image(id: uuid(14)))
        old.size = 10_000_000
        old.virtualSize = 10_000_000
        _ = try #require(try await store.updateImage(old))
        // Another asks for more memory than any, and was changed at a time before all others.
        var changed = try #require(try await store.image(id: uuid(100)))
        changed.minRam = 5000
        changed.updatedAt = Timestamp(microseconds: 500_000)
        _ = try #require(try await store.updateImage(changed))
        // Two old images are changed last of all.
        for (n, seconds): (Int, Int64) in [(50, 9000), (2000, 8000)] {
            var touched = try #require(try await store.image(id: uuid(n)))
            touched.updatedAt = Timestamp(seconds: seconds)
            _ = try #require(try await store.updateImage(touched))
        }
        // Two are renamed: one to come first by name, one last.
        for (n, name) in [(3000, "a-first"), (20, "zzz-last")] {
            var renamed = try #require(try await store.image(id: uuid(n)))
            renamed.name = name
            _ = try #require(try await store.updateImage(renamed))
        }
        // An image created (by a clock behind the others) among the second block's, inserted
        // in one batch with a newer one.
        var late = image(uuid(count + 1), owner: "p1", at: 0)
        late.createdAt = Timestamp(microseconds: 1500 * 1_000_000 + 500_000)
        late.updatedAt = Timestamp(seconds: 5000)
        late.minDisk = 999
        try await store.insertImages([late, image(uuid(count + 2), owner: "p2", at: Int64(count + 2))])
    }

    static let queries: [[ImageCondition]] = [
        [.atMost(.size, 500)], [.atMost(.size, 3000)], [.atLeast(.size, 9_000_000)], [.atLeast(.size, 1200)],
        [.atLeast(.virtualSize, 8000)], [.atMost(.virtualSize, 50)], [.atLeast(.minDisk, 999)],
        [.atMost(.minDisk, 3)], [.atLeast(.minDisk, 20), .atMost(.minDisk, 20)], [.atLeast(.minRam, 5000)],
        [.atMost(.minRam, 0)], [.time(.updatedAt, .lt, Timestamp(seconds: 1))],
        [.time(.updatedAt, .lte, Timestamp(seconds: 40))], [.time(.updatedAt, .eq, Timestamp(seconds: 2000))],
        [.atMost(.size, 2000), .tags(["t"])], [.atMost(.size, 1000), .oneOf(.status, ["active"])],
        [.atLeast(.size, 3000), .atMost(.minRam, 10)],
    ]

    static let scopes = [
        ListScope(projectId: "admin", isAdmin: true), ListScope(projectId: "p1", isAdmin: false),
        ListScope(projectId: "p3", isAdmin: false),
    ]

    static func coverable(_ condition: ImageCondition) -> Bool {
        var s = SQLStatement()
        return ImageBlocks.bound(condition, every: true, to: &s)
    }

    /// Every page of a list, following the markers.
    static func pages(
        _ base: ImageListQuery, _ page: (ImageListQuery) async throws -> [Image]
    ) async throws -> [String] {
        var ids: [String] = []
        var query = base
        while true {
            let images = try await page(query)
            ids += images.map(\.id)
            guard images.count == query.limit, let last = images.last else { return ids }
            query.marker = last
        }
    }

    static func check<D: SQLDatabase>(_ store: SQLMetadataStore<D>) async throws {
        let memory = MemoryMetadataStore()
        let images = catalog()
        try await memory.insertImages(images)
        try await store.insertImages(images)
        #expect(try await store.summarizeImages() == 3)
        #expect(try await store.summarizeImages() == 0)
        try await laterWrites(memory)
        try await laterWrites(store)
        for scope in scopes {
            for conditions in queries {
                for ascending in [false, true] {
                    let query = ImageListQuery(
                        scope: scope, conditions: conditions,
                        sort: ImageListQuery.completeSort(
                            [SortKey(.createdAt, ascending: ascending)], defaultAscending: false),
                        limit: 200)
                    let expected = try await pages(query) { try await memory.listImages($0) }
                    // Through the blocks whatever the counts, one block a read at first (the
                    // walks across reads; `listed` below reads them as the store does).
                    let guided = try await pages(query) { q in
                        try await store.db.read { c in
                            let plan = ImageQueryBuilder.ListPlan(commonConditions: Set(q.conditions.indices))
                            var blocks = try await ImageBlocks.ranges(q, plan: plan, c)
                            #expect(blocks != nil)
                            blocks?.batch = 1
                            return try await SQLMetadataStore<D>.page(q, plan: plan, blocks: blocks, c)
                        }
                    }
                    let listed = try await pages(query) { try await store.listImages($0) }
                    let described = "\(scope.projectId ?? "") \(conditions) ascending: \(ascending)"
                    #expect(guided == expected, "\(described)")
                    #expect(listed == expected, "\(described)")
                }
            }
        }
        // By name and by update time, through the blocks when their summaries show few are needed.
        for column in ImageBlocks.summarizedOrders {
            var byBlocks = 0
            for conditions in queries where conditions.allSatisfy(Self.coverable) {
                for ascending in [false, true] {
                    let query = ImageListQuery(
                        scope: ListScope(projectId: "admin", isAdmin: true), conditions: conditions,
                        sort: ImageListQuery.completeSort(
                            [SortKey(column, ascending: ascending)], defaultAscending: false),
                        limit: 100)
                    let expected = try await pages(query) { try await memory.listImages($0) }
                    let guided = try await pages(query) { q in
                        let (page, fromBlocks) = try await store.db.read { c in
                            let plan = ImageQueryBuilder.ListPlan(commonConditions: Set(q.conditions.indices))
                            // Each block read, then sorted, on either engine (`listed` below reads
                            // as the store does).
                            let page = try await ImageBlocks.pageInOrder(q, plan: plan, c) { q, range in
                                try await c.query(
                                    ImageQueryBuilder.select(q, plan: plan, createdWithin: range, readThenSort: true)
                                ).map(ImageTable.decode)
                            }
                            if let page { return (page, true) }
                            return (try await SQLMetadataStore<D>.page(q, plan: plan, blocks: nil, c), false)
                        }
                        if fromBlocks { byBlocks += 1 }
                        return page
                    }
                    let listed = try await pages(query) { try await store.listImages($0) }
                    let described = "\(conditions) by \(column), ascending: \(ascending)"
                    #expect(guided == expected, "\(described)")
                    #expect(listed == expected, "\(described)")
                }
            }
            #expect(byBlocks > 20, "by \(column)")
        }
        // The small sizes are the oldest: a list of them, newest first, walks the images after
        // the last block, then only the first block (widened by the one old image that grew).
        let small = ImageListQuery(
            scope: ListScope(projectId: "admin", isAdmin: true), conditions: [.atMost(.size, 500)],
            sort: ImageListQuery.completeSort([], defaultAscending: false), limit: 25)
        let ranges = try await store.db.read { c in
            var walk = try #require(try await ImageBlocks.ranges(small, plan: .init(commonConditions: [0]), c))
            var ranges: [ClosedRange<Int64>] = []
            while let range = try await walk.next(c) { ranges.append(range) }
            return ranges
        }
        let firstBlockEnd = Int64(ImageBlocks.size) * 1_000_000
        #expect(ranges == [(3 * firstBlockEnd + 1)...Int64.max, Int64.min + 1...firstBlockEnd])
        // Few matches, read through the size's index and sorted: no blocks.
        let few = try await store.db.read { c in
            try await ImageBlocks.ranges(small, plan: .init(), c)
        }
        #expect(few == nil)
    }

    @Test("an upgrade keeps the greatest update time of the blocks sealed before it")
    func upgrade() async throws {
        let dir = tempDir()
        defer { _ = system("rm -rf '\(dir)'") }
        let old = try SQLiteDatabase(path: dir + "/test.db")
        try await old.migrate(Array(Schema.migrations.dropLast()))
        try await old.withTransaction { c in
            for n in 1...4 {
                var img = image(uuid(n), owner: "p1", at: Int64(n))
                if n == 2 { img.updatedAt = Timestamp(seconds: 70) }
                if n == 3 {
                    img.updatedAt = Timestamp(seconds: 90)
                    img.deletedAt = Timestamp(seconds: 90)
                }
                try await c.run(ImageTable.insertSQL, ImageTable.values(of: img))
            }
            // A block of the first three, sealed before the second was updated.
            try await c.run(
                "INSERT INTO image_blocks (seq, after_created, last_created, min_updated_at, images) "
                    + "VALUES (1, ?, ?, ?, 3)", [.int(Int64.min), .int(3_000_000), .int(1_000_000)])
        }
        try await old.close()
        let store = try SQLiteMetadataStore(path: dir + "/test.db")
        try await store.migrate()
        let bounds = try await store.db.read { c in
            try await c.query("SELECT min_updated_at, max_updated_at FROM image_blocks").map { [$0.int(0), $0.int(1)] }
        }
        #expect(bounds == [[1_000_000, 70_000_000]])
        try await store.close()
    }

    @Test("lists in creation order with a range read only the blocks that may match, and list all matches")
    func blocks() async throws {
        for backend in MetadataBackend.available where backend != .memory {
            try await backend.with { store in
                if let sqlite = store as? SQLMetadataStore<SQLiteDatabase> {
                    try await Self.check(sqlite)
                } else if let postgres = store as? SQLMetadataStore<PostgresDatabase> {
                    try await Self.check(postgres)
                } else {
                    Issue.record("\(backend) is not a SQL store")
                }
            }
        }
    }
}
