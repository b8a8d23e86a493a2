import ArgumentParser

/// `glimpse`: the image service and its command-line client.
@main
struct GlimpseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "glimpse",
        abstract: "An OpenStack-compatible image service (Glance v2 API, built-in Keystone) and its client.",
        subcommands: [ServeCommand.self, ImageCommand.self, ComputeCommand.self, AdminCommand.self])

    static func main() async {
        await main(ClientOptions.movingLeadingOptions(Array(CommandLine.arguments.dropFirst())))
    }
}
