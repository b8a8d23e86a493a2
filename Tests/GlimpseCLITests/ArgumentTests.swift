import Testing

@testable import glimpse

@Suite("CLI arguments")
struct ArgumentTests {
    @Test("--os-* options before the command, as openstack takes them, reach the command")
    func leadingOptions() throws {
        let moved = ClientOptions.movingLeadingOptions(
            ["--os-cloud", "demo", "--os-region-name=R2", "image", "list", "--long"])
        #expect(moved == ["image", "list", "--long", "--os-cloud", "demo", "--os-region-name=R2"])
        let command = try GlimpseCommand.parseAsRoot(moved)
        let list = try #require(command as? ImageCommand.List)
        #expect(list.client.cloud == "demo" && list.client.region == "R2" && list.long)
        #expect(
            ClientOptions.movingLeadingOptions(["--os-cloud", "c", "image", "show", "--", "-odd-name"])
                == ["image", "show", "--os-cloud", "c", "--", "-odd-name"])
        #expect(ClientOptions.movingLeadingOptions(["image", "list"]) == ["image", "list"])
    }
}
