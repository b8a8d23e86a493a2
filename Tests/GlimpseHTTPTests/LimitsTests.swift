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

    /// Stages `bytes` bytes of data for image `id`.
    func stage(_ s: TestApp, _ id: String, token: String, _ bytes: Int) async throws -> Reply {
        try await s.request(
            .PUT, "/v2/images/\(id)/stage", token: token, headers: [("Content-Type", "application/octet-stream")],
            body: [UInt8](repeating: 1, count: bytes))
    }

    /// The image's only import task.
    func importTask(_ s: TestApp, _ id: String, token: String) async throws -> JSONValue? {
        let tasks = try await s.request(.GET, "/v2/images/\(id)/tasks", token: token).json["tasks"]?.arrayValue
        #expect(tasks?.count == 1)
        return tasks?.first
    }

    /// The message of a task stopped by a limit, as Glance's import task records it.
    func overLimitMessage(_ project: String, _ detail: String) -> String {
        "The request returned a 413 Request Entity Too Large. This generally means that rate limiting or a quota "
            + "threshold was breached.\n\nThe response body:\nProject \(project) is over a limit for [\(detail)]"
    }

    @Test("system scope: an admin grants a role on the system; its token has no project and writes limits")
    func systemScope() async throws {
        try await TestApp.with { s in
            let admin = try await s.adminToken()
            let demo = try await s.makeUser("demo", project: "demo", admin: admin)
            var r = try await s.json(
                .POST, "/identity/v3/users", token: admin, ["user": ["name": "sysadmin", "password": "pw-sys"]])
            let userId = try #require(try r.json["user"]?["id"]?.stringValue)
            r = try await s.request(.GET, "/identity/v3/roles?name=admin", token: admin)
            let roleId = try #require(try r.json["roles"]?.arrayValue?.first?["id"]?.stringValue)
            let grant = "/identity/v3/system/users/\(userId)/roles/\(roleId)"
            let systemAuth: JSONValue = [
                "auth": [
                    "identity": [
                        "methods": ["password"],
                        "password": ["user": ["name": "sysadmin", "domain": ["id": "default"], "password": "pw-sys"]],
                    ],
                    "scope": ["system": ["all": true]],
                ]
            ]
            #expect(try await s.json(.POST, "/identity/v3/auth/tokens", token: nil, systemAuth).status == 401)
            #expect(try await s.request(.HEAD, grant, token: admin).status == 404)
            #expect(try await s.request(.PUT, grant, token: demo.token).status == 403)
            #expect(try await s.request(.PUT, grant, token: admin).status == 204)
            #expect(try await s.request(.HEAD, grant, token: admin).status == 204)
            r = try await s.request(.GET, "/identity/v3/system/users/\(userId)/roles", token: admin)
            #expect(try r.json["roles"]?.arrayValue?.compactMap { $0["name"]?.stringValue } == ["admin"])
            // Listed among the role assignments, alone with `scope.system`, not with a project.
            r = try await s.request(
                .GET, "/identity/v3/role_assignments?user.id=\(userId)&include_names", token: admin)
            let listed = try #require(try r.json["role_assignments"]?.arrayValue)
            #expect(listed.count == 1 && listed.first?["scope"] == ["system": ["all": true]])
            #expect(listed.first?["role"]?["name"] == "admin" && listed.first?["user"]?["name"] == "sysadmin")
            #expect(listed.first?["links"]?["assignment"]?.stringValue?.hasSuffix(grant) == true)
            r = try await s.request(.GET, "/identity/v3/role_assignments?scope.system=all", token: admin)
            #expect(try r.json["role_assignments"]?.arrayValue?.map { $0["user"]?["id"] } == [.string(userId)])
            r = try await s.request(
                .GET, "/identity/v3/role_assignments?user.id=\(userId)&scope.project.id=\(demo.projectId)",
                token: admin)
            #expect(try r.json["role_assignments"] == [])
            #expect(
                try await s.request(.GET, "/identity/v3/role_assignments?scope.system=all", token: demo.token).status
                    == 403)

            r = try await s.json(.POST, "/identity/v3/auth/tokens", token: nil, systemAuth)
            #expect(r.status == 201)
            let token = try #require(r.header("X-Subject-Token"))
            let body = try r.json["token"]
            #expect(body?["system"] == ["all": true] && body?["project"] == nil)
            #expect(
                Set(body?["roles"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []) == [
                    "admin", "member", "reader",
                ])
            #expect(body?["catalog"]?.arrayValue?.contains { $0["type"] == "image" } == true)
            r = try await s.request(.GET, "/identity/v3/auth/system", token: token)
            #expect(try r.json["system"] == [["all": true]])
            #expect(try await s.request(.GET, "/identity/v3/auth/system", token: demo.token).json["system"] == [])

            // What Tempest's system admin does with it: find the image service, set a limit, change it.
            r = try await s.request(.GET, "/identity/v3/services", token: token)
            let glance = try r.json["services"]?.arrayValue?.first { $0["name"] == "glance" }
            #expect(glance?["id"] == .string(image))
            #expect(try await register(s, token, "image_count_total", 10).status == 201)
            r = try await limit(s, token, project: demo.projectId, "image_count_total", 1)
            let id = try #require(try r.json["limits"]?.arrayValue?.first?["id"]?.stringValue)
            r = try await s.json(.PATCH, "/identity/v3/limits/\(id)", token: token, ["limit": ["resource_limit": 0]])
            #expect(try r.json["limit"]?["resource_limit"] == 0)
            #expect(try await s.json(.POST, "/v2/images", token: demo.token, ["name": "x"]).status == 413)

            #expect(try await s.request(.DELETE, grant, token: admin).status == 204)
            #expect(try await s.request(.DELETE, grant, token: admin).status == 404)
            #expect(try await s.request(.GET, "/identity/v3/services", token: token).status == 401)
            #expect(try await s.json(.POST, "/identity/v3/auth/tokens", token: nil, systemAuth).status == 401)
        }
    }

    @Test("import: past image_size_total already, refused at the request (413) and nothing changes")
    func importRefusedOverSize() async throws {
        try await TestApp.with { s in
            let admin = try await s.adminToken()
            let demo = try await s.makeUser("demo", project: "demo", admin: admin)
            #expect(try await register(s, admin, "image_size_total", 10).status == 201)
            let stored = try await s.createImageId(demo.token)
            #expect(try await s.upload(stored, token: demo.token, [UInt8](repeating: 1, count: 2 << 20)).status == 204)
            let staged = try await s.createImageId(demo.token)
            #expect(try await stage(s, staged, token: demo.token, 1 << 20).status == 204)
            #expect(try await limit(s, admin, project: demo.projectId, "image_size_total", 1).status == 201)
            let r = try await s.json(
                .POST, "/v2/images/\(staged)/import", token: demo.token, ["method": ["name": "glance-direct"]])
            #expect(r.status == 413)
            #expect(r.text.contains("Resource image_size_total is over limit of 1 due to current usage 2 and delta 0"))
            let image = try await s.request(.GET, "/v2/images/\(staged)", token: demo.token).json
            #expect(image["status"] == "uploading" && image["size"] == .number(JSONNumber(1 << 20)))
            #expect(try await s.request(.GET, "/v2/images/\(staged)/tasks", token: demo.token).json["tasks"] == [])
        }
    }

    @Test("glance-direct past image_size_total: accepted, its task fails, the image is queued without the staged data")
    func glanceDirectOverSize() async throws {
        try await TestApp.with { s in
            let admin = try await s.adminToken()
            let demo = try await s.makeUser("demo", project: "demo", admin: admin)
            #expect(try await register(s, admin, "image_size_total", 1).status == 201)
            let id = try await s.createImageId(demo.token)
            #expect(try await stage(s, id, token: demo.token, 2 << 20).status == 204)
            #expect(try await s.components.blobs.default.inventory(after: nil, limit: 10).count == 1)
            let r = try await s.json(
                .POST, "/v2/images/\(id)/import", token: demo.token, ["method": ["name": "glance-direct"]])
            #expect(r.status == 202)
            let task = try await importTask(s, id, token: demo.token)
            #expect(task?["status"] == "failure")
            #expect(
                task?["message"]
                    == .string(
                        overLimitMessage(
                            demo.projectId,
                            "Resource image_size_total is over limit of 1 due to current usage 0 and delta 2")))
            let image = try await s.request(.GET, "/v2/images/\(id)", token: demo.token).json
            #expect(image["status"] == "queued" && image["size"] == .null)
            #expect(image["os_glance_import_task"] == nil && image["os_glance_importing_to_stores"] == "")
            #expect(try await s.components.blobs.default.inventory(after: nil, limit: 10).isEmpty)
            // Staged again within the limit, it imports.
            #expect(try await stage(s, id, token: demo.token, 1 << 20).status == 204)
            let again = try await s.json(
                .POST, "/v2/images/\(id)/import", token: demo.token, ["method": ["name": "glance-direct"]])
            #expect(again.status == 202)
            #expect(try await s.request(.GET, "/v2/images/\(id)", token: demo.token).json["status"] == "active")
        }
    }

    @Test(
        "web-download past image_count_uploading or image_stage_total: accepted, its task fails, the image stays queued"
    )
    func webDownloadOverLimits() async throws {
        try await TestApp.with {
            $0.importMethods = ["glance-direct", "web-download"]
            $0.webDownload.allowPrivate = true
            $0.webDownload.allowedPorts = []
        } _: { s in
            let admin = try await s.adminToken()
            let demo = try await s.makeUser("demo", project: "demo", admin: admin)
            #expect(try await register(s, admin, "image_count_uploading", 1).status == 201)
            #expect(try await register(s, admin, "image_stage_total", 1).status == 201)
            let staged = try await s.createImageId(demo.token)
            #expect(try await stage(s, staged, token: demo.token, 1 << 20).status == 204)
            let webImport: JSONValue = ["method": ["name": "web-download", "uri": "http://127.0.0.1:9/image"]]

            let first = try await s.createImageId(demo.token)
            #expect(try await s.json(.POST, "/v2/images/\(first)/import", token: demo.token, webImport).status == 202)
            var task = try await importTask(s, first, token: demo.token)
            #expect(task?["status"] == "failure")
            #expect(
                task?["message"]
                    == .string(
                        overLimitMessage(
                            demo.projectId,
                            "Resource image_count_uploading is over limit of 1 due to current usage 2 and delta 0")))
            var image = try await s.request(.GET, "/v2/images/\(first)", token: demo.token).json
            #expect(image["status"] == "queued" && image["os_glance_import_task"] == nil)
            #expect(image["os_glance_importing_to_stores"] == "" && image["os_glance_failed_import"] == "")

            #expect(try await limit(s, admin, project: demo.projectId, "image_count_uploading", 2).status == 201)
            #expect(try await limit(s, admin, project: demo.projectId, "image_stage_total", 0).status == 201)
            let second = try await s.createImageId(demo.token)
            #expect(try await s.json(.POST, "/v2/images/\(second)/import", token: demo.token, webImport).status == 202)
            task = try await importTask(s, second, token: demo.token)
            #expect(
                task?["message"]
                    == .string(
                        overLimitMessage(
                            demo.projectId,
                            "Resource image_stage_total is over limit of 0 due to current usage 1 and delta 0")))
            image = try await s.request(.GET, "/v2/images/\(second)", token: demo.token).json
            #expect(image["status"] == "queued" && image["os_glance_import_task"] == nil)
        }
    }

    @Test("copy-image past image_count_uploading: accepted, its task fails, the image stays active in its store")
    func copyImageOverUploads() async throws {
        try await TestApp.with {
            $0.enabledBackends = [("fast", "memory"), ("cold", "memory")]
            $0.importMethods = ["glance-direct", "copy-image"]
        } _: { s in
            let admin = try await s.adminToken()
            let id = try await s.createImageId(admin)
            #expect(try await s.upload(id, token: admin, [1, 2, 3]).status == 204)
            #expect(try await register(s, admin, "image_count_uploading", 0).status == 201)
            let r = try await s.json(
                .POST, "/v2/images/\(id)/import", token: admin,
                ["method": ["name": "copy-image"], "stores": ["cold"]])
            #expect(r.status == 202)
            let task = try await importTask(s, id, token: admin)
            #expect(task?["status"] == "failure")
            let project = try #require(
                try await s.request(.GET, "/v2/images/\(id)", token: admin).json["owner"]?.stringValue)
            #expect(
                task?["message"]
                    == .string(
                        overLimitMessage(
                            project,
                            "Resource image_count_uploading is over limit of 0 due to current usage 1 and delta 0")))
            let image = try await s.request(.GET, "/v2/images/\(id)", token: admin).json
            #expect(image["status"] == "active" && image["stores"] == "fast")
            #expect(image["os_glance_import_task"] == nil && image["os_glance_importing_to_stores"] == "")
        }
    }
}
