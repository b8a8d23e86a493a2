import ArgumentParser
import Foundation
import OpenStack

/// Connection options, as the `openstack` CLI spells them. Each falls back to its `OS_*`
/// environment variable, then to the `clouds.yaml` entry named by `--os-cloud`/`OS_CLOUD`.
struct ClientOptions: ParsableArguments {
    @Option(name: .customLong("os-cloud"), help: "Cloud name in clouds.yaml (OS_CLOUD).")
    var cloud: String?
    @Option(name: .customLong("os-auth-url"), help: "Identity endpoint (OS_AUTH_URL).")
    var authURL: String?
    @Option(name: .customLong("os-username"), help: "User name (OS_USERNAME).")
    var username: String?
    @Option(name: .customLong("os-user-id"), help: "User id (OS_USER_ID).")
    var userId: String?
    @Option(name: .customLong("os-password"), help: "Password (OS_PASSWORD).")
    var password: String?
    @Option(name: .customLong("os-project-name"), help: "Project name (OS_PROJECT_NAME).")
    var projectName: String?
    @Option(name: .customLong("os-project-id"), help: "Project id (OS_PROJECT_ID).")
    var projectId: String?
    @Option(name: .customLong("os-user-domain-name"), help: "User's domain name (OS_USER_DOMAIN_NAME).")
    var userDomainName: String?
    @Option(name: .customLong("os-user-domain-id"), help: "User's domain id (OS_USER_DOMAIN_ID).")
    var userDomainId: String?
    @Option(name: .customLong("os-project-domain-name"), help: "Project's domain name (OS_PROJECT_DOMAIN_NAME).")
    var projectDomainName: String?
    @Option(name: .customLong("os-project-domain-id"), help: "Project's domain id (OS_PROJECT_DOMAIN_ID).")
    var projectDomainId: String?
    @Option(name: .customLong("os-region-name"), help: "Region (OS_REGION_NAME).")
    var region: String?
    @Option(name: .customLong("os-interface"), help: "public, internal or admin (OS_INTERFACE).")
    var interface: String?
    @Option(name: .customLong("os-token"), help: "An existing token (OS_TOKEN).")
    var token: String?
    @Option(name: .customLong("os-application-credential-id"), help: "Application credential id.")
    var applicationCredentialId: String?
    @Option(name: .customLong("os-application-credential-secret"), help: "Application credential secret.")
    var applicationCredentialSecret: String?
    @Option(name: .customLong("os-image-url"), help: "Use this image endpoint instead of the catalog's.")
    var imageURL: String?
    @Option(name: .customLong("os-compute-url"), help: "Use this compute endpoint instead of the catalog's.")
    var computeURL: String?

    /// The connection: flags override `OS_*` variables, which override clouds.yaml.
    func connect() throws -> OpenStack {
        var env = ProcessInfo.processInfo.environment
        let flags: [(String, String?)] = [
            ("OS_AUTH_URL", authURL), ("OS_USERNAME", username), ("OS_USER_ID", userId), ("OS_PASSWORD", password),
            ("OS_PROJECT_NAME", projectName), ("OS_PROJECT_ID", projectId), ("OS_USER_DOMAIN_NAME", userDomainName),
            ("OS_USER_DOMAIN_ID", userDomainId), ("OS_PROJECT_DOMAIN_NAME", projectDomainName),
            ("OS_PROJECT_DOMAIN_ID", projectDomainId), ("OS_REGION_NAME", region), ("OS_INTERFACE", interface),
            ("OS_TOKEN", token), ("OS_APPLICATION_CREDENTIAL_ID", applicationCredentialId),
            ("OS_APPLICATION_CREDENTIAL_SECRET", applicationCredentialSecret),
        ]
        for (k, v) in flags { if let v { env[k] = v } }
        return try OpenStack(cloud: cloud, environment: env)
    }

    /// `openstack` takes its `--os-*` options before the command (`--os-cloud demo image
    /// list`); they move after it, where each command reads them.
    static func movingLeadingOptions(_ arguments: [String]) -> [String] {
        var leading: [String] = []
        var i = 0
        while i < arguments.count, arguments[i].hasPrefix("--os-") {
            let takesNext = !arguments[i].contains("=") && i + 1 < arguments.count
            leading += arguments[i..<(takesNext ? i + 2 : i + 1)]
            i += takesNext ? 2 : 1
        }
        guard !leading.isEmpty else { return arguments }
        var rest = Array(arguments[i...])
        rest.insert(contentsOf: leading, at: rest.firstIndex(of: "--") ?? rest.endIndex)
        return rest
    }

    func images(_ os: OpenStack) -> ImageServiceV2 { os.imagesV2(endpoint: imageURL) }
    func compute(_ os: OpenStack) -> ComputeServiceV2 { os.computeV2(endpoint: computeURL) }
}

/// Output options, as `openstack` has them.
struct OutputOptions: ParsableArguments {
    @Option(name: [.short, .customLong("format")], help: "table, json, yaml or value.")
    var format: OutputFormat = .table
    @Option(name: [.short, .customLong("column")], help: "Show only this column (repeatable).")
    var columns: [String] = []
    @Flag(help: "Compact JSON.")
    var noindent = false
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json, yaml, value
}
