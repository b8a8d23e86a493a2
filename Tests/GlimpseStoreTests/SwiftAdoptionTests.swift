import GlimpseCore
import GlimpseTestSupport
import NIOCore
import OpenStackEncoding
import Testing

@testable import GlimpseObjectStores

/// Glance's objects in the Swift store's container, as Glance's swift store writes them: a
/// Dynamic Large Object manifest `<image id>` over segments `<image id>-00001`, … beside it.
@Suite(
    "Swift store: Glance's objects adopted in place",
    .enabled(if: BlobBackend.swift.url != nil, "GLIMPSE_TEST_SWIFT_URL is not set (scripts/engines/swift.sh up)"))
struct SwiftAdoptionTests {
    static func put(
        _ store: SwiftBlobStore, _ path: [String], _ bytes: [UInt8], headers: [(String, String)] = []
    )
        async throws
    {
        let r = try await store.send(.PUT, path, headers: headers, body: .bytes(ByteBuffer(bytes: bytes)))
        _ = await ObjectHTTP.errorText(r)
        #expect(r.status.code == 201, "PUT \(path)")
    }

    static func exists(_ store: SwiftBlobStore, _ path: [String]) async throws -> Bool {
        let r = try await store.send(.HEAD, path, query: [("multipart-manifest", "get")])
        _ = await ObjectHTTP.errorText(r)
        return r.status.code == 200
    }

    @Test("Glance's large object is adopted by its image id, read whole and in ranges, and deleted with its segments")
    func glanceObject() async throws {
        try await BlobBackend.swift.with { any, _ in
            let store = try #require(any as? SwiftBlobStore)
            let id = Identifiers.uuid()
            let container = store.container(for: id)
            try await store.ensureContainers(for: id)
            let parts = [testBytes(100_000, seed: 1), testBytes(50_001, seed: 2)]
            for (i, part) in parts.enumerated() {
                try await Self.put(store, [container, "\(id)-0000\(i + 1)"], part)
            }
            try await Self.put(store, [container, id], [], headers: [("X-Object-Manifest", "\(container)/\(id)-")])
            // The store's own upload for the same image id, in the same container.
            let writer = try await store.makeWriter(imageId: id)
            try await writer.write(ByteBuffer(bytes: [7, 7, 7]))
            let own = try await writer.commit()

            let url = "swift+config://ref1/\(container)/\(id)"
            let adoptedData = try await store.adopt(url: url, imageId: id)
            #expect(adoptedData == AdoptedData(location: id, size: 150_001), "\(String(describing: adoptedData))")
            #expect(try await BlobStoreContract.read(store, id) == parts[0] + parts[1])
            #expect(
                try await BlobStoreContract.read(store, id, 99_990...100_009)
                    == Array((parts[0] + parts[1])[99_990...100_009]))
            // A storage URL of the store's account (Glance's multi-tenant form) too.
            let account = try #require(try await store.session.account().storageURL.split(separator: "/").last)
            #expect(
                try await store.adopt(url: "swift+https://swift.example/v1/\(account)/\(container)/\(id)", imageId: id)
                    != nil)
            // Another container's, account's or scheme's URL is not the store's.
            for other in [
                "swift+https://swift.example/v1/AUTH_other/\(container)/\(id)",
                "swift+config://ref1/elsewhere/\(id)", "rbd://fsid/\(container)/\(id)/snap",
                "https://x/\(container)/\(id)",
            ] {
                #expect(try await store.adopt(url: other, imageId: id) == nil)
            }
            // The store's container, but another image's object, or none.
            let missing = Identifiers.uuid()
            await #expect(throws: ServiceError.self) { _ = try await store.adopt(url: url, imageId: missing) }
            await #expect(throws: ServiceError.self) {
                _ = try await store.adopt(
                    url: "swift+config://ref1/\(store.container(for: missing))/\(missing)", imageId: missing)
            }
            // A manifest that joins other objects than its own segments (here, the first
            // image's) is refused: its data would not be its own.
            let joining = Identifiers.uuid()
            try await store.ensureContainers(for: joining)
            try await Self.put(
                store, [store.container(for: joining), joining], [],
                headers: [("X-Object-Manifest", "\(container)/\(id)-")])
            await #expect(throws: ServiceError.self) {
                _ = try await store.adopt(
                    url: "swift+config://ref1/\(store.container(for: joining))/\(joining)", imageId: joining)
            }
            try await store.deleteObject(store.container(for: joining), joining)
            // Never in the inventory: the orphan sweep leaves Glance's objects alone.
            #expect(try await store.inventory(after: nil, limit: 100).map(\.location) == [own])

            // Adopted, the object is the image's: deleting it removes the manifest and its
            // segments, and nothing of the store's own (the name it gave before 2026-12-02 too).
            let legacy = "\(id)-0a1b2c3d"
            try await Self.put(store, [container, legacy], [1])
            try await store.delete(location: id)
            #expect(try await Self.exists(store, [container, legacy]))
            try await store.delete(location: legacy)
            #expect(try await !Self.exists(store, [container, id]))
            let left = try await store.list(container, prefix: id + "-", after: nil, limit: 10)
            #expect(left.isEmpty, "\(left)")
            #expect(try await BlobStoreContract.read(store, own) == [7, 7, 7])
        }
    }
}
