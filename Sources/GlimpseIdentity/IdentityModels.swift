import GlimpseCore
import OpenStackEncoding

/// A Keystone domain: the namespace of user and project names.
public struct Domain: Sendable, Hashable {
    public var id: String
    public var name: String
    public var description: String
    public var enabled: Bool

    public init(id: String, name: String, description: String = "", enabled: Bool = true) {
        self.id = id
        self.name = name
        self.description = description
        self.enabled = enabled
    }

    /// The domain every deployment has: id `default`, name `Default`.
    public static let `default` = Domain(id: "default", name: "Default", description: "The default domain")
}

/// A project (tenant): the owner of images.
public struct Project: Sendable, Hashable {
    public var id: String
    public var name: String
    public var domainId: String
    public var description: String
    public var enabled: Bool

    public init(id: String, name: String, domainId: String, description: String = "", enabled: Bool = true) {
        self.id = id
        self.name = name
        self.domainId = domainId
        self.description = description
        self.enabled = enabled
    }
}

/// A user account. The password is kept only as a salted slow hash.
public struct User: Sendable, Hashable {
    public var id: String
    public var name: String
    public var domainId: String
    public var passwordHash: String?
    public var enabled: Bool
    public var defaultProjectId: String?
    public var email: String?
    public var description: String?

    public init(
        id: String, name: String, domainId: String, passwordHash: String?, enabled: Bool = true,
        defaultProjectId: String? = nil, email: String? = nil, description: String? = nil
    ) {
        self.id = id
        self.name = name
        self.domainId = domainId
        self.passwordHash = passwordHash
        self.enabled = enabled
        self.defaultProjectId = defaultProjectId
        self.email = email
        self.description = description
    }
}

/// A role such as `admin`, `member`, `reader`.
public struct Role: Sendable, Hashable {
    public var id: String
    public var name: String
    public var description: String?

    public init(id: String, name: String, description: String? = nil) {
        self.id = id
        self.name = name
        self.description = description
    }
}

/// A role a user holds on a project.
/// A role a user holds on the whole deployment (Keystone's system scope, `all`).
public struct SystemRoleAssignment: Sendable, Hashable {
    public var userId: String
    public var roleId: String

    public init(userId: String, roleId: String) {
        self.userId = userId
        self.roleId = roleId
    }
}

public struct RoleAssignment: Sendable, Hashable {
    public var userId: String
    public var projectId: String
    public var roleId: String

    public init(userId: String, projectId: String, roleId: String) {
        self.userId = userId
        self.projectId = projectId
        self.roleId = roleId
    }
}

/// A stored token. Only a hash of the token string is kept.
public struct TokenRecord: Sendable, Hashable {
    /// SHA-256 of the token string, hex.
    public var hash: String
    public var userId: String
    public var projectId: String?
    /// Scoped to the whole deployment (Keystone's `"system": {"all": true}`); no project then.
    public var system: Bool
    /// Effective roles at issue time (implied roles expanded).
    public var roleIds: [String]
    public var methods: [String]
    public var issuedAt: Timestamp
    public var expiresAt: Timestamp
    /// Audit id of this token and, for a token made from another, of the chain's first one.
    public var auditIds: [String]

    public init(
        hash: String, userId: String, projectId: String?, system: Bool = false, roleIds: [String],
        methods: [String], issuedAt: Timestamp, expiresAt: Timestamp, auditIds: [String]
    ) {
        self.hash = hash
        self.userId = userId
        self.projectId = projectId
        self.system = system
        self.roleIds = roleIds
        self.methods = methods
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
        self.auditIds = auditIds
    }
}

/// Everything a validated token stands for, resolved to names.
public struct TokenInfo: Sendable, Hashable {
    public var record: TokenRecord
    public var user: User
    public var userDomain: Domain
    public var project: Project?
    public var projectDomain: Domain?
    public var roles: [Role]

    /// The caller as the image service sees it.
    public var principal: Principal {
        Principal(
            userId: user.id, userName: user.name, userDomainId: user.domainId, projectId: project?.id,
            projectName: project?.name, projectDomainId: project?.domainId, roles: Set(roles.map(\.name)))
    }
}
