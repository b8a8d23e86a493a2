import GlimpseCore

/// The Keystone v3 administration subset: domains, projects, users, roles and role
/// assignments, with Keystone's default policy (admins manage; users read themselves and
/// their own project).
extension KeystoneService {
    static func denied(_ action: String) -> ServiceError {
        .forbidden("You are not authorized to perform the requested action: identity:\(action).")
    }

    func requireAdmin(_ p: Principal, _ action: String) throws(ServiceError) {
        guard p.isAdmin else { throw Self.denied(action) }
    }

    public static func notFound(_ kind: String, _ id: String) -> ServiceError {
        .notFound("Could not find \(kind): \(id).")
    }

    static func duplicate(_ kind: String, _ name: String, domainId: String) -> ServiceError {
        .conflict(
            "Conflict occurred attempting to store \(kind) - Duplicate entry found with name \(name) at domain ID \(domainId)."
        )
    }

    public static func invalid(_ field: String, _ message: String) -> ServiceError {
        .badRequest("Invalid input for field '\(field)': \(message)")
    }

    // MARK: Bootstrap

    /// Makes sure the default domain, the built-in roles, the admin project and the admin
    /// user exist. Returns true if it created the admin user (a new deployment).
    @discardableResult
    public func bootstrap(
        adminUser: String = "admin", adminProject: String = "admin", adminPassword: String
    ) async throws -> Bool {
        if try await store.domain(id: Domain.default.id) == nil { try await store.insertDomain(.default) }
        var roleIds: [String: String] = [:]
        for name in Self.builtinRoles {
            if let r = try await store.role(name: name) {
                roleIds[name] = r.id
            } else {
                let r = Role(id: Identifiers.hexId(), name: name)
                try await store.insertRole(r)
                roleIds[name] = r.id
            }
        }
        var project = try await store.project(name: adminProject, domainId: Domain.default.id)
        if project == nil {
            let p = Project(
                id: Identifiers.hexId(), name: adminProject, domainId: Domain.default.id,
                description: "Bootstrap project for initializing the cloud.")
            try await store.insertProject(p)
            project = p
        }
        var created = false
        var user = try await store.user(name: adminUser, domainId: Domain.default.id)
        if user == nil {
            let u = User(
                id: Identifiers.hexId(), name: adminUser, domainId: Domain.default.id,
                passwordHash: try await config.passwordHasher.hash(adminPassword, on: hashing),
                defaultProjectId: project?.id)
            try await store.insertUser(u)
            user = u
            created = true
        }
        if let user, let project, let adminRole = roleIds["admin"] {
            let a = RoleAssignment(userId: user.id, projectId: project.id, roleId: adminRole)
            if try await store.assignments(userId: user.id, projectId: project.id, roleId: adminRole).isEmpty {
                try await store.grant(a)
            }
        }
        return created
    }

    /// Sets a user's password (the `glimpse admin` command and the bootstrap use it).
    public func setPassword(userName: String, domainId: String = Domain.default.id, password: String) async throws {
        guard var user = try await store.user(name: userName, domainId: domainId) else {
            throw Self.notFound("user", userName)
        }
        user.passwordHash = try await config.passwordHasher.hash(password, on: hashing)
        try await store.updateUser(user)
        try await store.deleteTokens(userId: user.id, projectId: nil)
        invalidateCache()
    }

    // MARK: Domains

    public func listDomains(name: String?, by p: Principal) async throws -> [Domain] {
        if !p.isAdmin {
            // A user may see the domain of its own project.
            let own = try await store.domain(id: p.projectDomainId ?? "")
            return [own].compactMap { $0 }.filter { name == nil || $0.name == name }
        }
        return try await store.domains().filter { name == nil || $0.name == name }
    }

    public func domain(_ id: String, by p: Principal) async throws -> Domain {
        guard p.isAdmin || p.projectDomainId == id || p.userDomainId == id else { throw Self.denied("get_domain") }
        guard let d = try await store.domain(id: id) else { throw Self.notFound("domain", id) }
        return d
    }

    public func createDomain(name: String, description: String, enabled: Bool, by p: Principal) async throws -> Domain {
        try requireAdmin(p, "create_domain")
        try Self.checkName(name, "domain")
        if try await store.domain(name: name) != nil {
            throw ServiceError.conflict(
                "Conflict occurred attempting to store domain - Duplicate entry found with name \(name).")
        }
        let d = Domain(id: Identifiers.hexId(), name: name, description: description, enabled: enabled)
        try await store.insertDomain(d)
        return d
    }

    static func checkName(_ name: String, _ field: String) throws(ServiceError) {
        if name.isEmpty || name.unicodeScalars.count > 64 {
            throw invalid("name", "'\(name)' is not a valid \(field) name (1 to 64 characters).")
        }
    }

    func domainId(_ requested: String?, _ p: Principal) async throws -> String {
        let id = requested ?? p.projectDomainId ?? Domain.default.id
        guard try await store.domain(id: id) != nil else { throw Self.notFound("domain", id) }
        return id
    }

    // MARK: Projects

    public func listProjects(domainId: String?, name: String?, by p: Principal) async throws -> [Project] {
        try requireAdmin(p, "list_projects")
        return try await store.projects(domainId: domainId, name: name)
    }

    public func project(_ id: String, by p: Principal) async throws -> Project {
        guard p.isAdmin || p.projectId == id else { throw Self.denied("get_project") }
        guard let project = try await store.project(id: id) else { throw Self.notFound("project", id) }
        return project
    }

    public func createProject(
        name: String, domainId: String?, description: String, enabled: Bool, by p: Principal
    ) async throws -> Project {
        try requireAdmin(p, "create_project")
        try Self.checkName(name, "project")
        let domain = try await self.domainId(domainId, p)
        let project = Project(
            id: Identifiers.hexId(), name: name, domainId: domain, description: description, enabled: enabled)
        do {
            try await store.insertProject(project)
        } catch StoreError.duplicate {
            throw Self.duplicate("project", name, domainId: domain)
        }
        return project
    }

    public func updateProject(
        _ id: String, name: String?, description: String?, enabled: Bool?, by p: Principal
    ) async throws -> Project {
        try requireAdmin(p, "update_project")
        guard var project = try await store.project(id: id) else { throw Self.notFound("project", id) }
        if let name {
            try Self.checkName(name, "project")
            project.name = name
        }
        if let description { project.description = description }
        if let enabled { project.enabled = enabled }
        do {
            try await store.updateProject(project)
        } catch StoreError.duplicate {
            throw Self.duplicate("project", project.name, domainId: project.domainId)
        }
        if enabled == false {
            try await store.deleteTokens(userId: nil, projectId: id)
            invalidateCache()
        }
        return project
    }

    public func deleteProject(_ id: String, by p: Principal) async throws {
        try requireAdmin(p, "delete_project")
        guard try await store.deleteProject(id: id) else { throw Self.notFound("project", id) }
        invalidateCache()
    }

    // MARK: Users

    public func listUsers(domainId: String?, name: String?, by p: Principal) async throws -> [User] {
        try requireAdmin(p, "list_users")
        return try await store.users(domainId: domainId, name: name)
    }

    public func user(_ id: String, by p: Principal) async throws -> User {
        guard p.isAdmin || p.userId == id else { throw Self.denied("get_user") }
        guard let user = try await store.user(id: id) else { throw Self.notFound("user", id) }
        return user
    }

    public struct UserFields: Sendable {
        public var name: String?
        public var domainId: String?
        public var password: String?
        public var enabled: Bool?
        public var defaultProjectId: String?
        public var email: String?
        public var description: String?
        public init() {}
    }

    public func createUser(_ f: UserFields, by p: Principal) async throws -> User {
        try requireAdmin(p, "create_user")
        guard let name = f.name else { throw Self.invalid("name", "'name' is a required property") }
        try Self.checkName(name, "user")
        let domain = try await self.domainId(f.domainId, p)
        if let project = f.defaultProjectId, try await store.project(id: project) == nil {
            throw Self.notFound("project", project)
        }
        let hash: String? =
            if let pw = f.password { try await config.passwordHasher.hash(pw, on: hashing) } else { nil }
        let user = User(
            id: Identifiers.hexId(), name: name, domainId: domain, passwordHash: hash,
            enabled: f.enabled ?? true, defaultProjectId: f.defaultProjectId, email: f.email,
            description: f.description)
        do {
            try await store.insertUser(user)
        } catch StoreError.duplicate {
            throw Self.duplicate("user", name, domainId: domain)
        }
        return user
    }

    public func updateUser(_ id: String, _ f: UserFields, by p: Principal) async throws -> User {
        try requireAdmin(p, "update_user")
        guard var user = try await store.user(id: id) else { throw Self.notFound("user", id) }
        if let name = f.name {
            try Self.checkName(name, "user")
            user.name = name
        }
        if let pw = f.password { user.passwordHash = try await config.passwordHasher.hash(pw, on: hashing) }
        if let enabled = f.enabled { user.enabled = enabled }
        if let project = f.defaultProjectId { user.defaultProjectId = project }
        if let email = f.email { user.email = email }
        if let d = f.description { user.description = d }
        do {
            try await store.updateUser(user)
        } catch StoreError.duplicate {
            throw Self.duplicate("user", user.name, domainId: user.domainId)
        }
        if f.password != nil || f.enabled == false {
            try await store.deleteTokens(userId: id, projectId: nil)
            invalidateCache()
        }
        return user
    }

    /// `POST /v3/users/{id}/password`: a user changes its own password.
    public func changePassword(_ id: String, original: String, new: String, by p: Principal?) async throws {
        guard let user = try await store.user(id: id), let hash = user.passwordHash,
            await config.passwordHasher.verify(original, against: hash, on: hashing)
        else { throw Self.unauthorized }
        var updated = user
        updated.passwordHash = try await config.passwordHasher.hash(new, on: hashing)
        try await store.updateUser(updated)
        try await store.deleteTokens(userId: id, projectId: nil)
        invalidateCache()
    }

    public func deleteUser(_ id: String, by p: Principal) async throws {
        try requireAdmin(p, "delete_user")
        guard try await store.deleteUser(id: id) else { throw Self.notFound("user", id) }
        invalidateCache()
    }

    /// `GET /v3/users/{id}/projects`: projects where the user holds a role.
    public func userProjects(_ id: String, by p: Principal) async throws -> [Project] {
        guard p.isAdmin || p.userId == id else { throw Self.denied("list_user_projects") }
        guard try await store.user(id: id) != nil else { throw Self.notFound("user", id) }
        var seen = Set<String>()
        var out: [Project] = []
        for a in try await store.assignments(userId: id, projectId: nil, roleId: nil)
        where seen.insert(a.projectId).inserted {
            if let project = try await store.project(id: a.projectId) { out.append(project) }
        }
        return out
    }

    // MARK: Roles

    public func listRoles(name: String?, by p: Principal) async throws -> [Role] {
        try requireAdmin(p, "list_roles")
        return try await store.roles().filter { name == nil || $0.name == name }
    }

    public func role(_ id: String, by p: Principal) async throws -> Role {
        try requireAdmin(p, "get_role")
        guard let role = try await store.role(id: id) else { throw Self.notFound("role", id) }
        return role
    }

    public func createRole(name: String, description: String?, by p: Principal) async throws -> Role {
        try requireAdmin(p, "create_role")
        try Self.checkName(name, "role")
        if try await store.role(name: name) != nil {
            throw ServiceError.conflict(
                "Conflict occurred attempting to store role - Duplicate entry found with name \(name).")
        }
        let role = Role(id: Identifiers.hexId(), name: name, description: description)
        try await store.insertRole(role)
        return role
    }

    public func deleteRole(_ id: String, by p: Principal) async throws {
        try requireAdmin(p, "delete_role")
        guard try await store.deleteRole(id: id) else { throw Self.notFound("role", id) }
        invalidateCache()
    }

    // MARK: Assignments

    func checkAssignmentParts(userId: String, projectId: String, roleId: String) async throws {
        guard try await store.project(id: projectId) != nil else { throw Self.notFound("project", projectId) }
        guard try await store.user(id: userId) != nil else { throw Self.notFound("user", userId) }
        guard try await store.role(id: roleId) != nil else { throw Self.notFound("role", roleId) }
    }

    /// `PUT /v3/projects/{p}/users/{u}/roles/{r}`.
    public func grant(userId: String, projectId: String, roleId: String, by p: Principal) async throws {
        try requireAdmin(p, "create_grant")
        try await checkAssignmentParts(userId: userId, projectId: projectId, roleId: roleId)
        let a = RoleAssignment(userId: userId, projectId: projectId, roleId: roleId)
        if try await store.assignments(userId: userId, projectId: projectId, roleId: roleId).isEmpty {
            try await store.grant(a)
        }
    }

    /// `DELETE /v3/projects/{p}/users/{u}/roles/{r}`: also ends the user's tokens on that project.
    public func revoke(userId: String, projectId: String, roleId: String, by p: Principal) async throws {
        try requireAdmin(p, "revoke_grant")
        try await checkAssignmentParts(userId: userId, projectId: projectId, roleId: roleId)
        guard try await store.revoke(RoleAssignment(userId: userId, projectId: projectId, roleId: roleId)) else {
            throw ServiceError.notFound(
                "Could not find role assignment with role: \(roleId), user or group: \(userId), project, domain, or system: \(projectId)."
            )
        }
        try await store.deleteTokens(userId: userId, projectId: projectId)
        invalidateCache()
    }

    /// `HEAD/GET /v3/projects/{p}/users/{u}/roles/{r}`.
    public func checkGrant(userId: String, projectId: String, roleId: String, by p: Principal) async throws {
        guard p.isAdmin || p.projectId == projectId else { throw Self.denied("check_grant") }
        try await checkAssignmentParts(userId: userId, projectId: projectId, roleId: roleId)
        if try await store.assignments(userId: userId, projectId: projectId, roleId: roleId).isEmpty {
            throw ServiceError.notFound(
                "Could not find role assignment with role: \(roleId), user or group: \(userId), project, domain, or system: \(projectId)."
            )
        }
    }

    /// `GET /v3/projects/{p}/users/{u}/roles`.
    public func grants(userId: String, projectId: String, by p: Principal) async throws -> [Role] {
        guard p.isAdmin || p.projectId == projectId else { throw Self.denied("list_grants") }
        guard try await store.project(id: projectId) != nil else { throw Self.notFound("project", projectId) }
        guard try await store.user(id: userId) != nil else { throw Self.notFound("user", userId) }
        var roles: [Role] = []
        for a in try await store.assignments(userId: userId, projectId: projectId, roleId: nil) {
            if let r = try await store.role(id: a.roleId) { roles.append(r) }
        }
        return roles
    }

    // MARK: System assignments

    func checkSystemAssignmentParts(userId: String, roleId: String) async throws {
        guard try await store.user(id: userId) != nil else { throw Self.notFound("user", userId) }
        guard try await store.role(id: roleId) != nil else { throw Self.notFound("role", roleId) }
    }

    static func noSystemAssignment(userId: String, roleId: String) -> ServiceError {
        .notFound(
            "Could not find role assignment with role: \(roleId), user or group: \(userId), project, domain, or system: system."
        )
    }

    /// `PUT /v3/system/users/{u}/roles/{r}`.
    public func grantSystem(userId: String, roleId: String, by p: Principal) async throws {
        try requireAdmin(p, "create_system_grant_for_user")
        try await checkSystemAssignmentParts(userId: userId, roleId: roleId)
        try await store.grantSystemRole(userId: userId, roleId: roleId)
    }

    /// `DELETE /v3/system/users/{u}/roles/{r}`: also ends the user's tokens.
    public func revokeSystem(userId: String, roleId: String, by p: Principal) async throws {
        try requireAdmin(p, "revoke_system_grant_for_user")
        try await checkSystemAssignmentParts(userId: userId, roleId: roleId)
        guard try await store.revokeSystemRole(userId: userId, roleId: roleId) else {
            throw Self.noSystemAssignment(userId: userId, roleId: roleId)
        }
        try await store.deleteTokens(userId: userId, projectId: nil)
        invalidateCache()
    }

    /// `HEAD/GET /v3/system/users/{u}/roles/{r}`.
    public func checkSystemGrant(userId: String, roleId: String, by p: Principal) async throws {
        guard p.isAdmin || p.userId == userId else { throw Self.denied("check_system_grant_for_user") }
        try await checkSystemAssignmentParts(userId: userId, roleId: roleId)
        guard try await !store.systemAssignments(userId: userId, roleId: roleId).isEmpty else {
            throw Self.noSystemAssignment(userId: userId, roleId: roleId)
        }
    }

    /// `GET /v3/system/users/{u}/roles`.
    public func systemGrants(userId: String, by p: Principal) async throws -> [Role] {
        guard p.isAdmin || p.userId == userId else { throw Self.denied("list_system_grants_for_user") }
        guard try await store.user(id: userId) != nil else { throw Self.notFound("user", userId) }
        var roles: [Role] = []
        for a in try await store.systemAssignments(userId: userId, roleId: nil) {
            if let r = try await store.role(id: a.roleId) { roles.append(r) }
        }
        return roles
    }

    /// Which assignments `GET /v3/role_assignments` lists, by its `scope.*` filters.
    public enum AssignmentScope: Sendable {
        /// Both kinds (no scope filter).
        case any
        /// One project's (`scope.project.id`).
        case project(String)
        /// The system's (`scope.system=all`).
        case system
    }

    /// `GET /v3/role_assignments`: admins see all, project and system assignments alike;
    /// others only their own project's.
    public func roleAssignments(
        userId: String?, scope: AssignmentScope, roleId: String?, by p: Principal
    ) async throws -> (project: [RoleAssignment], system: [SystemRoleAssignment]) {
        var projectId: String?
        if case .project(let id) = scope { projectId = id }
        if !p.isAdmin {
            guard let own = p.projectId, projectId == own else { throw Self.denied("list_role_assignments") }
        }
        let project =
            if case .system = scope { [RoleAssignment]() } else {
                try await store.assignments(userId: userId, projectId: projectId, roleId: roleId)
            }
        let system =
            if case .project = scope { [SystemRoleAssignment]() } else {
                try await store.systemAssignments(userId: userId, roleId: roleId)
            }
        return (project, system)
    }
}
