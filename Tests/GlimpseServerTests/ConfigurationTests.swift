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
}
