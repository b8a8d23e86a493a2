import GlimpseTestSupport
import OpenStack
import OpenStackJSON
import Synchronization
import Testing

@testable import glimpse

/// An admin's connection to a test server.
private func admin(_ s: TestServer) throws -> ImageServiceV2 {
    try OpenStack(
        authURL: s.base + "/identity/v3", region: "RegionOne",
        user: .name("admin", domain: .default, password: adminPassword),
        scope: .project(name: "admin", domain: .default)
    ).imagesV2()
}

/// What must be the same on both sides: everything `image show` prints but timestamps and
/// links to the server.
private func comparable(_ image: Image) -> JSONObject {
    JSONObject(
        ImageCommand.fields(image).members.filter { !["created_at", "updated_at", "file", "schema"].contains($0.key) })
}

@Suite("glimpse image migrate")
struct ImageMigrationTests {
    /// A catalog with an image of every kind the migration must keep.
    static func seed(_ images: ImageServiceV2) async throws -> [String] {
        var ids: [String] = []
        func make(_ options: ImageCreate, data: [UInt8]?) async throws -> String {
            let image =
                if let data { try await images.createImage(options, data: .bytes(data)) } else {
                    try await images.createImage(options)
                }
            ids.append(image.id)
            return image.id
        }
        _ = try await make(
            ImageCreate(
                name: "plain", diskFormat: .raw, containerFormat: "bare", tags: ["a", "b"], minDisk: 2, minRam: 64,
                properties: ["os_distro": "cirros", "hw_cpu_cores": "2"]), data: testBytes(70_000, seed: 1))
        let shared = try await make(
            ImageCreate(
                name: "shared", diskFormat: .raw, containerFormat: "bare", visibility: .shared, owner: "proj-a"),
            data: testBytes(30_000, seed: 2))
        _ = try await images.addMember(shared, project: "proj-b")
        _ = try await images.addMember(shared, project: "proj-c")
        _ = try await images.updateMember(shared, project: "proj-b", status: .accepted)
        _ = try await images.updateMember(shared, project: "proj-c", status: .rejected)
        let protected = try await make(
            ImageCreate(name: "protected", diskFormat: .raw, containerFormat: "bare", visibility: .public),
            data: testBytes(100, seed: 8))
        _ = try await images.update(protected, [.replace("protected", true)])
        _ = try await make(
            ImageCreate(name: "hidden", diskFormat: .raw, containerFormat: "bare", isHidden: true),
            data: testBytes(1000, seed: 3))
        let deactivated = try await make(
            ImageCreate(name: "deactivated", diskFormat: .raw, containerFormat: "bare"), data: testBytes(5000, seed: 4))
        try await images.deactivate(deactivated)
        _ = try await make(ImageCreate(name: "queued", diskFormat: .raw, containerFormat: "bare"), data: nil)
        return ids
    }

    @Test(
        "every image arrives with its id, data, metadata, members, protection and state; a second run changes nothing")
    func migrate() async throws {
        try await TestServer.with { a in
            try await TestServer.with { b in
                let (source, target) = (try admin(a), try admin(b))
                let ids = try await Self.seed(source)
                let dryRun = ImageMigration(source: source, target: target, dryRun: true)
                let images = try await dryRun.sourceImages()
                #expect(Set(images.map(\.id)) == Set(ids))
                let planned = Mutex<[ImageMigration.Result]>([])
                await dryRun.run(images, parallel: 2) { r in planned.withLock { $0.append(r) } }
                #expect(planned.withLock { $0.allSatisfy { $0.outcome == .copied } })
                #expect(try await target.listImages().collect().isEmpty)

                let migration = ImageMigration(source: source, target: target, dryRun: false)
                let results = Mutex<[ImageMigration.Result]>([])
                await migration.run(images, parallel: 3) { r in results.withLock { $0.append(r) } }
                #expect(results.withLock { $0.allSatisfy { $0.outcome == .copied } }, "\(results.withLock { $0 })")
                for id in ids {
                    let (s, t) = (try await source.getImage(id), try await target.getImage(id))
                    #expect(comparable(s) == comparable(t), "\(s.name ?? id)")
                    if s.visibility == .shared {
                        let (sm, tm) = (try await source.members(id), try await target.members(id))
                        #expect(sm.count == (s.name == "shared" ? 2 : 0))
                        #expect(
                            Set(sm.map { "\($0.memberId) \($0.status)" })
                                == Set(tm.map { "\($0.memberId) \($0.status)" }))
                    }
                    if s.status == .active {
                        var bytes: [UInt8] = []
                        for try await chunk in try await target.downloadData(id) { bytes += chunk.readableBytesView }
                        #expect(bytes.count == Int(s.size ?? -1))
                    }
                }

                let again = Mutex<[ImageMigration.Result]>([])
                await migration.run(try await migration.sourceImages(), parallel: 2) { r in
                    again.withLock { $0.append(r) }
                }
                #expect(again.withLock { $0.allSatisfy { $0.outcome == .unchanged } }, "\(again.withLock { $0 })")
                #expect(try await target.listImages().collect().count + 1 == ids.count)  // the hidden one is not listed
            }
        }
    }

    @Test(
        "after an interruption: a copy without data gets it, changed metadata is brought level, other data is refused")
    func resume() async throws {
        try await TestServer.with { a in
            try await TestServer.with { b in
                let (source, target) = (try admin(a), try admin(b))
                let bytes = testBytes(40_000, seed: 5)
                let image = try await source.createImage(
                    ImageCreate(name: "x", diskFormat: .raw, containerFormat: "bare", properties: ["k": "v"]),
                    data: .bytes(bytes))
                // Created, then cut off before its data.
                _ = try await target.createImage(ImageMigration.creation(of: image))
                let migration = ImageMigration(source: source, target: target, dryRun: false)
                var result = await migration.move(image)
                #expect(result.outcome == .updated && result.detail.contains("data"), "\(result)")
                #expect(try await target.getImage(image.id).osHashValue == image.osHashValue)
                // Changed on the source since.
                let renamed = try await source.update(image.id, [.replace("name", "y"), .remove("k")])
                result = await migration.move(renamed)
                #expect(result.outcome == .updated && result.detail == "metadata", "\(result)")
                #expect(comparable(try await target.getImage(image.id)) == comparable(renamed))
                // Another image's data under the same id is never overwritten.
                let other = try await source.createImage(
                    ImageCreate(name: "z", diskFormat: .raw, containerFormat: "bare"),
                    data: .bytes(testBytes(10, seed: 6)))
                _ = try await target.createImage(
                    ImageMigration.creation(of: other), data: .bytes(testBytes(10, seed: 7)))
                result = await migration.move(other)
                #expect(result.outcome == .failed && result.detail.contains("differs"), "\(result)")
            }
        }
    }
}

#if RBD
import GlimpseServer

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension ImageMigrationTests {
    static let rbdURL = getenv("GLIMPSE_TEST_RBD_URL").map { String(cString: $0) }

    /// A server whose only store is the test Ceph pool.
    static func onCeph(_ more: @escaping (inout ServerConfig) -> Void) -> (inout ServerConfig) -> Void {
        { config in
            config.enabledBackends = [("ceph", "rbd")]
            config.storeOptions["ceph"] = ["url": rbdURL!]
            config.image.showImageDirectURL = true
            more(&config)
        }
    }

    @Test(
        "--adopt-locations: two clouds on one Ceph pool; the target records the source's RBD images, copying nothing",
        .enabled(if: rbdURL != nil, "GLIMPSE_TEST_RBD_URL is not set (scripts/engines/ceph.sh up prints it)"))
    func adoptLocations() async throws {
        try await TestServer.with(Self.onCeph { _ in }) { a in
            try await TestServer.with(Self.onCeph { $0.image.showMultipleLocations = true }) { b in
                let (source, target) = (try admin(a), try admin(b))
                let ids = try await Self.seed(source)
                let migration = ImageMigration(source: source, target: target, dryRun: false, adoptLocations: true)
                let results = Mutex<[ImageMigration.Result]>([])
                await migration.run(try await migration.sourceImages(), parallel: 3) { r in
                    results.withLock { $0.append(r) }
                }
                for result in results.withLock({ $0 }) {
                    let adopted = result.name != "queued"
                    #expect(result.outcome == .copied, "\(result)")
                    let changes = result.detail.split(separator: ", ")
                    #expect(changes.contains("location") == adopted && !changes.contains("data"), "\(result)")
                }
                for id in ids {
                    let (s, t) = (try await source.getImage(id), try await target.getImage(id))
                    var shown = comparable(t)
                    if var properties = shown["properties"]?.objectValue {
                        properties.removeValue(forKey: "locations")
                        shown["properties"] = .object(properties)
                    }
                    // The same metadata, the same digests and the same direct URL: the same RBD image.
                    #expect(comparable(s) == shown, "\(s.name ?? id)")
                    if s.status == .active {
                        #expect(t.locationURLs == [try #require(s.directURL)])
                        var (a, b): ([UInt8], [UInt8]) = ([], [])
                        for try await chunk in try await source.downloadData(id) { a += chunk.readableBytesView }
                        for try await chunk in try await target.downloadData(id) { b += chunk.readableBytesView }
                        #expect(a == b && a.count == Int(s.size ?? -1))
                    }
                }
                // A second run finds every image level.
                let again = Mutex<[ImageMigration.Result]>([])
                await migration.run(try await migration.sourceImages(), parallel: 2) { r in
                    again.withLock { $0.append(r) }
                }
                #expect(again.withLock { $0.allSatisfy { $0.outcome == .unchanged } }, "\(again.withLock { $0 })")

                // A source that shows no location: the image fails, and nothing is copied.
                let (hidden, id) = try await TestServer.with(Self.onCeph { $0.image.showImageDirectURL = false }) { c in
                    let other = try admin(c)
                    let image = try await other.createImage(
                        ImageCreate(name: "elsewhere", diskFormat: .raw, containerFormat: "bare"),
                        data: .bytes(testBytes(500, seed: 9)))
                    let result = await ImageMigration(
                        source: other, target: target, dryRun: false, adoptLocations: true
                    )
                    .move(image)
                    try await other.delete(image.id)
                    return (result, image.id)
                }
                #expect(hidden.outcome == .failed && hidden.detail.contains("shows no location"), "\(hidden)")
                #expect(try await target.getImage(id).status == .queued)
                try await target.delete(id)

                // The pool's images are the target's now: deleting them there removes them.
                for id in ids {
                    if try await target.getImage(id).isProtected {
                        _ = try await target.update(id, [.replace("protected", false)])
                    }
                    try await target.delete(id)
                }
            }
        }
    }
}
#endif
