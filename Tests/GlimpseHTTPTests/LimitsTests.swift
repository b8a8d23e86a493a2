import GlimpseCore
import GlimpseHTTP
import GlimpseTestSupport
import OpenStackJSON
import Testing

/// The built-in identity's unified limits (`/identity/v3/registered_limits`, `/limits`) and
/// the image quotas they set.
@Suite("Unified limits API and image quotas")
struct LimitsTests {
    let image = BuiltinCatalog.serviceId(type: "image")

    func register(
        _ s: TestApp, _ token: String, _ resource: String, _ limit: Int, region: JSONValue? = nil
    ) async throws -> Reply {
        var item: JSONObject = [
            "service_id": .string(image), "resource_name": .string(resource),
            "default_limit": .number(JSONNumber(limit)),
        ]
        if let region { item["region_id"] = region }
        return try await s.json(
            .POST, "/identity/v3/registered_limits", token: token, ["registered_limits": [.object(item)]])
    }

    func limit(_ s: TestApp, _ token: String, project: String, _ resource: String, _ limit: Int) async throws -> Reply {
        try await s.json(
            .POST, "/identity/v3/limits", token: token,
            [
                "limits": [
                    [
                        "project_id": .string(project), "service_id": .string(image),
                        "resource_name": .string(resource), "resource_limit": .number(JSONNumber(limit)),
                    ]
                ]
            ])
    }

    @Test("registered limits: create, list with filters, show, update, delete; admins only write")
    func registeredLimits() async throws {
        try await TestApp.with { s in
            let admin = try await s.adminToken()
            let demo = try await s.makeUser("demo", project: "demo", admin: admin)
            let created = try await register(s, admin, "image_count_total", 10, region: "RegionOne")
            #expect(created.status == 201)
            let item = try #require(try created.json["registered_limits"]?.arrayValue?.first)
            let id = try #require(item["id"]?.stringValue)
            #expect(
                item["default_limit"] == 10 && item["region_id"] == "RegionOne" && item["service_id"] == .string(image))
            #expect(item["links"]?["self"] == .string("http://localhost/identity/v3/registered_limits/\(id)"))
            #expect(try await register(s, admin, "image_size_total", 1000).status == 201)
            #expect(try await register(s, demo.token, "image_stage_total", 1).status == 403)

            func names(_ query: String, _ token: String) async throws -> [String] {
                let r = try await s.request(.GET, "/identity/v3/registered_limits\(query)", token: token)
                return try r.json["registered_limits"]?.arrayValue?.compactMap { $0["resource_name"]?.stringValue }
                    ?? []
            }
            #expect(try await names("", demo.token).sorted() == ["image_count_total", "image_size_total"])
            #expect(try await names("?resource_name=image_size_total", admin) == ["image_size_total"])
            #expect(try await names("?region_id=RegionOne&service_id=\(image)", admin) == ["image_count_total"])
            #expect(try await names("?service_id=other", admin) == [])

            let shown = try await s.request(.GET, "/identity/v3/registered_limits/\(id)", token: demo.token)
            #expect(try shown.json["registered_limit"]?["default_limit"] == 10)
            let patch: JSONValue = ["registered_limit": ["default_limit": 20, "description": "more"]]
            #expect(
                try await s.json(.PATCH, "/identity/v3/registered_limits/\(id)", token: demo.token, patch).status == 403
            )
            let patched = try await s.json(.PATCH, "/identity/v3/registered_limits/\(id)", token: admin, patch)
            #expect(try patched.json["registered_limit"]?["default_limit"] == 20)
            #expect(try patched.json["registered_limit"]?["description"] == "more")

            #expect(
                try await s.request(.DELETE, "/identity/v3/registered_limits/\(id)", token: demo.token).status == 403)
            #expect(try await s.request(.DELETE, "/identity/v3/registered_limits/\(id)", token: admin).status == 204)
            let gone = try await s.request(.GET, "/identity/v3/registered_limits/\(id)", token: admin)
            #expect(gone.status == 404 && gone.text.contains("Could not find registered limit for \(id)."))
        }
    }

    @Test("registered limits: Keystone's 400s for bad input, 409 for a duplicate")
    func registeredLimitValidation() async throws {
        try await TestApp.with { s in
            let admin = try await s.adminToken()
            let post = { (body: JSONValue) in
                try await s.json(.POST, "/identity/v3/registered_limits", token: admin, body).status
            }
            let valid: JSONObject = [
                "service_id": .string(image), "resource_name": "image_count_total", "default_limit": 5,
            ]
            func with(_ key: String, _ value: JSONValue?) -> JSONValue {
                var o = valid
                o[key] = value
                return ["registered_limits": [.object(o)]]
            }
            #expect(try await post(with("default_limit", -2)) == 400)
            #expect(try await post(with("default_limit", "5")) == 400)
            #expect(try await post(with("default_limit", 2_147_483_648)) == 400)
            #expect(try await post(with("resource_name", nil)) == 400)
            #expect(try await post(with("resource_name", "")) == 400)
            #expect(try await post(with("unknown", 1)) == 400)
            #expect(try await post(with("region_id", "Elsewhere")) == 400)
            let unknownService = try await s.json(
                .POST, "/identity/v3/registered_limits", token: admin, with("service_id", "nope"))
            #expect(unknownService.status == 400 && unknownService.text.contains("Expecting to find service_id"))
            #expect(try await post(["registered_limits": []]) == 400)
            #expect(try await post(["registered_limit": .object(valid)]) == 400)
            // Nothing of a refused request was kept; a duplicate (in one request too) is 409.
            #expect(try await post(with("default_limit", -1)) == 201)
            #expect(try await post(with("default_limit", 3)) == 409)
            var other = valid
            other["resource_name"] = "image_size_total"
            #expect(try await post(["registered_limits": [.object(other), .object(other)]]) == 409)
            let list = try await s.request(.GET, "/identity/v3/registered_limits", token: admin)
            #expect(try list.json["registered_limits"]?.arrayValue?.count == 1)
        }
    }

    @Test("project limits: need a registered limit, admins write, members see their project's only")
    func projectLimits() async throws {
        try await TestApp.with { s in
            let admin = try await s.adminToken()
            let demo = try await s.makeUser("demo", project: "demo", admin: admin)
            let other = try await s.makeUser("other", project: "other", admin: admin)
            let unregistered = try await limit(s, admin, project: demo.projectId, "image_count_total", 5)
            #expect(unregistered.status == 403)
            #expect(unregistered.text.contains("Unable to create a limit that has no corresponding registered limit."))
            #expect(try await register(s, admin, "image_count_total", 10).status == 201)
            #expect(try await limit(s, demo.token, project: demo.projectId, "image_count_total", 5).status == 403)
            let created = try await limit(s, admin, project: demo.projectId, "image_count_total", 5)
            #expect(created.status == 201)
            let item = try #require(try created.json["limits"]?.arrayValue?.first)
            let id = try #require(item["id"]?.stringValue)
            #expect(item["project_id"] == .string(demo.projectId) && item["resource_limit"] == 5)
            #expect(try await limit(s, admin, project: other.projectId, "image_count_total", 7).status == 201)
            #expect(try await limit(s, admin, project: demo.projectId, "image_count_total", 6).status == 409)
            #expect(try await limit(s, admin, project: "no-such-project", "image_count_total", 6).status == 400)

            func projects(_ query: String, _ token: String) async throws -> [String] {
                let r = try await s.request(.GET, "/identity/v3/limits\(query)", token: token)
                return try r.json["limits"]?.arrayValue?.compactMap { $0["project_id"]?.stringValue } ?? []
            }
            #expect(try await projects("", admin).count == 2)
            #expect(try await projects("?project_id=\(other.projectId)", admin) == [other.projectId])
            #expect(try await projects("", demo.token) == [demo.projectId])
            #expect(try await projects("?project_id=\(other.projectId)", demo.token) == [])
            #expect(try await s.request(.GET, "/identity/v3/limits/\(id)", token: demo.token).status == 200)
            #expect(try await s.request(.GET, "/identity/v3/limits/\(id)", token: other.token).status == 403)

            let patch: JSONValue = ["limit": ["resource_limit": 3]]
            #expect(try await s.json(.PATCH, "/identity/v3/limits/\(id)", token: demo.token, patch).status == 403)
            #expect(
                try await s.json(.PATCH, "/identity/v3/limits/\(id)", token: admin, patch).json["limit"]?[
                    "resource_limit"] == 3)
            let moved: JSONValue = ["limit": ["project_id": .string(other.projectId)]]
            #expect(try await s.json(.PATCH, "/identity/v3/limits/\(id)", token: admin, moved).status == 400)

            // A registered limit in use cannot go.
            let registered = try await s.request(.GET, "/identity/v3/registered_limits", token: admin)
            let registeredId = try #require(
                try registered.json["registered_limits"]?.arrayValue?.first?["id"]?.stringValue)
            #expect(
                try await s.request(.DELETE, "/identity/v3/registered_limits/\(registeredId)", token: admin).status
                    == 403)
            #expect(try await s.request(.DELETE, "/identity/v3/limits/\(id)", token: admin).status == 204)
            #expect(try await s.request(.DELETE, "/identity/v3/limits/\(id)", token: admin).status == 404)

            let model = try await s.request(.GET, "/identity/v3/limits/model", token: demo.token)
            #expect(try model.json["model"]?["name"] == "flat")
        }
    }

    @Test("services can be found by id, name and type, and the region by id, as clients look them up")
    func services() async throws {
        try await TestApp.with { s in
            let admin = try await s.adminToken()
            let byName = try await s.request(.GET, "/identity/v3/services?name=glance", token: admin)
            #expect(try byName.json["services"]?.arrayValue?.map { $0["id"] } == [.string(image)])
            let byType = try await s.request(.GET, "/identity/v3/services?type=image", token: admin)
            #expect(try byType.json["services"]?.arrayValue?.count == 1)
            #expect(
                try await s.request(.GET, "/identity/v3/services/\(image)", token: admin).json["service"]?["type"]
                    == "image")
            #expect(try await s.request(.GET, "/identity/v3/services/image", token: admin).status == 404)
            let region = try await s.request(.GET, "/identity/v3/regions/RegionOne", token: admin)
            #expect(try region.json["region"]?["id"] == "RegionOne")
            #expect(try await s.request(.GET, "/identity/v3/regions/Elsewhere", token: admin).status == 404)
        }
    }

    @Test("limits set through the API: 413 past image_count_total, a project's own limit wins, usage reports them")
    func enforcement() async throws {
        try await TestApp.with { s in
            let admin = try await s.adminToken()
            let demo = try await s.makeUser("demo", project: "demo", admin: admin)
            #expect(try await register(s, admin, "image_count_total", 1).status == 201)
            #expect(try await register(s, admin, "image_size_total", 1).status == 201)
            let id = try await s.createImageId(demo.token)
            let refused = try await s.json(.POST, "/v2/images", token: demo.token, ["name": "two"])
            #expect(refused.status == 413)
            #expect(
                refused.text.contains(
                    "Project \(demo.projectId) is over a limit for [Resource image_count_total is over limit of 1 due to current usage 1 and delta 1]"
                ))
            let big = try await s.upload(id, token: demo.token, [UInt8](repeating: 1, count: 2 << 20))
            #expect(big.status == 413 && big.text.contains("Resource image_size_total is over limit of 1"))
            #expect(try await s.request(.GET, "/v2/images/\(id)", token: demo.token).json["status"] == "queued")

            #expect(try await limit(s, admin, project: demo.projectId, "image_count_total", 3).status == 201)
            #expect(try await s.json(.POST, "/v2/images", token: demo.token, ["name": "two"]).status == 201)
            #expect(try await s.upload(id, token: demo.token, [1, 2, 3]).status == 204)

            let usage = try await s.request(.GET, "/v2/info/usage", token: demo.token).json["usage"]
            #expect(usage?["image_count_total"] == ["limit": 3, "usage": 2])
            #expect(usage?["image_size_total"] == ["limit": 1, "usage": 0])
            #expect(usage?["image_stage_total"] == ["limit": -1, "usage": 0])
            #expect(usage?["image_count_uploading"] == ["limit": -1, "usage": 0])
            // Other projects keep the registered default; the admin's has used none of it.
            let adminUsage = try await s.request(.GET, "/v2/info/usage", token: admin).json["usage"]
            #expect(adminUsage?["image_count_total"] == ["limit": 1, "usage": 0])
        }
    }
}
