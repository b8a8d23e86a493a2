import AsyncHTTPClient
import GlimpseBlobStores
import GlimpseCore
import GlimpseHTTP
import GlimpseIdentity
import GlimpseKeystoneAuth
import GlimpseMemoryStores
import GlimpseObjectStores
import GlimpsePostgres
import GlimpseSQLite
import Logging
import NIOCore
import NIOPosix
import OpenStack
import OpenStackEncoding
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

#if RBD
import GlimpseRBDStore
#endif

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
    /// The policy rules in force: the defaults with `policy_file`'s overrides.
    public let policy: PolicyEnforcer
    /// The built-in identity; nil when the cloud's Keystone issues the tokens.
    public let keystone: KeystoneService?
    /// Turns a token into the caller: the built-in identity, or the cloud's Keystone.
    public let tokens: any TokenValidator
    let pools: Pools
    /// The HTTP client that asks the cloud's Keystone, if it does.
    let keystoneClient: HTTPClient?
    /// The HTTP client of the Swift and S3 stores, if there are any.
    let objectStoreClient: HTTPClient?
    let lock: DataDirectoryLock?
    /// The lock on the image cache's directory: one server per cache.
    let cacheLock: DataDirectoryLock?
    let importWork: ImportWorkDirectory?
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
    /// - Parameter exclusive: hold the data directory's lock (`glimpse serve` on SQLite), so
    ///   that a second server on the same database file is refused with a clear message.
    ///   (Servers on PostgreSQL share their database by design.)
    public init(_ config: ServerConfig, logger: Logger, exclusive: Bool) throws {
        self.config = config
        self.logger = logger
        let policy = PolicyEnforcer(try Self.loadPolicy(config.policyFile))
        self.policy = policy
        let importWork = try Self.prepareImportPlugins(config)
        self.importWork = importWork
        var lock: DataDirectoryLock?
        if config.metadataBackend == .sqlite || config.enabledBackends.contains(where: { $0.type == "file" }) {
            try LocalBlobStore.makeDirectory(config.dataDir)
            if exclusive, config.metadataBackend == .sqlite { lock = try DataDirectoryLock(directory: config.dataDir) }
        }
        self.lock = lock
        var cacheLock: DataDirectoryLock?
        if let dir = config.imageCacheDir, exclusive {
            do {
                try LocalBlobStore.makeDirectory(dir)
                cacheLock = try DataDirectoryLock(directory: dir)
            } catch {
                lock?.release()
                throw error
            }
        }
        self.cacheLock = cacheLock
        let pools = Pools()
        self.pools = pools
        var external: (client: HTTPClient, validator: KeystoneTokenValidator, limits: KeystoneLimits)?
        let cache: ImageCache?
        let objectStoreClient =
            config.enabledBackends.contains { ["swift", "s3"].contains($0.type) } ? ObjectHTTP.makeClient() : nil
        self.objectStoreClient = objectStoreClient
        do {
            if config.identityMode == .keystone { external = try Self.keystoneValidator(config, logger: logger) }
            // The blob stores before the database: they start no threads, so nothing is left
            // running if one of them, or the metadata store after them, cannot open.
            var weights: [String: Int] = [:]
            let stores = try config.enabledBackends.map { backend in
                let (store, weight) = try Self.blobStore(
                    backend.id, backend.type, config, pools, objectStoreClient, logger)
                weights[backend.id] = weight
                return store
            }
            blobs = try BlobStores(
                stores, defaultId: config.defaultBackend, weights: weights,
                http: config.httpStore.map {
                    HTTPLocationStore(id: $0, fetcher: WebDownloadClient(filter: config.webDownload, logger: logger))
                })
            // The cache belongs to the server: `glimpse admin` beside it leaves it alone.
            cache = try exclusive ? Self.imageCache(config, blobs, pools, logger) : nil
            metadata =
                switch config.metadataBackend {
                case .sqlite: try SQLiteMetadataStore(path: config.databasePath)
                case .postgresql: try PostgresMetadataStore(try Self.postgresSettings(config), logger: logger)
                case .memory: MemoryMetadataStore()
                }
        } catch {
            try? external?.client.syncShutdown()
            try? objectStoreClient?.syncShutdown()
            lock?.release()
            cacheLock?.release()
            throw error
        }
        // The threads start once the stores are open, so that a failed open leaves none behind.
        pools.start()
        var imageConfig = config.image
        imageConfig.importMethods = config.importMethods ?? ServerConfig.defaultImportMethods(stores: blobs.all.count)
        if let importWork { imageConfig.importWorkDirectory = importWork.path }
        // The built-in identity's limits, which it tells when they change.
        let storedLimits =
            external == nil
            ? StoredLimits(store: metadata, serviceId: BuiltinCatalog.serviceId(type: "image"), regionId: config.region)
            : nil
        let limits: any LimitsSource = if let external { external.limits } else { storedLimits! }
        images = ImageService(
            store: metadata, blobs: blobs, config: imageConfig, clock: config.clock, hashing: pools.cpu,
            cache: cache,
            webDownloader: WebDownloadClient(filter: config.webDownload, logger: logger), policy: policy,
            limits: limits, logger: logger)
        if let external {
            keystone = nil
            keystoneClient = external.client
            tokens = external.validator
        } else {
            let keystone = KeystoneService(
                store: metadata, config: config.identity, clock: config.clock, hashing: pools.cpu,
                logger: logger, limitsChanged: { storedLimits?.invalidate() })
            self.keystone = keystone
            keystoneClient = nil
            tokens = keystone
        }
        metadefs = MetadefService(store: metadata, policy: policy)
    }

    /// Checks that the programs the import plugins run are installed, and makes this
    /// process's import work directory (when a plugin that makes new data is enabled).
    static func prepareImportPlugins(_ config: ServerConfig) throws -> ImportWorkDirectory? {
        let plugins = config.image.importPlugins
        for plugin in plugins {
            for tool in plugin.tools where ImportTool.locate(tool) == nil {
                throw ServerConfig.ConfigError(
                    description: "import_plugins: \(plugin.rawValue) needs \(tool), which is not installed")
            }
        }
        guard plugins.contains(where: { !$0.tools.isEmpty }) else { return nil }
        return try ImportWorkDirectory(under: config.importWorkDirectory, owner: UploadOwner.current)
    }

    /// The node's image cache, when `image_cache_dir` is set: its data under that directory
    /// (as a file store), its index in `cache-index` there. The directory must be apart from
    /// every file store's: the cache removes at start whatever files its index does not name.
    static func imageCache(
        _ config: ServerConfig, _ blobs: BlobStores, _ pools: Pools, _ logger: Logger
    ) throws -> ImageCache? {
        guard let dir = config.imageCacheDir else { return nil }
        let cacheRoot = Self.realPath(dir)
        for case let store as LocalBlobStore in blobs.all {
            let root = Self.realPath(store.root)
            if cacheRoot == root || cacheRoot.hasPrefix(root + "/") || root.hasPrefix(cacheRoot + "/") {
                throw ServerConfig.ConfigError(
                    description:
                        "image_cache_dir \(dir) overlaps the directory of file store '\(store.id)' (\(store.root)): "
                        + "the cache removes files it does not know, so it needs a directory of its own")
            }
        }
        return ImageCache(
            files: try LocalBlobStore(root: dir, id: "image-cache", pool: pools.io),
            journal: CacheJournalFile(path: dir + "/cache-index", pool: pools.io), maxSize: config.imageCacheMaxSize,
            clock: config.clock, hashing: pools.cpu, logger: logger)
    }

    /// `path` with symbolic links and `..` resolved (as given, if it does not exist).
    static func realPath(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    static func postgresSettings(_ config: ServerConfig) throws -> PostgresSettings {
        do {
            return try PostgresSettings(url: config.databaseURL ?? "")
        } catch {
            throw ServerConfig.ConfigError(description: error.description)
        }
    }

    /// Token validation by the cloud's Keystone, as the configured service user, and the
    /// HTTP client it asks through (to shut down with the components).
    static func keystoneValidator(
        _ config: ServerConfig, logger: Logger
    ) throws -> (client: HTTPClient, validator: KeystoneTokenValidator, limits: KeystoneLimits) {
        let k = config.keystone
        guard let url = k.url, let user = k.serviceUser, let password = k.servicePassword else {
            throw ServerConfig.ConfigError(description: "identity keystone needs keystone_url and a service user")
        }
        // Short timeouts: a request waits for Keystone, and a Keystone that does not answer
        // makes it fail (503) rather than hang.
        var http = HTTPClient.Configuration()
        http.timeout = .init(connect: .seconds(3), read: .seconds(10))
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: http)
        do {
            let cloud = try OpenStack(
                authURL: url, user: .name(user, domain: .name(k.serviceUserDomain), password: password),
                scope: .project(name: k.serviceProject, domain: .name(k.serviceProjectDomain)), httpClient: client,
                retry: RetryPolicy(maxAttempts: 2), logger: logger)
            let validator = KeystoneTokenValidator(
                identity: cloud.identityV3(), cacheTime: k.tokenCacheTime,
                roleMap: .init(admin: k.adminRoles, member: k.memberRoles, reader: k.readerRoles),
                clock: config.clock, logger: logger)
            let limits = KeystoneLimits(
                identity: cloud.identityV3(), serviceId: k.limitsServiceId, regionId: config.region,
                cacheTime: k.limitsCacheTime, clock: config.clock, logger: logger)
            return (client, validator, limits)
        } catch {
            try? client.syncShutdown()
            throw ServerConfig.ConfigError(description: "keystone_url: \(error)")
        }
    }

    /// One image data store of `enabled_backends`, with its options, and its weight (the
    /// `weight` option: which copy of an image's data reads prefer, 0 by default); the Swift
    /// and S3 stores reach their engines through `client`.
    static func blobStore(
        _ id: String, _ type: String, _ config: ServerConfig, _ pools: Pools, _ client: HTTPClient?, _ logger: Logger
    ) throws -> (any BlobStore, weight: Int) {
        var options = config.storeOptions[id] ?? [:]
        func take(_ key: String) -> String? { options.removeValue(forKey: key) }
        let weight = try take("weight").map { try ServerConfig.int("\(id).weight", $0) } ?? 0
        func url() throws -> String {
            guard let url = take("url") else {
                throw ServerConfig.ConfigError(description: "image store '\(id)' of type \(type) needs \(id).url")
            }
            return url
        }
        let store: any BlobStore
        do {
            switch type {
            case "file":
                let fromURL = try take("url").map { try StoreURL($0).path }
                let path =
                    take("path") ?? fromURL ?? (id == "local" ? config.imagesPath : config.dataDir + "/stores/" + id)
                let directIO = try take("direct_io").map { try ServerConfig.bool("\(id).direct_io", $0) } ?? true
                store = try LocalBlobStore(root: path, id: id, pool: pools.io, directIO: directIO)
            case "memory":
                _ = take("url")
                store = MemoryBlobStore(id: id)
            case "swift":
                store = try SwiftBlobStore(
                    id: id, settings: try SwiftStoreSettings(url: try url()), client: client!, logger: logger)
            case "s3":
                store = S3BlobStore(
                    id: id, settings: try S3StoreSettings(url: try url()), client: client!, hashing: pools.cpu,
                    logger: logger)
            case "rbd":
                #if RBD
                store = try RBDBlobStore(
                    settings: try RBDSettings(url: try url()), id: id, threads: pools.io, logger: logger)
                #else
                throw ServerConfig.ConfigError(
                    description: "image store '\(id)': this glimpse was built without the Ceph RBD store "
                        + "(swift build --traits RBD, with librbd-dev and librados-dev installed)")
                #endif
            default:
                throw ServerConfig.ConfigError(
                    description: "image store '\(id)': unknown type '\(type)' (known: file, swift, s3, rbd, memory)")
            }
        } catch let error as StoreURLError {
            throw ServerConfig.ConfigError(description: "image store '\(id)': \(error)")
        }
        if let unknown = options.keys.sorted().first {
            throw ServerConfig.ConfigError(description: "image store '\(id)': unknown option '\(unknown)'")
        }
        return (store, weight)
    }

    /// What `/healthcheck` probes: the metadata database and every image store.
    public var health: HealthChecks {
        let metadata = self.metadata
        var probes = [
            HealthChecks.Probe(name: "database", kind: "database", backend: config.metadataBackend.rawValue) {
                try await metadata.ping()
            }
        ]
        for store in blobs.all {
            probes.append(
                HealthChecks.Probe(name: store.id, kind: "store", backend: store.type) {
                    try await store.checkHealth()
                })
        }
        return HealthChecks(probes)
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
    ///
    /// Nodes of a deployment starting at once take turns (under the store's `prepare`
    /// lock): the first creates, the others find. With the cloud's Keystone there is no admin
    /// to create.
    @discardableResult
    public func prepare() async throws -> Bootstrap? {
        let (metadata, metadefs, keystone, config) = (self.metadata, self.metadefs, self.keystone, self.config)
        let bootstrap = try await metadata.withLock("prepare", wait: true) { () async throws -> Bootstrap? in
            try await metadata.migrate()
            try await metadefs.seed()
            guard let keystone else { return nil }
            let generated = config.adminPassword == nil
            let password = config.adminPassword ?? Identifiers.randomHex(bytes: 12)
            let createdAdmin = try await keystone.bootstrap(adminPassword: password)
            return createdAdmin ? Bootstrap(adminPassword: password, generated: generated) : nil
        }
        if let cache = images.cache {
            try await cache.open()
            try await images.reconcileCache()
        }
        guard let bootstrap = bootstrap ?? nil else { return nil }
        created.withLock { $0 = bootstrap }
        return bootstrap
    }

    /// The admin credentials `prepare()` created, if it did.
    public var createdAdmin: Bootstrap? { created.withLock { $0 } }

    /// The background work of a server: purging expired tokens and tasks and old tombstones,
    /// undoing uploads whose process died, sweeping orphaned data; and, last to stop, the
    /// release of the stores and threads once everything else has stopped.
    ///
    /// Each job runs under the store's lock of its name: of the nodes sharing a database,
    /// one runs it at a time, and the others skip that round. The image cache's jobs (its
    /// prefetcher, the check of its entries against the catalog) are the node's own.
    public var services: [any Service] {
        let (images, keystone, config, metadata) = (self.images, self.keystone, self.config, self.metadata)
        let leaseCheck = Duration.seconds(max(1, config.image.uploadLeaseSeconds / 2))
        func job(
            _ name: String, every: Duration, after: Duration, _ work: @escaping @Sendable () async throws -> Void
        ) -> PeriodicJob {
            PeriodicJob(name: name, every: every, after: after, logger: logger) {
                _ = try await metadata.withLock(name, wait: false) { try await work() }
            }
        }
        // The jobs start once the server is prepared (a new database has its schema by then).
        var services: [any Service] = [
            Closing(components: self),
            PolicyReloadOnHangup(components: self),
            job("deleted-image-purge", every: .seconds(3600), after: .seconds(60)) {
                _ = try await images.purgeDeleted()
            },
            job("abandoned-upload-reclaim", every: leaseCheck, after: leaseCheck) {
                _ = try await images.reclaimAbandonedUploads()
            },
            job("expired-task-purge", every: .seconds(3600), after: .seconds(60)) {
                _ = try await images.purgeExpiredTasks()
            },
            // Lists with a range filter skip the images these summaries rule out.
            job("image-summaries", every: .seconds(10), after: .seconds(60)) {
                _ = try await metadata.summarizeImages()
            },
            // Once soon after the start (a crash may have left data behind), then daily.
            job("orphan-sweep", every: .seconds(86_400), after: .seconds(60)) {
                _ = try await images.sweepOrphans()
            },
        ]
        if images.cache != nil {
            // Per node, so without the database's lock: every node runs its own.
            services.append(
                PeriodicJob(name: "image-cache-prefetch", every: .seconds(300), after: .seconds(300), logger: logger) {
                    await images.prefetchQueued()
                })
            services.append(
                PeriodicJob(name: "image-cache-check", every: .seconds(3600), after: .seconds(3600), logger: logger) {
                    try await images.reconcileCache()
                })
        }
        if let keystone {
            services.append(
                job("token-purge", every: .seconds(3600), after: .seconds(60)) {
                    _ = try await keystone.purgeExpiredTokens()
                })
        }
        return services
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
            abandonedUploads: try await images.reclaimAbandonedUploads().count,
            orphans: try await images.sweepOrphans().count)
    }

    /// Stops the imports running in the background (the stores they had not done count as
    /// failed), then releases the stores, the threads and the data directory's lock. For
    /// processes that run no service group (`glimpse admin`); a server does this as its last
    /// service stops.
    public func close() async throws {
        await images.imports.stop()
        await images.cache?.close()
        try await keystoneClient?.shutdown()
        for store in blobs.all { await store.close() }
        try await objectStoreClient?.shutdown()
        try await metadata.close()
        try await pools.shutdown()
        lock?.release()
        cacheLock?.release()
        importWork?.close()
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
