import GlimpseTestSupport
import Logging
import Synchronization
import Testing

/// What the server writes to its log at the most detailed level never holds a password or a
/// token.
@Suite("Live server: secrets stay out of the log")
struct LogSecrecyTests {
    /// Keeps every line, metadata included.
    struct Capture: LogHandler {
        let sink: Lines
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        // swift-format-ignore: AlwaysUseLowerCamelCase
        func log(event: LogEvent) {
            let all = metadata.merging(event.metadata ?? [:]) { $1 }
            sink.lines.withLock { $0.append("\(event.level) \(event.message) \(all) \(event.source)") }
        }
    }

    final class Lines: Sendable {
        let lines = Mutex<[String]>([])
    }

    @Test("a session at trace level: logins (right and wrong), uploads, lists, token checks and revocation")
    func traceSession() async throws {
        let sink = Lines()
        let logger = Logger(label: "glimpse") { _ in Capture(sink: sink) }
        let tokens = try await TestServer.with({ $0.logLevel = .trace }, logger: logger) { s in
            let admin = try await s.adminToken()
            let (dora, _) = try await s.makeUser("dora", project: "dp", admin: admin)
            let id = try await s.createImageId(dora)
            #expect(try await s.upload(id, token: dora, Array(repeating: 1, count: 5000)).status == 204)
            #expect(try await s.request(.GET, "/v2/images", token: dora).status == 200)
            let check = try await s.request(
                .GET, "/identity/v3/auth/tokens", token: admin, headers: [("X-Subject-Token", dora)])
            #expect(check.status == 200)
            #expect(try await s.passwordLogin(user: "dora", password: "Wr0ng-Guess-42").status == 401)
            #expect(
                try await s.request(
                    .DELETE, "/identity/v3/auth/tokens", token: admin, headers: [("X-Subject-Token", dora)]
                ).status == 204)
            #expect(try await s.request(.GET, "/v2/images", token: dora).status == 401)
            return [admin, dora]
        }
        let secrets = [adminPassword, "pw-dora", "Wr0ng-Guess-42"] + tokens
        let lines = sink.lines.withLock { $0 }
        #expect(lines.count > 10, "the capture saw the session")
        for secret in secrets {
            let leaks = lines.filter { $0.contains(secret) }
            #expect(leaks.isEmpty, "\(secret.prefix(6))… in \(leaks.prefix(2))")
        }
    }
}
