import GlimpseCore
import GlimpseMemoryStores
import Logging
import NIOCore
import OpenStackJSON
import StreamDigests
import Synchronization
import Testing

/// A store whose backend another service writes to as well, as Glance shares an RBD pool:
/// what that service wrote for an image is at `shared://<image id>`, and adopted from there.
final class SharedBackendStore: BlobStore {
    let inner = MemoryBlobStore(id: "shared")
    /// Whether `locations` show the store's copies (RBD's do; Swift's have no URL to show).
    let showsURLs: Bool

    init(showsURLs: Bool) { self.showsURLs = showsURLs }
    var id: String { inner.id }
    var type: String { "shared" }
    /// Calls of `adopt` with a URL of this store.
    let adoptions = Atomic<Int>(0)
    /// What the other service wrote: image id → location, and each location's size.
    private let written = Mutex<[String: (location: String, size: Int)]>([:])

    /// Writes data as the other service does.
    func writeAsOtherService(imageId: String, _ bytes: [UInt8]) async throws {
        let writer = try await inner.makeWriter(imageId: imageId)
        try await writer.write(ByteBuffer(bytes: bytes))
        let location = try await writer.commit()
        written.withLock { $0[imageId] = (location, bytes.count) }
    }

    /// The locations the backend holds.
    func held() async throws -> [String] { try await inner.inventory(after: nil, limit: 100).map(\.location) }

    func adopt(url: String, imageId: String) async throws -> AdoptedData? {
        guard url.hasPrefix("shared://") else { return nil }
        adoptions.add(1, ordering: .relaxed)
        let name = String(url.dropFirst("shared://".count))
        guard name == imageId else { throw ServiceError.badRequest("Invalid location: not image \(imageId)'s data") }
        guard let data = written.withLock({ $0[name] }) else { throw ServiceError.badRequest("Invalid location: none") }
        return AdoptedData(location: data.location, size: data.size)
    }

    func locationURL(location: String) -> String? {
        guard showsURLs else { return nil }
        return written.withLock { $0.first { $0.value.location == location }.map { "shared://" + $0.key } }
    }

    func makeWriter(imageId: String) async throws -> any BlobWriter { try await inner.makeWriter(imageId: imageId) }
    func read(location: String, range: ClosedRange<Int>?) async throws -> ByteStream {
        try await inner.read(location: location, range: range)
    }
    func delete(location: String) async throws { try await inner.delete(location: location) }
    func freeSpace() async -> Int? { nil }
    func checkHealth() async throws {}
    func inventory(after marker: String?, limit: Int) async throws -> [StoredBlob] {
        try await inner.inventory(after: marker, limit: limit)
    }
}

/// An image service whose second store shares its backend with another service.
struct AdoptionFixture {
    let store = MemoryMetadataStore()
    let shared: SharedBackendStore
    let clock = ManualClock()
    let service: ImageService
    let admin = Principal(userId: "u1", projectId: "p1", roles: ["admin", "member", "reader"])
    let member = Principal(userId: "u2", projectId: "p2", roles: ["member", "reader"])
    /// Nova acting for a user of the admin's project, with its service role.
    let nova = Principal(userId: "u3", projectId: "p1", roles: ["member", "reader", "service"])
    let bytes = (0..<40_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }

    init(showsURLs: Bool = true) throws {
        shared = SharedBackendStore(showsURLs: showsURLs)
        var config = ImageServiceConfig()
        config.showMultipleLocations = true
        config.uploadLeaseSeconds = 60
        config.uploadProgressInterval = .milliseconds(20)
        service = ImageService(
            store: store, blobs: try BlobStores([MemoryBlobStore(id: "local"), shared]), config: config, clock: clock,
            hashing: ServiceFixture.pool, owner: "node",
            logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
    }

    func digest(_ algorithm: StreamDigest.Algorithm) -> String {
        let d = StreamDigest(algorithm)
        bytes.withUnsafeBytes { d.update($0) }
        return d.hexDigest()
    }

    /// The source's record of the data, as `glimpse image migrate --adopt-locations` sends it.
    var validation: JSONValue {
        ["checksum": .string(digest(.md5)), "os_hash_algo": "sha512", "os_hash_value": .string(digest(.sha512))]
    }

    func addLocation(_ id: String, _ url: String, by p: Principal) async throws -> Image {
        try await service.update(
            id,
            [
                PatchOperation(
                    .add, "locations", ["url": .string(url), "metadata": [:], "validation_data": validation],
                    position: "-")
            ],
            by: p)
    }

    func read(_ id: String) async throws -> [UInt8] {
        let source = try #require(try await service.data(id, by: admin))
        var out: [UInt8] = []
        for try await chunk in try await source.open() { out += chunk.readableBytesView }
        return out
    }
}

@Suite("Locations of data another service wrote to a shared store")
struct LocationAdoptionTests {
    @Test(
        "an admin's PATCH adopts the image's own data in place: active, with the source's digests, readable",
        arguments: [true, false])
    func adoptedByPatch(showsURLs: Bool) async throws {
        let f = try AdoptionFixture(showsURLs: showsURLs)
        let image = try await f.service.create(["disk_format": "raw", "container_format": "bare"], by: f.admin)
        try await f.shared.writeAsOtherService(imageId: image.id, f.bytes)
        let held = try await f.shared.held()

        let adopted = try await f.addLocation(image.id, "shared://\(image.id)", by: f.admin)
        #expect(adopted.status == .active && adopted.size == f.bytes.count && adopted.virtualSize == f.bytes.count)
        #expect(adopted.checksum == f.digest(.md5) && adopted.osHashValue == f.digest(.sha512))
        #expect(adopted.locations.map(\.storeId) == ["shared"] && adopted.locations.map(\.location) == held)
        #expect(try await f.read(image.id) == f.bytes)
        // Adopted once only: a copy shown by its URL is not checked again; one without a URL
        // is found by its location.
        await #expect(throws: ServiceError.self) {
            _ = try await f.addLocation(image.id, "shared://\(image.id)", by: f.admin)
        }
        if !showsURLs {
            await #expect(throws: ServiceError.badRequest("The location shared://\(image.id) already exists")) {
                _ = try await f.addLocation(image.id, "shared://\(image.id)", by: f.admin)
            }
        }
        #expect(try await f.store.image(id: image.id)?.locations.count == 1)
        // Nothing was copied: the backend holds what it held.
        #expect(try await f.shared.held() == held)
        // The data is the image's now, as Glance's would be: deleting the image deletes it.
        try await f.service.delete(image.id, by: f.admin)
        #expect(try await f.shared.held().isEmpty)

        // Nor twice in one replace, whatever the metadata: removing one record would delete
        // the data under the other.
        let twice = try await f.service.create(["disk_format": "raw", "container_format": "bare"], by: f.admin)
        try await f.shared.writeAsOtherService(imageId: twice.id, f.bytes)
        let url = JSONValue.string("shared://\(twice.id)")
        await #expect(throws: ServiceError.badRequest("The location shared://\(twice.id) already exists")) {
            _ = try await f.service.update(
                twice.id,
                [
                    PatchOperation(
                        .replace, "locations", [["url": url, "metadata": [:]], ["url": url, "metadata": ["a": 1]]])
                ],
                by: f.admin)
        }
        // Data no image adopted stays when the image goes.
        try await f.service.delete(twice.id, by: f.admin)
        #expect(try await f.shared.held().count == 1)
    }

    @Test("adopted data has the virtual size its header gives, as an upload of it would")
    func virtualSize() async throws {
        let f = try AdoptionFixture()
        let qcow2 = try await f.service.create(["disk_format": "qcow2", "container_format": "bare"], by: f.admin)
        try await f.shared.writeAsOtherService(
            imageId: qcow2.id, DiskImageHeaders.qcow2(size: 5 << 30, length: 200_000))
        let vmdk = try await f.service.create(["disk_format": "vmdk", "container_format": "bare"], by: f.admin)
        try await f.shared.writeAsOtherService(imageId: vmdk.id, f.bytes)
        for (image, expected) in [(qcow2, 5 << 30), (vmdk, nil)] as [(Image, Int?)] {
            let adopted = try await f.service.update(
                image.id,
                [
                    PatchOperation(
                        .add, "locations", ["url": .string("shared://\(image.id)"), "metadata": [:]], position: "-")
                ],
                by: f.admin)
            #expect(adopted.status == .active && adopted.virtualSize == expected)
        }
    }

    @Test("only admins and services reach a store through a URL, and only for the image's own data")
    func refused() async throws {
        let f = try AdoptionFixture()
        let mine = try await f.service.create(["disk_format": "raw", "container_format": "bare"], by: f.member)
        try await f.shared.writeAsOtherService(imageId: mine.id, f.bytes)
        await #expect(throws: ServiceError.badRequest("Invalid location")) {
            _ = try await f.addLocation(mine.id, "shared://\(mine.id)", by: f.member)
        }
        #expect(f.shared.adoptions.load(ordering: .relaxed) == 0)

        // An admin cannot hand one image's data to another.
        let other = try await f.service.create(["disk_format": "raw", "container_format": "bare"], by: f.admin)
        await #expect(throws: ServiceError.badRequest("Invalid location: not image \(other.id)'s data")) {
            _ = try await f.addLocation(other.id, "shared://\(mine.id)", by: f.admin)
        }
        // Nor a URL no store takes.
        await #expect(throws: ServiceError.badRequest("Invalid location")) {
            _ = try await f.addLocation(other.id, "rbd://fsid/pool/\(other.id)/snap", by: f.admin)
        }
        #expect(try await f.store.image(id: other.id)?.status == .queued)
        #expect(try await f.store.image(id: mine.id)?.status == .queued)
        #expect(try await f.shared.held().count == 1)
    }

    @Test("a service's POST …/locations hashes the adopted data; one that fails verification forgets it and keeps it")
    func addedByService() async throws {
        let f = try AdoptionFixture()
        let image = try await f.service.create(["disk_format": "raw", "container_format": "bare"], by: f.admin)
        try await f.shared.writeAsOtherService(imageId: image.id, f.bytes)
        try await f.service.addLocation(
            image.id,
            body: [
                "url": .string("shared://\(image.id)"),
                "validation_data": ["os_hash_algo": "sha512", "os_hash_value": .string(f.digest(.sha512))],
            ],
            by: f.nova)
        await f.service.imports.wait()
        let done = try #require(try await f.store.image(id: image.id))
        #expect(done.status == .active && done.checksum == f.digest(.md5) && done.size == f.bytes.count)
        #expect(try await f.read(image.id) == f.bytes)

        // Another image whose data does not match what the request says.
        let wrong = try await f.service.create(["disk_format": "raw", "container_format": "bare"], by: f.admin)
        try await f.shared.writeAsOtherService(imageId: wrong.id, f.bytes.reversed())
        try await f.service.addLocation(
            wrong.id,
            body: [
                "url": .string("shared://\(wrong.id)"),
                "validation_data": ["os_hash_algo": "sha512", "os_hash_value": .string(f.digest(.sha512))],
            ],
            by: f.nova)
        await f.service.imports.wait()
        let failed = try #require(try await f.store.image(id: wrong.id))
        #expect(failed.status == .queued && failed.locations.isEmpty && failed.checksum == nil && failed.size == nil)
        #expect(try await f.shared.held().count == 2)
    }

    @Test("a location import whose process died leaves the data it named where it was")
    func abandoned() async throws {
        let f = try AdoptionFixture()
        let created = try await f.service.create(["disk_format": "raw", "container_format": "bare"], by: f.admin)
        try await f.shared.writeAsOtherService(imageId: created.id, f.bytes)
        let held = try await f.shared.held()
        // As a location import leaves the image while it hashes: importing, locked, leased.
        var image = try #require(try await f.store.image(id: created.id))
        try image.transition(to: .importing)
        image.locations = [ImageLocation(storeId: "shared", location: held[0])]
        image.properties["os_glance_import_task"] = "a-task"
        let lease = UploadLease(
            imageId: image.id, owner: "dead-node", storeId: "", pendingLocation: "",
            expiresAt: f.clock.now().adding(seconds: 60))
        #expect(try await f.store.startUpload(image, lease: lease) != nil)

        f.clock.advance(seconds: 61)
        #expect(try await f.service.reclaimAbandonedUploads() == [lease])
        let freed = try #require(try await f.store.image(id: image.id))
        #expect(freed.status == .queued && freed.locations.isEmpty)
        #expect(try await f.shared.held() == held)
    }
}
