import ArgumentParser
import Foundation
import NIOCore
import OpenStack
import OpenStackEncoding

/// `glimpse image …`: the image commands of `openstack image`, over the OpenStack SDK.
struct ImageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image",
        abstract: "Manage images (like `openstack image`).",
        subcommands: [
            Create.self, List.self, Show.self, Set.self, Unset.self, Delete.self, Save.self, Stage.self,
            Import.self, AddGroup.self, RemoveGroup.self, MemberGroup.self, StoresGroup.self, Migrate.self,
        ])

    /// The fields `openstack image show` prints, with the rest under `properties`.
    static func fields(_ image: Image) -> JSONObject {
        // In `openstack image show`'s order: the hash and hidden flag, the custom
        // properties as the server sent them, then the stores and locations.
        var props: JSONObject = ["os_hidden": .bool(image.isHidden)]
        if let a = image.osHashAlgo { props["os_hash_algo"] = .string(a) }
        if let v = image.osHashValue { props["os_hash_value"] = .string(v) }
        for m in image.properties.members where props[m.key] == nil { props[m.key] = m.value }
        if let s = image.stores { props["stores"] = .string(s) }
        if let d = image.directURL { props["direct_url"] = .string(d) }
        if let l = image.locations { props["locations"] = l }
        var o = JSONObject()
        o["checksum"] = .optionalString(image.checksum)
        o["container_format"] = .optionalString(image.containerFormat?.rawValue)
        o["created_at"] = .optionalString(image.createdAt.map(iso))
        o["disk_format"] = .optionalString(image.diskFormat?.rawValue)
        o["file"] = .optionalString(image.file)
        o["id"] = .string(image.id)
        o["min_disk"] = .number(JSONNumber(image.minDisk))
        o["min_ram"] = .number(JSONNumber(image.minRam))
        o["name"] = .optionalString(image.name)
        o["owner"] = .optionalString(image.owner)
        o["properties"] = .object(props)
        o["protected"] = .bool(image.isProtected)
        o["schema"] = .optionalString(image.schema)
        o["size"] = image.size.map { .number(JSONNumber($0)) } ?? .null
        o["status"] = .string(image.status.rawValue)
        o["tags"] = .array(image.tags.map { .string($0) })
        o["updated_at"] = .optionalString(image.updatedAt.map(iso))
        o["virtual_size"] = image.virtualSize.map { .number(JSONNumber($0)) } ?? .null
        o["visibility"] = .string(image.visibility.rawValue)
        // `openstack image show` leaves out what has no value (a queued image's size).
        return JSONObject(o.members.filter { $0.value != .null })
    }

    static func iso(_ d: Date) -> String {
        Timestamp(d).iso8601
    }

    static func parseProperties(_ items: [String]) throws -> JSONObject {
        var o = JSONObject()
        for item in items {
            guard let eq = item.firstIndex(of: "=") else {
                throw CLIError("--property expects key=value, got '\(item)'")
            }
            o[String(item[..<eq])] = .string(String(item[item.index(after: eq)...]))
        }
        return o
    }

    /// Visibility flags shared by `create` and `set`.
    struct VisibilityFlags: ParsableArguments {
        @Flag(name: .customLong("public"), help: "Visible to everyone (admins only).") var isPublic = false
        @Flag(name: .customLong("private"), help: "Only the owner's project.") var isPrivate = false
        @Flag(name: .customLong("shared"), help: "The owner and projects it is shared with.") var isShared = false
        @Flag(name: .customLong("community"), help: "Everyone, without listing it by default.") var isCommunity = false

        var visibility: ImageVisibility? {
            if isPublic { return .public }
            if isPrivate { return .private }
            if isShared { return .shared }
            if isCommunity { return .community }
            return nil
        }
    }

    /// `--protected` / `--unprotected`.
    struct ProtectionFlags: ParsableArguments {
        @Flag(help: "Protect from deletion.") var protected = false
        @Flag(help: "Allow deletion.") var unprotected = false
        var value: Bool? { protected ? true : unprotected ? false : nil }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an image, uploading data from a file.")
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "Image name.") var name: String
        @Option(help: "Image id (a UUID).") var id: String?
        @Option(help: "File to upload; `-` reads standard input.") var file: String?
        @Option(help: "Disk format (raw, qcow2, vmdk, …).") var diskFormat = "raw"
        @Option(help: "Container format (bare, ovf, …).") var containerFormat = "bare"
        @Option(help: "Minimum disk in GB.") var minDisk: Int?
        @Option(help: "Minimum RAM in MB.") var minRam: Int?
        @Option(help: "A custom property key=value (repeatable).") var property: [String] = []
        @Option(help: "A tag (repeatable).") var tag: [String] = []
        @OptionGroup var protection: ProtectionFlags
        @Flag(help: "Hide from default listings (os_hidden).") var hidden = false
        @Flag(help: "Use interoperable import (stage, then glance-direct) instead of a plain upload.") var `import` =
            false
        @Flag(help: "Show a progress bar (default when stderr is a terminal).") var progress = false
        @Option(help: "The store to upload to (multi-store clouds; the default store if not given).") var store: String?
        @OptionGroup var visibility: VisibilityFlags

        func run() async throws {
            try await runReporting {
                let images = client.images(try client.connect())
                let options = ImageCreate(
                    name: name, id: id, diskFormat: DiskFormat(rawValue: diskFormat),
                    containerFormat: ContainerFormat(rawValue: containerFormat),
                    visibility: visibility.visibility, tags: tag, minDisk: minDisk, minRam: minRam,
                    isProtected: protection.value,
                    isHidden: hidden ? true : nil, properties: try ImageCommand.parseProperties(property))
                var image = try await images.createImage(options)
                if let file {
                    let source: UploadSource = file == "-" ? .stream(StandardInput(), length: nil) : .file(file)
                    let bar = ProgressBar(enabled: progress || ProgressBar.terminal, label: "upload")
                    do {
                        if self.import {
                            try await images.stageData(image.id, from: source, progress: bar.update)
                            try await images.importImage(image.id, stores: store.map { [$0] })
                            image = try await images.waitForStatus(image.id, .active, timeout: .seconds(3600)) ?? image
                        } else {
                            image = try await images.uploadData(
                                image.id, from: source, store: store, progress: bar.update)
                        }
                        bar.finish()
                    } catch {
                        bar.finish()
                        try? await images.delete(image.id)
                        throw error
                    }
                }
                print(try Output.record(ImageCommand.fields(image), output))
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List images (every page, filtered and sorted by the server).")
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions
        @OptionGroup var visibility: VisibilityFlags
        @Flag(name: .customLong("all"), help: "Every image you may see, community images included.") var all = false
        @Option(help: "Name.") var name: String?
        @Option(help: "Status.") var status: String?
        @Option(help: "Tag the images must carry (repeatable).") var tag: [String] = []
        @Option(help: "Membership status of shared images: accepted, pending, rejected, all.") var memberStatus: String?
        @Option(help: "Owner project id.") var project: String?
        @Option(help: "Custom property key=value (repeatable).") var property: [String] = []
        @Flag(help: "Only hidden images.") var hidden = false
        @Flag(help: "More columns.") var long = false
        @Option(
            help: """
                Sort keys: key[:asc|desc],…, applied by the server to the whole catalog (`openstack` \
                sorts the page it fetched).
                """) var sort = "name:asc"
        @Option(help: "Page size; with it only the first page of the sorted catalog is shown, as with `openstack`.")
        var limit: Int?
        @Option(help: "Start after this image (id or name).") var marker: String?
        @Option(help: "Show at most this many images.") var maxItems: Int?

        func run() async throws {
            try await runReporting {
                let images = client.images(try client.connect())
                var filter = ImageFilter()
                filter.name = name.map { .equals($0) }
                filter.status = status.map { .equals($0) }
                filter.tags = tag
                filter.owner = project
                filter.isHidden = hidden ? true : nil
                filter.visibility =
                    all
                    ? .all : visibility.visibility.map { ImageFilter.VisibilityScope(rawValue: $0.rawValue) ?? .all }
                filter.memberStatus = try memberStatus.map {
                    guard let m = ImageFilter.MemberStatusScope(rawValue: $0) else {
                        throw CLIError("--member-status: accepted, pending, rejected or all")
                    }
                    return m
                }
                for m in try ImageCommand.parseProperties(property) {
                    filter.properties[m.key] = m.value.stringValue ?? m.value.jsonString
                }
                let sortKeys = try sort.split(separator: ",").map { item -> ImageSort in
                    let parts = item.split(separator: ":")
                    guard let key = ImageSort.Key(rawValue: String(parts[0])) else {
                        throw CLIError("cannot sort by '\(parts[0])'")
                    }
                    return ImageSort(key, ascending: parts.count < 2 || parts[1] != "desc")
                }
                var query = images.listImages(filter, sort: sortKeys, pageSize: limit, maxItems: limit ?? maxItems)
                if let marker {
                    let start = try await images.findImage(marker).id
                    query = images.listImages(
                        filter, sort: sortKeys, pageSize: limit, maxItems: limit ?? maxItems, after: start)
                }
                let headers =
                    long
                    ? [
                        "ID", "Name", "Disk Format", "Container Format", "Size", "Checksum", "Status", "Visibility",
                        "Protected",
                        "Project", "Hash Algorithm", "Hash Value", "Tags",
                    ]
                    : ["ID", "Name", "Status"]
                var rows: [[JSONValue]] = []
                for try await i in query {
                    rows.append(
                        long
                            ? [
                                .string(i.id), .optionalString(i.name), .optionalString(i.diskFormat?.rawValue),
                                .optionalString(i.containerFormat?.rawValue),
                                i.size.map { .number(JSONNumber($0)) } ?? .null, .optionalString(i.checksum),
                                .string(i.status.rawValue),
                                .string(i.visibility.rawValue), .bool(i.isProtected), .optionalString(i.owner),
                                .optionalString(i.osHashAlgo),
                                .optionalString(i.osHashValue), .array(i.tags.map { .string($0) }),
                            ]
                            : [.string(i.id), .optionalString(i.name), .string(i.status.rawValue)])
                }
                let text = try Output.list(headers, rows, output)
                if !text.isEmpty { print(text) }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show an image (by id or name).")
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "Image id or name.") var image: String
        @Flag(help: "Sizes as KiB, MiB, GiB.") var humanReadable = false

        func run() async throws {
            try await runReporting {
                let found = try await client.images(try client.connect()).findImage(image)
                var fields = ImageCommand.fields(found)
                if humanReadable {
                    for key in ["size", "virtual_size"] {
                        if let n = fields[key]?.intValue { fields[key] = .string(ProgressBar.bytes(Int64(n))) }
                    }
                }
                print(try Output.record(fields, output))
            }
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change an image's attributes, properties, tags, state or membership.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "Image id or name.") var image: String
        @Option(help: "New name.") var name: String?
        @Option(help: "Minimum disk in GB.") var minDisk: Int?
        @Option(help: "Minimum RAM in MB.") var minRam: Int?
        @Option(help: "Disk format (queued images only).") var diskFormat: String?
        @Option(help: "Container format (queued images only).") var containerFormat: String?
        @Option(help: "A custom property key=value (repeatable).") var property: [String] = []
        @Option(help: "A tag to add (repeatable).") var tag: [String] = []
        @OptionGroup var protection: ProtectionFlags
        @Flag(help: "Hide from default listings.") var hidden = false
        @Flag(help: "Show in default listings again.") var unhidden = false
        @Flag(help: "Deactivate (data download refused).") var deactivate = false
        @Flag(help: "Reactivate.") var activate = false
        @Option(help: "With --accept/--reject/--pending: the member project (default: yours).") var project: String?
        @Flag(help: "Accept a shared image.") var accept = false
        @Flag(help: "Reject a shared image.") var reject = false
        @Flag(help: "Reset a shared image to pending.") var pending = false
        @OptionGroup var visibility: VisibilityFlags

        func run() async throws {
            try await runReporting {
                let os = try client.connect()
                let images = client.images(os)
                let current = try await images.findImage(image)
                var ops: [ImagePatch] = []
                if let name { ops.append(.replace("name", .string(name))) }
                if let minDisk { ops.append(.replace("min_disk", .number(JSONNumber(minDisk)))) }
                if let minRam { ops.append(.replace("min_ram", .number(JSONNumber(minRam)))) }
                if let diskFormat { ops.append(.replace("disk_format", .string(diskFormat))) }
                if let containerFormat { ops.append(.replace("container_format", .string(containerFormat))) }
                if let protected = protection.value { ops.append(.replace("protected", .bool(protected))) }
                if hidden || unhidden { ops.append(.replace("os_hidden", .bool(hidden))) }
                if let v = visibility.visibility { ops.append(.replace("visibility", .string(v.rawValue))) }
                for m in try ImageCommand.parseProperties(property) { ops.append(.add(m.key, m.value)) }
                let newTags = tag.filter { !current.tags.contains($0) }
                if !newTags.isEmpty {
                    ops.append(.replace("tags", .array((current.tags + newTags).map { .string($0) })))
                }
                if !ops.isEmpty { _ = try await images.update(current.id, ops) }
                if deactivate { try await images.deactivate(current.id) }
                if activate { try await images.reactivate(current.id) }
                if accept || reject || pending {
                    var member = project
                    if member == nil { member = try await os.token().projectId }
                    _ = try await images.updateMember(
                        current.id, project: member ?? "", status: accept ? .accepted : reject ? .rejected : .pending)
                }
            }
        }
    }

    struct Unset: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove tags and properties from an image.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "Image id or name.") var image: String
        @Option(help: "Tag to remove (repeatable).") var tag: [String] = []
        @Option(help: "Property to remove (repeatable).") var property: [String] = []

        func run() async throws {
            try await runReporting {
                let images = client.images(try client.connect())
                let current = try await images.findImage(image)
                for t in tag { try await images.removeTag(current.id, t) }
                if !property.isEmpty { _ = try await images.update(current.id, property.map { .remove($0) }) }
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete images (ids or names), or their data in one store; keeps going past failures.")
        @OptionGroup var client: ClientOptions
        @Option(help: "Delete only the data in this store (multi-store clouds).") var store: String?
        @Argument(help: "Image ids or names.") var images: [String]

        func run() async throws {
            try await runReporting {
                let service = client.images(try client.connect())
                var failed = 0
                for name in images {
                    do {
                        let id = try await service.findImage(name).id
                        if let store {
                            try await service.deleteFromStore(id, store: store)
                        } else {
                            try await service.delete(id)
                        }
                    } catch {
                        failed += 1
                        printError("Failed to delete image '\(name)': \(error)")
                    }
                }
                if failed > 0 { throw CLIError("Failed to delete \(failed) of \(images.count) images.") }
            }
        }
    }

    struct Save: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Download an image's data, verified against its hash; resumes an interrupted download.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "Image id or name.") var image: String
        @Option(help: "File to write (standard output if not given).") var file: String?
        @Flag(help: "Start over instead of resuming a .partial file.") var noResume = false
        @Flag(help: "Show a progress bar (default when stderr is a terminal and a file is given).") var progress = false

        func run() async throws {
            try await runReporting {
                let images = client.images(try client.connect())
                let found = try await images.findImage(image)
                if let file {
                    let bar = ProgressBar(enabled: progress || ProgressBar.terminal, label: "download")
                    defer { bar.finish() }
                    try await images.download(found.id, to: file, resume: !noResume, progress: bar.update)
                } else {
                    // To standard output: bytes go out as they arrive; a bad digest still fails the command.
                    let out = FileHandle.standardOutput
                    for try await chunk in try await images.downloadData(found.id) {
                        out.write(Data(chunk.readableBytesView))
                    }
                }
            }
        }
    }

    struct AddGroup: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add", abstract: "Share an image.", subcommands: [AddProject.self])
    }

    struct AddProject: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "project", abstract: "Share an image with a project.")
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "Image id or name.") var image: String
        @Argument(help: "Project id.") var project: String

        func run() async throws {
            try await runReporting {
                let images = client.images(try client.connect())
                let m = try await images.addMember(try await images.findImage(image).id, project: project)
                print(try Output.record(MemberGroup.fields(m), output))
            }
        }
    }

    struct RemoveGroup: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "remove", abstract: "Stop sharing an image.", subcommands: [RemoveProject.self])
    }

    struct RemoveProject: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "project", abstract: "Stop sharing an image with a project.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "Image id or name.") var image: String
        @Argument(help: "Project id.") var project: String

        func run() async throws {
            try await runReporting {
                let images = client.images(try client.connect())
                try await images.removeMember(try await images.findImage(image).id, project: project)
            }
        }
    }

    struct MemberGroup: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "member", abstract: "Image members.", subcommands: [MemberList.self])

        static func fields(_ m: ImageMember) -> JSONObject {
            [
                "created_at": .optionalString(m.createdAt.map(ImageCommand.iso)), "image_id": .string(m.imageId),
                "member_id": .string(m.memberId), "schema": "/v2/schemas/member", "status": .string(m.status.rawValue),
                "updated_at": .optionalString(m.updatedAt.map(ImageCommand.iso)),
            ]
        }
    }

    struct MemberList: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list", abstract: "List the projects an image is shared with.")
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "Image id or name.") var image: String

        func run() async throws {
            try await runReporting {
                let images = client.images(try client.connect())
                let members = try await images.members(try await images.findImage(image).id)
                let text = try Output.list(
                    ["Image ID", "Member ID", "Status"],
                    members.map { [.string($0.imageId), .string($0.memberId), .string($0.status.rawValue)] }, output)
                if !text.isEmpty { print(text) }
            }
        }
    }
}

/// Standard input as a byte stream.
struct StandardInput: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    struct AsyncIterator: AsyncIteratorProtocol {
        mutating func next() async throws -> ByteBuffer? {
            let data = FileHandle.standardInput.readData(ofLength: 1 << 20)
            return data.isEmpty ? nil : ByteBuffer(bytes: data)
        }
    }
    func makeAsyncIterator() -> AsyncIterator { AsyncIterator() }
}

/// Runs a command body; errors become one line on stderr (with the request id) and exit 1.
func runReporting(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let e as OpenStackError {
        printError("glimpse: \(e)")
        throw ExitCode(1)
    } catch let e as CLIError {
        printError("glimpse: \(e)")
        throw ExitCode(1)
    }
}

func printError(_ s: String) {
    FileHandle.standardError.write(Data((s + "\n").utf8))
}
