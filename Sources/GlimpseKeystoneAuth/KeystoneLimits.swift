import GlimpseCore
import Logging
import OpenStack
import OpenStackEncoding
import OpenStackJSON
import Synchronization

/// Projects' limits read from the cloud's Keystone, as oslo.limit reads them for Glance:
/// `GET /v3/registered_limits?service_id=` and `GET /v3/limits?service_id=&project_id=`
/// under the service user's token. The image service is found by its type in
/// `/v3/services` unless its id is given. Answers are kept for `cacheTime` seconds, so a
/// changed limit applies within that time. When Keystone cannot be asked, the request
/// fails with 503 rather than passing unchecked.
public final class KeystoneLimits: LimitsSource {
    let identity: IdentityServiceV3
    let configuredServiceId: String?
    let regionId: String?
    let cacheTime: Int64
    let clock: any WallClock
    let logger: Logger
    /// The image service's id, once found.
    private let serviceId = Mutex<String?>(nil)
    /// Keystone's answers by collection and project, with when they stop being used.
    private let cache = Mutex<[String: Entry]>([:])

    struct Entry {
        let members: [JSONValue]
        let until: Timestamp
    }

    /// - Parameters:
    ///   - serviceId: the image service's id in Keystone; looked up by type `image` if nil.
    ///   - regionId: the region whose limits apply (besides those for every region).
    public init(
        identity: IdentityServiceV3, serviceId: String?, regionId: String?, cacheTime: Int, clock: any WallClock,
        logger: Logger
    ) {
        self.identity = identity
        self.configuredServiceId = serviceId
        self.regionId = regionId
        self.cacheTime = Int64(cacheTime)
        self.clock = clock
        self.logger = logger
    }

    public func limits(for project: String) async throws -> [String: Int] {
        do {
            let service = try await imageServiceId()
            let registered = try await cached("registered_limits", [("service_id", service)]).compactMap {
                member -> RegisteredLimit? in
                guard let name = member["resource_name"]?.stringValue, let limit = member["default_limit"]?.intValue
                else { return nil }
                return RegisteredLimit(
                    id: member["id"]?.stringValue ?? "", serviceId: service, regionId: member["region_id"]?.stringValue,
                    resourceName: name, defaultLimit: limit)
            }
            let own = try await cached("limits", [("service_id", service), ("project_id", project)]).compactMap {
                member -> ProjectLimit? in
                guard let name = member["resource_name"]?.stringValue, let limit = member["resource_limit"]?.intValue
                else { return nil }
                return ProjectLimit(
                    id: member["id"]?.stringValue ?? "", projectId: project, serviceId: service,
                    regionId: member["region_id"]?.stringValue, resourceName: name, resourceLimit: limit)
            }
            return UnifiedLimits.effective(registered: registered, project: own, region: regionId)
        } catch let error as ServiceError {
            throw error
        } catch {
            logger.error("reading limits from Keystone failed", metadata: ["error": "\(error)"])
            throw ServiceError(.serviceUnavailable, explanation: "The identity service cannot be reached.")
        }
    }

    func imageServiceId() async throws -> String {
        if let id = configuredServiceId ?? serviceId.withLock({ $0 }) { return id }
        let found = try await identity.list("services", query: [("type", "image")]).compactMap { $0["id"]?.stringValue }
        guard let id = found.first else {
            throw ServiceError(.internalError, explanation: "Keystone has no service of type image to read limits of.")
        }
        serviceId.withLock { $0 = id }
        return id
    }

    /// A collection's members for a query, from the cache while they are fresh.
    func cached(_ collection: String, _ query: [(String, String)]) async throws -> [JSONValue] {
        let key = collection + "?" + query.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
        let now = clock.now()
        if let entry = cache.withLock({ $0[key] }), now < entry.until { return entry.members }
        let members = try await identity.list(collection, query: query)
        cache.withLock { cache in
            if cache.count >= 10_000 { cache = cache.filter { now < $0.value.until } }
            cache[key] = Entry(members: members, until: now.adding(seconds: cacheTime))
        }
        return members
    }
}
