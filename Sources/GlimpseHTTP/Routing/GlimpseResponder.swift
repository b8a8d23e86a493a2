import GlimpseCore
import GlimpseIdentity
import Hummingbird
import Metrics

/// What the HTTP layer serves, and with what.
public struct APIConfiguration: Sendable {
    public var images: ImageService
    public var metadefs: MetadefService
    /// Turns `X-Auth-Token` into the caller.
    public var tokens: any TokenValidator
    /// The built-in identity, served under `/identity` when the deployment uses it.
    public var keystone: KeystoneService?
    /// The cloud's Keystone, when it issues the tokens (401s name it).
    public var identityURL: String?
    /// The region the catalog names.
    public var region: String
    /// The URL clients reach the server at, when not the `Host` they used (behind a proxy).
    public var publicURL: String?
    /// Used for links when a request names no usable host.
    public var defaultBaseURL: String
    /// Where request metrics go; none are recorded when nil.
    public var metrics: (any MetricsFactory)?
    /// What `/healthcheck` probes.
    public var health: HealthChecks
    /// The cloud's catalogs, read with callers' tokens (`glance-download`); nil with the
    /// built-in identity.
    public var catalog: (any ServiceCatalogReader)?

    public init(
        images: ImageService, metadefs: MetadefService, tokens: any TokenValidator, keystone: KeystoneService?,
        identityURL: String? = nil, region: String, publicURL: String?, defaultBaseURL: String,
        metrics: (any MetricsFactory)?, health: HealthChecks = HealthChecks([]),
        catalog: (any ServiceCatalogReader)? = nil
    ) {
        self.catalog = catalog
        self.identityURL = identityURL
        self.health = health
        self.images = images
        self.metadefs = metadefs
        self.tokens = tokens
        self.keystone = keystone
        self.region = region
        self.publicURL = publicURL
        self.defaultBaseURL = defaultBaseURL
        self.metrics = metrics
    }
}

/// The server's responder: the front middleware (request id and access log, metrics, error
/// formatting, version negotiation), then the router with each API's routes.
public struct GlimpseResponder: HTTPResponder {
    public typealias Context = GlimpseRequestContext
    let chain: any HTTPResponder<Context>

    public init(_ configuration: APIConfiguration) {
        let router = Router(context: Context.self)
        ImageRoutes(
            images: configuration.images, metadefs: configuration.metadefs, validator: configuration.tokens,
            health: configuration.health, catalog: configuration.catalog, region: configuration.region
        ).add(to: router)
        if let keystone = configuration.keystone {
            IdentityRoutes(keystone: keystone, catalog: Catalog(region: configuration.region)).add(to: router)
        }
        ComputeRoutes(images: configuration.images, validator: configuration.tokens).add(to: router)
        OpenAPIRoutes().add(to: router)

        var front: [any MiddlewareProtocol<Request, Response, Context>] = [
            RequestLogMiddleware(publicURL: configuration.publicURL, defaultBaseURL: configuration.defaultBaseURL)
        ]
        if let metrics = configuration.metrics { front.append(MetricsMiddleware(factory: metrics)) }
        front += [
            ErrorMiddleware(identityURL: configuration.identityURL),
            VersionMiddleware(
                cache: configuration.images.cache != nil, locations: configuration.images.blobs.http != nil),
        ]
        var chain: any HTTPResponder<Context> = router.buildResponder()
        for middleware in front.reversed() { chain = Wrapped(middleware: middleware, next: chain) }
        self.chain = chain
    }

    /// One middleware in front of a responder.
    struct Wrapped: HTTPResponder {
        let middleware: any MiddlewareProtocol<Request, Response, Context>
        let next: any HTTPResponder<Context>

        func respond(to request: Request, context: Context) async throws -> Response {
            try await middleware.handle(request, context: context) { try await next.respond(to: $0, context: $1) }
        }
    }

    public func respond(to request: Request, context: Context) async throws -> Response {
        try await chain.respond(to: request, context: context)
    }
}
