import Crypto
import GlimpseTestSupport
import NIOHTTP1
import OpenStackJSON
import Testing

@Suite("Images: create, show, update, delete, state machine")
struct ImageLifecycleTests {
    @Test("create returns the full image with Glance's defaults and headers")
    func create() async throws {
        try await TestApp.with { s in
            let token = try await s.adminToken()
            let r = try await s.json(
                .POST, "/v2/images", token: token,
                [
                    "name": "cirros", "disk_format": "qcow2", "container_format": "bare", "tags": ["a", "b", "a"],
                    "min_ram": 512, "hw_custom": "value", "owner_specified.openstack.md5": "",
                ])
            #expect(r.status == 201)
            let image = try r.json
            let id = image["id"]?.stringValue ?? ""
            #expect(r.header("Location") == s.base + "/v2/images/" + id)
            #expect(r.header("OpenStack-image-import-methods") == "glance-direct,web-download")
            #expect(image["status"] == "queued")
            #expect(image["visibility"] == "shared")
            #expect(image["protected"] == false && image["os_hidden"] == false)
            #expect(image["size"] == .null && image["checksum"] == .null && image["os_hash_value"] == .null)
            #expect(image["tags"] == ["a", "b"])
            #expect(image["hw_custom"] == "value")
            #expect(image["owner_specified.openstack.md5"] == "")
            #expect(image["self"]?.stringValue == "/v2/images/" + id)
            #expect(image["file"]?.stringValue == "/v2/images/\(id)/file")
            #expect(image["schema"] == "/v2/schemas/image")
            #expect(image["created_at"]?.stringValue?.count == 20)
            let shown = try await s.request(.GET, "/v2/images/" + id, token: token)
            #expect(try shown.json == image)
        }
    }

    @Test("custom properties keep any JSON value and their order")
    func customProperties() async throws {
        try await TestApp.with { s in
            let token = try await s.adminToken()
            let props: JSONValue = [
                "z_first": "1", "nested": ["a": [1, .number(JSONNumber(literal: "2.50")), true, nil]],
                "big": .number(JSONNumber(literal: "123456789012345678901234567890")), "a_last": "x",
            ]
            var body = props.objectValue!
            body["name"] = "props"
            let created = try await s.createImage(token, .object(body))
            let id = created["id"]?.stringValue ?? ""
            let shown = try await s.request(.GET, "/v2/images/" + id, token: token)
            let keys = try shown.json.objectValue?.keys.prefix(4).map { $0 } ?? []
            #expect(keys == ["z_first", "nested", "big", "a_last"])
            #expect(try shown.json["nested"] == props["nested"])
            #expect(shown.text.contains("\"big\":123456789012345678901234567890"))
            #expect(shown.text.contains("2.50"))
        }
    }

    @Test("PATCH: add, replace, remove, tags, the v2.0 dialect, and all-or-nothing")
    func patch() async throws {
        try await TestApp.with { s in
            let token = try await s.adminToken()
            let id = try await s.createImage(token, ["name": "p", "foo": "bar"])["id"]?.stringValue ?? ""
            var r = try await s.patch(
                id, token: token,
                [
                    ["op": "replace", "path": "/name", "value": "renamed"],
                    ["op": "add", "path": "/os_distro", "value": "ubuntu"],
                    ["op": "add", "path": "/foo", "value": "replaced-by-add"],
                    ["op": "add", "path": "/tags", "value": ["x", "y"]],
                    ["op": "add", "path": "/protected", "value": true],
                ])
            #expect(r.status == 200)
            #expect(
                try r.json["name"] == "renamed" && r.json["os_distro"] == "ubuntu" && r.json["foo"] == "replaced-by-add"
            )
            #expect(try r.json["tags"] == ["x", "y"] && r.json["protected"] == true)
            r = try await s.patch(id, token: token, [["op": "remove", "path": "/foo"]])
            #expect(try r.status == 200 && r.json["foo"] == nil)
            r = try await s.patch(
                id, token: token, [["replace": "/name", "value": "draft4"]],
                contentType: "application/openstack-images-v2.0-json-patch")
            #expect(try r.status == 200 && r.json["name"] == "draft4")
            // One bad change spoils the whole request.
            r = try await s.patch(
                id, token: token,
                [
                    ["op": "replace", "path": "/name", "value": "never"], ["op": "remove", "path": "/missing"],
                ])
            #expect(r.status == 409)
            let shown = try await s.request(.GET, "/v2/images/" + id, token: token)
            #expect(try shown.json["name"] == "draft4")
            let empty = try await s.patch(id, token: token, [])
            #expect(try empty.status == 200 && empty.json["updated_at"] == shown.json["updated_at"])
        }
    }

    @Test("state machine: upload only when queued, formats required, deactivate/reactivate rules")
    func stateMachine() async throws {
        try await TestApp.with { s in
            let token = try await s.adminToken()
            let noFormats = try await s.createImage(token, ["name": "nf"])["id"]?.stringValue ?? ""
            var r = try await s.upload(noFormats, token: token, [1, 2, 3])
            #expect(r.status == 400)
            #expect(r.text.contains("Properties disk_format, container_format must be set prior to saving data."))
            let notActive = try await s.request(.POST, "/v2/images/\(noFormats)/actions/deactivate", token: token)
            #expect(notActive.status == 403)
            #expect(notActive.text.contains("Not allowed to deactivate image in status 'queued'"))

            let id = try await s.createImage(token)["id"]?.stringValue ?? ""
            #expect(try await s.upload(id, token: token, [1, 2, 3]).status == 204)
            r = try await s.upload(id, token: token, [4, 5, 6])
            #expect(r.status == 409)
            #expect(r.text.contains("Image status transition from active to saving is not allowed"))
            r = try await s.patch(id, token: token, [["op": "replace", "path": "/disk_format", "value": "qcow2"]])
            #expect(r.status == 403)

            #expect(try await s.request(.POST, "/v2/images/\(id)/actions/deactivate", token: token).status == 204)
            #expect(try await s.request(.POST, "/v2/images/\(id)/actions/deactivate", token: token).status == 204)
            #expect(try await s.request(.GET, "/v2/images/\(id)", token: token).json["status"] == "deactivated")
            r = try await s.upload(id, token: token, [1])
            #expect(r.status == 409)
            #expect(try await s.request(.POST, "/v2/images/\(id)/actions/reactivate", token: token).status == 204)
            #expect(try await s.request(.POST, "/v2/images/\(id)/actions/reactivate", token: token).status == 204)
            #expect(try await s.request(.POST, "/v2/images/\(id)/actions/explode", token: token).status == 404)
        }
    }

    @Test("disk_format must match the data when enforcement is on")
    func formatMatch() async throws {
        try await TestApp.with({ $0.image.requireFormatMatch = true }) { s in
            let token = try await s.adminToken()
            let id =
                try await s.createImage(token, ["disk_format": "qcow2", "container_format": "bare"])["id"]?.stringValue
                ?? ""
            let r = try await s.upload(id, token: token, testBytes(1000))
            #expect(r.status == 415)
            #expect(r.text.contains("Image disk_format qcow2 does not match stream data raw"))
            #expect(try await s.request(.GET, "/v2/images/" + id, token: token).json["status"] == "queued")
            // A qcow2 header (64 KiB clusters), with a virtual size of 1 GiB.
            let header = qcow2Header()
            let ok = try await s.upload(id, token: token, header)
            #expect(ok.status == 204)
            #expect(
                try await s.request(.GET, "/v2/images/" + id, token: token).json["virtual_size"]?.intValue == 1 << 30)
            // Raw declared, qcow2 delivered: refused.
            let raw = try await s.createImage(token)["id"]?.stringValue ?? ""
            #expect(try await s.upload(raw, token: token, header).status == 415)
        }
    }

    @Test("issue 13, defect 1: a VMDK descriptor naming a host file is not taken as raw")
    func vmdkDescriptorAsRaw() async throws {
        try await TestApp.with { s in
            let token = try await s.adminToken()
            for descriptor in [vmdkDescriptor, "\n" + vmdkDescriptor, "# disk descriptorfile\n" + vmdkDescriptor] {
                let id = try await s.createImageId(token)
                let r = try await s.upload(id, token: token, Array(descriptor.utf8))
                #expect(r.status == 415)
                #expect(r.text.contains("Image disk_format raw does not match stream data vmdk"))
                let image = try await s.request(.GET, "/v2/images/" + id, token: token).json
                #expect(image["status"] == "queued" && image["size"] == .null && image["checksum"] == .null)
                #expect(try await s.request(.GET, "/v2/images/\(id)/file", token: token).status == 204)
                // The refusal left nothing behind: the image takes good data afterwards.
                #expect(try await s.upload(id, token: token, testBytes(1000)).status == 204)
            }
        }
    }

    @Test("issue 13, defect 2: without require_format_match the safety checks still refuse unsafe data")
    func safetyWithoutFormatMatch() async throws {
        try await TestApp.with({ $0.image.requireFormatMatch = false }) { s in
            let token = try await s.adminToken()
            var backed = qcow2Header()
            backed.replaceSubrange(8..<16, with: [0, 0, 0, 0, 0, 0, 2, 0])
            backed.replaceSubrange(512..<523, with: Array("/etc/passwd".utf8))
            var dataFile = qcow2Header()
            dataFile[79] = 0x04
            let cases: [(String, [UInt8])] = [
                ("qcow2", backed), ("raw", backed), ("qcow2", dataFile), ("raw", Array(vmdkDescriptor.utf8)),
                ("vmdk", Array(vmdkDescriptor.utf8)),
            ]
            for (diskFormat, data) in cases {
                let id = try await s.createImageId(
                    token, ["disk_format": .string(diskFormat), "container_format": "bare"])
                let r = try await s.upload(id, token: token, data)
                #expect(r.status == 415, "\(diskFormat)")
                #expect(r.text.contains("Image failed safety checks"))
                #expect(try await s.request(.GET, "/v2/images/" + id, token: token).json["status"] == "queued")
            }
            // Only the format match is off: a safe qcow2 declared as raw is taken.
            let id = try await s.createImageId(token)
            #expect(try await s.upload(id, token: token, qcow2Header()).status == 204)
        }
    }

    @Test("staging applies the safety checks too, before the disk format is known")
    func stageSafety() async throws {
        try await TestApp.with { s in
            let token = try await s.adminToken()
            let id = try await s.createImageId(token, ["name": "no formats yet"])
            let r = try await s.request(
                .PUT, "/v2/images/\(id)/stage", token: token, headers: [("Content-Type", "application/octet-stream")],
                body: Array(vmdkDescriptor.utf8))
            #expect(r.status == 415)
            #expect(r.text.contains("Image failed safety checks"))
            #expect(try await s.request(.GET, "/v2/images/" + id, token: token).json["status"] == "queued")
        }
    }

    @Test("interoperable import: stage, then glance-direct")
    func glanceDirect() async throws {
        try await TestApp.with { s in
            let token = try await s.adminToken()
            let id = try await s.createImage(token)["id"]?.stringValue ?? ""
            let early = try await s.json(
                .POST, "/v2/images/\(id)/import", token: token, ["method": ["name": "glance-direct"]])
            #expect(early.status == 409)
            let bytes = testBytes(70_000)
            let staged = try await s.request(
                .PUT, "/v2/images/\(id)/stage", token: token,
                headers: [("Content-Type", "application/octet-stream")], body: bytes)
            #expect(staged.status == 204)
            var image = try await s.request(.GET, "/v2/images/\(id)", token: token).json
            #expect(image["status"] == "uploading" && image["size"]?.intValue == bytes.count)
            #expect(try await s.request(.GET, "/v2/images/\(id)/file", token: token).status == 204)
            let bad = try await s.json(
                .POST, "/v2/images/\(id)/import", token: token,
                ["method": ["name": "web-download", "uri": "http://example.com/image"]])
            #expect(bad.status == 409 && bad.text.contains("needs to be in 'queued' state to use 'web-download'"))
            let noMethod = try await s.json(.POST, "/v2/images/\(id)/import", token: token, ["x": 1])
            #expect(noMethod.status == 400)
            let imported = try await s.json(
                .POST, "/v2/images/\(id)/import", token: token, ["method": ["name": "glance-direct"]])
            #expect(imported.status == 202)
            image = try await s.request(.GET, "/v2/images/\(id)", token: token).json
            #expect(image["status"] == "active")
            #expect(try await s.request(.GET, "/v2/images/\(id)/file", token: token).body == bytes)
            let again = try await s.request(
                .PUT, "/v2/images/\(id)/stage", token: token,
                headers: [("Content-Type", "application/octet-stream")], body: bytes)
            #expect(again.status == 409)
        }
    }

    @Test("delete: protected refused, then 404 everywhere; data removed")
    func delete() async throws {
        try await TestApp.with { s in
            let token = try await s.adminToken()
            let id =
                try await s.createImage(token, ["disk_format": "raw", "container_format": "bare", "protected": true])[
                    "id"]?.stringValue ?? ""
            #expect(try await s.upload(id, token: token, testBytes(1000)).status == 204)
            var r = try await s.request(.DELETE, "/v2/images/" + id, token: token)
            #expect(r.status == 403)
            #expect(r.text.contains("is protected and cannot be deleted"))
            _ = try await s.patch(id, token: token, [["op": "replace", "path": "/protected", "value": false]])
            let location = try await s.components.metadata.image(id: id)?.locations.first?.location ?? ""
            r = try await s.request(.DELETE, "/v2/images/" + id, token: token)
            #expect(r.status == 204)
            for (method, path) in [
                (HTTPMethod.GET, "/v2/images/\(id)"), (.GET, "/v2/images/\(id)/file"), (.DELETE, "/v2/images/\(id)"),
            ] {
                let after = try await s.request(method, path, token: token)
                #expect(after.status == 404)
            }
            let list = try await s.request(.GET, "/v2/images", token: token)
            #expect(!list.text.contains(id))
            #expect(access(s.components.config.imagesPath + "/" + location, F_OK) != 0)
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The VMDK descriptor of issue 13: a flat extent on the host's /etc/passwd (as bytes only).
private let vmdkDescriptor =
    "version=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType=\"monolithicFlat\"\nRW 2048 FLAT \"/etc/passwd\" 0\n"

/// A qcow2 version 3 header (64 KiB clusters, 104-byte header) of 1 GiB, in 1 KiB.
private func qcow2Header() -> [UInt8] {
    var header = [UInt8](repeating: 0, count: 1024)
    header.replaceSubrange(0..<8, with: [0x51, 0x46, 0x49, 0xFB, 0, 0, 0, 3])
    header[23] = 16
    header.replaceSubrange(24..<32, with: [0, 0, 0, 0, 0x40, 0, 0, 0])
    header[103] = 104
    return header
}
