import ArgumentParser
import Foundation
import OpenStack
import OpenStackEncoding

/// `glimpse compute image …`: images through the compute API.
struct ComputeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compute", abstract: "The compute API's view of images.", subcommands: [ImageGroup.self])

    struct ImageGroup: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "image", abstract: "List, show and delete images through the compute API.",
            subcommands: [List.self, Show.self, Delete.self])
    }

    static func fields(_ i: ComputeImage) -> JSONObject {
        var meta = JSONObject()
        for (k, v) in i.metadata.sorted(by: { $0.key < $1.key }) { meta[k] = .string(v) }
        return [
            "id": .string(i.id), "name": .optionalString(i.name), "status": .optionalString(i.status?.rawValue),
            "progress": i.progress.map { .number(JSONNumber($0)) } ?? .null,
            "minDisk": i.minDisk.map { .number(JSONNumber($0)) } ?? .null,
            "minRam": i.minRam.map { .number(JSONNumber($0)) } ?? .null,
            "size": i.size.map { .number(JSONNumber($0)) } ?? .null,
            "created": .optionalString(i.created.map(ImageCommand.iso)),
            "updated": .optionalString(i.updated.map(ImageCommand.iso)), "server": .optionalString(i.serverId),
            "metadata": .object(meta),
        ]
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List images (all pages).")
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions
        @Flag(help: "Status, progress and sizes too.") var detail = false
        @Option(help: "Name.") var name: String?
        @Option(help: "ACTIVE, SAVING, DELETED, ERROR or UNKNOWN.") var status: String?
        @Option(help: "Server id or URL (snapshots of that server).") var server: String?
        @Option(help: "Changed since (ISO 8601); includes images deleted since.") var changesSince: String?
        @Option(help: "BASE or SNAPSHOT.") var type: String?
        @Option(help: "Minimum disk in GB.") var minDisk: Int?
        @Option(help: "Minimum RAM in MB.") var minRam: Int?
        @Option(help: "Page size.") var limit: Int?

        func run() async throws {
            try await runReporting {
                let compute = client.compute(try client.connect())
                var f = ComputeImageFilter(
                    name: name, status: status.map { ComputeImage.Status(rawValue: $0.uppercased()) },
                    server: server, minDisk: minDisk, minRam: minRam)
                if let changesSince {
                    guard let d = Timestamp(iso8601: changesSince)?.date else {
                        throw CLIError("--changes-since: not an ISO 8601 time")
                    }
                    f.changesSince = d
                }
                if let type {
                    guard let t = ComputeImageFilter.ImageType(rawValue: type.uppercased()) else {
                        throw CLIError("--type: BASE or SNAPSHOT")
                    }
                    f.type = t
                }
                var rows: [[JSONValue]] = []
                for try await i in compute.listImages(detailed: detail, filters: f, pageSize: limit) {
                    rows.append(
                        detail
                            ? [
                                .string(i.id), .optionalString(i.name), .optionalString(i.status?.rawValue),
                                i.progress.map { .number(JSONNumber($0)) } ?? .null,
                                i.size.map { .number(JSONNumber($0)) } ?? .null,
                                .optionalString(i.serverId),
                            ]
                            : [.string(i.id), .optionalString(i.name)])
                }
                let text = try Output.list(
                    detail ? ["ID", "Name", "Status", "Progress", "Size", "Server"] : ["ID", "Name"], rows, output)
                if !text.isEmpty { print(text) }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show an image.")
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "Image id.") var image: String

        func run() async throws {
            try await runReporting {
                print(
                    try Output.record(
                        ComputeCommand.fields(try await client.compute(try client.connect()).image(image)), output))
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete images.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "Image ids.") var images: [String]

        func run() async throws {
            try await runReporting {
                let compute = client.compute(try client.connect())
                var failed = 0
                for id in images {
                    do { try await compute.delete(id) } catch {
                        failed += 1
                        printError("Failed to delete image '\(id)': \(error)")
                    }
                }
                if failed > 0 { throw CLIError("Failed to delete \(failed) of \(images.count) images.") }
            }
        }
    }
}
