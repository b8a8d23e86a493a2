import OpenStackJSON
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The files of the JSONTestSuite corpus next to this source file.
enum Corpus {
    static let directory = String(#filePath.dropLast("JSONTestSuiteTests.swift".count)) + "JSONTestSuite"

    static func files(prefix: String) -> [String] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name.hasPrefix(prefix), name.hasSuffix(".json") { names.append(name) }
        }
        return names.sorted()
    }

    static func bytes(_ name: String) throws -> [UInt8] {
        guard let f = fopen(directory + "/" + name, "rb") else { throw CorpusError(file: name) }
        defer { fclose(f) }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&buffer, 1, buffer.count, f)
            if n <= 0 { return out }
            out += buffer[0..<n]
        }
    }

    struct CorpusError: Error {
        let file: String
    }
}

@Suite("JSONTestSuite corpus")
struct JSONTestSuiteTests {
    @Test("the corpus is present")
    func present() {
        #expect(Corpus.files(prefix: "y_").count == 95)
        #expect(Corpus.files(prefix: "n_").count == 188)
        #expect(Corpus.files(prefix: "i_").count == 35)
    }

    @Test(
        "every y_ document parses, and writing it back gives a document that parses the same",
        arguments: Corpus.files(prefix: "y_"))
    func accepted(_ name: String) throws {
        let value = try JSONValue.parse(try Corpus.bytes(name))
        #expect(try JSONValue.parse(value.serialized()) == value)
    }

    @Test("every n_ document is refused", arguments: Corpus.files(prefix: "n_"))
    func refused(_ name: String) throws {
        let bytes = try Corpus.bytes(name)
        #expect(throws: JSONParseError.self) { try JSONValue.parse(bytes) }
    }

    @Test("every i_ document is either parsed or refused, without a crash", arguments: Corpus.files(prefix: "i_"))
    func implementationDefined(_ name: String) throws {
        if let value = try? JSONValue.parse(try Corpus.bytes(name)) {
            #expect(try JSONValue.parse(value.serialized()) == value)
        }
    }
}
