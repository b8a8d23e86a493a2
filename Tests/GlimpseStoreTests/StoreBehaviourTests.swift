import GlimpseBlobStores
import GlimpseCore
import GlimpseIdentity
@testable import GlimpseSQLite
import NIOCore
import OpenStackJSON
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The behaviour every metadata store must show. Each test runs against every store
/// implementation available (SQLite always).
enum StoreKind: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqlite
    var testDescription: String { rawValue }

    func make(_ dir: String) throws -> any ImageStore & IdentityStore {
        switch self {
        case .sqlite: try SQLiteMetadataStore(path: dir + "/test.db")
        }
    }
}

func tempDir() -> String {
    var template = Array("/tmp/glimpse-store-XXXXXX".utf8CString)
    return template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
}

func image(_ id: String, owner: String?, name: String? = nil, visibility: Visibility = .shared, at seconds: Int64,
           tags: [String] = [], properties: JSONObject = [:]) -> Image {
    Image(id: id, name: name, visibility: visibility, owner: owner, createdAt: Timestamp(seconds: seconds),
          updatedAt: Timestamp(seconds: seconds), properties: properties, tags: tags)
}

/// `00000000-0000-4000-8000-00000000000n`.
func uuid(_ n: Int) -> String {
    let digits = String(n)
    return "00000000-0000-4000-8000-" + String(repeating: "0", count: 12 - digits.count) + digits
}

@Suite("Metadata store behaviour")
struct StoreBehaviourTests {
    @Test("insert, read, optimistic update, duplicates", arguments: StoreKind.allCases)
    func crud(_ kind: StoreKind) async throws {
        let dir = tempDir()
        defer { _ = system("rm -rf \(dir)") }
        let store = try kind.make(dir)
        let img = image(uuid(1), owner: "p1", name: "one", at: 100, tags: ["a"], properties: ["k": "v", "n": [1, 2]])
        try await store.insertImage(img)
        await #expect(throws: StoreError.duplicate) { try await store.insertImage(img) }
        var got = try #require(try await store.image(id: img.id))
        #expect(got == img)
        got.name = "renamed"
        let saved = try #require(try await store.updateImage(got))
        #expect(saved.revision == 1)
        // A write based on the old revision is refused.
        #expect(try await store.updateImage(got) == nil)
        #expect(try await store.image(id: img.id)?.name == "renamed")

        // A batch goes in whole, or not at all.
        let batch = (2...4).map { image(uuid($0), owner: "p1", name: "b\($0)", at: 200 + Int64($0), tags: ["t"], properties: ["i": .number(JSONNumber($0))]) }
        try await store.insertImages(batch)
        for b in batch { #expect(try await store.image(id: b.id) == b) }
        let clash = [image(uuid(5), owner: "p1", at: 300), image(uuid(2), owner: "p1", at: 301)]
        await #expect(throws: StoreError.duplicate) { try await store.insertImages(clash) }
        #expect(try await store.image(id: uuid(5)) == nil)
    }

    @Test("list: scope, filters on tags and properties, keyset paging in mixed order", arguments: StoreKind.allCases)
    func listing(_ kind: StoreKind) async throws {
        let dir = tempDir()
        defer { _ = system("rm -rf \(dir)") }
        let store = try kind.make(dir)
        try await store.insertImage(image(uuid(1), owner: "p1", name: "b", visibility: .private, at: 1, tags: ["x"], properties: ["os": "linux"]))
        try await store.insertImage(image(uuid(2), owner: "p1", name: "a", visibility: .shared, at: 2, tags: ["x", "y"]))
        try await store.insertImage(image(uuid(3), owner: "p2", name: "c", visibility: .public, at: 3, properties: ["os": "bsd"]))
        try await store.insertImage(image(uuid(4), owner: "p2", name: nil, visibility: .community, at: 4))
        try await store.insertImage(image(uuid(5), owner: "p2", name: "e", visibility: .shared, at: 5))
        try await store.insertMember(ImageMember(imageId: uuid(5), memberId: "p1", status: .pending, createdAt: Timestamp(seconds: 6), updatedAt: Timestamp(seconds: 6)))
        func ids(_ scope: ListScope, _ conditions: [ImageCondition] = [], sort: [SortKey] = [], limit: Int = 10, marker: Image? = nil) async throws -> [Int] {
            let q = ImageListQuery(scope: scope, conditions: conditions, sort: ImageListQuery.completeSort(sort, defaultAscending: false), limit: limit, marker: marker)
            return try await store.listImages(q).map { Int($0.id.suffix(1))! }
        }
        let p1 = ListScope(projectId: "p1", isAdmin: false)
        #expect(try await ids(p1) == [3, 2, 1])
        #expect(try await ids(ListScope(projectId: "p1", isAdmin: false, visibility: .all)) == [4, 3, 2, 1])
        #expect(try await ids(ListScope(projectId: "p1", isAdmin: false, memberStatus: .pending)) == [5, 3, 2, 1])
        #expect(try await ids(ListScope(projectId: "p1", isAdmin: false, visibility: .only(.shared), memberStatus: .all)) == [5, 2])
        #expect(try await ids(ListScope(projectId: "admin", isAdmin: true)) == [5, 3, 2, 1])
        #expect(try await ids(ListScope(projectId: "p3", isAdmin: false)) == [3])
        #expect(try await ids(p1, [.tags(["x", "y"])]) == [2])
        #expect(try await ids(p1, [.property("os", "linux")]) == [1])
        #expect(try await ids(p1, [.oneOf(.name, ["a", "c"])]) == [3, 2])
        // name asc (NULL first), paged two at a time with markers.
        let admin = ListScope(projectId: "admin", isAdmin: true, visibility: .all)
        let sort = [SortKey(.name, ascending: true)]
        var seen: [Int] = []
        var marker: Image?
        for _ in 0..<10 {
            let page = try await ids(admin, sort: sort, limit: 2, marker: marker)
            if page.isEmpty { break }
            seen += page
            marker = try await store.image(id: uuid(page.last!))
        }
        #expect(seen == [4, 2, 1, 3, 5])
        // Mixed directions: visibility asc, then created_at desc.
        let mixed = [SortKey(.visibility, ascending: true), SortKey(.createdAt, ascending: false)]
        let all = try await ids(admin, sort: mixed, limit: 10)
        var pagedMixed: [Int] = []
        marker = nil
        for _ in 0..<10 {
            let page = try await ids(admin, sort: mixed, limit: 1, marker: marker)
            if page.isEmpty { break }
            pagedMixed += page
            marker = try await store.image(id: uuid(page.last!))
        }
        #expect(pagedMixed == all)
        #expect(all == [4, 1, 3, 5, 2])
    }

    @Test("members, tombstones, usage and purge", arguments: StoreKind.allCases)
    func membersAndDeletion(_ kind: StoreKind) async throws {
        let dir = tempDir()
        defer { _ = system("rm -rf \(dir)") }
        let store = try kind.make(dir)
        var img = image(uuid(1), owner: "p1", at: 1)
        img.size = 1000
        img.location = "ab/x"
        img.status = .active
        try await store.insertImage(img)
        let m = ImageMember(imageId: img.id, memberId: "p2", status: .pending, createdAt: Timestamp(seconds: 1), updatedAt: Timestamp(seconds: 1))
        try await store.insertMember(m)
        await #expect(throws: StoreError.duplicate) { try await store.insertMember(m) }
        var accepted = m
        accepted.status = .accepted
        #expect(try await store.updateMember(accepted))
        #expect(try await store.member(imageId: img.id, memberId: "p2")?.status == .accepted)
        #expect(try await store.isMember(imageId: img.id, projectId: "p2"))
        #expect(try await store.usage(owner: "p1") == ImageUsage(images: 1, bytes: 1000, uploading: 0))

        #expect(try await store.markDeleted(id: img.id, at: Timestamp(seconds: 10)))
        #expect(!(try await store.markDeleted(id: img.id, at: Timestamp(seconds: 11))))
        #expect(try await store.image(id: img.id) == nil)
        #expect(try await store.members(imageId: img.id).isEmpty)
        #expect(try await store.usage(owner: "p1").images == 0)
        let tombstones = try await store.deletedImages(before: Timestamp(seconds: 20), limit: 10)
        #expect(tombstones.map(\.id) == [img.id])
        #expect(tombstones.first?.status == .deleted && tombstones.first?.location == "ab/x")
        #expect(try await store.deletedImages(before: Timestamp(seconds: 5), limit: 10).isEmpty)
        try await store.purge(ids: [img.id])
        #expect(try await store.deletedImages(before: Timestamp(seconds: 20), limit: 10).isEmpty)
        // The id is free again once purged.
        try await store.insertImage(image(uuid(1), owner: "p1", at: 30))
    }

    @Test("identity records: uniqueness, assignments, tokens", arguments: StoreKind.allCases)
    func identity(_ kind: StoreKind) async throws {
        let dir = tempDir()
        defer { _ = system("rm -rf \(dir)") }
        let store = try kind.make(dir)
        try await store.insertDomain(.default)
        try await store.insertProject(Project(id: "p1", name: "one", domainId: "default"))
        await #expect(throws: StoreError.duplicate) { try await store.insertProject(Project(id: "p2", name: "one", domainId: "default")) }
        try await store.insertUser(User(id: "u1", name: "ann", domainId: "default", passwordHash: "h"))
        try await store.insertRole(Role(id: "r1", name: "member"))
        try await store.grant(RoleAssignment(userId: "u1", projectId: "p1", roleId: "r1"))
        #expect(try await store.assignments(userId: "u1", projectId: nil, roleId: nil).count == 1)
        let token = TokenRecord(hash: "abc", userId: "u1", projectId: "p1", roleIds: ["r1"], methods: ["password"],
                                issuedAt: Timestamp(seconds: 1), expiresAt: Timestamp(seconds: 100), auditIds: ["x"])
        try await store.insertToken(token)
        #expect(try await store.token(hash: "abc") == token)
        #expect(try await store.deleteTokens(expiredBefore: Timestamp(seconds: 50)) == 0)
        #expect(try await store.deleteProject(id: "p1"))
        #expect(try await store.token(hash: "abc") == nil)
        #expect(try await store.assignments(userId: "u1", projectId: nil, roleId: nil).isEmpty)
    }
}

@Suite("Local blob store")
struct LocalBlobStoreTests {
    @Test("commit makes data readable in ranges; abort and delete leave nothing", arguments: [true, false])
    func writeReadAbort(directIO: Bool) async throws {
        let dir = tempDir()
        defer { _ = system("rm -rf \(dir)") }
        let store = try LocalBlobStore(root: dir + "/images", directIO: directIO)
        // Several blocks in flight at once, chunks of uneven sizes, a tail that is not whole pages.
        let data = (0..<17_000_123).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 16) }
        let w = try await store.makeWriter(imageId: "11111111-2222-3333-4444-555555555555")
        var start = 0, step = 1
        while start < data.count {
            let end = min(start + 65536 + step * 4099 % 70000, data.count)
            try await w.write(ByteBuffer(bytes: data[start..<end]))
            start = end
            step += 1
        }
        let location = try await w.commit()
        func read(_ range: ClosedRange<Int>?) async throws -> [UInt8] {
            var out: [UInt8] = []
            for try await chunk in try await store.read(location: location, range: range) { out += chunk.readableBytesView }
            return out
        }
        #expect(try await read(nil) == data)
        #expect(try await read(10...19) == Array(data[10...19]))
        #expect(try await read(16_999_990...17_000_122) == Array(data[16_999_990...]))
        try await store.delete(location: location)
        await #expect(throws: (any Error).self) { try await read(nil) }

        let aborted = try await store.makeWriter(imageId: "x")
        try await aborted.write(ByteBuffer(bytes: data))
        await aborted.abort()
        #expect(system("test -z \"$(ls -A \(dir)/images/.tmp)\"") == 0)
        await #expect(throws: BlobStoreError.self) { try await store.read(location: "../../etc/passwd", range: nil) }
    }
}

@Suite("SQLite write-ahead log")
struct SQLiteCheckpointTests {
    @Test("commits leave checkpoints to the background, and the log stays bounded")
    func backgroundCheckpoints() async throws {
        let dir = tempDir()
        defer { _ = system("rm -rf \(dir)") }
        let store = try SQLiteMetadataStore(path: dir + "/test.db")
        // Each commit appends the pages it touched to the log: 3000 of them would grow it to
        // well over 100 MB if nothing copied it back; the bound is a little over the inline
        // limit of 8000 pages (32 MB).
        for i in 1...3000 {
            try await store.insertImage(image(uuid(i), owner: "p1", name: "image-\(i)", at: Int64(i),
                                              tags: ["t\(i % 7)"], properties: ["k": .string("v\(i)")]))
        }
        store.db.checkpointer.drain()
        #expect(store.db.checkpointer.checkpointsRun > 0)
        var st = stat()
        #expect(stat(dir + "/test.db-wal", &st) == 0)
        #expect(st.st_size < 40 << 20, "log of \(st.st_size) bytes")
        #expect(try await store.image(id: uuid(3000))?.name == "image-3000")
        #expect(try await store.image(id: uuid(1))?.properties["k"] == .string("v1"))
    }
}
