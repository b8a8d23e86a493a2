import GlimpseCore
import NIOCore
import NIOPosix
import OpenStackEncoding
import OpenStackJSON
import Testing

@Suite("Core rules")
struct CoreTests {
    @Test("the status machine allows Glance's transitions only, and every change goes through it")
    func transitions() throws {
        #expect(ImageStatus.queued.canTransition(to: .saving))
        #expect(ImageStatus.saving.canTransition(to: .active))
        #expect(ImageStatus.active.canTransition(to: .deactivated))
        #expect(!ImageStatus.active.canTransition(to: .saving))
        #expect(!ImageStatus.deleted.canTransition(to: .active))
        #expect(!ImageStatus.killed.canTransition(to: .active))
        var image = Image(id: "x", owner: nil, createdAt: .now(), updatedAt: .now())
        try image.transition(to: .uploading)
        #expect(throws: ServiceError.self) { try image.transition(to: .active) }
        #expect(image.status == .uploading)
        try image.transition(to: .importing)
        try image.transition(to: .active)
        #expect(image.status == .active)
    }

    @Test("JSON patch: both dialects, pointer rules")
    func patches() throws {
        let v21 = try PatchDialect.v21.parse([
            ["op": "add", "path": "/a~1b~0c", "value": 1], ["op": "remove", "path": "/x"],
        ])
        #expect(v21 == [PatchOperation(.add, "a/b~c", 1), PatchOperation(.remove, "x")])
        let v20 = try PatchDialect.v20.parse([["replace": "/name", "value": "n"]])
        #expect(v20 == [PatchOperation(.replace, "name", "n")])
        #expect(PatchDialect(contentType: "application/openstack-images-v2.1-json-patch; charset=utf-8") == .v21)
        #expect(PatchDialect(contentType: "application/json") == nil)
        #expect(throws: ServiceError.self) { try PatchDialect.v21.parse([["op": "add", "path": "/a/b", "value": 1]]) }
        #expect(throws: ServiceError.self) { try PatchDialect.v21.parse([["op": "add", "path": "/a~2", "value": 1]]) }
    }

    @Test("schema validation messages read like Python's jsonschema")
    func schemaMessages() throws {
        let schemas = ImageSchemas(config: ImageServiceConfig())
        let failure = try #require(schemas.imageValidator.validate(["disk_format": "floppy"]))
        let message = schemas.imageValidator.error(for: failure).explanation ?? ""
        #expect(message.hasPrefix("Provided object does not match schema 'image': 'floppy' is not one of [None, 'ami'"))
        #expect(message.contains("Failed validating 'enum' in schema['properties']['disk_format']:"))
        #expect(message.contains("On instance['disk_format']:\n    'floppy'"))
        #expect(schemas.imageValidator.validate(["name": nil, "min_ram": 5, "custom": ["any": "json"]]) == nil)
        #expect(PythonRepr.repr(["a": [nil, true, "it's"]]) == #"{'a': [None, True, "it's"]}"#)
    }

    @Test("digests of image data, across batches")
    func digests() async throws {
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        var d = ImageDigests(pool: pool)
        await d.update(ByteBuffer(string: "abc"))
        let (md5, sha512) = await d.finalize()
        #expect(md5 == "900150983cd24fb0d6963f7d28e17f72")
        #expect(sha512.hasPrefix("ddaf35a193617aba"))
        #expect(d.byteCount == 3)
        // 3 MiB in odd chunks: the same digests as in one piece.
        let data = (0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        var pieces = ImageDigests(pool: pool)
        var offset = 0
        while offset < data.count {
            let n = min(100_003, data.count - offset)
            await pieces.update(ByteBuffer(bytes: data[offset..<offset + n]))
            offset += n
        }
        var whole = ImageDigests(pool: pool)
        await whole.update(ByteBuffer(bytes: data))
        let a = await pieces.finalize()
        let b = await whole.finalize()
        #expect(a == b)
        #expect(a.md5.count == 32 && a.sha512.count == 128)
        try await pool.shutdownGracefully()
    }

    @Test("sort completion adds Glance's tie-breakers")
    func sortCompletion() {
        #expect(
            ImageListQuery.completeSort([], defaultAscending: false) == [
                SortKey(.createdAt, ascending: false), SortKey(.id, ascending: false),
            ])
        #expect(
            ImageListQuery.completeSort([SortKey(.name, ascending: true)], defaultAscending: true)
                == [
                    SortKey(.name, ascending: true), SortKey(.createdAt, ascending: true),
                    SortKey(.id, ascending: true),
                ])
    }
}
