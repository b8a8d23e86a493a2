import GlimpseCore
import OpenStackEncoding
import OpenStackJSON

/// The wire forms of tasks, in Glance's key order: a whole task (`GET /v2/tasks/{id}`), a
/// list's stub (`GET /v2/tasks`) and an image's task (`GET /v2/images/{id}/tasks`, which shows
/// Glance's database rows: raw times, `deleted`, and every attribute).
enum TaskJSON {
    static func optional(_ s: String?) -> JSONValue { s.map { .string($0) } ?? .null }

    static func links(_ task: ImageTask) -> JSONObject {
        ["self": .string("/v2/tasks/" + task.id), "schema": "/v2/schemas/task"]
    }

    /// `GET /v2/tasks/{id}`: `image_id`, `request_id`, `user_id` and `expires_at` only when set.
    static func task(_ t: ImageTask) -> JSONValue {
        var o: JSONObject = [
            "id": .string(t.id), "input": t.input ?? .null, "type": .string(t.type),
            "status": .string(t.status.rawValue), "owner": .string(t.owner), "message": .string(t.message),
            "result": t.result ?? .null, "created_at": .string(t.createdAt.iso8601),
            "updated_at": .string(t.updatedAt.iso8601),
        ]
        for link in links(t) { o[link.key] = link.value }
        if let imageId = t.imageId, !imageId.isEmpty { o["image_id"] = .string(imageId) }
        if let requestId = t.requestId, !requestId.isEmpty { o["request_id"] = .string(requestId) }
        if let userId = t.userId, !userId.isEmpty { o["user_id"] = .string(userId) }
        if let expiresAt = t.expiresAt { o["expires_at"] = .string(expiresAt.iso8601) }
        return .object(o)
    }

    /// An item of `GET /v2/tasks`.
    static func stub(_ t: ImageTask) -> JSONValue {
        var o: JSONObject = [
            "id": .string(t.id), "type": .string(t.type), "status": .string(t.status.rawValue),
            "owner": .string(t.owner), "created_at": .string(t.createdAt.iso8601),
            "updated_at": .string(t.updatedAt.iso8601),
        ]
        for link in links(t) { o[link.key] = link.value }
        if let expiresAt = t.expiresAt { o["expires_at"] = .string(expiresAt.iso8601) }
        return .object(o)
    }

    /// An item of `GET /v2/images/{id}/tasks`.
    static func row(_ t: ImageTask) -> JSONValue {
        [
            "id": .string(t.id), "type": .string(t.type), "status": .string(t.status.rawValue),
            "owner": .string(t.owner), "expires_at": optional(t.expiresAt?.pythonISOFormat),
            "created_at": .string(t.createdAt.pythonISOFormat), "updated_at": .string(t.updatedAt.pythonISOFormat),
            "deleted_at": .null, "deleted": false, "image_id": optional(t.imageId),
            "request_id": optional(t.requestId), "user_id": optional(t.userId), "input": t.input ?? .null,
            "result": t.result ?? .null, "message": .string(t.message),
        ]
    }
}
