import Crypto
import GlimpseCore
import OpenStackEncoding
import OpenStackJSON

/// The service catalog handed out with every scoped token: identity, image and compute,
/// each with public, internal and admin endpoints in one region.
struct Catalog: Sendable {
    struct Service: Sendable {
        let type: String
        let name: String
        /// The endpoint URL for a base URL (`http://host:port`) and, for project-scoped
        /// compute URLs, a project id.
        let path: @Sendable (_ base: String, _ project: String?) -> String
    }

    let region: String
    let services: [Service] = [
        Service(type: "identity", name: "keystone") { base, _ in base + "/identity/v3" },
        Service(type: "image", name: "glance") { base, _ in base },
        Service(type: "compute", name: "nova") { base, _ in base + "/compute/v2.1" },
    ]
    static let interfaces = ["public", "internal", "admin"]

    /// Stable ids derived from the names, so they do not change between tokens.
    static func stableId(_ parts: String...) -> String {
        String(Hex.encode(SHA256.hash(data: Array(parts.joined(separator: "/").utf8))).prefix(32))
    }

    /// The v3 form: `[{type, name, id, endpoints: [{id, interface, region, region_id, url}]}]`.
    func v3(base: String, project: String?) -> JSONValue {
        .array(
            services.map { s in
                [
                    "type": .string(s.type), "name": .string(s.name), "id": .string(Self.stableId(s.type)),
                    "endpoints": .array(
                        Self.interfaces.map { i in
                            [
                                "id": .string(Self.stableId(s.type, i)), "interface": .string(i),
                                "region": .string(region),
                                "region_id": .string(region), "url": .string(s.path(base, project)),
                            ]
                        }),
                ]
            })
    }
}

/// The built-in identity's catalog as `glance-download` reads it: this server is the image
/// service of its region, at every interface.
struct LocalImageCatalog: ServiceCatalogReader {
    let region: String
    /// The base URL the catalog names (the one the request came in by).
    let url: String

    func imageEndpoints(token: String) async throws -> [CatalogEndpoint] {
        Catalog.interfaces.map { CatalogEndpoint(region: region, interface: $0, url: url) }
    }
}

/// The built-in catalog's ids, for the components that refer to its services.
public enum BuiltinCatalog {
    /// The id the catalog gives the service of `type` (stable across tokens and restarts).
    public static func serviceId(type: String) -> String { Catalog.stableId(type) }
}
