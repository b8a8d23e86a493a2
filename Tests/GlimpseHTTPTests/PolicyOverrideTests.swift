import GlimpseCore
import GlimpseServer
import GlimpseTestSupport
import NIOHTTP1
import OpenStackJSON
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs `body` against an application whose `policy_file` holds `policy`.
func withPolicy<T: Sendable>(
    _ policy: String, _ configure: @escaping (inout ServerConfig) -> Void = { _ in },
    _ body: @Sendable (TestApp) async throws -> T
) async throws -> T {
    let dir = TestServer.temporaryDirectory()
    defer { _ = system("rm -rf '\(dir)'") }
    let path = dir + "/policy.json"
    try writeText(policy, to: path)
    return try await TestApp.with(
        {
            configure(&$0)
            $0.policyFile = path
        }, body)
}

/// Writes `text` to `path` (a test's own temporary file).
func writeText(_ text: String, to path: String) throws {
    guard let f = fopen(path, "w") else { throw TestFailure("cannot write \(path)") }
    defer { fclose(f) }
    fputs(text, f)
}

@Suite("Policy file: each override changes what the API allows")
struct PolicyOverrideTests {
    @Test("context_is_admin decides who is an admin everywhere: lists, owners, deactivated data")
    func contextIsAdmin() async throws {
        for nobody in [false, true] {
            try await withPolicy(nobody ? #"{"context_is_admin": "!"}"# : "{}") { s in
                let admin = try await s.adminToken()
                let (member, project) = try await s.makeUser("ctx-user", project: "ctx-project", admin: admin)
                let hidden = try await s.createImageId(member, ["name": "theirs", "visibility": "private"])
                let listed = try await s.request(.GET, "/v2/images", token: admin).json["images"]?.arrayValue ?? []
                #expect(listed.contains { $0["id"]?.stringValue == hidden } == !nobody)
                #expect(try await s.request(.GET, "/v2/images/\(hidden)", token: admin).status == (nobody ? 404 : 200))
                let owned = try await s.json(
                    .POST, "/v2/images", token: admin, ["name": "for-them", "owner": .string(project)])
                #expect(owned.status == (nobody ? 403 : 201), "\(owned.text)")
            }
        }
    }

    @Test("publicize_image role:member lets a member make images public (refused by default)")
    func publicize() async throws {
        try await TestApp.with { s in
            let admin = try await s.adminToken()
            let (member, _) = try await s.makeUser("m", project: "p-m", admin: admin)
            let r = try await s.json(.POST, "/v2/images", token: member, ["visibility": "public"])
            #expect(r.status == 403 && r.text.contains("publicize_image"))
        }
        try await withPolicy(#"{"publicize_image": "role:member"}"#) { s in
            let admin = try await s.adminToken()
            let (member, _) = try await s.makeUser("m", project: "p-m", admin: admin)
            let r = try await s.json(.POST, "/v2/images", token: member, ["visibility": "public"])
            #expect(r.status == 201)
            let id = try await s.createImageId(member)
            let patch = try await s.patch(
                id, token: member, [["op": "replace", "path": "/visibility", "value": "public"]])
            #expect(patch.status == 200)
        }
    }

    @Test("delete_image \"!\" refuses even the admin; communitize_image admin-only refuses the owner")
    func deleteAndCommunitize() async throws {
        try await withPolicy(#"{"delete_image": "!", "communitize_image": "rule:context_is_admin"}"#) { s in
            let admin = try await s.adminToken()
            let id = try await s.createImageId(admin)
            let r = try await s.request(.DELETE, "/v2/images/\(id)", token: admin)
            #expect(r.status == 403 && r.text.contains("delete_image"))
            let (member, _) = try await s.makeUser("m", project: "p-m", admin: admin)
            let own = try await s.createImageId(member)
            let patch = try await s.patch(
                own, token: member, [["op": "replace", "path": "/visibility", "value": "community"]])
            #expect(patch.status == 403 && patch.text.contains("communitize_image"))
            #expect(try await s.json(.POST, "/v2/images", token: member, ["visibility": "community"]).status == 403)
        }
    }

    @Test("add_member and modify_member overrides: only admins share, members cannot accept")
    func members() async throws {
        let policy = #"{"add_member": "rule:context_is_admin", "modify_member": "!"}"#
        try await withPolicy(policy) { s in
            let admin = try await s.adminToken()
            let (alice, _) = try await s.makeUser("alice", project: "p-alice", admin: admin)
            let (bob, bobProject) = try await s.makeUser("bob", project: "p-bob", admin: admin)
            let id = try await s.createImageId(alice, ["visibility": "shared"])
            var r = try await s.json(.POST, "/v2/images/\(id)/members", token: alice, ["member": .string(bobProject)])
            #expect(r.status == 403 && r.text.contains("add_member"))
            r = try await s.json(.POST, "/v2/images/\(id)/members", token: admin, ["member": .string(bobProject)])
            #expect(r.status == 200)
            r = try await s.json(.PUT, "/v2/images/\(id)/members/\(bobProject)", token: bob, ["status": "accepted"])
            #expect(r.status == 403 && r.text.contains("modify_member"))
        }
    }

    @Test("get_member limited to the owner: a member no longer finds its own membership")
    func getMember() async throws {
        try await withPolicy(#"{"get_member": "project_id:%(project_id)s"}"#) { s in
            let admin = try await s.adminToken()
            let (alice, _) = try await s.makeUser("alice", project: "p-alice", admin: admin)
            let (bob, bobProject) = try await s.makeUser("bob", project: "p-bob", admin: admin)
            let id = try await s.createImageId(alice, ["visibility": "shared"])
            _ = try await s.json(.POST, "/v2/images/\(id)/members", token: alice, ["member": .string(bobProject)])
            #expect(try await s.request(.GET, "/v2/images/\(id)/members/\(bobProject)", token: alice).status == 200)
            #expect(try await s.request(.GET, "/v2/images/\(id)/members/\(bobProject)", token: bob).status == 404)
            let listed = try await s.request(.GET, "/v2/images/\(id)/members", token: bob).json
            #expect(listed["members"]?.arrayValue?.isEmpty == true)
        }
    }

    @Test("download_image admin-only: the owner's download is refused; get_image admin-only hides the image")
    func downloadAndShow() async throws {
        let policy = #"{"download_image": "rule:context_is_admin", "get_image": "role:admin"}"#
        try await withPolicy(policy) { s in
            let admin = try await s.adminToken()
            let (member, _) = try await s.makeUser("m", project: "p-m", admin: admin)
            let id = try await s.createImageId(member)
            #expect(try await s.upload(id, token: member, [1, 2, 3]).status == 204)
            let r = try await s.request(.GET, "/v2/images/\(id)/file", token: member)
            #expect(r.status == 403 && r.text.contains("download_image"))
            #expect(try await s.request(.GET, "/v2/images/\(id)/file", token: admin).status == 200)
            #expect(try await s.request(.GET, "/v2/images/\(id)", token: member).status == 404)
            #expect(try await s.request(.GET, "/v2/images/\(id)", token: admin).status == 200)
        }
    }

    @Test("copy_image for the owning project's members: a member copies its image (refused by default)")
    func copyImage() async throws {
        let body: JSONValue = ["method": ["name": "copy-image"], "stores": ["cold"]]
        try await TestApp.with(multiStore) { s in
            let admin = try await s.adminToken()
            let (member, _) = try await s.makeUser("m", project: "p-m", admin: admin)
            let id = try await s.activeImage(member, [1, 2, 3])
            let r = try await s.importAndWait(id, member, body)
            #expect(r.status == 403 && r.text.contains("copy_image"))
        }
        try await withPolicy(#"{"copy_image": "role:member and project_id:%(project_id)s"}"#, multiStore) { s in
            let admin = try await s.adminToken()
            let (member, _) = try await s.makeUser("m", project: "p-m", admin: admin)
            let id = try await s.activeImage(member, [1, 2, 3])
            #expect(try await s.importAndWait(id, member, body).status == 202)
            #expect(try await s.image(id, member)["stores"]?.stringValue?.contains("cold") == true)
        }
    }

    @Test("manage_image_cache role:member opens the cache API to members (and cache_list follows it)")
    func cache() async throws {
        try await withPolicy(#"{"manage_image_cache": "role:member"}"#) { s in
            let admin = try await s.adminToken()
            let (member, _) = try await s.makeUser("m", project: "p-m", admin: admin)
            // Past the policy: this node has no cache.
            let r = try await s.request(.GET, "/v2/cache", token: member)
            #expect(r.status == 404 && r.text.contains("not supported"))
            let (reader, _) = try await s.makeUser("r", project: "p-r", role: "reader", admin: admin)
            #expect(try await s.request(.GET, "/v2/cache", token: reader).status == 403)
        }
    }

    @Test("tasks_api_access role:member opens the tasks API to members; get_tasks \"!\" closes the list")
    func tasks() async throws {
        try await withPolicy(#"{"tasks_api_access": "role:member"}"#) { s in
            let admin = try await s.adminToken()
            let (member, _) = try await s.makeUser("m", project: "p-m", admin: admin)
            #expect(try await s.request(.GET, "/v2/tasks", token: member).status == 200)
        }
        try await withPolicy(#"{"get_tasks": "!"}"#) { s in
            let r = try await s.request(.GET, "/v2/tasks", token: try await s.adminToken())
            #expect(r.status == 403 && r.text.contains("get_tasks"))
        }
    }

    @Test("modify_image and upload_image for admins only: the owner can neither change nor upload")
    func modifyAndUpload() async throws {
        let policy = #"{"modify_image": "rule:context_is_admin", "upload_image": "rule:context_is_admin"}"#
        try await withPolicy(policy) { s in
            let admin = try await s.adminToken()
            let (member, _) = try await s.makeUser("m", project: "p-m", admin: admin)
            let id = try await s.createImageId(member)
            let patch = try await s.patch(id, token: member, [["op": "replace", "path": "/name", "value": "x"]])
            #expect(patch.status == 403 && patch.text.contains("modify_image"))
            let r = try await s.upload(id, token: member, [1])
            #expect(r.status == 403 && r.text.contains("upload_image"))
        }
    }

    @Test("add_metadef_namespace opened to members")
    func metadef() async throws {
        try await withPolicy(#"{"add_metadef_namespace": "role:member"}"#) { s in
            let admin = try await s.adminToken()
            let (member, _) = try await s.makeUser("m", project: "p-m", admin: admin)
            let r = try await s.json(.POST, "/v2/metadefs/namespaces", token: member, ["namespace": "mine"])
            #expect(r.status == 201)
            let other = try await s.json(.POST, "/v2/metadefs/namespaces", token: admin, ["namespace": "theirs"])
            #expect(other.status == 201)
            let delete = try await s.request(.DELETE, "/v2/metadefs/namespaces/theirs", token: member)
            #expect(delete.status == 403 && delete.text.contains("delete_metadef_namespace"))
        }
    }
}
