import Crypto
import Foundation
import GlimpseCore
import GlimpseServer
import GlimpseTestSupport
import OpenStackEncoding
import OpenStackJSON
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A server that manages locations: shown, with the http store `web`, reading from loopback.
func managesLocations(_ c: inout ServerConfig) {
    fetchesFromLoopback(&c)
    c.image.showMultipleLocations = true
    c.httpStore = "web"
}

extension APIClient {
    func addLocation(
        _ id: String, _ token: String, _ url: String, metadata: JSONObject = [:], at position: String = "-"
    )
        async throws -> Reply
    {
        try await patch(
            id, token: token,
            [
                [
                    "op": "add", "path": .string("/locations/\(position)"),
                    "value": ["url": .string(url), "metadata": .object(metadata)],
                ]
            ])
    }

    func postLocation(_ id: String, _ token: String, _ body: JSONValue) async throws -> Reply {
        try await json(.POST, "/v2/images/\(id)/locations", token: token, body)
    }
}

@Suite("Locations: the legacy PATCH of /locations and API 2.17's locations API")
struct LocationTests {
    @Test("positions count the locations as shown: a copy in a store without URLs is never removed by them")
    func positionsAsShown() async throws {
        let bytes = testBytes(1000)
        try await Origin.with(bytes) { origin in
            try await TestApp.with(managesLocations) { s in
                let admin = try await s.adminToken()
                // Uploaded into the memory store, whose copies have no URL: `locations` is empty.
                let id = try await s.createImageId(admin)
                #expect(try await s.upload(id, token: admin, bytes).status == 204)
                #expect(try await s.image(id, admin)["locations"] == [])
                #expect(try await s.addLocation(id, admin, origin.base + "/image").status == 200)
                let shown = try await s.image(id, admin)["locations"]?.arrayValue ?? []
                #expect(shown.count == 1 && shown.first?["url"]?.stringValue == origin.base + "/image")
                // Removing position 0 removes the http location, the one shown there.
                let removed = try await s.patch(id, token: admin, [["op": "remove", "path": "/locations/0"]])
                #expect(removed.status == 200, "\(removed.text)")
                #expect(try await s.image(id, admin)["locations"] == [])
                #expect(try await s.objects().count == 1)
                #expect(try await s.request(.GET, "/v2/images/\(id)/file", token: admin).body == bytes)
                // Replacing the (empty) list as shown would mix other data with the image's.
                let replace = try await s.patch(
                    id, token: admin,
                    [
                        [
                            "op": "replace", "path": "/locations",
                            "value": [["url": .string(origin.base + "/image"), "metadata": [:]]],
                        ]
                    ])
                #expect(replace.status == 400 && replace.text.contains("Original locations is not empty"))
            }
        }
    }

    @Test("get_image_location: another project's reader sees no locations of a public image, as in Glance")
    func locationsPolicy() async throws {
        try await Origin.with(testBytes(100)) { origin in
            try await TestApp.with(managesLocations) { s in
                let admin = try await s.adminToken()
                let id = try await s.createImageId(
                    admin, ["disk_format": "raw", "container_format": "bare", "visibility": "public"])
                #expect(try await s.addLocation(id, admin, origin.base + "/image").status == 200)
                let (other, _) = try await s.makeUser("loc-reader", project: "loc-elsewhere", admin: admin)
                #expect(try await s.image(id, other)["locations"] == [])
                #expect(try await s.image(id, admin)["locations"]?.arrayValue?.count == 1)
                let listed = try await s.request(.GET, "/v2/images", token: other).json["images"]?.arrayValue
                #expect(listed?.first { $0["id"]?.stringValue == id }?["locations"] == [])
            }
        }
    }

    @Test("a location whose data grew since it was sized is never served past the image's size")
    func growingLocation() async throws {
        let bytes = testBytes(5000)
        try await Origin.with(bytes) { origin in
            try await TestServer.with(managesLocations) { s in
                let admin = try await s.adminToken()
                let id = try await s.createImageId(admin)
                #expect(try await s.addLocation(id, admin, origin.base + "/growing").status == 200)
                #expect(try await s.image(id, admin)["size"]?.intValue == bytes.count)
                // On the wire: no byte past the announced length (they would be read as the
                // next answer on the connection); the connection ends instead.
                let port = s.port
                let received = try await RawHTTP.offload { () throws -> Int in
                    let fd = try RawHTTP.connect(port: port)
                    defer { close(fd) }
                    try RawHTTP.send(
                        fd,
                        Array("GET /v2/images/\(id)/file HTTP/1.1\r\nHost: x\r\nX-Auth-Token: \(admin)\r\n\r\n".utf8))
                    _ = try RawHTTP.readResponseHead(fd)
                    var tv = timeval(tv_sec: 3, tv_usec: 0)
                    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
                    var total = 0
                    var buffer = [UInt8](repeating: 0, count: 65536)
                    while true {
                        let n = recv(fd, &buffer, buffer.count, 0)
                        if n <= 0 { break }
                        total += n
                    }
                    return total
                }
                #expect(received <= bytes.count, "\(received) bytes after the head")
                // The server still serves.
                #expect(try await s.request(.GET, "/v2/images/\(id)", token: admin).status == 200)
            }
        }
    }

    @Test("image_location_quota: a location past it is 413, before its URL is asked")
    func locationQuota() async throws {
        try await Origin.with(testBytes(100)) { origin in
            try await TestApp.with({ c in
                managesLocations(&c)
                c.image.imageLocationQuota = 1
            }) { s in
                let admin = try await s.adminToken()
                let id = try await s.createImageId(admin)
                #expect(try await s.addLocation(id, admin, origin.base + "/image").status == 200)
                let hits = origin.hitCount("/image")
                let second = try await s.addLocation(id, admin, origin.base + "/image?second")
                #expect(second.status == 413 && second.text.contains("Attempted: 2, Maximum: 1"), "\(second.text)")
                #expect(origin.hitCount("/image") == hits)
            }
        }
    }

    @Test("without show_multiple_locations every /locations operation is 403, as Glance says it")
    func invisible() async throws {
        try await Origin.with(testBytes(100)) { origin in
            try await TestApp.with({ c in
                fetchesFromLoopback(&c)
                c.httpStore = "web"
            }) { s in
                let admin = try await s.adminToken()
                let id = try await s.createImageId(admin)
                #expect(try await s.image(id, admin)["locations"] == nil)
                let add = try await s.addLocation(id, admin, origin.base + "/image")
                #expect(
                    add.status == 403
                        && add.text.contains("It's not allowed to add locations if locations are invisible."))
                let replace = try await s.patch(
                    id, token: admin,
                    [
                        [
                            "op": "replace", "path": "/locations",
                            "value": [["url": .string(origin.base + "/image"), "metadata": [:]]],
                        ]
                    ])
                #expect(
                    replace.status == 403
                        && replace.text.contains("It's not allowed to update locations if locations are invisible."))
                let remove = try await s.patch(id, token: admin, [["op": "remove", "path": "/locations/0"]])
                #expect(
                    remove.status == 403
                        && remove.text.contains("It's not allowed to remove locations if locations are invisible."))
                #expect(origin.hitCount("/image") == 0)
                #expect(try await s.image(id, admin)["status"] == "queued")
            }
        }
    }

    @Test("add, replace and remove: a queued image goes active with the http location, its data read through download")
    func addReplaceRemove() async throws {
        let bytes = testBytes(50_000, seed: 3)
        try await Origin.with(bytes) { origin in
            try await TestApp.with(managesLocations) { s in
                let admin = try await s.adminToken()
                let member = try await s.makeUser("loc-member", project: "loc-project", admin: admin)
                let id = try await s.createImageId(member.token)
                #expect(try await s.image(id, member.token)["locations"] == [])
                let url = origin.base + "/image"
                #expect(try await s.addLocation(id, member.token, url, metadata: ["foo": "bar"]).status == 200)
                var image = try await s.image(id, member.token)
                #expect(image["status"] == "active" && image["size"]?.intValue == bytes.count)
                #expect(image["os_hash_value"] == .null && image["checksum"] == .null)
                #expect(image["locations"] == [["url": .string(url), "metadata": ["foo": "bar", "store": "web"]]])
                #expect(try await s.request(.GET, "/v2/images/\(id)/file", token: member.token).body == bytes)

                // A second location; the same one again is a duplicate.
                #expect(
                    try await s.addLocation(id, member.token, url + "#new", metadata: ["speed": "88mph"]).status == 200)
                #expect(
                    try await s.addLocation(id, member.token, url + "#new", metadata: ["speed": "88mph"]).status == 400)
                image = try await s.image(id, member.token)
                var locations = try #require(image["locations"]?.arrayValue)
                #expect(locations.count == 2 && locations[1]["url"]?.stringValue == url + "#new")

                // Replacing with the same set changes metadata only; dropping or changing a URL is 400.
                locations[0] = ["url": .string(url), "metadata": ["foo": "bar", "date": "2015-10-15", "store": "web"]]
                let same = try await s.patch(
                    id, token: member.token, [["op": "replace", "path": "/locations", "value": .array(locations)]])
                #expect(same.status == 200)
                let fewer = try await s.patch(
                    id, token: member.token, [["op": "replace", "path": "/locations", "value": [locations[0]]]])
                #expect(fewer.status == 400)
                let other = try await s.patch(
                    id, token: member.token,
                    [
                        [
                            "op": "replace", "path": "/locations",
                            "value": [locations[0], ["url": .string(url + "#new3"), "metadata": [:]]],
                        ]
                    ])
                #expect(other.status == 400)
                #expect(try await s.image(id, member.token)["locations"] == .array(locations))

                // Removing is for admins; the last location stays.
                let byMember = try await s.patch(id, token: member.token, [["op": "remove", "path": "/locations/0"]])
                #expect(byMember.status == 403)
                #expect(try await s.patch(id, token: admin, [["op": "remove", "path": "/locations/9"]]).status == 400)
                #expect(try await s.patch(id, token: admin, [["op": "remove", "path": "/locations/0"]]).status == 200)
                image = try await s.image(id, admin)
                #expect(image["locations"] == [locations[1]])
                let last = try await s.patch(id, token: admin, [["op": "remove", "path": "/locations/0"]])
                #expect(last.status == 403 && last.text.contains("Cannot remove last location in the image."))
            }
        }
    }

    @Test("bad locations are 400: unknown schemes, file:// paths, a URL that does not answer, a bad position")
    func badLocations() async throws {
        try await Origin.with(testBytes(100)) { origin in
            try await TestApp.with(managesLocations) { s in
                let admin = try await s.adminToken()
                let id = try await s.createImageId(admin)
                for url in ["gopher://info.cern.ch", "file:///etc/passwd", "swift://x/y", origin.base + "/missing"] {
                    let r = try await s.addLocation(id, admin, url)
                    #expect(r.status == 400 && r.text.contains("Invalid location"), "\(url)")
                }
                let position = try await s.addLocation(id, admin, origin.base + "/image", at: "5")
                #expect(position.status == 400 && position.text.contains("Invalid position for adding a location."))
                let noMetadata = try await s.patch(
                    id, token: admin,
                    [["op": "add", "path": "/locations/-", "value": ["url": .string(origin.base + "/image")]]])
                #expect(noMetadata.status == 400)
                #expect(try await s.image(id, admin)["status"] == "queued")
                // Another project's member is refused before the URL is asked for its size.
                let other = try await s.makeUser("bad-loc-other", project: "bad-loc-project", admin: admin)
                let shared = try await s.createImageId(
                    admin, ["disk_format": "raw", "container_format": "bare", "visibility": "public"])
                let hits = origin.hitCount("/image")
                #expect(try await s.addLocation(shared, other.token, origin.base + "/image").status == 403)
                #expect(origin.hitCount("/image") == hits)
            }
        }
    }

    @Test("validation data: taken on a queued image; another value later is 409")
    func validationData() async throws {
        try await Origin.with(testBytes(100)) { origin in
            try await TestApp.with(managesLocations) { s in
                let admin = try await s.adminToken()
                let id = try await s.createImageId(admin)
                let data: JSONObject = [
                    "checksum": .string(String(repeating: "1", count: 32)),
                    "os_hash_algo": "sha512", "os_hash_value": .string(String(repeating: "deadbeef", count: 16)),
                ]
                func add(_ url: String, _ validation: JSONObject) async throws -> Reply {
                    try await s.patch(
                        id, token: admin,
                        [
                            [
                                "op": "add", "path": "/locations/-",
                                "value": [
                                    "url": .string(url), "metadata": [:], "validation_data": .object(validation),
                                ],
                            ]
                        ])
                }
                #expect(try await add(origin.base + "/image", data).status == 200)
                let image = try await s.image(id, admin)
                #expect(image["checksum"]?.stringValue == String(repeating: "1", count: 32))
                #expect(image["os_hash_algo"] == "sha512" && image["status"] == "active")
                #expect(try await add(origin.base + "/image#same", data).status == 200)
                var other = data
                other["checksum"] = .string(String(repeating: "2", count: 32))
                let conflict = try await add(origin.base + "/image#other", other)
                #expect(
                    conflict.status == 409 && conflict.text.contains("checksum is already set with a different value"))
            }
        }
    }

    @Test("http locations obey the web-download filters: a loopback origin is refused by default, unasked")
    func refusedHost() async throws {
        try await Origin.with(testBytes(100)) { origin in
            try await TestApp.with({ c in
                c.image.showMultipleLocations = true
                c.httpStore = "web"
            }) { s in
                let admin = try await s.adminToken()
                let id = try await s.createImageId(admin)
                let r = try await s.addLocation(id, admin, origin.base + "/image")
                #expect(r.status == 400 && r.text.contains("Invalid location"))
                #expect(origin.hitCount("/image") == 0)
                let post = try await s.postLocation(id, admin, ["url": .string(origin.base + "/image")])
                #expect(post.status == 202)
                await s.components.images.imports.wait()
                #expect(try await s.image(id, admin)["status"] == "queued")
                #expect(origin.hitCount("/image") == 0)
            }
        }
    }

    @Test("POST /v2/images/{id}/locations: the image goes active, its hashes calculated from the location")
    func locationImport() async throws {
        let bytes = testBytes(70_000, seed: 11)
        try await Origin.with(bytes) { origin in
            try await TestApp.with(managesLocations) { s in
                let admin = try await s.adminToken()
                let member = try await s.makeUser("li-member", project: "li-project", admin: admin)
                let url = origin.base + "/image"
                // Computed: MD5 and SHA-512.
                let id = try await s.createImageId(member.token)
                #expect(try await s.postLocation(id, member.token, ["url": .string(url)]).status == 202)
                await s.components.images.imports.wait()
                var image = try await s.image(id, member.token)
                #expect(image["status"] == "active" && image["size"]?.intValue == bytes.count)
                #expect(image["checksum"]?.stringValue == Hex.encode(Insecure.MD5.hash(data: bytes)))
                #expect(image["os_hash_algo"] == "sha512")
                #expect(image["os_hash_value"]?.stringValue == Hex.encode(SHA512.hash(data: bytes)))
                #expect(image["os_glance_import_task"] == nil)
                let tasks = try await s.request(.GET, "/v2/images/\(id)/tasks", token: member.token).json
                #expect(
                    tasks["tasks"]?.arrayValue?.first?["type"] == "location_import"
                        && tasks["tasks"]?.arrayValue?.first?["status"] == "success")
                #expect(try await s.request(.GET, "/v2/images/\(id)/file", token: member.token).body == bytes)
                // Only a queued image.
                let again = try await s.postLocation(id, member.token, ["url": .string(url)])
                #expect(
                    again.status == 409
                        && again.text.contains("It's not allowed to add locations if image status is active."))

                // Validation data, checked against the data.
                let sha256 = Hex.encode(SHA256.hash(data: bytes))
                let checked = try await s.createImageId(member.token)
                let good = try await s.postLocation(
                    checked, member.token,
                    [
                        "url": .string(url),
                        "validation_data": ["os_hash_algo": "sha256", "os_hash_value": .string(sha256)],
                    ])
                #expect(good.status == 202)
                await s.components.images.imports.wait()
                image = try await s.image(checked, member.token)
                #expect(image["status"] == "active" && image["os_hash_algo"] == "sha256")
                #expect(image["os_hash_value"]?.stringValue == sha256)

                // A hash that does not match: the task fails, the image stays queued, without
                // hashes; its HTTP location stays, as Glance's http store keeps it.
                let wrong = try await s.createImageId(member.token)
                #expect(
                    try await s.postLocation(
                        wrong, member.token,
                        [
                            "url": .string(url),
                            "validation_data": [
                                "os_hash_algo": "sha512",
                                "os_hash_value": .string(String(repeating: "beefdead", count: 16)),
                            ],
                        ]
                    ).status == 202)
                await s.components.images.imports.wait()
                image = try await s.image(wrong, member.token)
                #expect(image["status"] == "queued" && image["os_hash_algo"] == .null && image["checksum"] == .null)
                #expect(image["locations"]?.arrayValue?.map { $0["url"] } == [.string(url)])
                let failed = try await s.request(.GET, "/v2/images/\(wrong)/tasks", token: member.token).json
                #expect(failed["tasks"]?.arrayValue?.first?["status"] == "failure")

                // Malformed validation data: 400 at once.
                for validation: JSONValue in [
                    ["os_hash_algo": "sha512", "os_hash_value": "dbc9e0f80d131e64b94913a7b40bb5"],
                    ["os_hash_value": .string(Hex.encode(SHA512.hash(data: bytes)))],
                    ["os_hash_algo": "sha123", "os_hash_value": .string(sha256)],
                    ["os_hash_algo": "sha512", "os_hash_value": .string(sha256)],
                ] {
                    let r = try await s.postLocation(
                        wrong, member.token, ["url": .string(url), "validation_data": validation])
                    #expect(r.status == 400, "\(validation.jsonString)")
                }
                // A normal user only with the http store.
                let notHTTP = try await s.postLocation(wrong, member.token, ["url": "rbd://fsid/pool/image/snap"])
                #expect(notHTTP.status == 403 && notHTTP.text.contains("http store must be enabled"))
            }
        }
    }

    @Test(
        "POST …/locations: validation data Glance's schema or hash check refuses is 400 with its message; sha1 is taken"
    )
    func postValidationData() async throws {
        let bytes = testBytes(30_000, seed: 5)
        try await Origin.with(bytes) { origin in
            try await TestApp.with(managesLocations) { s in
                let admin = try await s.adminToken()
                let url = JSONValue.string(origin.base + "/image")
                let id = try await s.createImageId(admin)
                let sha1 = Hex.encode(Insecure.SHA1.hash(data: bytes))
                let sha256 = Hex.encode(SHA256.hash(data: bytes))
                let schema = "Provided object does not match schema 'location': "
                let cases: [(JSONValue, String)] = [
                    (
                        ["os_hash_algo": "sha123", "os_hash_value": .string(sha256)],
                        schema + "'sha123' is not one of ['sha1', 'sha256', 'sha512', 'md5']"
                    ),
                    (["os_hash_value": .string(sha256)], schema + "'os_hash_algo' is a dependency of 'os_hash_value'"),
                    (["os_hash_algo": "sha256"], schema + "'os_hash_value' is a dependency of 'os_hash_algo'"),
                    (
                        ["os_hash_algo": "sha512", "os_hash_value": .string(String(repeating: "a", count: 129))],
                        schema + "'\(String(repeating: "a", count: 129))' is too long"
                    ),
                    (
                        ["os_hash_algo": "md5", "os_hash_value": .string(sha1), "checksum": "x"],
                        schema + "Additional properties are not allowed ('checksum' was unexpected)"
                    ),
                    (.null, schema + "None is not of type 'object'"),
                    (
                        ["os_hash_algo": "sha256", "os_hash_value": "zz"],
                        "os_hash_value (zz) is not a valid hexadecimal value"
                    ),
                    (
                        ["os_hash_algo": "sha1", "os_hash_value": .string(sha256)],
                        "os_hash_value: (\(sha256)) is not the correct size for (sha1) (should be (20) bytes)"
                    ),
                ]
                for (validation, message) in cases {
                    let r = try await s.postLocation(id, admin, ["url": url, "validation_data": validation])
                    #expect(r.status == 400 && r.text.contains(message), "\(validation.jsonString): \(r.text)")
                }
                let noURL = try await s.postLocation(id, admin, ["validation_data": [:]])
                #expect(noURL.status == 400 && noURL.text.contains(schema + "'url' is a required property"))
                #expect(try await s.image(id, admin)["status"] == "queued")
                // sha1 is one of the algorithms a location's data may be checked with.
                let r = try await s.postLocation(
                    id, admin,
                    ["url": url, "validation_data": ["os_hash_algo": "sha1", "os_hash_value": .string(sha1)]])
                #expect(r.status == 202)
                await s.components.images.imports.wait()
                let image = try await s.image(id, admin)
                #expect(image["status"] == "active" && image["os_hash_algo"] == "sha1")
                #expect(image["os_hash_value"]?.stringValue == sha1)
                #expect(image["checksum"]?.stringValue == Hex.encode(Insecure.MD5.hash(data: bytes)))
            }
        }
    }

    @Test(
        "PATCH add of a location: validation data is checked by the image schema (400), then as Glance's _validate_validation_data (409)"
    )
    func patchValidationData() async throws {
        try await Origin.with(testBytes(100)) { origin in
            try await TestApp.with(managesLocations) { s in
                let admin = try await s.adminToken()
                let id = try await s.createImageId(admin)
                let sha512 = String(repeating: "ab", count: 64)
                let zz = String(repeating: "z", count: 32)
                let schema = "Provided object does not match schema 'image': "
                let cases: [(JSONObject, Int, String)] = [
                    (
                        ["os_hash_algo": "sha1", "os_hash_value": .string(sha512)], 409,
                        "os_hash_algo must be sha512, not sha1"
                    ),
                    (
                        ["os_hash_algo": "sha123", "os_hash_value": .string(sha512)], 409,
                        "os_hash_algo must be sha512, not sha123"
                    ),
                    (
                        ["checksum": .string(zz), "os_hash_algo": "sha512", "os_hash_value": .string(sha512)], 409,
                        "checksum (\(zz)) is not a valid hexadecimal value"
                    ),
                    (
                        ["os_hash_algo": "sha512", "os_hash_value": "abcd"], 409,
                        "os_hash_value (abcd) is not the correct size for sha512 (should be 64 bytes)"
                    ),
                    (
                        ["os_hash_algo": "sha512", "os_hash_value": "xyz"], 409,
                        "os_hash_value (xyz) is not a valid hexadecimal value"
                    ),
                    (
                        ["checksum": "abc", "os_hash_algo": "sha512", "os_hash_value": .string(sha512)], 400,
                        schema + "'abc' is too short"
                    ),
                    (["os_hash_algo": "sha512"], 400, schema + "'os_hash_value' is a required property"),
                    (
                        ["os_hash_algo": "sha512", "os_hash_value": .string(sha512), "size": "1"], 400,
                        schema + "Additional properties are not allowed ('size' was unexpected)"
                    ),
                ]
                for (validation, status, message) in cases {
                    let r = try await s.patch(
                        id, token: admin,
                        [
                            [
                                "op": "add", "path": "/locations/-",
                                "value": [
                                    "url": .string(origin.base + "/image"), "metadata": [:],
                                    "validation_data": .object(validation),
                                ],
                            ]
                        ])
                    #expect(r.status == status && r.text.contains(message), "\(validation): \(r.text)")
                }
                #expect(try await s.image(id, admin)["status"] == "queued")
            }
        }
    }

    @Test("an unreachable location: the task fails and the image stays queued, as Glance leaves it")
    func unreachable() async throws {
        let port = try await Origin.with(testBytes(10)) { $0.port }  // closed once the origin has stopped
        try await TestApp.with(managesLocations) { s in
            let admin = try await s.adminToken()
            let id = try await s.createImageId(admin)
            #expect(
                try await s.postLocation(id, admin, ["url": .string("http://127.0.0.1:\(port)/image")]).status == 202)
            await s.components.images.imports.wait()
            let image = try await s.image(id, admin)
            #expect(image["status"] == "queued" && image["size"] == .null && image["os_glance_import_task"] == nil)
            let tasks = try await s.request(.GET, "/v2/images/\(id)/tasks", token: admin).json
            #expect(tasks["tasks"]?.arrayValue?.first?["status"] == "failure")
        }
    }

    @Test("a file store's copy shows as its file:// path, which cannot be added as a location")
    func fileStore() async throws {
        let dir = TestServer.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try await TestApp.with({ c in
            managesLocations(&c)
            c.dataDir = dir
            c.enabledBackends = [("local", "file")]
        }) { s in
            let admin = try await s.adminToken()
            let id = try await s.createImageId(admin)
            let bytes = testBytes(1000)
            #expect(try await s.upload(id, token: admin, bytes).status == 204)
            let locations = try #require(try await s.image(id, admin)["locations"]?.arrayValue)
            let url = try #require(locations.first?["url"]?.stringValue)
            #expect(locations.count == 1 && url.hasPrefix("file://" + dir + "/"))
            // The path is the data's.
            #expect(FileManager.default.contents(atPath: String(url.dropFirst("file://".count))) == Data(bytes))
            #expect(locations.first?["metadata"] == ["store": "local"])
            let other = try await s.createImageId(admin)
            let r = try await s.addLocation(other, admin, url)
            #expect(r.status == 400 && r.text.contains("Invalid location"))
        }
    }

    @Test("GET /v2/images/{id}/locations is for service users (and admins); 2.17 is offered only with the http store")
    func listAndVersions() async throws {
        try await Origin.with(testBytes(1000)) { origin in
            try await TestApp.with(managesLocations) { s in
                let admin = try await s.adminToken()
                let id = try await s.createImageId(
                    admin, ["disk_format": "raw", "container_format": "bare", "visibility": "public"])
                #expect(try await s.addLocation(id, admin, origin.base + "/image", metadata: ["k": "v"]).status == 200)
                // Glance 33's service_api: the service role, or admin (for services that send an
                // admin token); not a member of the owning project.
                #expect(try await s.request(.GET, "/v2/images/\(id)/locations", token: admin).status == 200)
                let (member, _) = try await s.makeUser("loc-member", project: "loc-project", admin: admin)
                #expect(try await s.request(.GET, "/v2/images/\(id)/locations", token: member).status == 403)
                let service = Principal(userId: "nova", projectId: "service", roles: ["service"])
                let listed = try await s.components.images.locations(of: id, by: service)
                #expect(listed.map(\.url) == [origin.base + "/image"])
                #expect(listed.first?.metadata == ["k": "v", "store": "web"])
                let versions = try await s.request(.GET, "/versions", token: nil).json
                #expect(versions["versions"]?.arrayValue?.first?["id"] == "v2.17")
            }
        }
        try await TestApp.with { s in
            let versions = try await s.request(.GET, "/versions", token: nil).json
            let ids = versions["versions"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
            #expect(!ids.contains("v2.17"))
        }
    }
}
