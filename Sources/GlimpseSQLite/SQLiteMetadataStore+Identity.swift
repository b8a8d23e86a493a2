import GlimpseCore
import GlimpseIdentity
import GlimpseSQL
import OpenStackJSON

extension SQLiteMetadataStore: IdentityStore {
    typealias Row = SQLiteConnection.Row

    // MARK: Domains

    static func domain(_ r: Row) -> Domain {
        Domain(id: r.text(0) ?? "", name: r.text(1) ?? "", description: r.text(2) ?? "", enabled: r.int(3) == 1)
    }

    public func domains() async throws -> [Domain] {
        try db.read { try $0.query("SELECT id, name, description, enabled FROM domains ORDER BY name", [], Self.domain) }
    }

    public func domain(id: String) async throws -> Domain? {
        try db.read { try $0.query("SELECT id, name, description, enabled FROM domains WHERE id = ?", [.text(id)], Self.domain).first }
    }

    public func domain(name: String) async throws -> Domain? {
        try db.read { try $0.query("SELECT id, name, description, enabled FROM domains WHERE name = ?", [.text(name)], Self.domain).first }
    }

    public func insertDomain(_ d: Domain) async throws {
        try await db.write { c in
            try Self.duplicateAware {
                try c.run("INSERT INTO domains (id, name, description, enabled) VALUES (?, ?, ?, ?)",
                          [.text(d.id), .text(d.name), .text(d.description), .bool(d.enabled)])
            }
        }
    }

    // MARK: Projects

    static let projectColumns = "id, name, domain_id, description, enabled"

    static func project(_ r: Row) -> Project {
        Project(id: r.text(0) ?? "", name: r.text(1) ?? "", domainId: r.text(2) ?? "", description: r.text(3) ?? "",
                enabled: r.int(4) == 1)
    }

    /// `WHERE` clause and binds for optional equality filters.
    static func filters(_ pairs: [(String, String?)]) -> (String, [SQLValue]) {
        let present = pairs.compactMap { p in p.1.map { (p.0, $0) } }
        guard !present.isEmpty else { return ("", []) }
        return (" WHERE " + present.map { "\($0.0) = ?" }.joined(separator: " AND "), present.map { .text($0.1) })
    }

    public func projects(domainId: String?, name: String?) async throws -> [Project] {
        let (whereSQL, binds) = Self.filters([("domain_id", domainId), ("name", name)])
        return try db.read { try $0.query("SELECT \(Self.projectColumns) FROM projects\(whereSQL) ORDER BY name", binds, Self.project) }
    }

    public func project(id: String) async throws -> Project? {
        try db.read { try $0.query("SELECT \(Self.projectColumns) FROM projects WHERE id = ?", [.text(id)], Self.project).first }
    }

    public func project(name: String, domainId: String) async throws -> Project? {
        try db.read {
            try $0.query("SELECT \(Self.projectColumns) FROM projects WHERE name = ? AND domain_id = ?",
                         [.text(name), .text(domainId)], Self.project).first
        }
    }

    public func insertProject(_ p: Project) async throws {
        try await db.write { c in
            try Self.duplicateAware {
                try c.run("INSERT INTO projects (\(Self.projectColumns)) VALUES (?, ?, ?, ?, ?)",
                          [.text(p.id), .text(p.name), .text(p.domainId), .text(p.description), .bool(p.enabled)])
            }
        }
    }

    public func updateProject(_ p: Project) async throws {
        try await db.write { c in
            try Self.duplicateAware {
                try c.run("UPDATE projects SET name = ?, description = ?, enabled = ? WHERE id = ?",
                          [.text(p.name), .text(p.description), .bool(p.enabled), .text(p.id)])
            }
        }
    }

    public func deleteProject(id: String) async throws -> Bool {
        try await db.write { c in
            try c.run("DELETE FROM tokens WHERE project_id = ?", [.text(id)])
            return try c.run("DELETE FROM projects WHERE id = ?", [.text(id)]) == 1
        }
    }

    // MARK: Users

    static let userColumns = "id, name, domain_id, password_hash, enabled, default_project_id, email, description"

    static func user(_ r: Row) -> User {
        User(id: r.text(0) ?? "", name: r.text(1) ?? "", domainId: r.text(2) ?? "", passwordHash: r.text(3),
             enabled: r.int(4) == 1, defaultProjectId: r.text(5), email: r.text(6), description: r.text(7))
    }

    static func userValues(_ u: User) -> [SQLValue] {
        [.text(u.id), .text(u.name), .text(u.domainId), .optional(u.passwordHash), .bool(u.enabled),
         .optional(u.defaultProjectId), .optional(u.email), .optional(u.description)]
    }

    public func users(domainId: String?, name: String?) async throws -> [User] {
        let (whereSQL, binds) = Self.filters([("domain_id", domainId), ("name", name)])
        return try db.read { try $0.query("SELECT \(Self.userColumns) FROM users\(whereSQL) ORDER BY name", binds, Self.user) }
    }

    public func user(id: String) async throws -> User? {
        try db.read { try $0.query("SELECT \(Self.userColumns) FROM users WHERE id = ?", [.text(id)], Self.user).first }
    }

    public func user(name: String, domainId: String) async throws -> User? {
        try db.read {
            try $0.query("SELECT \(Self.userColumns) FROM users WHERE name = ? AND domain_id = ?",
                         [.text(name), .text(domainId)], Self.user).first
        }
    }

    public func insertUser(_ u: User) async throws {
        try await db.write { c in
            try Self.duplicateAware {
                try c.run("INSERT INTO users (\(Self.userColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", Self.userValues(u))
            }
        }
    }

    public func updateUser(_ u: User) async throws {
        try await db.write { c in
            try Self.duplicateAware {
                try c.run("UPDATE users SET name = ?, password_hash = ?, enabled = ?, default_project_id = ?, email = ?, description = ? WHERE id = ?",
                          [.text(u.name), .optional(u.passwordHash), .bool(u.enabled), .optional(u.defaultProjectId),
                           .optional(u.email), .optional(u.description), .text(u.id)])
            }
        }
    }

    public func deleteUser(id: String) async throws -> Bool {
        try await db.write { c in
            try c.run("DELETE FROM tokens WHERE user_id = ?", [.text(id)])
            return try c.run("DELETE FROM users WHERE id = ?", [.text(id)]) == 1
        }
    }

    // MARK: Roles

    static func role(_ r: Row) -> Role { Role(id: r.text(0) ?? "", name: r.text(1) ?? "", description: r.text(2)) }

    public func roles() async throws -> [Role] {
        try db.read { try $0.query("SELECT id, name, description FROM roles ORDER BY name", [], Self.role) }
    }

    public func role(id: String) async throws -> Role? {
        try db.read { try $0.query("SELECT id, name, description FROM roles WHERE id = ?", [.text(id)], Self.role).first }
    }

    public func role(name: String) async throws -> Role? {
        try db.read { try $0.query("SELECT id, name, description FROM roles WHERE name = ?", [.text(name)], Self.role).first }
    }

    public func insertRole(_ r: Role) async throws {
        try await db.write { c in
            try Self.duplicateAware {
                try c.run("INSERT INTO roles (id, name, description) VALUES (?, ?, ?)", [.text(r.id), .text(r.name), .optional(r.description)])
            }
        }
    }

    public func deleteRole(id: String) async throws -> Bool {
        try await db.write { c in try c.run("DELETE FROM roles WHERE id = ?", [.text(id)]) == 1 }
    }

    // MARK: Assignments

    public func grant(_ a: RoleAssignment) async throws {
        try await db.write { c in
            try c.run("INSERT OR IGNORE INTO role_assignments (user_id, project_id, role_id) VALUES (?, ?, ?)",
                      [.text(a.userId), .text(a.projectId), .text(a.roleId)])
        }
    }

    public func revoke(_ a: RoleAssignment) async throws -> Bool {
        try await db.write { c in
            try c.run("DELETE FROM role_assignments WHERE user_id = ? AND project_id = ? AND role_id = ?",
                      [.text(a.userId), .text(a.projectId), .text(a.roleId)]) == 1
        }
    }

    public func assignments(userId: String?, projectId: String?, roleId: String?) async throws -> [RoleAssignment] {
        let (whereSQL, binds) = Self.filters([("user_id", userId), ("project_id", projectId), ("role_id", roleId)])
        return try db.read {
            try $0.query("SELECT user_id, project_id, role_id FROM role_assignments\(whereSQL)", binds) { r in
                RoleAssignment(userId: r.text(0) ?? "", projectId: r.text(1) ?? "", roleId: r.text(2) ?? "")
            }
        }
    }

    // MARK: Tokens

    static func stringArray(_ json: String?) -> [String] {
        guard let json, case .array(let a)? = try? JSONValue.parse(json) else { return [] }
        return a.compactMap(\.stringValue)
    }

    static func json(_ strings: [String]) -> SQLValue { .text(JSONValue.array(strings.map { .string($0) }).jsonString) }

    public func insertToken(_ t: TokenRecord) async throws {
        try await db.write { c in
            try c.run("INSERT INTO tokens (hash, user_id, project_id, role_ids, methods, issued_at, expires_at, audit_ids) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                      [.text(t.hash), .text(t.userId), .optional(t.projectId), Self.json(t.roleIds), Self.json(t.methods),
                       .int(t.issuedAt.microseconds), .int(t.expiresAt.microseconds), Self.json(t.auditIds)])
        }
    }

    public func token(hash: String) async throws -> TokenRecord? {
        try db.read {
            try $0.query("SELECT hash, user_id, project_id, role_ids, methods, issued_at, expires_at, audit_ids FROM tokens WHERE hash = ?",
                         [.text(hash)]) { r in
                TokenRecord(hash: r.text(0) ?? "", userId: r.text(1) ?? "", projectId: r.text(2),
                            roleIds: Self.stringArray(r.text(3)), methods: Self.stringArray(r.text(4)),
                            issuedAt: Timestamp(microseconds: r.int(5) ?? 0), expiresAt: Timestamp(microseconds: r.int(6) ?? 0),
                            auditIds: Self.stringArray(r.text(7)))
            }.first
        }
    }

    public func deleteToken(hash: String) async throws {
        try await db.write { c in try c.run("DELETE FROM tokens WHERE hash = ?", [.text(hash)]) }
    }

    public func deleteTokens(userId: String?, projectId: String?) async throws {
        let (whereSQL, binds) = Self.filters([("user_id", userId), ("project_id", projectId)])
        guard !binds.isEmpty else { return }
        try await db.write { c in try c.run("DELETE FROM tokens\(whereSQL)", binds) }
    }

    public func deleteTokens(expiredBefore: Timestamp) async throws -> Int {
        try await db.write { c in try c.run("DELETE FROM tokens WHERE expires_at < ?", [.int(expiredBefore.microseconds)]) }
    }
}
