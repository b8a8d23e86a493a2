import GlimpseCore
import GlimpseServer
import GlimpseTestSupport
import NIOCore
import OpenStackEncoding
import OpenStackJSON
import Testing

/// Three stores in memory: `bulk` takes new data, `fast` weighs most and `cold` least, so the
/// order of `stores` (by weight) is neither the configured nor the alphabetical one.
func multiStore(_ c: inout ServerConfig) {
    c.enabledBackends = [("cold", "memory"), ("fast", "memory"), ("bulk", "memory")]
    c.defaultBackend = "bulk"
    c.storeOptions = ["fast": ["weight": "100"], "bulk": ["weight": "50"]]
}

extension TestApp {
    /// The objects a store holds (committed ones).
    func objects(in store: String) async throws -> [String] {
        let blobs = try #require(components.blobs[store])
        return try await blobs.inventory(after: nil, limit: 100).filter { !$0.pending }.map(\.location)
    }

    func image(_ id: String, _ token: String) async throws -> JSONValue {
        try await request(.GET, "/v2/images/\(id)", token: token).json
    }

    /// An active image whose data went to `store` (the default one if nil).
    func activeImage(_ token: String, _ bytes: [UInt8], store: String? = nil) async throws -> String {
        let id = try await createImageId(token)
        let r = try await request(
            .PUT, "/v2/images/\(id)/file", token: token,
            headers: [("Content-Type", "application/octet-stream")]
                + (store.map { [("X-Image-Meta-Store", $0)] } ?? []),
            body: bytes)
        guard r.status == 204 else { throw TestFailure("upload: \(r.status) \(r.text)") }
        return id
    }
}

@Suite("Several stores")
struct MultiStoreTests {
    @Test("discovery: the stores with their default and weights")
    func discovery() async throws {
        try await TestApp.with(multiStore) { s in
            let token = try await s.adminToken()
            let stores = try await s.request(.GET, "/v2/info/stores", token: token).json
            #expect(stores == ["stores": [["id": "cold"], ["id": "fast"], ["id": "bulk", "default": "true"]]])
            let detail = try await s.request(.GET, "/v2/info/stores/detail", token: token).json
            #expect(detail["stores"]?.arrayValue?.map { $0["weight"] } == [0, 100, 50])
            #expect(detail["stores"]?.arrayValue?.map { $0["type"] } == ["memory", "memory", "memory"])
            let created = try await s.json(.POST, "/v2/images", token: token, ["name": "x"])
            #expect(created.header("OpenStack-image-store-ids") == "cold,fast,bulk")
        }
    }

    @Test("X-Image-Meta-Store picks the store of an upload; an unknown one is refused before anything")
    func uploadToStore() async throws {
        try await TestApp.with(multiStore) { s in
            let token = try await s.adminToken()
            let bytes = testBytes(5000)
            let id = try await s.createImageId(token)
            let refused = try await s.request(
                .PUT, "/v2/images/\(id)/file", token: token,
                headers: [("Content-Type", "application/octet-stream"), ("X-Image-Meta-Store", "nowhere")],
                body: bytes)
            #expect(refused.status == 400)
            #expect(refused.text.contains("Store for identifier nowhere not found"))
            #expect(try await s.image(id, token)["status"] == "queued")
            let missing = try await s.request(
                .PUT, "/v2/images/00000000-0000-4000-8000-000000000000/file", token: token,
                headers: [("Content-Type", "application/octet-stream"), ("X-Image-Meta-Store", "nowhere")],
                body: bytes)
            #expect(missing.status == 400)

            let cold = try await s.activeImage(token, bytes, store: "cold")
            let image = try await s.image(cold, token)
            #expect(image["stores"] == "cold")
            #expect(try await s.objects(in: "cold").count == 1)
            #expect(try await s.objects(in: "bulk").isEmpty)
            #expect(try await s.request(.GET, "/v2/images/\(cold)/file", token: token).body == bytes)
            let plain = try await s.activeImage(token, bytes)
            #expect(try await s.image(plain, token)["stores"] == "bulk")
            // Without data there are no stores.
            #expect(try await s.image(id, token)["stores"] == nil)
        }
    }
}

extension MultiStoreTests {
    /// Gives an image a second copy of its data in `store`, as an import would.
    func addCopy(_ s: TestApp, _ id: String, in store: String) async throws {
        let metadata = s.components.metadata
        var image = try #require(try await metadata.image(id: id))
        let source = try #require(image.locations.first)
        let writer = try await s.components.blobs[store]!.makeWriter(imageId: id)
        for try await chunk in try await s.components.blobs[source.storeId]!.read(location: source.location, range: nil)
        {
            try await writer.write(chunk)
        }
        image.locations.append(ImageLocation(storeId: store, location: try await writer.commit()))
        _ = try #require(try await metadata.updateImage(image))
    }

    @Test("stores are listed by weight; downloads read the heaviest copy and fall back when a store fails")
    func weightsAndFallback() async throws {
        try await TestApp.with(multiStore) { s in
            let token = try await s.adminToken()
            let bytes = testBytes(100_000)
            let id = try await s.activeImage(token, bytes, store: "cold")
            try await addCopy(s, id, in: "bulk")
            try await addCopy(s, id, in: "fast")
            #expect(try await s.image(id, token)["stores"] == "fast,bulk,cold")
            // The heaviest store's copy is gone (as a failing store would answer): the next one serves.
            for location in try await s.objects(in: "fast") {
                try await s.components.blobs["fast"]!.delete(location: location)
            }
            var r = try await s.request(.GET, "/v2/images/\(id)/file", token: token)
            #expect(r.status == 200 && r.body == bytes)
            r = try await s.request(.GET, "/v2/images/\(id)/file", token: token, headers: [("Range", "bytes=10-19")])
            #expect(r.status == 206 && r.body == Array(bytes[10...19]))
            for location in try await s.objects(in: "bulk") {
                try await s.components.blobs["bulk"]!.delete(location: location)
            }
            #expect(try await s.request(.GET, "/v2/images/\(id)/file", token: token).body == bytes)
            for location in try await s.objects(in: "cold") {
                try await s.components.blobs["cold"]!.delete(location: location)
            }
            #expect(try await s.request(.GET, "/v2/images/\(id)/file", token: token).status == 404)
        }
    }

    @Test("DELETE /v2/stores/{store}/{image}: one copy and its data go; Glance's refusals")
    func deleteFromStore() async throws {
        try await TestApp.with(multiStore) { s in
            let admin = try await s.adminToken()
            let member = try await s.makeUser("ann", project: "p-ann", admin: admin)
            let bytes = testBytes(4000)
            let id = try await s.activeImage(member.token, bytes)
            try await addCopy(s, id, in: "fast")
            #expect(try await s.image(id, admin)["stores"] == "fast,bulk")

            var r = try await s.request(.DELETE, "/v2/stores/nowhere/\(id)", token: admin)
            #expect(r.status == 409 && r.text.contains("The selected store nowhere is not available on this node."))
            r = try await s.request(.DELETE, "/v2/stores/fast/00000000-0000-4000-8000-000000000000", token: admin)
            #expect(r.status == 404 && r.text.contains("Failed to find image"))
            r = try await s.request(.DELETE, "/v2/stores/fast/\(id)", token: member.token)
            #expect(r.status == 403 && r.text.contains("delete_image_location"))
            r = try await s.request(.DELETE, "/v2/stores/cold/\(id)", token: admin)
            #expect(r.status == 404 && r.text.contains("Image \(id) is not stored in store cold."))
            #expect(try await s.request(.POST, "/v2/images/\(id)/actions/deactivate", token: admin).status == 204)
            r = try await s.request(.DELETE, "/v2/stores/fast/\(id)", token: admin)
            #expect(r.status == 409 && r.text.contains("if image status is not 'active'"))
            #expect(try await s.request(.POST, "/v2/images/\(id)/actions/reactivate", token: admin).status == 204)

            r = try await s.request(.DELETE, "/v2/stores/fast/\(id)", token: admin)
            #expect(r.status == 204)
            #expect(try await s.image(id, admin)["stores"] == "bulk")
            #expect(try await s.objects(in: "fast").isEmpty)
            #expect(try await s.request(.GET, "/v2/images/\(id)/file", token: member.token).body == bytes)
            r = try await s.request(.DELETE, "/v2/stores/bulk/\(id)", token: admin)
            #expect(r.status == 403 && r.text.contains("Cannot delete image data from the only store containing it."))
            r = try await s.request(.GET, "/v2/stores/bulk/\(id)", token: admin)
            #expect(r.status == 405)
        }
    }

    @Test("deleting an image removes the data of every copy")
    func deleteEveryCopy() async throws {
        try await TestApp.with(multiStore) { s in
            let token = try await s.adminToken()
            let id = try await s.activeImage(token, testBytes(2000))
            try await addCopy(s, id, in: "fast")
            try await addCopy(s, id, in: "cold")
            for store in ["cold", "fast", "bulk"] { #expect(try await s.objects(in: store).count == 1) }
            #expect(try await s.request(.DELETE, "/v2/images/\(id)", token: token).status == 204)
            for store in ["cold", "fast", "bulk"] { #expect(try await s.objects(in: store).isEmpty) }
        }
    }
}
