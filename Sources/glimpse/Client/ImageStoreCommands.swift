import ArgumentParser
import OpenStack
import OpenStackJSON

/// Interoperable import and the data stores of multi-store clouds, as `openstack image
/// stage`, `image import` and `image stores list` spell them.
extension ImageCommand {
    struct Stage: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Upload data to an image's staging area.")
        @OptionGroup var client: ClientOptions
        @Option(help: "File to stage; `-` reads standard input.") var file: String
        @Flag(help: "Show a progress bar (default when stderr is a terminal).") var progress = false
        @Argument(help: "Image id or name.") var image: String

        func run() async throws {
            try await runReporting {
                let images = client.images(try client.connect())
                let id = try await images.findImage(image).id
                let source: UploadSource = file == "-" ? .stream(StandardInput(), length: nil) : .file(file)
                let bar = ProgressBar(enabled: progress || ProgressBar.terminal, label: "stage")
                defer { bar.finish() }
                try await images.stageData(id, from: source, progress: bar.update)
            }
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Import staged data (glance-direct), a URL (web-download), or copy an image into more stores (copy-image)."
        )
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions
        @Option(help: "glance-direct, web-download or copy-image.") var method = "glance-direct"
        @Option(help: "With web-download: the URL to fetch.") var uri: String?
        @Option(help: "A store to import into (repeatable).") var store: [String] = []
        @Flag(help: "Import into every store.") var allStores = false
        @Flag(help: "Succeed if at least one store received the data.") var allowFailure = false
        @Flag(help: "Fail unless every store received the data (the default).") var disallowFailure = false
        @Flag(help: "Wait until the import has finished.") var wait = false
        @Argument(help: "Image id or name.") var image: String

        func validate() throws {
            if allStores, !store.isEmpty { throw ValidationError("--store and --all-stores exclude each other") }
            if allowFailure, disallowFailure {
                throw ValidationError("--allow-failure and --disallow-failure exclude each other")
            }
            if method == "copy-image", store.isEmpty, !allStores {
                throw ValidationError("copy-image needs --store or --all-stores")
            }
        }

        func run() async throws {
            try await runReporting {
                let images = client.images(try client.connect())
                let id = try await images.findImage(image).id
                try await images.importImage(
                    id, method: method, uri: uri, stores: store.isEmpty ? nil : store, allStores: allStores,
                    allStoresMustSucceed: allowFailure ? false : disallowFailure ? true : nil)
                var result = try await images.getImage(id)
                if wait {
                    result = try await Self.waitForImport(images, id)
                }
                print(try Output.record(ImageCommand.fields(result), output))
            }
        }

        /// Waits until the image is active and no store is still being imported into.
        static func waitForImport(_ images: ImageServiceV2, _ id: String) async throws -> Image {
            while true {
                let image = try await images.getImage(id)
                let importing = image.properties["os_glance_importing_to_stores"]?.stringValue ?? ""
                if image.status == .active, importing.isEmpty { return image }
                if image.status == .killed || image.status == .deleted {
                    throw CLIError("the import of image \(id) failed: it is \(image.status.rawValue)")
                }
                try await Task.sleep(for: .seconds(1))
            }
        }
    }

    struct StoresGroup: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "stores", abstract: "The data stores of a multi-store cloud.", subcommands: [StoresList.self])
    }

    struct StoresList: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List the data stores.")
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions
        @Flag(help: "Type, weight and properties too (admins).") var detail = false

        func run() async throws {
            try await runReporting {
                let images = client.images(try client.connect())
                let stores = try await images.storeDetails(detail: detail)
                var headers = ["ID", "Description", "Default"]
                if detail { headers += ["Type", "Weight", "Properties"] }
                let rows = stores.map { s -> [JSONValue] in
                    var row: [JSONValue] = [.string(s.id), .optionalString(s.description), s.isDefault ? true : .null]
                    if detail {
                        row += [
                            .optionalString(s.type), s.weight.map { .number(JSONNumber($0)) } ?? .null,
                            s.properties.map { .object($0) } ?? .null,
                        ]
                    }
                    return row
                }
                let text = try Output.list(headers, rows, output)
                if !text.isEmpty { print(text) }
            }
        }
    }
}
