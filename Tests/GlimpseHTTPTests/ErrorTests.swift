import GlimpseTestSupport
import NIOHTTP1
import NIOPosix
import OpenStackJSON
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite("Bad input and error responses")
struct ErrorTests {
    @Test("create: Glance's status and message for each bad body")
    func badCreateBodies() async throws {
        try await TestApp.with { s in
            let t = try await s.adminToken()
            let long = String(repeating: "n", count: 256)
            let cases: [(JSONValue, Int, String)] = [
                (
                    ["name": "x", "disk_format": "floppy"], 400,
                    "Provided object does not match schema 'image': 'floppy' is not one of [None, 'ami', 'ari', 'aki', 'vhd', 'vhdx', 'vmdk', 'raw', 'qcow2', 'vdi', 'iso', 'ploop']"
                ),
                (
                    ["name": "x", "container_format": "zip"], 400,
                    "Provided object does not match schema 'image': 'zip' is not one of [None, 'ami'"
                ),
                (["name": .string(long)], 400, "Provided object does not match schema 'image': '\(long)' is too long"),
                (["name": "x", "status": "active"], 403, "Attribute 'status' is read-only."),
                (["name": "x", "size": 5], 403, "Attribute 'size' is read-only."),
                (["name": "x", "self": "x"], 403, "Attribute 'self' is read-only."),
                (
                    ["name": "x", "os_glance_foo": "bar"], 403,
                    "Access was denied to this resource.<br /><br />\nAttribute 'os_glance_foo' is reserved."
                ),
                (["name": "x", "deleted": "1"], 403, "Attribute 'deleted' is reserved."),
                (
                    ["name": "x", "min_ram": -1], 400,
                    "Invalid value '-1' for parameter 'min_ram': Cannot be a negative value"
                ),
                (
                    ["name": "x", "min_disk": "1"], 400,
                    "Provided object does not match schema 'image': '1' is not of type 'integer'"
                ),
                (
                    ["name": "x", "visibility": "everyone"], 400,
                    "Provided object does not match schema 'image': 'everyone' is not one of ['community', 'public', 'private', 'shared']"
                ),
                (
                    ["name": "x", "tags": "a"], 400,
                    "Provided object does not match schema 'image': 'a' is not of type 'array'"
                ),
                (
                    ["name": "x", "protected": "yes"], 400,
                    "Provided object does not match schema 'image': 'yes' is not of type 'boolean'"
                ),
                (
                    ["name": "x", .init(stringLiteral: String(repeating: "k", count: 256)): "v"], 400,
                    "Custom property should not be greater than 255 characters."
                ),
                (
                    ["name": "x", "notes": .string(String(repeating: "v", count: 65536))], 400,
                    "Value of custom property 'notes' should not be greater than 65535 bytes."
                ),
                (
                    ["id": "not-a-uuid", "name": "x"], 400,
                    "Provided object does not match schema 'image': 'not-a-uuid' does not match"
                ),
                (["kernel_id": "nope"], 400, "Provided object does not match schema 'image': 'nope' does not match"),
                (
                    ["name": "x", "tags": .array((0..<129).map { .string("t\($0)") })], 413,
                    "The limit has been exceeded on the number of allowed image tags. Attempted: 129, Maximum: 128"
                ),
                (["x"], 400, "Request body must be a JSON object."),
            ]
            for (body, status, message) in cases {
                let r = try await s.json(.POST, "/v2/images", token: t, body, headers: [("Accept", "application/json")])
                #expect(r.status == status, "\(body.jsonString.prefix(80))")
                #expect(
                    try r.json["message"]?.stringValue?.hasPrefix(message) == true,
                    "\(body.jsonString.prefix(80)): \(r.text.prefix(300))")
                #expect(try r.json["code"]?.stringValue?.hasPrefix(String(status)) == true)
            }
            let duplicate: JSONValue = ["id": "11111111-2222-3333-4444-555555555555"]
            #expect(try await s.json(.POST, "/v2/images", token: t, duplicate).status == 201)
            let again = try await s.json(
                .POST, "/v2/images", token: t, duplicate, headers: [("Accept", "application/json")])
            #expect(again.status == 409)
            #expect(
                try again.json["message"]?.stringValue?.hasPrefix(
                    "Image ID 11111111-2222-3333-4444-555555555555 already exists!") == true)
            let noBody = try await s.request(
                .POST, "/v2/images", token: t, headers: [("Content-Type", "application/json")])
            #expect(noBody.status == 400 && noBody.text.contains("Body expected in request."))
            let badJSON = try await s.request(
                .POST, "/v2/images", token: t, headers: [("Content-Type", "application/json")],
                body: Array("{\"name\": \"x\",".utf8))
            #expect(badJSON.status == 400 && badJSON.text.contains("Malformed JSON in request body."))
            // Nothing of the above made an image but the one with a fixed id.
            let list = try await s.request(.GET, "/v2/images", token: t)
            #expect(try list.json["images"]?.arrayValue?.count == 1)
        }
    }

    @Test("PATCH: media types, malformed operations, read-only and reserved attributes")
    func badPatches() async throws {
        try await TestApp.with { s in
            let t = try await s.adminToken()
            let id = try await s.createImage(t, ["name": "p"])["id"]?.stringValue ?? ""
            let wrongType = try await s.patch(
                id, token: t, [["op": "replace", "path": "/name", "value": "x"]], contentType: "application/json")
            #expect(wrongType.status == 415)
            #expect(
                wrongType.header("Accept-Patch")
                    == "application/openstack-images-v2.0-json-patch, application/openstack-images-v2.1-json-patch")
            let cases: [(JSONValue, Int, String)] = [
                (
                    ["op": "replace", "path": "/name", "value": "x"], 400,
                    "Request body must be a JSON array of operation objects."
                ),
                (
                    [["op": "move", "path": "/name", "from": "/x"]], 400,
                    "Invalid operation: `move`. It must be one of the following: add, remove, replace."
                ),
                ([["path": "/name", "value": "x"]], 400, "Unable to find `op` in JSON Schema change."),
                ([["op": "add", "path": "/name"]], 400, "Operation \"add\" requires a member named \"value\"."),
                (
                    [["op": "replace", "path": "/tags/0", "value": "x"]], 400,
                    "Invalid JSON pointer for this resource: '/tags/0'"
                ),
                ([["op": "replace", "path": "name", "value": "x"]], 400, "Pointer `name` does not start with \"/\"."),
                ([["op": "replace", "path": "/status", "value": "active"]], 403, "Attribute 'status' is read-only."),
                (
                    [["op": "replace", "path": "/id", "value": "11111111-2222-3333-4444-555555555555"]], 403,
                    "Attribute 'id' is read-only."
                ),
                ([["op": "add", "path": "/os_glance_x", "value": "v"]], 403, "Attribute 'os_glance_x' is reserved."),
                ([["op": "remove", "path": "/name"]], 403, "Property name may not be removed."),
                (
                    [["op": "remove", "path": "/never_set"]], 409,
                    "There was a conflict when trying to complete your request.<br /><br />\nProperty never_set does not exist."
                ),
                (
                    [["op": "replace", "path": "/never_set", "value": "v"]], 409,
                    "There was a conflict when trying to complete your request.<br /><br />\nProperty never_set does not exist."
                ),
                (
                    [["op": "replace", "path": "/name", "value": .string(String(repeating: "n", count: 256))]], 400,
                    "Provided object does not match schema 'image'"
                ),
                (
                    [["op": "add", "path": "/notes", "value": .string(String(repeating: "é", count: 32768))]], 400,
                    "Value of custom property 'notes' should not be greater than 65535 bytes."
                ),
                (
                    [["op": "replace", "path": "/min_disk", "value": "1"]], 400,
                    "Provided object does not match schema 'image': '1' is not of type 'integer'"
                ),
            ]
            for (body, status, message) in cases {
                let r = try await s.json(
                    .PATCH, "/v2/images/\(id)", token: t, body,
                    contentType: "application/openstack-images-v2.1-json-patch",
                    headers: [("Accept", "application/json")])
                #expect(r.status == status, "\(body.jsonString)")
                #expect(try r.json["message"]?.stringValue?.hasPrefix(message) == true, "\(body.jsonString): \(r.text)")
            }
            let draft4Wrong = try await s.patch(
                id, token: t, [["op": "replace", "path": "/name", "value": "x"]],
                contentType: "application/openstack-images-v2.0-json-patch")
            #expect(draft4Wrong.status == 400)
            #expect(try await s.request(.GET, "/v2/images/\(id)", token: t).json["name"] == "p")
        }
    }

    @Test("error bodies follow Accept: HTML for */*, JSON for application/json, plain text otherwise")
    func errorFormats() async throws {
        try await TestApp.with { s in
            let t = try await s.adminToken()
            let path = "/v2/images/00000000-0000-0000-0000-000000000000"
            let html = try await s.request(.GET, path, token: t, headers: [("Accept", "*/*")])
            #expect(html.status == 404)
            #expect(html.header("Content-Type") == "text/html; charset=UTF-8")
            #expect(
                html.text
                    == "<html>\n <head>\n  <title>404 Not Found</title>\n </head>\n <body>\n  <h1>404 Not Found</h1>\n  No image found with ID 00000000-0000-0000-0000-000000000000<br /><br />\n\n\n\n </body>\n</html>"
            )
            let json = try await s.request(.GET, path, token: t, headers: [("Accept", "application/json")])
            #expect(json.header("Content-Type") == "application/json")
            #expect(
                try json.json == [
                    "message": "No image found with ID 00000000-0000-0000-0000-000000000000<br /><br />\n\n\n",
                    "code": "404 Not Found", "title": "Not Found",
                ])
            let plain = try await s.request(.GET, path, token: t)
            #expect(plain.header("Content-Type") == "text/plain; charset=UTF-8")
            #expect(plain.text == "404 Not Found\n\nNo image found with ID 00000000-0000-0000-0000-000000000000\n\n   ")
            let mixed = try await s.request(.GET, path, token: t, headers: [("Accept", "application/json, */*")])
            #expect(mixed.header("Content-Type") == "text/html; charset=UTF-8")
            let notUUID = try await s.request(.GET, "/v2/images/not-a-uuid", token: t)
            #expect(notUUID.status == 404)
            let trailing = try await s.request(.GET, "/v2/images/", token: t)
            #expect(trailing.status == 404)
            let method = try await s.request(.DELETE, "/v2/images", token: t)
            #expect(method.status == 405 && method.header("Allow") == "GET, POST")
            let unknown = try await s.request(.GET, "/v2/imagez", token: t)
            #expect(unknown.status == 404)
            let bodyOnGet = try await s.request(.GET, path, token: t, body: [1, 2, 3])
            #expect(bodyOnGet.status == 400 && bodyOnGet.text.contains("A body is not expected with this request."))
        }
    }

    @Test("no or bad token: 401 in keystonemiddleware's form; request ids on every answer")
    func authAndRequestIds() async throws {
        try await TestApp.with { s in
            for token in [nil, "bogus"] as [String?] {
                let r = try await s.request(.GET, "/v2/images", token: token)
                #expect(r.status == 401)
                #expect(try r.json["error"]?["code"] == 401)
                #expect(r.header("WWW-Authenticate") == "Keystone uri=\"\(s.base)/identity\"")
                #expect(r.header("x-openstack-request-id")?.hasPrefix("req-") == true)
            }
            let t = try await s.adminToken()
            let mine = try await s.request(
                .GET, "/v2/images", token: t,
                headers: [("X-Openstack-Request-Id", "req-12345678-1234-1234-1234-123456789012")])
            #expect(mine.header("x-openstack-request-id") == "req-12345678-1234-1234-1234-123456789012")
            let ids = Set(
                try await [s.request(.GET, "/v2/images", token: t), s.request(.GET, "/v2/images", token: t)]
                    .compactMap { $0.header("x-openstack-request-id") })
            #expect(ids.count == 2)
        }
    }

    @Test("schemas and info endpoints")
    func schemasAndInfo() async throws {
        try await TestApp.with { s in
            let t = try await s.adminToken()
            for name in ["image", "images", "member", "members"] {
                let r = try await s.request(.GET, "/v2/schemas/\(name)", token: t)
                #expect(try r.status == 200 && r.json["name"]?.stringValue == name)
            }
            let image = try await s.request(.GET, "/v2/schemas/image", token: t).json
            #expect(image["additionalProperties"] == ["type": "string"])
            #expect(image["properties"]?["os_distro"]?["is_base"] == false)
            #expect(image["properties"]?["disk_format"]?["enum"]?.arrayValue?.first == .null)
            let importInfo = try await s.request(.GET, "/v2/info/import", token: t).json
            #expect(importInfo["import-methods"]?["value"] == ["glance-direct", "web-download"])
            let stores = try await s.request(.GET, "/v2/info/stores", token: t).json
            #expect(stores["stores"]?.arrayValue?.first?["id"] == "local")
            let detail = try await s.request(.GET, "/v2/info/stores/detail", token: t)
            #expect(try detail.status == 200 && detail.json["stores"]?.arrayValue?.first?["type"] == "memory")
            let id = try await s.createImage(t)["id"]?.stringValue ?? ""
            _ = try await s.upload(id, token: t, testBytes(3 << 20))
            let usage = try await s.request(.GET, "/v2/info/usage", token: t).json["usage"]
            #expect(usage?["image_count_total"]?["usage"] == 1)
            #expect(usage?["image_size_total"]?["usage"] == 3)
        }
    }

    @Test("several stores: all listed, the default named, new data in the default, create names them all")
    func severalStores() async throws {
        try await TestApp.with({
            $0.enabledBackends = [("fast", "memory"), ("bulk", "memory")]
            $0.defaultBackend = "bulk"
        }) { s in
            let t = try await s.adminToken()
            let stores = try await s.request(.GET, "/v2/info/stores", token: t).json["stores"]
            #expect(stores == [["id": "fast"], ["id": "bulk", "default": "true"]])
            let created = try await s.json(
                .POST, "/v2/images", token: t, ["disk_format": "raw", "container_format": "bare"])
            #expect(created.header("OpenStack-image-store-ids") == "fast,bulk")
            let id = try created.json["id"]?.stringValue ?? ""
            #expect(try await s.upload(id, token: t, [1, 2, 3]).status == 204)
            #expect(try await s.request(.GET, "/v2/images/\(id)", token: t).json["stores"] == "bulk")
        }
    }
}
