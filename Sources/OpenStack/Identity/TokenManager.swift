import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import OpenStackJSON

/// A Keystone token and what came with it.
public struct Token: Sendable, Hashable {
    public let value: String
    public let expiresAt: Date
    public let userId: String
    public let userName: String?
    public let userDomainId: String?
    public let projectId: String?
    public let projectName: String?
    public let projectDomainId: String?
    /// Role names.
    public let roles: [String]
    public let catalog: ServiceCatalog

    /// A v3 token document (`{"token": {…}}`'s inner object) for the token `value`.
    init(v3 t: JSONValue?, value: String, requestID: String?) throws {
        guard let expires = t?["expires_at"]?.stringValue.flatMap(parseDate),
            let userId = t?["user"]?["id"]?.stringValue
        else {
            throw OpenStackError(.invalidResponse, "the token response lacks expires_at or user", requestID: requestID)
        }
        self.value = value
        expiresAt = expires
        self.userId = userId
        userName = t?["user"]?["name"]?.stringValue
        userDomainId = t?["user"]?["domain"]?["id"]?.stringValue
        projectId = t?["project"]?["id"]?.stringValue
        projectName = t?["project"]?["name"]?.stringValue
        projectDomainId = t?["project"]?["domain"]?["id"]?.stringValue
        roles = t?["roles"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
        catalog = ServiceCatalog.v3(t?["catalog"])
    }

    init(
        value: String, expiresAt: Date, userId: String, userName: String?, projectId: String?, projectName: String?,
        roles: [String], catalog: ServiceCatalog
    ) {
        self.value = value
        self.expiresAt = expiresAt
        self.userId = userId
        self.userName = userName
        userDomainId = nil
        self.projectId = projectId
        self.projectName = projectName
        projectDomainId = nil
        self.roles = roles
        self.catalog = catalog
    }
}

/// Which Keystone API an auth URL speaks.
enum IdentityVersion: Sendable {
    case v3(base: String)
    case v2(base: String)
}

/// Gets tokens and keeps one valid, as soto's `ExpiringValue` keeps credentials: concurrent
/// callers share one request; a token close to its expiry (`refreshAhead`) is renewed in the
/// background while callers go on using it; only a token that would not last `minValidity`
/// makes a caller wait for the new one.
actor TokenManager {
    let authURL: String
    let credential: UserCredential
    let scope: Scope
    let client: HTTPClient
    let logger: Logger
    /// How long before its expiry a token is renewed in the background.
    let refreshAhead: Duration
    private var current: Token?
    private var renewal: Task<Token, any Error>?
    private var version: IdentityVersion?

    init(
        authURL: String, credential: UserCredential, scope: Scope, client: HTTPClient, logger: Logger,
        refreshAhead: Duration = .seconds(600)
    ) {
        self.authURL = authURL.hasSuffix("/") ? String(authURL.dropLast()) : authURL
        self.credential = credential
        self.scope = scope
        self.client = client
        self.logger = logger
        self.refreshAhead = refreshAhead
    }

    /// A token valid for at least `minValidity`.
    func token(minValidity: Duration = .seconds(120)) async throws -> Token {
        if let current {
            let left = current.expiresAt.timeIntervalSinceNow
            if left > Self.seconds(minValidity) {
                if left < Self.seconds(refreshAhead) { _ = startRenewal() }
                return current
            }
        }
        return try await startRenewal().value
    }

    /// The renewal in progress, or a new one.
    private func startRenewal() -> Task<Token, any Error> {
        if let renewal { return renewal }
        let task = Task { try await self.authenticate() }
        renewal = task
        Task {
            let result = await task.result
            self.finished(task, result)
        }
        return task
    }

    private func finished(_ task: Task<Token, any Error>, _ result: Result<Token, any Error>) {
        if case .success(let token) = result { current = token }
        if renewal == task { renewal = nil }
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    /// Forgets a token the server refused, so the next call authenticates again.
    func invalidate(_ value: String) {
        if current?.value == value { current = nil }
    }

    private func authenticate() async throws -> Token {
        let version = try await identityVersion()
        switch version {
        case .v3(let base): return try await authenticateV3(base)
        case .v2(let base): return try await authenticateV2(base)
        }
    }

    /// `…/v3` and `…/v2.0` are taken as given; anything else is asked (`GET`) which
    /// versions it offers, v3 first.
    private func identityVersion() async throws -> IdentityVersion {
        if let version { return version }
        var found: IdentityVersion
        if authURL.hasSuffix("/v3") {
            found = .v3(base: authURL)
        } else if authURL.hasSuffix("/v2.0") {
            found = .v2(base: authURL)
        } else {
            let r = try await call(.GET, authURL, body: nil, expected: [200, 300])
            let doc = try r.json()
            let values = doc["versions"]?["values"]?.arrayValue ?? doc["versions"]?.arrayValue ?? []
            func href(_ prefix: String) -> String? {
                guard let v = values.first(where: { $0["id"]?.stringValue?.hasPrefix(prefix) == true }) else {
                    return nil
                }
                let link = v["links"]?.arrayValue?.first { $0["rel"] == "self" }?["href"]?.stringValue
                return link.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
            }
            if let v3 = href("v3") {
                found = .v3(base: v3)
            } else if let v2 = href("v2.0") {
                found = .v2(base: v2)
            } else {
                throw OpenStackError(.configuration, "\(authURL) offers neither identity v3 nor v2.0")
            }
        }
        version = found
        return found
    }

    static func domain(_ d: Domain) -> JSONValue {
        switch d {
        case .id(let id): ["id": .string(id)]
        case .name(let name): ["name": .string(name)]
        }
    }

    private func authenticateV3(_ base: String) async throws -> Token {
        var identity: JSONObject
        switch credential {
        case .id(let id, let password):
            identity = [
                "methods": ["password"], "password": ["user": ["id": .string(id), "password": .string(password)]],
            ]
        case .name(let name, let domain, let password):
            identity = [
                "methods": ["password"],
                "password": [
                    "user": [
                        "name": .string(name), "domain": Self.domain(domain), "password": .string(password),
                    ]
                ],
            ]
        case .token(let token):
            identity = ["methods": ["token"], "token": ["id": .string(token)]]
        case .applicationCredential(let id, let secret):
            identity = [
                "methods": ["application_credential"],
                "application_credential": ["id": .string(id), "secret": .string(secret)],
            ]
        case .applicationCredentialName(let name, let user, let domain, let secret):
            identity = [
                "methods": ["application_credential"],
                "application_credential": [
                    "name": .string(name), "secret": .string(secret),
                    "user": ["name": .string(user), "domain": Self.domain(domain)],
                ],
            ]
        }
        var auth: JSONObject = ["identity": .object(identity)]
        switch scope.kind {
        case .projectId(let id): auth["scope"] = ["project": ["id": .string(id)]]
        case .projectName(let name, let domain):
            auth["scope"] = ["project": ["name": .string(name), "domain": Self.domain(domain)]]
        case .unscoped: break
        }
        let r = try await call(.POST, base + "/auth/tokens", body: ["auth": .object(auth)], expected: [201, 200])
        guard let value = r.headers.first(name: "X-Subject-Token") else {
            throw OpenStackError(
                .invalidResponse, "the token response has no X-Subject-Token header", requestID: r.requestID)
        }
        let token = try Token(v3: try r.json()["token"], value: value, requestID: r.requestID)
        logger.debug("authenticated", metadata: ["user_id": "\(token.userId)", "expires_at": "\(token.expiresAt)"])
        return token
    }

    private func authenticateV2(_ base: String) async throws -> Token {
        var auth: JSONObject
        switch credential {
        case .id(let id, let password):
            auth = ["passwordCredentials": ["userId": .string(id), "password": .string(password)]]
        case .name(let name, _, let password):
            auth = ["passwordCredentials": ["username": .string(name), "password": .string(password)]]
        case .token(let token): auth = ["token": ["id": .string(token)]]
        case .applicationCredential, .applicationCredentialName:
            throw OpenStackError(.configuration, "application credentials need identity v3")
        }
        switch scope.kind {
        case .projectId(let id): auth["tenantId"] = .string(id)
        case .projectName(let name, _): auth["tenantName"] = .string(name)
        case .unscoped: break
        }
        let r = try await call(.POST, base + "/tokens", body: ["auth": .object(auth)], expected: [200, 201])
        let access = try r.json()["access"]
        guard let value = access?["token"]?["id"]?.stringValue,
            let expires = access?["token"]?["expires"]?.stringValue.flatMap(parseDate),
            let userId = access?["user"]?["id"]?.stringValue
        else { throw OpenStackError(.invalidResponse, "the v2.0 token response is incomplete", requestID: r.requestID) }
        return Token(
            value: value, expiresAt: expires, userId: userId, userName: access?["user"]?["name"]?.stringValue,
            projectId: access?["token"]?["tenant"]?["id"]?.stringValue,
            projectName: access?["token"]?["tenant"]?["name"]?.stringValue,
            roles: access?["user"]?["roles"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? [],
            catalog: ServiceCatalog.v2(access?["serviceCatalog"]))
    }

    private func call(
        _ method: HTTPMethod, _ url: String, body: JSONValue?, expected: Set<Int>
    ) async throws -> ServiceResponse {
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers.add(name: "Accept", value: "application/json")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body.serialized()))
        }
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: .seconds(60), logger: logger)
        } catch {
            throw OpenStackError(
                .transport, Transport.describe(error), method: method.rawValue, url: url, retryAfter: nil,
                connectionFailed: Transport.isConnectionError(error))
        }
        let bytes = Array(try await response.body.collect(upTo: 32 << 20).readableBytesView)
        let status = Int(response.status.code)
        guard expected.contains(status) else {
            throw Transport.httpError(
                status: status, headers: response.headers, body: bytes, method: method.rawValue, url: url)
        }
        return ServiceResponse(status: status, headers: response.headers, body: bytes)
    }
}
