import Foundation
import GlimpseServer
import GlimpseTestSupport
import Testing

@Suite("Configuration")
struct ConfigurationTests {
    /// A config file in a directory of its own, removed afterwards.
    func withFile<T>(_ text: String, _ body: (String) throws -> T) throws -> T {
        let dir = TestServer.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/glimpse.conf"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return try body(path)
    }

    @Test("a config file names the stores; [id] sections hold their options; flags and environment win")
    func storesFromFile() throws {
        let config = try withFile(
            """
            # Two stores, the second the default.
            [DEFAULT]
            port = 9000
            enabled_backends = fast:file, bulk:memory
            default_backend = bulk

            [fast]
            path = /srv/fast
            direct_io = false
            """
        ) { path in
            try ServerConfig.load(
                file: path, environment: ["GLIMPSE_PORT": "9100"], overrides: ["fast.path": "/srv/faster"])
        }
        #expect(config.port == 9100)
        #expect(
            config.enabledBackends.map(\.id) == ["fast", "bulk"]
                && config.enabledBackends.map(\.type) == ["file", "memory"])
        #expect(config.defaultBackend == "bulk")
        #expect(config.storeOptions["fast"] == ["path": "/srv/faster", "direct_io": "false"])
    }

    @Test("mistakes in the stores' configuration are refused with a message that names them")
    func mistakes() throws {
        #expect {
            _ = try ServerConfig.load(file: nil, environment: [:], overrides: ["nowhere.path": "/x"])
        } throws: { "\($0)".contains("options for image store 'nowhere', which enabled_backends does not name") }
        #expect {
            _ = try ServerConfig.load(file: nil, environment: [:], overrides: ["enabled_backends": "local"])
        } throws: { "\($0)".contains("'local' is not id:type") }
        let dir = TestServer.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = TestServer.configuration(dataDir: dir)
        config.storeOptions["local"] = ["colour": "blue"]
        #expect {
            _ = try Components(config, logger: TestServer.logger, exclusive: false)
        } throws: { "\($0)".contains("image store 'local': unknown option 'colour'") }
        config.storeOptions = [:]
        config.enabledBackends = [("local", "tape")]
        #expect {
            _ = try Components(config, logger: TestServer.logger, exclusive: false)
        } throws: { "\($0)".contains("unknown type 'tape'") }
        config.enabledBackends = [("local", "memory")]
        config.defaultBackend = "other"
        #expect {
            _ = try Components(config, logger: TestServer.logger, exclusive: false)
        } throws: { "\($0)".contains("the default store 'other' is not configured") }
    }

    @Test("store_url names the one store and stores several by URL; their mistakes are refused by name")
    func storeURLs() throws {
        let one = try ServerConfig.load(
            file: nil, environment: ["GLIMPSE_STORE_URL": "swift://u:k@10.0.0.1:8080/auth/v1.0?container=img"],
            overrides: [:])
        #expect(one.enabledBackends.map(\.id) == ["swift"] && one.enabledBackends.map(\.type) == ["swift"])
        #expect(one.storeOptions["swift"]?["url"] == "swift://u:k@10.0.0.1:8080/auth/v1.0?container=img")
        let local = try ServerConfig.load(file: nil, environment: [:], overrides: ["store_url": "file:///srv/images"])
        #expect(local.enabledBackends.map(\.id) == ["local"] && local.enabledBackends.map(\.type) == ["file"])

        let several = try ServerConfig.load(
            file: nil, environment: [:],
            overrides: [
                "stores": "fast=s3://a:b@h:1/bkt?region=r&path_style=true, cheap=memory://", "default_store": "cheap",
            ])
        #expect(several.enabledBackends.map(\.id) == ["fast", "cheap"])
        #expect(several.enabledBackends.map(\.type) == ["s3", "memory"])
        #expect(several.storeOptions["fast"]?["url"] == "s3://a:b@h:1/bkt?region=r&path_style=true")
        #expect(several.defaultBackend == "cheap")

        #expect {
            _ = try ServerConfig.load(file: nil, environment: [:], overrides: ["store_url": "ftp://x/y"])
        } throws: { "\($0)".contains("'ftp' is not a store URL scheme") }
        #expect {
            _ = try ServerConfig.load(file: nil, environment: [:], overrides: ["stores": "s3://a:secret@h/b"])
        } throws: { "\($0)".contains("is not id=URL") && !"\($0)".contains("secret") }
        let dir = TestServer.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = TestServer.configuration(dataDir: dir)
        config.enabledBackends = [("objects", "s3")]
        config.storeOptions["objects"] = ["url": "s3://a:secret@h:1/bkt?colour=blue"]
        #expect {
            _ = try Components(config, logger: TestServer.logger, exclusive: false)
        } throws: { "\($0)".contains("image store 'objects': unknown option 'colour'") && !"\($0)".contains("secret") }
        config.storeOptions["objects"] = [:]
        #expect {
            _ = try Components(config, logger: TestServer.logger, exclusive: false)
        } throws: { "\($0)".contains("image store 'objects' of type s3 needs objects.url") }
    }

    @Test("database_url selects PostgreSQL; secrets come from the environment or from files")
    func databaseAndSecrets() throws {
        let url = "postgres://glimpse:s3cret@db:5432/glimpse"
        let fromEnv = try ServerConfig.load(file: nil, environment: ["GLIMPSE_DATABASE_URL": url], overrides: [:])
        #expect(fromEnv.metadataBackend == .postgresql && fromEnv.databaseURL == url)
        #expect(try ServerConfig.load(file: nil, environment: [:], overrides: [:]).metadataBackend == .sqlite)
        let fromFiles = try withFile(url + "\n") { path in
            try ServerConfig.load(
                file: nil, environment: ["GLIMPSE_KEYSTONE_SERVICE_PASSWORD_FILE": path],
                overrides: [
                    "database_url_file": path, "identity": "keystone", "keystone_url": "http://ks:5000/v3/",
                    "keystone_service_user": "glance", "keystone_member_roles": "Member, creator",
                ])
        }
        #expect(fromFiles.databaseURL == url && fromFiles.metadataBackend == .postgresql)
        #expect(fromFiles.identityMode == .keystone && fromFiles.keystone.url == "http://ks:5000/v3")
        #expect(fromFiles.keystone.servicePassword == url && fromFiles.keystone.serviceProject == "service")
        #expect(fromFiles.keystone.memberRoles == ["member", "creator"])
    }

    @Test("settings that cannot work together are refused")
    func conflicts() throws {
        let cases: [([String: String], String)] = [
            (["metadata_backend": "postgresql"], "metadata_backend postgresql needs database_url"),
            (["metadata_backend": "sqlite", "database_url": "postgres://u@h/d"], "metadata_backend is sqlite"),
            (["identity": "keystone"], "identity keystone needs keystone_url"),
            (["identity": "ldap"], "identity: use builtin or keystone"),
            (["database_url_file": "/nonexistent/secret"], "database_url_file: cannot read /nonexistent/secret"),
            (["tls_cert_file": "/etc/glimpse/cert.pem"], "TLS needs both tls_cert_file and tls_key_file"),
        ]
        for (overrides, message) in cases {
            #expect {
                _ = try ServerConfig.load(file: nil, environment: [:], overrides: overrides)
            } throws: { "\($0)".contains(message) }
        }
        var config = ServerConfig()
        config.metadataBackend = .postgresql
        config.databaseURL = "postgres://nobody@db/glimpse?sslmode=sometimes"
        config.enabledBackends = [("local", "memory")]
        #expect {
            _ = try Components(config, logger: TestServer.logger, exclusive: false)
        } throws: { "\($0)".contains("sslmode must be") }
    }

    @Test("connection and login limits: settings, and the default cap from the descriptor limit")
    func connectionSettings() throws {
        let config = try ServerConfig.load(
            file: nil, environment: ["GLIMPSE_MAX_CONNECTIONS": "300"],
            overrides: [
                "client_idle_timeout": "20", "client_body_timeout": "30", "client_send_timeout": "40",
                "login_failures_per_user": "5", "login_failures_per_address": "0",
            ])
        let policy = config.connectionPolicy
        #expect(policy.maxConnections == 300)
        #expect(policy.idleTimeout == .seconds(20) && policy.bodyTimeout == .seconds(30))
        #expect(policy.sendTimeout == .seconds(40))
        #expect(config.identity.loginLimits.perUser == 5 && config.identity.loginLimits.perAddress == .max)
        let derived = ServerConfig().connectionPolicy.maxConnections
        #expect(derived >= 16 && derived <= 4096)
    }
}
