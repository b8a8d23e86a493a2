import GlimpseTestSupport
import OpenStackJSON
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A server whose disk fills up, on a small tmpfs: Glance's 413 for image data that does not
/// fit, 507 for metadata that cannot be written, and nothing left half-done.
@Suite(
    "Live server: a full disk", .serialized,
    .enabled(if: SmallFileSystem.available, Comment(rawValue: SmallFileSystem.unavailable)))
struct DiskFullTests {
    /// Runs `body` with a tmpfs of `megabytes` MiB in a temporary folder of the test's own.
    func withSmallDisk(megabytes: Int, _ body: (String, SmallFileSystem) async throws -> Void) async throws {
        let dir = TestServer.temporaryDirectory()
        defer { _ = system("rm -rf '\(dir)'") }
        let disk = try #require(SmallFileSystem.mount(megabytes: megabytes, at: dir + "/small"))
        defer { disk.unmount() }
        try await body(dir, disk)
    }

    @Test("an upload larger than the free space: 413 as Glance, no data left, the image queued; a smaller one works")
    func imageDataDoesNotFit() async throws {
        try await withSmallDisk(megabytes: 16) { dir, disk in
            try await TestServer.with(dataDir: dir + "/data", { $0.storeOptions["local"] = ["path": disk.path] }) { s in
                let token = try await s.adminToken()
                let id = try await s.createImageId(token)
                let tooBig = try await s.upload(id, token: token, testBytes(24 << 20), chunked: true)
                #expect(tooBig.status == 413)
                #expect(
                    tooBig.text.contains(
                        "Image storage media is full: There is not enough disk space on the image storage media."))
                let image = try await s.request(.GET, "/v2/images/" + id, token: token).json
                #expect(image["status"] == "queued" && image["size"] == .null && image["checksum"] == .null)
                #expect(disk.files() == [])

                let bytes = testBytes(4 << 20, seed: 7)
                let ok = try await s.upload(id, token: token, bytes)
                #expect(ok.status == 204)
                let data = try await s.request(.GET, "/v2/images/\(id)/file", token: token)
                #expect(data.status == 200 && data.body == bytes)
                #expect(disk.files().count == 1)
            }
        }
    }

    @Test("metadata writes and token issuing on a full disk: 507, nothing written; room again, they work")
    func metadataDoesNotFit() async throws {
        try await withSmallDisk(megabytes: 8) { dir, disk in
            try await TestServer.with(dataDir: disk.path, { $0.storeOptions["local"] = ["path": dir + "/images"] }) {
                s in
                let token = try await s.adminToken()
                let before = try await s.request(.GET, "/v2/images", token: token).json["images"]?.arrayValue?.count
                disk.fill()

                let create = try await s.json(.POST, "/v2/images", token: token, ["name": "no room"])
                #expect(create.status == 507)
                #expect(create.text.contains("There was not enough space to save the resource"))
                let issue = try await s.json(
                    .POST, "/identity/v3/auth/tokens", token: nil,
                    [
                        "auth": [
                            "identity": [
                                "methods": ["password"],
                                "password": [
                                    "user": [
                                        "name": "admin", "domain": ["id": "default"],
                                        "password": .string(adminPassword),
                                    ]
                                ],
                            ]
                        ]
                    ])
                #expect(issue.status == 507)
                #expect(try issue.json["error"]?["code"]?.intValue == 507)

                _ = unlink(disk.path + "/filler")
                let after = try await s.request(.GET, "/v2/images", token: token).json["images"]?.arrayValue?.count
                #expect(after == before)
                #expect(try await s.json(.POST, "/v2/images", token: token, ["name": "room"]).status == 201)
                #expect(!(try await s.token(user: "admin", password: adminPassword, project: "admin")).isEmpty)
            }
        }
    }
}
