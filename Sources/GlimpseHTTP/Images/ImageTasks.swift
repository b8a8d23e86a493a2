import GlimpseCore
import Hummingbird
import OpenStackEncoding
import OpenStackJSON

/// `/v2/tasks`, `/v2/tasks/{id}` and `/v2/images/{id}/tasks`.
extension ImageRoutes {
    @Sendable func listTasks(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let query = request.queryItems
        let page = try await images.listTasks(query, by: try context.principal())
        let params = query.filter { $0.0 != "marker" }
        var body: JSONObject = [
            "tasks": .array(page.tasks.map(TaskJSON.stub)),
            "first": .string(params.isEmpty ? "/v2/tasks" : "/v2/tasks?" + URLCoding.encodeQuery(params)),
            "schema": "/v2/schemas/tasks",
        ]
        if page.hasMore, let last = page.tasks.last {
            body["next"] = .string("/v2/tasks?" + URLCoding.encodeQuery(params + [("marker", last.id)]))
        }
        return .json(.object(body))
    }

    /// Glance's legacy `import` task: 201 with the task and its `Location`.
    @Sendable func createTask(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let p = try context.principal()
        let task = try await images.createImportTask(
            try await request.jsonBody(context), requestId: context.requestId, by: p)
        return .json(TaskJSON.task(task), status: .created, headers: [.location: "/v2/tasks/\(task.id)"])
    }

    @Sendable func showTask(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let task = try await images.task(context.parameters.decoded("task"), by: try context.principal())
        return .json(TaskJSON.task(task))
    }

    /// Tasks go when they expire: Glance refuses to delete one (after its policy check).
    @Sendable func deleteTask(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let p = try context.principal()
        try images.policy.enforce(.tasksAPIAccess, p, .project(p.projectId))
        throw ServiceError(
            .methodNotAllowed(allowed: ["GET"]),
            explanation: "This operation is currently not permitted on Glance Tasks. They are auto deleted after "
                + "reaching the time based on their expires_at property.")
    }

    @Sendable func imageTasks(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        try request.requireNoBody()
        let tasks = try await images.tasks(ofImage: try Self.imageId(context), by: try context.principal())
        return .json(["tasks": .array(tasks.map(TaskJSON.row))])
    }
}
