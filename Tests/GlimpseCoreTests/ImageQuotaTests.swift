import GlimpseCore
import GlimpseMemoryStores
import Logging
import NIOCore
import OpenStackJSON
import Synchronization
import Testing

/// Limits set by the test, changeable while it runs.
final class FixedLimits: LimitsSource {
    let values: Mutex<[String: Int]>
    init(_ values: [String: Int]) { self.values = Mutex(values) }
    func set(_ name: String, _ limit: Int) { values.withLock { $0[name] = limit } }
    func limits(for project: String) async throws -> [String: Int] { values.withLock { $0 } }
}

/// The image service with unified limits for project `p1`.
struct QuotaFixture {
    let store = MemoryMetadataStore()
    let blobs = MemoryBlobStore(id: "local")
    let limits: FixedLimits
    let service: ImageService
    let member = Principal(userId: "u1", projectId: "p1", roles: ["member", "reader"])

    init(_ limits: [String: Int]) throws {
        self.limits = FixedLimits(limits)
        var config = ImageServiceConfig()
        config.importMethods = ["glance-direct", "copy-image"]
        service = ImageService(
            store: store, blobs: try BlobStores([blobs]), config: config, hashing: ServiceFixture.pool,
            limits: self.limits, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
    }

    func create() async throws -> Image {
        try await service.create(["disk_format": "raw", "container_format": "bare"], by: member)
    }

    func upload(_ id: String, _ bytes: Int, declared: Bool = true) async throws {
        let body = [ByteBuffer(bytes: [UInt8](repeating: 7, count: bytes))].async
        try await service.upload(id, body: body, declaredSize: declared ? bytes : nil, by: member)
    }

    func stage(_ id: String, _ bytes: Int) async throws {
        let body = [ByteBuffer(bytes: [UInt8](repeating: 7, count: bytes))].async
        try await service.stage(id, body: body, declaredSize: bytes, by: member)
    }

    /// The 413 `body` ends with, and its message.
    func overLimit(_ body: () async throws -> Void) async -> String? {
        do {
            try await body()
            return nil
        } catch let e as ServiceError {
            guard case .payloadTooLarge = e.kind else { return "not 413: \(e)" }
            return e.explanation
        } catch {
            return "\(error)"
        }
    }
}

@Suite("Quotas from unified limits")
struct ImageQuotaTests {
    static let mib = 1 << 20

    @Test("image_count_total: the image past the limit is refused with oslo.limit's message, and not created")
    func countTotal() async throws {
        let f = try QuotaFixture(["image_count_total": 2])
        _ = try await f.create()
        _ = try await f.create()
        let message = await f.overLimit { _ = try await f.create() }
        #expect(
            message
                == "Project p1 is over a limit for [Resource image_count_total is over limit of 2 due to current usage 2 and delta 1]"
        )
        #expect(try await f.store.usage(owner: "p1").images == 2)
        // Another project, or a higher limit, may create again.
        f.limits.set("image_count_total", 3)
        _ = try await f.create()
        f.limits.set("image_count_total", -1)
        _ = try await f.create()
    }

    @Test("image_size_total: checked once with the declared size; an upload that starts within it may end past it")
    func sizeTotal() async throws {
        let f = try QuotaFixture(["image_size_total": 2])
        let first = try await f.create()
        try await f.upload(first.id, 1 * Self.mib + 10)
        let second = try await f.create()
        let declared = await f.overLimit { try await f.upload(second.id, 2 * Self.mib) }
        #expect(
            declared
                == "Project p1 is over a limit for [Resource image_size_total is over limit of 2 due to current usage 1 and delta 2]"
        )
        let image = try #require(try await f.store.image(id: second.id))
        #expect(image.status == .queued && image.locations.isEmpty && image.size == nil)
        #expect(try await f.store.usage(owner: "p1").bytes == 1 * Self.mib + 10)
        // Without a declared size the delta is 0: the upload is accepted, and the project
        // ends past its limit (whole MiB are counted: 3 MiB used of 2).
        try await f.upload(second.id, 2 * Self.mib, declared: false)
        #expect(try await f.store.image(id: second.id)?.status == .active)
        let third = try await f.create()
        let over = await f.overLimit { try await f.upload(third.id, 0) }
        #expect(
            over
                == "Project p1 is over a limit for [Resource image_size_total is over limit of 2 due to current usage 3 and delta 0]"
        )
        #expect(try await f.store.image(id: third.id)?.status == .queued)
    }

    @Test("image_stage_total: staging past it is refused and the image stays queued; uploads do not count")
    func stageTotal() async throws {
        let f = try QuotaFixture(["image_stage_total": 1, "image_size_total": 100])
        let staged = try await f.create()
        try await f.stage(staged.id, Self.mib)
        let second = try await f.create()
        let message = await f.overLimit { try await f.stage(second.id, Self.mib) }
        #expect(
            message
                == "Project p1 is over a limit for [Resource image_stage_total is over limit of 1 due to current usage 1 and delta 1]"
        )
        let image = try #require(try await f.store.image(id: second.id))
        #expect(image.status == .queued && image.locations.isEmpty)
        // An upload is bounded by image_size_total only.
        try await f.upload(second.id, 3 * Self.mib)
        let usage = try await f.service.quotaUsage(of: "p1")
        #expect(usage[.imageStageTotal] == QuotaUsage(limit: 1, usage: 1))
        #expect(usage[.imageSizeTotal] == QuotaUsage(limit: 100, usage: 3))
    }

    @Test("image_count_uploading: a second upload while one is in progress is refused and goes back to queued")
    func countUploading() async throws {
        let f = try QuotaFixture(["image_count_uploading": 1])
        let a = try await f.create()
        let b = try await f.create()
        let (body, input) = AsyncStream.makeStream(of: ByteBuffer.self)
        let upload = Task { try await f.service.upload(a.id, body: body, declaredSize: nil, by: f.member) }
        input.yield(ByteBuffer(bytes: [1, 2, 3]))
        for _ in 0..<200 where try await f.store.image(id: a.id)?.status != .saving {
            try await Task.sleep(for: .milliseconds(10))
        }
        let message = await f.overLimit { try await f.upload(b.id, 10) }
        #expect(
            message
                == "Project p1 is over a limit for [Resource image_count_uploading is over limit of 1 due to current usage 2 and delta 0]"
        )
        #expect(try await f.store.image(id: b.id)?.status == .queued)
        input.finish()
        try await upload.value
        #expect(try await f.store.image(id: a.id)?.status == .active)
        try await f.upload(b.id, 10)
        #expect(try await f.store.image(id: b.id)?.status == .active)
    }

    @Test(
        "glance-direct import adds the staged data to image_size_total: past it, the task fails and the image is queued"
    )
    func importSize() async throws {
        let f = try QuotaFixture(["image_size_total": 1])
        let image = try await f.create()
        try await f.stage(image.id, 2 * Self.mib)
        try await f.service.importImage(image.id, body: ["method": ["name": "glance-direct"]], by: f.member)
        let task = try #require(try await f.service.tasks(ofImage: image.id, by: f.member).first)
        #expect(task.status == .failure)
        #expect(
            task.message.hasSuffix(
                "Project p1 is over a limit for [Resource image_size_total is over limit of 1 due to current usage 0 and delta 2]"
            ))
        let after = try await f.store.image(id: image.id)
        #expect(after?.status == .queued && after?.locations == [] && after?.size == nil)
        #expect(after?.properties["os_glance_import_task"] == nil)
    }

    @Test("no limits: nothing is refused, and usage reports -1 with the project's use")
    func unlimited() async throws {
        let f = try QuotaFixture([:])
        for _ in 0..<3 { try await f.upload(try await f.create().id, 2 * Self.mib) }
        let usage = try await f.service.quotaUsage(of: "p1")
        #expect(usage[.imageCountTotal] == QuotaUsage(limit: -1, usage: 3))
        #expect(usage[.imageSizeTotal] == QuotaUsage(limit: -1, usage: 6))
        #expect(usage[.imageCountUploading] == QuotaUsage(limit: -1, usage: 0))
        #expect(usage[.imageStageTotal] == QuotaUsage(limit: -1, usage: 0))
    }

    @Test("effective limits: a project's own wins over the default, a region's over every region's")
    func effective() {
        let registered = [
            RegisteredLimit(id: "1", serviceId: "s", regionId: nil, resourceName: "a", defaultLimit: 5),
            RegisteredLimit(id: "2", serviceId: "s", regionId: "R1", resourceName: "a", defaultLimit: 4),
            RegisteredLimit(id: "3", serviceId: "s", regionId: "R2", resourceName: "b", defaultLimit: 9),
            RegisteredLimit(id: "4", serviceId: "s", regionId: nil, resourceName: "c", defaultLimit: 1),
        ]
        let own = [
            ProjectLimit(id: "5", projectId: "p", serviceId: "s", regionId: "R1", resourceName: "c", resourceLimit: 7),
            ProjectLimit(id: "6", projectId: "p", serviceId: "s", regionId: nil, resourceName: "c", resourceLimit: 3),
        ]
        #expect(UnifiedLimits.effective(registered: registered, project: own, region: "R1") == ["a": 4, "c": 7])
        #expect(UnifiedLimits.effective(registered: registered, project: own, region: nil) == ["a": 5, "c": 3])
    }
}
