import Crypto
import GlimpseCore
import GlimpseServer
import GlimpseTestSupport
import OpenStackEncoding
import OpenStackJSON
import Testing

/// A server whose catalog's image service (itself, on loopback) `glance-download` may read.
func offersGlanceDownload(_ c: inout ServerConfig) {
    fetchesFromLoopback(&c)
    c.importMethods = ["glance-direct", "web-download", "glance-download"]
}

extension APIClient {
    func glanceDownload(
        _ id: String, _ token: String, from source: String, region: String = "RegionOne",
        interface: String? = nil
    ) async throws -> Reply {
        var method: JSONObject = [
            "name": "glance-download", "glance_image_id": .string(source), "glance_region": .string(region),
        ]
        if let interface { method["glance_service_interface"] = .string(interface) }
        return try await json(.POST, "/v2/images/\(id)/import", token: token, ["method": .object(method)])
    }

    /// The status and message of the image's one import task.
    func importTask(_ id: String, _ token: String) async throws -> (status: String?, message: String?) {
        let task = try await request(.GET, "/v2/images/\(id)/tasks", token: token).json["tasks"]?.arrayValue?.first
        return (task?["status"]?.stringValue, task?["message"]?.stringValue)
    }

    func patch(_ id: String, _ token: String, _ ops: JSONValue) async throws -> Reply {
        try await request(
            .PATCH, "/v2/images/\(id)", token: token,
            headers: [("Content-Type", "application/openstack-images-v2.1-json-patch")],
            body: Array(ops.jsonString.utf8))
    }
}

@Suite("glance-download: an image copied from the image service of a region in the catalog")
struct GlanceDownloadTests {
    /// An active image with properties, some of which glance-download copies.
    static func source(_ s: TestServer, _ token: String, _ bytes: [UInt8]) async throws -> String {
        let id = try await s.createImageId(token, ["disk_format": "raw", "container_format": "bare"])
        #expect(try await s.upload(id, token: token, bytes).status == 204)
        let ops: JSONValue = [
            ["op": "add", "path": "/hw_cpu_cores", "value": "5"],
            ["op": "add", "path": "/trait:STORAGE_DISK_SSD", "value": "required"],
            ["op": "add", "path": "/os_distro", "value": "rhel"],
            ["op": "add", "path": "/speed", "value": "88mph"],
        ]
        #expect(try await s.patch(id, token, ops).status == 200)
        return id
    }

    /// A queued image whose properties and formats the import must replace or keep.
    static func target(_ s: TestServer, _ token: String) async throws -> String {
        let id = try await s.createImageId(token, ["disk_format": "iso", "container_format": "ovf"])
        let ops: JSONValue = [
            ["op": "add", "path": "/hw_cpu_cores", "value": "1"],
            ["op": "add", "path": "/os_distro", "value": "windows"],
        ]
        #expect(try await s.patch(id, token, ops).status == 200)
        return id
    }

    @Test(
        "the source's data, formats and the properties named by glance_download_properties, read with the caller's token"
    )
    func success() async throws {
        try await TestServer.with(offersGlanceDownload) { s in
            let (token, _) = try await s.makeUser("gd-user", project: "gd-project", admin: try await s.adminToken())
            let bytes = testBytes(200_000, seed: 3)
            let src = try await Self.source(s, token, bytes)
            let dst = try await Self.target(s, token)
            #expect(try await s.glanceDownload(dst, token, from: src).status == 202)
            await s.components.images.imports.wait()
            let image = try await s.image(dst, token)
            #expect(image["status"] == "active")
            #expect(image["disk_format"] == "raw" && image["container_format"] == "bare")
            #expect(image["hw_cpu_cores"] == "5" && image["trait:STORAGE_DISK_SSD"] == "required")
            #expect(image["os_distro"] == "rhel" && image["speed"] == nil)
            #expect(image["size"]?.intValue == bytes.count)
            #expect(image["os_hash_value"]?.stringValue == Hex.encode(SHA512.hash(data: bytes)))
            #expect(image["checksum"]?.stringValue == Hex.encode(Insecure.MD5.hash(data: bytes)))
            #expect(try await s.request(.GET, "/v2/images/\(dst)/file", token: token).body == bytes)
            #expect(try await s.importTask(dst, token).status == "success")
        }
    }

    @Test("Glance's 400s before anything starts: no region, no image id, an id that is not a UUID")
    func badRequests() async throws {
        try await TestServer.with(offersGlanceDownload) { s in
            let token = try await s.adminToken()
            let id = try await s.createImageId(token)
            let cases: [(JSONObject, String)] = [
                (
                    ["name": "glance-download", "glance_image_id": "36d4b546-64a2-4bb9-bdd0-ba676aa48f2c"],
                    "'glance_region' needs to be set for glance-download import method"
                ),
                (
                    ["name": "glance-download", "glance_region": "RegionOne"],
                    "'glance_image_id' needs to be set for glance-download import method"
                ),
                (
                    ["name": "glance-download", "glance_region": "RegionOne", "glance_image_id": "foo"],
                    "Remote image id does not look like a UUID: foo"
                ),
            ]
            for (method, message) in cases {
                let r = try await s.json(.POST, "/v2/images/\(id)/import", token: token, ["method": .object(method)])
                #expect(r.status == 400 && r.text.contains(message), "\(r.status) \(r.text)")
            }
            #expect(try await s.image(id, token)["status"] == "queued")
            #expect(try await s.request(.GET, "/v2/images/\(id)/tasks", token: token).json["tasks"] == [])
        }
    }

    @Test(
        "a region or interface the catalog lacks, a missing or inactive source, a refused address: the task fails, the image is queued with its formats and properties"
    )
    func failures() async throws {
        let refusesLoopback: @Sendable (inout ServerConfig) -> Void = { c in
            c.importMethods = ["glance-direct", "glance-download"]
            c.webDownload.allowedPorts = []
        }
        for (label, configure) in [("loopback allowed", offersGlanceDownload), ("loopback refused", refusesLoopback)] {
            try await TestServer.with(configure) { s in
                let token = try await s.adminToken()
                let active = try await Self.source(s, token, testBytes(10_000))
                let queued = try await s.createImageId(token)
                var attempts: [(source: String, region: String, interface: String?)] = [
                    (active, "not a region", "not an interface"),
                    (active, "RegionOne", "not an interface"),
                    ("36d4b546-64a2-4bb9-bdd0-ba676aa48f2c", "RegionOne", nil),
                    (queued, "RegionOne", nil),
                ]
                // An active source whose data is gone: its record is read and taken before
                // its data fails.
                let dataless = try await Self.source(s, token, testBytes(3_000, seed: 9))
                let location = try #require(try await s.components.metadata.image(id: dataless)?.locations.first)
                try await s.components.blobs["local"]!.delete(location: location.location)
                attempts.append((dataless, "RegionOne", nil))
                if label == "loopback refused" { attempts = [(active, "RegionOne", nil)] }
                for attempt in attempts {
                    let id = try await Self.target(s, token)
                    let r = try await s.glanceDownload(
                        id, token, from: attempt.source, region: attempt.region, interface: attempt.interface)
                    #expect(r.status == 202)
                    await s.components.images.imports.wait()
                    let image = try await s.image(id, token)
                    #expect(image["status"] == "queued", "\(label) \(attempt)")
                    #expect(image["disk_format"] == "iso" && image["container_format"] == "ovf", "\(label) \(attempt)")
                    #expect(image["hw_cpu_cores"] == "1" && image["os_distro"] == "windows", "\(label) \(attempt)")
                    #expect(image["trait:STORAGE_DISK_SSD"] == nil && image["size"] == .null)
                    #expect(image["os_glance_failed_import"] == "local" && image["os_glance_import_task"] == nil)
                    #expect(try await s.importTask(id, token).status == "failure", "\(label) \(attempt)")
                }
                // Nothing was left behind in the store: only the source's data is there.
                let objects = try await s.components.blobs["local"]!.inventory(after: nil, limit: 100)
                #expect(objects.map(\.location).allSatisfy { $0.contains(active) }, "\(label): \(objects)")
            }
        }
    }

    @Test("the caller's own rights apply on the other side: an image it cannot see is not copied")
    func callersRights() async throws {
        try await TestServer.with(offersGlanceDownload) { s in
            let admin = try await s.adminToken()
            let hidden = try await Self.source(s, admin, testBytes(5_000))
            let (token, _) = try await s.makeUser("gd-other", project: "gd-other", admin: admin)
            let id = try await Self.target(s, token)
            #expect(try await s.glanceDownload(id, token, from: hidden).status == 202)
            await s.components.images.imports.wait()
            #expect(try await s.image(id, token)["status"] == "queued")
            #expect(try await s.importTask(id, token).status == "failure")
        }
    }
}
