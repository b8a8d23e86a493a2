import ArgumentParser
import GlimpseCore
import GlimpseServer

/// `glimpse admin policy`: the policy rules a server enforces.
struct PolicyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy", abstract: "The policy rules (Glance's names and check strings).",
        subcommands: [List.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Print the effective rules, the defaults with the policy file's overrides, as a policy file (YAML) "
                + "would write them; exit 1 with the reason if the file cannot be used.")
        @OptionGroup var options: ServerOptions
        @Option(help: "The policy file to apply instead of the policy_file setting.")
        var policyFile: String?

        func run() throws {
            let path = try policyFile ?? options.load().policyFile
            let policy: Policy
            do {
                policy = try Components.loadPolicy(path)
            } catch let error as ServerConfig.ConfigError {
                printError("glimpse: \(error.description)")
                throw ExitCode(1)
            }
            for rule in policy.rules { print("\(quoted(rule.name)): \(quoted(rule.check))") }
        }

        /// A YAML double-quoted string.
        func quoted(_ text: String) -> String {
            "\"" + text.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"") + "\""
        }
    }
}
