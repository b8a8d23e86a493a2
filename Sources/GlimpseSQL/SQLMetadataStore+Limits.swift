import GlimpseCore
import GlimpseIdentity

/// Keystone's unified limits in `registered_limits` and `project_limits`; a limit without a
/// region is stored with region '' (so that the uniqueness covers it).
extension SQLMetadataStore {
    static var registeredLimitColumns: String {
        "id, service_id, region_id, resource_name, default_limit, description"
    }

    static func registeredLimit(_ r: SQLRow) -> RegisteredLimit {
        RegisteredLimit(
            id: r.text(0) ?? "", serviceId: r.text(1) ?? "", regionId: region(r.text(2)),
            resourceName: r.text(3) ?? "", defaultLimit: Int(r.int(4) ?? 0), description: r.text(5))
    }

    static func region(_ stored: String?) -> String? { stored?.isEmpty == false ? stored : nil }

    public func registeredLimits(
        serviceId: String?, regionId: String?, resourceName: String?
    ) async throws
        -> [RegisteredLimit]
    {
        let (whereSQL, binds) = Self.filters([
            ("service_id", serviceId), ("region_id", regionId), ("resource_name", resourceName),
        ])
        return try await db.read { c in
            try await c.query(
                "SELECT \(Self.registeredLimitColumns) FROM registered_limits\(whereSQL) ORDER BY id", binds
            ).map(Self.registeredLimit)
        }
    }

    public func registeredLimit(id: String) async throws -> RegisteredLimit? {
        try await db.read { c in
            try await c.query(
                "SELECT \(Self.registeredLimitColumns) FROM registered_limits WHERE id = ?", [.text(id)]
            ).first.map(Self.registeredLimit)
        }
    }

    public func insertRegisteredLimits(_ limits: [RegisteredLimit]) async throws {
        try await db.withTransaction { c in
            for l in limits {
                try await c.run(
                    "INSERT INTO registered_limits (\(Self.registeredLimitColumns)) VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        .text(l.id), .text(l.serviceId), .text(l.regionId ?? ""), .text(l.resourceName),
                        .int(l.defaultLimit), .optional(l.description),
                    ])
            }
        }
    }

    public func updateRegisteredLimit(_ l: RegisteredLimit) async throws {
        try await db.withTransaction { c in
            try await c.run(
                "UPDATE registered_limits SET service_id = ?, region_id = ?, resource_name = ?, default_limit = ?, "
                    + "description = ? WHERE id = ?",
                [
                    .text(l.serviceId), .text(l.regionId ?? ""), .text(l.resourceName), .int(l.defaultLimit),
                    .optional(l.description), .text(l.id),
                ])
        }
    }

    public func deleteRegisteredLimit(id: String) async throws -> Bool {
        try await db.withTransaction { c in
            try await c.run("DELETE FROM registered_limits WHERE id = ?", [.text(id)]) == 1
        }
    }

    static var projectLimitColumns: String {
        "id, project_id, service_id, region_id, resource_name, resource_limit, description"
    }

    static func projectLimit(_ r: SQLRow) -> ProjectLimit {
        ProjectLimit(
            id: r.text(0) ?? "", projectId: r.text(1) ?? "", serviceId: r.text(2) ?? "", regionId: region(r.text(3)),
            resourceName: r.text(4) ?? "", resourceLimit: Int(r.int(5) ?? 0), description: r.text(6))
    }

    public func projectLimits(
        projectId: String?, serviceId: String?, regionId: String?, resourceName: String?
    )
        async throws -> [ProjectLimit]
    {
        let (whereSQL, binds) = Self.filters([
            ("project_id", projectId), ("service_id", serviceId), ("region_id", regionId),
            ("resource_name", resourceName),
        ])
        return try await db.read { c in
            try await c.query("SELECT \(Self.projectLimitColumns) FROM project_limits\(whereSQL) ORDER BY id", binds)
                .map(Self.projectLimit)
        }
    }

    public func projectLimit(id: String) async throws -> ProjectLimit? {
        try await db.read { c in
            try await c.query("SELECT \(Self.projectLimitColumns) FROM project_limits WHERE id = ?", [.text(id)])
                .first.map(Self.projectLimit)
        }
    }

    public func insertProjectLimits(_ limits: [ProjectLimit]) async throws {
        try await db.withTransaction { c in
            for l in limits {
                try await c.run(
                    "INSERT INTO project_limits (\(Self.projectLimitColumns)) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [
                        .text(l.id), .text(l.projectId), .text(l.serviceId), .text(l.regionId ?? ""),
                        .text(l.resourceName), .int(l.resourceLimit), .optional(l.description),
                    ])
            }
        }
    }

    public func updateProjectLimit(_ l: ProjectLimit) async throws {
        try await db.withTransaction { c in
            try await c.run(
                "UPDATE project_limits SET resource_limit = ?, description = ? WHERE id = ?",
                [.int(l.resourceLimit), .optional(l.description), .text(l.id)])
        }
    }

    public func deleteProjectLimit(id: String) async throws -> Bool {
        try await db.withTransaction { c in
            try await c.run("DELETE FROM project_limits WHERE id = ?", [.text(id)]) == 1
        }
    }
}
