import GlimpseCore
import GlimpseIdentity
import Logging
import NIOCore
import OpenStackEncoding
import OpenStackJSON

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Everything `glimpse serve` can be told. Sources, strongest first: command-line flags,
/// `GLIMPSE_*` environment variables, the config file, the defaults below.
public struct ServerConfig: Sendable {
    public var host = "127.0.0.1"
    public var port = 9292
    /// Holds `glimpse.db` (metadata) and `images/` (data) of the embedded stores.
    public var dataDir = "./glimpse-data"
    /// The URL clients reach the server at, if not the `Host` they used (behind a proxy).
    public var publicURL: String?
    public var region = "RegionOne"
    /// The bootstrap admin's password for a new data directory; generated if unset.
    public var adminPassword: String?
    public var logLevel: Logger.Level = .info
    public var logFormat = LogFormat.text
    /// Where image metadata (and the built-in identity) lives.
    public var metadataBackend = MetadataBackend.sqlite
    /// The PostgreSQL database (`postgres://USER:PASSWORD@HOST:PORT/DB?sslmode=…`) when
    /// `metadataBackend` is `.postgresql`. A secret: never logged.
    public var databaseURL: String?
    /// Who issues and checks tokens: the built-in identity, or the cloud's Keystone.
    public var identityMode = IdentityMode.builtin
    /// The cloud's Keystone, when `identityMode` is `.keystone`.
    public var keystone = KeystoneSettings()
    /// The image data stores, `id:type`, in the order `/v2/info/stores` lists them.
    public var enabledBackends: [(id: String, type: String)] = [("local", "file")]
    /// The store new image data goes to; the first enabled one if nil.
    public var defaultBackend: String?
    /// Options of the stores by store id, from `[id]` sections or `--set id.option=value`.
    public var storeOptions: [String: [String: String]] = [:]
    /// Serve Prometheus metrics at `GET /metrics` on this port of `host` (0: off).
    public var metricsPort = 0
    /// Seconds a connection may take to deliver a complete request head, counted from its
    /// opening or from the end of the previous response (keep-alive).
    public var clientIdleTimeout: Int64 = 60
    /// Seconds the server waits for request body bytes it asked for (time it does not read,
    /// because a store is slow, does not count).
    public var clientBodyTimeout: Int64 = 60
    /// Seconds a client may take none of a response being sent.
    public var clientSendTimeout: Int64 = 60
    /// Connections open at once; past it new ones are answered 503. Nil: from the process's
    /// file descriptor limit (`ConnectionPolicy.defaultMaxConnections`).
    public var maxConnections: Int?
    /// PEM certificate chain and private key: with both, the server speaks HTTPS only.
    public var tlsCertificateFile: String?
    public var tlsKeyFile: String?
    public var image = ImageServiceConfig()
    /// This node's cache of image data (Glance's `image_cache_dir`); none if nil.
    public var imageCacheDir: String?
    /// Bytes the cache keeps after a prune (Glance's `image_cache_max_size`, 10 GiB).
    public var imageCacheMaxSize = 10 << 30
    /// Overrides of the default policy rules in oslo.policy's format, JSON or YAML
    /// (`policy_file`); reloaded on SIGHUP.
    public var policyFile: String?
    /// The interoperable import methods offered (`import_methods`); nil: those that need no
    /// further setup (`defaultImportMethods`). Replaces `image.importMethods`.
    public var importMethods: [String]?
    /// What `web-download` may fetch: Glance's `import_filtering_opts`, and private addresses.
    public var webDownload = WebImportFilter()
    /// The id of the read-only store of locations given as http(s) URLs (`http_store`); nil: none.
    public var httpStore: String?
    public var identity = IdentityConfig()
    /// The clock the services read (a test's own, or the system's).
    public var clock: any WallClock = SystemClock()

    public enum LogFormat: String, Sendable { case text, json }

    public enum MetadataBackend: String, Sendable {
        /// SQLite in the data directory: the embedded default.
        case sqlite
        /// PostgreSQL at `databaseURL`: shared by several API nodes.
        case postgresql
        /// In memory: nothing is kept when the process ends (tests, demos).
        case memory
    }

    public enum IdentityMode: String, Sendable {
        /// The built-in Keystone subset at `/identity`, on the metadata store.
        case builtin
        /// The cloud's Keystone validates every token; `/identity` is not served.
        case keystone
    }

    /// How Glimpse reaches the cloud's Keystone, as keystonemiddleware's `[keystone_authtoken]`.
    public struct KeystoneSettings: Sendable {
        /// Keystone's v3 endpoint, e.g. `http://keystone:5000/v3`.
        public var url: String?
        /// The service user that validates tokens (it needs the `service` or `admin` role).
        public var serviceUser: String?
        /// A secret: never logged.
        public var servicePassword: String?
        public var serviceProject = "service"
        public var serviceUserDomain = "Default"
        public var serviceProjectDomain = "Default"
        /// Seconds a validated token is trusted without asking Keystone again (a revoked
        /// token keeps working at most this long).
        public var tokenCacheTime = 300
        /// Keystone roles that count as Glimpse's admin, member and reader.
        public var adminRoles = ["admin"]
        public var memberRoles = ["member", "_member_"]
        public var readerRoles = ["reader"]
        /// The image service's id in Keystone, whose unified limits apply (found by type if nil).
        public var limitsServiceId: String?
        /// Seconds limits read from Keystone are used before they are read again.
        public var limitsCacheTime = 60

        public init() {}
    }

    public init() {}

    public var databasePath: String { dataDir + "/glimpse.db" }
    public var imagesPath: String { dataDir + "/images" }
    /// Where the import plugins keep the data they work on, in a directory for each server.
    public var importWorkDirectory: String { dataDir + "/import-work" }

    /// One setting: its key in the config file (`key = value`), which is also its environment
    /// variable (`GLIMPSE_KEY`) and flag (`--key`).
    /// A secret setting (a password, a URL with one) may also come from a file:
    /// `KEY_file = /path` (`GLIMPSE_KEY_FILE`) reads it from there, trailing newline dropped.
    public struct Setting: Sendable {
        public let key: String
        public let help: String
        public let secret: Bool
        let apply: @Sendable (inout ServerConfig, String) throws -> Void

        init(
            key: String, help: String, secret: Bool = false,
            apply: @escaping @Sendable (inout ServerConfig, String) throws -> Void
        ) {
            self.key = key
            self.help = help
            self.secret = secret
            self.apply = apply
        }

        /// The keys this setting is read from: its own, and `KEY_file` for a secret.
        public var keys: [String] { secret ? [key, key + "_file"] : [key] }
        /// The environment variables it is read from (`GLIMPSE_KEY`).
        public var environmentNames: [String] { keys.map { "GLIMPSE_" + $0.uppercased() } }
    }

    public struct ConfigError: Error, CustomStringConvertible {
        public let description: String
    }

    static func int(_ key: String, _ v: String) throws -> Int {
        guard let n = Int(v.replacingUnderscores()) else {
            throw ConfigError(description: "\(key): '\(v)' is not an integer")
        }
        return n
    }

    static func bool(_ key: String, _ v: String) throws -> Bool {
        switch v.lowercased() {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off": return false
        default: throw ConfigError(description: "\(key): '\(v)' is not a boolean")
        }
    }

    /// The store type a store URL names by its scheme.
    static func storeType(url: String) throws -> String {
        let scheme: String
        do {
            scheme = try StoreURL(url).scheme
        } catch {
            throw ConfigError(description: error.description)
        }
        switch scheme.split(separator: "+").first ?? "" {
        case "file": return "file"
        case "memory": return "memory"
        case "swift": return "swift"
        case "s3": return "s3"
        case "rbd": return "rbd"
        default:
            throw ConfigError(description: "'\(scheme)' is not a store URL scheme (file, swift, s3, rbd, memory)")
        }
    }

    static func list(_ v: String) -> [String] {
        v.split(separator: ",").map { $0.trimming(" ") }.filter { !$0.isEmpty }
    }

    static func ports(_ key: String, _ v: String) throws -> [Int] {
        try list(v).map { item in
            let port = try int(key, item)
            guard (1...65535).contains(port) else { throw ConfigError(description: "\(key): \(port) is not a port") }
            return port
        }
    }

    /// The import methods this server can run.
    static let importMethodNames = ["glance-direct", "web-download", "copy-image", "glance-download"]

    /// Glance 33's default methods (`enabled_import_methods`) that need no further setup:
    /// `copy-image` only with several stores, which it copies between.
    public static func defaultImportMethods(stores: Int) -> [String] {
        ["glance-direct", "web-download"] + (stores > 1 ? ["copy-image"] : [])
    }

    /// Every setting.
    public static let settings: [Setting] = [
        Setting(key: "host", help: "Address to listen on") { c, v in c.host = v },
        Setting(key: "port", help: "Port to listen on") { c, v in c.port = try int("port", v) },
        Setting(key: "data_dir", help: "Directory for the database and image data") { c, v in c.dataDir = v },
        Setting(key: "public_url", help: "Base URL clients use, e.g. https://images.example.com") { c, v in
            c.publicURL = v.isEmpty ? nil : String(v.reversed().drop(while: { $0 == "/" }).reversed())
        },
        Setting(key: "region", help: "Region name in the service catalog") { c, v in c.region = v },
        Setting(key: "admin_password", help: "Password of the bootstrap admin (new data directory only)", secret: true)
        { c, v in
            c.adminPassword = v
        },
        Setting(key: "log_level", help: "trace, debug, info, notice, warning, error or critical") { c, v in
            guard let l = Logger.Level(rawValue: v.lowercased()) else {
                throw ConfigError(description: "log_level: unknown level '\(v)'")
            }
            c.logLevel = l
        },
        Setting(key: "log_format", help: "text or json") { c, v in
            guard let f = LogFormat(rawValue: v.lowercased()) else {
                throw ConfigError(description: "log_format: use text or json")
            }
            c.logFormat = f
        },
        Setting(key: "token_lifetime", help: "Token lifetime in seconds") { c, v in
            c.identity.tokenLifetime = Int64(try int("token_lifetime", v))
        },
        Setting(key: "password_hash_rounds", help: "PBKDF2 rounds for new password hashes") { c, v in
            c.identity.passwordHasher = PasswordHasher(rounds: max(1, try int("password_hash_rounds", v)))
        },
        Setting(
            key: "login_failures_per_user",
            help: "Failed logins of one user within 5 minutes before its logins get 429 (0: no limit) [10]"
        ) { c, v in
            c.identity.loginLimits.perUser = try int("login_failures_per_user", v).zeroMeaningUnlimited
        },
        Setting(
            key: "login_failures_per_address",
            help: "Failed logins from one address within 5 minutes before its logins get 429 (0: no limit) [100]"
        ) { c, v in
            c.identity.loginLimits.perAddress = try int("login_failures_per_address", v).zeroMeaningUnlimited
        },
        Setting(key: "image_size_cap", help: "Largest image accepted, in bytes") { c, v in
            c.image.imageSizeCap = try int("image_size_cap", v)
        },
        Setting(key: "user_storage_quota", help: "Bytes of image data per project (0 = unlimited)") { c, v in
            c.image.userStorageQuota = try int("user_storage_quota", v)
        },
        Setting(key: "require_format_match", help: "Refuse data that does not match its disk_format (true/false)") {
            c, v in
            c.image.requireFormatMatch = try bool("require_format_match", v)
        },
        Setting(
            key: "vmdk_allowed_types",
            help: "VMDK subformats (createType) accepted, comma-separated [streamOptimized,monolithicSparse]"
        ) { c, v in
            c.image.vmdkAllowedTypes = list(v)
        },
        Setting(key: "disk_formats", help: "Accepted disk formats, comma-separated") { c, v in
            c.image.diskFormats = list(v)
        },
        Setting(key: "container_formats", help: "Accepted container formats, comma-separated") { c, v in
            c.image.containerFormats = list(v)
        },
        Setting(key: "deleted_image_retention", help: "Seconds deleted images stay visible to compute changes-since") {
            c, v in
            c.image.deletedImageRetention = Int64(try int("deleted_image_retention", v))
        },
        Setting(key: "task_time_to_live", help: "Hours a task is kept once it has ended [48]") { c, v in
            c.image.taskTimeToLive = Int64(max(0, try int("task_time_to_live", v)))
        },
        Setting(key: "default_page_size", help: "Images per page when the client sets no limit") { c, v in
            c.image.defaultPageSize = try int("default_page_size", v)
        },
        Setting(key: "max_page_size", help: "Largest page of images") { c, v in
            c.image.maxPageSize = try int("max_page_size", v)
        },
        Setting(
            key: "metadata_backend",
            help: "Where metadata lives: sqlite (in data_dir), postgresql (at database_url) or memory (kept by nothing)"
        ) { c, v in
            guard let b = MetadataBackend(rawValue: v.lowercased()) else {
                throw ConfigError(description: "metadata_backend: use sqlite, postgresql or memory")
            }
            c.metadataBackend = b
        },
        Setting(
            key: "database_url", help: "PostgreSQL for the metadata: postgres://USER:PASSWORD@HOST:PORT/DB[?sslmode=…]",
            secret: true
        ) { c, v in
            c.databaseURL = v.isEmpty ? nil : v
        },
        Setting(
            key: "identity", help: "builtin (Keystone subset at /identity) or keystone (the cloud's, at keystone_url)"
        ) { c, v in
            guard let mode = IdentityMode(rawValue: v.lowercased()) else {
                throw ConfigError(description: "identity: use builtin or keystone")
            }
            c.identityMode = mode
        },
        Setting(key: "keystone_url", help: "The cloud's Keystone v3 endpoint, e.g. http://keystone:5000/v3") { c, v in
            c.keystone.url = v.isEmpty ? nil : String(v.reversed().drop(while: { $0 == "/" }).reversed())
        },
        Setting(key: "keystone_service_user", help: "Service user that validates tokens") { c, v in
            c.keystone.serviceUser = v
        },
        Setting(key: "keystone_service_password", help: "Its password", secret: true) { c, v in
            c.keystone.servicePassword = v
        },
        Setting(key: "keystone_service_project", help: "Its project [service]") { c, v in
            c.keystone.serviceProject = v
        },
        Setting(key: "keystone_service_user_domain", help: "Its user's domain name [Default]") { c, v in
            c.keystone.serviceUserDomain = v
        },
        Setting(key: "keystone_service_project_domain", help: "Its project's domain name [Default]") { c, v in
            c.keystone.serviceProjectDomain = v
        },
        Setting(
            key: "token_cache_time", help: "Seconds a token Keystone validated is trusted without asking again [300]"
        ) { c, v in
            c.keystone.tokenCacheTime = max(0, try int("token_cache_time", v))
        },
        Setting(
            key: "keystone_limits_service_id",
            help: "The image service's id in Keystone, for its unified limits [the service of type image]"
        ) { c, v in
            c.keystone.limitsServiceId = v.isEmpty ? nil : v
        },
        Setting(
            key: "keystone_limits_cache_time", help: "Seconds limits read from Keystone are used before re-reading [60]"
        ) { c, v in
            c.keystone.limitsCacheTime = max(0, try int("keystone_limits_cache_time", v))
        },
        Setting(key: "keystone_admin_roles", help: "Keystone roles with Glimpse's admin rights [admin]") { c, v in
            c.keystone.adminRoles = list(v).map { $0.lowercased() }
        },
        Setting(key: "keystone_member_roles", help: "Keystone roles with member rights [member, _member_]") { c, v in
            c.keystone.memberRoles = list(v).map { $0.lowercased() }
        },
        Setting(key: "keystone_reader_roles", help: "Keystone roles with reader rights [reader]") { c, v in
            c.keystone.readerRoles = list(v).map { $0.lowercased() }
        },
        Setting(
            key: "enabled_backends",
            help: "Image data stores as id:type, comma-separated (types: file, memory) [local:file]"
        ) { c, v in
            c.enabledBackends = try list(v).map { item in
                let parts = item.split(separator: ":", maxSplits: 1).map(String.init)
                guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                    throw ConfigError(description: "enabled_backends: '\(item)' is not id:type")
                }
                return (parts[0], parts[1])
            }
        },
        Setting(key: "default_backend", help: "The store new image data goes to [the first enabled one]") { c, v in
            c.defaultBackend = v.isEmpty ? nil : v
        },
        Setting(
            key: "store_url",
            help:
                "The one image data store, by URL: file:///path, swift://, swift+keystone://, s3://, rbd:// [local files]",
            secret: true
        ) { c, v in
            let type = try storeType(url: v)
            let id = type == "file" ? "local" : type
            c.enabledBackends = [(id, type)]
            c.storeOptions[id, default: [:]]["url"] = v
        },
        Setting(
            key: "stores", help: "Several image data stores, as id=URL, comma-separated (fast=rbd://…,cheap=s3://…)",
            secret: true
        ) { c, v in
            c.enabledBackends = try list(v).map { item in
                guard let eq = item.firstIndex(of: "="), eq != item.startIndex else {
                    throw ConfigError(description: "stores: '\(StoreURL.redacted(item))' is not id=URL")
                }
                let id = String(item[..<eq]), url = String(item[item.index(after: eq)...])
                c.storeOptions[id, default: [:]]["url"] = url
                return (id, try storeType(url: url))
            }
        },
        Setting(
            key: "show_image_direct_url",
            help: "Show images' direct_url (rbd://fsid/pool/image/snap, for Nova and Cinder to clone) [false]"
        ) { c, v in
            c.image.showImageDirectURL = try bool("show_image_direct_url", v)
        },
        Setting(key: "image_location_quota", help: "Locations an image may have [10]") { c, v in
            c.image.imageLocationQuota = try int("image_location_quota", v)
        },
        Setting(key: "show_multiple_locations", help: "Show images' locations: every copy's URL and store [false]") {
            c, v in
            c.image.showMultipleLocations = try bool("show_multiple_locations", v)
        },
        Setting(
            key: "http_store",
            help:
                "Id of the read-only store of locations given as http(s) URLs, behind the web_download filters; enables API 2.17's locations API (unset: none)"
        ) { c, v in
            c.httpStore = v.isEmpty ? nil : v
        },
        Setting(
            key: "do_secure_hash",
            help: "Calculate the hashes of a location added through the locations API by reading it [true]"
        ) { c, v in
            c.image.doSecureHash = try bool("do_secure_hash", v)
        },
        Setting(key: "default_store", help: "The store of `stores` new image data goes to [the first]") { c, v in
            c.defaultBackend = v.isEmpty ? nil : v
        },
        Setting(key: "metrics_port", help: "Serve Prometheus metrics at GET /metrics on this port (0: off)") { c, v in
            c.metricsPort = try int("metrics_port", v)
        },
        Setting(
            key: "client_idle_timeout",
            help:
                "Seconds a connection may take to send a complete request head, from its opening or its last response [60]"
        ) { c, v in
            c.clientIdleTimeout = Int64(max(1, try int("client_idle_timeout", v)))
        },
        Setting(
            key: "client_body_timeout",
            help: "Seconds the server waits for request body bytes it asked for before it disconnects the client [60]"
        ) { c, v in
            c.clientBodyTimeout = Int64(max(1, try int("client_body_timeout", v)))
        },
        Setting(key: "client_send_timeout", help: "Seconds a client may take none of a response being sent [60]") {
            c, v in
            c.clientSendTimeout = Int64(max(1, try int("client_send_timeout", v)))
        },
        Setting(
            key: "max_connections",
            help: "Connections open at once; more are answered 503 [from the file descriptor limit, at most 4096]"
        ) { c, v in
            c.maxConnections = v.isEmpty ? nil : max(1, try int("max_connections", v))
        },
        Setting(key: "tls_cert_file", help: "PEM certificate chain: with tls_key_file, serve HTTPS") { c, v in
            c.tlsCertificateFile = v.isEmpty ? nil : v
        },
        Setting(key: "tls_key_file", help: "PEM private key of tls_cert_file") { c, v in
            c.tlsKeyFile = v.isEmpty ? nil : v
        },
        Setting(key: "upload_lease_seconds", help: "Seconds an upload counts as alive without news from its process") {
            c, v in
            c.image.uploadLeaseSeconds = Int64(max(1, try int("upload_lease_seconds", v)))
        },
        Setting(
            key: "image_cache_dir",
            help: "Directory of this node's cache of image data, for stores that are not local files (unset: no cache)"
        ) { c, v in
            c.imageCacheDir = v.isEmpty ? nil : v
        },
        Setting(
            key: "image_cache_max_size", help: "Bytes the image cache keeps, least recently used out first [10 GiB]"
        ) { c, v in
            c.imageCacheMaxSize = max(0, try int("image_cache_max_size", v))
        },
        Setting(
            key: "policy_file",
            help:
                "Policy rule overrides in oslo.policy's format, JSON or YAML (`glimpse admin policy list` shows the rules); reloaded on SIGHUP"
        ) { c, v in
            c.policyFile = v.isEmpty ? nil : v
        },
        Setting(
            key: "import_methods",
            help:
                "Import methods offered, comma-separated: glance-direct, web-download, copy-image, glance-download [glance-direct,web-download; copy-image too with several stores]"
        ) { c, v in
            c.importMethods = try list(v).map { method in
                guard importMethodNames.contains(method) else {
                    throw ConfigError(
                        description:
                            "import_methods: unknown method '\(method)' (known: \(importMethodNames.joined(separator: ", ")))"
                    )
                }
                return method
            }
        },
        Setting(
            key: "inject_metadata_properties",
            help: "Properties every import (but copy-image) sets, key:value,key:value (inject_image_metadata) []"
        ) { c, v in
            c.image.injectedProperties = JSONObject()
            for item in list(v) {
                guard let colon = item.firstIndex(of: ":") else {
                    throw ConfigError(description: "inject_metadata_properties: '\(item)' is not key:value")
                }
                func trimmed(_ text: Substring) -> String {
                    String(text.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
                }
                let key = trimmed(item[..<colon])
                guard !key.isEmpty, key.unicodeScalars.count <= 255, !ImageService.isProtectedName(key) else {
                    throw ConfigError(
                        description: "inject_metadata_properties: '\(key)' cannot be set on images as a property")
                }
                c.image.injectedProperties[key] = .string(trimmed(item[item.index(after: colon)...]))
            }
        },
        Setting(
            key: "inject_metadata_ignore_roles",
            help: "Callers with one of these roles get no injected properties [admin]"
        ) { c, v in
            c.image.injectIgnoredRoles = Set(list(v).map { $0.lowercased() })
        },
        Setting(
            key: "import_plugins",
            help:
                "Import plugins run, in this order, on the data of every import but copy-image: image_decompression, image_conversion, inject_image_metadata (acts whenever inject_metadata_properties is set) []"
        ) { c, v in
            c.image.importPlugins = try list(v).map { name in
                guard let plugin = ImportPlugin(rawValue: name) else {
                    let known = ImportPlugin.allCases.map(\.rawValue).joined(separator: ", ")
                    throw ConfigError(description: "import_plugins: unknown plugin '\(name)' (known: \(known))")
                }
                return plugin
            }
        },
        Setting(
            key: "image_conversion_output_format",
            help: "The disk_format image_conversion converts to: raw, qcow2 or vmdk [raw]"
        ) { c, v in
            guard ["raw", "qcow2", "vmdk"].contains(v) else {
                throw ConfigError(description: "image_conversion_output_format: '\(v)' is not raw, qcow2 or vmdk")
            }
            c.image.conversionOutputFormat = v
        },
        Setting(
            key: "glance_download_properties",
            help:
                "Prefixes of the properties glance-download copies from the source image [hw_,trait:,os_distro,os_secure_boot,os_type]"
        ) { c, v in
            c.image.glanceDownloadProperties = list(v)
        },
        Setting(
            key: "web_download_allowed_schemes",
            help: "URI schemes web-download may fetch (empty: all but the disallowed) [http,https]"
        ) { c, v in
            c.webDownload.allowedSchemes = list(v).map { $0.lowercased() }
        },
        Setting(
            key: "web_download_disallowed_schemes",
            help: "URI schemes web-download refuses, when no allowed ones are set []"
        ) { c, v in
            c.webDownload.disallowedSchemes = list(v).map { $0.lowercased() }
        },
        Setting(
            key: "web_download_allowed_hosts",
            help: "Hosts web-download may fetch from (empty: all but the disallowed) []"
        ) { c, v in
            c.webDownload.allowedHosts = list(v)
        },
        Setting(
            key: "web_download_disallowed_hosts", help: "Hosts web-download refuses, when no allowed ones are set []"
        ) { c, v in
            c.webDownload.disallowedHosts = list(v)
        },
        Setting(
            key: "web_download_allowed_ports",
            help: "Ports a web-download URI may name (empty: all but the disallowed) [80,443]"
        ) { c, v in
            c.webDownload.allowedPorts = try ports("web_download_allowed_ports", v)
        },
        Setting(
            key: "web_download_disallowed_ports", help: "Ports web-download refuses, when no allowed ones are set []"
        ) { c, v in
            c.webDownload.disallowedPorts = try ports("web_download_disallowed_ports", v)
        },
        Setting(
            key: "web_download_allow_private",
            help: "Let web-download fetch from loopback, private and link-local addresses [false]"
        ) { c, v in
            c.webDownload.allowPrivate = try bool("web_download_allow_private", v)
        },
        Setting(key: "orphan_grace_seconds", help: "Age of unreferenced stored data before the orphan sweep removes it")
        { c, v in
            c.image.orphanGraceSeconds = Int64(max(0, try int("orphan_grace_seconds", v)))
        },
    ]

    /// Builds the configuration from the defaults, a config file (if given), the environment
    /// and explicit overrides (flags), in that order.
    public static func load(
        file: String?, environment: [String: String], overrides: [String: String]
    ) throws -> ServerConfig {
        var config = ServerConfig()
        var values: [String: String] = [:]
        if let file {
            values.merge(try parseFile(file)) { $1 }
        }
        for s in settings {
            for (key, name) in zip(s.keys, s.environmentNames) {
                if let v = environment[name] { values[key] = v }
            }
        }
        values.merge(overrides) { $1 }
        for (key, value) in values.sorted(by: { $0.key < $1.key }) {
            if let dot = key.firstIndex(of: ".") {
                // `store.option`: an option of the image store `store`.
                config.storeOptions[String(key[..<dot]), default: [:]][String(key[key.index(after: dot)...])] = value
                continue
            }
            if key.hasSuffix("_file"), let s = settings.first(where: { $0.secret && $0.key + "_file" == key }) {
                try s.apply(&config, try readSecret(value, for: key))
                continue
            }
            guard let s = settings.first(where: { $0.key == key }) else {
                throw ConfigError(description: "unknown setting '\(key)'")
            }
            try s.apply(&config, value)
        }
        for store in config.storeOptions.keys where !config.enabledBackends.contains(where: { $0.id == store }) {
            throw ConfigError(description: "options for image store '\(store)', which enabled_backends does not name")
        }
        try config.resolve(explicitBackend: values["metadata_backend"] != nil)
        return config
    }

    /// Derives what follows from the settings together, and refuses combinations that
    /// cannot work.
    mutating func resolve(explicitBackend: Bool) throws {
        if databaseURL != nil, !explicitBackend { metadataBackend = .postgresql }
        switch (metadataBackend, databaseURL) {
        case (.postgresql, nil):
            throw ConfigError(description: "metadata_backend postgresql needs database_url")
        case (.sqlite, _?), (.memory, _?):
            throw ConfigError(
                description: "database_url is set, but metadata_backend is \(metadataBackend.rawValue)")
        default: break
        }
        if identityMode == .keystone {
            for (key, value) in [
                ("keystone_url", keystone.url), ("keystone_service_user", keystone.serviceUser),
                ("keystone_service_password", keystone.servicePassword),
            ] where value?.isEmpty ?? true {
                throw ConfigError(description: "identity keystone needs \(key)")
            }
        }
        if (tlsCertificateFile == nil) != (tlsKeyFile == nil) {
            throw ConfigError(description: "TLS needs both tls_cert_file and tls_key_file")
        }
    }

    /// The connection limits and deadlines the settings give.
    public var connectionPolicy: ConnectionPolicy {
        ConnectionPolicy(
            maxConnections: maxConnections ?? ConnectionPolicy.defaultMaxConnections(),
            idleTimeout: .seconds(clientIdleTimeout), bodyTimeout: .seconds(clientBodyTimeout),
            sendTimeout: .seconds(clientSendTimeout))
    }

    /// The content of a secret's file, without its trailing newline.
    static func readSecret(_ path: String, for key: String) throws -> String {
        guard let text = try? readFile(path) else { throw ConfigError(description: "\(key): cannot read \(path)") }
        return String(text.reversed().drop(while: { $0 == "\n" || $0 == "\r" }).reversed())
    }

    /// Reads `key = value` lines; `#` and `;` start comments. Keys under a `[section]`
    /// header are options of the image store of that id (`[local]` → `local.path`), except
    /// in `[DEFAULT]` and `[glimpse]`, which hold the settings themselves.
    static func parseFile(_ path: String) throws -> [String: String] {
        guard let text = try? readFile(path) else { throw ConfigError(description: "cannot read config file \(path)") }
        var out: [String: String] = [:]
        var section = ""
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimming(" \t\r")
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("["), line.hasSuffix("]") {
                let name = line.dropFirst().dropLast().trimming(" ")
                section = name == "DEFAULT" || name == "glimpse" ? "" : name + "."
                continue
            }
            guard let eq = line.firstIndex(of: "=") else {
                throw ConfigError(description: "\(path):\(i + 1): expected key = value")
            }
            let key = line[..<eq].trimming(" \t")
            var value = line[line.index(after: eq)...].trimming(" \t")
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") {
                value = String(value.dropFirst().dropLast())
            }
            out[section + key] = value
        }
        return out
    }
}

/// A whole (small) text file.
func readFile(_ path: String) throws -> String {
    guard let f = fopen(path, "r") else { throw ServerConfig.ConfigError(description: "cannot read \(path)") }
    defer { fclose(f) }
    var text: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = fread(&buf, 1, buf.count, f)
        if n <= 0 { break }
        text += buf[0..<n]
    }
    return String(decoding: text, as: UTF8.self)
}

extension String {
    /// `1_000_000` → `1000000`.
    func replacingUnderscores() -> String { String(filter { $0 != "_" }) }
}

extension Int {
    /// A limit as settings give it: 0 (or less) for none.
    fileprivate var zeroMeaningUnlimited: Int { self > 0 ? self : .max }
}
