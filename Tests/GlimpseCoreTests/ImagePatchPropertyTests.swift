import GlimpseCore
import OpenStackJSON
import PropertyBased
import Testing

/// Random JSON-Patch documents against the parser of both dialects and against the image
/// service: each parses to the operations it spells or is a 400; applied, it changes the
/// image as a whole or not at all, and a refusal is a 400, 403, 409 or 413.
@Suite("Image JSON-Patch: properties")
struct ImagePatchPropertyTests {
    @Test("a random document parses to the operations it spells, or is a 400")
    func parse() async {
        await propertyCheck(count: 2000, input: PatchGen.document) { document in
            for dialect in [PatchDialect.v21, .v20] {
                let ops: [PatchOperation]
                do {
                    ops = try dialect.parse(document)
                } catch let error as ServiceError {
                    #expect(error.kind == .badRequest, "\(dialect) \(document.jsonString): \(error)")
                    #expect(!error.message.isEmpty)
                    continue
                }
                let items = try #require(document.arrayValue)
                #expect(ops.count == items.count)
                for (op, item) in zip(ops, items) {
                    #expect(!op.attribute.isEmpty)
                    #expect((op.op == .remove) == (op.value == nil))
                    if op.op != .remove { #expect(op.value == item["value"]) }
                    if dialect == .v21 { #expect(item["op"]?.stringValue == op.op.rawValue) }
                    let pointer = dialect == .v21 ? item["path"] : item[op.op.rawValue]
                    #expect(pointer?.stringValue?.hasPrefix("/") == true)
                }
            }
        }
    }

    @Test("random patches apply whole or not at all; refusals are 400, 403, 409 or 413")
    func apply() async throws {
        let f = try ServiceFixture()
        let member = Principal(userId: "u2", projectId: "p1", roles: ["member", "reader"])
        let image = try await f.service.create(
            ["name": "base", "disk_format": "raw", "container_format": "bare", "tags": ["a"], "custom": "x"], by: member
        )
        let refusals: [ServiceError.Kind] = [.badRequest, .forbidden, .conflict, .payloadTooLarge]
        await propertyCheck(count: 1500, input: PatchGen.operations, Gen.bool) { document, asAdmin in
            guard let ops = try? PatchDialect.v21.parse(document) else { return }
            let caller = asAdmin ? f.admin : member
            let before = try #require(try await f.store.image(id: image.id))
            do {
                let updated = try await f.service.update(image.id, ops, by: caller)
                let stored = try #require(try await f.store.image(id: image.id))
                #expect(stored == updated)
                #expect(Set(stored.tags).count == stored.tags.count)
                #expect(stored.minRam >= 0 && stored.minDisk >= 0)
                #expect((stored.name?.unicodeScalars.count ?? 0) <= 255)
                #expect(stored.id == before.id && stored.status == before.status && stored.size == before.size)
                for key in stored.properties.keys {
                    #expect(!key.isEmpty && key.unicodeScalars.count <= 255 && !key.hasPrefix("os_glance"))
                    #expect(!["location", "deleted", "deleted_at"].contains(key))
                }
                if stored.visibility == .public, before.visibility != .public { #expect(asAdmin) }
                if stored.owner != before.owner { #expect(asAdmin) }
            } catch let error as ServiceError {
                // An admin's earlier patch may have given the image to another project: the
                // member then no longer sees it.
                let hidden =
                    !asAdmin && before.owner != member.projectId && [.private, .shared].contains(before.visibility)
                #expect(
                    refusals.contains(error.kind) || (hidden && error.kind == .notFound),
                    "\(document.jsonString): \(error)"
                )
                #expect(try await f.store.image(id: image.id) == before, "a refused patch changed the image")
            } catch {
                Issue.record("\(document.jsonString): \(error)")
            }
        }
    }
}

/// Patch documents: mostly arrays of operation objects whose members come from what the
/// image API knows, misspells and refuses.
enum PatchGen {
    static let pointers: [String] = [
        "/name", "/tags", "/visibility", "/min_ram", "/min_disk", "/protected", "/os_hidden", "/owner",
        "/disk_format", "/container_format", "/status", "/id", "/size", "/checksum", "/self", "/os_glance_x",
        "/location", "/locations", "/locations/0", "/locations/-", "/custom", "/other", "/a~1b", "/a~0b", "/~2x",
        "/x~", "/", "", "name", "//x", "/x/", "/tags/0", "/ spaced ", "/" + String(repeating: "k", count: 256),
        "/kernel_id", "/cinder_encryption_key_deletion_policy", "/deleted",
    ]
    static let ops: [JSONValue] = ["add", "remove", "replace", "test", "move", "", "ADD", 1, .null, ["add"]]

    static func value(_ rng: inout any SeededRandomNumberGenerator) -> JSONValue {
        let choices: [JSONValue] = [
            "x", "", "public", "private", "shared", "community", "raw", "qcow2", "bare", "nonsense", "p1", "p2",
            .string(String(repeating: "n", count: 256)), 0, 1, -1, 2_147_483_647, 2_147_483_648,
            .number(JSONNumber(literal: "1e400")), .number(JSONNumber(literal: "1.5")), true, false, .null,
            ["t1", "t2", "t1"], [1], [], ["k": "v"], "00000000-0000-0000-0000-000000000000",
            .array((0..<200).map { .string("tag\($0)") }),
        ]
        return choices.randomElement(using: &rng)!
    }

    static func operation(_ rng: inout any SeededRandomNumberGenerator, v20: Bool) -> JSONValue {
        var o = JSONObject()
        let pointer = JSONValue.string(pointers.randomElement(using: &rng)!)
        if v20 {
            o[["add", "remove", "replace", "test"].randomElement(using: &rng)!] = pointer
        } else {
            if Int.random(in: 0..<10, using: &rng) > 0 { o["op"] = ops.randomElement(using: &rng)! }
            if Int.random(in: 0..<10, using: &rng) > 0 { o["path"] = Bool.random(using: &rng) ? pointer : value(&rng) }
        }
        if Int.random(in: 0..<4, using: &rng) > 0 { o["value"] = value(&rng) }
        return .object(o)
    }

    /// Arrays of v2.1 operation objects.
    static let operations = Generator<JSONValue, Shrink.None<JSONValue>> { rng in
        .array((0..<Int.random(in: 0...4, using: &rng)).map { _ in operation(&rng, v20: false) })
    }

    /// Any document: arrays of operations of either dialect, and other JSON.
    static let document = Generator<JSONValue, Shrink.None<JSONValue>> { rng in
        switch Int.random(in: 0..<8, using: &rng) {
        case 0: return value(&rng)
        case 1: return ["op": "add", "path": "/name", "value": "x"]
        case 2: return .array([value(&rng)] + (0..<2).map { _ in operation(&rng, v20: false) })
        case 3, 4: return .array((0..<Int.random(in: 0...4, using: &rng)).map { _ in operation(&rng, v20: true) })
        default: return .array((0..<Int.random(in: 0...4, using: &rng)).map { _ in operation(&rng, v20: false) })
        }
    }
}
