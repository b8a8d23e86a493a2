import GlimpseBlobStores
import GlimpseCore
import GlimpseIdentity
import GlimpseSQLite
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import UnixSignals

/// The assembled server: stores, services and the HTTP application, wired from a
/// `ServerConfig`.
public final class GlimpseServer: Sendable {
    public let config: ServerConfig
    public let logger: Logger
    public let store: SQLiteMetadataStore
    public let blobs: LocalBlobStore
    public let images: ImageService
    public let keystone: KeystoneService
    public let metadefs: MetadefService

    /// Opens (creating if needed) the data directory's database and image folder.
    public init(config: ServerConfig, logger: Logger) throws {
        self.config = config
        self.logger = logger
        try LocalBlobStore.makeDirectory(config.dataDir)
        store = try SQLiteMetadataStore(path: config.databasePath)
        blobs = try LocalBlobStore(root: config.imagesPath, pool: Self.ioPool)
        images = ImageService(store: store, blobs: blobs, config: config.image, logger: logger)
        keystone = KeystoneService(store: store, config: config.identity, logger: logger)
        metadefs = MetadefService(store: store)
    }

    /// Threads for blocking file I/O of image data, kept apart from the CPU-bound work
    /// (password hashing) on NIO's default pool so neither starves the other.
    static let ioPool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: max(4, System.coreCount * 2))
        pool.start()
        return pool
    }()

    /// What the first start of a data directory created.
    public struct Bootstrap: Sendable {
        /// The admin password, when the admin user was created by this start.
        public let adminPassword: String
        /// Whether the password was generated (it must be shown to the operator once).
        public let generated: Bool
    }

    /// Ensures the built-in identity has its admin user, project and roles, and puts images
    /// whose upload a crash interrupted back to `queued`. Returns the admin credentials if
    /// this start created the admin user.
    public func prepare() async throws -> Bootstrap? {
        let generated = config.adminPassword == nil
        let password = config.adminPassword ?? Identifiers.randomHex(bytes: 12)
        let created = try await keystone.bootstrap(adminPassword: password)
        try await metadefs.seed()
        let recovered = try await store.recoverInterruptedUploads()
        if recovered > 0 { logger.notice("interrupted uploads reset to queued", metadata: ["images": "\(recovered)"]) }
        return created ? Bootstrap(adminPassword: password, generated: generated) : nil
    }

    /// The HTTP application. `onRunning` receives the bound port.
    public func makeApplication(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol & Service {
        let responder = GlimpseResponder(
            imageAPI: ImageAPI(images: images, metadefs: metadefs, validator: keystone),
            identityAPI: IdentityAPI(keystone: keystone, catalog: Catalog(region: config.region)),
            computeAPI: ComputeAPI(images: images, validator: keystone),
            publicURL: config.publicURL,
            defaultBaseURL: "http://\(config.host):\(config.port)")
        return Application(
            responder: responder,
            configuration: ApplicationConfiguration(address: .hostname(config.host, port: config.port), serverName: "glimpse"),
            services: [
                PeriodicJob(name: "token-purge", every: .seconds(3600), logger: logger) { [keystone] in
                    _ = try await keystone.purgeExpiredTokens()
                },
                PeriodicJob(name: "deleted-image-purge", every: .seconds(3600), logger: logger) { [images, config] in
                    try await images.purgeDeleted(before: Timestamp.now().adding(seconds: -config.image.deletedImageRetention))
                },
            ],
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
    }

    /// Serves until SIGINT or SIGTERM, then finishes the requests in flight and stops.
    public func run(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let app = makeApplication(onRunning: onRunning)
        let group = ServiceGroup(configuration: .init(
            services: [app], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

/// Runs a job at a fixed interval until the service group shuts down.
struct PeriodicJob: Service {
    let name: String
    let every: Duration
    let logger: Logger
    let job: @Sendable () async throws -> Void

    init(name: String, every: Duration, logger: Logger, job: @escaping @Sendable () async throws -> Void) {
        self.name = name
        self.every = every
        self.logger = logger
        self.job = job
    }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await job()
                } catch {
                    logger.warning("background job failed", metadata: ["job": "\(name)", "error": "\(error)"])
                }
                try? await Task.sleep(for: every)
            }
        }
    }
}
