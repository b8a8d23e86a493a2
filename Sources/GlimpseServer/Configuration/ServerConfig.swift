import GlimpseCore
import GlimpseIdentity
import Logging
import OpenStackEncoding

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
    /// The image data stores, `id:type`, in the order `/v2/info/stores` lists them.
    public var enabledBackends: [(id: String, type: String)] = [("local", "file")]
    /// The store new image data goes to; the first enabled one if nil.
    public var defaultBackend: String?
    /// Options of the stores by store id, from `[id]` sections or `--set id.option=value`.
    public var storeOptions: [String: [String: String]] = [:]
    /// Serve Prometheus metrics at `GET /metrics` on this port of `host` (0: off).
    public var metricsPort = 0
    public var image = ImageServiceConfig()
    public var identity = IdentityConfig()
    /// The clock the services read (a test's own, or the system's).
    public var clock: any WallClock = SystemClock()

    public enum LogFormat: String, Sendable { case text, json }

    public enum MetadataBackend: String, Sendable {
        /// SQLite in the data directory: the embedded default.
        case sqlite
        /// In memory: nothing is kept when the process ends (tests, demos).
        case memory
    }

    public init() {}

    public var databasePath: String { dataDir + "/glimpse.db" }
    public var imagesPath: String { dataDir + "/images" }

    /// One setting: its key in the config file (`key = value`), which is also its environment
    /// variable (`GLIMPSE_KEY`) and flag (`--key`).
    public struct Setting: Sendable {
        public let key: String
        public let help: String
        let apply: @Sendable (inout ServerConfig, String) throws -> Void

        public var environmentName: String { "GLIMPSE_" + key.uppercased() }
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

    static func list(_ v: String) -> [String] {
        v.split(separator: ",").map { $0.trimming(" ") }.filter { !$0.isEmpty }
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
        Setting(key: "admin_password", help: "Password of the bootstrap admin (new data directory only)") { c, v in
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
        Setting(key: "default_page_size", help: "Images per page when the client sets no limit") { c, v in
            c.image.defaultPageSize = try int("default_page_size", v)
        },
        Setting(key: "max_page_size", help: "Largest page of images") { c, v in
            c.image.maxPageSize = try int("max_page_size", v)
        },
        Setting(key: "metadata_backend", help: "Where metadata lives: sqlite (in data_dir) or memory (kept by nothing)")
        { c, v in
            guard let b = MetadataBackend(rawValue: v.lowercased()) else {
                throw ConfigError(description: "metadata_backend: use sqlite or memory")
            }
            c.metadataBackend = b
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
        Setting(key: "metrics_port", help: "Serve Prometheus metrics at GET /metrics on this port (0: off)") { c, v in
            c.metricsPort = try int("metrics_port", v)
        },
        Setting(key: "upload_lease_seconds", help: "Seconds an upload counts as alive without news from its process") {
            c, v in
            c.image.uploadLeaseSeconds = Int64(max(1, try int("upload_lease_seconds", v)))
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
            if let v = environment[s.environmentName] { values[s.key] = v }
        }
        values.merge(overrides) { $1 }
        for (key, value) in values.sorted(by: { $0.key < $1.key }) {
            if let dot = key.firstIndex(of: ".") {
                // `store.option`: an option of the image store `store`.
                config.storeOptions[String(key[..<dot]), default: [:]][String(key[key.index(after: dot)...])] = value
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
        return config
    }

    /// Reads `key = value` lines; `#` and `;` start comments. Keys under a `[section]`
    /// header are options of the image store of that id (`[local]` → `local.path`), except
    /// in `[DEFAULT]` and `[glimpse]`, which hold the settings themselves.
    static func parseFile(_ path: String) throws -> [String: String] {
        guard let f = fopen(path, "r") else { throw ConfigError(description: "cannot read config file \(path)") }
        defer { fclose(f) }
        var text: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&buf, 1, buf.count, f)
            if n <= 0 { break }
            text += buf[0..<n]
        }
        var out: [String: String] = [:]
        var section = ""
        for (i, raw) in String(decoding: text, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
            .enumerated()
        {
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

extension String {
    /// `1_000_000` → `1000000`.
    func replacingUnderscores() -> String { String(filter { $0 != "_" }) }
}
