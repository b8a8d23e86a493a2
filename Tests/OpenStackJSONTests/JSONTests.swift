import OpenStackJSON
import Testing

@Suite("JSON parsing and writing")
struct JSONTests {
    @Test("round trip keeps member order and number literals")
    func roundTrip() throws {
        let text =
            #"{"z":1,"a":[1.50,-0,1e100,12345678901234567890123],"m":{"x":null,"y":true,"w":false},"s":"é\"\\\n\u0001"}"#
        let value = try JSONValue.parse(text)
        #expect(value.objectValue?.keys == ["z", "a", "m", "s"])
        #expect(
            value.jsonString
                == #"{"z":1,"a":[1.50,-0,1e100,12345678901234567890123],"m":{"x":null,"y":true,"w":false},"s":"é\"\\\n\u0001"}"#
        )
        #expect(value["s"]?.stringValue == "é\"\\\n\u{1}")
        #expect(value["a"]?.arrayValue?[3].intValue == nil)
        #expect(value["z"]?.intValue == 1)
    }

    @Test("escapes: unicode, surrogate pairs, solidus")
    func escapes() throws {
        let value = try JSONValue.parse(#""\u00e9\ud83d\ude00\/\t""#)
        #expect(value.stringValue == "é😀/\t")
        #expect(value.jsonString == "\"é😀/\\t\"")
    }

    @Test("duplicate keys keep the last value")
    func duplicates() throws {
        let value = try JSONValue.parse(#"{"a":1,"b":2,"a":3}"#)
        #expect(value.objectValue?.keys == ["a", "b"])
        #expect(value["a"]?.intValue == 3)
    }

    @Test(
        "invalid documents are rejected",
        arguments: [
            "", "{", "[1,]", "{\"a\"}", "{\"a\":1,}", "01", "1.", "-", "tru", "\"\\x\"", "\"\\ud800\"", "[1] 2",
            "\"a\u{1}\"",
            String(repeating: "[", count: 300) + String(repeating: "]", count: 300),
        ])
    func invalid(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSONValue.parse(text) }
    }

    @Test("whitespace and nesting")
    func whitespace() throws {
        let value = try JSONValue.parse(" \n\t{ \"a\" : [ { } , [ ] ] } \r\n")
        #expect(value == ["a": [[:], []]])
    }

    @Test("the writer builds compact documents")
    func writer() {
        var w = JSONWriter()
        w.beginObject()
        w.key("n")
        w.int(-42)
        w.key("o")
        w.int(nil as Int?)
        w.key("s")
        w.string("x\"y")
        w.key("l")
        w.beginArray()
        w.bool(true)
        w.int(0)
        w.string(nil as String?)
        w.endArray()
        w.endObject()
        #expect(String(decoding: w.bytes, as: UTF8.self) == #"{"n":-42,"o":null,"s":"x\"y","l":[true,0,null]}"#)
    }
}

@Suite("JSON objects at scale")
struct JSONObjectScaleTests {
    @Test("100,000 members: every key found, duplicates keep the first position and the last value")
    func largeObject() throws {
        var text = "{"
        for i in 0..<100_000 { text += "\"k\(i)\":\(i)," }
        text += "\"k7\":\"again\"}"
        let object = try #require(try JSONValue.parse(text).objectValue)
        #expect(object.count == 100_000)
        #expect(object["k99999"] == 99999)
        #expect(object["k7"] == "again")
        #expect(object.keys[7] == "k7")
        var copy = object
        copy["k0"] = nil
        #expect(copy.count == 99_999 && copy["k1"] == 1 && copy.keys.first == "k1" && copy["k99999"] == 99999)
        copy["new"] = true
        #expect(copy.keys.last == "new" && copy["new"] == true)
        #expect(copy != object)
        copy["k0"] = 0
        copy["new"] = nil
        copy["k7"] = "again"
        #expect(copy == object)
    }
}
