import GlimpseCore
import OpenStackEncoding

/// Keeps the built-in identity data: domains, projects, users, roles, assignments and tokens.
public protocol IdentityStore: Sendable {
    func domains() async throws -> [Domain]
    func domain(id: String) async throws -> Domain?
    func domain(name: String) async throws -> Domain?
    func insertDomain(_ domain: Domain) async throws

    func projects(domainId: String?, name: String?) async throws -> [Project]
    func project(id: String) async throws -> Project?
    func project(name: String, domainId: String) async throws -> Project?
    /// Throws `StoreError.duplicate` if the id, or the name within the domain, is taken.
    func insertProject(_ project: Project) async throws
    func updateProject(_ project: Project) async throws
    /// Also removes the project's role assignments and tokens.
    func deleteProject(id: String) async throws -> Bool

    func users(domainId: String?, name: String?) async throws -> [User]
    func user(id: String) async throws -> User?
    func user(name: String, domainId: String) async throws -> User?
    func insertUser(_ user: User) async throws
    func updateUser(_ user: User) async throws
    /// Also removes the user's role assignments (system ones too) and tokens.
    func deleteUser(id: String) async throws -> Bool

    func roles() async throws -> [Role]
    func role(id: String) async throws -> Role?
    func role(name: String) async throws -> Role?
    func insertRole(_ role: Role) async throws
    func deleteRole(id: String) async throws -> Bool

    func grant(_ assignment: RoleAssignment) async throws
    func revoke(_ assignment: RoleAssignment) async throws -> Bool
    /// Assignments matching every non-nil filter.
    func assignments(userId: String?, projectId: String?, roleId: String?) async throws -> [RoleAssignment]

    // Roles held on the whole deployment (Keystone's system scope); deleting a user or a
    // role removes them too.

    /// System assignments matching every non-nil filter, by user and role.
    func systemAssignments(userId: String?, roleId: String?) async throws -> [SystemRoleAssignment]
    func grantSystemRole(userId: String, roleId: String) async throws
    func revokeSystemRole(userId: String, roleId: String) async throws -> Bool

    func insertToken(_ token: TokenRecord) async throws
    func token(hash: String) async throws -> TokenRecord?
    func deleteToken(hash: String) async throws
    func deleteTokens(userId: String?, projectId: String?) async throws
    func deleteTokens(expiredBefore: Timestamp) async throws -> Int

    // Unified limits. A region of nil is no region; the filters that are nil match all.

    func registeredLimits(
        serviceId: String?, regionId: String?, resourceName: String?
    ) async throws
        -> [RegisteredLimit]
    func registeredLimit(id: String) async throws -> RegisteredLimit?
    /// All or none: throws `StoreError.duplicate` if one's service, region and resource are taken.
    func insertRegisteredLimits(_ limits: [RegisteredLimit]) async throws
    /// Throws `StoreError.duplicate` if another limit has its service, region and resource.
    func updateRegisteredLimit(_ limit: RegisteredLimit) async throws
    func deleteRegisteredLimit(id: String) async throws -> Bool

    func projectLimits(
        projectId: String?, serviceId: String?, regionId: String?, resourceName: String?
    )
        async throws -> [ProjectLimit]
    func projectLimit(id: String) async throws -> ProjectLimit?
    /// All or none: throws `StoreError.duplicate` if one's project, service, region and
    /// resource are taken.
    func insertProjectLimits(_ limits: [ProjectLimit]) async throws
    func updateProjectLimit(_ limit: ProjectLimit) async throws
    func deleteProjectLimit(id: String) async throws -> Bool
}
