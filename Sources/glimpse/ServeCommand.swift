import ArgumentParser
import GlimpseServer
import Hummingbird
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Options shared by the commands that open a data directory.
struct ServerOptions: ParsableArguments {
    @Option(help: "Config file with `key = value` lines (see `glimpse serve --help`).")
    var config: String?
    @Option(help: "Address to listen on [127.0.0.1].")
    var host: String?
    @Option(help: "Port to listen on [9292].")
    var port: Int?
    @Option(help: "Directory for the database and image data [./glimpse-data].")
    var dataDir: String?
    @Option(help: "Base URL clients use, when not the address they connect to.")
    var publicURL: String?
    @Option(help: "Region name in the service catalog [RegionOne].")
    var region: String?
    @Option(help: "Password of the bootstrap admin of a new data directory (or GLIMPSE_ADMIN_PASSWORD).")
    var adminPassword: String?
    @Option(help: "trace, debug, info, notice, warning, error or critical [info].")
    var logLevel: String?
    @Option(help: "text or json [text].")
    var logFormat: String?
    @Option(
        name: .customLong("set"), help: "Any setting as key=value (repeatable), e.g. --set require_format_match=false.")
    var settings: [String] = []

    func load() throws -> ServerConfig {
        var overrides: [String: String] = [:]
        let pairs: [(String, String?)] = [
            ("host", host), ("port", port.map(String.init)), ("data_dir", dataDir), ("public_url", publicURL),
            ("region", region), ("admin_password", adminPassword), ("log_level", logLevel), ("log_format", logFormat),
        ]
        for (k, v) in pairs { if let v { overrides[k] = v } }
        for s in settings {
            guard let eq = s.firstIndex(of: "=") else { throw ValidationError("--set expects key=value, got '\(s)'") }
            overrides[String(s[..<eq])] = String(s[s.index(after: eq)...])
        }
        var environment: [String: String] = [:]
        for name in ServerConfig.settings.flatMap(\.environmentNames) {
            if let v = getenv(name) { environment[name] = String(cString: v) }
        }
        do {
            return try ServerConfig.load(
                file: config ?? environment["GLIMPSE_CONFIG"], environment: environment, overrides: overrides)
        } catch let e as ServerConfig.ConfigError {
            throw ValidationError(e.description)
        }
    }

    func logger(_ config: ServerConfig) -> Logger {
        let level = config.logLevel
        let json = config.logFormat == .json
        LoggingSystem.bootstrap { label in LineLogHandler(label: label, level: level, json: json) }
        return Logger(label: "glimpse")
    }
}

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the image service (Glance v2 API, Keystone v3 subset, compute images API).",
        discussion: """
            Settings (config file keys; environment GLIMPSE_<KEY>; flags --<key> or --set key=value). \
            A secret (*) can be read from a file instead: <key>_file = PATH (GLIMPSE_<KEY>_FILE).
            \(ServerConfig.settings.map { "  \($0.key)\($0.secret ? " (*)" : ""): \($0.help)" }.joined(separator: "\n"))
            """)

    @OptionGroup var options: ServerOptions

    func run() async throws {
        MemoryTuning.apply()
        let config = try options.load()
        let logger = options.logger(config)
        let components = try Components(config, logger: logger, exclusive: true)
        let app = buildApplication(components) { port in
            let base = config.publicURL ?? "http://\(config.host == "0.0.0.0" ? "127.0.0.1" : config.host):\(port)"
            logger.notice(
                "glimpse is serving",
                metadata: [
                    "images": "\(base)/v2", "identity": "\(base)/identity/v3",
                    "data_dir": "\(config.dataDir)",
                ])
            if let bootstrap = components.createdAdmin {
                var text =
                    bootstrap.generated
                    ? "\nCreated the admin user with a generated password; it is shown only this once.\nPaste these lines to use the openstack CLI:\n\n"
                    : "\nCreated the admin user. Paste these lines to use the openstack CLI:\n\n"
                text += """
                    export OS_AUTH_URL=\(base)/identity/v3
                    export OS_IDENTITY_API_VERSION=3
                    export OS_USERNAME=admin
                    export OS_PASSWORD=\(bootstrap.adminPassword)
                    export OS_PROJECT_NAME=admin
                    export OS_USER_DOMAIN_NAME=Default
                    export OS_PROJECT_DOMAIN_NAME=Default
                    export OS_REGION_NAME=\(config.region)

                    """
                // Straight to the descriptor: the lines must appear even when stdout is a pipe.
                var bytes = Array((text + "\n").utf8)
                _ = bytes.withUnsafeMutableBytes { write(1, $0.baseAddress, $0.count) }
            }
        }
        try await app.runService()
    }
}
