import Crypto
import GlimpseCore
import Logging
import NIOPosix
import OpenStackEncoding

/// Settings of the built-in identity service.
public struct IdentityConfig: Sendable {
    /// Token lifetime in seconds (Keystone's default: one hour).
    public var tokenLifetime: Int64 = 3600
    /// How long a validated token is trusted from memory before it is looked up again.
    /// Bounds how long a token revoked on another node keeps working here.
    public var tokenCacheSeconds: Int64 = 30
    public var passwordHasher = PasswordHasher()
    /// When failed logins are throttled.
    public var loginLimits = LoginThrottle.Limits()

    public init() {}
}

/// A reference to a domain by id or by name.
public enum DomainRef: Sendable, Equatable {
    case id(String)
    case name(String)
}

/// How a password-authenticating user names itself.
public enum UserRef: Sendable, Equatable {
    case id(String)
    case name(String, domain: DomainRef)
}

/// The project a token is requested for.
public enum ProjectRef: Sendable, Equatable {
    case id(String)
    case name(String, domain: DomainRef)
}

/// One way of proving identity in `POST /v3/auth/tokens`.
public enum AuthMethod: Sendable, Equatable {
    case password(UserRef, password: String)
    case token(String)
}

/// A token request: one proof of identity and the scope wanted.
public struct AuthRequest: Sendable, Equatable {
    public var method: AuthMethod
    /// The project scope; nil: the system scope if `system`, else an unscoped token.
    public var project: ProjectRef?
    /// The whole deployment (Keystone's `"system": {"all": true}`).
    public var system: Bool

    public init(method: AuthMethod, project: ProjectRef?, system: Bool = false) {
        self.method = method
        self.project = project
        self.system = system
    }
}

/// The built-in Keystone: authenticates users, issues and validates tokens.
/// Administration of projects, users and roles is in `KeystoneService+Admin.swift`.
public final class KeystoneService: Sendable {
    public let store: any IdentityStore
    public let config: IdentityConfig
    let cache: TokenCache
    let clock: any WallClock
    /// Threads for password hashing, which takes tens of milliseconds of CPU on purpose.
    let hashing: NIOThreadPool
    let logger: Logger
    let throttle: LoginThrottle
    /// Checked when the user named is unknown, so that a refusal takes as long as a wrong
    /// password's and does not tell which names exist.
    let decoyHash: String
    /// Called after a registered or project limit is created, changed or deleted.
    let limitsChanged: @Sendable () -> Void

    /// Roles every deployment has, and what each implies.
    public static let builtinRoles = ["admin", "member", "reader"]
    static let implied: [String: [String]] = ["admin": ["member", "reader"], "member": ["reader"]]

    public init(
        store: any IdentityStore, config: IdentityConfig = .init(), clock: any WallClock = SystemClock(),
        hashing: NIOThreadPool, logger: Logger, limitsChanged: @escaping @Sendable () -> Void = {}
    ) {
        self.store = store
        self.limitsChanged = limitsChanged
        self.config = config
        self.clock = clock
        self.hashing = hashing
        self.cache = TokenCache(ttlSeconds: config.tokenCacheSeconds, clock: clock)
        self.logger = logger
        self.throttle = LoginThrottle(limits: config.loginLimits, clock: clock)
        self.decoyHash =
            "pbkdf2-sha512$\(config.passwordHasher.rounds)$\(Identifiers.randomHex(bytes: 16))$\(String(repeating: "0", count: 64))"
    }

    static let unauthorized = ServiceError.unauthorized("The request you have made requires authentication.")

    // MARK: Tokens

    /// `POST /v3/auth/tokens`: returns the new token string and what it stands for.
    /// - Parameter source: the client's address, for throttling failed logins.
    public func authenticate(
        _ request: AuthRequest, source: String? = nil
    ) async throws -> (
        token: String, info: TokenInfo
    ) {
        let user: User
        var methods = ["password"]
        var auditChain: [String] = []
        var notAfter: Timestamp?
        switch request.method {
        case .password(let ref, let password):
            let name = Self.throttleKey(ref)
            try throttle.check(user: name, address: source)
            let found = try await findUser(ref)
            // Unknown and disabled users cost a hash too: the refusal takes the same time.
            let usable = found.flatMap { $0.enabled ? $0.passwordHash : nil }
            let matches = await config.passwordHasher.verify(password, against: usable ?? decoyHash, on: hashing)
            guard let u = found, usable != nil, matches else {
                throttle.failed(user: name, address: source)
                logger.notice("authentication failed", metadata: ["user": "\(ref)", "source": "\(source ?? "")"])
                throw Self.unauthorized
            }
            throttle.succeeded(user: name)
            user = u
        case .token(let token):
            guard let info = try await validate(token: token) else { throw Self.unauthorized }
            user = info.user
            methods = info.record.methods.contains("token") ? info.record.methods : info.record.methods + ["token"]
            auditChain = [info.record.auditIds.last ?? info.record.auditIds.first ?? ""]
            notAfter = info.record.expiresAt
        }
        var project: Project?
        var roles: [Role] = []
        if let ref = request.project {
            guard let p = try await findProject(ref), p.enabled else { throw Self.unauthorized }
            roles = try await effectiveRoles(userId: user.id, projectId: p.id)
            guard !roles.isEmpty else {
                logger.notice(
                    "user has no role on project", metadata: ["user_id": "\(user.id)", "project_id": "\(p.id)"])
                throw Self.unauthorized
            }
            project = p
        } else if request.system {
            roles = try await effectiveSystemRoles(userId: user.id)
            guard !roles.isEmpty else {
                logger.notice("user has no role on the system", metadata: ["user_id": "\(user.id)"])
                throw Self.unauthorized
            }
        }
        let token = Self.newTokenString()
        let now = clock.now()
        var expires = now.adding(seconds: config.tokenLifetime)
        if let notAfter, notAfter < expires { expires = notAfter }
        let record = TokenRecord(
            hash: Self.tokenHash(token), userId: user.id, projectId: project?.id,
            system: request.system && project == nil,
            roleIds: roles.map(\.id),
            methods: methods, issuedAt: now, expiresAt: expires,
            auditIds: [Identifiers.randomHex(bytes: 11)] + auditChain.filter { !$0.isEmpty })
        try await store.insertToken(record)
        let info = TokenInfo(
            record: record, user: user, userDomain: try await domainOrDefault(user.domainId), project: project,
            projectDomain: project == nil ? nil : try await domainOrDefault(project!.domainId), roles: roles)
        cache.put(record.hash, info)
        return (token, info)
    }

    /// What a token stands for, or nil if it is unknown, revoked or expired.
    public func validate(token: String) async throws -> TokenInfo? {
        let hash = Self.tokenHash(token)
        let now = clock.now()
        if let info = cache.get(hash) {
            return info.record.expiresAt > now ? info : nil
        }
        guard let record = try await store.token(hash: hash), record.expiresAt > now,
            let user = try await store.user(id: record.userId), user.enabled
        else { return nil }
        var project: Project?
        var projectDomain: Domain?
        if let pid = record.projectId {
            guard let p = try await store.project(id: pid), p.enabled else { return nil }
            project = p
            projectDomain = try await domainOrDefault(p.domainId)
        }
        var roles: [Role] = []
        for id in record.roleIds {
            if let r = try await store.role(id: id) { roles.append(r) }
        }
        let info = TokenInfo(
            record: record, user: user, userDomain: try await domainOrDefault(user.domainId),
            project: project, projectDomain: projectDomain, roles: roles)
        cache.put(hash, info)
        return info
    }

    /// `DELETE /v3/auth/tokens`.
    public func revoke(token: String) async throws {
        let hash = Self.tokenHash(token)
        cache.remove(hash)
        try await store.deleteToken(hash: hash)
    }

    /// Drops tokens past their expiry from the store.
    public func purgeExpiredTokens() async throws -> Int {
        try await store.deleteTokens(expiredBefore: clock.now())
    }

    static func newTokenString() -> String {
        // 32 random bytes, URL-safe base64 without padding.
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        let bytes = Identifiers.randomBytes(33)
        var out: [UInt8] = []
        var i = 0
        while i + 2 < bytes.count {
            let n = Int(bytes[i]) << 16 | Int(bytes[i + 1]) << 8 | Int(bytes[i + 2])
            out += [alphabet[n >> 18 & 63], alphabet[n >> 12 & 63], alphabet[n >> 6 & 63], alphabet[n & 63]]
            i += 3
        }
        return "gl" + String(decoding: out, as: UTF8.self)
    }

    /// One key per user however it is named (name and domain as given, or id).
    static func throttleKey(_ ref: UserRef) -> String {
        switch ref {
        case .id(let id): "id:" + id
        case .name(let name, .id(let domain)): "name:\(domain)/\(name)"
        case .name(let name, .name(let domain)): "name:@\(domain)/\(name)"
        }
    }

    /// Tokens are looked up by this digest, never compared as strings: the time a lookup
    /// takes says nothing about how much of a guessed token was right.
    static func tokenHash(_ token: String) -> String {
        Hex.encode(SHA256.hash(data: Array(token.utf8)))
    }

    // MARK: Lookups

    func findDomain(_ ref: DomainRef) async throws -> Domain? {
        switch ref {
        case .id(let id): try await store.domain(id: id)
        case .name(let name): try await store.domain(name: name)
        }
    }

    func domainOrDefault(_ id: String) async throws -> Domain {
        try await store.domain(id: id) ?? Domain(id: id, name: id)
    }

    func findUser(_ ref: UserRef) async throws -> User? {
        switch ref {
        case .id(let id): return try await store.user(id: id)
        case .name(let name, let domain):
            guard let d = try await findDomain(domain) else { return nil }
            return try await store.user(name: name, domainId: d.id)
        }
    }

    func findProject(_ ref: ProjectRef) async throws -> Project? {
        switch ref {
        case .id(let id): return try await store.project(id: id)
        case .name(let name, let domain):
            guard let d = try await findDomain(domain) else { return nil }
            return try await store.project(name: name, domainId: d.id)
        }
    }

    /// The roles a user has on a project, with implied roles added (admin ⊃ member ⊃ reader).
    public func effectiveRoles(userId: String, projectId: String) async throws -> [Role] {
        let assigned = try await store.assignments(userId: userId, projectId: projectId, roleId: nil)
        return try await withImpliedRoles(assigned.map(\.roleId))
    }

    /// The roles a user has on the system, with implied roles added.
    public func effectiveSystemRoles(userId: String) async throws -> [Role] {
        try await withImpliedRoles(try await store.systemAssignments(userId: userId, roleId: nil).map(\.roleId))
    }

    /// The roles of these ids and those they imply.
    func withImpliedRoles(_ roleIds: [String]) async throws -> [Role] {
        var roles: [Role] = []
        var names = Set<String>()
        for id in roleIds {
            if let r = try await store.role(id: id), names.insert(r.name).inserted { roles.append(r) }
        }
        for name in roles.map(\.name) {
            for impliedName in Self.implied[name] ?? [] where !names.contains(impliedName) {
                if let r = try await store.role(name: impliedName) {
                    names.insert(impliedName)
                    roles.append(r)
                }
            }
        }
        return roles
    }

    /// Forgets cached tokens (after a change of users, projects or roles).
    func invalidateCache() { cache.removeAll() }
}

extension KeystoneService: TokenValidator {
    public func principal(forToken token: String) async throws -> Principal? {
        try await validate(token: token)?.principal
    }
}
