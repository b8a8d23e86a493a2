import AsyncHTTPClient
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL
@_exported import OpenStackJSON

/// A connection to an OpenStack cloud: credentials, the token they buy and the service
/// catalog. Services are reached through ``imagesV2(region:interface:endpoint:)`` and
/// ``computeV2(region:interface:endpoint:)``.
///
/// ```swift
/// let openstack = try OpenStack(
///     authURL: "https://keystone.example.com/v3", region: "RegionOne",
///     user: .name("demo", domain: .default, password: "secret"),
///     scope: .project(name: "demo", domain: .default))
/// let images = openstack.imagesV2()
/// for try await image in images.listImages(ImageFilter(status: .equals("active"))) { print(image.name ?? image.id) }
/// ```
public final class OpenStack: Sendable {
    public let authURL: String?
    public let region: String?
    public let interface: Interface
    let tokens: TokenManager?
    let transport: Transport
    let logger: Logger

    /// Connects with credentials; nothing is sent until the first call.
    /// - Parameters:
    ///   - authURL: the identity endpoint (`…/v3`, `…/v2.0`, or unversioned to discover).
    ///   - region: the region whose endpoints to use (any region if nil).
    ///   - user: password, token or application credential.
    ///   - scope: the project to work in.
    ///   - interface: which endpoints to use (`public` unless running inside the cloud).
    ///   - httpClient: the HTTP client (a shared one by default).
    ///   - retry: retries of failed idempotent calls.
    public init(
        authURL: String, region: String? = nil, user: UserCredential, scope: Scope = .unscoped,
        interface: Interface = .public, httpClient: HTTPClient = OpenStack.defaultHTTPClient,
        retry: RetryPolicy = .default, logger: Logger = Logger(label: "openstack")
    ) throws {
        guard authURL.hasPrefix("http://") || authURL.hasPrefix("https://") else {
            throw OpenStackError(.configuration, "the auth URL must start with http:// or https:// (got '\(authURL)')")
        }
        self.authURL = authURL
        self.region = region
        self.interface = interface
        self.logger = logger
        let tokens = TokenManager(authURL: authURL, credential: user, scope: scope, client: httpClient, logger: logger)
        self.tokens = tokens
        self.transport = Transport(client: httpClient, tokens: tokens, retry: retry, logger: logger)
    }

    /// Connects from a `clouds.yaml` entry (`OS_CLOUD`), or from `OS_*` environment variables,
    /// as the `openstack` CLI does. Without an `httpClient`, the entry's `cacert` and `verify`
    /// choose the HTTPS trust.
    public convenience init(
        cloud: String? = nil, environment: [String: String] = CloudConfig.processEnvironment,
        httpClient: HTTPClient? = nil, logger: Logger = Logger(label: "openstack")
    ) throws {
        let config = try CloudConfig.resolve(cloud: cloud, environment: environment)
        try self.init(
            authURL: config.authURL, region: config.region, user: config.user, scope: config.scope,
            interface: config.interface,
            httpClient: try httpClient
                ?? Self.httpClient(caCertificateFile: config.caCertificateFile, verify: config.verifyCertificates),
            logger: logger)
    }

    /// The shared client for a choice of HTTPS trust: `defaultHTTPClient` for the system's
    /// authorities, otherwise one client per choice, kept for the process's life.
    public static func httpClient(caCertificateFile: String?, verify: Bool) throws -> HTTPClient {
        if caCertificateFile == nil, verify { return defaultHTTPClient }
        let key = "\(verify) \(caCertificateFile ?? "")"
        return try trustClients.withLockedValue { clients in
            if let client = clients[key] { return client }
            var tls = TLSConfiguration.makeClientConfiguration()
            if let caCertificateFile {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caCertificateFile))
            }
            if !verify { tls.certificateVerification = .none }
            var config = defaultConfiguration
            config.tlsConfiguration = tls
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
            clients[key] = client
            return client
        }
    }

    private static let trustClients = NIOLockedValueBox<[String: HTTPClient]>([:])

    /// The HTTP client shared by connections that do not bring their own: idle timeouts
    /// rather than overall deadlines, so long transfers are not cut short. A connection that
    /// cannot be made fails at once (the transport's retry policy decides about retrying)
    /// rather than after the connect timeout.
    public static let defaultHTTPClient = HTTPClient(
        eventLoopGroupProvider: .singleton, configuration: defaultConfiguration)

    static var defaultConfiguration: HTTPClient.Configuration {
        var config = HTTPClient.Configuration()
        config.timeout = .init(connect: .seconds(30), read: .seconds(300), write: .seconds(300))
        config.connectionPool.retryConnectionEstablishment = false
        config.decompression = .disabled
        return config
    }

    /// A token valid for at least `minValidity` (fetched or renewed as needed; concurrent
    /// callers share one request).
    public func token(minValidity: Duration = .seconds(120)) async throws -> Token {
        guard let tokens else { throw OpenStackError(.configuration, "no credentials") }
        return try await tokens.token(minValidity: minValidity)
    }

    /// Forgets a token a service refused, so that the next `token()` authenticates again.
    public func invalidate(token value: String) async {
        await tokens?.invalidate(value)
    }

    /// The image service (Glance v2).
    /// - Parameters:
    ///   - region: overrides the connection's region.
    ///   - interface: overrides the connection's interface.
    ///   - endpoint: use this URL instead of the catalog's.
    ///   - name: the catalog name to require (any name by default).
    public func imagesV2(
        region: String? = nil, interface: Interface? = nil, endpoint: String? = nil, name: String? = nil
    ) -> ImageServiceV2 {
        ImageServiceV2(
            transport: transport,
            endpoint: ServiceEndpoint(
                type: "image", name: name, region: region ?? self.region, interface: interface ?? self.interface,
                override: endpoint, tokens: tokens))
    }

    /// The compute service's images API (Nova `/images`).
    public func computeV2(
        region: String? = nil, interface: Interface? = nil, endpoint: String? = nil, name: String? = nil
    ) -> ComputeServiceV2 {
        ComputeServiceV2(
            transport: transport,
            endpoint: ServiceEndpoint(
                type: "compute", name: name, region: region ?? self.region, interface: interface ?? self.interface,
                override: endpoint, tokens: tokens))
    }
}
