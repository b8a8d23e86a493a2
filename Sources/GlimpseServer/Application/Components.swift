import GlimpseBlobStores
import GlimpseCore
import GlimpseIdentity
import GlimpseMemoryStores
import GlimpseSQLite
import Logging
import NIOCore
import NIOPosix
import OpenStackEncoding
import ServiceLifecycle
import Synchronization

/// The stores and services of one Glimpse process, chosen from configuration: the metadata
/// store, the image data stores by id, the built-in identity (the token validator), the image
/// and metadata-definition services, the thread pools they run on and the background jobs.
///
/// `glimpse serve` opens them exclusively (a second server on the same data directory is
/// refused); `glimpse admin` opens them beside a running server. Opening changes nothing in
/// the stores: schema migrations and the bootstrap run in `prepare()`.
public final class Components: Sendable {
    public let config: ServerConfig
    public let logger: Logger
    public let metadata: any MetadataStore & IdentityStore
    public let blobs: BlobStores
    public let images: ImageService
    public let metadefs: MetadefService
    public let keystone: KeystoneService
    /// Turns a token into the caller.
    public var tokens: any TokenValidator { keystone }
    let pools: Pools
    let lock: DataDirectoryLock?
    private let created = Mutex<Bootstrap?>(nil)

    /// The thread pools for work that would block Swift's cooperative threads.
    struct Pools {
        /// Blocking file I/O of image data.
        let io = NIOThreadPool(numberOfThreads: max(4, System.coreCount * 2))
        /// Hashing of image data and passwords: CPU-bound work that takes milliseconds.
        let cpu = NIOThreadPool(numberOfThreads: max(2, System.coreCount))

        func start() {
            io.start()
            cpu.start()
        }

        func shutdown() async throws {
            try await io.shutdownGracefully()
            try await cpu.shutdownGracefully()
        }
    }

    /// Opens the stores `config` names.
    /// - Parameter exclusive: hold the data directory's lock (`glimpse serve`), so that a
    ///   second server on it is refused with a clear message.
    public init(_ config: ServerConfig, logger: Logger, exclusive: Bool) throws {
        self.config = config
        self.logger = logger
        var lock: DataDirectoryLock?
        if config.metadataBackend == .sqlite || config.enabledBackends.contains(where: { $0.type == "file" }) {
            try LocalBlobStore.makeDirectory(config.dataDir)
            if exclusive { lock = try DataDirectoryLock(directory: config.dataDir) }
        }
        self.lock = lock
        let pools = Pools()
        self.pools = pools
        do {
            // The blob stores first: they start no threads, so nothing is left running if one
            // of them, or the metadata store after them, cannot open.
            blobs = try BlobStores(
                try config.enabledBackends.map { try Self.blobStore($0.id, $0.type, config, pools) },
                defaultId: config.defaultBackend)
            metadata =
                switch config.metadataBackend {
                case .sqlite: try SQLiteMetadataStore(path: config.databasePath)
                case .memory: MemoryMetadataStore()
                }
        } catch {
            lock?.release()
            throw error
        }
        // The threads start once the stores are open, so that a failed open leaves none behind.
        pools.start()
        images = ImageService(
            store: metadata, blobs: blobs, config: config.image, clock: config.clock, hashing: pools.cpu,
            logger: logger)
        keystone = KeystoneService(
            store: metadata, config: config.identity, clock: config.clock, hashing: pools.cpu,
            logger: logger)
        metadefs = MetadefService(store: metadata)
    }

    /// One image data store of `enabled_backends`, with its options.
    static func blobStore(_ id: String, _ type: String, _ config: ServerConfig, _ pools: Pools) throws -> any BlobStore
    {
        var options = config.storeOptions[id] ?? [:]
        func take(_ key: String) -> String? { options.removeValue(forKey: key) }
        let store: any BlobStore
        switch type {
        case "file":
            let path = take("path") ?? (id == "local" ? config.imagesPath : config.dataDir + "/stores/" + id)
            let directIO = try take("direct_io").map { try ServerConfig.bool("\(id).direct_io", $0) } ?? true
            store = try LocalBlobStore(root: path, id: id, pool: pools.io, directIO: directIO)
        case "memory":
            store = MemoryBlobStore(id: id)
        default:
            throw ServerConfig.ConfigError(
                description: "image store '\(id)': unknown type '\(type)' (known: file, memory)")
        }
        if let unknown = options.keys.sorted().first {
            throw ServerConfig.ConfigError(description: "image store '\(id)': unknown option '\(unknown)'")
        }
        return store
    }

    /// What the first start of a deployment created.
    public struct Bootstrap: Sendable {
        /// The admin password, when the admin user was created by this start.
        public let adminPassword: String
        /// Whether the password was generated (it must be shown to the operator once).
        public let generated: Bool
    }

    /// Brings the metadata schema up to date, and makes sure the built-in identity has its
    /// admin user, project and roles and the metadata definitions their resource types.
    /// Safe to run while other processes use the stores. Returns the admin's credentials if
    /// this run created the admin user.
    @discardableResult
    public func prepare() async throws -> Bootstrap? {
        try await metadata.migrate()
        let generated = config.adminPassword == nil
        let password = config.adminPassword ?? Identifiers.randomHex(bytes: 12)
        let createdAdmin = try await keystone.bootstrap(adminPassword: password)
        try await metadefs.seed()
        let bootstrap = createdAdmin ? Bootstrap(adminPassword: password, generated: generated) : nil
        if let bootstrap { created.withLock { $0 = bootstrap } }
        return bootstrap
    }

    /// The admin credentials `prepare()` created, if it did.
    public var createdAdmin: Bootstrap? { created.withLock { $0 } }

    /// The background work of a server: purging expired tokens and old tombstones, undoing
    /// uploads whose process died, sweeping orphaned data; and, last to stop, the release of
    /// the stores and threads once everything else has stopped.
    public var services: [any Service] {
        let (images, keystone, config) = (self.images, self.keystone, self.config)
        let leaseCheck = Duration.seconds(max(1, config.image.uploadLeaseSeconds / 2))
        // The jobs start once the server is prepared (a new database has its schema by then).
        return [
            Closing(components: self),
            PeriodicJob(name: "token-purge", every: .seconds(3600), after: .seconds(60), logger: logger) {
                _ = try await keystone.purgeExpiredTokens()
            },
            PeriodicJob(name: "deleted-image-purge", every: .seconds(3600), after: .seconds(60), logger: logger) {
                try await images.purgeDeleted()
            },
            PeriodicJob(name: "abandoned-upload-reclaim", every: leaseCheck, after: leaseCheck, logger: logger) {
                try await images.reclaimAbandonedUploads()
            },
            PeriodicJob(name: "orphan-sweep", every: .seconds(86_400), after: .seconds(3600), logger: logger) {
                try await images.sweepOrphans()
            },
        ]
    }

    /// Opens the stores beside whatever else uses them (a running server included) and
    /// brings the schema up to date: what `glimpse admin` commands work on.
    public static func forMaintenance(_ config: ServerConfig, logger: Logger) async throws -> Components {
        let components = try Components(config, logger: logger, exclusive: false)
        do {
            try await components.metadata.migrate()
        } catch {
            try? await components.close()
            throw error
        }
        return components
    }

    /// What a purge removed.
    public struct PurgeReport: Sendable, Equatable {
        public var tombstones: Int
        public var abandonedUploads: Int
        public var orphans: Int
    }

    /// `glimpse admin purge`: deleted images' tombstones older than `age` (the retention
    /// setting if nil), uploads whose process died, and stored data nothing refers to. Safe
    /// while the server runs and uploads are in progress.
    public func purge(olderThan age: Int64? = nil) async throws -> PurgeReport {
        PurgeReport(
            tombstones: try await images.purgeDeleted(olderThan: age),
            abandonedUploads: try await images.reclaimAbandonedUploads(),
            orphans: try await images.sweepOrphans())
    }

    /// Releases the stores, the threads and the data directory's lock. For processes that run
    /// no service group (`glimpse admin`); a server does this as its last service stops.
    public func close() async throws {
        try await metadata.close()
        try await pools.shutdown()
        lock?.release()
    }

    /// Waits for the shutdown of the service group, then closes the components.
    struct Closing: Service {
        let components: Components

        func run() async throws {
            try? await gracefulShutdown()
            try await components.close()
        }
    }
}
