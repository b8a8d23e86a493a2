import Foundation
import GlimpseTestSupport
import NIOCore
import OpenStack
import Testing

/// A connection as the admin of a test server.
func admin(_ s: TestServer) throws -> OpenStack {
    try OpenStack(
        authURL: s.base + "/identity/v3", region: "RegionOne",
        user: .name("admin", domain: .default, password: adminPassword),
        scope: .project(name: "admin", domain: .default))
}

func tempPath(_ name: String) -> String {
    NSTemporaryDirectory() + "glimpse-sdk-\(UUID().uuidString)-\(name)"
}

@Suite("SDK: image service against a real server")
struct ImageServiceTests {
    @Test("create, get, list, update, upload, download, deactivate, reactivate, delete")
    func coreOperations() async throws {
        try await TestServer.with { s in
            let images = try admin(s).imagesV2()
            let created = try await images.createImage(
                ImageCreate(
                    name: "sdk", diskFormat: .raw, containerFormat: .bare, tags: ["t1"],
                    properties: ["os_distro": "debian", "nested": ["a": [1, true]]]))
            #expect(created.status == .queued && created.properties["nested"] == ["a": [1, true]])
            let data = testBytes(2_500_000)
            let progress = ProgressLog()
            let uploaded = try await images.uploadData(created.id, from: .bytes(data), progress: { progress.add($0) })
            #expect(uploaded.status == .active && uploaded.size == Int64(data.count))
            #expect(progress.last?.bytes == Int64(data.count) && progress.last?.total == Int64(data.count))

            let got = try await images.getImage(created.id)
            #expect(got.osHashAlgo == "sha512" && got.properties["os_distro"] == "debian")
            let listed = try await images.listImages(ImageFilter(tags: ["t1"])).collect()
            #expect(listed.map(\.id) == [created.id])

            let updated = try await images.update(
                created.id, [.replace("name", "renamed"), .add("extra", "x"), .remove("os_distro")])
            #expect(
                updated.name == "renamed" && updated.properties["extra"] == "x"
                    && updated.properties["os_distro"] == nil)
            var changed = updated
            changed.minRam = 128
            changed.properties["extra"] = "y"
            let diffed = try await images.update(changed)
            #expect(
                diffed.minRam == 128 && diffed.properties["extra"] == "y"
                    && diffed.properties["nested"] == ["a": [1, true]])

            var received: [UInt8] = []
            for try await chunk in try await images.downloadData(created.id) { received += chunk.readableBytesView }
            #expect(received == data)

            try await images.deactivate(created.id)
            #expect(try await images.getImage(created.id).status == .deactivated)
            try await images.reactivate(created.id)
            #expect(try await images.getImage(created.id).status == .active)

            try await images.delete(created.id)
            await #expect(throws: OpenStackError.self) { try await images.getImage(created.id) }
        }
    }

    @Test("multi-store: upload to a chosen store, copy into another, delete one copy, store details")
    func multiStore() async throws {
        try await TestServer.with({ c in
            c.enabledBackends = [("fast", "memory"), ("bulk", "memory")]
            c.defaultBackend = "bulk"
            c.storeOptions = ["fast": ["weight": "100"]]
        }) { s in
            let images = try admin(s).imagesV2()
            let details = try await images.storeDetails()
            #expect(details.map(\.id) == ["fast", "bulk"] && details.map(\.isDefault) == [false, true])
            #expect(details.first?.weight == 100 && details.first?.type == "memory")
            let image = try await images.createImage(
                ImageCreate(name: "copied", diskFormat: .raw, containerFormat: .bare))
            let uploaded = try await images.uploadData(
                image.id, from: .bytes(Array(repeating: 7, count: 1000)), store: "fast")
            #expect(uploaded.stores == "fast")
            try await images.importImage(image.id, method: "copy-image", stores: ["bulk"])
            var copied = try await images.getImage(image.id)
            for _ in 0..<100 where copied.stores != "fast,bulk" {
                try await Task.sleep(for: .milliseconds(50))
                copied = try await images.getImage(image.id)
            }
            #expect(copied.stores == "fast,bulk")
            try await images.deleteFromStore(image.id, store: "fast")
            #expect(try await images.getImage(image.id).stores == "bulk")
            var bytes: [UInt8] = []
            for try await chunk in try await images.downloadData(image.id) { bytes += chunk.readableBytesView }
            #expect(bytes == Array(repeating: 7, count: 1000))
        }
    }

    @Test("listing follows next links across every page; maxItems stops early")
    func paging() async throws {
        try await TestServer.with { s in
            let images = try admin(s).imagesV2()
            for i in 0..<7 { _ = try await images.createImage(ImageCreate(name: "p\(i)", tags: ["paged"])) }
            let all = try await images.listImages(ImageFilter(tags: ["paged"]), sort: [.asc(.name)], pageSize: 2)
                .collect()
            #expect(all.compactMap(\.name) == (0..<7).map { "p\($0)" })
            var pages = 0
            for try await page in images.listImages(ImageFilter(tags: ["paged"]), pageSize: 3).pages {
                pages += 1
                #expect(page.count <= 3)
            }
            #expect(pages == 3)
            let some = try await images.listImages(ImageFilter(tags: ["paged"]), pageSize: 2, maxItems: 3).collect()
            #expect(some.count == 3)
            let filtered = try await images.listImages(ImageFilter(name: .oneOf(["p1", "p4"]))).collect()
            #expect(Set(filtered.compactMap(\.name)) == ["p1", "p4"])
        }
    }

    @Test("download to a file: atomic, verified, resumable")
    func downloadToFile() async throws {
        try await TestServer.with { s in
            let images = try admin(s).imagesV2()
            let data = testBytes(3_000_000, seed: 7)
            let image = try await images.createImage(
                ImageCreate(name: "f", diskFormat: .raw, containerFormat: .bare), data: .bytes(data))
            let path = tempPath("out.img")
            defer { try? FileManager.default.removeItem(atPath: path) }
            try await images.download(image.id, to: path)
            #expect(FileManager.default.contents(atPath: path).map(Array.init) == data)
            #expect(!FileManager.default.fileExists(atPath: path + ".partial"))

            // Resume: a partial file holding the first million bytes.
            try Data(data.prefix(1_000_000)).write(to: URL(fileURLWithPath: path + ".partial"))
            let progress = ProgressLog()
            try await images.download(image.id, to: path, progress: { progress.add($0) })
            #expect(progress.first?.bytes == 1_000_000)
            #expect(FileManager.default.contents(atPath: path).map(Array.init) == data)
        }
    }

    @Test("a corrupted download throws, and no file is left as complete")
    func corruptedDownload() async throws {
        try await TestServer.with { s in
            let images = try admin(s).imagesV2()
            let data = testBytes(200_000)
            let image = try await images.createImage(
                ImageCreate(name: "c", diskFormat: .raw, containerFormat: .bare), data: .bytes(data))
            // Flip a byte of the stored data behind the server's back.
            let location = try #require(try await s.components.metadata.image(id: image.id)?.locations.first?.location)
            let file = s.components.config.imagesPath + "/" + location
            var stored = try #require(FileManager.default.contents(atPath: file))
            stored[1000] ^= 0xFF
            try stored.write(to: URL(fileURLWithPath: file))

            await #expect(throws: OpenStackError.self) {
                for try await _ in try await images.downloadData(image.id) {}
            }
            do {
                for try await _ in try await images.downloadData(image.id) {}
                Issue.record("no error")
            } catch let e as OpenStackError {
                #expect(e.kind == .checksumMismatch)
            }
            let path = tempPath("bad.img")
            await #expect(throws: OpenStackError.self) { try await images.download(image.id, to: path) }
            #expect(!FileManager.default.fileExists(atPath: path))
            #expect(!FileManager.default.fileExists(atPath: path + ".partial"))
        }
    }

    @Test("uploads from files and one-shot streams; sizes and hashes checked")
    func uploadSources() async throws {
        try await TestServer.with { s in
            let images = try admin(s).imagesV2()
            let data = testBytes(1_500_000, seed: 3)
            let path = tempPath("in.img")
            defer { try? FileManager.default.removeItem(atPath: path) }
            try Data(data).write(to: URL(fileURLWithPath: path))
            let fromFile = try await images.createImage(
                ImageCreate(name: "file", diskFormat: .raw, containerFormat: .bare), data: .file(path))
            #expect(fromFile.size == Int64(data.count))
            let chunks = stride(from: 0, to: data.count, by: 100_000).map {
                ByteBuffer(bytes: data[$0..<min($0 + 100_000, data.count)])
            }
            let stream = AsyncStream<ByteBuffer> { c in
                for chunk in chunks { c.yield(chunk) }
                c.finish()
            }
            let fromStream = try await images.createImage(
                ImageCreate(name: "stream", diskFormat: .raw, containerFormat: .bare),
                data: .stream(stream, length: nil))
            #expect(fromStream.checksum == fromFile.checksum && fromStream.osHashValue == fromFile.osHashValue)
            // An upload that fails deletes the image it created.
            await #expect(throws: OpenStackError.self) {
                _ = try await images.createImage(ImageCreate(name: "noformat"), data: .bytes([1, 2, 3]))
            }
            #expect(try await images.listImages(ImageFilter(name: .equals("noformat"))).collect().isEmpty)
        }
    }

    @Test("tags, members, waiting, schemas, info, find by name")
    func theRest() async throws {
        try await TestServer.with { s in
            let images = try admin(s).imagesV2()
            let image = try await images.createImage(ImageCreate(name: "shared-one", visibility: .shared))
            try await images.addTag(image.id, "a/b")
            #expect(try await images.getImage(image.id).tags == ["a/b"])
            try await images.removeTag(image.id, "a/b")
            let member = try await images.addMember(image.id, project: "0123456789abcdef0123456789abcdef")
            #expect(member.status == .pending)
            #expect(try await images.members(image.id).map(\.memberId) == ["0123456789abcdef0123456789abcdef"])
            #expect(try await images.member(image.id, project: "0123456789abcdef0123456789abcdef").status == .pending)
            try await images.removeMember(image.id, project: "0123456789abcdef0123456789abcdef")
            #expect(try await images.members(image.id).isEmpty)

            #expect(try await images.findImage("shared-one").id == image.id)
            #expect(try await images.schema("image")["name"] == "image")
            #expect(try await images.importMethods() == ["glance-direct", "web-download"])
            #expect(try await images.stores().first?.id == "local")
            let detail = try await images.storeDetails()
            #expect(detail.first?.id == "local" && detail.first?.isDefault == true && detail.first?.type != nil)
            #expect(try await images.apiVersion().major == 2)

            do {
                try await images.waitForStatus(
                    image.id, .active, timeout: .milliseconds(300), interval: .milliseconds(100))
                Issue.record("no timeout")
            } catch let e as OpenStackError {
                #expect(e.kind == .timedOut)
            }
            Task {
                try await Task.sleep(for: .milliseconds(200))
                try await images.uploadData(image.id, from: .bytes([1, 2, 3]))
            }
            _ = try await images.updateDiskFormats(image.id)
            let active = try await images.waitForStatus(
                image.id, .active, timeout: .seconds(10), interval: .milliseconds(50))
            #expect(active?.status == .active)
            try await images.delete(image.id)
            let gone = try await images.waitForStatus(image.id, .deleted, timeout: .seconds(1))
            #expect(gone == nil)

            // Stage + import.
            let staged = try await images.createImage(
                ImageCreate(name: "imp", diskFormat: .raw, containerFormat: .bare))
            try await images.stageData(staged.id, from: .bytes([9, 9]))
            try await images.importImage(staged.id)
            #expect(try await images.waitForStatus(staged.id, .active, timeout: .seconds(5))?.size == 2)
        }
    }

    @Test("errors carry status, message and request id")
    func errors() async throws {
        try await TestServer.with { s in
            let images = try admin(s).imagesV2()
            do {
                _ = try await images.getImage("00000000-0000-0000-0000-000000000000")
                Issue.record("no error")
            } catch let e as OpenStackError {
                #expect(e.kind == .notFound && e.status == 404)
                #expect(e.message.contains("No image found with ID 00000000-0000-0000-0000-000000000000"))
                #expect(e.requestID?.hasPrefix("req-") == true)
            }
            do {
                _ = try await images.createImage(ImageCreate(name: "x", diskFormat: "floppy"))
                Issue.record("no error")
            } catch let e as OpenStackError {
                #expect(e.kind == .badRequest && e.message.contains("'floppy' is not one of"))
            }
        }
    }
}

extension ImageServiceV2 {
    /// Gives a test image formats so it can take data.
    func updateDiskFormats(_ id: String) async throws -> Image {
        try await update(id, [.replace("disk_format", "raw"), .replace("container_format", "bare")])
    }
}

/// Collects progress reports.
final class ProgressLog: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [TransferProgress] = []
    func add(_ p: TransferProgress) { lock.withLock { items.append(p) } }
    var first: TransferProgress? { lock.withLock { items.first } }
    var last: TransferProgress? { lock.withLock { items.last } }
}
