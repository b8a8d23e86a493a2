import GlimpseCore
import GlimpseServer
import GlimpseTestSupport
import NIOHTTP1
import OpenStackEncoding
import OpenStackJSON
import Testing

extension APIClient {
    /// Creates an image, stages data and imports it with `glance-direct` (done in the request);
    /// returns the image's id and the import's request id.
    func stagedImport(_ token: String, requestId: String? = nil) async throws -> (id: String, requestId: String) {
        let id = try await createImageId(token)
        let staged = try await request(
            .PUT, "/v2/images/\(id)/stage", token: token, headers: [("Content-Type", "application/octet-stream")],
            body: testBytes(3000))
        guard staged.status == 204 else { throw TestFailure("stage: \(staged.status) \(staged.text)") }
        let r = try await json(
            .POST, "/v2/images/\(id)/import", token: token, ["method": ["name": "glance-direct"]],
            headers: requestId.map { [("x-openstack-request-id", $0)] } ?? [])
        guard r.status == 202, let recorded = r.header("x-openstack-request-id") else {
            throw TestFailure("import: \(r.status) \(r.text)")
        }
        return (id, recorded)
    }

    func taskList(_ token: String, _ query: String = "") async throws -> JSONValue {
        let r = try await request(.GET, "/v2/tasks" + query, token: token)
        guard r.status == 200 else { throw TestFailure("tasks\(query): \(r.status) \(r.text)") }
        return try r.json
    }
}

/// A time as Glance's database rows show it: `2026-11-23T09:08:44.764823`, no zone.
func isRawTime(_ v: JSONValue?) -> Bool {
    guard let s = v?.stringValue, !s.hasSuffix("Z"), s.count >= 19 else { return false }
    return Timestamp(iso8601: s) != nil
}

@Suite("Tasks: imports recorded, the tasks API, an image's tasks")
struct TaskTests {
    /// The keys of `GET /v2/images/{id}/tasks`'s items, in the order of the recorded Glance
    /// traffic (glance-samples 180-tasks-of-image).
    static let rowKeys = [
        "id", "type", "status", "owner", "expires_at", "created_at", "updated_at", "deleted_at", "deleted", "image_id",
        "request_id", "user_id", "input", "result", "message",
    ]

    @Test("GET /v2/images/{id}/tasks: the import as Glance shows it, with the request's id and the user")
    func imageTasks() async throws {
        try await TestApp.with { s in
            let admin = try await s.adminToken()
            let (alice, project) = try await s.makeUser("alice", project: "p-alice", admin: admin)
            let (id, requestId) = try await s.stagedImport(alice, requestId: "req-0be8ec5e-tasks-test")
            #expect(requestId == "req-0be8ec5e-tasks-test")
            let users = try await s.request(.GET, "/identity/v3/users?name=alice", token: admin).json
            let userId = try #require(users["users"]?.arrayValue?.first?["id"])
            let r = try await s.request(.GET, "/v2/images/\(id)/tasks", token: alice)
            #expect(r.status == 200 && r.header("Content-Type") == "application/json")
            let tasks = try #require(try r.json["tasks"]?.arrayValue)
            #expect(tasks.count == 1)
            let task = try #require(tasks.first)
            #expect(task.objectValue?.keys == Self.rowKeys)
            #expect(task["type"] == "api_image_import" && task["status"] == "success")
            #expect(task["owner"] == .string(project) && task["user_id"] == userId)
            #expect(task["image_id"] == .string(id) && task["request_id"] == .string(requestId))
            #expect(task["deleted"] == false && task["deleted_at"] == .null)
            #expect(
                task["input"] == [
                    "image_id": .string(id), "import_req": ["method": ["name": "glance-direct"]], "backend": ["local"],
                ])
            #expect(task["result"] == ["image_id": .string(id)] && task["message"] == "Copied 0 MiB")
            #expect(isRawTime(task["created_at"]) && isRawTime(task["updated_at"]) && isRawTime(task["expires_at"]))
            let created = try #require(Timestamp(iso8601: task["created_at"]?.stringValue ?? ""))
            let expires = try #require(Timestamp(iso8601: task["expires_at"]?.stringValue ?? ""))
            #expect(abs(expires.seconds - created.seconds - 48 * 3600) <= 1)
            // Errors: an unknown image is a bare 404; the call takes no body.
            let unknown = try await s.request(.GET, "/v2/images/\(Identifiers.uuid())/tasks", token: alice)
            #expect(unknown.status == 404 && unknown.text.contains("The resource could not be found."))
            let withBody = try await s.request(
                .GET, "/v2/images/\(id)/tasks", token: alice, headers: [("Content-Type", "application/json")],
                body: Array("{}".utf8))
            #expect(withBody.status == 400)
            let post = try await s.request(.POST, "/v2/images/\(id)/tasks", token: alice)
            #expect(post.status == 405 && post.header("Allow") == "GET")
        }
    }

    @Test("visibility: a project sees its own tasks, an admin everyone's; an image it cannot see is a 404")
    func visibility() async throws {
        try await TestApp.with { s in
            let admin = try await s.adminToken()
            let (alice, _) = try await s.makeUser("alice", project: "p-alice", admin: admin)
            let (bob, bobProject) = try await s.makeUser("bob", project: "p-bob", admin: admin)
            let shared = try await s.stagedImport(alice).id
            let hidden = try await s.createImageId(
                alice, ["visibility": "private", "disk_format": "raw", "container_format": "bare"])
            _ = try await s.json(.POST, "/v2/images/\(shared)/members", token: alice, ["member": .string(bobProject)])
            let accept = try await s.json(
                .PUT, "/v2/images/\(shared)/members/\(bobProject)", token: bob, ["status": "accepted"])
            #expect(accept.status == 200)
            // Bob sees the image, not the task of alice's project.
            #expect(try await s.request(.GET, "/v2/images/\(shared)", token: bob).status == 200)
            let bobsView = try await s.request(.GET, "/v2/images/\(shared)/tasks", token: bob)
            #expect(bobsView.status == 200)
            #expect(try bobsView.json == ["tasks": []])
            #expect(try await s.request(.GET, "/v2/images/\(hidden)/tasks", token: bob).status == 404)
            func count(_ image: String, _ token: String) async throws -> Int? {
                try await s.request(.GET, "/v2/images/\(image)/tasks", token: token).json["tasks"]?.arrayValue?.count
            }
            #expect(try await count(shared, alice) == 1)
            #expect(try await count(shared, admin) == 1)
            // Bob's own import is his to see, and not alice's.
            let bobs = try await s.stagedImport(bob).id
            #expect(try await count(bobs, bob) == 1)
            #expect(try await s.request(.GET, "/v2/images/\(bobs)/tasks", token: alice).status == 404)
            // The tasks API is for admins (Glance's tasks_api_access): every project's tasks.
            for (method, path) in [
                (HTTPMethod.GET, "/v2/tasks"), (.GET, "/v2/tasks?limit=x"), (.GET, "/v2/tasks/\(Identifiers.uuid())"),
                (.DELETE, "/v2/tasks/\(Identifiers.uuid())"),
            ] {
                let r = try await s.request(method, path, token: bob)
                #expect(r.status == 403 && r.text.contains("tasks_api_access"), "\(method) \(path)")
            }
            let all = try await s.taskList(admin)
            #expect(Set(all["tasks"]?.arrayValue?.compactMap { $0["owner"]?.stringValue } ?? []).count == 2)
            let bobsOnly = try await s.taskList(admin, "?owner=\(bobProject)")
            #expect(bobsOnly["tasks"]?.arrayValue?.map { $0["owner"] } == [.string(bobProject)])
        }
    }

    @Test("GET /v2/tasks: stubs newest first, first/next/schema links, sort, filters, paging")
    func list() async throws {
        try await TestApp.with { s in
            let admin = try await s.adminToken()
            var images: [String] = []
            for _ in 0..<3 { images.append(try await s.stagedImport(admin).id) }
            let body = try await s.taskList(admin)
            let tasks = try #require(body["tasks"]?.arrayValue)
            #expect(body.objectValue?.keys == ["tasks", "first", "schema"])
            #expect(body["first"] == "/v2/tasks" && body["schema"] == "/v2/schemas/tasks")
            #expect(tasks.count == 3)
            let stub = try #require(tasks.first)
            #expect(
                stub.objectValue?.keys == [
                    "id", "type", "status", "owner", "created_at", "updated_at", "self", "schema", "expires_at",
                ])
            #expect(stub["self"] == .string("/v2/tasks/" + (stub["id"]?.stringValue ?? "")))
            #expect(stub["schema"] == "/v2/schemas/task" && stub["status"] == "success")
            #expect(stub["created_at"]?.stringValue?.hasSuffix("Z") == true)
            let ids = tasks.compactMap { $0["id"]?.stringValue }

            // Pages of one, following `next`; the query is kept in both links.
            var walked: [String] = []
            var path: String? = "/v2/tasks?limit=1"
            while let next = path {
                let page = try await s.taskList(admin, String(next.dropFirst("/v2/tasks".count)))
                #expect(page["first"] == "/v2/tasks?limit=1")
                walked += page["tasks"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
                path = page["next"]?.stringValue
                if let path { #expect(path == "/v2/tasks?limit=1&marker=" + (walked.last ?? "")) }
            }
            #expect(walked == ids)
            let ascending = try await s.taskList(admin, "?sort_dir=asc")
            #expect(ascending["tasks"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == ids.reversed())
            #expect(ascending["first"] == "/v2/tasks?sort_dir=asc")
            let byStatus = try await s.taskList(admin, "?sort_key=status&limit=2")
            #expect(byStatus["tasks"]?.arrayValue?.count == 2 && byStatus["next"] != nil)
            #expect(try await s.taskList(admin, "?status=success")["tasks"]?.arrayValue?.count == 3)
            #expect(try await s.taskList(admin, "?status=failure")["tasks"]?.arrayValue?.count == 0)
            #expect(try await s.taskList(admin, "?image_id=\(images[1])")["tasks"]?.arrayValue?.count == 1)
            // Glance's type filter knows only the legacy tasks' type.
            #expect(try await s.taskList(admin, "?type=import")["tasks"]?.arrayValue?.count == 0)
            #expect(try await s.taskList(admin, "?limit=0")["tasks"]?.arrayValue?.count == 0)
        }
    }

    @Test("GET /v2/tasks: Glance's 400s and 403s for bad sorts, filters, markers and limits")
    func listErrors() async throws {
        try await TestApp.with { s in
            let admin = try await s.adminToken()
            _ = try await s.stagedImport(admin)
            let missing = Identifiers.uuid()
            for (query, message) in [
                ("?sort_dir=up", "Invalid sort direction: up"),
                ("?status=done", "Invalid status value: done"),
                ("?type=api_image_import", "Invalid type value: api_image_import"),
                ("?marker=not-a-uuid", "Invalid marker format"),
                ("?marker=\(missing)", "Task with the given id \(missing) was not found"),
                ("?sort_key=size", "Sort key supplied was not valid."),
                ("?limit=ten", "limit param must be an integer"),
                ("?limit=-1", "limit param must be positive"),
                // Glance's order: the sort direction before the filters, the marker before the limit.
                ("?status=done&sort_dir=up", "Invalid sort direction: up"),
                ("?limit=-1&marker=x", "Invalid marker format"),
            ] {
                let r = try await s.request(.GET, "/v2/tasks" + query, token: admin)
                #expect(r.status == 400 && r.text.contains(message), "\(query): \(r.text)")
            }
        }
    }

    @Test("GET /v2/tasks/{id}: the whole task; unknown ids 404; DELETE is refused with 405")
    func show() async throws {
        try await TestApp.with { s in
            let admin = try await s.adminToken()
            let (image, requestId) = try await s.stagedImport(admin)
            let id = try #require(try await s.taskList(admin)["tasks"]?.arrayValue?.first?["id"]?.stringValue)
            let r = try await s.request(.GET, "/v2/tasks/\(id)", token: admin)
            #expect(r.status == 200)
            let task = try r.json
            #expect(
                task.objectValue?.keys == [
                    "id", "input", "type", "status", "owner", "message", "result", "created_at", "updated_at", "self",
                    "schema", "image_id", "request_id", "user_id", "expires_at",
                ])
            #expect(task["image_id"] == .string(image) && task["request_id"] == .string(requestId))
            #expect(task["input"]?["import_req"] == ["method": ["name": "glance-direct"]])
            #expect(task["self"] == .string("/v2/tasks/\(id)") && task["message"] == "Copied 0 MiB")
            #expect(task["expires_at"]?.stringValue?.hasSuffix("Z") == true)

            let missing = Identifiers.uuid()
            let notFound = try await s.request(.GET, "/v2/tasks/\(missing)", token: admin)
            #expect(notFound.status == 404 && notFound.text.contains("Task with the given id \(missing) was not found"))
            let delete = try await s.request(.DELETE, "/v2/tasks/\(id)", token: admin)
            #expect(delete.status == 405 && delete.header("Allow") == "GET")
            #expect(delete.text.contains("This operation is currently not permitted on Glance Tasks."))
            #expect(try await s.request(.GET, "/v2/tasks/\(id)", token: admin).status == 200)
            let put = try await s.request(.PUT, "/v2/tasks/\(id)", token: admin)
            #expect(put.status == 405 && put.header("Allow") == "GET, DELETE")
        }
    }

    @Test("the task schemas, as Glance serves them; API version 2.12 is listed")
    func schemasAndVersion() async throws {
        try await TestApp.with { s in
            let token = try await s.adminToken()
            let task = try await s.request(.GET, "/v2/schemas/task", token: token).json
            #expect(task["name"] == "task" && task.objectValue?.keys == ["name", "properties"])
            #expect(task["properties"]?["status"]?["enum"] == ["pending", "processing", "success", "failure"])
            #expect(task["properties"]?["input"]?["type"] == ["null", "object"])
            let tasks = try await s.request(.GET, "/v2/schemas/tasks", token: token).json
            #expect(tasks["name"] == "tasks" && tasks["links"] == [["rel": "describedby", "href": "{schema}"]])
            let item = try #require(tasks["properties"]?["tasks"]?["items"]?["properties"]?.objectValue)
            #expect(item["input"] == nil && item["result"] == nil && item["message"] == nil)
            #expect(item.count == 12 && item["expires_at"] != nil)
            let versions = try await s.request(.GET, "/versions").json["versions"]?.arrayValue ?? []
            #expect(versions.contains { $0["id"] == "v2.12" })
            #expect(try await s.request(.GET, "/v2.12/tasks", token: token).status == 200)
        }
    }

    @Test("task_time_to_live: a finished task expires that many hours later, then is gone and purged")
    func timeToLive() async throws {
        let clock = ManualClock()
        let ttl = try ServerConfig.load(file: nil, environment: [:], overrides: ["task_time_to_live": "2"])
            .image.taskTimeToLive
        #expect(ttl == 2)
        try await TestApp.with({
            $0.clock = clock
            $0.image.taskTimeToLive = ttl
        }) { s in
            let admin = try await s.adminToken()
            let image = try await s.stagedImport(admin).id
            let task = try #require(
                try await s.request(.GET, "/v2/images/\(image)/tasks", token: admin).json["tasks"]?.arrayValue?.first)
            let id = try #require(task["id"]?.stringValue)
            let shown = try await s.request(.GET, "/v2/tasks/\(id)", token: admin).json
            #expect(shown["expires_at"] == .string(clock.now().adding(seconds: 2 * 3600).iso8601))
            // (Tokens age with the clock: each step signs in again.)
            clock.advance(seconds: 2 * 3600 - 1)
            #expect(try await s.request(.GET, "/v2/tasks/\(id)", token: try await s.adminToken()).status == 200)
            clock.advance(seconds: 1)
            let fresh = try await s.adminToken()
            #expect(try await s.request(.GET, "/v2/tasks/\(id)", token: fresh).status == 404)
            #expect(try await s.request(.GET, "/v2/images/\(image)/tasks", token: fresh).json == ["tasks": []])
            #expect(try await s.taskList(fresh)["tasks"] == [])
            #expect(try await s.components.images.purgeExpiredTasks() == 1)
            #expect(try await s.components.metadata.task(id: id) == nil)
        }
    }
}
