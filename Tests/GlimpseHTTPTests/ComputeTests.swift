import GlimpseCore
import GlimpseTestSupport
import NIOHTTP1
import OpenStackEncoding
import OpenStackJSON
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite("Compute images API")
struct ComputeTests {
    func names(_ r: Reply) throws -> [String] {
        try r.json["images"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
    }

    @Test("version discovery, index and detail representation, links")
    func representation() async throws {
        try await TestApp.with { s in
            let t = try await s.adminToken()
            let root = try await s.request(.GET, "/compute/")
            #expect(try root.json["versions"]?.arrayValue?.map { $0["id"] } == ["v2.0", "v2.1"])
            let v21 = try await s.request(.GET, "/compute/v2.1")
            #expect(try v21.json["version"]?["version"] == "2.35")
            let id =
                try await s.createImage(
                    t,
                    [
                        "name": "snap", "disk_format": "raw", "container_format": "bare", "min_disk": 2,
                        "instance_uuid": "7f0e8a4b-0000-4000-8000-000000000001", "auto_disk_config": "True",
                        "hw_x": "y",
                    ])["id"]?.stringValue ?? ""
            _ = try await s.upload(id, token: t, testBytes(1234))
            let index = try await s.request(.GET, "/compute/v2.1/images", token: t)
            #expect(index.status == 200)
            let item = try index.json["images"]?.arrayValue?.first
            #expect(item?.objectValue?.keys == ["id", "name", "links"])
            let links = item?["links"]?.arrayValue ?? []
            #expect(links.first?["href"]?.stringValue == "\(s.base)/compute/v2.1/images/\(id)")
            #expect(links.last?["href"]?.stringValue == "\(s.base)/images/\(id)")
            let show = try await s.request(.GET, "/compute/v2.1/images/\(id)", token: t).json["image"]
            #expect(show?["status"] == "ACTIVE" && show?["progress"] == 100)
            #expect(show?["minDisk"] == 2 && show?["minRam"] == 0 && show?["OS-EXT-IMG-SIZE:size"] == 1234)
            #expect(show?["metadata"]?["hw_x"] == "y")
            #expect(show?["server"]?["id"] == "7f0e8a4b-0000-4000-8000-000000000001")
            #expect(show?["OS-DCF:diskConfig"] == "AUTO")
            #expect(show?["created"]?.stringValue?.hasSuffix("Z") == true)
            // The self link works for DELETE (Rackspace-era clients delete through it).
            let selfLink = show?["links"]?.arrayValue?.first?["href"]?.stringValue ?? ""
            let path = String(selfLink.dropFirst(s.base.count))
            #expect(try await s.request(.DELETE, path, token: t).status == 204)
            let gone = try await s.request(.GET, path, token: t)
            #expect(try gone.status == 404 && gone.json["itemNotFound"]?["message"] == "Image not found.")
        }
    }

    @Test("project-id URLs, microversions, errors in Nova's format")
    func projectURLs() async throws {
        try await TestApp.with { s in
            let t = try await s.adminToken()
            let project =
                try await s.request(.GET, "/identity/v3/auth/tokens", token: t, headers: [("X-Subject-Token", t)])
                .json["token"]?["project"]?["id"]?.stringValue ?? ""
            let id = try await s.createImage(t, ["name": "x"])["id"]?.stringValue ?? ""
            let v2 = try await s.request(.GET, "/compute/v2/\(project)/images/detail", token: t)
            #expect(try v2.status == 200 && names(v2) == ["x"])
            #expect(
                try v2.json["images"]?.arrayValue?.first?["links"]?.arrayValue?.first?["href"]?.stringValue
                    == "\(s.base)/compute/v2/\(project)/images/\(id)")
            let wrong = try await s.request(.GET, "/compute/v2.1/0123456789abcdef0123456789abcdef/images", token: t)
            #expect(try wrong.status == 400 && wrong.json["badRequest"]?["code"] == 400)
            // What this compute API does not serve (flavors, servers) is not found, whatever
            // stands where a project id would.
            for path in [
                "/compute/v2.1/flavors/detail", "/compute/v2.1/servers", "/compute/v2.1/\(project)/flavors/detail",
                "/compute/v2/\(project)/servers/detail",
            ] {
                let missing = try await s.request(.GET, path, token: t)
                #expect(try missing.status == 404 && missing.json["itemNotFound"]?["code"] == 404, "\(path)")
            }
            let newer = try await s.request(
                .GET, "/compute/v2.1/images", token: t, headers: [("OpenStack-API-Version", "compute 2.60")])
            #expect(newer.status == 406)
            let ok = try await s.request(
                .GET, "/compute/v2.1/images", token: t, headers: [("X-OpenStack-Nova-API-Version", "2.10")])
            #expect(ok.status == 200)
            let noToken = try await s.request(.GET, "/compute/v2.1/images")
            #expect(noToken.status == 401)
            let badLimit = try await s.request(.GET, "/compute/v2.1/images?limit=x", token: t)
            #expect(badLimit.status == 400)
            let badMarker = try await s.request(.GET, "/compute/v2.1/images?marker=fancy-name", token: t)
            #expect(
                try badMarker.status == 400
                    && badMarker.json["badRequest"]?["message"] == "marker [fancy-name] not found")
        }
    }

    @Test("filters: name, status, server, type, minDisk, minRam; paging with images_links")
    func filters() async throws {
        try await TestApp.with { s in
            let t = try await s.adminToken()
            let server = "0b7ab8c3-0000-4000-8000-000000000009"
            let a =
                try await s.createImage(
                    t,
                    ["name": "base", "disk_format": "raw", "container_format": "bare", "min_disk": 10, "min_ram": 1024])[
                    "id"]?.stringValue ?? ""
            _ = try await s.upload(a, token: t, [1])
            try await s.createImage(
                t, ["name": "snap", "image_type": "snapshot", "instance_uuid": .string(server), "min_disk": 5])
            try await s.createImage(t, ["name": "backup", "image_type": "backup"])
            func q(_ query: String) async throws -> [String] {
                let r = try await s.request(.GET, "/compute/v2.1/images/detail?" + query, token: t)
                #expect(r.status == 200, "\(query)")
                return try names(r).sorted()
            }
            #expect(try await q("name=base") == ["base"])
            #expect(try await q("status=ACTIVE") == ["base"])
            #expect(try await q("status=saving") == ["backup", "snap"])
            #expect(try await q("status=DELETED").isEmpty)
            #expect(try await q("server=\(server)") == ["snap"])
            #expect(try await q("server=http://nova/v2.1/servers/\(server)") == ["snap"])
            #expect(try await q("type=SNAPSHOT") == ["snap"])
            #expect(try await q("type=BASE") == ["base"])
            #expect(try await q("minDisk=5") == ["base", "snap"])
            #expect(try await q("minRam=1000") == ["base"])
            var path: String? = "/compute/v2.1/images?limit=2"
            var seen: [String] = []
            while let p = path {
                let r = try await s.request(.GET, p, token: t)
                seen += try names(r)
                path = try r.json["images_links"]?.arrayValue?.first?["href"]?.stringValue.map {
                    String($0.dropFirst(s.base.count))
                }
            }
            #expect(seen.sorted() == ["backup", "base", "snap"])
        }
    }

    @Test("changes-since includes deleted images as DELETED until purged")
    func changesSince() async throws {
        try await TestApp.with { s in
            let t = try await s.adminToken()
            let since = Timestamp.now().adding(seconds: -5).iso8601
            let keep = try await s.createImage(t, ["name": "keep"])["id"]?.stringValue ?? ""
            let drop = try await s.createImage(t, ["name": "drop"])["id"]?.stringValue ?? ""
            #expect(try await s.request(.DELETE, "/v2/images/\(drop)", token: t).status == 204)
            let r = try await s.request(.GET, "/compute/v2.1/images/detail?changes-since=\(since)", token: t)
            let byId = try Dictionary(
                uniqueKeysWithValues: (r.json["images"]?.arrayValue ?? []).map { ($0["id"]?.stringValue ?? "", $0) })
            #expect(byId[keep]?["status"] == "SAVING")
            #expect(byId[drop]?["status"] == "DELETED")
            let deletedOnly = try await s.request(
                .GET, "/compute/v2.1/images/detail?changes-since=\(since)&status=DELETED", token: t)
            #expect(try names(deletedOnly) == ["drop"])
            let future = try await s.request(
                .GET, "/compute/v2.1/images/detail?changes-since=2099-01-01T00:00:00Z", token: t)
            #expect(try names(future).isEmpty)
            #expect(try await s.request(.GET, "/compute/v2.1/images?changes-since=nope", token: t).status == 400)
            // Not in plain listings, and gone after a purge.
            #expect(try !names(try await s.request(.GET, "/compute/v2.1/images/detail", token: t)).contains("drop"))
            let purged = try await s.components.images.purgeDeleted(olderThan: -1)
            #expect(purged == 1)
            let after = try await s.request(.GET, "/compute/v2.1/images/detail?changes-since=\(since)", token: t)
            #expect(try names(after) == ["keep"])
        }
    }

    @Test("metadata: read, merge, replace, per key; limits and checks")
    func metadata() async throws {
        try await TestApp.with { s in
            let t = try await s.adminToken()
            let id = try await s.createImage(t, ["name": "m", "a": "1", "b": "2"])["id"]?.stringValue ?? ""
            let base = "/compute/v2.1/images/\(id)/metadata"
            #expect(try await s.request(.GET, base, token: t).json["metadata"] == ["a": "1", "b": "2"])
            var r = try await s.json(.POST, base, token: t, ["metadata": ["b": "20", "c": "3"]])
            #expect(try r.status == 200 && r.json["metadata"] == ["a": "1", "b": "20", "c": "3"])
            r = try await s.json(.PUT, base, token: t, ["metadata": ["z": "26"]])
            #expect(try r.json["metadata"] == ["z": "26"])
            #expect(try await s.request(.GET, "/v2/images/\(id)", token: t).json["a"] == nil)
            r = try await s.request(.GET, base + "/z", token: t)
            #expect(try r.json == ["meta": ["z": "26"]])
            r = try await s.json(.PUT, base + "/y", token: t, ["meta": ["y": "25"]])
            #expect(try r.status == 200 && r.json == ["meta": ["y": "25"]])
            r = try await s.json(.PUT, base + "/y", token: t, ["meta": ["x": "24"]])
            #expect(try r.status == 400 && r.json["badRequest"]?["message"] == "Request body and URI mismatch")
            r = try await s.json(.PUT, base + "/y", token: t, ["meta": ["y": "1", "x": "2"]])
            #expect(r.status == 400)
            r = try await s.json(.POST, base, token: t, ["metadata": ["name": "sneaky"]])
            #expect(r.status == 400)
            r = try await s.json(.POST, base, token: t, ["metadata": ["os_glance_x": "v"]])
            #expect(r.status == 403)
            #expect(try await s.request(.DELETE, base + "/y", token: t).status == 204)
            #expect(try await s.request(.DELETE, base + "/y", token: t).status == 404)
            var many = JSONObject()
            for i in 0..<129 { many["k\(i)"] = "v" }
            r = try await s.json(.PUT, base, token: t, ["metadata": .object(many)])
            #expect(try r.status == 403 && r.json["forbidden"]?["message"] == "Image metadata limit exceeded")
        }
    }

    @Test("a project sees its own, public and shared images; others' stay hidden")
    func policy() async throws {
        try await TestApp.with { s in
            let admin = try await s.adminToken()
            let (alice, _) = try await s.makeUser("alice", project: "p-alice", admin: admin)
            let (bob, bobProject) = try await s.makeUser("bob", project: "p-bob", admin: admin)
            let priv =
                try await s.createImage(alice, ["name": "private", "visibility": "private"])["id"]?.stringValue ?? ""
            let shared = try await s.createImage(alice, ["name": "shared"])["id"]?.stringValue ?? ""
            try await s.createImage(admin, ["name": "public", "visibility": "public"])
            _ = try await s.json(.POST, "/v2/images/\(shared)/members", token: alice, ["member": .string(bobProject)])
            _ = try await s.json(.PUT, "/v2/images/\(shared)/members/\(bobProject)", token: bob, ["status": "accepted"])
            let bobList = try await s.request(.GET, "/compute/v2.1/images/detail", token: bob)
            #expect(try names(bobList).sorted() == ["public", "shared"])
            #expect(try await s.request(.GET, "/compute/v2.1/images/\(priv)", token: bob).status == 404)
            #expect(try await s.request(.DELETE, "/compute/v2.1/images/\(priv)", token: bob).status == 404)
            let forbidden = try await s.request(.DELETE, "/compute/v2.1/images/\(shared)", token: bob)
            #expect(
                try forbidden.status == 403
                    && forbidden.json["forbidden"]?["message"] == "You are not allowed to delete the image.")
            let meta = try await s.json(
                .POST, "/compute/v2.1/images/\(shared)/metadata", token: bob, ["metadata": ["x": "y"]])
            #expect(meta.status == 403)
        }
    }
}
