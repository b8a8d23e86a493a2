/// Glance's default task policy: the tasks API (`tasks_api_access`) is for admins; a task is
/// visible to admins and to the project that owns it (the database layer's rule, which
/// matters when the API is opened to others).
public enum TaskPolicy {
    /// `tasks_api_access`, checked before anything else on `/v2/tasks…`.
    public static func requireAPIAccess(_ p: Principal) throws(ServiceError) {
        guard p.isAdmin else { throw .policy("tasks_api_access") }
    }

    public static func isVisible(_ task: ImageTask, to p: Principal) -> Bool {
        p.isAdmin || task.owner == p.projectId
    }
}
