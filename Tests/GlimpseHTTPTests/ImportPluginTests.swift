import GlimpseCore
import GlimpseServer
import GlimpseTestSupport
import OpenStackJSON
import Testing

@Suite("Import plugins")
struct ImportPluginTests {
    @Test(
        "inject_image_metadata: every import but copy-image sets the properties, unless the caller holds an ignored role"
    )
    func injectMetadata() async throws {
        let config = try ServerConfig.load(
            file: nil, environment: [:],
            overrides: ["inject_metadata_properties": "hw_machine_type: q35, origin:import"])
        try await TestApp.with({
            $0.image.injectedProperties = config.image.injectedProperties
            $0.enabledBackends = [("fast", "memory"), ("cold", "memory")]
            $0.importMethods = ["glance-direct", "copy-image"]
        }) { s in
            let admin = try await s.adminToken()
            let (member, _) = try await s.makeUser("plugin-user", project: "plugins", admin: admin)
            let mine = try await s.stagedImport(member).id
            var image = try await s.request(.GET, "/v2/images/\(mine)", token: member).json
            #expect(image["status"] == "active")
            #expect(image["hw_machine_type"] == "q35" && image["origin"] == "import")
            // An admin's import: nothing injected (ignore_user_roles = admin).
            let admins = try await s.stagedImport(admin).id
            image = try await s.request(.GET, "/v2/images/\(admins)", token: admin).json
            #expect(image["hw_machine_type"] == nil && image["origin"] == nil)
            // copy-image runs no plugin, whoever asks.
            let copied = try await s.json(
                .POST, "/v2/images/\(admins)/import", token: admin,
                ["method": ["name": "copy-image"], "stores": ["cold"]])
            #expect(copied.status == 202)
            await s.components.images.imports.wait()
            image = try await s.request(.GET, "/v2/images/\(admins)", token: admin).json
            #expect(image["stores"] == "fast,cold" || image["stores"] == "cold,fast")
            #expect(image["hw_machine_type"] == nil)
        }
        // Listing the plugin in import_plugins changes nothing: it acts once its properties are set.
        let listed = try ServerConfig.load(
            file: nil, environment: [:],
            overrides: ["import_plugins": "inject_image_metadata", "inject_metadata_properties": "origin:import"])
        try await TestApp.with({
            $0.image = listed.image
            $0.importMethods = ["glance-direct"]
        }) { s in
            let admin = try await s.adminToken()
            let (member, _) = try await s.makeUser("plugin-user", project: "plugins", admin: admin)
            let mine = try await s.stagedImport(member).id
            let image = try await s.request(.GET, "/v2/images/\(mine)", token: member).json
            #expect(image["status"] == "active" && image["origin"] == "import")
        }
        for (value, message) in [
            ("nocolon", "'nocolon' is not key:value"), ("name:x", "'name' cannot be set"),
            ("os_glance_x:y", "'os_glance_x' cannot be set"),
        ] {
            #expect {
                _ = try ServerConfig.load(file: nil, environment: [:], overrides: ["inject_metadata_properties": value])
            } throws: { "\($0)".contains(message) }
        }
    }
}
