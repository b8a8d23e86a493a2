import Foundation
import GlimpseCore
import Logging
import OpenStack
import OpenStackEncoding
import Synchronization

/// Validates tokens with the cloud's Keystone, as keystonemiddleware's `auth_token` does:
/// `GET /v3/auth/tokens` under a service user's token (kept valid by the SDK, renewed ahead
/// of its expiry), each answer cached for `cacheTime` seconds or until the token expires,
/// whichever comes first. A revoked token thus stops working within `cacheTime`.
/// Concurrent requests with the same token share one call to Keystone. When Keystone
/// cannot be asked, the request fails with 503 rather than being refused as if the token
/// were bad.
public final class KeystoneTokenValidator: TokenValidator {
    /// Which Keystone roles give which of Glimpse's rights.
    public struct RoleMap: Sendable {
        public var admin: Set<String>
        public var member: Set<String>
        public var reader: Set<String>

        public init(admin: [String], member: [String], reader: [String]) {
            self.admin = Set(admin.map { $0.lowercased() })
            self.member = Set(member.map { $0.lowercased() })
            self.reader = Set(reader.map { $0.lowercased() })
        }

        /// Glimpse's rights (`admin` ⊃ `member` ⊃ `reader`) for a user's Keystone roles.
        /// Only the map grants them: in a cloud that renamed its admin role, a Keystone role
        /// that happens to be called `admin` grants nothing.
        func rights(_ keystoneRoles: [String]) -> Set<String> {
            let names = Set(keystoneRoles.map { $0.lowercased() })
            if !names.isDisjoint(with: admin) { return ["admin", "member", "reader"] }
            if !names.isDisjoint(with: member) { return ["member", "reader"] }
            if !names.isDisjoint(with: reader) { return ["reader"] }
            return []
        }
    }

    let identity: IdentityServiceV3
    let cacheTime: Double
    let roleMap: RoleMap
    let clock: any WallClock
    let logger: Logger
    /// Most tokens remembered at once; past it, expired entries go first, then the oldest.
    let capacity: Int
    private let cache = Mutex<[String: Entry]>([:])
    private let inFlight = Mutex<[String: Task<Principal?, any Error>]>([:])

    struct Entry {
        let principal: Principal?
        /// Seconds since the epoch after which the entry is not used.
        let until: Double
    }

    /// - Parameters:
    ///   - identity: Keystone, reached with the service user's credentials.
    ///   - cacheTime: seconds an answer is trusted.
    public init(
        identity: IdentityServiceV3, cacheTime: Int, roleMap: RoleMap, clock: any WallClock, logger: Logger,
        capacity: Int = 50_000
    ) {
        self.identity = identity
        self.cacheTime = Double(cacheTime)
        self.roleMap = roleMap
        self.clock = clock
        self.logger = logger
        self.capacity = capacity
    }

    public func principal(forToken token: String) async throws -> Principal? {
        let now = Double(clock.now().microseconds) / 1e6
        if let entry = cache.withLock({ $0[token] }), entry.until > now { return entry.principal }
        let task = inFlight.withLock { tasks in
            if let running = tasks[token] { return running }
            let task = Task { try await self.ask(token) }
            tasks[token] = task
            return task
        }
        defer { _ = inFlight.withLock { $0.removeValue(forKey: token) } }
        return try await task.value
    }

    /// Asks Keystone and remembers the answer.
    private func ask(_ token: String) async throws -> Principal? {
        let answer: Token?
        do {
            answer = try await identity.validate(token: token)
        } catch {
            // Keystone unreachable or refusing the service user: no answer is cached.
            logger.error("token validation failed", metadata: ["error": "\(error)"])
            throw ServiceError(.serviceUnavailable, explanation: "The identity service cannot be reached.")
        }
        let now = Double(clock.now().microseconds) / 1e6
        var until = now + cacheTime
        var principal: Principal?
        if let answer {
            until = min(until, answer.expiresAt.timeIntervalSince1970)
            principal = Principal(
                userId: answer.userId, userName: answer.userName ?? "", userDomainId: answer.userDomainId ?? "default",
                projectId: answer.projectId, projectName: answer.projectName,
                projectDomainId: answer.projectDomainId, roles: roleMap.rights(answer.roles))
        }
        let entry = Entry(principal: principal, until: until)
        cache.withLock { cache in
            if cache.count >= capacity { Self.evict(&cache, now: now, keeping: capacity / 2) }
            cache[token] = entry
        }
        return principal
    }

    /// Drops expired entries, then the ones closest to expiry, down to `keeping`.
    static func evict(_ cache: inout [String: Entry], now: Double, keeping: Int) {
        cache = cache.filter { $0.value.until > now }
        guard cache.count > keeping else { return }
        let doomed = cache.sorted { $0.value.until < $1.value.until }.prefix(cache.count - keeping).map(\.key)
        for key in doomed { cache.removeValue(forKey: key) }
    }
}

extension KeystoneTokenValidator: ServiceCatalogReader {
    /// The image endpoints of the catalog Keystone gives `token`.
    public func imageEndpoints(token: String) async throws -> [CatalogEndpoint] {
        let catalog = try await identity.catalog(forToken: token)
        return catalog.services.filter { $0.type == "image" }.flatMap { service in
            service.endpoints.map {
                CatalogEndpoint(region: $0.region ?? "", interface: $0.interface.rawValue, url: $0.url)
            }
        }
    }
}
