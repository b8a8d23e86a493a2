import NIOHTTP1
import OpenStackEncoding

/// The identity service (Keystone v3), for what a service does with other users' tokens.
public struct IdentityServiceV3: Sendable {
    let transport: Transport
    let endpoint: ServiceEndpoint

    /// What Keystone knows of `token` (`GET /v3/auth/tokens` with `X-Subject-Token`): its
    /// user, project, roles and expiry; nil if the token is unknown, expired or revoked.
    /// The connection's own token must be allowed to validate others (the `service` or
    /// `admin` role).
    public func validate(token: String) async throws -> Token? {
        var request = ServiceRequest(.GET, try await endpoint.url() + "/auth/tokens")
        request.headers = [("X-Subject-Token", token)]
        let response: ServiceResponse
        do {
            response = try await transport.send(request)
        } catch let error as OpenStackError where error.status == 404 {
            return nil
        }
        return try Token(v3: try response.json()["token"], value: token, requestID: response.requestID)
    }

    /// The service catalog `token` sees (`GET /v3/auth/catalog`, asked with that token).
    public func catalog(forToken token: String) async throws -> ServiceCatalog {
        var request = ServiceRequest(.GET, try await endpoint.url() + "/auth/catalog")
        request.authenticated = false
        request.headers = [("X-Auth-Token", token)]
        return ServiceCatalog.v3(try await transport.send(request).json()["catalog"])
    }

    /// The members of a Keystone collection (`GET /v3/{collection}?query`), e.g. `services`
    /// by type, or `registered_limits` and `limits` as oslo.limit reads them.
    public func list(_ collection: String, query: [(String, String)] = []) async throws -> [JSONValue] {
        var url = try await endpoint.url() + "/" + collection
        if !query.isEmpty { url += "?" + URLCoding.encodeQuery(query) }
        return try await transport.send(ServiceRequest(.GET, url)).json()[collection]?.arrayValue ?? []
    }
}

extension OpenStack {
    /// The identity service (Keystone v3): the auth URL when it ends in `/v3`, else the
    /// catalog's `identity` endpoint.
    public func identityV3(interface: Interface? = nil, endpoint: String? = nil) -> IdentityServiceV3 {
        let v3 = authURL.flatMap { url in
            let trimmed = url.hasSuffix("/") ? String(url.dropLast()) : url
            return trimmed.hasSuffix("/v3") ? trimmed : nil
        }
        return IdentityServiceV3(
            transport: transport,
            endpoint: ServiceEndpoint(
                type: "identity", name: nil, region: region, interface: interface ?? self.interface,
                override: endpoint ?? v3, tokens: tokens))
    }
}
