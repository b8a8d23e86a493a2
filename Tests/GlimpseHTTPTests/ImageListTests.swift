import GlimpseTestSupport
import NIOHTTP1
import OpenStackJSON
import Testing

@Suite("Images: listing, filters, sorting, paging")
struct ImageListTests {
    /// Creates a small catalog: returns ids by name.
    func seed(_ s: some APIClient, _ token: String) async throws -> [String: String] {
        var ids: [String: String] = [:]
        let specs: [(String, JSONValue)] = [
            (
                "alpha",
                [
                    "name": "alpha", "disk_format": "raw", "container_format": "bare", "tags": ["t1", "t2"],
                    "os_distro": "debian", "visibility": "private",
                ]
            ),
            (
                "beta",
                ["name": "beta", "disk_format": "qcow2", "container_format": "bare", "tags": ["t1"], "min_ram": 256]
            ),
            ("gamma", ["name": "gamma", "disk_format": "raw", "container_format": "ovf", "visibility": "community"]),
            ("delta", ["name": "delta:colon", "disk_format": "iso", "container_format": "bare", "protected": true]),
            ("hidden", ["name": "hidden", "disk_format": "raw", "container_format": "bare", "os_hidden": true]),
        ]
        for (key, body) in specs {
            ids[key] = try await s.createImage(token, body)["id"]?.stringValue
        }
        _ = try await s.upload(ids["alpha"]!, token: token, testBytes(100))
        _ = try await s.upload(ids["gamma"]!, token: token, testBytes(5000))
        return ids
    }

    func names(_ r: Reply) throws -> [String] {
        try r.json["images"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
    }

    func list(_ s: some APIClient, _ token: String, _ query: String) async throws -> [String] {
        let r = try await s.request(.GET, "/v2/images" + (query.isEmpty ? "" : "?" + query), token: token)
        #expect(r.status == 200, "\(query): \(r.text)")
        return try names(r)
    }

    @Test("filters: name, in:, eq:, status, formats, tags, sizes, properties, protected, hidden, times")
    func filters() async throws {
        try await TestApp.with { s in
            let t = try await s.adminToken()
            _ = try await seed(s, t)
            #expect(try await list(s, t, "").sorted() == ["alpha", "beta", "delta:colon", "gamma"])
            #expect(try await list(s, t, "name=alpha") == ["alpha"])
            #expect(try await list(s, t, "name=in:alpha,beta").sorted() == ["alpha", "beta"])
            #expect(try await list(s, t, "name=in:%22alpha%22,beta").sorted() == ["alpha", "beta"])
            #expect(try await list(s, t, "name=eq:delta:colon") == ["delta:colon"])
            #expect(try await list(s, t, "status=active").sorted() == ["alpha", "gamma"])
            #expect(try await list(s, t, "status=queued").sorted() == ["beta", "delta:colon"])
            #expect(try await list(s, t, "disk_format=raw").sorted() == ["alpha", "gamma"])
            #expect(try await list(s, t, "container_format=in:ovf,bare&disk_format=iso") == ["delta:colon"])
            #expect(try await list(s, t, "tag=t1").sorted() == ["alpha", "beta"])
            #expect(try await list(s, t, "tag=t1&tag=t2") == ["alpha"])
            #expect(try await list(s, t, "size_min=101") == ["gamma"])
            #expect(try await list(s, t, "size_max=100") == ["alpha"])
            #expect(try await list(s, t, "size=5000") == ["gamma"])
            #expect(try await list(s, t, "min_ram=256") == ["beta"])
            #expect(try await list(s, t, "os_distro=debian") == ["alpha"])
            #expect(try await list(s, t, "protected=true") == ["delta:colon"])
            #expect(try await list(s, t, "os_hidden=true") == ["hidden"])
            #expect(try await list(s, t, "created_at=gt:2000-01-01T00:00:00Z").count == 4)
            #expect(try await list(s, t, "created_at=lt:2000-01-01T00:00:00Z").isEmpty)
            #expect(try await list(s, t, "updated_at=gte:2000-01-01T00:00:00%2B02:00").count == 4)
            #expect(try await list(s, t, "unknown_param=1").isEmpty)
        }
    }

    @Test("sorting: default newest first, sort=, sort_key/sort_dir, tie-breakers")
    func sorting() async throws {
        try await TestApp.with { s in
            let t = try await s.adminToken()
            var created: [String] = []
            for name in ["b", "a", "c"] {
                created.append(try await s.createImage(t, ["name": .string(name)])["id"]?.stringValue ?? "")
            }
            let ids = try await s.request(.GET, "/v2/images", token: t).json["images"]?.arrayValue?.compactMap {
                $0["id"]?.stringValue
            }
            #expect(ids == created.reversed())
            #expect(try await list(s, t, "sort=name:asc") == ["a", "b", "c"])
            #expect(try await list(s, t, "sort=name") == ["c", "b", "a"])
            #expect(try await list(s, t, "sort_key=name&sort_dir=asc") == ["a", "b", "c"])
            #expect(
                try await list(s, t, "sort_key=status&sort_key=name&sort_dir=desc&sort_dir=asc") == ["a", "b", "c"])
            #expect(try await list(s, t, "sort=status:asc,name:desc") == ["c", "b", "a"])
        }
    }

    @Test("paging: limit, next links that keep every filter, marker, last page has no next")
    func paging() async throws {
        try await TestApp.with { s in
            let t = try await s.adminToken()
            for i in 0..<7 {
                try await s.createImage(t, ["name": .string("img\(i)"), "tags": ["page", "x"]])
            }
            try await s.createImage(t, ["name": "other", "tags": ["page"]])
            var seen: [String] = []
            var path: String? = "/v2/images?tag=page&tag=x&limit=3&sort=name:asc"
            var pages = 0
            while let p = path {
                let r = try await s.request(.GET, p, token: t)
                #expect(r.status == 200)
                seen += try names(r)
                #expect(try r.json["first"] == "/v2/images?tag=page&tag=x&limit=3&sort=name%3Aasc")
                #expect(try r.json["schema"] == "/v2/schemas/images")
                path = try r.json["next"]?.stringValue
                pages += 1
            }
            #expect(seen == (0..<7).map { "img\($0)" })
            #expect(pages == 3)
            let zero = try await s.request(.GET, "/v2/images?limit=0", token: t)
            #expect(try zero.json["images"] == [] && zero.json["next"] == nil)
            let capped = try await s.request(.GET, "/v2/images?limit=5000", token: t)
            #expect(capped.status == 200)
            let unknownMarker = try await s.request(
                .GET, "/v2/images?marker=00000000-0000-0000-0000-000000000000", token: t)
            #expect(unknownMarker.status == 400)
        }
    }

    @Test("bad list parameters get Glance's 400s")
    func badParameters() async throws {
        try await TestApp.with { s in
            let t = try await s.adminToken()
            let cases: [(String, String)] = [
                ("limit=abc", "limit param must be an integer"),
                ("limit=-1", "limit param must be positive"),
                (
                    "sort=bogus:asc",
                    "Invalid sort key: bogus. It must be one of the following: name, status, container_format, disk_format, size, id, created_at, updated_at."
                ),
                ("sort_key=name&sort_dir=up", "Invalid sort direction: up"),
                ("sort=name&sort_key=name", "Old and new sorting syntax cannot be combined"),
                (
                    "sort_key=name&sort_key=id&sort_dir=asc&sort_dir=asc&sort_dir=asc",
                    "Number of sort dirs does not match the number of sort keys"
                ),
                ("size_min=abc", "Unable to filter on a range with a non-numeric value."),
                ("created_at=gt:yesterday", "Bad \"created_at\" query filter format. Use ISO 8601 DateTime notation."),
                ("visibility=foo", "Invalid visibility value: foo"),
                ("member_status=foo", "Invalid status: foo"),
                (
                    "os_hidden=maybe",
                    "Invalid value 'maybe' for 'os_hidden' filter. Valid values are 'true' or 'false'."
                ),
                ("name=foo:bar", "Unable to filter by unknown operator 'foo'."),
                ("name=in:%22abc", "Invalid filter value \"abc. The quote is not closed."),
                ("name=in:a%22b%22", "Invalid filter value a\"b\". There is no comma before opening quotation mark."),
                ("name=in:%22a%22b", "Invalid filter value \"a\"b. There is no comma after closing quotation mark."),
                ("changes-since=2020-01-01", "The \"changes-since\" filter is no longer available on v2."),
            ]
            for (query, message) in cases {
                let r = try await s.request(
                    .GET, "/v2/images?" + query, token: t, headers: [("Accept", "application/json")])
                #expect(r.status == 400, "\(query)")
                #expect(try r.json["message"]?.stringValue?.hasPrefix(message) == true, "\(query): \(r.text)")
            }
        }
    }
}
