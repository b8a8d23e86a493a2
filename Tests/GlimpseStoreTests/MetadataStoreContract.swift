import GlimpseCore
import GlimpseIdentity
import OpenStackEncoding
import OpenStackJSON
import Testing

/// The behaviour every metadata store shows: each test runs against every backend, so the
/// backends stay interchangeable.
@Suite("Metadata store contract")
struct MetadataStoreContract {
    @Test("insert, read, optimistic update, duplicates, all-or-nothing batches", arguments: MetadataBackend.available)
    func crud(_ backend: MetadataBackend) async throws {
        try await backend.with { store in
            let img = image(
                uuid(1), owner: "p1", name: "one", at: 100, tags: ["a"], properties: ["k": "v", "n": [1, 2]])
            try await store.insertImage(img)
            await #expect(throws: StoreError.duplicate) { try await store.insertImage(img) }
            var got = try #require(try await store.image(id: img.id))
            #expect(got == img)
            got.name = "renamed"
            got.tags = ["b", "a"]
            got.properties["k"] = "w"
            let saved = try #require(try await store.updateImage(got))
            #expect(saved.revision == 1)
            // A write based on the old revision is refused and changes nothing.
            var stale = got
            stale.name = "stale"
            #expect(try await store.updateImage(stale) == nil)
            let now = try #require(try await store.image(id: img.id))
            #expect(now.name == "renamed" && now.tags == ["b", "a"] && now.properties["k"] == "w" && now.revision == 1)

            let batch = (2...4).map {
                image(
                    uuid($0), owner: "p1", name: "b\($0)", at: 200 + Int64($0), tags: ["t"],
                    properties: ["i": .number(JSONNumber($0))])
            }
            try await store.insertImages(batch)
            for b in batch { #expect(try await store.image(id: b.id) == b) }
            let clash = [image(uuid(5), owner: "p1", at: 300), image(uuid(2), owner: "p1", at: 301)]
            await #expect(throws: StoreError.duplicate) { try await store.insertImages(clash) }
            #expect(try await store.image(id: uuid(5)) == nil)
        }
    }

    @Test("two writers on one revision: exactly one wins", arguments: MetadataBackend.available)
    func concurrentUpdates(_ backend: MetadataBackend) async throws {
        try await backend.with { store in
            let img = image(uuid(1), owner: "p1", name: "start", at: 1)
            try await store.insertImage(img)
            let results = try await withThrowingTaskGroup(of: Bool.self) { group in
                for i in 0..<8 {
                    var change = img
                    change.name = "writer-\(i)"
                    group.addTask { try await store.updateImage(change) != nil }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(results.filter { $0 }.count == 1)
            #expect(try await store.image(id: img.id)?.revision == 1)
        }
    }

    @Test(
        "an update writes what changed, and every filter follows it (tags, properties, flags, minimums, hashes)",
        arguments: MetadataBackend.available
    )
    func filtersFollowUpdates(_ backend: MetadataBackend) async throws {
        try await backend.with { store in
            var img = image(
                uuid(1), owner: "p1", name: "one", visibility: .private, at: 1, tags: ["a", "b"],
                properties: ["k": "v", "n": 1])
            img.locations = [ImageLocation(storeId: "local", location: "file:///one")]
            try await store.insertImage(img)
            try await store.insertImage(image(uuid(2), owner: "p1", name: "two", visibility: .private, at: 2))
            func ids(
                _ conditions: [ImageCondition], as project: String = "p1", hidden: Bool = false
            ) async throws
                -> [Int]
            {
                let q = ImageListQuery(
                    scope: ListScope(projectId: project, isAdmin: false, hidden: hidden), conditions: conditions,
                    sort: ImageListQuery.completeSort([], defaultAscending: false), limit: 10, marker: nil)
                return try await store.listImages(q).map { Int($0.id.suffix(1))! }
            }
            func exactly(_ column: ImageColumn, _ v: Int) -> [ImageCondition] {
                [.atLeast(column, v), .atMost(column, v)]
            }

            img.tags = ["b", "c"]
            img.properties["k"] = "w"
            img.properties["n"] = nil
            img.properties["m"] = "x"
            img.minDisk = 5
            img.minRam = 512
            img.isProtected = true
            img.checksum = String(repeating: "a", count: 32)
            img.osHashValue = String(repeating: "b", count: 128)
            img.virtualSize = 4096
            img.locations.append(ImageLocation(storeId: "local", location: "file:///copy"))
            img = try #require(try await store.updateImage(img))
            #expect(try await store.image(id: img.id) == img)
            #expect(try await ids([.tags(["a"])]).isEmpty)
            #expect(try await ids([.tags(["b", "c"])]) == [1])
            #expect(try await ids([.property("k", "v")]).isEmpty)
            #expect(try await ids([.property("k", "w")]) == [1])
            #expect(try await ids([.property("n", "1")]).isEmpty)
            #expect(try await ids([.property("m", "x")]) == [1])
            #expect(try await ids([.propertyAbsent("n")]) == [2, 1])
            #expect(try await ids(exactly(.minDisk, 5)) == [1])
            #expect(try await ids([.atLeast(.minRam, 256)]) == [1])
            #expect(try await ids(exactly(.minDisk, 0)) == [2])
            #expect(try await ids([.flag(.isProtected, true)]) == [1])
            #expect(try await ids([.flag(.isProtected, false)]) == [2])
            #expect(try await ids([.oneOf(.checksum, [img.checksum!])]) == [1])
            #expect(try await ids([.oneOf(.osHashValue, [img.osHashValue!])]) == [1])
            #expect(try await ids(exactly(.virtualSize, 4096)) == [1])
            #expect(try await ids([.atMost(.virtualSize, 8192)]) == [1])

            // Made public, the image is found by its tags and properties from another project.
            img.visibility = .public
            img.minDisk = 0
            img.isProtected = false
            img.locations.removeFirst()
            img = try #require(try await store.updateImage(img))
            #expect(try await store.image(id: img.id) == img)
            #expect(try await ids([.tags(["c"])], as: "p2") == [1])
            #expect(try await ids([.property("k", "w")], as: "p2") == [1])
            #expect(try await ids(exactly(.minDisk, 5)).isEmpty)
            #expect(try await ids(exactly(.minDisk, 0)) == [2, 1])
            #expect(try await ids([.flag(.isProtected, true)]).isEmpty)
            img.osHidden = true
            img = try #require(try await store.updateImage(img))
            #expect(try await ids([], hidden: true) == [1])
            #expect(try await ids([]) == [2])
        }
    }

    @Test(
        "list: scope, filters on tags and properties, keyset paging in mixed order",
        arguments: MetadataBackend.available
    )
    func listing(_ backend: MetadataBackend) async throws {
        try await backend.with { store in
            try await store.insertImage(
                image(
                    uuid(1), owner: "p1", name: "b", visibility: .private, at: 1, tags: ["x"],
                    properties: ["os": "linux"]))
            try await store.insertImage(
                image(uuid(2), owner: "p1", name: "a", visibility: .shared, at: 2, tags: ["x", "y"]))
            try await store.insertImage(
                image(uuid(3), owner: "p2", name: "c", visibility: .public, at: 3, properties: ["os": "bsd"]))
            try await store.insertImage(image(uuid(4), owner: "p2", name: nil, visibility: .community, at: 4))
            try await store.insertImage(image(uuid(5), owner: "p2", name: "e", visibility: .shared, at: 5))
            try await store.insertMember(
                ImageMember(
                    imageId: uuid(5), memberId: "p1", status: .pending,
                    createdAt: Timestamp(seconds: 6), updatedAt: Timestamp(seconds: 6)))
            func ids(
                _ scope: ListScope, _ conditions: [ImageCondition] = [], sort: [SortKey] = [], limit: Int = 10,
                marker: Image? = nil
            ) async throws -> [Int] {
                let q = ImageListQuery(
                    scope: scope, conditions: conditions,
                    sort: ImageListQuery.completeSort(sort, defaultAscending: false), limit: limit, marker: marker)
                return try await store.listImages(q).map { Int($0.id.suffix(1))! }
            }
            let p1 = ListScope(projectId: "p1", isAdmin: false)
            #expect(try await ids(p1) == [3, 2, 1])
            #expect(try await ids(ListScope(projectId: "p1", isAdmin: false, visibility: .all)) == [4, 3, 2, 1])
            #expect(try await ids(ListScope(projectId: "p1", isAdmin: false, memberStatus: .pending)) == [5, 3, 2, 1])
            #expect(
                try await ids(
                    ListScope(projectId: "p1", isAdmin: false, visibility: .only(.shared), memberStatus: .all)) == [
                        5, 2,
                    ])
            #expect(try await ids(ListScope(projectId: "admin", isAdmin: true)) == [5, 3, 2, 1])
            #expect(try await ids(ListScope(projectId: "p3", isAdmin: false)) == [3])
            #expect(try await ids(ListScope(projectId: nil, isAdmin: false, visibility: .all)) == [4, 3])
            #expect(try await ids(p1, [.tags(["x", "y"])]) == [2])
            #expect(try await ids(p1, [.property("os", "linux")]) == [1])
            #expect(try await ids(p1, [.propertyAbsent("os")]) == [2])
            #expect(try await ids(p1, [.oneOf(.name, ["a", "c"])]) == [3, 2])
            #expect(try await ids(p1, [.time(.createdAt, .gt, Timestamp(seconds: 1))]) == [3, 2])
            // A project's scope (public, its own, shared with it) pages as one list.
            let pending = ListScope(projectId: "p1", isAdmin: false, memberStatus: .pending)
            var scoped: [Int] = []
            var after: Image?
            for _ in 0..<10 {
                let page = try await ids(pending, limit: 1, marker: after)
                if page.isEmpty { break }
                scoped += page
                after = try await store.image(id: uuid(page.last!))
            }
            #expect(scoped == [5, 3, 2, 1])
            #expect(try await ids(pending, sort: [SortKey(.name, ascending: true)], limit: 3) == [2, 1, 3])
            // Size bounds leave out images without a size, whatever the bound.
            var sized = try #require(try await store.image(id: uuid(3)))
            sized.size = 100
            _ = try await store.updateImage(sized)
            #expect(try await ids(p1, [.atLeast(.size, 0)]) == [3])
            #expect(try await ids(p1, [.atLeast(.size, 50)]) == [3])
            #expect(try await ids(p1, [.atLeast(.size, 101)]) == [])
            #expect(try await ids(p1, [.atMost(.size, 100)]) == [3])
            #expect(try await ids(p1, [.atMost(.size, 0)]) == [])
            // An exact size (both bounds at once) is one equality; 0 matches no missing size.
            #expect(try await ids(p1, [.atLeast(.size, 100), .atMost(.size, 100)]) == [3])
            #expect(try await ids(p1, [.atLeast(.size, 0), .atMost(.size, 0)]) == [])
            let unfiltered = try await ids(p1)
            #expect(try await ids(p1, [.atLeast(.minDisk, 0), .atMost(.minDisk, 0)]) == unfiltered)
            // A tag filter read from its side table pages in the default order, with markers.
            var tagged: [Int] = []
            var afterTagged: Image?
            for _ in 0..<10 {
                let page = try await ids(p1, [.tags(["x"])], limit: 1, marker: afterTagged)
                if page.isEmpty { break }
                tagged += page
                afterTagged = try await store.image(id: uuid(page.last!))
            }
            let allTagged = try await ids(p1, [.tags(["x"])])
            #expect(!tagged.isEmpty && tagged == allTagged)
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
            // Tag and property rows follow their image's visibility (the public images with a
            // tag are sought as such): published, image 1 shows in another project's lists.
            let p3 = ListScope(projectId: "p3", isAdmin: false)
            #expect(try await ids(p3, [.tags(["x"])]) == [])
            var published = try #require(try await store.image(id: uuid(1)))
            published.visibility = .public
            _ = try #require(try await store.updateImage(published))
            #expect(try await ids(p3, [.tags(["x"])]) == [1])
            #expect(try await ids(p3, [.property("os", "linux")]) == [1])
            #expect(try await ids(p3, [.tags(["x"])], sort: [SortKey(.name, ascending: true)]) == [1])
        }
    }

    @Test("names sort byte by byte, whatever the database's locale", arguments: MetadataBackend.available)
    func byteOrder(_ backend: MetadataBackend) async throws {
        try await backend.with { store in
            let names = ["b", "B", "a", "Z", "é", "_", "a b", "ab"]
            for (i, name) in names.enumerated() {
                try await store.insertImage(image(uuid(i + 1), owner: "p1", name: name, at: Int64(i)))
            }
            let q = ImageListQuery(
                scope: ListScope(projectId: "p1", isAdmin: false),
                sort: ImageListQuery.completeSort([SortKey(.name, ascending: true)], defaultAscending: false),
                limit: 20, marker: nil)
            let listed = try await store.listImages(q).compactMap(\.name)
            #expect(listed == names.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) })
            #expect(listed == ["B", "Z", "_", "a", "a b", "ab", "b", "é"])
        }
    }

    @Test("members, tombstones, usage and purge", arguments: MetadataBackend.available)
    func membersAndDeletion(_ backend: MetadataBackend) async throws {
        try await backend.with { store in
            var img = image(uuid(1), owner: "p1", status: .active, at: 1)
            img.size = 1000
            img.locations = [ImageLocation(storeId: "local", location: "ab/x")]
            try await store.insertImage(img)
            try await store.insertImage(image(uuid(2), owner: "p1", status: .saving, at: 2))
            let m = ImageMember(
                imageId: img.id, memberId: "p2", status: .pending, createdAt: Timestamp(seconds: 1),
                updatedAt: Timestamp(seconds: 1))
            try await store.insertMember(m)
            await #expect(throws: StoreError.duplicate) { try await store.insertMember(m) }
            var accepted = m
            accepted.status = .accepted
            #expect(try await store.updateMember(accepted))
            #expect(try await store.member(imageId: img.id, memberId: "p2")?.status == .accepted)
            #expect(try await store.isMember(imageId: img.id, projectId: "p2"))
            #expect(try await store.usage(owner: "p1") == ImageUsage(images: 2, bytes: 1000, uploading: 1))
            #expect(try await store.referencedLocations(storeId: "local", ["ab/x", "cd/y"]) == ["ab/x"])
            #expect(try await store.referencedLocations(storeId: "other", ["ab/x"]).isEmpty)

            #expect(try await store.markDeleted(id: img.id, at: Timestamp(seconds: 10)))
            #expect(!(try await store.markDeleted(id: img.id, at: Timestamp(seconds: 11))))
            #expect(try await store.image(id: img.id) == nil)
            #expect(try await store.imageIncludingDeleted(id: img.id)?.status == .deleted)
            #expect(try await store.members(imageId: img.id).isEmpty)
            #expect(try await store.usage(owner: "p1").images == 1)
            // A tombstone does not hold on to its data (the orphan sweep may remove what is left).
            #expect(try await store.referencedLocations(storeId: "local", ["ab/x"]).isEmpty)
            let tombstones = try await store.deletedImages(before: Timestamp(seconds: 20), limit: 10)
            #expect(tombstones.map(\.id) == [img.id])
            #expect(tombstones.first?.status == .deleted && tombstones.first?.locations == img.locations)
            #expect(try await store.deletedImages(before: Timestamp(seconds: 5), limit: 10).isEmpty)
            try await store.purge(ids: [img.id])
            #expect(try await store.deletedImages(before: Timestamp(seconds: 20), limit: 10).isEmpty)
            #expect(try await store.referencedLocations(storeId: "local", ["ab/x"]).isEmpty)
            // The id is free again once purged.
            try await store.insertImage(image(uuid(1), owner: "p1", at: 30))
        }
    }

    @Test(
        "upload leases: taken with the status change, renewed by their owner, ended once",
        arguments: MetadataBackend.available)
    func leases(_ backend: MetadataBackend) async throws {
        try await backend.with { store in
            let queued = image(uuid(1), owner: "p1", at: 1)
            try await store.insertImage(queued)
            var saving = queued
            try saving.transition(to: .saving)
            let lease = UploadLease(
                imageId: queued.id, owner: "node-a", storeId: "local", pendingLocation: ".tmp/x",
                expiresAt: Timestamp(seconds: 100), expected: 1000)
            let started = try #require(try await store.startUpload(saving, lease: lease))
            #expect(started.status == .saving && started.revision == 1)
            // The same revision cannot start a second upload.
            #expect(try await store.startUpload(saving, lease: lease) == nil)
            #expect(try await store.uploadLeases(imageIds: [queued.id, uuid(9)]) == [lease])
            #expect(try await store.referencedLocations(storeId: "local", [".tmp/x", ".tmp/y"]) == [".tmp/x"])

            var renewed = lease
            renewed.expiresAt = Timestamp(seconds: 200)
            renewed.received = 600
            #expect(try await store.renewLease(renewed))
            var foreign = renewed
            foreign.owner = "node-b"
            #expect(!(try await store.renewLease(foreign)))
            #expect(try await store.uploadLeases(imageIds: [queued.id]).first?.percent == 60)
            #expect(try await store.expiredLeases(now: Timestamp(seconds: 150), limit: 10).isEmpty)
            #expect(try await store.expiredLeases(now: Timestamp(seconds: 250), limit: 10) == [renewed])

            // Ending with a lease that has moved on (a reclaim that lost the race) changes nothing.
            var done = started
            try done.transition(to: .active)
            #expect(try await store.endUpload(done, lease: lease) == nil)
            #expect(try await store.image(id: queued.id)?.status == .saving)
            let ended = try #require(try await store.endUpload(done, lease: renewed))
            #expect(ended.status == .active)
            #expect(try await store.uploadLeases(imageIds: [queued.id]).isEmpty)
            #expect(try await store.endUpload(ended, lease: renewed) == nil)

            // Deleting an image ends its upload.
            let other = image(uuid(2), owner: "p1", at: 2)
            try await store.insertImage(other)
            var otherSaving = other
            try otherSaving.transition(to: .saving)
            let otherLease = UploadLease(
                imageId: other.id, owner: "node-a", storeId: "local", pendingLocation: ".tmp/z",
                expiresAt: Timestamp(seconds: 100))
            _ = try #require(try await store.startUpload(otherSaving, lease: otherLease))
            #expect(try await store.markDeleted(id: other.id, at: Timestamp(seconds: 50)))
            #expect(try await store.uploadLeases(imageIds: [other.id]).isEmpty)
            #expect(!(try await store.renewLease(otherLease)))
        }
    }

    @Test(
        "copies of an image's data: kept in order, added and removed, each one referenced until the image is deleted",
        arguments: MetadataBackend.available)
    func locations(_ backend: MetadataBackend) async throws {
        try await backend.with { store in
            var img = image(uuid(1), owner: "p1", status: .active, at: 1)
            img.size = 10
            img.locations = [
                ImageLocation(storeId: "fast", location: "a/1"), ImageLocation(storeId: "slow", location: "b/1"),
            ]
            try await store.insertImage(img)
            try await store.insertImage(image(uuid(2), owner: "p1", at: 2))
            var got = try #require(try await store.image(id: img.id))
            #expect(got.locations == img.locations)
            // A location added through the locations API keeps its metadata (any JSON object).
            got.locations.append(
                ImageLocation(storeId: "cold", location: "c/1", metadata: ["speed": "88mph", "n": [1, true]]))
            got.locations.removeFirst()
            got = try #require(try await store.updateImage(got))
            #expect(try await store.image(id: img.id)?.locations == got.locations)
            #expect(try await store.image(id: img.id)?.locations.map(\.storeId) == ["slow", "cold"])
            let q = ImageListQuery(
                scope: ListScope(projectId: "p1", isAdmin: false),
                sort: ImageListQuery.completeSort([], defaultAscending: true), limit: 10, marker: nil)
            #expect(try await store.listImages(q).map(\.locations) == [got.locations, []])
            // Every copy is referenced, a removed one no longer is, and the size counts once.
            #expect(try await store.referencedLocations(storeId: "slow", ["b/1", "a/1", "c/1"]) == ["b/1"])
            #expect(try await store.referencedLocations(storeId: "cold", ["c/1"]) == ["c/1"])
            #expect(try await store.referencedLocations(storeId: "fast", ["a/1"]).isEmpty)
            #expect(try await store.usage(owner: "p1").bytes == 10)
            // A tombstone records every copy until it is purged (for the purge to remove what
            // is left), but refers to none: the orphan sweep may remove them first.
            #expect(try await store.markDeleted(id: img.id, at: Timestamp(seconds: 10)))
            let tombstone = try #require(try await store.deletedImages(before: Timestamp(seconds: 20), limit: 5).first)
            #expect(tombstone.locations == got.locations)
            #expect(try await store.imageIncludingDeleted(id: img.id)?.locations == got.locations)
            #expect(try await store.referencedLocations(storeId: "cold", ["c/1"]).isEmpty)
            try await store.purge(ids: [img.id])
            #expect(try await store.referencedLocations(storeId: "slow", ["b/1"]).isEmpty)
            #expect(try await store.referencedLocations(storeId: "cold", ["c/1"]).isEmpty)
        }
    }

    @Test(
        "an import's lease moves on from one store's pending data to the next with the image's progress",
        arguments: MetadataBackend.available)
    func leaseHandOver(_ backend: MetadataBackend) async throws {
        try await backend.with { store in
            var img = image(uuid(1), owner: "p1", status: .active, at: 1)
            img.locations = [ImageLocation(storeId: "fast", location: "a/1")]
            try await store.insertImage(img)
            let first = UploadLease(
                imageId: img.id, owner: "node-a", storeId: "slow", pendingLocation: "pending/1",
                expiresAt: Timestamp(seconds: 100))
            let started = try #require(try await store.startUpload(img, lease: first))
            var second = first
            second.storeId = "cold"
            second.pendingLocation = "pending/2"
            var step = started
            step.locations.append(ImageLocation(storeId: "slow", location: "b/1"))
            // A lease that is not the image's, or a stale revision, changes nothing.
            var foreign = first
            foreign.owner = "node-b"
            #expect(try await store.handOverLease(step, from: foreign, to: second) == nil)
            #expect(try await store.handOverLease(img, from: first, to: second) == nil)
            #expect(try await store.uploadLeases(imageIds: [img.id]) == [first])
            #expect(try await store.image(id: img.id)?.locations.count == 1)
            let moved = try #require(try await store.handOverLease(step, from: first, to: second))
            #expect(moved.revision == started.revision + 1)
            #expect(try await store.image(id: img.id)?.locations.map(\.storeId) == ["fast", "slow"])
            #expect(try await store.uploadLeases(imageIds: [img.id]) == [second])
            #expect(try await store.referencedLocations(storeId: "cold", ["pending/2"]) == ["pending/2"])
            #expect(try await store.referencedLocations(storeId: "slow", ["pending/1", "b/1"]) == ["b/1"])
            #expect(try await store.endUpload(moved, lease: second) != nil)
            #expect(try await store.uploadLeases(imageIds: [img.id]).isEmpty)
        }
    }

    @Test("identity records: uniqueness, assignments, tokens", arguments: MetadataBackend.available)
    func identity(_ backend: MetadataBackend) async throws {
        try await backend.with { store in
            try await store.insertDomain(.default)
            await #expect(throws: StoreError.duplicate) {
                try await store.insertDomain(Domain(id: "other", name: "Default"))
            }
            try await store.insertProject(Project(id: "p1", name: "one", domainId: "default"))
            await #expect(throws: StoreError.duplicate) {
                try await store.insertProject(Project(id: "p2", name: "one", domainId: "default"))
            }
            try await store.insertUser(User(id: "u1", name: "ann", domainId: "default", passwordHash: "h"))
            try await store.insertRole(Role(id: "r1", name: "member"))
            try await store.grant(RoleAssignment(userId: "u1", projectId: "p1", roleId: "r1"))
            try await store.grant(RoleAssignment(userId: "u1", projectId: "p1", roleId: "r1"))
            #expect(try await store.assignments(userId: "u1", projectId: nil, roleId: nil).count == 1)
            var ann = try #require(try await store.user(id: "u1"))
            ann.email = "ann@example.com"
            try await store.updateUser(ann)
            #expect(try await store.user(name: "ann", domainId: "default")?.email == "ann@example.com")
            let token = TokenRecord(
                hash: "abc", userId: "u1", projectId: "p1", roleIds: ["r1"], methods: ["password"],
                issuedAt: Timestamp(seconds: 1), expiresAt: Timestamp(seconds: 100), auditIds: ["x"])
            try await store.insertToken(token)
            #expect(try await store.token(hash: "abc") == token)
            #expect(try await store.deleteTokens(expiredBefore: Timestamp(seconds: 50)) == 0)
            #expect(try await store.deleteProject(id: "p1"))
            #expect(try await store.token(hash: "abc") == nil)
            #expect(try await store.assignments(userId: "u1", projectId: nil, roleId: nil).isEmpty)
        }
    }

    @Test(
        "system role assignments: granted once, revoked, gone with the user or the role; system tokens",
        arguments: MetadataBackend.available)
    func systemRoles(_ backend: MetadataBackend) async throws {
        try await backend.with { store in
            try await store.insertDomain(.default)
            try await store.insertUser(User(id: "u1", name: "ann", domainId: "default", passwordHash: "h"))
            try await store.insertUser(User(id: "u2", name: "bob", domainId: "default", passwordHash: "h"))
            try await store.insertRole(Role(id: "r1", name: "admin"))
            try await store.insertRole(Role(id: "r2", name: "reader"))
            try await store.grantSystemRole(userId: "u1", roleId: "r1")
            try await store.grantSystemRole(userId: "u1", roleId: "r1")
            try await store.grantSystemRole(userId: "u1", roleId: "r2")
            try await store.grantSystemRole(userId: "u2", roleId: "r2")
            #expect(try await store.systemAssignments(userId: "u1", roleId: nil).map(\.roleId) == ["r1", "r2"])
            #expect(
                try await store.systemAssignments(userId: nil, roleId: "r2") == [
                    SystemRoleAssignment(userId: "u1", roleId: "r2"), SystemRoleAssignment(userId: "u2", roleId: "r2"),
                ])
            #expect(try await store.revokeSystemRole(userId: "u1", roleId: "r1"))
            #expect(try await !store.revokeSystemRole(userId: "u1", roleId: "r1"))
            #expect(try await store.systemAssignments(userId: "u1", roleId: nil).map(\.roleId) == ["r2"])
            let token = TokenRecord(
                hash: "sys", userId: "u2", projectId: nil, system: true, roleIds: ["r2"], methods: ["password"],
                issuedAt: Timestamp(seconds: 1), expiresAt: Timestamp(seconds: 100), auditIds: ["x"])
            try await store.insertToken(token)
            #expect(try await store.token(hash: "sys") == token)
            #expect(try await store.deleteRole(id: "r2"))
            #expect(try await store.systemAssignments(userId: "u1", roleId: nil).isEmpty)
            try await store.grantSystemRole(userId: "u2", roleId: "r1")
            #expect(try await store.deleteUser(id: "u2"))
            #expect(try await store.systemAssignments(userId: "u2", roleId: nil).isEmpty)
        }
    }

    @Test(
        "unified limits: filters, regions, all-or-nothing batches, uniqueness, gone with the project",
        arguments: MetadataBackend.available)
    func unifiedLimits(_ backend: MetadataBackend) async throws {
        try await backend.with { store in
            try await store.insertDomain(.default)
            try await store.insertProject(Project(id: "p1", name: "one", domainId: "default"))
            let everywhere = RegisteredLimit(
                id: "r1", serviceId: "img", regionId: nil, resourceName: "count", defaultLimit: 5, description: "d")
            let regional = RegisteredLimit(
                id: "r2", serviceId: "img", regionId: "R1", resourceName: "count", defaultLimit: 3)
            try await store.insertRegisteredLimits([everywhere, regional])
            var clash = everywhere
            clash.id = "r3"
            let fresh = RegisteredLimit(
                id: "r4", serviceId: "img", regionId: nil, resourceName: "size", defaultLimit: 1)
            await #expect(throws: StoreError.duplicate) { try await store.insertRegisteredLimits([fresh, clash]) }
            #expect(try await store.registeredLimit(id: "r4") == nil)
            #expect(try await store.registeredLimit(id: "r1") == everywhere)
            #expect(try await store.registeredLimits(serviceId: "img", regionId: nil, resourceName: nil).count == 2)
            #expect(try await store.registeredLimits(serviceId: nil, regionId: "R1", resourceName: nil) == [regional])
            var moved = regional
            moved.regionId = nil
            await #expect(throws: StoreError.duplicate) { try await store.updateRegisteredLimit(moved) }
            moved.defaultLimit = -1
            moved.regionId = "R2"
            try await store.updateRegisteredLimit(moved)
            #expect(try await store.registeredLimit(id: "r2") == moved)

            let own = ProjectLimit(
                id: "l1", projectId: "p1", serviceId: "img", regionId: nil, resourceName: "count", resourceLimit: 9)
            try await store.insertProjectLimits([own])
            var again = own
            again.id = "l2"
            await #expect(throws: StoreError.duplicate) { try await store.insertProjectLimits([again]) }
            var changed = own
            changed.resourceLimit = 10
            changed.description = "more"
            try await store.updateProjectLimit(changed)
            #expect(try await store.projectLimit(id: "l1") == changed)
            #expect(
                try await store.projectLimits(projectId: "p1", serviceId: "img", regionId: nil, resourceName: "count")
                    == [changed])
            #expect(
                try await store.projectLimits(projectId: "p2", serviceId: nil, regionId: nil, resourceName: nil).isEmpty
            )
            #expect(try await store.deleteProject(id: "p1"))
            #expect(try await store.projectLimit(id: "l1") == nil)
            #expect(try await store.deleteRegisteredLimit(id: "r1"))
            #expect(!(try await store.deleteRegisteredLimit(id: "r1")))
        }
    }

    @Test(
        "stored limits are read again after their cache time, or at once when invalidated",
        arguments: MetadataBackend.available)
    func storedLimitsCache(_ backend: MetadataBackend) async throws {
        try await backend.with { store in
            try await store.insertDomain(.default)
            try await store.insertProject(Project(id: "p1", name: "one", domainId: "default"))
            let cached = StoredLimits(store: store, serviceId: "img", regionId: nil, cacheTime: .seconds(3600))
            let uncached = StoredLimits(store: store, serviceId: "img", regionId: nil, cacheTime: .zero)
            #expect(try await cached.limits(for: "p1").isEmpty)
            try await store.insertRegisteredLimits([
                RegisteredLimit(id: "r1", serviceId: "img", regionId: nil, resourceName: "count", defaultLimit: 5)
            ])
            // Written past this reader (as by another server): not seen until read again.
            #expect(try await cached.limits(for: "p1").isEmpty)
            #expect(try await uncached.limits(for: "p1") == ["count": 5])
            cached.invalidate()
            #expect(try await cached.limits(for: "p1") == ["count": 5])
        }
    }

    @Test("usage counts staged data apart, and copies under way as uploads", arguments: MetadataBackend.available)
    func stagedUsage(_ backend: MetadataBackend) async throws {
        try await backend.with { store in
            var active = image(uuid(1), owner: "p1", status: .active, at: 1)
            active.size = 1000
            active.locations = [ImageLocation(storeId: "local", location: "ab/x")]
            var staged = image(uuid(2), owner: "p1", status: .uploading, at: 2)
            staged.size = 300
            staged.locations = [ImageLocation(storeId: "local", location: "ab/y")]
            // Copied to more stores (copy-image): counted as uploading, as Glance counts it;
            // not once the copy is over (the property empty), nor twice while importing.
            var copying = image(uuid(4), owner: "p1", status: .active, at: 4)
            copying.properties["os_glance_importing_to_stores"] = "b,c"
            var copied = image(uuid(5), owner: "p1", status: .active, at: 5)
            copied.properties["os_glance_importing_to_stores"] = ""
            var importing = image(uuid(3), owner: "p1", status: .importing, at: 3)
            importing.properties["os_glance_importing_to_stores"] = "b"
            try await store.insertImages([active, staged, importing, copying, copied])
            #expect(
                try await store.usage(owner: "p1") == ImageUsage(images: 5, bytes: 1300, uploading: 3, staged: 300))
        }
    }

    @Test("metadata definitions: namespaces, items, renames carry items along", arguments: MetadataBackend.available)
    func metadefs(_ backend: MetadataBackend) async throws {
        try await backend.with { store in
            let t = Timestamp(seconds: 1)
            let ns = MetadefNamespace(
                namespace: "OS::Test", displayName: "Test", description: nil, visibility: "public",
                isProtected: false, owner: "p1", createdAt: t, updatedAt: t)
            try await store.insertMetadefNamespace(ns)
            await #expect(throws: StoreError.duplicate) { try await store.insertMetadefNamespace(ns) }
            let item = MetadefItem(
                namespace: "OS::Test", kind: .property, name: "speed", body: ["type": "integer"],
                createdAt: t, updatedAt: t)
            try await store.insertMetadefItem(item)
            await #expect(throws: StoreError.duplicate) { try await store.insertMetadefItem(item) }
            var renamed = ns
            renamed.namespace = "OS::Renamed"
            try await store.updateMetadefNamespace("OS::Test", renamed)
            #expect(try await store.metadefNamespace("OS::Test") == nil)
            #expect(try await store.metadefItems("OS::Renamed", .property).map(\.name) == ["speed"])
            try await store.insertMetadefResourceType(
                MetadefResourceType(name: "OS::Glance::Image", createdAt: t, updatedAt: t))
            try await store.insertMetadefResourceType(
                MetadefResourceType(name: "OS::Glance::Image", createdAt: t, updatedAt: t))
            #expect(try await store.metadefResourceTypes().count == 1)
            #expect(try await store.deleteMetadefNamespace("OS::Renamed"))
            #expect(try await store.metadefItems("OS::Renamed", .property).isEmpty)
        }
    }

    @Test(
        "tasks: records, scope, filters, every sort in both directions with keyset paging, expiry",
        arguments: MetadataBackend.available
    )
    func tasks(_ backend: MetadataBackend) async throws {
        try await backend.with { store in
            func at(_ s: Int64) -> Timestamp { Timestamp(seconds: s) }
            let t1 = ImageTask(
                id: uuid(1), type: "api_image_import", status: .success, owner: "p1", imageId: "A", requestId: "r1",
                userId: "u1", input: ["import_req": ["method": ["name": "glance-direct"]], "backend": ["local"]],
                result: ["image_id": "A"], message: "Copied 0 MiB ✓", expiresAt: at(1000), createdAt: at(10),
                updatedAt: at(20))
            let t2 = ImageTask(id: uuid(2), type: "import", owner: "p2", createdAt: at(30), updatedAt: at(30))
            let t3 = ImageTask(
                id: uuid(3), type: "api_image_import", status: .failure, owner: "p1", imageId: "B", requestId: "r3",
                userId: "u2", message: "Task failed due to Internal Error", expiresAt: at(500), createdAt: at(10),
                updatedAt: at(40))
            var t4 = ImageTask(
                id: uuid(4), type: "api_image_import", status: .processing, owner: "p1", imageId: "A",
                requestId: "r4", userId: "u1", createdAt: at(50), updatedAt: at(50))
            let t5 = ImageTask(
                id: uuid(5), type: "api_image_import", status: .success, owner: "p1", imageId: "A",
                expiresAt: at(100), createdAt: at(5), updatedAt: at(6))
            for t in [t1, t2, t3, t4, t5] { try await store.insertTask(t) }
            await #expect(throws: StoreError.duplicate) { try await store.insertTask(t1) }
            #expect(try await store.task(id: uuid(1)) == t1)
            #expect(try await store.task(id: uuid(2)) == t2)
            #expect(try await store.task(id: uuid(9)) == nil)

            let now = at(200)
            /// The ids of a whole list, and of the same list walked a page of one at a time.
            func ids(
                owner: String? = nil, _ equal: [(TaskColumn, String)] = [], sort: TaskColumn = .createdAt,
                ascending: Bool = false
            ) async throws -> [Int] {
                func query(_ marker: ImageTask?, _ limit: Int) -> TaskListQuery {
                    TaskListQuery(
                        owner: owner, equal: equal, sortKey: sort, ascending: ascending, marker: marker, limit: limit,
                        now: now)
                }
                let all = try await store.listTasks(query(nil, 100))
                var walked: [ImageTask] = []
                while true {
                    let page = try await store.listTasks(query(walked.last, 1))
                    if page.isEmpty { break }
                    walked += page
                }
                #expect(walked == all, "paging \(sort) \(ascending)")
                return all.map { Int($0.id.suffix(1))! }
            }
            // Newest first; ties on created_at by id; the expired task left out.
            #expect(try await ids() == [4, 2, 3, 1])
            #expect(try await ids(ascending: true) == [1, 3, 2, 4])
            #expect(try await ids(owner: "p1") == [4, 3, 1])
            #expect(try await ids(owner: "p3").isEmpty)
            #expect(try await ids([(.status, "success")]) == [1])
            #expect(try await ids([(.imageId, "A")]) == [4, 1])
            #expect(try await ids([(.imageId, "A"), (.userId, "u2")]).isEmpty)
            #expect(try await ids([(.type, "import")]) == [2])
            #expect(try await ids(sort: .status, ascending: true) == [3, 2, 4, 1])
            #expect(try await ids(sort: .status) == [1, 4, 2, 3])
            // A missing time sorts as the earliest, a missing text as the empty one.
            #expect(try await ids(sort: .expiresAt, ascending: true) == [2, 4, 3, 1])
            #expect(try await ids(sort: .imageId) == [3, 4, 1, 2])
            #expect(try await ids(sort: .updatedAt) == [4, 3, 2, 1])
            #expect(try await ids(sort: .owner, ascending: true) == [1, 3, 4, 2])
            // `id` sorts as Glance sorts it: by created_at, then id.
            #expect(try await ids(sort: .id, ascending: true) == [1, 3, 2, 4])

            #expect(try await store.tasks(imageId: "A", now: now).map(\.id) == [uuid(1), uuid(4)])
            #expect(try await store.tasks(imageId: "A", now: at(50)).map(\.id) == [uuid(5), uuid(1), uuid(4)])
            #expect(try await store.tasks(imageId: "C", now: now).isEmpty)

            t4.status = .success
            t4.result = ["image_id": "A"]
            t4.message = "Copied 3 MiB"
            t4.expiresAt = at(3000)
            t4.updatedAt = at(60)
            #expect(try await store.updateTask(t4))
            #expect(try await store.task(id: uuid(4)) == t4)
            let missing = ImageTask(id: uuid(9), type: "import", owner: "p1", createdAt: now, updatedAt: now)
            #expect(try await store.updateTask(missing) == false)

            #expect(try await store.deleteExpiredTasks(now: now, limit: 10) == 1)
            #expect(try await store.task(id: uuid(5)) == nil)
            #expect(try await store.deleteExpiredTasks(now: at(2000), limit: 1) == 1)
            #expect(try await store.deleteExpiredTasks(now: at(2000), limit: 1) == 1)
            #expect(try await store.deleteExpiredTasks(now: at(2000), limit: 1) == 0)
            let left = try await store.listTasks(TaskListQuery(owner: nil, limit: 10, now: at(2000)))
            #expect(left.map(\.id) == [uuid(4), uuid(2)])
        }
    }
}
