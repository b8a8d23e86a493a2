/// `GET /v2/tasks`'s query, read as Glance's tasks API reads it, with its 400 messages: the
/// sort (`sort_key`, `sort_dir`), the page (`limit`, `marker`) and filters on the task's
/// attributes (`status` and `type` checked against Glance's values; other parameters that
/// name no attribute are ignored).
public struct TaskListRequest: Sendable {
    public var sortKey = "created_at"
    public var ascending = false
    public var equal: [(TaskColumn, String)] = []
    public var marker: String?
    public var limit: Int?

    /// The values Glance's tasks API accepts in its `type` filter: only the legacy tasks'.
    static let filterableTypes = ["import"]

    public init() {}

    /// Reads the query in Glance's order: `sort_dir`, the filters, `marker`, `limit`.
    public init(query: [(String, String)]) throws(ServiceError) {
        // A repeated paging or sort parameter counts once, with its first value (as Glance
        // pops it); repeated filters all apply.
        func first(_ name: String) -> String? { query.first { $0.0 == name }?.1 }
        let sortDir = first("sort_dir") ?? "desc"
        sortKey = first("sort_key") ?? sortKey
        for (name, value) in query {
            if let column = TaskColumn(rawValue: name), column.isText { equal.append((column, value)) }
        }
        guard sortDir == "asc" || sortDir == "desc" else { throw .badRequest("Invalid sort direction: \(sortDir)") }
        ascending = sortDir == "asc"
        for (column, value) in equal where !value.isEmpty {
            if column == .status, ImageTask.Status(rawValue: value) == nil {
                throw .badRequest("Invalid status value: \(value)")
            }
            if column == .type, !Self.filterableTypes.contains(value) {
                throw .badRequest("Invalid type value: \(value)")
            }
        }
        if let marker = first("marker") {
            guard isUUID(marker) else { throw .badRequest("Invalid marker format") }
            self.marker = marker
        }
        if let text = first("limit") {
            guard let n = Int(text) else { throw .badRequest("limit param must be an integer") }
            guard n >= 0 else { throw .badRequest("limit param must be positive") }
            limit = n
        }
    }

    /// The column `sortKey` names; `deleted` and `deleted_at` (the same for every task a list
    /// shows) sort as the default order.
    var sortColumn: TaskColumn? {
        if sortKey == "deleted" || sortKey == "deleted_at" { return .createdAt }
        return TaskColumn(rawValue: sortKey)
    }
}
