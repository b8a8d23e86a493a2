import Foundation
import GlimpseTestSupport
import Testing

/// `glimpse admin fsck` as an operator runs it, beside a running server.
@Suite("glimpse admin fsck")
struct FsckCommandTests {
    /// Runs `glimpse admin fsck` on `dataDir`; its output and exit status.
    func fsck(_ dataDir: String, _ arguments: [String] = []) throws -> (output: String, status: Int32) {
        let process = Process()
        let pipe = Pipe()
        process.executableURL = URL(fileURLWithPath: GlimpseProcess.binary)
        process.arguments = ["admin", "fsck", "--data-dir", dataDir] + arguments
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (output, process.terminationStatus)
    }

    @Test("reports orphaned data with its size, removes it unless --dry-run, and reports images whose data is gone")
    func orphansAndDamage() async throws {
        try await TestServer.with { s in
            let t = try await s.adminToken()
            let id = try await s.createImageId(t)
            #expect(try await s.upload(id, token: t, testBytes(5000)).status == 204)
            // Data as a crash between the rename and the metadata write leaves it, two hours old.
            let orphan = s.dataDir + "/images/zz/zz0123.cafe"
            try FileManager.default.createDirectory(
                atPath: s.dataDir + "/images/zz", withIntermediateDirectories: true)
            #expect(FileManager.default.createFile(atPath: orphan, contents: Data(count: 12_345)))
            try FileManager.default.setAttributes(
                [.modificationDate: Date(timeIntervalSinceNow: -7200)], ofItemAtPath: orphan)

            let dry = try fsck(s.dataDir, ["--dry-run"])
            #expect(dry.status == 0)
            #expect(dry.output.contains("orphaned committed data (would remove): local:zz/zz0123.cafe, 12345 bytes"))
            #expect(dry.output.contains("orphaned objects would remove: 1 (12345 bytes)"))
            #expect(FileManager.default.fileExists(atPath: orphan))

            let run = try fsck(s.dataDir)
            #expect(run.status == 0)
            #expect(run.output.contains("1 images checked"))
            #expect(run.output.contains("orphaned objects removed: 1 (12345 bytes); damaged images: 0"))
            #expect(!FileManager.default.fileExists(atPath: orphan))
            #expect(try await s.request(.GET, "/v2/images/\(id)/file", token: t).body == testBytes(5000))

            // The image's own data goes missing: reported (exit 1), the image left as it is.
            let image = try await s.request(.GET, "/v2/images/\(id)", token: t).json
            #expect(image["status"] == "active")
            let files = try FileManager.default.subpathsOfDirectory(atPath: s.dataDir + "/images")
                .filter { !$0.hasPrefix(".tmp") && $0.contains(".") }
            #expect(files.count == 1)
            try FileManager.default.removeItem(atPath: s.dataDir + "/images/" + files[0])
            try await Task.sleep(for: .seconds(1))
            let damaged = try fsck(s.dataDir)
            #expect(damaged.status == 1)
            #expect(damaged.output.contains("damaged image (reported, not changed): \(id) at local:"))
            #expect(damaged.output.contains("data missing"))
            #expect(try await s.request(.GET, "/v2/images/\(id)", token: t).json["status"] == "active")
        }
    }
}
