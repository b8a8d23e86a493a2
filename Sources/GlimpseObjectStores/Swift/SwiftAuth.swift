import AsyncHTTPClient
import Logging
import NIOCore
import NIOHTTP1
import OpenStack
import Synchronization

/// How a Swift store signs in.
public enum SwiftAuth: Sendable, Equatable {
    /// Swift's own v1.0 auth (tempauth, swauth): `GET url` with `X-Auth-User` and
    /// `X-Auth-Key` answers a token and the account's storage URL.
    case v1(url: String, user: String, key: String)
    /// Keystone v3, as a user of a project; the account is the catalog's `object-store`
    /// endpoint.
    case keystone(KeystoneAccount)

    /// A Keystone user and project, and which catalog endpoint to use.
    public struct KeystoneAccount: Sendable, Equatable {
        public var url: String
        public var user: String
        public var password: String
        public var project: String
        public var userDomain = "Default"
        public var projectDomain = "Default"
        public var region: String?
        public var interface: Interface = .public

        public init(url: String, user: String, password: String, project: String) {
            self.url = url
            self.user = user
            self.password = password
            self.project = project
        }
    }
}

/// The token a Swift store sends and the account URL its requests go to.
struct SwiftAccount: Sendable, Equatable {
    let token: String
    let storageURL: String
}

/// Signs a Swift store in and keeps its token: callers share one sign-in, and a token the
/// store refused is replaced on the next call.
final class SwiftSession: Sendable {
    private enum Source {
        case v1(url: String, user: String, key: String)
        case keystone(OpenStack, SwiftAuth.KeystoneAccount)
    }

    private struct Cache {
        var account: SwiftAccount?
        /// When the v1 token expires (its `X-Auth-Token-Expires`), in seconds of the clock.
        var expiresAt: ContinuousClock.Instant?
        var signingIn: Task<SwiftAccount, any Error>?
    }

    private let source: Source
    private let client: HTTPClient
    /// An account URL to use instead of the one the sign-in answers.
    private let storageURL: String?
    private let cache = Mutex(Cache())

    init(_ auth: SwiftAuth, storageURL: String?, client: HTTPClient, logger: Logger) throws {
        switch auth {
        case .v1(let url, let user, let key):
            source = .v1(url: url, user: user, key: key)
        case .keystone(let k):
            let cloud = try OpenStack(
                authURL: k.url, region: k.region,
                user: .name(k.user, domain: .name(k.userDomain), password: k.password),
                scope: .project(name: k.project, domain: .name(k.projectDomain)), interface: k.interface,
                httpClient: client, retry: RetryPolicy(maxAttempts: 2), logger: logger)
            source = .keystone(cloud, k)
        }
        self.client = client
        self.storageURL = storageURL
    }

    /// The current account; a new sign-in if there is none yet, if it expires within a
    /// minute, or if its token is `refused`.
    func account(refused: String? = nil) async throws -> SwiftAccount {
        switch source {
        case .keystone(let cloud, let k):
            if let refused { await cloud.invalidate(token: refused) }
            let token = try await cloud.token(minValidity: .seconds(300))
            let url =
                try storageURL ?? token.catalog.url(type: "object-store", region: k.region, interface: k.interface)
            return SwiftAccount(token: token.value, storageURL: url)
        case .v1(let url, let user, let key):
            let now = ContinuousClock.now
            let task = cache.withLock { c -> Task<SwiftAccount, any Error> in
                if let account = c.account, account.token != refused,
                    c.expiresAt.map({ now.advanced(by: .seconds(60)) < $0 }) ?? true
                {
                    return Task { account }
                }
                if let signingIn = c.signingIn { return signingIn }
                c.account = nil
                let task = Task { try await self.signInV1(url: url, user: user, key: key) }
                c.signingIn = task
                return task
            }
            return try await task.value
        }
    }

    private func signInV1(url: String, user: String, key: String) async throws -> SwiftAccount {
        let started = ContinuousClock.now
        do {
            var request = HTTPClientRequest(url: url)
            request.headers.add(name: "X-Auth-User", value: user)
            request.headers.add(name: "X-Auth-Key", value: key)
            let response = try await client.execute(request, timeout: .seconds(30))
            guard (200..<300).contains(response.status.code) else {
                let text = await ObjectHTTP.errorText(response)
                throw ObjectStoreError(
                    store: "swift", request: "GET \(url)", status: Int(response.status.code),
                    message: "sign-in refused: \(text)")
            }
            _ = try? await ObjectHTTP.collect(response, limit: 1 << 16)
            guard let token = response.headers.first(name: "X-Auth-Token"),
                let storage = storageURL ?? response.headers.first(name: "X-Storage-Url")
            else {
                throw ObjectStoreError(
                    store: "swift", request: "GET \(url)", status: Int(response.status.code),
                    message: "the sign-in answered no X-Auth-Token or X-Storage-Url")
            }
            let lifetime = response.headers.first(name: "X-Auth-Token-Expires").flatMap { Int64($0) }
            let account = SwiftAccount(token: token, storageURL: storage)
            cache.withLock { c in
                c.account = account
                c.expiresAt = lifetime.map { started.advanced(by: .seconds($0)) }
                c.signingIn = nil
            }
            return account
        } catch {
            cache.withLock { $0.signingIn = nil }
            throw error
        }
    }
}
