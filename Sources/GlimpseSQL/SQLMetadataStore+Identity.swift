import GlimpseCore
import GlimpseIdentity
import OpenStackEncoding
import OpenStackJSON

extension SQLMetadataStore: IdentityStore {
    /// ` WHERE a = ? AND b = ?` and its binds, for the filters that are set.
    static func filters(_ pairs: [(String, String?)]) -> (String, [SQLValue]) {
        let present = pairs.compactMap { p in p.1.map { (p.0, $0) } }
        guard !present.isEmpty else { return ("", []) }
        return (" WHERE " + present.map { "\($0.0) = ?" }.joined(separator: " AND "), present.map { .text($0.1) })
    }

    // MARK: Domains

    static var domainColumns: String { "id, name, description, enabled" }

    static func domain(_ r: SQLRow) -> Domain {
        Domain(id: r.text(0) ?? "", name: r.text(1) ?? "", description: r.text(2) ?? "", enabled: r.bool(3))
    }

    public func domains() async throws -> [Domain] {
        try await db.read { c in
            try await c.query("SELECT \(Self.domainColumns) FROM domains ORDER BY name").map(Self.domain)
        }
    }

    public func domain(id: String) async throws -> Domain? {
        try await db.read { c in
            try await c.query("SELECT \(Self.domainColumns) FROM domains WHERE id = ?", [.text(id)]).first.map(
                Self.domain)
        }
    }

    public func domain(name: String) async throws -> Domain? {
        try await db.read { c in
            try await c.query("SELECT \(Self.domainColumns) FROM domains WHERE name = ?", [.text(name)]).first.map(
                Self.domain)
        }
    }

    public func insertDomain(_ d: Domain) async throws {
        try await db.withTransaction { c in
            try await c.run(
                "INSERT INTO domains (\(Self.domainColumns)) VALUES (?, ?, ?, ?)",
                [.text(d.id), .text(d.name), .text(d.description), .bool(d.enabled)])
        }
    }

    // MARK: Projects

    static var projectColumns: String { "id, name, domain_id, description, enabled" }

    static func project(_ r: SQLRow) -> Project {
        Project(
            id: r.text(0) ?? "", name: r.text(1) ?? "", domainId: r.text(2) ?? "", description: r.text(3) ?? "",
            enabled: r.bool(4))
    }

    public func projects(domainId: String?, name: String?) async throws -> [Project] {
        let (whereSQL, binds) = Self.filters([("domain_id", domainId), ("name", name)])
        return try await db.read { c in
            try await c.query("SELECT \(Self.projectColumns) FROM projects\(whereSQL) ORDER BY name", binds).map(
                Self.project)
        }
    }

    public func project(id: String) async throws -> Project? {
        try await db.read { c in
            try await c.query("SELECT \(Self.projectColumns) FROM projects WHERE id = ?", [.text(id)]).first.map(
                Self.project)
        }
    }

    public func project(name: String, domainId: String) async throws -> Project? {
        try await db.read { c in
            try await c.query(
                "SELECT \(Self.projectColumns) FROM projects WHERE name = ? AND domain_id = ?",
                [.text(name), .text(domainId)]
            ).first.map(Self.project)
        }
    }

    public func insertProject(_ p: Project) async throws {
        try await db.withTransaction { c in
            try await c.run(
                "INSERT INTO projects (\(Self.projectColumns)) VALUES (?, ?, ?, ?, ?)",
                [.text(p.id), .text(p.name), .text(p.domainId), .text(p.description), .bool(p.enabled)])
        }
    }

    public func updateProject(_ p: Project) async throws {
        try await db.withTransaction { c in
            try await c.run(
                "UPDATE projects SET name = ?, description = ?, enabled = ? WHERE id = ?",
                [.text(p.name), .text(p.description), .bool(p.enabled), .text(p.id)])
        }
    }

    public func deleteProject(id: String) async throws -> Bool {
        try await db.withTransaction { c in
            try await c.run("DELETE FROM tokens WHERE project_id = ?", [.text(id)])
            try await c.run("DELETE FROM role_assignments WHERE project_id = ?", [.text(id)])
            try await c.run("DELETE FROM project_limits WHERE project_id = ?", [.text(id)])
            return try await c.run("DELETE FROM projects WHERE id = ?", [.text(id)]) == 1
        }
    }

    // MARK: Users

    static var userColumns: String {
        "id, name, domain_id, password_hash, enabled, default_project_id, email, description"
    }

    static func user(_ r: SQLRow) -> User {
        User(
            id: r.text(0) ?? "", name: r.text(1) ?? "", domainId: r.text(2) ?? "", passwordHash: r.text(3),
            enabled: r.bool(4), defaultProjectId: r.text(5), email: r.text(6), description: r.text(7))
    }

    public func users(domainId: String?, name: String?) async throws -> [User] {
        let (whereSQL, binds) = Self.filters([("domain_id", domainId), ("name", name)])
        return try await db.read { c in
            try await c.query("SELECT \(Self.userColumns) FROM users\(whereSQL) ORDER BY name", binds).map(Self.user)
        }
    }

    public func user(id: String) async throws -> User? {
        try await db.read { c in
            try await c.query("SELECT \(Self.userColumns) FROM users WHERE id = ?", [.text(id)]).first.map(Self.user)
        }
    }

    public func user(name: String, domainId: String) async throws -> User? {
        try await db.read { c in
            try await c.query(
                "SELECT \(Self.userColumns) FROM users WHERE name = ? AND domain_id = ?",
                [.text(name), .text(domainId)]
            ).first.map(Self.user)
        }
    }

    public func insertUser(_ u: User) async throws {
        try await db.withTransaction { c in
            try await c.run(
                "INSERT INTO users (\(Self.userColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    .text(u.id), .text(u.name), .text(u.domainId), .optional(u.passwordHash), .bool(u.enabled),
                    .optional(u.defaultProjectId), .optional(u.email), .optional(u.description),
                ])
        }
    }

    public func updateUser(_ u: User) async throws {
        try await db.withTransaction { c in
            try await c.run(
                "UPDATE users SET name = ?, password_hash = ?, enabled = ?, default_project_id = ?, email = ?, "
                    + "description = ? WHERE id = ?",
                [
                    .text(u.name), .optional(u.passwordHash), .bool(u.enabled), .optional(u.defaultProjectId),
                    .optional(u.email), .optional(u.description), .text(u.id),
                ])
        }
    }

    public func deleteUser(id: String) async throws -> Bool {
        try await db.withTransaction { c in
            try await c.run("DELETE FROM tokens WHERE user_id = ?", [.text(id)])
            try await c.run("DELETE FROM role_assignments WHERE user_id = ?", [.text(id)])
            try await c.run("DELETE FROM system_role_assignments WHERE user_id = ?", [.text(id)])
            return try await c.run("DELETE FROM users WHERE id = ?", [.text(id)]) == 1
        }
    }

    // MARK: Roles

    static func role(_ r: SQLRow) -> Role { Role(id: r.text(0) ?? "", name: r.text(1) ?? "", description: r.text(2)) }

    public func roles() async throws -> [Role] {
        try await db.read { c in
            try await c.query("SELECT id, name, description FROM roles ORDER BY name").map(Self.role)
        }
    }

    public func role(id: String) async throws -> Role? {
        try await db.read { c in
            try await c.query("SELECT id, name, description FROM roles WHERE id = ?", [.text(id)]).first.map(Self.role)
        }
    }

    public func role(name: String) async throws -> Role? {
        try await db.read { c in
            try await c.query("SELECT id, name, description FROM roles WHERE name = ?", [.text(name)]).first.map(
                Self.role)
        }
    }

    public func insertRole(_ r: Role) async throws {
        try await db.withTransaction { c in
            try await c.run(
                "INSERT INTO roles (id, name, description) VALUES (?, ?, ?)",
                [.text(r.id), .text(r.name), .optional(r.description)])
        }
    }

    public func deleteRole(id: String) async throws -> Bool {
        try await db.withTransaction { c in
            try await c.run("DELETE FROM role_assignments WHERE role_id = ?", [.text(id)])
            try await c.run("DELETE FROM system_role_assignments WHERE role_id = ?", [.text(id)])
            return try await c.run("DELETE FROM roles WHERE id = ?", [.text(id)]) == 1
        }
    }

    // MARK: Assignments

    public func grant(_ a: RoleAssignment) async throws {
        try await db.withTransaction { c in
            try await c.run(
                "INSERT INTO role_assignments (user_id, project_id, role_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                [.text(a.userId), .text(a.projectId), .text(a.roleId)])
        }
    }

    public func revoke(_ a: RoleAssignment) async throws -> Bool {
        try await db.withTransaction { c in
            try await c.run(
                "DELETE FROM role_assignments WHERE user_id = ? AND project_id = ? AND role_id = ?",
                [.text(a.userId), .text(a.projectId), .text(a.roleId)]) == 1
        }
    }

    public func assignments(userId: String?, projectId: String?, roleId: String?) async throws -> [RoleAssignment] {
        let (whereSQL, binds) = Self.filters([("user_id", userId), ("project_id", projectId), ("role_id", roleId)])
        return try await db.read { c in
            try await c.query(
                "SELECT user_id, project_id, role_id FROM role_assignments\(whereSQL) ORDER BY user_id, project_id, role_id",
                binds
            ).map { r in
                RoleAssignment(userId: r.text(0) ?? "", projectId: r.text(1) ?? "", roleId: r.text(2) ?? "")
            }
        }
    }

    public func systemAssignments(userId: String?, roleId: String?) async throws -> [SystemRoleAssignment] {
        let (whereSQL, binds) = Self.filters([("user_id", userId), ("role_id", roleId)])
        return try await db.read { c in
            try await c.query(
                "SELECT user_id, role_id FROM system_role_assignments\(whereSQL) ORDER BY user_id, role_id", binds
            ).map { r in SystemRoleAssignment(userId: r.text(0) ?? "", roleId: r.text(1) ?? "") }
        }
    }

    public func grantSystemRole(userId: String, roleId: String) async throws {
        try await db.withTransaction { c in
            try await c.run(
                "INSERT INTO system_role_assignments (user_id, role_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
                [.text(userId), .text(roleId)])
        }
    }

    public func revokeSystemRole(userId: String, roleId: String) async throws -> Bool {
        try await db.withTransaction { c in
            try await c.run(
                "DELETE FROM system_role_assignments WHERE user_id = ? AND role_id = ?", [.text(userId), .text(roleId)])
                == 1
        }
    }

    // MARK: Tokens

    static func stringArray(_ json: String?) -> [String] {
        guard let json, case .array(let a)? = try? JSONValue.parse(json) else { return [] }
        return a.compactMap(\.stringValue)
    }

    static func json(_ strings: [String]) -> SQLValue { .text(JSONValue.array(strings.map { .string($0) }).jsonString) }

    public func insertToken(_ t: TokenRecord) async throws {
        try await db.withTransaction { c in
            try await c.run(
                "INSERT INTO tokens (hash, user_id, project_id, system, role_ids, methods, issued_at, expires_at, "
                    + "audit_ids) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    .text(t.hash), .text(t.userId), .optional(t.projectId), .bool(t.system), Self.json(t.roleIds),
                    Self.json(t.methods),
                    .int(t.issuedAt.microseconds), .int(t.expiresAt.microseconds), Self.json(t.auditIds),
                ])
        }
    }

    public func token(hash: String) async throws -> TokenRecord? {
        try await db.read { c in
            try await c.query(
                "SELECT hash, user_id, project_id, system, role_ids, methods, issued_at, expires_at, audit_ids "
                    + "FROM tokens WHERE hash = ?",
                [.text(hash)]
            ).first.map { r in
                TokenRecord(
                    hash: r.text(0) ?? "", userId: r.text(1) ?? "", projectId: r.text(2), system: r.bool(3),
                    roleIds: Self.stringArray(r.text(4)), methods: Self.stringArray(r.text(5)),
                    issuedAt: Timestamp(microseconds: r.int(6) ?? 0),
                    expiresAt: Timestamp(microseconds: r.int(7) ?? 0), auditIds: Self.stringArray(r.text(8)))
            }
        }
    }

    public func deleteToken(hash: String) async throws {
        try await db.withTransaction { c in try await c.run("DELETE FROM tokens WHERE hash = ?", [.text(hash)]) }
    }

    public func deleteTokens(userId: String?, projectId: String?) async throws {
        let (whereSQL, binds) = Self.filters([("user_id", userId), ("project_id", projectId)])
        guard !binds.isEmpty else { return }
        try await db.withTransaction { c in try await c.run("DELETE FROM tokens\(whereSQL)", binds) }
    }

    public func deleteTokens(expiredBefore: Timestamp) async throws -> Int {
        try await db.withTransaction { c in
            try await c.run("DELETE FROM tokens WHERE expires_at < ?", [.int(expiredBefore.microseconds)])
        }
    }
}
