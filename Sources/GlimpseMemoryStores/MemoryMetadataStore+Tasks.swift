import GlimpseCore
import OpenStackEncoding
import Synchronization

extension MemoryMetadataStore: TaskStore {
    public func insertTask(_ task: ImageTask) async throws {
        try state.withLock { s in
            guard s.tasks[task.id] == nil else { throw StoreError.duplicate }
            s.tasks[task.id] = task
        }
    }

    public func updateTask(_ task: ImageTask) async throws -> Bool {
        state.withLock { s in
            guard s.tasks[task.id] != nil else { return false }
            s.tasks[task.id] = task
            return true
        }
    }

    public func task(id: String) async throws -> ImageTask? {
        state.withLock { $0.tasks[id] }
    }

    public func listTasks(_ query: TaskListQuery) async throws -> [ImageTask] {
        let matching = state.withLock { $0.tasks.values.filter(query.admits) }
        return Array(matching.sorted(by: query.precedes).prefix(query.limit))
    }

    public func tasks(imageId: String, now: Timestamp) async throws -> [ImageTask] {
        let query = TaskListQuery(owner: nil, ascending: true, limit: .max, now: now)
        let tasks = state.withLock { $0.tasks.values.filter { $0.imageId == imageId && !$0.isExpired(at: now) } }
        return tasks.sorted(by: query.precedes)
    }

    public func deleteExpiredTasks(now: Timestamp, limit: Int) async throws -> Int {
        state.withLock { s in
            let expired = s.tasks.values.filter { $0.isExpired(at: now) }.prefix(limit)
            for task in expired { s.tasks[task.id] = nil }
            return expired.count
        }
    }
}
