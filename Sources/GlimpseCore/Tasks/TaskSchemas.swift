import OpenStackJSON

/// The task schemas Glance serves: `GET /v2/schemas/task` (a whole task) and
/// `/v2/schemas/tasks` (a list, whose items leave out `input`, `result` and `message`).
public enum TaskSchemas {
    static func properties(partial: Bool) -> JSONValue {
        var properties: JSONObject = [
            "id": [
                "description": "An identifier for the task", "pattern": .string(uuidPattern), "type": "string",
            ],
            "type": [
                "description": "The type of task represented by this content",
                "enum": ["import", "api_image_import", "location_import"], "type": "string",
            ],
            "status": [
                "description": "The current status of this task",
                "enum": ["pending", "processing", "success", "failure"], "type": "string",
            ],
            "input": ["description": "The parameters required by task, JSON blob", "type": ["null", "object"]],
            "result": ["description": "The result of current task, JSON blob", "type": ["null", "object"]],
            "owner": ["description": "An identifier for the owner of this task", "type": "string"],
            "message": [
                "description": "Human-readable informative message only included when appropriate (usually on failure)",
                "type": "string",
            ],
            "image_id": ["description": "Image associated with the task", "type": "string"],
            "request_id": ["description": "Human-readable informative request-id", "type": "string"],
            "user_id": ["description": "User associated with the task", "type": "string"],
            "expires_at": [
                "description": "Datetime when this resource would be subject to removal", "type": ["null", "string"],
            ],
            "created_at": ["description": "Datetime when this resource was created", "type": "string"],
            "updated_at": ["description": "Datetime when this resource was updated", "type": "string"],
            "self": ["readOnly": true, "type": "string"],
            "schema": ["readOnly": true, "type": "string"],
        ]
        if partial {
            for key in ["input", "result", "message"] { properties.removeValue(forKey: key) }
        }
        return .object(properties)
    }

    /// `GET /v2/schemas/task`.
    public static let task: JSONValue = ["name": "task", "properties": properties(partial: false)]

    /// `GET /v2/schemas/tasks`.
    public static let tasks: JSONValue = [
        "name": "tasks",
        "properties": [
            "tasks": ["type": "array", "items": ["name": "task", "properties": properties(partial: true)]],
            "schema": ["type": "string"],
        ],
        "links": [["rel": "describedby", "href": "{schema}"]],
    ]
}
