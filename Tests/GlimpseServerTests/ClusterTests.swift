import Foundation
import GlimpseCore
import GlimpseServer
import GlimpseTestSupport
import Testing

/// API nodes sharing one PostgreSQL database and one image store, as behind a load balancer:
/// any node serves any request, and concurrent writers through different nodes lose nothing.
@Suite(
    "Several nodes on one PostgreSQL",
    .enabled(if: PostgresTestDatabase.url != nil, "GLIMPSE_TEST_DATABASE_URL is not set"))
struct ClusterTests {
    /// `count` servers on one new schema and one shared file store.
    func withNodes(_ count: Int, _ body: @Sendable @escaping ([TestServer]) async throws -> Void) async throws {
        try await PostgresTestDatabase.withSchemaURL { url in
            let shared = TestServer.temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: shared) }
            @Sendable func start(_ nodes: [TestServer]) async throws {
                if nodes.count == count { return try await body(nodes) }
                try await TestServer.with({
                    $0.databaseURL = url
                    $0.metadataBackend = .postgresql
                    $0.storeOptions["local"] = ["path": shared]
                }) { node in try await start(nodes + [node]) }
            }
            try await start([])
        }
    }

    @Test("nodes starting together bootstrap one admin; a token from one node works on the other")
    func sharedIdentity() async throws {
        try await withNodes(2) { nodes in
            let token = try await nodes[0].adminToken()
            let id = try await nodes[1].createImageId(token)
            let shown = try await nodes[0].request(.GET, "/v2/images/\(id)", token: token)
            #expect(shown.status == 200)
            let users = try await nodes[1].request(.GET, "/identity/v3/users?name=admin", token: token)
            #expect(try users.json["users"]?.arrayValue?.count == 1)
            #expect(try await nodes[1].request(.GET, "/healthcheck", token: nil).text == "OK")
        }
    }

    @Test("four nodes preparing one new database at once: one migrates and creates the admin, the others find them")
    func concurrentBootstrap() async throws {
        try await PostgresTestDatabase.withSchemaURL { url in
            var config = TestServer.configuration(dataDir: "/nonexistent")
            config.databaseURL = url
            config.metadataBackend = .postgresql
            config.enabledBackends = [("local", "memory")]
            config.adminPassword = nil
            let nodes = try (0..<4).map { _ in try Components(config, logger: TestServer.logger, exclusive: true) }
            let created = try await withThrowingTaskGroup(of: Components.Bootstrap?.self) { group in
                for node in nodes { group.addTask { try await node.prepare() } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(created.compactMap { $0 }.count == 1)
            let password = try #require(created.compactMap { $0 }.first?.adminPassword)
            let admins = try await nodes[3].metadata.users(domainId: nil, name: "admin")
            let hasher = try #require(nodes[0].keystone).config.passwordHasher
            #expect(admins.count == 1)
            #expect(await hasher.verify(password, against: admins.first?.passwordHash ?? "", on: .singleton))
            #expect(try await nodes[2].metadata.schemaStatus().isCurrent)
            for node in nodes { try await node.close() }
        }
    }

    @Test("50 rounds of two uploads and two PATCHes on one image through two nodes: one upload wins, no change lost")
    func races() async throws {
        try await withNodes(2) { nodes in
            let token = try await nodes[0].adminToken()
            for round in 0..<50 {
                let id = try await nodes[round % 2].createImageId(token)
                let data = [testBytes(3000, seed: UInt64(round * 2)), testBytes(5000, seed: UInt64(round * 2 + 1))]
                let results = try await withThrowingTaskGroup(of: (String, Int).self) { group in
                    for n in 0..<2 {
                        group.addTask { ("upload\(n)", try await nodes[n].upload(id, token: token, data[n]).status) }
                        group.addTask {
                            let r = try await nodes[n].patch(
                                id, token: token,
                                [["op": "add", "path": "/from_node_\(n)", "value": .string("\(round)")]])
                            return ("patch\(n)", r.status)
                        }
                    }
                    return try await group.reduce(into: [String: Int]()) { $0[$1.0] = $1.1 }
                }
                let uploads = [results["upload0"], results["upload1"]]
                #expect(uploads.filter { $0 == 204 }.count == 1, "round \(round): \(results)")
                #expect(uploads.filter { $0 == 409 }.count == 1, "round \(round): \(results)")
                #expect(results["patch0"] == 200 && results["patch1"] == 200, "round \(round): \(results)")
                let image = try await nodes[(round + 1) % 2].request(.GET, "/v2/images/\(id)", token: token).json
                #expect(image["status"] == "active")
                #expect(
                    image["from_node_0"]?.stringValue == "\(round)" && image["from_node_1"]?.stringValue == "\(round)")
                let winner = uploads[0] == 204 ? 0 : 1
                #expect(image["size"]?.intValue == data[winner].count)
                let download = try await nodes[1 - winner].request(.GET, "/v2/images/\(id)/file", token: token)
                #expect(download.body == data[winner], "round \(round)")
            }
        }
    }
}
