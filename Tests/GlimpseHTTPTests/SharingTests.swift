import GlimpseTestSupport
import NIOHTTP1
import OpenStackJSON
import Testing

@Suite("Projects: isolation, visibility and sharing")
struct SharingTests {
    func ids(_ r: Reply) throws -> Set<String> {
        Set(try r.json["images"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? [])
    }

    @Test("a project never sees another project's private or shared images")
    func isolation() async throws {
        try await TestApp.with { s in
            let admin = try await s.adminToken()
            let (alice, _) = try await s.makeUser("alice", project: "p-alice", admin: admin)
            let (bob, _) = try await s.makeUser("bob", project: "p-bob", admin: admin)
            let priv =
                try await s.createImage(
                    alice,
                    ["name": "private", "visibility": "private", "disk_format": "raw", "container_format": "bare"])[
                    "id"]?.stringValue ?? ""
            let shared = try await s.createImage(alice, ["name": "shared"])["id"]?.stringValue ?? ""
            let community =
                try await s.createImage(alice, ["name": "community", "visibility": "community"])["id"]?.stringValue
                ?? ""
            _ = try await s.upload(priv, token: alice, [1, 2, 3])

            let bobList = try await s.request(.GET, "/v2/images?visibility=all", token: bob)
            #expect(try ids(bobList) == [community])
            let bobDefault = try await s.request(.GET, "/v2/images", token: bob)
            #expect(try ids(bobDefault).isEmpty)
            for (method, path) in [
                (HTTPMethod.GET, "/v2/images/\(priv)"), (.GET, "/v2/images/\(priv)/file"),
                (.DELETE, "/v2/images/\(priv)"), (.GET, "/v2/images/\(shared)"),
                (.POST, "/v2/images/\(priv)/actions/deactivate"), (.PUT, "/v2/images/\(priv)/tags/x"),
            ] {
                let r = try await s.request(method, path, token: bob)
                #expect(r.status == 404, "\(method) \(path)")
            }
            let patch = try await s.patch(priv, token: bob, [["op": "replace", "path": "/name", "value": "x"]])
            #expect(patch.status == 404)
            // Visible but not theirs: 403.
            let commPatch = try await s.patch(
                community, token: bob, [["op": "replace", "path": "/name", "value": "x"]])
            #expect(commPatch.status == 403)
            let commDelete = try await s.request(.DELETE, "/v2/images/\(community)", token: bob)
            #expect(commDelete.status == 403)

            // Admin sees everything but other projects' community images by default.
            let adminList = try await s.request(.GET, "/v2/images", token: admin)
            #expect(try ids(adminList) == [priv, shared])
            let adminShow = try await s.request(.GET, "/v2/images/\(priv)", token: admin)
            #expect(adminShow.status == 200)
        }
    }

    @Test("members: share, accept, reject, member views, policy")
    func members() async throws {
        try await TestApp.with { s in
            let admin = try await s.adminToken()
            let (alice, _) = try await s.makeUser("alice", project: "p-alice", admin: admin)
            let (bob, bobProject) = try await s.makeUser("bob", project: "p-bob", admin: admin)
            let (carol, _) = try await s.makeUser("carol", project: "p-carol", admin: admin)
            let id =
                try await s.createImage(alice, ["name": "to-share", "disk_format": "raw", "container_format": "bare"])[
                    "id"]?.stringValue ?? ""
            _ = try await s.upload(id, token: alice, [9, 9, 9])
            let priv = try await s.createImage(alice, ["name": "p", "visibility": "private"])["id"]?.stringValue ?? ""

            var r = try await s.json(.POST, "/v2/images/\(priv)/members", token: alice, ["member": .string(bobProject)])
            #expect(r.status == 403)
            r = try await s.json(.POST, "/v2/images/\(id)/members", token: alice, ["members": "x"])
            #expect(r.status == 400)
            r = try await s.json(.POST, "/v2/images/\(id)/members", token: alice, ["member": .string(bobProject)])
            #expect(r.status == 200)
            #expect(
                try r.json["status"] == "pending" && r.json["image_id"]?.stringValue == id
                    && r.json["schema"] == "/v2/schemas/member")
            r = try await s.json(.POST, "/v2/images/\(id)/members", token: alice, ["member": .string(bobProject)])
            #expect(r.status == 409)

            // Pending: bob can see and download it, but it is not in his default list.
            #expect(try await s.request(.GET, "/v2/images/\(id)", token: bob).status == 200)
            #expect(try await s.request(.GET, "/v2/images/\(id)/file", token: bob).body == [9, 9, 9])
            #expect(try ids(try await s.request(.GET, "/v2/images", token: bob)).isEmpty)
            #expect(
                try ids(try await s.request(.GET, "/v2/images?visibility=shared&member_status=pending", token: bob))
                    == [id])
            // Carol is no member: the image does not exist for her.
            #expect(try await s.request(.GET, "/v2/images/\(id)", token: carol).status == 404)

            // Only bob decides about bob's membership.
            r = try await s.json(.PUT, "/v2/images/\(id)/members/\(bobProject)", token: alice, ["status": "accepted"])
            #expect(r.status == 403)
            r = try await s.json(.PUT, "/v2/images/\(id)/members/\(bobProject)", token: bob, ["status": "maybe"])
            #expect(r.status == 400)
            r = try await s.json(.PUT, "/v2/images/\(id)/members/\(bobProject)", token: bob, ["status": "accepted"])
            #expect(try r.status == 200 && r.json["status"] == "accepted")
            #expect(try ids(try await s.request(.GET, "/v2/images", token: bob)) == [id])
            // Bob sees only his own membership; the owner sees all.
            let _ = try await s.json(.POST, "/v2/images/\(id)/members", token: alice, ["member": "some-other-project"])
            #expect(
                try await s.request(.GET, "/v2/images/\(id)/members", token: bob).json["members"]?.arrayValue?.count
                    == 1)
            #expect(
                try await s.request(.GET, "/v2/images/\(id)/members", token: alice).json["members"]?.arrayValue?.count
                    == 2)
            // A member may not change the image or remove members.
            #expect(
                try await s.patch(id, token: bob, [["op": "replace", "path": "/name", "value": "x"]]).status == 403)
            #expect(try await s.request(.DELETE, "/v2/images/\(id)/members/\(bobProject)", token: bob).status == 403)

            r = try await s.json(.PUT, "/v2/images/\(id)/members/\(bobProject)", token: bob, ["status": "rejected"])
            #expect(try r.json["status"] == "rejected")
            #expect(try ids(try await s.request(.GET, "/v2/images", token: bob)).isEmpty)

            #expect(try await s.request(.DELETE, "/v2/images/\(id)/members/\(bobProject)", token: alice).status == 204)
            #expect(try await s.request(.DELETE, "/v2/images/\(id)/members/\(bobProject)", token: alice).status == 404)
            #expect(try await s.request(.GET, "/v2/images/\(id)", token: bob).status == 404)
        }
    }

    @Test("policy: publicize and owner are admin-only; readers cannot write or download")
    func policy() async throws {
        try await TestApp.with { s in
            let admin = try await s.adminToken()
            let (alice, aliceProject) = try await s.makeUser("alice", project: "p-alice", admin: admin)
            let (reader, _) = try await s.makeUser("rita", project: "p-alice", role: "reader", admin: admin)
            var r = try await s.json(.POST, "/v2/images", token: alice, ["name": "pub", "visibility": "public"])
            #expect(r.status == 403)
            #expect(r.text.contains("publicize_image"))
            r = try await s.json(.POST, "/v2/images", token: alice, ["name": "x", "owner": "someone-else"])
            #expect(r.status == 403)
            let id =
                try await s.createImage(alice, ["name": "mine", "disk_format": "raw", "container_format": "bare"])[
                    "id"]?.stringValue ?? ""
            _ = try await s.upload(id, token: alice, [1])
            r = try await s.patch(id, token: alice, [["op": "replace", "path": "/visibility", "value": "public"]])
            #expect(r.status == 403)
            r = try await s.patch(id, token: alice, [["op": "replace", "path": "/owner", "value": "x"]])
            #expect(r.status == 403)
            r = try await s.patch(id, token: alice, [["op": "replace", "path": "/visibility", "value": "community"]])
            #expect(r.status == 200)

            // Reader of the same project: reads, but neither writes nor downloads.
            #expect(try await s.request(.GET, "/v2/images/\(id)", token: reader).status == 200)
            #expect(try await s.json(.POST, "/v2/images", token: reader, ["name": "x"]).status == 403)
            #expect(try await s.request(.GET, "/v2/images/\(id)/file", token: reader).status == 403)
            #expect(try await s.request(.DELETE, "/v2/images/\(id)", token: reader).status == 403)

            // A reader of a member project sees the share but may not accept or reject it.
            let (bob, bobProject) = try await s.makeUser("bob", project: "p-bob", admin: admin)
            let (bobReader, _) = try await s.makeUser("rob", project: "p-bob", role: "reader", admin: admin)
            r = try await s.patch(id, token: alice, [["op": "replace", "path": "/visibility", "value": "shared"]])
            #expect(r.status == 200)
            r = try await s.json(.POST, "/v2/images/\(id)/members", token: alice, ["member": .string(bobProject)])
            #expect(r.status == 200)
            r = try await s.json(
                .PUT, "/v2/images/\(id)/members/\(bobProject)", token: bobReader, ["status": "accepted"])
            #expect(r.status == 403)
            #expect(try await s.request(.GET, "/v2/images/\(id)/members/\(bobProject)", token: bobReader).status == 200)
            r = try await s.json(.PUT, "/v2/images/\(id)/members/\(bobProject)", token: bob, ["status": "accepted"])
            #expect(r.status == 200)

            // Admin may publicize and create for others.
            r = try await s.json(
                .POST, "/v2/images", token: admin,
                ["name": "for-alice", "owner": .string(aliceProject), "visibility": "public"])
            #expect(try r.status == 201 && r.json["owner"]?.stringValue == aliceProject)
            // Deactivated data is for admins only.
            #expect(try await s.request(.POST, "/v2/images/\(id)/actions/deactivate", token: alice).status == 204)
            #expect(try await s.request(.GET, "/v2/images/\(id)/file", token: alice).status == 403)
            #expect(try await s.request(.GET, "/v2/images/\(id)/file", token: admin).status == 200)
        }
    }
}
