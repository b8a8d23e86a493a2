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
    /// Also removes the user's role assignments and tokens.
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

    func insertToken(_ token: TokenRecord) async throws
    func token(hash: String) async throws -> TokenRecord?
    func deleteToken(hash: String) async throws
    func deleteTokens(userId: String?, projectId: String?) async throws
    func deleteTokens(expiredBefore: Timestamp) async throws -> Int
}
