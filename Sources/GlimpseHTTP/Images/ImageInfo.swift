import GlimpseCore
import Hummingbird
import OpenStackJSON

/// `/v2/schemas/{name}` and `/v2/info/{import,stores,stores/detail,usage}`.
extension ImageRoutes {
    @Sendable func schema(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        try request.requireNoBody()
        let schemas = images.schemas
        switch context.parameters.decoded("name") {
        case "image": return .json(schemas.image)
        case "images": return .json(schemas.images)
        case "member": return .json(schemas.member)
        case "members": return .json(schemas.members)
        case "task": return .json(TaskSchemas.task)
        case "tasks": return .json(TaskSchemas.tasks)
        default: throw ServiceError.notFound()
        }
    }

    @Sendable func importInfo(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        try request.requireNoBody()
        return .json([
            "import-methods": [
                "description": "Import methods available.", "type": "array",
                "value": .array(images.config.importMethods.map { .string($0) }),
            ]
        ])
    }

    /// A store as `/v2/info/stores` lists it: Glance marks only the default one.
    func storeJSON(_ store: any BlobStore) -> JSONObject {
        var o: JSONObject = ["id": .string(store.id)]
        if store.id == images.blobs.default.id { o["default"] = "true" }
        return o
    }

    @Sendable func stores(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        try request.requireNoBody()
        return .json(["stores": .array(images.blobs.all.map { .object(storeJSON($0)) })])
    }

    @Sendable func storesDetail(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        try request.requireNoBody()
        let p = try context.principal()
        try images.policy.enforce(.storesInfoDetail, p, .project(p.projectId))
        var out: [JSONValue] = []
        for store in images.blobs.all {
            var o = storeJSON(store)
            o["type"] = .string(store.type)
            o["properties"] = ["free_space": await store.freeSpace().map { .number(JSONNumber($0)) } ?? .null]
            o["weight"] = .number(JSONNumber(images.blobs.weight(of: store.id)))
            out.append(.object(o))
        }
        return .json(["stores": .array(out)])
    }

    /// `/v2/info/usage`: the caller's project's limit (-1 when none is set) and use of each
    /// quota Glance enforces from unified limits.
    @Sendable func usage(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        try request.requireNoBody()
        guard let project = try context.principal().projectId else { return .json(["usage": [:]]) }
        var out: JSONObject = [:]
        let usage = try await images.quotaUsage(of: project)
        for quota in ImageQuota.allCases {
            guard let u = usage[quota] else { continue }
            out[quota.rawValue] = ["limit": .number(JSONNumber(u.limit)), "usage": .number(JSONNumber(u.usage))]
        }
        return .json(["usage": .object(out)])
    }
}
