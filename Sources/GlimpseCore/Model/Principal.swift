/// Who is making a request: the identity behind a validated token.
public struct Principal: Sendable, Hashable {
    public var userId: String
    public var userName: String
    public var userDomainId: String
    /// The project the token is scoped to; nil for unscoped tokens.
    public var projectId: String?
    public var projectName: String?
    public var projectDomainId: String?
    /// Effective role names, lower-cased, with implied roles expanded
    /// (admin ⊃ member ⊃ reader).
    public var roles: Set<String>

    public init(
        userId: String, userName: String = "", userDomainId: String = "default",
        projectId: String?, projectName: String? = nil, projectDomainId: String? = "default",
        roles: Set<String>
    ) {
        self.userId = userId
        self.userName = userName
        self.userDomainId = userDomainId
        self.projectId = projectId
        self.projectName = projectName
        self.projectDomainId = projectDomainId
        self.roles = Set(roles.map { $0.lowercased() })
        isAdmin = self.roles.contains("admin")
    }

    /// Cloud administrator: sees and may change every project's images. The `admin` role by
    /// default; on the image API, whom the policy's `context_is_admin` names
    /// (`PolicyEnforcer.applyingAdmin`), as Glance derives `is_admin` from it.
    public var isAdmin: Bool
    /// May create and change images in its own project.
    public var isMember: Bool { isAdmin || roles.contains("member") }
    /// May read images.
    public var isReader: Bool { isMember || roles.contains("reader") }
}
