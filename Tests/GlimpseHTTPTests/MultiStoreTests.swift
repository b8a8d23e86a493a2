import GlimpseCore
import GlimpseHTTP
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

    /// Starts an import and waits for the background work it started.
    func importAndWait(
        _ id: String, _ token: String, _ body: JSONValue, headers: [(String, String)] = []
    )
        async throws -> Reply
    {
        let r = try await json(.POST, "/v2/images/\(id)/import", token: token, body, headers: headers)
        await components.images.imports.wait()
        return r
    }
}

@Suite("Several stores: uploads, copies, imports, deletion from a store, downloads")
struct MultiStoreTests {
    @Test(
        "discovery: the stores with their default and weights; copy-image offered with several stores, unless import_methods says otherwise"
    )
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
            #expect(created.header("OpenStack-image-import-methods") == "glance-direct,web-download,copy-image")
            let methods = try await s.request(.GET, "/v2/info/import", token: token).json
            #expect(methods["import-methods"]?["value"] == ["glance-direct", "web-download", "copy-image"])
        }
        try await TestApp.with { s in
            let methods = try await s.request(.GET, "/v2/info/import", token: try await s.adminToken()).json
            #expect(methods["import-methods"]?["value"] == ["glance-direct", "web-download"])
        }
        try await TestApp.with({
            multiStore(&$0)
            $0.importMethods = ["web-download"]
        }) { s in
            let methods = try await s.request(.GET, "/v2/info/import", token: try await s.adminToken()).json
            #expect(methods["import-methods"]?["value"] == ["web-download"])
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

    @Test("copy-image: the data copied into each store in the background, stores listed by weight")
    func copyImage() async throws {
        try await TestApp.with(multiStore) { s in
            let token = try await s.adminToken()
            let bytes = testBytes(300_000)
            let id = try await s.activeImage(token, bytes)
            let r = try await s.importAndWait(
                id, token, ["method": ["name": "copy-image"], "stores": ["cold", "fast"]])
            #expect(r.status == 202)
            let image = try await s.image(id, token)
            #expect(image["stores"] == "fast,bulk,cold")
            #expect(image["os_glance_importing_to_stores"] == "" && image["os_glance_failed_import"] == "")
            #expect(image["os_glance_import_task"] == nil && image["status"] == "active")
            for store in ["cold", "fast", "bulk"] {
                let location = try #require(try await s.objects(in: store).first)
                var copied: [UInt8] = []
                for try await chunk in try await s.components.blobs[store]!.read(location: location, range: nil) {
                    copied += chunk.readableBytesView
                }
                #expect(copied == bytes)
            }
            // Every store has it now: all_stores finds nothing to do.
            let nothing = try await s.importAndWait(id, token, ["method": ["name": "copy-image"], "all_stores": true])
            #expect(nothing.status == 202)
            #expect(try await s.image(id, token)["stores"] == "fast,bulk,cold")
        }
    }

    @Test("copy-image is refused as Glance refuses it")
    func copyImageErrors() async throws {
        try await TestApp.with(multiStore) { s in
            let admin = try await s.adminToken()
            let member = try await s.makeUser("ann", project: "p-ann", admin: admin)
            let id = try await s.activeImage(member.token, testBytes(100))
            func copy(_ body: JSONValue, token: String = admin, headers: [(String, String)] = []) async throws -> Reply
            {
                var b = body.objectValue ?? [:]
                if b["method"] == nil { b["method"] = ["name": "copy-image"] }
                return try await s.importAndWait(id, token, .object(b), headers: headers)
            }
            var r = try await copy(["stores": ["fast"]], token: member.token)
            #expect(r.status == 403 && r.text.contains("copy_image"))
            r = try await copy(["stores": ["bulk"]])
            #expect(r.status == 400 && r.text.contains("Image is already present at store 'bulk'"))
            r = try await copy(["stores": ["nowhere"]])
            #expect(r.status == 409 && r.text.contains("Store for identifier nowhere not found"))
            r = try await copy(["stores": ["fast"], "all_stores": true])
            #expect(r.status == 400 && r.text.contains("All_stores parameter can't be used"))
            r = try await copy(["all_stores": true], headers: [("X-Image-Meta-Store", "fast")])
            #expect(r.status == 400 && r.text.contains("All_stores parameter can't be used"))
            r = try await copy(["stores": ["fast"]], headers: [("X-Image-Meta-Store", "cold")])
            #expect(r.status == 400 && r.text.contains("Stores parameter and x-image-meta-store header"))
            r = try await copy(["stores": ["fast"], "all_stores": "yes"])
            #expect(r.status == 400 && r.text.contains("'all_stores' must be boolean value only"))
            r = try await copy(["stores": ["fast"], "all_stores_must_succeed": 1])
            #expect(r.status == 400 && r.text.contains("'all_stores_must_succeed' must be boolean value only"))
            r = try await copy(["method": ["name": "glance-direct"], "stores": ["fast"]])
            #expect(r.status == 409 && r.text.contains("Image with status active cannot be target for import"))
            let queued = try await s.createImageId(admin)
            r = try await s.importAndWait(queued, admin, ["method": ["name": "copy-image"], "stores": ["fast"]])
            #expect(r.status == 409 && r.text.contains("Only images with status active can be targeted for copying"))
            #expect(try await s.image(id, admin)["stores"] == "bulk")
            // The header alone names the store.
            r = try await copy([:], headers: [("X-Image-Meta-Store", "cold")])
            #expect(r.status == 202)
            #expect(try await s.image(id, admin)["stores"] == "bulk,cold")
        }
    }

    @Test("one import at a time: a running import's lock refuses another; a lock whose import died does not")
    func importLock() async throws {
        try await TestApp.with(multiStore) { s in
            let token = try await s.adminToken()
            let id = try await s.activeImage(token, testBytes(1000))
            let metadata = s.components.metadata
            // An import holds the image: its lock, and its lease (a process renewing it).
            var held = try #require(try await metadata.image(id: id))
            held.properties["os_glance_import_task"] = "another-task"
            let lease = UploadLease(
                imageId: id, owner: "other-node", storeId: "fast", pendingLocation: "pending/x",
                expiresAt: Timestamp.now().adding(seconds: 600))
            held = try #require(try await metadata.startUpload(held, lease: lease))
            let body: JSONValue = ["method": ["name": "copy-image"], "stores": ["fast"]]
            var r = try await s.importAndWait(id, token, body)
            #expect(r.status == 409 && r.text.contains("Image has active task"))
            // Its process died and the lease is gone: the next import takes the lock over.
            _ = try #require(try await metadata.endUpload(held, lease: lease))
            r = try await s.importAndWait(id, token, body)
            #expect(r.status == 202)
            let image = try await s.image(id, token)
            #expect(image["stores"] == "fast,bulk" && image["os_glance_import_task"] == nil)
        }
    }

    @Test("glance-direct into stores: the staged data ends up in each, and only there")
    func glanceDirectStores() async throws {
        try await TestApp.with(multiStore) { s in
            let token = try await s.adminToken()
            let bytes = testBytes(200_000)
            func staged() async throws -> String {
                let id = try await s.createImageId(token)
                let r = try await s.request(
                    .PUT, "/v2/images/\(id)/stage", token: token,
                    headers: [("Content-Type", "application/octet-stream")], body: bytes)
                #expect(r.status == 204)
                #expect(try await s.image(id, token)["stores"] == nil)
                return id
            }
            // Into stores that do not hold the staged data: copied, then the staged data goes.
            let a = try await staged()
            var r = try await s.importAndWait(
                a, token, ["method": ["name": "glance-direct"], "stores": ["cold", "fast"]])
            #expect(r.status == 202)
            var image = try await s.image(a, token)
            #expect(image["status"] == "active" && image["stores"] == "fast,cold")
            #expect(image["os_glance_importing_to_stores"] == "" && image["os_glance_failed_import"] == "")
            #expect(try await s.objects(in: "bulk").isEmpty)
            #expect(try await s.request(.GET, "/v2/images/\(a)/file", token: token).body == bytes)
            // Into every store: the staged data is the default store's copy.
            let b = try await staged()
            r = try await s.importAndWait(b, token, ["method": ["name": "glance-direct"], "all_stores": true])
            image = try await s.image(b, token)
            #expect(image["status"] == "active" && image["stores"] == "fast,bulk,cold")
            #expect(try await s.objects(in: "bulk").count == 1)
            // The header names the one store; not all must succeed.
            let c = try await staged()
            r = try await s.importAndWait(
                c, token, ["method": ["name": "glance-direct"], "all_stores_must_succeed": false],
                headers: [("X-Image-Meta-Store", "cold")])
            image = try await s.image(c, token)
            #expect(image["status"] == "active" && image["stores"] == "cold")
            #expect(try await s.objects(in: "bulk").count == 1)
            // Without stores: into the default store, done before the answer.
            let d = try await staged()
            r = try await s.json(.POST, "/v2/images/\(d)/import", token: token, ["method": ["name": "glance-direct"]])
            #expect(r.status == 202)
            image = try await s.image(d, token)
            #expect(image["status"] == "active" && image["stores"] == "bulk")
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

@Suite("Image JSON: where the data is")
struct ImageDataViewTests {
    static let image = Image(
        id: "11111111-2222-4333-8444-555555555555", status: .active, owner: "p",
        createdAt: Timestamp(seconds: 0), updatedAt: Timestamp(seconds: 0),
        locations: [
            ImageLocation(storeId: "swift", location: "obj"), ImageLocation(storeId: "ceph", location: "img"),
        ])

    static func render(_ view: ImageDataView) throws -> JSONValue {
        try JSONValue.parse(ImageJSON.image(image, view: view))
    }

    @Test("direct_url and locations only where the operator shows them, only for stores with a URL")
    func directURL() throws {
        let url: @Sendable (ImageLocation) -> String? = {
            $0.storeId == "ceph" ? "rbd://fsid/images/\($0.location)/snap" : nil
        }
        let hidden = try Self.render(ImageDataView(weights: ["ceph": 10], directURL: url))
        #expect(hidden["stores"] == "ceph,swift" && hidden["direct_url"] == nil && hidden["locations"] == nil)
        let shown = try Self.render(
            ImageDataView(weights: ["ceph": 10], showDirectURL: true, showLocations: true, directURL: url))
        #expect(shown["direct_url"] == "rbd://fsid/images/img/snap")
        #expect(shown["locations"] == [["url": "rbd://fsid/images/img/snap", "metadata": ["store": "ceph"]]])
        // Stores without such a URL (files, Swift, S3) show none: their names are theirs alone.
        let none = try Self.render(ImageDataView(showDirectURL: true, showLocations: true))
        #expect(none["direct_url"] == nil && none["locations"] == [])
    }

    @Test("show_image_direct_url and show_multiple_locations are settings")
    func settings() throws {
        let config = try ServerConfig.load(
            file: nil, environment: ["GLIMPSE_SHOW_IMAGE_DIRECT_URL": "true"],
            overrides: ["show_multiple_locations": "yes"])
        #expect(config.image.showImageDirectURL && config.image.showMultipleLocations)
        #expect(!ServerConfig().image.showImageDirectURL && !ServerConfig().image.showMultipleLocations)
    }
}
