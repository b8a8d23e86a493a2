import GlimpseTestSupport
import NIOHTTP1
import OpenStackJSON
import Testing

@Suite("Metadata definitions")
struct MetadefTests {
    @Test("items are checked against the schemas the API serves for them, as Glance checks them (400)")
    func itemSchemas() async throws {
        try await TestApp.with { s in
            let admin = try await s.adminToken()
            var r = try await s.json(.POST, "/v2/metadefs/namespaces", token: admin, ["namespace": "OS::Checked"])
            #expect(r.status == 201)
            let base = "/v2/metadefs/namespaces/OS::Checked"
            // Found by schemathesis: a number as `prefix`, and members no schema names, were stored.
            for (path, body) in [
                ("/resource_types", ["name": "OS::Glance::Image", "prefix": 2_149_498] as JSONValue),
                ("/resource_types", ["name": "OS::Glance::Image", "required": ""]),
                ("/objects", ["name": "o", "unknown": "x"]),
                ("/objects", ["name": "o", "properties": ["p": ["type": "string"]]]),
                ("/properties", ["name": "p", "type": "string"]),
                ("/properties", ["name": "p", "title": "P", "type": "string", "maxLength": "long"]),
            ] {
                r = try await s.json(.POST, base + path, token: admin, body)
                #expect(r.status == 400, "\(path) \(body.jsonString): \(r.status) \(r.text)")
                #expect(r.text.contains("Provided object does not match schema"), "\(r.text)")
            }
            for (path, body) in [
                ("/resource_types", ["name": "OS::Glance::Image", "prefix": "hw_"] as JSONValue),
                ("/objects", ["name": "o", "properties": ["p": ["title": "P", "type": "string"]]]),
                ("/properties", ["name": "p", "title": "P", "type": "string", "maxLength": 8]),
            ] {
                r = try await s.json(.POST, base + path, token: admin, body)
                #expect(r.status == 201, "\(path) \(body.jsonString): \(r.status) \(r.text)")
            }
            r = try await s.json(.PUT, base + "/objects/o", token: admin, ["name": "o", "required": 1])
            #expect(r.status == 400)
            r = try await s.json(
                .PUT, base + "/properties/p", token: admin, ["name": "p", "title": "Q", "type": "integer"])
            #expect(r.status == 200)
        }
    }

    @Test("namespaces with objects, properties, tags and associations; admin-only writes; protection")
    func crud() async throws {
        try await TestApp.with { s in
            let admin = try await s.adminToken()
            let (member, _) = try await s.makeUser("mona", project: "p-mona", admin: admin)
            let types = try await s.request(.GET, "/v2/metadefs/resource_types", token: member)
            #expect(
                try types.json["resource_types"]?.arrayValue?.contains { $0["name"] == "OS::Glance::Image" } == true)
            var r = try await s.json(.POST, "/v2/metadefs/namespaces", token: member, ["namespace": "x"])
            #expect(r.status == 403)
            r = try await s.json(
                .POST, "/v2/metadefs/namespaces", token: admin,
                [
                    "namespace": "OS::Test", "display_name": "Test", "visibility": "public", "protected": true,
                    "resource_type_associations": [["name": "OS::Glance::Image", "prefix": "hw_"]],
                    "properties": ["cpu": ["title": "CPU", "type": "string", "enum": ["a", "b"]]],
                ])
            #expect(r.status == 201)
            #expect(try r.json["namespace"] == "OS::Test" && r.json["self"] == "/v2/metadefs/namespaces/OS::Test")
            r = try await s.json(.POST, "/v2/metadefs/namespaces", token: admin, ["namespace": "OS::Test"])
            #expect(r.status == 409)
            r = try await s.json(
                .POST, "/v2/metadefs/namespaces/OS::Test/objects", token: admin, ["name": "obj", "description": "d"])
            #expect(try r.status == 201 && r.json["required"] == [])
            r = try await s.json(
                .PUT, "/v2/metadefs/namespaces/OS::Test/objects/obj", token: admin,
                ["name": "obj2", "description": "e"])
            #expect(try r.json["name"] == "obj2")
            r = try await s.json(
                .POST, "/v2/metadefs/namespaces/OS::Test/tags", token: admin,
                ["tags": [["name": "t1"], ["name": "t2"]]])
            #expect(try r.status == 201 && r.json["tags"]?.arrayValue?.count == 2)
            r = try await s.request(.POST, "/v2/metadefs/namespaces/OS::Test/tags/t3", token: admin)
            #expect(r.status == 201)
            let shown = try await s.request(.GET, "/v2/metadefs/namespaces/OS::Test", token: member).json
            #expect(shown["properties"]?["cpu"]?["title"] == "CPU")
            #expect(shown["objects"]?.arrayValue?.first?["name"] == "obj2")
            #expect(shown["tags"]?.arrayValue?.count == 3)
            #expect(shown["resource_type_associations"]?.arrayValue?.first?["prefix"] == "hw_")
            r = try await s.request(.DELETE, "/v2/metadefs/namespaces/OS::Test", token: admin)
            #expect(r.status == 403)
            r = try await s.json(
                .PUT, "/v2/metadefs/namespaces/OS::Test", token: admin,
                ["namespace": "OS::Test", "protected": false, "visibility": "private"])
            #expect(try r.json["protected"] == false)
            #expect(try await s.request(.GET, "/v2/metadefs/namespaces/OS::Test", token: member).status == 404)
            #expect(try await s.request(.DELETE, "/v2/metadefs/namespaces/OS::Test", token: admin).status == 204)
            #expect(try await s.request(.GET, "/v2/metadefs/namespaces/OS::Test/objects", token: admin).status == 404)
            for name in [
                "namespace", "namespaces", "resource_type", "resource_types", "object", "objects", "property",
                "properties", "tag", "tags",
            ] {
                let schema = try await s.request(.GET, "/v2/schemas/metadefs/\(name)", token: member)
                #expect(try schema.status == 200 && schema.json["name"] != nil)
            }
        }
    }
}
