import GlimpseCore
import GlimpseTestSupport
import OpenStackJSON
import PropertyBased
import Testing

@testable import GlimpseHTTP

/// Random `GET /v2/images` queries: the parser of filters and sorts returns a complete,
/// valid request or a 400, a known bad value is always a 400, and over HTTP every query is
/// answered 200 with a page or 400 with a message.
@Suite("Image list queries: properties")
struct ListQueryPropertyTests {
    @Test("a random query parses to a request with a complete sort of allowed keys, or is a 400")
    func parse() async {
        await propertyCheck(count: 3000, input: QueryGen.items) { items in
            let request: ImageListRequest
            do {
                request = try ListParameters.parse(items)
            } catch let error as ServiceError {
                #expect(error.kind == .badRequest, "\(items): \(error)")
                #expect(!error.message.isEmpty)
                return
            }
            let columns = request.sort.map(\.column)
            #expect(columns.contains(.createdAt) && columns.contains(.id), "\(items)")
            #expect(columns.allSatisfy(SortKey.allowed.contains), "\(items)")
            #expect((request.limit ?? 0) >= 0)
            if let marker = items.last(where: { $0.0 == "marker" }) { #expect(request.marker == marker.1) }
            let tags = items.filter { $0.0 == "tag" }.map(\.1)
            if !tags.isEmpty { #expect(request.conditions.contains(.tags(tags))) }
        }
    }

    @Test("a known bad parameter anywhere in a query is a 400")
    func badParameters() async {
        await propertyCheck(count: 2000, input: QueryGen.items, QueryGen.bad, Gen.int(in: 0...8)) {
            items, bad, position in
            var query = items.filter { $0.0 != bad.0 && !QueryGen.sortNames.contains($0.0) }
            query.insert(bad, at: min(position, query.count))
            #expect(throws: ServiceError.self, "\(query)") { try ListParameters.parse(query) }
            do {
                _ = try ListParameters.parse(query)
            } catch let error as ServiceError {
                #expect(error.kind == .badRequest)
            }
        }
    }

    @Test("over HTTP, any query string is answered 200 with a page or 400")
    func overHTTP() async throws {
        try await TestApp.with { s in
            let token = try await s.adminToken()
            _ = try await s.createImage(token, ["name": "a", "disk_format": "raw", "container_format": "bare"])
            _ = try await s.createImage(token, ["name": "b", "tags": ["t"], "os_distro": "x"])
            await propertyCheck(count: 400, input: QueryGen.rawQuery) { query in
                let r = try await s.request(.GET, "/v2/images?" + query, token: token)
                #expect(r.status == 200 || r.status == 400, "\(query): \(r.status) \(r.text)")
                if r.status == 200 {
                    #expect(try r.json["images"]?.arrayValue != nil, "\(query)")
                } else {
                    #expect(!r.text.isEmpty)
                }
            }
        }
    }
}

/// Query parameters of the image list, good and bad.
enum QueryGen {
    static let sortNames: Set<String> = ["sort", "sort_key", "sort_dir"]
    static let names = [
        "limit", "marker", "sort", "sort_key", "sort_dir", "visibility", "member_status", "os_hidden", "protected",
        "tag", "created_at", "updated_at", "name", "id", "status", "container_format", "disk_format", "owner",
        "checksum", "size", "size_min", "size_max", "virtual_size_min", "min_ram_max", "os_distro", "changes-since",
        "", "x",
    ]
    static let values = [
        "", "0", "1", "25", "-1", "abc", "1000000000000000000000", "asc", "desc", "name", "name:asc", "name,id:desc",
        "created_at:desc,status", "size:sideways", "public", "private", "shared", "community", "all", "accepted",
        "pending", "true", "false", "TRUE", "in:a,b", "in:\"a,b\",c", "in:\"abc", "eq:x:y", "like:x", "gt:2020-01-01",
        "gte:2020-01-01T00:00:00Z", "2020-01-01T00:00:00+02:00", "lt:", "neq:nope", "a:b", ",", ":", "\"",
        "00000000-0000-0000-0000-000000000000", "é", "in:,", "in:\"\\\"\",x",
    ]
    static let bad: Generator<(String, String), Shrink.None<(String, String)>> = Generator { rng in
        [
            ("limit", "abc"), ("limit", "-1"), ("limit", "1.5"), ("sort_key", "bogus"), ("sort_dir", "up"),
            ("sort", "name:up"), ("sort", "bogus"), ("sort", ""), ("visibility", "everyone"),
            ("member_status", "maybe"), ("os_hidden", "yes"), ("protected", "TRUE"), ("created_at", "gt:notatime"),
            ("updated_at", "soon"), ("size_min", "x"), ("min_ram_max", "1e3"), ("name", "like:x"),
            ("status", "in:\"abc"), ("id", "in:a\"b"), ("changes-since", "2020-01-01"),
        ].randomElement(using: &rng)!
    }

    static let items: Generator<[(String, String)], Shrink.None<[(String, String)]>> = Generator { rng in
        (0..<Int.random(in: 0...5, using: &rng)).map { _ in
            (names.randomElement(using: &rng)!, values.randomElement(using: &rng)!)
        }
    }

    /// Query strings as a client might send them, escapes and separators included.
    static let rawQuery: Generator<String, Shrink.None<String>> = Generator { rng in
        let pieces = ["&", "=", "%", "%2", "%22", "%2C", "%3A", "%ZZ", "+", "%00", "%C3%A9", "%FF", "é", ";", "#"]
        var s = ""
        for _ in 0..<Int.random(in: 0...6, using: &rng) {
            switch Int.random(in: 0..<3, using: &rng) {
            case 0: s += names.randomElement(using: &rng)! + "=" + values.randomElement(using: &rng)!
            case 1: s += pieces.randomElement(using: &rng)!
            default: s += "&"
            }
        }
        return s.unicodeScalars.map { $0.isASCII && $0.value > 32 && $0 != "#" ? String($0) : percent($0) }.joined()
    }

    static func percent(_ u: Unicode.Scalar) -> String {
        String(u).utf8.map { b in "%" + (b < 16 ? "0" : "") + String(b, radix: 16, uppercase: true) }.joined()
    }
}
