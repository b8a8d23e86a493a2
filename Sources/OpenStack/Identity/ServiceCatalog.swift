import OpenStackJSON

/// The services a token may use, and where they are.
public struct ServiceCatalog: Sendable, Hashable {
    public struct Endpoint: Sendable, Hashable {
        public var id: String?
        public var interface: Interface
        public var region: String?
        public var url: String
    }

    public struct Service: Sendable, Hashable {
        public var type: String
        public var name: String?
        public var endpoints: [Endpoint]
    }

    public var services: [Service]

    public init(services: [Service]) { self.services = services }

    /// Reads a v3 catalog (`[{type, name, endpoints: [{interface, region, region_id, url}]}]`).
    static func v3(_ json: JSONValue?) -> ServiceCatalog {
        ServiceCatalog(
            services: (json?.arrayValue ?? []).compactMap { s in
                guard let type = s["type"]?.stringValue else { return nil }
                let endpoints: [Endpoint] = (s["endpoints"]?.arrayValue ?? []).compactMap { e in
                    guard let url = e["url"]?.stringValue,
                        let interface = e["interface"]?.stringValue.flatMap(Interface.init(rawValue:))
                    else {
                        return nil
                    }
                    return Endpoint(
                        id: e["id"]?.stringValue, interface: interface,
                        region: e["region_id"]?.stringValue ?? e["region"]?.stringValue, url: url)
                }
                return Service(type: type, name: s["name"]?.stringValue, endpoints: endpoints)
            })
    }

    /// Reads a v2.0 catalog (`[{type, name, endpoints: [{region, publicURL, internalURL, adminURL}]}]`).
    static func v2(_ json: JSONValue?) -> ServiceCatalog {
        ServiceCatalog(
            services: (json?.arrayValue ?? []).compactMap { s in
                guard let type = s["type"]?.stringValue else { return nil }
                var endpoints: [Endpoint] = []
                for e in s["endpoints"]?.arrayValue ?? [] {
                    for (key, interface) in [
                        ("publicURL", Interface.public), ("internalURL", .internal), ("adminURL", .admin),
                    ] {
                        if let url = e[key]?.stringValue {
                            endpoints.append(
                                Endpoint(
                                    id: e["id"]?.stringValue, interface: interface, region: e["region"]?.stringValue,
                                    url: url))
                        }
                    }
                }
                return Service(type: type, name: s["name"]?.stringValue, endpoints: endpoints)
            })
    }

    /// Type aliases clouds use for the same service.
    static let aliases: [String: [String]] = [
        "image": ["image"], "compute": ["compute"], "identity": ["identity"],
    ]

    /// The URL of a service. The name is optional (many clouds use other names than the
    /// defaults); the region matches `region_id` or `region`.
    public func url(
        type: String, name: String? = nil, region: String? = nil, interface: Interface = .public
    ) throws -> String {
        let types = Self.aliases[type] ?? [type]
        let candidates = services.filter { types.contains($0.type) && (name == nil || $0.name == name) }
        for service in candidates {
            if let e = service.endpoints.first(where: {
                $0.interface == interface && (region == nil || $0.region == region)
            }) {
                return e.url
            }
        }
        var wanted = "interface \(interface.rawValue)"
        if let region { wanted += ", region \(region)" }
        if let name { wanted += ", name \(name)" }
        throw OpenStackError(.endpointNotFound, "no '\(type)' endpoint in the catalog for \(wanted)")
    }
}
