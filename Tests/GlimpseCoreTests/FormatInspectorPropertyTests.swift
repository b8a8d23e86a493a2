import GlimpseTestSupport
import NIOCore
import PropertyBased
import Testing

@testable import GlimpseCore

/// Headers of every format, valid, to be mutated.
private let templates: [[UInt8]] = [
    H.qcow2(extensions: [(0xE279_2ACA, Array("raw".utf8))]),
    H.qcow2(version: 2),
    H.vmdkSparse(descriptor: H.descriptor(createType: "monolithicSparse", extent: "RW 2048 SPARSE \"a.vmdk\"")),
    {
        let s = H.vmdkSparse(
            descriptor: H.descriptor(createType: "streamOptimized", extent: "RW 2048 SPARSE \"a.vmdk\""),
            gdOffset: .max)
        return s + H.vmdkFooter(of: s)
    }(),
    Array(H.descriptor(createType: "monolithicFlat", extent: "RW 2048 FLAT \"/etc/passwd\" 0").utf8),
    H.vhdx(metadataOffset: 300 * 1024),
    H.vhd(), H.vdi(), H.iso(), H.iso(systemArea: H.mbr([.init(type: 0xEE, startLBA: 1)])),
    H.mbr([.init(boot: 0x80), .init(type: 0x05)]),
    H.luks(payloadSectors: 8, length: 8192),
    [0x51, 0x45, 0x44, 0x00] + [UInt8](repeating: 0, count: 600),
    Array("WithoutFreeSpace".utf8) + [UInt8](repeating: 1, count: 100),
    testBytes(70_000, seed: 7),
]

/// Feeds `bytes` cut into pieces of the given sizes, in turn.
private func inspect(_ bytes: [UInt8], chunks: [Int]) -> (FormatInspector.Result, kept: Int) {
    var inspector = FormatInspector()
    var at = 0
    var i = 0
    while at < bytes.count {
        let end = min(bytes.count, at + max(1, chunks[i % chunks.count]))
        inspector.feed(ByteBuffer(bytes: bytes[at..<end]))
        at = end
        i += 1
    }
    return (inspector.result(), inspector.keptBytes)
}

@Suite("Format inspector: random and mutated headers", .timeLimit(.minutes(5)))
struct FormatInspectorPropertyTests {
    @Test("mutated headers in random chunkings: no crash, bounded memory, the same answer however cut")
    func mutatedHeaders() async {
        await propertyCheck(
            count: 400,
            input: Gen.int(in: 0...(templates.count - 1)),
            Gen.int(in: 0...1023).array(of: 0...12),
            Gen.int(in: 0...Int.max).array(of: 0...4),
            Gen.uint8().array(of: 16),
            Gen.int(in: 1...70_000).array(of: 1...5),
            Gen.int(in: 0...200)
        ) { template, near, far, values, chunks, cut in
            var bytes = templates[template]
            for (i, offset) in (near + far).enumerated() where !bytes.isEmpty {
                bytes[offset % bytes.count] = values[i % values.count]
            }
            if cut < 100 { bytes.removeLast(bytes.count - bytes.count * cut / 100) }
            let (whole, _) = inspect(bytes, chunks: [bytes.count])
            let (cutUp, kept) = inspect(bytes, chunks: chunks)
            #expect(cutUp == whole)
            #expect(kept <= (1 << 20) + 64 * 1024 + 3 * 1536)
            // Headers of several formats at once are always refused.
            if whole.format.contains(",") { #expect(whole.safetyProblem != nil) }
        }
    }

    @Test("random bytes, including byte-sized chunks: no crash, the same answer however cut")
    func randomBytes() async {
        await propertyCheck(
            count: 300, input: Gen.uint8().array(of: 0...2048), Gen.int(in: 1...600).array(of: 1...4)
        ) { bytes, chunks in
            let (whole, _) = inspect(bytes, chunks: [max(1, bytes.count)])
            #expect(inspect(bytes, chunks: chunks).0 == whole)
            #expect(inspect(bytes, chunks: [1]).0 == whole)
        }
    }
}
