import Foundation
import Yams

/// Connection settings as the OpenStack clients read them: a `clouds.yaml` entry (with
/// `secure.yaml` merged in) or `OS_*` environment variables.
public struct CloudConfig: Sendable, Hashable {
    public var authURL: String
    public var region: String?
    public var interface: Interface
    public var user: UserCredential
    public var scope: Scope
    /// PEM file of the certificate authorities to trust for HTTPS (`cacert`, `OS_CACERT`).
    public var caCertificateFile: String?
    /// Whether HTTPS certificates are checked (`verify: false` or `insecure: true` turns it off).
    public var verifyCertificates = true

    /// The process environment.
    public static var processEnvironment: [String: String] { ProcessInfo.processInfo.environment }

    /// Where `clouds.yaml` is looked for, in order (`OS_CLIENT_CONFIG_FILE` first).
    public static func searchPaths(environment: [String: String]) -> [String] {
        var paths: [String] = []
        if let explicit = environment["OS_CLIENT_CONFIG_FILE"] { paths.append(explicit) }
        let home = environment["HOME"] ?? NSHomeDirectory()
        paths += [
            FileManager.default.currentDirectoryPath + "/clouds.yaml", home + "/.config/openstack/clouds.yaml",
            "/etc/openstack/clouds.yaml",
        ]
        // OS_CLIENT_CONFIG_FILE may name one of the usual places: each file once.
        var seen = Set<String>()
        return paths.filter { seen.insert(URL(fileURLWithPath: $0).standardizedFileURL.path).inserted }
    }

    /// `cloud` (or `OS_CLOUD`) from clouds.yaml if named, otherwise the `OS_*` variables.
    /// `OS_*` variables override single settings of a named cloud, as with the `openstack` CLI.
    public static func resolve(cloud: String? = nil, environment: [String: String]) throws -> CloudConfig {
        var settings: [String: String] = [:]
        if let name = cloud ?? environment["OS_CLOUD"], !name.isEmpty {
            settings = try load(cloud: name, environment: environment)
        }
        for (key, value) in environment where key.hasPrefix("OS_") && !value.isEmpty {
            settings[String(key.dropFirst(3)).lowercased()] = value
        }
        return try from(settings)
    }

    static func load(cloud name: String, environment: [String: String]) throws -> [String: String] {
        for path in searchPaths(environment: environment) where FileManager.default.fileExists(atPath: path) {
            let clouds = try read(path)
            guard let entry = clouds[name] else { continue }
            var flat = flatten(entry)
            let secure = (path as NSString).deletingLastPathComponent + "/secure.yaml"
            if FileManager.default.fileExists(atPath: secure), let more = try read(secure)[name] {
                flat.merge(flatten(more)) { $1 }
            }
            return flat
        }
        throw OpenStackError(
            .configuration,
            "cloud '\(name)' not found in \(searchPaths(environment: environment).joined(separator: ", "))")
    }

    /// The `clouds:` mapping of a file. Scalars are kept as written (`project_id: 0123`
    /// stays `0123`).
    static func read(_ path: String) throws -> [String: Node] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        guard let clouds = try Yams.compose(yaml: text)?.mapping?["clouds"]?.mapping else { return [:] }
        var out: [String: Node] = [:]
        for (k, v) in clouds { if let name = k.string { out[name] = v } }
        return out
    }

    /// `{auth: {username: x}, region_name: y}` → `[username: x, region_name: y]`.
    static func flatten(_ entry: Node) -> [String: String] {
        var out: [String: String] = [:]
        for (k, v) in entry.mapping ?? [:] {
            guard let key = k.string else { continue }
            if key == "auth", let auth = v.mapping {
                for (ak, av) in auth { if let name = ak.string, let value = av.scalar?.string { out[name] = value } }
            } else if let value = v.scalar?.string {
                out[key] = value
            }
        }
        return out
    }

    /// Builds the settings from flat keys (the `OS_` names, lower-cased, without the prefix).
    static func from(_ s: [String: String]) throws -> CloudConfig {
        guard let authURL = s["auth_url"] else {
            throw OpenStackError(.configuration, "no auth URL: set OS_AUTH_URL, or OS_CLOUD with a clouds.yaml")
        }
        func domain(_ prefix: String) -> Domain {
            if let id = s[prefix + "_domain_id"] ?? s["domain_id"] { return .id(id) }
            if let name = s[prefix + "_domain_name"] ?? s["domain_name"] { return .name(name) }
            return .default
        }
        let user: UserCredential
        let authType = s["auth_type"]?.lowercased() ?? ""
        if let id = s["application_credential_id"], let secret = s["application_credential_secret"] {
            user = .applicationCredential(id: id, secret: secret)
        } else if let name = s["application_credential_name"], let secret = s["application_credential_secret"],
            let owner = s["username"]
        {
            user = .applicationCredentialName(name, user: owner, userDomain: domain("user"), secret: secret)
        } else if let token = s["token"], authType.contains("token") || s["password"] == nil {
            user = .token(token)
        } else if let password = s["password"] {
            if let id = s["user_id"] {
                user = .id(id, password: password)
            } else if let name = s["username"] {
                user = .name(name, domain: domain("user"), password: password)
            } else {
                throw OpenStackError(.configuration, "no user: set OS_USERNAME or OS_USER_ID")
            }
        } else {
            throw OpenStackError(
                .configuration, "no credentials: set OS_PASSWORD, OS_TOKEN or an application credential")
        }
        var scope = Scope.unscoped
        if let id = s["project_id"] ?? s["tenant_id"] {
            scope = .project(id: id)
        } else if let name = s["project_name"] ?? s["tenant_name"] {
            scope = .project(name: name, domain: domain("project"))
        }
        let interfaceText = (s["interface"] ?? s["endpoint_type"] ?? "public").lowercased().replacingOccurrences(
            of: "url", with: "")
        guard let interface = Interface(rawValue: interfaceText) else {
            throw OpenStackError(.configuration, "unknown interface '\(interfaceText)' (public, internal or admin)")
        }
        var config = CloudConfig(
            authURL: authURL, region: s["region_name"], interface: interface, user: user, scope: scope)
        config.caCertificateFile = s["cacert"]
        let no: Set<String> = ["false", "no", "0", "off"]
        config.verifyCertificates =
            !no.contains(s["verify"]?.lowercased() ?? "true") && no.contains(s["insecure"]?.lowercased() ?? "false")
        return config
    }
}
