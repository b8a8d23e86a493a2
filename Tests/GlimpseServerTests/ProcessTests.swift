import Foundation
import GlimpseCore
import GlimpseServer
import GlimpseTestSupport
import NIOHTTP1
import OpenStackJSON
import Testing

/// Processes sharing a data directory: a second server is refused; maintenance beside a
/// running server breaks nothing in flight; a killed server's uploads are undone by the next.
@Suite("Processes sharing a data directory")
struct ProcessTests {
    @Test("a second server on the same data directory is refused, with a message that says why")
    func secondServerRefused() async throws {
        try await TestServer.with { s in
            #expect {
                _ = try Components(
                    TestServer.configuration(dataDir: s.dataDir), logger: TestServer.logger, exclusive: true)
            } throws: { error in
                "\(error)".contains("is in use by another glimpse serve (pid \(getpid()))")
            }
        }
    }

    @Test("an upload survives `glimpse admin purge` run beside it, even with no grace for orphans")
    func uploadSurvivesPurge() async throws {
        try await TestServer.with { s in
            let t = try await s.adminToken()
            let id = try await s.createImageId(t)
            let body = testBytes(3_000_000)
            let head =
                "PUT /v2/images/\(id)/file HTTP/1.1\r\nHost: x\r\nX-Auth-Token: \(t)\r\n"
                + "Content-Type: application/octet-stream\r\nContent-Length: \(body.count)\r\n\r\n"
            let port = s.port
            let fd = try await RawHTTP.offload { try RawHTTP.connect(port: port) }
            defer { close(fd) }
            try await RawHTTP.offload { try RawHTTP.send(fd, Array(head.utf8) + Array(body.prefix(1_000_000))) }
            for _ in 0..<200 where try await s.request(.GET, "/v2/images/\(id)", token: t).json["status"] != "saving" {
                try await Task.sleep(for: .milliseconds(10))
            }
            // What `glimpse admin purge` does, on the same directory, while the upload runs.
            var config = TestServer.configuration(dataDir: s.dataDir)
            config.image.orphanGraceSeconds = 0
            let admin = try await Components.forMaintenance(config, logger: TestServer.logger)
            let report = try await admin.purge()
            try await admin.close()
            #expect(report.tombstones == 0 && report.abandonedUploads == 0 && report.orphans == 0)
            #expect(try await s.request(.GET, "/v2/images/\(id)", token: t).json["status"] == "saving")

            let reply = try await RawHTTP.offload {
                try RawHTTP.send(fd, Array(body.dropFirst(1_000_000)))
                return try RawHTTP.readResponseHead(fd)
            }
            #expect(reply.hasPrefix("HTTP/1.1 204"))
            #expect(try await s.request(.GET, "/v2/images/\(id)", token: t).json["status"] == "active")
            #expect(try await s.request(.GET, "/v2/images/\(id)/file", token: t).body == body)
        }
    }

    @Test(
        "a server killed during an upload: the next server puts the image back to queued and removes the partial data")
    func killedServer() async throws {
        let dir = TestServer.temporaryDirectory()
        defer { _ = system("rm -rf '\(dir)'") }
        let glimpse = try GlimpseProcess(dataDir: dir, settings: ["upload_lease_seconds=2"])
        let t = try await glimpse.client.adminToken()
        let id = try await glimpse.client.createImageId(t)
        let head =
            "PUT /v2/images/\(id)/file HTTP/1.1\r\nHost: x\r\nX-Auth-Token: \(t)\r\n"
            + "Content-Type: application/octet-stream\r\nContent-Length: 2000000\r\n\r\n"
        let fd = try await RawHTTP.offload { [port = glimpse.port] in try RawHTTP.connect(port: port) }
        defer { close(fd) }
        try await RawHTTP.offload { try RawHTTP.send(fd, Array(head.utf8) + testBytes(500_000)) }
        // Until the upload is under way with its partial file (a loaded machine can take seconds).
        for _ in 0..<3000 {
            let saving = try await glimpse.client.request(.GET, "/v2/images/\(id)", token: t).json["status"] == "saving"
            if saving, try pendingFiles(dir).count == 1 { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(try pendingFiles(dir).count == 1)
        glimpse.kill()

        try await TestServer.with({
            $0.dataDir = dir
            $0.image.uploadLeaseSeconds = 2
        }) { s in
            let t = try await s.adminToken()
            var status: JSONValue?
            for _ in 0..<100 {
                status = try await s.request(.GET, "/v2/images/\(id)", token: t).json["status"]
                if status == "queued" { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(status == "queued")
            #expect(try pendingFiles(dir).isEmpty)
            // The image takes data again. (On a starved machine an upload can outlive the
            // 2-second lease and be undone in turn: a few tries.)
            var answers: [String] = []
            for _ in 0..<3 {
                let upload = try await s.upload(id, token: t, [1, 2, 3])
                answers.append("\(upload.status): \(String(decoding: upload.body, as: UTF8.self))")
                if upload.status == 204 { break }
            }
            #expect(answers.last?.hasPrefix("204") == true, "\(answers)")
        }
    }

    func pendingFiles(_ dir: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir + "/images/.tmp")
    }
}

/// `glimpse serve` as a process of its own, on an ephemeral port.
struct GlimpseProcess {
    let process = Process()
    let port: Int
    var client: LiveClient { LiveClient(port: port) }

    /// The binary `swift build` put next to the tests.
    static var binary: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("glimpse")
            .path
    }

    init(dataDir: String, settings: [String]) throws {
        let log = dataDir + "/server.log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = ["serve", "--port", "0", "--data-dir", dataDir] + settings.flatMap { ["--set", $0] }
        process.environment = ["GLIMPSE_ADMIN_PASSWORD": adminPassword, "GLIMPSE_PASSWORD_HASH_ROUNDS": "1000"]
        process.standardError = FileHandle(forWritingAtPath: log)
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        // The server logs the address it serves at once it listens.
        for _ in 0..<300 {
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            if let range = text.range(of: #"images=http://[0-9.]+:([0-9]+)/v2"#, options: .regularExpression) {
                let match = text[range]
                let digits = match.split(separator: ":").last!.prefix { $0.isNumber }
                port = Int(digits)!
                return
            }
            usleep(20_000)
        }
        process.terminate()
        throw TestFailure("glimpse serve did not start: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
    }

    /// SIGKILL: no shutdown, no cleanup, as a crash or an OOM kill.
    func kill() {
        _ = Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}
