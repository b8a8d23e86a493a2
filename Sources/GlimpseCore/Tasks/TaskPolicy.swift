/// Which tasks a caller sees: admins all, others their project's (the database layer's rule,
/// which matters when a policy file opens `tasks_api_access` to others).
public enum TaskPolicy {
    public static func isVisible(_ task: ImageTask, to p: Principal) -> Bool {
        p.isAdmin || task.owner == p.projectId
    }
}
