import Crypto
import Foundation
import GlimpseCore
import GlimpseServer
import GlimpseTestSupport
import OpenStackEncoding
import OpenStackJSON
import Testing

/// Runs a program of Debian's (qemu-img, gzip) in `dir` with these arguments; its standard
/// output when it succeeds.
@discardableResult
private func runTool(_ tool: String, _ arguments: [String], in dir: String) throws -> [UInt8] {
    guard let path = ImportTool.locate(tool) else { throw TestFailure("\(tool) is not installed") }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    process.currentDirectoryURL = URL(fileURLWithPath: dir)
    let out = Pipe()
    process.standardOutput = out
    try process.run()
    let output = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { throw TestFailure("\(tool) \(arguments) failed") }
    return Array(output)
}

/// A disk whose first bytes are not zero (so that qcow2 stores them), and its qcow2 image.
private struct Fixture {
    let raw: [UInt8]
    let qcow2: [UInt8]

    init(in dir: String) throws {
        raw = testBytes(200_000) + [UInt8](repeating: 0, count: (1 << 20) - 200_000)
        try Data(raw).write(to: URL(fileURLWithPath: "\(dir)/disk.raw"))
        try runTool("qemu-img", ["convert", "-f", "raw", "-O", "qcow2", "disk.raw", "disk.qcow2"], in: dir)
        qcow2 = Array(try Data(contentsOf: URL(fileURLWithPath: "\(dir)/disk.qcow2")))
    }
}

/// A server with these import plugins, its data directory in `dir`.
private func usePlugins(
    _ c: inout ServerConfig, _ names: [ImportPlugin], dir: String, stores: [String] = ["local"]
) {
    c.dataDir = dir
    c.image.importPlugins = names
    c.enabledBackends = stores.map { ($0, "memory") }
    c.importMethods = ["glance-direct", "web-download"]
    fetchesFromLoopback(&c)
}

extension TestApp {
    /// Stages `bytes` into a new image of these formats and imports it by `glance-direct`
    /// into `stores`; returns the image's id once the import has ended.
    func importStaged(
        _ bytes: [UInt8], _ token: String, diskFormat: String, containerFormat: String = "bare",
        stores: [String]? = nil
    ) async throws -> String {
        let id = try await createImageId(
            token, ["disk_format": .string(diskFormat), "container_format": .string(containerFormat)])
        let staged = try await request(
            .PUT, "/v2/images/\(id)/stage", token: token, headers: [("Content-Type", "application/octet-stream")],
            body: bytes)
        guard staged.status == 204 else { throw TestFailure("stage: \(staged.status) \(staged.text)") }
        var body: JSONObject = ["method": ["name": "glance-direct"]]
        if let stores { body["stores"] = .array(stores.map { .string($0) }) }
        let r = try await json(.POST, "/v2/images/\(id)/import", token: token, .object(body))
        guard r.status == 202 else { throw TestFailure("import: \(r.status) \(r.text)") }
        await components.images.imports.wait()
        return id
    }

    /// Asserts the image is active with exactly `bytes` as its data, in `stores`, and that
    /// each of those stores holds one object of it.
    func expectData(_ id: String, _ token: String, _ bytes: [UInt8], diskFormat: String, stores: [String]) async throws
    {
        let image = try await image(id, token)
        #expect(image["status"] == "active")
        #expect(image["disk_format"]?.stringValue == diskFormat && image["container_format"] == "bare")
        #expect(image["size"]?.intValue == bytes.count)
        #expect(image["checksum"]?.stringValue == Hex.encode(Insecure.MD5.hash(data: bytes)))
        #expect(image["os_hash_value"]?.stringValue == Hex.encode(SHA512.hash(data: bytes)))
        #expect(Set((image["stores"]?.stringValue ?? "").split(separator: ",").map(String.init)) == Set(stores))
        #expect(image["os_glance_failed_import"] == "" && image["os_glance_importing_to_stores"] == "")
        #expect(try await request(.GET, "/v2/images/\(id)/file", token: token).body == bytes)
        for store in stores {
            #expect(try await objects(in: store).filter { $0.location.contains(id) }.count == 1)
        }
    }

    /// The message of the image's import task.
    func importTaskMessage(_ id: String, _ token: String) async throws -> String? {
        try await request(.GET, "/v2/images/\(id)/tasks", token: token).json["tasks"]?.arrayValue?.last?["message"]?
            .stringValue
    }
}

/// The files left in the import work directories of the data directory `dir` (but their locks).
private func workFiles(_ dir: String) -> [String] {
    let files = FileManager.default
    return ((try? files.contentsOfDirectory(atPath: "\(dir)/import-work")) ?? []).flatMap { name in
        ((try? files.contentsOfDirectory(atPath: "\(dir)/import-work/\(name)")) ?? [])
            .filter { $0 != "serve.lock" }.map { "\(name)/\($0)" }
    }
}

@Suite(
    "Import plugins that make new data: image_conversion, image_decompression",
    .enabled(
        if: ImportTool.locate("qemu-img") != nil, "qemu-img is not installed (apt-get install qemu-utils); skipping")
)
struct ImportPluginDataTests {
    @Test("image_conversion: staged qcow2 data is stored as raw, in the staging store and in others")
    func convertStaged() async throws {
        let dir = TestServer.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let disk = try Fixture(in: dir)
        try await TestApp.with({ usePlugins(&$0, [.imageConversion], dir: dir, stores: ["fast", "cold"]) }) { s in
            let token = try await s.adminToken()
            for stores in [["fast"], ["cold"], ["cold", "fast"]] {
                let id = try await s.importStaged(disk.qcow2, token, diskFormat: "qcow2", stores: stores)
                try await s.expectData(id, token, disk.raw, diskFormat: "raw", stores: stores)
                #expect(try await s.image(id, token)["virtual_size"]?.intValue == disk.raw.count)
                #expect(try await s.importTaskMessage(id, token)?.hasPrefix("Copied") == true)
                // The staged data is gone from the staging store when it is not a target.
                if !stores.contains("fast") {
                    #expect(try await s.objects(in: "fast").filter { $0.location.contains(id) }.isEmpty)
                }
            }
            #expect(workFiles(dir).isEmpty)
        }
    }

    @Test("image_conversion: web-download fetches qcow2 data and stores it as raw; to qcow2 it is kept")
    func convertDownloaded() async throws {
        let dir = TestServer.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let disk = try Fixture(in: dir)
        try await Origin.with(disk.qcow2) { origin in
            try await TestApp.with({ usePlugins(&$0, [.imageConversion], dir: dir) }) { s in
                let token = try await s.adminToken()
                let id = try await s.createImageId(token, ["disk_format": "qcow2", "container_format": "bare"])
                #expect(try await s.webDownload(id, token, origin.base + "/image").status == 202)
                await s.components.images.imports.wait()
                try await s.expectData(id, token, disk.raw, diskFormat: "raw", stores: ["local"])
                #expect(workFiles(dir).isEmpty)
            }
            // An image already in the output format is stored as it comes.
            try await TestApp.with({
                usePlugins(&$0, [.imageConversion], dir: dir)
                $0.image.conversionOutputFormat = "qcow2"
            }) { s in
                let token = try await s.adminToken()
                let id = try await s.createImageId(token, ["disk_format": "qcow2", "container_format": "bare"])
                #expect(try await s.webDownload(id, token, origin.base + "/image").status == 202)
                await s.components.images.imports.wait()
                try await s.expectData(id, token, disk.qcow2, diskFormat: "qcow2", stores: ["local"])
            }
        }
    }

    @Test("image_conversion refuses a qcow2 with a backing file, and data not of its disk_format")
    func conversionRefused() async throws {
        let dir = TestServer.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let disk = try Fixture(in: dir)
        try runTool(
            "qemu-img", ["create", "-q", "-f", "qcow2", "-b", "disk.raw", "-F", "raw", "overlay.qcow2"], in: dir)
        let overlay = Array(try Data(contentsOf: URL(fileURLWithPath: "\(dir)/overlay.qcow2")))
        for (bytes, declared, message) in [
            (overlay, "qcow2", "Image has disallowed configuration"), (disk.raw, "qcow2", "Image format mismatch"),
            (disk.qcow2, "vmdk", "Image format mismatch"),
        ] {
            try await Origin.with(bytes) { origin in
                try await TestApp.with({ usePlugins(&$0, [.imageConversion], dir: dir) }) { s in
                    let token = try await s.adminToken()
                    let id = try await s.createImageId(
                        token, ["disk_format": .string(declared), "container_format": "bare"])
                    #expect(try await s.webDownload(id, token, origin.base + "/image").status == 202)
                    await s.components.images.imports.wait()
                    try await s.expectFailedImport(id, token)
                    #expect(try await s.image(id, token)["disk_format"]?.stringValue == declared)
                    #expect(try await s.importTaskMessage(id, token) == message)
                    #expect(workFiles(dir).isEmpty)
                }
            }
        }
        // Staged, the data is checked at import, once the plugins have it: nothing is kept.
        try await TestApp.with({ usePlugins(&$0, [.imageConversion], dir: dir) }) { s in
            let token = try await s.adminToken()
            let id = try await s.importStaged(overlay, token, diskFormat: "qcow2")
            try await s.expectFailedImport(id, token)
            #expect(try await s.importTaskMessage(id, token) == "Image has disallowed configuration")
            #expect(try await s.objects().filter { $0.location.contains(id) }.isEmpty)
            #expect(workFiles(dir).isEmpty)
        }
    }

    @Test("image_decompression: gzip data is stored decompressed, then converted; other data as it is")
    func decompress() async throws {
        let dir = TestServer.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let disk = try Fixture(in: dir)
        let gzipped = try runTool("gzip", ["-c", "disk.qcow2"], in: dir)
        let gzippedRaw = try runTool("gzip", ["-c", "disk.raw"], in: dir)
        try await TestApp.with({ usePlugins(&$0, [.imageDecompression, .imageConversion], dir: dir) }) { s in
            let token = try await s.adminToken()
            var id = try await s.importStaged(gzipped, token, diskFormat: "qcow2", containerFormat: "bare")
            try await s.expectData(id, token, disk.raw, diskFormat: "raw", stores: ["local"])
            id = try await s.importStaged(gzippedRaw, token, diskFormat: "raw")
            try await s.expectData(id, token, disk.raw, diskFormat: "raw", stores: ["local"])
            id = try await s.importStaged(disk.raw, token, diskFormat: "raw")
            try await s.expectData(id, token, disk.raw, diskFormat: "raw", stores: ["local"])
            // A compressed container is kept as it is.
            id = try await s.importStaged(gzippedRaw, token, diskFormat: "raw", containerFormat: "compressed")
            let image = try await s.image(id, token)
            #expect(image["status"] == "active" && image["size"]?.intValue == gzippedRaw.count)
            #expect(workFiles(dir).isEmpty)
        }
        // In the other order, conversion sees gzip data declared as qcow2: a mismatch.
        try await TestApp.with({ usePlugins(&$0, [.imageConversion, .imageDecompression], dir: dir) }) { s in
            let token = try await s.adminToken()
            let id = try await s.importStaged(gzipped, token, diskFormat: "qcow2")
            try await s.expectFailedImport(id, token)
            #expect(try await s.importTaskMessage(id, token) == "Image format mismatch")
            #expect(workFiles(dir).isEmpty)
        }
    }

    @Test("image_decompression alone sends data that is no archive straight to the stores, without a work file")
    func decompressionStreams() async throws {
        let dir = TestServer.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let disk = try Fixture(in: dir)
        let gzippedRaw = try runTool("gzip", ["-c", "disk.raw"], in: dir)
        try await TestApp.with({ usePlugins(&$0, [.imageDecompression], dir: dir) }) { s in
            let token = try await s.adminToken()
            // The server's work directory made unusable: an import that needs a work file fails.
            let work = try FileManager.default.contentsOfDirectory(atPath: "\(dir)/import-work")
            #expect(work.count == 1)
            try FileManager.default.removeItem(atPath: "\(dir)/import-work/\(work[0])")
            try Data().write(to: URL(fileURLWithPath: "\(dir)/import-work/\(work[0])"))
            var id = try await s.importStaged(disk.raw, token, diskFormat: "raw")
            try await s.expectData(id, token, disk.raw, diskFormat: "raw", stores: ["local"])
            id = try await s.importStaged(gzippedRaw, token, diskFormat: "raw")
            try await s.expectFailedImport(id, token)
        }
    }

    @Test("image_decompression refuses corrupt gzip data and LHA archives")
    func decompressionRefused() async throws {
        let dir = TestServer.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data(testBytes(100_000)).write(to: URL(fileURLWithPath: "\(dir)/data"))
        let gzipped = try runTool("gzip", ["-c", "data"], in: dir)
        let corrupt = Array(gzipped.prefix(gzipped.count / 2))
        let lha = [0x20, 0x00, 0x2D, 0x6C, 0x68, 0x35, 0x2D] + testBytes(1000)
        try await TestApp.with({ usePlugins(&$0, [.imageDecompression], dir: dir) }) { s in
            let token = try await s.adminToken()
            for (bytes, message) in [(corrupt, "gzip failed"), (lha, "LHA archives cannot be decompressed")] {
                let id = try await s.importStaged(bytes, token, diskFormat: "raw")
                try await s.expectFailedImport(id, token)
                #expect(try await s.importTaskMessage(id, token)?.contains(message) == true)
            }
            #expect(workFiles(dir).isEmpty)
        }
    }

    @Test(
        "image_decompression: a zip of one file is stored as that file; a zip of several fails",
        .enabled(if: ImportTool.locate("zip") != nil && ImportTool.locate("unzip") != nil, "zip or unzip missing")
    )
    func unzip() async throws {
        let dir = TestServer.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let disk = try Fixture(in: dir)
        try runTool("zip", ["-q", "one.zip", "disk.raw"], in: dir)
        try runTool("zip", ["-q", "two.zip", "disk.raw", "disk.qcow2"], in: dir)
        let one = Array(try Data(contentsOf: URL(fileURLWithPath: "\(dir)/one.zip")))
        let two = Array(try Data(contentsOf: URL(fileURLWithPath: "\(dir)/two.zip")))
        try await TestApp.with({ usePlugins(&$0, [.imageDecompression], dir: dir) }) { s in
            let token = try await s.adminToken()
            var id = try await s.importStaged(one, token, diskFormat: "raw")
            try await s.expectData(id, token, disk.raw, diskFormat: "raw", stores: ["local"])
            id = try await s.importStaged(two, token, diskFormat: "raw")
            try await s.expectFailedImport(id, token)
            #expect(try await s.importTaskMessage(id, token) == "Archive contains more than one file.")
            #expect(workFiles(dir).isEmpty)
        }
    }

    @Test("image_decompression stops a program whose data passes the size cap, and fails the import")
    func decompressionBomb() async throws {
        let dir = TestServer.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data(count: 64 << 20).write(to: URL(fileURLWithPath: "\(dir)/zeros"))
        let bomb = try runTool("gzip", ["-c", "zeros"], in: dir)
        try runTool("qemu-img", ["create", "-q", "-f", "qcow2", "big.qcow2", "64M"], in: dir)
        let big = Array(try Data(contentsOf: URL(fileURLWithPath: "\(dir)/big.qcow2")))
        #expect(bomb.count < 1 << 20 && big.count < 1 << 20)
        try await TestApp.with({
            usePlugins(&$0, [.imageDecompression, .imageConversion], dir: dir)
            $0.image.imageSizeCap = 1 << 20
        }) { s in
            let token = try await s.adminToken()
            let id = try await s.importStaged(bomb, token, diskFormat: "raw")
            try await s.expectFailedImport(id, token)
            // gzip is stopped as its output passes the cap, long before its 64 MiB.
            let message = try await s.importTaskMessage(id, token) ?? ""
            #expect(message.hasPrefix("The incoming image is too large: "))
            #expect(message.hasSuffix("bytes; the maximum is 1048576 bytes."))
            let size = Int(message.dropFirst("The incoming image is too large: ".count).prefix { $0.isNumber }) ?? 0
            #expect(size > 1 << 20 && size < 64 << 20)
            // A qcow2 converted to raw would have its virtual size: refused before qemu-img runs.
            let qcow2 = try await s.importStaged(big, token, diskFormat: "qcow2")
            try await s.expectFailedImport(qcow2, token)
            #expect(
                try await s.importTaskMessage(qcow2, token)
                    == "The incoming image is too large: 67108864 bytes; the maximum is 1048576 bytes.")
            #expect(workFiles(dir).isEmpty)
        }
    }

    @Test("glance-direct near user_storage_quota: the converted data may take the staged data's room")
    func conversionWithinQuota() async throws {
        let dir = TestServer.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let disk = try Fixture(in: dir)
        // The staged qcow2 and the raw data together exceed the quota; the raw data alone fits.
        #expect(disk.qcow2.count + disk.raw.count > disk.raw.count + 65536)
        try await TestApp.with({
            usePlugins(&$0, [.imageConversion], dir: dir)
            $0.image.userStorageQuota = disk.raw.count + 65536
        }) { s in
            let token = try await s.adminToken()
            let id = try await s.importStaged(disk.qcow2, token, diskFormat: "qcow2")
            try await s.expectData(id, token, disk.raw, diskFormat: "raw", stores: ["local"])
        }
        try await TestApp.with({
            usePlugins(&$0, [.imageConversion], dir: dir)
            $0.image.userStorageQuota = disk.raw.count - 1
        }) { s in
            let token = try await s.adminToken()
            let id = try await s.importStaged(disk.qcow2, token, diskFormat: "qcow2")
            try await s.expectFailedImport(id, token)
            #expect(
                try await s.importTaskMessage(id, token)
                    == "Denying attempt to upload image because it exceeds the quota: The size of the data "
                    + "\(disk.raw.count) will exceed the limit. \(disk.raw.count - 1) bytes remaining.")
            #expect(workFiles(dir).isEmpty)
        }
    }

    @Test("At start, the work directories of processes that ended are removed; those of live ones are kept")
    func leftoverWorkFiles() async throws {
        let dir = TestServer.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let work = "\(dir)/import-work"
        for name in ["ended", "live"] {
            try FileManager.default.createDirectory(atPath: "\(work)/\(name)", withIntermediateDirectories: true)
            try Data(testBytes(1000)).write(to: URL(fileURLWithPath: "\(work)/\(name)/image-data"))
        }
        // An ended process's lock file is left, unlocked; a live process holds its lock.
        #expect(FileManager.default.createFile(atPath: "\(work)/ended/serve.lock", contents: nil))
        let held = open("\(work)/live/serve.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        defer { close(held) }
        #expect(held >= 0 && flock(held, LOCK_EX | LOCK_NB) == 0)
        try await TestApp.with({ usePlugins(&$0, [.imageDecompression], dir: dir) }) { s in
            let names = try FileManager.default.contentsOfDirectory(atPath: work)
            #expect(!names.contains("ended") && names.contains("live"))
            #expect(workFiles(dir) == ["live/image-data"])
            // This server's own directory, named after its process, is locked.
            let own = names.filter { $0 != "live" }
            #expect(own.count == 1 && own.first?.contains("\(getpid())") == true)
            let probe = open("\(work)/\(own.first ?? "")/serve.lock", O_RDWR | O_CLOEXEC)
            defer { close(probe) }
            #expect(probe >= 0 && flock(probe, LOCK_EX | LOCK_NB) != 0)
            // Imports use it.
            let token = try await s.adminToken()
            let gzipped = try runTool("gzip", ["-c", "image-data"], in: "\(work)/live")
            let id = try await s.importStaged(gzipped, token, diskFormat: "raw")
            try await s.expectData(id, token, testBytes(1000), diskFormat: "raw", stores: ["local"])
            #expect(workFiles(dir) == ["live/image-data"])
        }
    }

    @Test("import_plugins and image_conversion_output_format are checked at start")
    func settings() throws {
        let config = try ServerConfig.load(
            file: nil, environment: [:],
            overrides: [
                "import_plugins": "image_decompression, image_conversion,inject_image_metadata",
                "image_conversion_output_format": "qcow2",
            ])
        #expect(config.image.importPlugins == [.imageDecompression, .imageConversion, .injectImageMetadata])
        #expect(config.image.conversionOutputFormat == "qcow2")
        #expect(ServerConfig().image.importPlugins.isEmpty && ServerConfig().image.conversionOutputFormat == "raw")
        for (key, value, message) in [
            ("import_plugins", "image_conversion,no_such_plugin", "unknown plugin 'no_such_plugin'"),
            ("image_conversion_output_format", "vhd", "'vhd' is not raw, qcow2 or vmdk"),
        ] {
            #expect {
                _ = try ServerConfig.load(file: nil, environment: [:], overrides: [key: value])
            } throws: { "\($0)".contains(message) }
        }
    }
}
