import GlimpseCore
import Logging
import ServiceLifecycle
import UnixSignals

extension Components {
    /// The policy `policy_file` gives (the defaults if none); a file that cannot be read or
    /// used is a configuration error naming the file and the rule.
    public static func loadPolicy(_ path: String?) throws -> Policy {
        guard let path else { return .defaults }
        do {
            return try Policy(overrides: PolicyFile.parse(try readFile(path), path: path))
        } catch let error as PolicyError {
            throw ServerConfig.ConfigError(description: "policy_file \(path): \(error)")
        }
    }

    /// Reads `policy_file` again and puts it in force. A file that cannot be used leaves the
    /// rules in force as they were (and is reported).
    public func reloadPolicy() throws {
        let policy = try Self.loadPolicy(config.policyFile)
        self.policy.replace(with: policy)
        logger.notice("policy reloaded", metadata: ["policy_file": "\(config.policyFile ?? "")"])
    }
}

/// Reloads the policy file when the process gets SIGHUP.
struct PolicyReloadOnHangup: Service {
    let components: Components

    func run() async throws {
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        await cancelWhenGracefulShutdown {
            for await _ in hangups {
                do {
                    try components.reloadPolicy()
                } catch {
                    components.logger.error(
                        "policy not reloaded; the rules in force stay", metadata: ["error": "\(error)"])
                }
            }
        }
    }
}
