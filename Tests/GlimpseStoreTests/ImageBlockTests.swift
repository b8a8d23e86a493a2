import GlimpseCore
import GlimpseMemoryStores
import GlimpsePostgres
import GlimpseSQLite
import OpenStackEncoding
import Testing

@testable import GlimpseSQL

/// Lists in creation order with a range filter walk only the blocks of the catalog whose
/// summaries admit a match (`ImageBlocks`), and list exactly what the memory store lists,
/// including after writes that put values outside their block's summary.
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
        // By name, through the blocks when their summaries show few are needed.
        var byBlocks = 0
        for conditions in queries where conditions.allSatisfy(Self.coverable) {
            for ascending in [false, true] {
                let query = ImageListQuery(
                    scope: ListScope(projectId: "admin", isAdmin: true), conditions: conditions,
                    sort: ImageListQuery.completeSort([SortKey(.name, ascending: ascending)], defaultAscending: false),
                    limit: 100)
                let expected = try await pages(query) { try await memory.listImages($0) }
                let guided = try await pages(query) { q in
                    let (page, fromBlocks) = try await store.db.read { c in
                        let plan = ImageQueryBuilder.ListPlan(commonConditions: Set(q.conditions.indices))
                        let page = try await ImageBlocks.pageByName(q, plan: plan, c) { q, range in
                            try await c.query(ImageQueryBuilder.select(q, plan: plan, createdWithin: range))
                                .map(ImageTable.decode)
                        }
                        if let page { return (page, true) }
                        return (try await SQLMetadataStore<D>.page(q, plan: plan, blocks: nil, c), false)
                    }
                    if fromBlocks { byBlocks += 1 }
                    return page
                }
                let listed = try await pages(query) { try await store.listImages($0) }
                #expect(guided == expected, "\(conditions) by name, ascending: \(ascending)")
                #expect(listed == expected, "\(conditions) by name, ascending: \(ascending)")
            }
        }
        #expect(byBlocks > 20)
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
