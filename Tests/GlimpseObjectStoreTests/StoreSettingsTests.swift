import GlimpseCore
import OpenStack
import OpenStackEncoding
import Testing

@testable import GlimpseObjectStores

@Suite("Object store settings and responses")
struct StoreSettingsTests {
    @Test("a store URL splits into scheme, credentials, host, port, path and options")
    func storeURL() throws {
        var url = try StoreURL("s3+https://AK%3Ax:s%2Fe%40c@[::1]:9000/bucket?region=eu&path_style=false")
        #expect(url.scheme == "s3+https" && url.user == "AK:x" && url.secret == "s/e@c")
        #expect(url.host == "[::1]" && url.port == 9000 && url.path == "/bucket")
        #expect(url.take("region") == "eu" && url.take("region") == nil)
        #expect(try url.takeBool("path_style") == false)
        #expect(url.description == "s3+https://AK:x:***@[::1]:9000/bucket")
        #expect(StoreURL.redacted("s3://ak:topsecret@h/b") == "s3://ak:***@h/b")
        #expect(throws: StoreURLError.self) { try StoreURL("s3://a:b@h:99999/b") }
        #expect(throws: StoreURLError.self) { try StoreURL("no scheme") }
    }

    @Test("Swift store URLs: v1.0 auth or Keystone, container and segment size")
    func swiftSettings() throws {
        let v1 = try SwiftStoreSettings(
            url: "swift://test%3Atester:testing@127.0.0.1:8080/auth/v1.0?container=img&segment_size_mb=64")
        #expect(v1.auth == .v1(url: "http://127.0.0.1:8080/auth/v1.0", user: "test:tester", key: "testing"))
        #expect(v1.container == "img" && v1.segmentSize == 64 << 20)
        let k = try SwiftStoreSettings(
            url: "swift+keystone+https://glance:pw@keystone:5000/v3?project=service&region=R&interface=internal")
        guard case .keystone(let account) = k.auth else {
            Issue.record("not keystone")
            return
        }
        #expect(account.url == "https://keystone:5000/v3" && account.user == "glance" && account.password == "pw")
        #expect(account.project == "service" && account.region == "R" && account.interface == .internal)
        #expect(k.container == "glance" && k.segmentSize == 200 << 20)
        #expect(throws: StoreURLError.self) { try SwiftStoreSettings(url: "swift+keystone://u:p@h/v3") }
        #expect(throws: StoreURLError.self) { try SwiftStoreSettings(url: "swift://u:p@h/auth?container=a/b") }
        #expect(throws: StoreURLError.self) { try SwiftStoreSettings(url: "swift://u:p@h/auth?colour=blue") }
    }

    @Test("S3 store URLs: endpoint, bucket, addressing, part size and payload signing")
    func s3Settings() throws {
        let s = try S3StoreSettings(url: "s3://AK:SK@127.0.0.1:7480/images?region=r1&part_size_mb=16")
        #expect(s.endpoint == "http://127.0.0.1:7480" && s.bucket == "images" && s.region == "r1")
        #expect(s.pathStyle && s.signPayload && s.partSize == 16 << 20)
        let aws = try S3StoreSettings(url: "s3+https://AK:SK@s3.eu-west-1.amazonaws.com/images")
        #expect(!aws.pathStyle && !aws.signPayload && aws.endpoint == "https://s3.eu-west-1.amazonaws.com")
        #expect(throws: StoreURLError.self) { try S3StoreSettings(url: "s3://AK:SK@h/Bad_Bucket") }
        #expect(throws: StoreURLError.self) { try S3StoreSettings(url: "s3://AK:SK@h/images?part_size_mb=4") }
    }

    @Test("S3's XML answers: elements by name, entities decoded")
    func xml() {
        let listing = """
            <ListBucketResult><IsTruncated>false</IsTruncated>\
            <Contents><Key>a&amp;b</Key><LastModified>2026-12-01T10:00:00.000Z</LastModified></Contents>\
            <Contents><Key>c&#x3C;&#60;</Key></Contents></ListBucketResult>
            """
        let contents = S3XML.elements("Contents", in: listing[...])
        #expect(contents.compactMap { S3XML.text("Key", in: $0) } == ["a&b", "c<<"])
        #expect(S3XML.text("IsTruncated", in: listing[...]) == "false")
        #expect(Markup.escape("<a&b>") == "&lt;a&amp;b&gt;")
    }

    @Test("the object names the stores accept cannot reach outside their container")
    func names() {
        #expect(SwiftBlobStore.isObjectName("0f3c2a1e-1111-4222-8333-444455556666-0a1b2c3d"))
        for bad in ["", "../x", "a/b", ".hidden", "a b", "a%2Fb", String(repeating: "a", count: 201)] {
            #expect(!SwiftBlobStore.isObjectName(bad))
        }
    }

    @Test("the inventory takes only the names the stores give: never Glance's objects in a shared container")
    func ownNames() {
        #expect(SwiftBlobStore.isOwnObjectName("0f3c2a1e-1111-4222-8333-444455556666-0a1b2c3d"))
        #expect(SwiftBlobStore.isOwnObjectName("0F3C2A1E-1111-4222-8333-444455556666-0a1b2c3d"))
        #expect(SwiftBlobStore.isOwnObjectName("0f3c2a1e-1111-4222-8333-444455556666_0a1b2c3d"))
        for foreign in [
            "0f3c2a1e-1111-4222-8333-444455556666",  // Glance's object
            "0f3c2a1e-1111-4222-8333-444455556666-00001",  // Glance's segment
            "0f3c2a1e-1111-4222-8333-444455556666-0A1B2C3D", "0f3c2a1e-1111-4222-8333-44445555666-0a1b2c3d0",
            "0f3c2a1e_1111-4222-8333-444455556666-0a1b2c3d", "0f3c2a1e-1111-4222-8333-444455556666.0a1b2c3d",
            "x-0a1b2c3d", "volume-0f3c2a1e",
        ] {
            #expect(!SwiftBlobStore.isOwnObjectName(foreign), "\(foreign)")
        }
    }
}

@Suite("Object store inventory pages")
struct InventoryPagesTests {
    /// Two listings the engine pages by `enginePage`, merged as the stores merge them.
    static func pages(
        committed: [String], pending: [String], enginePage: Int, limit: Int
    ) async throws -> [[String]] {
        func slice(_ names: [String], after cursor: String?, _ n: Int) -> (names: [String], cut: String?) {
            let rest = names.filter { name in cursor.map { InventoryPages.before($0, name) } ?? true }
            let page = Array(rest.prefix(n))
            return (page, rest.count > n ? page.last : nil)
        }
        var pages: [[String]] = []
        var marker: String?
        while true {
            let page = try await InventoryPages.collect(after: marker, limit: limit) { cursor, n in
                let m = min(n, enginePage)
                let c = slice(committed, after: cursor, m), p = slice(pending, after: cursor, m)
                let blob = { (name: String, pending: Bool) in
                    StoredBlob(location: name, pending: pending, modifiedAt: Timestamp(seconds: 0))
                }
                return InventoryPages.merge(
                    committed: c.names.map { blob($0, false) }, committedCut: c.cut,
                    pending: p.names.map { blob($0, true) }, pendingCut: p.cut, limit: m)
            }
            pages.append(page.map(\.location))
            guard page.count == limit else { break }
            marker = page.last?.location
        }
        return pages
    }

    @Test("merged pages are full until the end, whichever listing the engine cut first")
    func fullPages() async throws {
        let committed = ["a", "c", "e", "g", "h", "i"], pending = ["b", "d", "f", "c"].sorted()
        #expect(
            try await Self.pages(committed: committed, pending: pending, enginePage: 2, limit: 3)
                == [["a", "b", "c"], ["d", "e", "f"], ["g", "h", "i"], []])
        #expect(
            try await Self.pages(committed: committed, pending: [], enginePage: 1, limit: 4)
                == [["a", "c", "e", "g"], ["h", "i"]])
        #expect(
            try await Self.pages(committed: [], pending: pending, enginePage: 5, limit: 2)
                == [["b", "c"], ["d", "f"], []])
    }
}
