import ArgumentParser
import GlimpseCore
import GlimpseIdentity
import GlimpseSQLite
import GlimpseServer
import OpenStackEncoding
import OpenStackJSON

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Maintenance of a data directory.
struct AdminCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "admin",
        abstract: "Maintain a deployment's stores (works while the server runs, uploads included).",
        subcommands: [Database.self, SetPassword.self, Purge.self, Fsck.self, Seed.self, PolicyCommand.self])

    struct Database: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "db", abstract: "The metadata database's schema.",
            subcommands: [Migrate.self, Status.self])

        struct Migrate: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Bring the schema up to date (servers also do this as they start; nodes take turns).")
            @OptionGroup var options: ServerOptions

            func run() async throws {
                let config = try options.load()
                let components = try Components(config, logger: options.logger(config), exclusive: false)
                do {
                    let before = try await components.metadata.schemaStatus()
                    try await components.metadata.withLock("prepare", wait: true) {
                        try await components.metadata.migrate()
                    }
                    let after = try await components.metadata.schemaStatus()
                    try await components.close()
                    print(
                        before.applied == after.applied
                            ? "The \(after.backend) schema is up to date (\(after.applied) of \(after.known) steps)."
                            : "Migrated the \(after.backend) schema from step \(before.applied) to \(after.applied).")
                } catch {
                    try? await components.close()
                    throw error
                }
            }
        }

        struct Status: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Show how many schema steps the database has and how many this build knows; exit 1 if behind."
            )
            @OptionGroup var options: ServerOptions

            func run() async throws {
                let config = try options.load()
                let components = try Components(config, logger: options.logger(config), exclusive: false)
                let status: SchemaStatus
                do {
                    status = try await components.metadata.schemaStatus()
                    try await components.close()
                } catch {
                    try? await components.close()
                    throw error
                }
                print("backend: \(status.backend)\napplied: \(status.applied)\nknown: \(status.known)")
                print(status.isCurrent ? "status: up to date" : "status: behind (run `glimpse admin db migrate`)")
                if !status.isCurrent { throw ExitCode(1) }
            }
        }
    }

    struct Purge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "purge",
            abstract:
                "Remove deleted images older than the retention, undo uploads whose process died, remove orphaned data."
        )

        @OptionGroup var options: ServerOptions
        @Option(help: "Age in seconds; defaults to the deleted_image_retention setting (30 days).")
        var olderThan: Int64?

        func run() async throws {
            let config = try options.load()
            let components = try await Components.forMaintenance(config, logger: options.logger(config))
            let report = try await components.purge(olderThan: olderThan)
            try await components.close()
            func plural(_ n: Int, _ noun: String) -> String { "\(n) \(noun)\(n == 1 ? "" : "s")" }
            print(
                "Purged \(plural(report.tombstones, "deleted image")); undid \(plural(report.abandonedUploads, "abandoned upload")); "
                    + "removed \(plural(report.orphans, "orphaned object")).")
        }
    }

    struct Fsck: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "fsck",
            abstract:
                "Check metadata against data: undo uploads whose process died, remove data no image refers to "
                + "(older than orphan_grace_seconds), report images whose data is missing or of another size. "
                + "Exits 1 if an image's data is damaged.")

        @OptionGroup var options: ServerOptions
        @Flag(help: "Report what would be undone or removed, changing nothing.")
        var dryRun = false

        func run() async throws {
            let config = try options.load()
            let components = try await Components.forMaintenance(config, logger: options.logger(config))
            let report: ImageService.ConsistencyReport
            do {
                report = try await components.images.checkConsistency(dryRun: dryRun)
                try await components.close()
            } catch {
                try? await components.close()
                throw error
            }
            print(Self.render(report, dryRun: dryRun), terminator: "")
            if !report.damaged.isEmpty { throw ExitCode(1) }
        }

        /// The report: a section per finding, then one summary line.
        static func render(_ report: ImageService.ConsistencyReport, dryRun: Bool) -> String {
            let (undo, remove) = dryRun ? ("would undo", "would remove") : ("undone", "removed")
            var out = ""
            for lease in report.abandonedUploads {
                out +=
                    "abandoned upload (\(undo)): image \(lease.imageId), node \(lease.owner), "
                    + (lease.storeId.isEmpty
                        ? "\(lease.received) bytes read from a location\n"
                        : "\(lease.received) bytes at \(lease.storeId):\(lease.pendingLocation)\n")
            }
            for orphan in report.orphans {
                let kind = orphan.blob.pending ? "pending" : "committed"
                let size = orphan.blob.size.map { "\($0) bytes" } ?? "size unknown"
                out +=
                    "orphaned \(kind) data (\(remove)): \(orphan.storeId):\(orphan.blob.location), \(size), "
                    + "written \(orphan.blob.modifiedAt.iso8601)\n"
            }
            for image in report.damaged {
                let problem =
                    switch image.problem {
                    case .missing: "data missing"
                    case .sizeDiffers(let stored):
                        "\(stored) bytes stored, \(image.recordedSize.map(String.init) ?? "no size") recorded"
                    }
                out +=
                    "damaged image (reported, not changed): \(image.imageId) at "
                    + "\(image.location.storeId):\(image.location.location): \(problem)\n"
            }
            let bytes = report.orphans.reduce(0) { $0 + ($1.blob.size ?? 0) }
            out +=
                "fsck\(dryRun ? " (dry run)" : ""): \(report.imagesChecked) images checked; "
                + "abandoned uploads \(undo): \(report.abandonedUploads.count); "
                + "orphaned objects \(remove): \(report.orphans.count) (\(bytes) bytes); "
                + "damaged images: \(report.damaged.count)\n"
            return out
        }
    }

    struct SetPassword: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set-password",
            abstract: "Set a user's password (reads it from stdin if --password is not given).")

        @OptionGroup var options: ServerOptions
        @Option(help: "User name in the Default domain.")
        var user = "admin"
        @Option(help: "The new password.")
        var password: String?

        func run() async throws {
            let config = try options.load()
            let components = try await Components.forMaintenance(config, logger: options.logger(config))
            var pw = password
            if pw == nil {
                pw = readLine(strippingNewline: true)
            }
            guard let pw, !pw.isEmpty else { throw ValidationError("no password given") }
            guard let keystone = components.keystone else {
                try await components.close()
                throw ValidationError("identity is the cloud's Keystone: set passwords there")
            }
            try await keystone.setPassword(userName: user, password: pw)
            try await components.close()
            print("Password of \(user) changed.")
        }
    }
}

extension AdminCommand {
    /// Fills a data directory with synthetic images, for scaling measurements.
    struct Seed: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "seed",
            abstract: "Insert synthetic images straight into the metadata store (for benchmarks).")

        @OptionGroup var options: ServerOptions
        @Option(help: "How many images.") var count = 10_000
        @Option(help: "Owner project id (default: the admin project).") var owner: String?
        @Option(help: "Tag every image carries.") var tag = "seeded"

        func run() async throws {
            let config = try options.load()
            let components = try Components(config, logger: options.logger(config), exclusive: false)
            try await components.prepare()
            var project = owner
            if project == nil {
                project = try await components.metadata.project(name: "admin", domainId: "default")?.id
            }
            let statuses: [ImageStatus] = [.active, .active, .active, .queued]
            let formats = ["raw", "qcow2", "vmdk", "iso"]
            let base = Timestamp.now().microseconds - Int64(count) * 1000
            var batch: [Image] = []
            batch.reserveCapacity(5000)
            for i in 0..<count {
                let at = Timestamp(microseconds: base + Int64(i) * 1000)
                let status = statuses[i % statuses.count]
                var image = Image(
                    id: Identifiers.uuid(), name: "seed-\(i)", status: status,
                    visibility: i % 5 == 0 ? .public : .shared,
                    owner: project, diskFormat: formats[i % formats.count], containerFormat: "bare",
                    minDisk: i % 20, minRam: (i % 8) * 256, createdAt: at, updatedAt: at,
                    properties: [
                        "os_distro": .string(["ubuntu", "debian", "fedora"][i % 3]), "hw_disk_bus": "virtio",
                        "seed_index": .number(JSONNumber(i)),
                    ],
                    tags: [tag, "group-\(i % 10)"])
                if status == .active {
                    image.size = 1 << 20 + i
                    image.virtualSize = image.size
                    image.checksum = String(repeating: "0", count: 32)
                    image.osHashAlgo = "sha512"
                    image.osHashValue = String(repeating: "0", count: 128)
                }
                batch.append(image)
                if batch.count == 5000 || i == count - 1 {
                    try await components.metadata.insertImages(batch)
                    batch.removeAll(keepingCapacity: true)
                }
            }
            _ = try await components.metadata.summarizeImages()
            try await components.close()
            print("Inserted \(count) images.")
        }
    }
}
