import ArgumentParser
import Foundation
import OpenStack
import Synchronization

extension ImageCommand {
    /// `glimpse image migrate`: every image of one cloud into another (see `ImageMigration`).
    struct Migrate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move every image of one cloud into another, keeping ids (admin of both; resumable).",
            discussion: """
                Clouds come from clouds.yaml. Each image is created in the target with its id, \
                metadata, members and their statuses, then its data streamed across and checked \
                by digest; protected, hidden and deactivated states follow. Run it again after an \
                interruption: images already moved are compared and brought level, never duplicated. \
                One line per image, then a summary; the exit status is 1 if any image failed.
                """)
        @Option(name: .customLong("from-cloud"), help: "The cloud whose images are moved (clouds.yaml).")
        var from: String
        @Option(name: .customLong("to-cloud"), help: "The cloud that receives them (clouds.yaml).")
        var to: String
        @Flag(name: .customLong("dry-run"), help: "Report what would be done; change nothing.")
        var dryRun = false
        @Flag(
            name: .customLong("adopt-locations"),
            help: ArgumentHelp(
                "Leave data where it is when the target's stores share the source's backend (an RBD pool, a Swift container).",
                discussion: """
                    The target records each image's source location (its direct_url or locations) \
                    with the source's digests instead of receiving a copy: the source must show \
                    locations, the target must allow them (show_multiple_locations=true) for the \
                    migration. Data no target store takes is copied. Until the source is retired, \
                    both clouds name the same data: deleting an image on either side deletes it.
                    """))
        var adoptLocations = false
        @Option(help: "Images moved at once.") var parallel = 2
        @Option(name: .customLong("from-image-url"), help: "The source's image endpoint, instead of its catalog's.")
        var sourceImageURL: String?
        @Option(name: .customLong("to-image-url"), help: "The target's image endpoint, instead of its catalog's.")
        var targetImageURL: String?

        func run() async throws {
            try await runReporting {
                // Only clouds.yaml names the two clouds: OS_* variables would apply to both.
                let environment = ProcessInfo.processInfo.environment.filter {
                    !$0.key.hasPrefix("OS_") || $0.key == "OS_CLIENT_CONFIG_FILE"
                }
                let migration = ImageMigration(
                    source: try OpenStack(cloud: from, environment: environment).imagesV2(endpoint: sourceImageURL),
                    target: try OpenStack(cloud: to, environment: environment).imagesV2(endpoint: targetImageURL),
                    dryRun: dryRun, adoptLocations: adoptLocations)
                let images = try await migration.sourceImages()
                print("\(images.count) images in \(from)\(dryRun ? " (dry run)" : "")")
                let counts = Counts()
                await migration.run(images, parallel: parallel) { result in
                    counts.add(result.outcome)
                    let name = result.name.map { " \($0)" } ?? ""
                    let detail = result.detail.isEmpty ? "" : ": \(result.detail)"
                    print("\(result.outcome.rawValue) \(result.id)\(name)\(detail)")
                }
                print(counts.summary)
                if counts.failed > 0 { throw CLIError("\(counts.failed) images failed; run again to retry them") }
            }
        }
    }

    /// How many images ended each way.
    final class Counts: Sendable {
        private let byOutcome = Mutex<[ImageMigration.Outcome: Int]>([:])

        func add(_ outcome: ImageMigration.Outcome) { byOutcome.withLock { $0[outcome, default: 0] += 1 } }
        var failed: Int { byOutcome.withLock { $0[.failed] ?? 0 } }
        var summary: String {
            byOutcome.withLock { byOutcome in
                [ImageMigration.Outcome.copied, .updated, .unchanged, .skipped, .failed]
                    .map { "\(byOutcome[$0] ?? 0) \($0.rawValue)" }.joined(separator: ", ")
            }
        }
    }
}
