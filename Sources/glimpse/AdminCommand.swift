import ArgumentParser
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
        subcommands: [SetPassword.self])

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
