import GlimpseCore

/// Keystone's unified limits (`/v3/registered_limits`, `/v3/limits`), with its default
/// policy: anyone reads the registered limits; a project's members read its limits; admins
/// write both. The enforcement model is `flat`.
extension KeystoneService {
    /// The services and regions of the catalog, which limits must refer to.
    public struct LimitTargets: Sendable {
        public var serviceIds: Set<String>
        public var regionIds: Set<String>

        public init(serviceIds: Set<String>, regionIds: Set<String>) {
            self.serviceIds = serviceIds
            self.regionIds = regionIds
        }
    }

    /// Keystone's 400 for a reference to something that does not exist.
    static func missing(_ attribute: String, in target: String) -> ServiceError {
        .badRequest(
            "Expecting to find \(attribute) in \(target). The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error."
        )
    }

    static func registeredLimitNotFound(_ id: String) -> ServiceError {
        .notFound("Could not find registered limit for \(id).")
    }

    static func limitNotFound(_ id: String) -> ServiceError { .notFound("Could not find limit for \(id).") }

    static func duplicateLimit(_ kind: String) -> ServiceError {
        .conflict("Conflict occurred attempting to store \(kind) - Duplicate entry.")
    }

    func check(serviceId: String, regionId: String?, in targets: LimitTargets, _ kind: String) throws(ServiceError) {
        guard targets.serviceIds.contains(serviceId) else { throw Self.missing("service_id", in: kind) }
        if let regionId, !targets.regionIds.contains(regionId) { throw Self.missing("region_id", in: kind) }
    }

    // MARK: Registered limits

    public func registeredLimits(
        serviceId: String?, regionId: String?, resourceName: String?
    ) async throws
        -> [RegisteredLimit]
    {
        try await store.registeredLimits(serviceId: serviceId, regionId: regionId, resourceName: resourceName)
    }

    public func registeredLimit(_ id: String) async throws -> RegisteredLimit {
        guard let limit = try await store.registeredLimit(id: id) else { throw Self.registeredLimitNotFound(id) }
        return limit
    }

    /// Creates all of them or none (`POST /v3/registered_limits`); their ids are assigned here.
    public func createRegisteredLimits(
        _ limits: [RegisteredLimit], in targets: LimitTargets, by p: Principal
    ) async throws -> [RegisteredLimit] {
        try requireAdmin(p, "create_registered_limits")
        var created: [RegisteredLimit] = []
        for var limit in limits {
            try check(serviceId: limit.serviceId, regionId: limit.regionId, in: targets, "registered_limit")
            limit.id = Identifiers.hexId()
            created.append(limit)
        }
        do {
            try await store.insertRegisteredLimits(created)
            limitsChanged()
        } catch StoreError.duplicate {
            throw Self.duplicateLimit("registered_limit")
        }
        return created
    }

    /// `PATCH /v3/registered_limits/{id}`: refused while projects have limits of it, as in Keystone.
    public func updateRegisteredLimit(
        _ id: String, in targets: LimitTargets, by p: Principal, _ change: (inout RegisteredLimit) -> Void
    ) async throws -> RegisteredLimit {
        try requireAdmin(p, "update_registered_limit")
        let current = try await registeredLimit(id)
        var limit = current
        change(&limit)
        limit.id = id
        try check(serviceId: limit.serviceId, regionId: limit.regionId, in: targets, "registered_limit")
        let keyChanged =
            (limit.serviceId, limit.regionId, limit.resourceName)
            != (current.serviceId, current.regionId, current.resourceName)
        if keyChanged, try await hasProjectLimits(current) { throw Self.registeredLimitInUse(id) }
        do {
            try await store.updateRegisteredLimit(limit)
            limitsChanged()
        } catch StoreError.duplicate {
            throw Self.duplicateLimit("registered_limit")
        }
        return limit
    }

    public func deleteRegisteredLimit(_ id: String, by p: Principal) async throws {
        try requireAdmin(p, "delete_registered_limit")
        let current = try await registeredLimit(id)
        if try await hasProjectLimits(current) { throw Self.registeredLimitInUse(id) }
        guard try await store.deleteRegisteredLimit(id: id) else { throw Self.registeredLimitNotFound(id) }
        limitsChanged()
    }

    static func registeredLimitInUse(_ id: String) -> ServiceError {
        .forbidden(
            "Unable to update or delete registered limit \(id) because there are project limits associated with it.")
    }

    func hasProjectLimits(_ r: RegisteredLimit) async throws -> Bool {
        try await !store.projectLimits(
            projectId: nil, serviceId: r.serviceId, regionId: r.regionId, resourceName: r.resourceName
        ).filter { $0.regionId == r.regionId }.isEmpty
    }

    // MARK: Project limits

    /// `GET /v3/limits`: an admin's lists every project's; anyone else's only its own project's.
    public func projectLimits(
        projectId: String?, serviceId: String?, regionId: String?, resourceName: String?, by p: Principal
    ) async throws -> [ProjectLimit] {
        var project = projectId
        if !p.isAdmin {
            guard let own = p.projectId, project == nil || project == own else { return [] }
            project = own
        }
        return try await store.projectLimits(
            projectId: project, serviceId: serviceId, regionId: regionId, resourceName: resourceName)
    }

    public func projectLimit(_ id: String, by p: Principal) async throws -> ProjectLimit {
        guard let limit = try await store.projectLimit(id: id) else { throw Self.limitNotFound(id) }
        guard p.isAdmin || p.projectId == limit.projectId else { throw Self.denied("get_limit") }
        return limit
    }

    /// Creates all of them or none (`POST /v3/limits`). Each needs a registered limit of its
    /// service, region and resource (403 otherwise, as in Keystone).
    public func createProjectLimits(
        _ limits: [ProjectLimit], in targets: LimitTargets, by p: Principal
    ) async throws -> [ProjectLimit] {
        try requireAdmin(p, "create_limits")
        var created: [ProjectLimit] = []
        for var limit in limits {
            try check(serviceId: limit.serviceId, regionId: limit.regionId, in: targets, "limit")
            guard try await store.project(id: limit.projectId) != nil else {
                throw Self.missing("project_id", in: "limit")
            }
            let registered = try await store.registeredLimits(
                serviceId: limit.serviceId, regionId: limit.regionId, resourceName: limit.resourceName)
            guard registered.contains(where: { $0.regionId == limit.regionId }) else {
                throw ServiceError.forbidden("Unable to create a limit that has no corresponding registered limit.")
            }
            limit.id = Identifiers.hexId()
            created.append(limit)
        }
        do {
            try await store.insertProjectLimits(created)
            limitsChanged()
        } catch StoreError.duplicate {
            throw Self.duplicateLimit("project_limit")
        }
        return created
    }

    /// `PATCH /v3/limits/{id}`: only the limit and its description change.
    public func updateProjectLimit(
        _ id: String, resourceLimit: Int?, description: String??, by p: Principal
    ) async throws -> ProjectLimit {
        try requireAdmin(p, "update_limit")
        guard var limit = try await store.projectLimit(id: id) else { throw Self.limitNotFound(id) }
        if let resourceLimit { limit.resourceLimit = resourceLimit }
        if let description { limit.description = description }
        try await store.updateProjectLimit(limit)
        limitsChanged()
        return limit
    }

    public func deleteProjectLimit(_ id: String, by p: Principal) async throws {
        try requireAdmin(p, "delete_limit")
        guard try await store.deleteProjectLimit(id: id) else { throw Self.limitNotFound(id) }
        limitsChanged()
    }
}
