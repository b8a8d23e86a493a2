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

    @Test("image import, stage, stores list and delete --store as openstack spells them")
    func multiStoreCommands() throws {
        let copy = try #require(
            try GlimpseCommand.parseAsRoot([
                "image", "import", "img", "--method", "copy-image", "--store", "a", "--store", "b",
            ])
                as? ImageCommand.Import)
        #expect(copy.store == ["a", "b"] && copy.method == "copy-image" && !copy.allStores)
        #expect(throws: (any Error).self) {
            try GlimpseCommand.parseAsRoot(["image", "import", "img", "--method", "copy-image"])
        }
        #expect(throws: (any Error).self) {
            try GlimpseCommand.parseAsRoot(["image", "import", "img", "--store", "a", "--all-stores"])
        }
        #expect(throws: (any Error).self) {
            try GlimpseCommand.parseAsRoot(["image", "import", "img", "--allow-failure", "--disallow-failure"])
        }
        let stage = try #require(
            try GlimpseCommand.parseAsRoot(["image", "stage", "--file", "-", "img"]) as? ImageCommand.Stage)
        #expect(stage.file == "-" && stage.image == "img")
        let stores = try #require(
            try GlimpseCommand.parseAsRoot(["image", "stores", "list", "--detail"]) as? ImageCommand.StoresList)
        #expect(stores.detail)
        let delete = try #require(
            try GlimpseCommand.parseAsRoot(["image", "delete", "--store", "fast", "img"]) as? ImageCommand.Delete)
        #expect(delete.store == "fast" && delete.images == ["img"])
    }
}
