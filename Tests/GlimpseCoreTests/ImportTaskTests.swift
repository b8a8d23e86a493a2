import GlimpseCore
import GlimpseMemoryStores
import GlimpseTestSupport
import NIOCore
import OpenStackEncoding
import OpenStackJSON
import Testing

extension ServiceFixture {
    /// The tasks recorded for an image, expired or not.
    func tasks(of imageId: String) async throws -> [ImageTask] {
        try await store.tasks(imageId: imageId, now: Timestamp(seconds: 0))
    }

    /// The only task of an image.
    func task(of imageId: String) async throws -> ImageTask {
        let tasks = try await tasks(of: imageId)
        #expect(tasks.count == 1)
        return try #require(tasks.first)
    }
}

@Suite("Imports recorded as tasks")
struct ImportTaskTests {
    let bytes = (0..<50_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
    let member = Principal(userId: "alice", projectId: "p1", roles: ["member"])

    @Test("an import done in the request is a finished task: its input, request, user, result and expiry")
    func finishedInTheRequest() async throws {
        let f = try ServiceFixture()
        let image = try await f.service.create(["disk_format": "raw", "container_format": "bare"], by: member)
        try await f.service.stage(
            image.id, body: [ByteBuffer(bytes: bytes)].async, declaredSize: bytes.count, by: member)
        let body: JSONValue = ["method": ["name": "glance-direct"]]
        try await f.service.importImage(image.id, body: body, requestId: "req-1234", by: member)
        let task = try await f.task(of: image.id)
        #expect(task.type == "api_image_import" && task.status == .success)
        #expect(task.owner == "p1" && task.userId == "alice" && task.requestId == "req-1234")
        #expect(task.imageId == image.id)
        #expect(task.input == ["image_id": .string(image.id), "import_req": body, "backend": ["local"]])
        #expect(task.result == ["image_id": .string(image.id)])
        #expect(task.message == "Copied 0 MiB")
        #expect(task.createdAt == f.clock.now() && task.updatedAt == f.clock.now())
        #expect(task.expiresAt == f.clock.now().adding(seconds: 48 * 3600))
        // The task's id was the import's lock.
        #expect(try await f.store.image(id: image.id)?.properties["os_glance_import_task"] == nil)
    }

    @Test("a background import is processing while it runs, then a success with Glance's message")
    func background() async throws {
        let good = MemoryBlobStore(id: "good")
        let f = try ServiceFixture(more: [good])
        let big = testBytes((3 << 20) + 5)
        let image = try await f.activeImage(big)
        let after = try await f.importInto(image.id, "copy-image", ["good"], allMustSucceed: true)
        #expect(after.storeIds == ["local", "good"])
        let task = try await f.task(of: image.id)
        #expect(task.status == .success && task.message == "Copied 3 MiB")
        #expect(task.input?["backend"] == ["good"] && task.input?["import_req"]?["stores"] == ["good"])
        #expect(task.result == ["image_id": .string(image.id)])
        #expect(task.expiresAt == f.clock.now().adding(seconds: 48 * 3600))

        let stalled = FaultyBlobStore(id: "stalled", .stalledWrites)
        let g = try ServiceFixture(more: [stalled])
        let held = try await g.activeImage(bytes)
        try await g.service.importImage(
            held.id, body: ["method": ["name": "copy-image"], "stores": ["stalled"]], by: g.admin)
        var running = try await g.task(of: held.id)
        for _ in 0..<500 where running.status != .processing {
            try await Task.sleep(for: .milliseconds(10))
            running = try await g.task(of: held.id)
        }
        #expect(running.status == .processing && running.expiresAt == nil && running.result == nil)
        #expect(try await g.store.image(id: held.id)?.properties["os_glance_import_task"] == .string(running.id))
        // Shutdown: the store not done counts as failed, and the copy was to succeed everywhere.
        await g.service.imports.stop()
        let stopped = try await g.task(of: held.id)
        #expect(stopped.status == .failure && stopped.message == "Task failed due to Internal Error")
        #expect(stopped.expiresAt != nil && stopped.result == nil)
    }

    @Test("failures: a store that fails where all must succeed fails the task; best effort succeeds")
    func failures() async throws {
        let good = MemoryBlobStore(id: "good")
        let f = try ServiceFixture(more: [good, FaultyBlobStore(id: "broken", .failingWrites)])
        let active = try await f.activeImage(bytes)
        _ = try await f.importInto(active.id, "copy-image", ["good", "broken"], allMustSucceed: true)
        let failed = try await f.task(of: active.id)
        #expect(failed.status == .failure && failed.message == "Task failed due to Internal Error")
        #expect(failed.result == nil && failed.expiresAt == f.clock.now().adding(seconds: 48 * 3600))

        let staged = try await f.stagedImage(bytes)
        _ = try await f.importInto(staged.id, "glance-direct", ["broken"], allMustSucceed: false)
        #expect(try await f.task(of: staged.id).status == .failure)

        // Glance's rule: a copy that reached some stores and not others is a success.
        let partly = try await f.activeImage(bytes)
        let after = try await f.importInto(partly.id, "copy-image", ["broken", "good"], allMustSucceed: false)
        #expect(after.property("os_glance_failed_import") == "broken")
        #expect(try await f.task(of: partly.id).status == .success)
        // Each import has a task of its own.
        f.clock.advance(seconds: 1)
        _ = try await f.importInto(active.id, "copy-image", ["good"], allMustSucceed: true)
        #expect(try await f.tasks(of: active.id).map(\.status) == [.failure, .success])
    }

    @Test("a refused import records no task")
    func refused() async throws {
        let f = try ServiceFixture()
        let image = try await f.createImage()
        await #expect(throws: ServiceError.self) {
            try await f.service.importImage(image.id, body: ["method": ["name": "glance-direct"]], by: f.admin)
        }
        #expect(try await f.tasks(of: image.id).isEmpty)
    }

    @Test("the task of an import whose process died fails: when its lease runs out, or when its lock is taken over")
    func abandoned() async throws {
        let other = MemoryBlobStore(id: "other")
        let f = try ServiceFixture(more: [other])
        func deadImport(on image: Image) async throws -> ImageTask {
            let task = ImageTask(
                id: Identifiers.uuid(), type: "api_image_import", status: .processing, owner: "p1",
                imageId: image.id, createdAt: f.clock.now(), updatedAt: f.clock.now())
            try await f.store.insertTask(task)
            var locked = image
            locked.properties["os_glance_import_task"] = .string(task.id)
            locked.properties["os_glance_importing_to_stores"] = "other"
            _ = try #require(try await f.store.updateImage(locked))
            return task
        }
        // Its lease runs out: the reclaim ends the import and its task.
        let leased = try await f.activeImage(bytes)
        let first = try await deadImport(on: leased)
        var current = try #require(try await f.store.image(id: leased.id))
        _ = try #require(
            try await f.store.startUpload(
                current,
                lease: UploadLease(
                    imageId: leased.id, owner: "dead-node", storeId: "other", pendingLocation: "pending/gone",
                    expiresAt: f.clock.now().adding(seconds: 60))))
        f.clock.advance(seconds: 61)
        #expect(try await f.service.reclaimAbandonedUploads().count == 1)
        var ended = try #require(try await f.store.task(id: first.id))
        #expect(ended.status == .failure && ended.message == "Expired lock preempted")
        #expect(ended.expiresAt == f.clock.now().adding(seconds: 48 * 3600))

        // Its lease is gone already: the next import takes the lock over and ends the task.
        let locked = try await f.activeImage(bytes)
        let second = try await deadImport(on: locked)
        f.clock.advance(seconds: 1)
        current = try await f.importInto(locked.id, "copy-image", ["other"], allMustSucceed: true)
        #expect(current.storeIds == ["local", "other"])
        ended = try #require(try await f.store.task(id: second.id))
        #expect(ended.status == .failure && ended.message == "Expired lock preempted")
        #expect(try await f.tasks(of: locked.id).map(\.status) == [.failure, .success])
    }

    @Test("tasks are kept task_time_to_live hours after they end, then listed nowhere and purged")
    func timeToLive() async throws {
        let f = try ServiceFixture()
        let staged = try await f.stagedImage(bytes)
        try await f.service.importImage(staged.id, body: ["method": ["name": "glance-direct"]], by: f.admin)
        let task = try await f.task(of: staged.id)
        f.clock.advance(seconds: 1)
        // A task that has not ended never expires.
        let running = ImageTask(
            id: Identifiers.uuid(), type: "api_image_import", status: .processing, owner: "p1", imageId: staged.id,
            createdAt: f.clock.now(), updatedAt: f.clock.now())
        try await f.store.insertTask(running)
        f.clock.advance(seconds: 48 * 3600 - 2)
        #expect(try await f.service.purgeExpiredTasks() == 0)
        #expect(try await f.service.tasks(ofImage: staged.id, by: f.admin).map(\.id) == [task.id, running.id])
        #expect(try await f.service.task(task.id, by: f.admin) == task)
        f.clock.advance(seconds: 1)
        #expect(try await f.service.tasks(ofImage: staged.id, by: f.admin).map(\.id) == [running.id])
        #expect(try await f.service.listTasks([], by: f.admin).tasks.map(\.id) == [running.id])
        await #expect(throws: ServiceError.notFound("Task with the given id \(task.id) was not found")) {
            try await f.service.task(task.id, by: f.admin)
        }
        #expect(try await f.service.purgeExpiredTasks() == 1)
        #expect(try await f.store.task(id: task.id) == nil)
        #expect(try await f.store.task(id: running.id) == running)
    }
}
