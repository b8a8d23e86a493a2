import Testing

@testable import GlimpseCore

/// A resolver that knows a few names, as a test's DNS.
func names(_ table: [String: [String]]) -> (String) async throws -> [String] {
    { name in
        guard let addresses = table[name] else { throw WebDownloadError("\(name) does not resolve") }
        return addresses
    }
}

@Suite("web-download: the import filters and the URIs they read")
struct WebImportFilterTests {
    @Test("URIs split as urllib splits them; the host normalized as Glance normalizes it")
    func parsing() throws {
        let uri = try #require(WebURI("HTTP://User:pw@Images.Example.COM:8080/a/b.img?x=1#frag"))
        #expect(uri.scheme == "http" && uri.host == "images.example.com" && uri.port == 8080)
        #expect(!uri.hostIsAddress && uri.pathAndQuery == "/a/b.img?x=1")
        #expect(uri.description == "http://images.example.com:8080/a/b.img?x=1")
        #expect(WebURI("https://[0:0:0:0:0:0:0:1]/x")?.host == "::1")
        #expect(WebURI("https://[::1]:443/x")?.description == "https://[::1]:443/x")
        #expect(WebURI("http://10.0.0.1")?.pathAndQuery == "/")
        #expect(WebURI("http://host:/x")?.port == nil)
        // Numbers an address parser would read as an address, and what parsers read differently.
        for refused in [
            "http://2130706433/", "http://127.1/", "http://0x7f000001/", "http://0x7f.0.0.1/", "http://017700000001/",
            "http://127.000.000.001/", "http://host:99999/", "http://host:8o/", "http://[::1/", "http://[1.2.3.4]/",
            "http://exa mple.com/", "http://example.com\\@10.0.0.1/", "http://exämple.com/", "//example.com/x",
            "example.com/x", "http:/example.com", "", "http:///x", "1http://example.com/",
        ] {
            #expect(WebURI(refused) == nil, "\(refused)")
        }
    }

    @Test("redirect locations: absolute, scheme-relative, absolute path, relative path")
    func redirects() throws {
        let base = try #require(WebURI("http://a.example:8080/dir/file?q=1"))
        #expect(base.resolving("https://b.example/x")?.description == "https://b.example/x")
        #expect(base.resolving("//c.example/y")?.description == "http://c.example/y")
        #expect(base.resolving("/z?k")?.description == "http://a.example:8080/z?k")
        #expect(base.resolving("other")?.description == "http://a.example:8080/dir/other")
        #expect(base.resolving("ftp://[::1/") == nil)
    }

    @Test("Glance's rules: an allowed list replaces its disallowed list; a port counts only when named")
    func rules() async {
        let dns = names(["images.example.com": ["93.184.216.34"]])
        var f = WebImportFilter()
        #expect(await f.check("http://images.example.com/a", resolve: dns) != nil)
        #expect(await f.check("https://images.example.com:443/a", resolve: dns) != nil)
        #expect(await f.check("ftp://images.example.com/a", resolve: dns) == nil)
        #expect(await f.check("http://images.example.com:8080/a", resolve: dns) == nil)
        #expect(await f.check("http://unknown.example.com/a", resolve: dns) == nil)
        f.allowedPorts = []
        f.disallowedPorts = [8080]
        #expect(await f.check("http://images.example.com:8080/a", resolve: dns) == nil)
        #expect(await f.check("http://images.example.com:8081/a", resolve: dns) != nil)
        f.allowedSchemes = []
        f.disallowedSchemes = ["http"]
        #expect(await f.check("http://images.example.com/a", resolve: dns) == nil)
        // Whatever the settings allow, only http and https are fetched.
        #expect(await f.check("ftp://images.example.com/a", resolve: dns) == nil)
        #expect(await f.check("unix://images.example.com/var/run/docker.sock", resolve: dns) == nil)
        #expect(await f.check("https://images.example.com/a", resolve: dns) != nil)
        f = WebImportFilter()
        f.disallowedHosts = ["images.example.com"]
        #expect(await f.check("http://images.example.com/a", resolve: dns) == nil)
        f.disallowedHosts = ["Images.Example.com."]
        #expect(await f.check("http://images.example.com/a", resolve: dns) == nil, "a final dot names the same host")
        f.disallowedHosts = ["93.184.216.34"]
        #expect(await f.check("http://images.example.com/a", resolve: dns) == nil, "by one of its addresses")
        f.allowedHosts = ["93.184.216.34"]
        #expect(await f.check("http://93.184.216.34/a", resolve: dns) != nil, "the allowed list wins")
        #expect(await f.check("http://images.example.com/a", resolve: dns) == nil)
    }

    @Test("no address that is not public, unless allowed; every address of a name counts")
    func addresses() async {
        let dns = names([
            "inside.example": ["10.1.2.3"], "mixed.example": ["93.184.216.34", "127.0.0.1"],
            "v6.example": ["2606:2800:220:1:248:1893:25c8:1946"], "mapped.example": ["::ffff:192.168.1.1"],
        ])
        var f = WebImportFilter()
        f.allowedPorts = []
        for refused in [
            "http://127.0.0.1/", "http://10.0.0.1/", "http://172.16.0.1/", "http://172.31.255.255/",
            "http://192.168.0.1/", "http://169.254.169.254/latest/meta-data", "http://0.0.0.0/",
            "http://100.64.0.1/", "http://224.0.0.1/", "http://[::1]/", "http://[::]/", "http://[fe80::1]/",
            "http://[fd00::1]/", "http://[::ffff:127.0.0.1]/", "http://[64:ff9b::a00:1]/", "http://[2002:a00:1::]/",
            "http://inside.example/", "http://mixed.example/", "http://mapped.example/",
            "http://198.18.0.1/", "http://192.0.0.8/", "http://[64:ff9b:1::a00:1]/", "http://[2001::1]/",
            "http://[2001:db8::1]/", "http://[100::1]/", "http://[::2:3:4:5]/",
        ] {
            #expect(await f.check(refused, resolve: dns) == nil, "\(refused)")
        }
        for allowed in [
            "http://93.184.216.34/", "http://172.32.0.1/", "http://v6.example/", "http://8.8.8.8/",
            "http://[2001:4860::8888]/", "http://[2a00:1450::1]/",
        ] {
            #expect(await f.check(allowed, resolve: dns) != nil, "\(allowed)")
        }
        f.allowPrivate = true
        #expect(await f.check("http://mixed.example/", resolve: dns)?.addresses == ["93.184.216.34", "127.0.0.1"])
        #expect(await f.check("http://127.0.0.1:19400/x", resolve: dns)?.addresses == ["127.0.0.1"])
    }
}
