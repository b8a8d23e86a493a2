import Foundation
import GlimpseCore
import GlimpseServer
import GlimpseTestSupport
import Logging
import NIOHTTP1
import OpenStackJSON
import Testing

@Suite("Policy file: checked at start, reloaded on SIGHUP, listed by glimpse admin policy list")
struct PolicyFileTests {
    func configuration(_ dir: String, policyFile: String) -> ServerConfig {
        var config = ServerConfig()
        config.metadataBackend = .memory
        config.enabledBackends = [("local", "memory")]
        config.dataDir = dir
        config.policyFile = policyFile
        return config
    }

    @Test("a bad policy file stops the start with the file, the rule and the problem")
    func startRefused() throws {
        let dir = TestServer.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/policy.yaml"
        let cases = [
            ("publicise_image: role:admin", "policy rule 'publicise_image': no such rule"),
            ("publicize_image: role:admin or", "policy rule 'publicize_image': the check string ends too early"),
            ("delete_image: rule:owner", "policy rule 'delete_image': refers to rule 'owner', which does not exist"),
            ("{\"delete_image\": ", "not valid JSON"),
        ]
        for (text, message) in cases {
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            do {
                _ = try Components(configuration(dir, policyFile: path), logger: TestServer.logger, exclusive: false)
                Issue.record("started with \(text)")
            } catch let error as ServerConfig.ConfigError {
                #expect(error.description.contains(path) && error.description.contains(message), "\(error)")
            }
        }
        do {
            _ = try Components(
                configuration(dir, policyFile: dir + "/missing.json"), logger: TestServer.logger, exclusive: false)
            Issue.record("started without its policy file")
        } catch let error as ServerConfig.ConfigError {
            #expect(error.description.contains("missing.json"))
        }
    }

    @Test("reload: a changed file takes effect; a bad one is refused and the rules in force stay")
    func reload() async throws {
        let dir = TestServer.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/policy.json"
        try #"{"publicize_image": "role:member"}"#.write(toFile: path, atomically: true, encoding: .utf8)
        try await TestApp.with({ $0.policyFile = path }) { s in
            let admin = try await s.adminToken()
            let (member, _) = try await s.makeUser("m", project: "p-m", admin: admin)
            #expect(try await s.json(.POST, "/v2/images", token: member, ["visibility": "public"]).status == 201)
            try #"{"publicize_image": "role:admin"}"#.write(toFile: path, atomically: true, encoding: .utf8)
            try s.components.reloadPolicy()
            #expect(try await s.json(.POST, "/v2/images", token: member, ["visibility": "public"]).status == 403)
            try #"{"publicize_image": "role:member or"}"#.write(toFile: path, atomically: true, encoding: .utf8)
            #expect(throws: ServerConfig.ConfigError.self) { try s.components.reloadPolicy() }
            #expect(try await s.json(.POST, "/v2/images", token: member, ["visibility": "public"]).status == 403)
            #expect(s.components.policy.policy.rules.contains { $0 == ("publicize_image", "role:admin") })
        }
    }

    @Test("glimpse serve reloads its policy file on SIGHUP")
    func hangup() async throws {
        let dir = TestServer.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/policy.yaml"
        try "\"get_images\": \"!\"\n".write(toFile: path, atomically: true, encoding: .utf8)
        let glimpse = try GlimpseProcess(dataDir: dir, settings: ["policy_file=\(path)", "port=19751"])
        defer { glimpse.kill() }
        let t = try await glimpse.client.adminToken()
        #expect(try await glimpse.client.request(.GET, "/v2/images", token: t).status == 403)
        try "# back to the defaults\n".write(toFile: path, atomically: true, encoding: .utf8)
        kill(glimpse.process.processIdentifier, SIGHUP)
        var status = 0
        for _ in 0..<100 {
            status = try await glimpse.client.request(.GET, "/v2/images", token: t).status
            if status == 200 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(status == 200)
    }

    @Test("glimpse admin policy list prints every rule, the file's overrides in place, as YAML")
    func list() throws {
        let dir = TestServer.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/policy.json"
        try #"{"publicize_image": "role:member", "owner": "project_id:%(owner)s", "delete_image": "rule:owner"}"#
            .write(toFile: path, atomically: true, encoding: .utf8)
        let (status, output) = try run(["admin", "policy", "list", "--data-dir", dir, "--policy-file", path])
        #expect(status == 0)
        let lines = output.split(separator: "\n")
        #expect(lines.contains("\"publicize_image\": \"role:member\""))
        #expect(lines.contains("\"delete_image\": \"rule:owner\""))
        #expect(lines.contains("\"owner\": \"project_id:%(owner)s\""))
        #expect(lines.contains("\"context_is_admin\": \"role:admin\""))
        #expect(lines.count == PolicyRule.allCases.count + 1)
        // What it prints is a policy file that gives the same rules.
        func described(_ policy: Policy) -> [String] { policy.rules.map { "\($0.name)=\($0.check)" } }
        let listed = try Policy(overrides: PolicyFile.parse(output, path: "listed"))
        #expect(described(listed) == described(try Components.loadPolicy(path)))

        try #"{"publicize_image": "role:"}"#.write(toFile: path, atomically: true, encoding: .utf8)
        let refused = try run(["admin", "policy", "list", "--data-dir", dir, "--policy-file", path])
        #expect(refused.status == 1)
    }

    /// Runs the glimpse binary; its exit status and standard output.
    func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: GlimpseProcess.binary)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
