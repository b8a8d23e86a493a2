import ArgumentParser
import GlimpseCore
import GlimpseIdentity
import GlimpseServer

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Maintenance of a data directory.
struct AdminCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "admin",
        abstract: "Maintain a data directory (works while the server runs).",
        subcommands: [SetPassword.self, Purge.self])

    struct Purge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "purge",
            abstract: "Remove deleted images' tombstones (and leftover data) older than the retention.")

        @OptionGroup var options: ServerOptions
        @Option(help: "Age in seconds; defaults to the deleted_image_retention setting (30 days).")
        var olderThan: Int64?

        func run() async throws {
            let config = try options.load()
            let server = try GlimpseServer(config: config, logger: options.logger(config))
            let age = olderThan ?? config.image.deletedImageRetention
            let n = try await server.images.purgeDeleted(before: Timestamp.now().adding(seconds: -age))
            print("Purged \(n) deleted image\(n == 1 ? "" : "s").")
        }
    }

    struct SetPassword: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set-password", abstract: "Set a user's password (reads it from stdin if --password is not given).")

        @OptionGroup var options: ServerOptions
        @Option(help: "User name in the Default domain.")
        var user = "admin"
        @Option(help: "The new password.")
        var password: String?

        func run() async throws {
            let config = try options.load()
            let server = try GlimpseServer(config: config, logger: options.logger(config))
            var pw = password
            if pw == nil {
                pw = readLine(strippingNewline: true)
            }
            guard let pw, !pw.isEmpty else { throw ValidationError("no password given") }
            try await server.keystone.setPassword(userName: user, password: pw)
            print("Password of \(user) changed.")
        }
    }
}
