import OpenStackEncoding
import OpenStackJSON

/// A task as Glance records it: work on an image that runs past the request that asked for
/// it (an import, `api_image_import`), with its input, its outcome and who asked. A task is
/// kept for `task_time_to_live` hours once it has ended (`expiresAt`), then removed.
public struct ImageTask: Sendable, Hashable {
    public enum Status: String, Sendable, CaseIterable {
        case pending, processing, success, failure

        /// Whether the task has ended.
        public var isFinal: Bool { self == .success || self == .failure }
    }

    public var id: String
    /// `api_image_import` (an interoperable import), `import` (the legacy tasks API) or
    /// `location_import`.
    public var type: String
    public var status: Status
    /// The project that asked for it.
    public var owner: String
    public var imageId: String?
    /// The `x-openstack-request-id` of the request that asked for it.
    public var requestId: String?
    public var userId: String?
    /// What was asked (for an import: the image, the request's body, the stores).
    public var input: JSONValue?
    /// What came of it (for a finished import: the image's id).
    public var result: JSONValue?
    /// Progress or the reason of a failure; empty when there is nothing to say.
    public var message: String
    /// When the task may be removed; set when it ends.
    public var expiresAt: Timestamp?
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    public init(
        id: String, type: String, status: Status = .pending, owner: String, imageId: String? = nil,
        requestId: String? = nil, userId: String? = nil, input: JSONValue? = nil, result: JSONValue? = nil,
        message: String = "", expiresAt: Timestamp? = nil, createdAt: Timestamp, updatedAt: Timestamp
    ) {
        self.id = id
        self.type = type
        self.status = status
        self.owner = owner
        self.imageId = imageId
        self.requestId = requestId
        self.userId = userId
        self.input = input
        self.result = result
        self.message = message
        self.expiresAt = expiresAt
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    /// Whether the task has outlived its time to live at `now`.
    public func isExpired(at now: Timestamp) -> Bool {
        expiresAt.map { $0 <= now } ?? false
    }
}

/// The task attributes lists filter on (by equality) and sort by.
public enum TaskColumn: String, Sendable, CaseIterable {
    case id, type, status, owner
    case imageId = "image_id"
    case requestId = "request_id"
    case userId = "user_id"
    case expiresAt = "expires_at"
    case createdAt = "created_at"
    case updatedAt = "updated_at"

    /// The columns holding text (the others hold times).
    public var isText: Bool { ![.expiresAt, .createdAt, .updatedAt].contains(self) }

    /// The task's value in this column, as lists compare it: a missing text is `""`, a
    /// missing time 0 (as the SQL stores' `COALESCE`).
    public func sortValue(of task: ImageTask) -> SortValue {
        switch self {
        case .id: .text(task.id)
        case .type: .text(task.type)
        case .status: .text(task.status.rawValue)
        case .owner: .text(task.owner)
        case .imageId: .text(task.imageId ?? "")
        case .requestId: .text(task.requestId ?? "")
        case .userId: .text(task.userId ?? "")
        case .expiresAt: .number(task.expiresAt?.microseconds ?? 0)
        case .createdAt: .number(task.createdAt.microseconds)
        case .updatedAt: .number(task.updatedAt.microseconds)
        }
    }
}

/// One page of `GET /v2/tasks` as the store answers it.
public struct TaskListQuery: Sendable {
    /// Only this project's tasks; nil for every project's (an admin).
    public var owner: String?
    /// Text columns that must equal the value, all of them.
    public var equal: [(TaskColumn, String)] = []
    /// The order: these columns, all in one direction; ends in `created_at`, `id`.
    public var sort: [TaskColumn]
    public var ascending: Bool
    /// The page starts after this task, in sort order.
    public var marker: ImageTask?
    public var limit: Int
    /// Tasks expired at this time are left out.
    public var now: Timestamp

    public init(
        owner: String?, equal: [(TaskColumn, String)] = [], sortKey: TaskColumn = .createdAt, ascending: Bool = false,
        marker: ImageTask? = nil, limit: Int, now: Timestamp
    ) {
        self.owner = owner
        self.equal = equal
        self.sort = Self.completeSort(sortKey)
        self.ascending = ascending
        self.marker = marker
        self.limit = limit
        self.now = now
    }

    /// Glance's order for a sort key: the key, then `created_at` and `id` as tie-breakers
    /// (`id` and `created_at` alone sort by both).
    public static func completeSort(_ key: TaskColumn) -> [TaskColumn] {
        [.createdAt, .id].contains(key) ? [.createdAt, .id] : [key, .createdAt, .id]
    }

    /// Whether `task` belongs on the page: in scope, matching, not expired, after the marker.
    public func admits(_ task: ImageTask) -> Bool {
        if let owner, task.owner != owner { return false }
        if task.isExpired(at: now) { return false }
        for (column, value) in equal where column.sortValue(of: task) != .text(value) { return false }
        guard let marker else { return true }
        return precedes(marker, task)
    }

    /// Whether `a` comes before `b` in this query's order.
    public func precedes(_ a: ImageTask, _ b: ImageTask) -> Bool {
        for column in sort {
            let (x, y) = (column.sortValue(of: a), column.sortValue(of: b))
            if x != y { return ascending ? x < y : y < x }
        }
        return false
    }
}

/// Keeps tasks (part of every metadata store).
public protocol TaskStore: Sendable {
    /// Inserts a task. Throws `StoreError.duplicate` when the id exists.
    func insertTask(_ task: ImageTask) async throws
    /// Replaces a task's record; false when it is gone.
    func updateTask(_ task: ImageTask) async throws -> Bool
    /// The task with this id, expired or not.
    func task(id: String) async throws -> ImageTask?
    /// One page of tasks in the query's order.
    func listTasks(_ query: TaskListQuery) async throws -> [ImageTask]
    /// The tasks of an image not expired at `now`, oldest first.
    func tasks(imageId: String, now: Timestamp) async throws -> [ImageTask]
    /// Removes up to `limit` tasks expired at `now`; returns how many it removed.
    func deleteExpiredTasks(now: Timestamp, limit: Int) async throws -> Int
}
