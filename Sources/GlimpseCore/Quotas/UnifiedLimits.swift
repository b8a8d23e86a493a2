/// A default limit of a resource for every project, as Keystone's unified limits register
/// it (`/v3/registered_limits`).
public struct RegisteredLimit: Sendable, Hashable {
    public var id: String
    public var serviceId: String
    public var regionId: String?
    public var resourceName: String
    /// -1 means unlimited.
    public var defaultLimit: Int
    public var description: String?

    public init(
        id: String, serviceId: String, regionId: String?, resourceName: String, defaultLimit: Int,
        description: String? = nil
    ) {
        self.id = id
        self.serviceId = serviceId
        self.regionId = regionId
        self.resourceName = resourceName
        self.defaultLimit = defaultLimit
        self.description = description
    }
}

/// One project's own limit of a resource, overriding the registered default (`/v3/limits`).
public struct ProjectLimit: Sendable, Hashable {
    public var id: String
    public var projectId: String
    public var serviceId: String
    public var regionId: String?
    public var resourceName: String
    /// -1 means unlimited.
    public var resourceLimit: Int
    public var description: String?

    public init(
        id: String, projectId: String, serviceId: String, regionId: String?, resourceName: String,
        resourceLimit: Int, description: String? = nil
    ) {
        self.id = id
        self.projectId = projectId
        self.serviceId = serviceId
        self.regionId = regionId
        self.resourceName = resourceName
        self.resourceLimit = resourceLimit
        self.description = description
    }
}

/// Where the image service learns each project's limits: the built-in identity's tables or
/// the cloud's Keystone.
public protocol LimitsSource: Sendable {
    /// The limit of each resource that has one for `project`: the project's own limit, else
    /// the registered default. A resource without either is not limited.
    func limits(for project: String) async throws -> [String: Int]
}

public enum UnifiedLimits {
    /// The effective limits in `region`, as oslo.limit resolves them: a project limit wins
    /// over the registered default of the same resource, and a limit of the region over one
    /// for every region (no region); limits of other regions do not apply.
    public static func effective(
        registered: [RegisteredLimit], project: [ProjectLimit], region: String?
    ) -> [String: Int] {
        let rank = { (r: String?) -> Int? in r == nil ? 0 : r == region ? 1 : nil }
        var out: [String: (rank: Int, limit: Int)] = [:]
        func take(_ name: String, _ limit: Int, _ rank: Int, over floor: Int) {
            if let held = out[name], held.rank > rank + floor { return }
            out[name] = (rank + floor, limit)
        }
        for r in registered { if let k = rank(r.regionId) { take(r.resourceName, r.defaultLimit, k, over: 0) } }
        for p in project { if let k = rank(p.regionId) { take(p.resourceName, p.resourceLimit, k, over: 2) } }
        return out.mapValues(\.limit)
    }
}

/// No limits at all: every deployment without registered limits.
public struct NoLimits: LimitsSource {
    public init() {}
    public func limits(for project: String) async throws -> [String: Int] { [:] }
}
