import GlimpseCore
import GlimpseIdentity
import Synchronization

/// Keystone's unified limits, kept as the SQL stores keep them.
extension MemoryMetadataStore {
    static func matches(_ value: String?, _ filter: String?) -> Bool { filter == nil || value == filter }

    static func sameKey(_ a: RegisteredLimit, _ b: RegisteredLimit) -> Bool {
        a.serviceId == b.serviceId && a.regionId == b.regionId && a.resourceName == b.resourceName
    }

    static func sameKey(_ a: ProjectLimit, _ b: ProjectLimit) -> Bool {
        a.projectId == b.projectId && a.serviceId == b.serviceId && a.regionId == b.regionId
            && a.resourceName == b.resourceName
    }

    public func registeredLimits(
        serviceId: String?, regionId: String?, resourceName: String?
    ) async throws
        -> [RegisteredLimit]
    {
        state.withLock { s in
            s.registeredLimits.values.filter {
                Self.matches($0.serviceId, serviceId) && Self.matches($0.regionId, regionId)
                    && Self.matches($0.resourceName, resourceName)
            }.sorted { $0.id < $1.id }
        }
    }

    public func registeredLimit(id: String) async throws -> RegisteredLimit? {
        state.withLock { $0.registeredLimits[id] }
    }

    public func insertRegisteredLimits(_ limits: [RegisteredLimit]) async throws {
        try state.withLock { s in
            var all = Array(s.registeredLimits.values)
            for l in limits {
                if s.registeredLimits[l.id] != nil || all.contains(where: { Self.sameKey($0, l) }) {
                    throw StoreError.duplicate
                }
                all.append(l)
            }
            for l in limits { s.registeredLimits[l.id] = l }
        }
    }

    public func updateRegisteredLimit(_ limit: RegisteredLimit) async throws {
        try state.withLock { s in
            guard s.registeredLimits[limit.id] != nil else { return }
            if s.registeredLimits.values.contains(where: { $0.id != limit.id && Self.sameKey($0, limit) }) {
                throw StoreError.duplicate
            }
            s.registeredLimits[limit.id] = limit
        }
    }

    public func deleteRegisteredLimit(id: String) async throws -> Bool {
        state.withLock { $0.registeredLimits.removeValue(forKey: id) != nil }
    }

    public func projectLimits(
        projectId: String?, serviceId: String?, regionId: String?, resourceName: String?
    )
        async throws -> [ProjectLimit]
    {
        state.withLock { s in
            s.projectLimits.values.filter {
                Self.matches($0.projectId, projectId) && Self.matches($0.serviceId, serviceId)
                    && Self.matches($0.regionId, regionId) && Self.matches($0.resourceName, resourceName)
            }.sorted { $0.id < $1.id }
        }
    }

    public func projectLimit(id: String) async throws -> ProjectLimit? { state.withLock { $0.projectLimits[id] } }

    public func insertProjectLimits(_ limits: [ProjectLimit]) async throws {
        try state.withLock { s in
            var all = Array(s.projectLimits.values)
            for l in limits {
                if s.projectLimits[l.id] != nil || all.contains(where: { Self.sameKey($0, l) }) {
                    throw StoreError.duplicate
                }
                all.append(l)
            }
            for l in limits { s.projectLimits[l.id] = l }
        }
    }

    public func updateProjectLimit(_ limit: ProjectLimit) async throws {
        state.withLock { s in
            if s.projectLimits[limit.id] != nil { s.projectLimits[limit.id] = limit }
        }
    }

    public func deleteProjectLimit(id: String) async throws -> Bool {
        state.withLock { $0.projectLimits.removeValue(forKey: id) != nil }
    }
}
