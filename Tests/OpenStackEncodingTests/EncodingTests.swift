import OpenStackEncoding
import Testing

@Suite("Wire encodings")
struct EncodingTests {
    @Test("timestamps format and parse ISO 8601")
    func timestamps() throws {
        let t = try #require(Timestamp(iso8601: "2026-11-23T09:08:25.123456Z"))
        #expect(t.iso8601 == "2026-11-23T09:08:25Z")
        #expect(t.iso8601Microseconds == "2026-11-23T09:08:25.123456Z")
        #expect(t.pythonISOFormat == "2026-11-23T09:08:25.123456")
        #expect(Timestamp(seconds: t.seconds).pythonISOFormat == "2026-11-23T09:08:25")
        #expect(Timestamp(iso8601: "2026-11-23T11:08:25+02:00")?.seconds == t.seconds)
        #expect(Timestamp(iso8601: "2026-11-23T09:08:25.123456")?.microseconds == t.microseconds)
        #expect(Timestamp(iso8601: "2026-11-23")?.iso8601 == "2026-11-23T00:00:00Z")
        #expect(Timestamp(iso8601: "1969-12-31T23:59:59Z")?.iso8601 == "1969-12-31T23:59:59Z")
        #expect(Timestamp(iso8601: "2026-02-30T00:00:00Z") == nil)
        #expect(Timestamp(iso8601: "yesterday") == nil)
    }

    @Test("hex both ways")
    func hex() {
        #expect(Hex.encode([0x00, 0xde, 0xad, 0xBE, 0xef]) == "00deadbeef")
        #expect(Hex.decode("00DEadbeef") == [0x00, 0xde, 0xad, 0xbe, 0xef])
        #expect(Hex.decode("abc") == nil)
        #expect(Hex.decode("zz") == nil)
    }

    @Test("percent-encoding as Python's urllib does it")
    func percentEncoding() {
        #expect(URLCoding.quotePlus("a b/c~d") == "a+b%2Fc~d")
        #expect(URLCoding.quotePath("a b/é") == "a%20b%2F%C3%A9")
        #expect(
            URLCoding.encodeQuery([("tag", "x y"), ("tag", "z"), ("name", "in:\"a,b\"")])
                == "tag=x+y&tag=z&name=in%3A%22a%2Cb%22")
        let pairs = URLCoding.parseQuery("tag=x+y&tag=z&empty&name=%C3%A9%2")
        #expect(pairs.map(\.0) == ["tag", "tag", "empty", "name"])
        #expect(pairs.map(\.1) == ["x y", "z", "", "é%2"])
        #expect(URLCoding.decode("a%2Fb+c") == "a/b+c")
    }
}
