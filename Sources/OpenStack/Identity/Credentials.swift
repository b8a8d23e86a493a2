/// A domain, by id or by name.
public enum Domain: Sendable, Hashable {
    case id(String)
    case name(String)

    /// The domain every Keystone has.
    public static let `default` = Domain.id("default")
}

/// Who signs in.
public enum UserCredential: Sendable, Hashable {
    /// A user by id.
    case id(String, password: String)
    /// A user by name within a domain.
    case name(String, domain: Domain, password: String)
    /// An existing token.
    case token(String)
    /// A Keystone application credential, by id.
    case applicationCredential(id: String, secret: String)
    /// A Keystone application credential, by name, for a user.
    case applicationCredentialName(String, user: String, userDomain: Domain, secret: String)
}

/// What the token is for: `.project(id:)`, `.project(name:domain:)` or `.unscoped`.
public struct Scope: Sendable, Hashable {
    enum Kind: Sendable, Hashable {
        case projectId(String)
        case projectName(String, Domain)
        case unscoped
    }

    let kind: Kind

    /// A project by id.
    public static func project(id: String) -> Scope { Scope(kind: .projectId(id)) }
    /// A project by name within a domain.
    public static func project(name: String, domain: Domain = .default) -> Scope {
        Scope(kind: .projectName(name, domain))
    }
    /// No project: identity calls only. (Application credentials carry their own scope.)
    public static let unscoped = Scope(kind: .unscoped)
}

/// Which of a service's endpoints to use.
public enum Interface: String, Sendable, Hashable, CaseIterable {
    case `public`, `internal`, admin
}
