import GlimpseCore
import GlimpseHTTP
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import Metrics
import NIOSSL
import Prometheus

/// The Glimpse server: the HTTP application over `components`, with the metadata schema
/// brought up to date and the built-in identity bootstrapped before it starts listening,
/// and the components' background work (and their release at shutdown) as its services.
/// - Parameter onServerRunning: receives the port the server listens on.
public func buildApplication(
    _ components: Components, onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) -> some ApplicationProtocol {
    let config = components.config
    var metricsServer: (any ApplicationProtocol)?
    var metrics: (any MetricsFactory)?
    if config.metricsPort > 0 {
        let registry = PrometheusCollectorRegistry()
        metrics = PrometheusMetricsFactory(registry: registry)
        metricsServer = metricsApplication(
            registry, host: config.host, port: config.metricsPort, logger: components.logger)
    }
    let responder = GlimpseResponder(
        APIConfiguration(
            images: components.images, metadefs: components.metadefs, tokens: components.tokens,
            keystone: components.keystone, identityURL: config.identityMode == .keystone ? config.keystone.url : nil,
            region: config.region, publicURL: config.publicURL,
            defaultBaseURL: (config.tlsCertificateFile == nil ? "http://" : "https://")
                + "\(config.host):\(config.port)",
            metrics: metrics, health: components.health, catalog: components.tokens as? any ServiceCatalogReader))
    var app = Application(
        responder: responder,
        server: httpServer(config, logger: components.logger),
        configuration: ApplicationConfiguration(
            address: .hostname(config.host, port: config.port), serverName: "glimpse"),
        onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
        logger: components.logger)
    app.beforeServerStarts { try await components.prepare() }
    app.addServices(components.services)
    if let metricsServer { app.addServices(metricsServer) }
    return app
}

/// Opens the components `config` names, exclusively, and builds the server over them.
public func buildApplication(
    _ config: ServerConfig, logger: Logger, onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) throws -> some ApplicationProtocol {
    buildApplication(try Components(config, logger: logger, exclusive: true), onServerRunning: onServerRunning)
}

/// HTTP/1.1, over TLS when a certificate is configured, with the connection policy: clients
/// that stall are disconnected and connections past the cap refused.
func httpServer(_ config: ServerConfig, logger: Logger) -> HTTPServerBuilder {
    let policy = config.connectionPolicy
    let counter = ConnectionCounter(limit: policy.maxConnections)
    return HTTPServerBuilder { responder -> any ServerChildChannel in
        guard let certificate = config.tlsCertificateFile, let key = config.tlsKeyFile else {
            return GuardedHTTP1Channel(
                responder: responder, policy: policy, counter: counter, sendsFiles: true, logger: logger)
        }
        let http = GuardedHTTP1Channel(
            responder: responder, policy: policy, counter: counter, sendsFiles: false, logger: logger)
        let tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
        return try TLSChannel(http, tlsConfiguration: tls)
    }
}

/// `GET /metrics` in Prometheus's text format, on a port of its own.
func metricsApplication(
    _ registry: PrometheusCollectorRegistry, host: String, port: Int, logger: Logger
) -> some ApplicationProtocol {
    let router = Router()
    router.get("/metrics") { _, _ -> Response in
        Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
    }
    return Application(
        router: router, configuration: ApplicationConfiguration(address: .hostname(host, port: port)), logger: logger)
}
