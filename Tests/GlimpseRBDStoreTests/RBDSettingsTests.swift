#if RBD
import GlimpseCore
import GlimpseRBDStore
import Testing

@Suite("RBD store settings")
struct RBDSettingsTests {
    @Test("a store URL names the pool, and optionally the configuration, the user and the chunk size")
    func parse() throws {
        #expect(try RBDSettings(url: "rbd://images") == RBDSettings(pool: "images"))
        #expect(try RBDSettings(url: "rbd://images/") == RBDSettings(pool: "images"))
        let full = try RBDSettings(url: "rbd://glance%20images?conf=/etc/ceph/a%20b.conf&user=glance&chunk_size_mb=4")
        #expect(
            full
                == RBDSettings(
                    pool: "glance images", confPath: "/etc/ceph/a b.conf", user: "glance", chunkSize: 4 << 20))
        #expect(RBDSettings(pool: "images").chunkSize == 8 << 20)
        #expect(RBDSettings(pool: "images").user == "admin")
    }

    @Test(
        "bad URLs are refused, saying why",
        arguments: [
            ("file:///images", "does not start with rbd://"),
            ("rbd://", "names no pool"),
            ("rbd://?conf=/x", "names no pool"),
            ("rbd://a/b", "not a pool name"),
            ("rbd://a:7/", "not a pool name"),
            ("rbd://images?conf=", "conf is empty"),
            ("rbd://images?user=client.glance", "without 'client.'"),
            ("rbd://images?chunk_size_mb=3", "power of two from 1 to 32, not '3'"),
            ("rbd://images?chunk_size_mb=64", "power of two"),
            ("rbd://images?chunk_size_mb=x", "power of two"),
            ("rbd://images?pool=x", "unknown option 'pool'"),
        ])
    func badURLs(_ url: String, _ message: String) {
        let error = #expect(throws: StoreURLError.self) { _ = try RBDSettings(url: url) }
        #expect(error.map { "\($0)".contains(message) } == true, "\(String(describing: error))")
    }
}
#endif
