import OpenStackEncoding

/// One page of `GET /v2/tasks`.
public struct TaskPage: Sendable {
    public var tasks: [ImageTask]
    /// Whether tasks follow this page.
    public var hasMore: Bool
}

/// The tasks API: `GET /v2/tasks`, `GET /v2/tasks/{id}` (admins, by Glance's default
/// `tasks_api_access`) and `GET /v2/images/{id}/tasks` (whoever may see the image, API 2.12);
/// and the removal of tasks past their time to live.
extension ImageService {
    /// `GET /v2/tasks`: the caller's project's tasks (an admin's: every project's), newest
    /// first unless asked otherwise; expired tasks are left out.
    public func listTasks(_ query: [(String, String)], by p: Principal) async throws -> TaskPage {
        try policy.enforce(.tasksAPIAccess, p, .project(p.projectId))
        try policy.enforce(.getTasks, p, .project(p.projectId))
        let request = try TaskListRequest(query: query)
        let limit = min(request.limit ?? config.defaultPageSize, config.maxPageSize)
        let now = clock.now()
        var marker: ImageTask?
        if let id = request.marker {
            guard let found = try await store.task(id: id), !found.isExpired(at: now) else {
                throw ServiceError.badRequest(Self.taskNotFound(id))
            }
            guard TaskPolicy.isVisible(found, to: p) else { throw ServiceError.forbidden(Self.taskHidden(id)) }
            marker = found
        }
        guard let sortKey = request.sortColumn else {
            throw ServiceError.badRequest("Sort key supplied was not valid.")
        }
        if limit == 0 { return TaskPage(tasks: [], hasMore: false) }
        let query = TaskListQuery(
            owner: p.isAdmin ? nil : p.projectId ?? "", equal: request.equal, sortKey: sortKey,
            ascending: request.ascending, marker: marker, limit: limit + 1, now: now)
        var tasks = try await store.listTasks(query)
        let hasMore = tasks.count > limit
        if hasMore { tasks.removeLast(tasks.count - limit) }
        return TaskPage(tasks: tasks, hasMore: hasMore)
    }

    /// `GET /v2/tasks/{id}`.
    public func task(_ id: String, by p: Principal) async throws -> ImageTask {
        try policy.enforce(.tasksAPIAccess, p, .project(p.projectId))
        guard let task = try await store.task(id: id), !task.isExpired(at: clock.now()) else {
            throw ServiceError.notFound(Self.taskNotFound(id))
        }
        guard TaskPolicy.isVisible(task, to: p) else { throw ServiceError.forbidden(Self.taskHidden(id)) }
        try policy.enforce(.getTask, p, .project(task.owner))
        return task
    }

    /// `GET /v2/images/{id}/tasks`: the image's tasks the caller may see (its project's; an
    /// admin's: all), oldest first. An image the caller cannot see is a bare 404, as in Glance.
    public func tasks(ofImage id: String, by p: Principal) async throws -> [ImageTask] {
        try ImagePolicy.requireReader(p, "get_image")
        let image = try await visibleImage(id, p, orElse: .notFound())
        return try await store.tasks(imageId: image.id, now: clock.now()).filter { TaskPolicy.isVisible($0, to: p) }
    }

    /// Removes the tasks whose time to live has passed. Returns how many.
    @discardableResult
    public func purgeExpiredTasks() async throws -> Int {
        var total = 0
        while true {
            let removed = try await store.deleteExpiredTasks(now: clock.now(), limit: 500)
            total += removed
            if removed < 500 { return total }
        }
    }

    static func taskNotFound(_ id: String) -> String { "Task with the given id \(id) was not found" }
    static func taskHidden(_ id: String) -> String { "Forbidding request, task \(id) is not visible" }
}
