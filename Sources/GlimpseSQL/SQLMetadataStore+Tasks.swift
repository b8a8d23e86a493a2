import GlimpseCore
import OpenStackEncoding
import OpenStackJSON

extension SQLMetadataStore: TaskStore {
    static var taskColumns: String {
        "id, type, status, owner, image_id, request_id, user_id, input, result, message, expires_at, created_at, "
            + "updated_at"
    }

    static func values(_ t: ImageTask) -> [SQLValue] {
        [
            .text(t.id), .text(t.type), .text(t.status.rawValue), .text(t.owner), .optional(t.imageId),
            .optional(t.requestId), .optional(t.userId), .optional(t.input?.jsonString),
            .optional(t.result?.jsonString), .text(t.message), t.expiresAt.map { .int($0.microseconds) } ?? .null,
            .int(t.createdAt.microseconds), .int(t.updatedAt.microseconds),
        ]
    }

    static func task(_ r: SQLRow) -> ImageTask {
        func time(_ i: Int) -> Timestamp? { r.int(i).map { Timestamp(microseconds: $0) } }
        func json(_ i: Int) -> JSONValue? { r.text(i).flatMap { try? JSONValue.parse($0) } }
        return ImageTask(
            id: r.text(0) ?? "", type: r.text(1) ?? "", status: ImageTask.Status(rawValue: r.text(2) ?? "") ?? .failure,
            owner: r.text(3) ?? "", imageId: r.text(4), requestId: r.text(5), userId: r.text(6), input: json(7),
            result: json(8), message: r.text(9) ?? "", expiresAt: time(10),
            createdAt: time(11) ?? Timestamp(seconds: 0),
            updatedAt: time(12) ?? Timestamp(seconds: 0))
    }

    /// A column as lists sort and compare it: NULL as `''` or 0, as the memory store does.
    static func sortExpression(_ column: TaskColumn) -> String {
        switch column {
        case .imageId, .requestId, .userId: "COALESCE(\(column.rawValue), '')"
        case .expiresAt: "COALESCE(expires_at, 0)"
        default: column.rawValue
        }
    }

    static func sortValue(_ column: TaskColumn, of task: ImageTask) -> SQLValue {
        switch column.sortValue(of: task) {
        case .text(let s): .text(s)
        case .number(let t): .int(t)
        }
    }

    public func insertTask(_ task: ImageTask) async throws {
        try await db.withTransaction { c in
            try await c.run(
                "INSERT INTO tasks (\(Self.taskColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                Self.values(task))
        }
    }

    public func updateTask(_ task: ImageTask) async throws -> Bool {
        try await db.withTransaction { c in
            try await c.run(
                "UPDATE tasks SET id = ?, type = ?, status = ?, owner = ?, image_id = ?, request_id = ?, user_id = ?, "
                    + "input = ?, result = ?, message = ?, expires_at = ?, created_at = ?, updated_at = ? WHERE id = ?",
                Self.values(task) + [.text(task.id)]) == 1
        }
    }

    public func task(id: String) async throws -> ImageTask? {
        try await db.read { c in
            try await c.query("SELECT \(Self.taskColumns) FROM tasks WHERE id = ?", [.text(id)]).first.map(Self.task)
        }
    }

    public func listTasks(_ query: TaskListQuery) async throws -> [ImageTask] {
        var s = SQLStatement("SELECT \(Self.taskColumns) FROM tasks WHERE (expires_at IS NULL OR expires_at > ")
        s.bind(.int(query.now.microseconds))
        s.append(")")
        if let owner = query.owner {
            s.append(" AND owner = ")
            s.bind(.text(owner))
        }
        for (column, value) in query.equal {
            s.append(" AND \(Self.sortExpression(column)) = ")
            s.bind(.text(value))
        }
        let exprs = query.sort.map(Self.sortExpression)
        if let marker = query.marker {
            s.append(" AND (" + exprs.joined(separator: ", ") + (query.ascending ? ") > " : ") < "))
            s.bindList(query.sort.map { Self.sortValue($0, of: marker) })
        }
        let direction = query.ascending ? " ASC" : " DESC"
        s.append(" ORDER BY " + exprs.map { $0 + direction }.joined(separator: ", ") + " LIMIT ")
        s.bind(.int(query.limit))
        let statement = s
        return try await db.read { c in try await c.query(statement).map(Self.task) }
    }

    public func tasks(imageId: String, now: Timestamp) async throws -> [ImageTask] {
        try await db.read { c in
            try await c.query(
                "SELECT \(Self.taskColumns) FROM tasks WHERE image_id = ? AND (expires_at IS NULL OR expires_at > ?) "
                    + "ORDER BY created_at, id",
                [.text(imageId), .int(now.microseconds)]
            ).map(Self.task)
        }
    }

    public func deleteExpiredTasks(now: Timestamp, limit: Int) async throws -> Int {
        try await db.withTransaction { c in
            try await c.run(
                "DELETE FROM tasks WHERE id IN (SELECT id FROM tasks WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)",
                [.int(now.microseconds), .int(limit)])
        }
    }
}
