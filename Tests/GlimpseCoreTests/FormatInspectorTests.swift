import GlimpseTestSupport
import NIOCore
import Testing

@testable import GlimpseCore

/// Feeds `bytes` in chunks of `chunk` bytes (all at once when nil) and inspects.
func inspect(_ bytes: [UInt8], chunk: Int? = nil, vmdkAllowedTypes: [String]? = nil) -> FormatInspector.Result {
    var inspector = vmdkAllowedTypes.map { FormatInspector(vmdkAllowedTypes: $0) } ?? FormatInspector()
    let step = max(1, chunk ?? bytes.count)
    var at = 0
    repeat {
        let end = min(bytes.count, at + step)
        inspector.feed(ByteBuffer(bytes: bytes[at..<end]))
        at = end
    } while at < bytes.count
    return inspector.result()
}

/// A hostile stream and what it must be refused for.
struct HostileFixture: CustomTestStringConvertible, Sendable {
    let name: String
    let bytes: [UInt8]
    /// The format it is recognised as.
    let format: String
    /// A part of the refusal's reason.
    let reason: String
    var testDescription: String { name }
}

typealias H = DiskImageHeaders

/// The hostile corpus (listed in docs/format-inspector.md): every entry is refused by the
/// safety checks, whatever format was declared and whether the format must match.
let hostileFixtures: [HostileFixture] = {
    let passwdFlat = "RW 2048 FLAT \"/etc/passwd\" 0"
    let issueRepro =
        "version=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType=\"monolithicFlat\"\nRW 2048 FLAT \"/etc/passwd\" 0\n"
    return [
        .init(
            name: "VMDK descriptor file, monolithicFlat extent /etc/passwd (issue 13 repro)",
            bytes: Array(issueRepro.utf8), format: "vmdk", reason: "Unsupported subformat monolithicflat"),
        .init(
            name: "the same with a leading blank line", bytes: Array(("\n" + issueRepro).utf8), format: "vmdk",
            reason: "Unsupported subformat"),
        .init(
            name: "the same with a lower-case '# disk descriptorfile' header",
            bytes: Array(("# disk descriptorfile\n" + issueRepro.lowercased()).utf8), format: "vmdk",
            reason: "Unsupported subformat"),
        .init(
            name: "descriptor file padded with NUL bytes (QEMU still probes it as VMDK)",
            bytes: Array(issueRepro.utf8) + [UInt8](repeating: 0, count: 4096), format: "vmdk",
            reason: "Unsupported subformat"),
        .init(
            name: "descriptor file of an allowed subformat naming a sibling file (no slash)",
            bytes: Array(H.descriptor(createType: "monolithicSparse", extent: "RW 2048 SPARSE \"other.vmdk\"").utf8),
            format: "vmdk", reason: "descriptor files are not allowed"),
        .init(
            name: "descriptor file with createType past the first 64 KiB (80 KiB of comments first)",
            bytes: Array(
                (String(repeating: "# padding padding padding padding padding padding padding padding\n", count: 1250)
                    + "createType=\"monolithicFlat\"\n" + passwdFlat + "\n").utf8), format: "vmdk",
            reason: "Unsupported subformat"),
        .init(
            name: "sparse VMDK whose embedded descriptor is monolithicFlat on /etc/passwd",
            bytes: H.vmdkSparse(descriptor: H.descriptor(createType: "monolithicFlat", extent: passwdFlat)),
            format: "vmdk", reason: "Unsupported subformat monolithicflat"),
        .init(
            name: "sparse VMDK, monolithicSparse, FLAT extent /etc/passwd",
            bytes: H.vmdkSparse(descriptor: H.descriptor(createType: "monolithicSparse", extent: passwdFlat)),
            format: "vmdk", reason: "Invalid extent filenames found"),
        .init(
            name: "sparse VMDK, monolithicSparse, FLAT extent without a path",
            bytes: H.vmdkSparse(
                descriptor: H.descriptor(createType: "monolithicSparse", extent: "RW 2048 FLAT \"passwd\" 0")),
            format: "vmdk", reason: "Only sparse extents"),
        .init(
            name: "sparse VMDK, extent with a backslash path",
            bytes: H.vmdkSparse(
                descriptor: H.descriptor(createType: "monolithicSparse", extent: "RW 2048 SPARSE \"..\\\\x.vmdk\"")),
            format: "vmdk", reason: "Invalid extent filenames found"),
        .init(
            name: "sparse VMDK naming a parent: parentFileNameHint=\"/etc/passwd\"",
            bytes: H.vmdkSparse(
                descriptor: H.descriptor(
                    createType: "monolithicSparse", extent: "RW 2048 SPARSE \"a.vmdk\"",
                    extra: "parentFileNameHint=\"/etc/passwd\"\n")), format: "vmdk", reason: "parent"),
        .init(
            name: "sparse VMDK with an unknown descriptor line",
            bytes: H.vmdkSparse(
                descriptor: H.descriptor(
                    createType: "monolithicSparse", extent: "RW 2048 SPARSE \"a.vmdk\"\nwronly 2048 b.vmdk")),
            format: "vmdk", reason: "Invalid VMDK descriptor data"),
        .init(
            name: "sparse VMDK without extents",
            bytes: H.vmdkSparse(descriptor: H.descriptor(createType: "monolithicSparse", extent: "")),
            format: "vmdk", reason: "No extents found"),
        .init(
            name: "sparse VMDK without createType",
            bytes: H.vmdkSparse(descriptor: "version=1\nRW 2048 SPARSE \"a.vmdk\"\n"), format: "vmdk",
            reason: "Unsupported subformat formatnotfound"),
        .init(
            name: "sparse VMDK with the descriptor at sector 2",
            bytes: H.vmdkSparse(
                descriptor: H.descriptor(createType: "monolithicSparse", extent: "RW 2048 SPARSE \"a.vmdk\""),
                descriptorSector: 2), format: "vmdk", reason: "Wrong descriptor location"),
        .init(
            name: "sparse VMDK version 4",
            bytes: H.vmdkSparse(
                descriptor: H.descriptor(createType: "monolithicSparse", extent: "RW 2048 SPARSE \"a.vmdk\""),
                version: 4), format: "vmdk", reason: "Unsupported format version 4"),
        .init(
            name: "sparse VMDK without capacity (QEMU follows its descriptor's extents)",
            bytes: H.vmdkSparse(
                descriptor: H.descriptor(createType: "monolithicSparse", extent: "RW 0 SPARSE \"a.vmdk\""),
                capacity: 0), format: "vmdk", reason: "Sparse header without capacity"),
        .init(
            name: "sparse VMDK claiming a 2^40-sector descriptor, cut short",
            bytes: H.vmdkSparse(
                descriptor: H.descriptor(createType: "monolithicSparse", extent: "RW 2048 SPARSE \"a.vmdk\""),
                descriptorSectors: 1 << 40), format: "vmdk", reason: "Incomplete file"),
        .init(
            name: "stream-optimized VMDK announcing a footer that is all zeros",
            bytes: H.vmdkSparse(
                descriptor: H.descriptor(createType: "streamOptimized", extent: "RW 2048 SPARSE \"a.vmdk\""),
                gdOffset: .max, footer: [UInt8](repeating: 0, count: 1536)), format: "vmdk",
            reason: "Header and footer signature do not match"),
        .init(
            name: "VMware 3 sparse (COWD)",
            bytes: Array("COWD".utf8) + [1, 0, 0, 0] + [UInt8](repeating: 0, count: 2040),
            format: "vmdk", reason: "Unsupported subformat vmfsSparse"),
        .init(
            name: "qcow2 with a backing file /etc/passwd",
            bytes: {
                var b = H.qcow2(backingOffset: 512)
                H.put("/etc/passwd", at: 512, in: &b)
                H.putBE(11, 4, at: 16, in: &b)
                return b
            }(), format: "qcow2", reason: "backing file"),
        .init(
            name: "qcow2 with the external data file feature bit",
            bytes: H.qcow2(incompatible: 1 << 2), format: "qcow2", reason: "data_file"),
        .init(
            name: "qcow2 with a data-file header extension /etc/shadow (no feature bit)",
            bytes: H.qcow2(extensions: [(0x4441_5441, Array("/etc/shadow".utf8))]), format: "qcow2",
            reason: "data_file"),
        .init(
            name: "qcow2 with an unknown incompatible feature (bit 4, extended L2)",
            bytes: H.qcow2(incompatible: 1 << 4), format: "qcow2", reason: "Unknown QCOW2 features"),
        .init(
            name: "qcow2 with incompatible feature bit 63", bytes: H.qcow2(incompatible: 1 << 63), format: "qcow2",
            reason: "Unknown QCOW2 features"),
        .init(name: "qcow version 1", bytes: H.qcow2(version: 1), format: "qcow2", reason: "Unsupported qcow2 version"),
        .init(
            name: "qcow2 version 4", bytes: H.qcow2(version: 4), format: "qcow2", reason: "Unsupported qcow2 version"),
        .init(
            name: "qcow2 header cut at 50 bytes", bytes: Array(H.qcow2().prefix(50)), format: "qcow2",
            reason: "Incomplete file"),
        .init(
            name: "qcow2 with 2^40-byte clusters", bytes: H.qcow2(clusterBits: 40), format: "qcow2",
            reason: "Invalid cluster size"),
        .init(
            name: "qcow2 with a header length past its cluster", bytes: H.qcow2(clusterBits: 9, headerLength: 4096),
            format: "qcow2", reason: "Invalid header length"),
        .init(
            name: "qcow2 with a header extension longer than its cluster",
            bytes: {
                var b = H.qcow2(clusterBits: 9)
                H.putBE(0x1234, 4, at: 104, in: &b)
                H.putBE(0xFFFF_FFFF, 4, at: 108, in: &b)
                return b
            }(), format: "qcow2", reason: "Invalid header extension length"),
        .init(
            name: "ISO with a qcow2 header in its system area", bytes: H.iso(systemArea: H.qcow2()),
            format: "iso,qcow2", reason: "Multiple formats detected: iso,qcow2"),
        .init(
            name: "VDI header with a boot signature",
            bytes: {
                var b = H.vdi()
                b.replaceSubrange(510..<512, with: [0x55, 0xAA])
                return b
            }(), format: "gpt,vdi", reason: "Multiple formats detected"),
        .init(
            name: "MBR with an invalid boot flag", bytes: H.mbr([.init(boot: 0x0A)]), format: "gpt",
            reason: "invalid boot flag"),
        .init(name: "MBR without partitions", bytes: H.mbr([]), format: "gpt", reason: "no partitions defined"),
        .init(
            name: "protective MBR with an extra partition",
            bytes: H.mbr([.init(type: 0xEE, startLBA: 1), .init()]), format: "gpt",
            reason: "invalid extra partitions"),
        .init(
            name: "protective MBR with a wrong start CHS",
            bytes: H.mbr([.init(type: 0xEE, startCHS: [1, 2, 0], startLBA: 1)]), format: "gpt",
            reason: "invalid start CHS"),
        .init(
            name: "protective MBR with a wrong start LBA", bytes: H.mbr([.init(type: 0xEE, startLBA: 2)]),
            format: "gpt", reason: "invalid start LBA"),
        .init(
            name: "QED", bytes: [0x51, 0x45, 0x44, 0x00] + [UInt8](repeating: 0, count: 1020), format: "qed",
            reason: "not allowed"),
        .init(name: "LUKS version 2", bytes: H.luks(version: 2), format: "luks", reason: "LUKS version 2"),
        .init(
            name: "VHDX with a bad region table signature", bytes: H.vhdx(regionSignature: "xxxx"), format: "vhdx",
            reason: "Region signature not found"),
        .init(
            name: "VHDX with 70000 region entries", bytes: H.vhdx(regionCount: 70000), format: "vhdx",
            reason: "Region count over 2047"),
        .init(
            name: "VHDX with a bad metadata signature", bytes: H.vhdx(metadataSignature: "nonsense"),
            format: "vhdx", reason: "Invalid signature for metadata region"),
        .init(
            name: "VHDX whose metadata region lies behind the region table (never kept)",
            bytes: H.vhdx(metadataOffset: 100 * 1024), format: "vhdx", reason: "Incomplete file"),
        .init(
            name: "VHDX cut before its metadata region", bytes: H.vhdx(length: 300 * 1024), format: "vhdx",
            reason: "Incomplete file"),
    ]
}()

@Suite("Format inspector: headers, hostile corpus, chunking, cost")
struct FormatInspectorTests {
    @Test("every hostile fixture is refused for its reason, in any chunking", arguments: hostileFixtures)
    func hostile(_ fixture: HostileFixture) {
        let whole = inspect(fixture.bytes)
        #expect(whole.format == fixture.format)
        #expect(whole.safetyProblem?.contains(fixture.reason) == true, "\(whole)")
        // Byte by byte too, for the fixtures small enough to make that quick.
        for chunk in [1, 7, 512, 4096, 65536] where chunk >= 512 || fixture.bytes.count <= 200_000 {
            #expect(inspect(fixture.bytes, chunk: chunk) == whole, "chunk \(chunk)")
        }
        // Refused whatever is declared: no declared format makes the safety problem go away.
        #expect(whole.safetyProblem != nil)
    }

    @Test("issue 13, defect 1: the VMDK descriptor file is not raw, and raw does not take it")
    func descriptorIsNotRaw() {
        let repro = Array(
            "version=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType=\"monolithicFlat\"\nRW 2048 FLAT \"/etc/passwd\" 0\n"
                .utf8)
        let r = inspect(repro)
        #expect(r.format == "vmdk")
        #expect(r.formatError(declared: "raw") == "Image disk_format raw does not match stream data vmdk")
        #expect(r.safetyProblem != nil)
        // Operators who allow monolithicFlat still cannot take a descriptor file.
        let allowed = inspect(repro, vmdkAllowedTypes: ["monolithicFlat"])
        #expect(allowed.safetyProblem == "Invalid extent filenames found")
        let sibling = Array("version=1\ncreateType=\"monolithicFlat\"\nRW 2048 FLAT \"disk-flat.vmdk\" 0\n".utf8)
        #expect(
            inspect(sibling, vmdkAllowedTypes: ["monolithicFlat"]).safetyProblem
                == "VMDK descriptor files are not allowed: their extents are other files")
    }

    @Test("valid headers: format, virtual size, no problem")
    func validHeaders() {
        var raw = testBytes(100_000, seed: 7)
        raw[510] = 0
        #expect(inspect(raw) == .init(format: "raw", virtualSize: 100_000))
        #expect(inspect([1, 2, 3]) == .init(format: "raw", virtualSize: 3))
        #expect(inspect([]) == .init(format: "raw", virtualSize: nil))
        #expect(inspect(H.qcow2(size: 1 << 30)) == .init(format: "qcow2", virtualSize: 1 << 30))
        #expect(inspect(H.qcow2(version: 2, size: 5 << 20)) == .init(format: "qcow2", virtualSize: 5 << 20))
        // Glance accepts compressed (bit 3) and dirty (bit 0) images, and encrypted ones.
        var encrypted = H.qcow2(incompatible: 0b1001)
        H.putBE(2, 4, at: 32, in: &encrypted)
        #expect(inspect(encrypted).safetyProblem == nil)
        let sparse = H.vmdkSparse(
            descriptor: H.descriptor(createType: "monolithicSparse", extent: "RW 2048 SPARSE \"a.vmdk\""))
        #expect(inspect(sparse) == .init(format: "vmdk", virtualSize: 2048 * 512))
        let streamOptimized = H.vmdkSparse(
            descriptor: H.descriptor(createType: "streamOptimized", extent: "RW 4096 SPARSE \"a.vmdk\""),
            capacity: 4096, gdOffset: .max)
        let withFooter = streamOptimized + H.vmdkFooter(of: streamOptimized)
        #expect(inspect(withFooter) == .init(format: "vmdk", virtualSize: 4096 * 512))
        #expect(inspect(withFooter, chunk: 1000) == inspect(withFooter))
        #expect(
            inspect(streamOptimized + H.vmdkFooter(of: streamOptimized, markerType: 7)).safetyProblem
                == "Footer marker is invalid")
        #expect(
            inspect(streamOptimized + H.vmdkFooter(of: streamOptimized, gdOffset: .max)).safetyProblem
                == "Footer indicates another footer")
        #expect(inspect(H.vhdx(size: 3 << 30)) == .init(format: "vhdx", virtualSize: 3 << 30))
        #expect(inspect(H.vhd(size: 7 << 20)) == .init(format: "vhd", virtualSize: 7 << 20))
        #expect(inspect(H.vdi(size: 9 << 20)) == .init(format: "vdi", virtualSize: 9 << 20))
        #expect(inspect(H.iso(blocks: 40)) == .init(format: "iso", virtualSize: 40 * 2048))
        // A hybrid ISO (partition table in the system area) is an ISO.
        #expect(inspect(H.iso(systemArea: H.mbr([.init(boot: 0x80, type: 0x17)]))).format == "iso")
        let luks = H.luks()
        #expect(inspect(luks) == .init(format: "luks", virtualSize: luks.count - 4096 * 512))
        #expect(inspect(H.mbr([.init(boot: 0x80)])) == .init(format: "gpt", virtualSize: 4096))
        #expect(inspect(H.mbr([.init(type: 0xEE, startLBA: 1)])).safetyProblem == nil)
        // A FAT boot sector carries the signature too, but is no partition table.
        var fat = H.mbr([])
        fat[0x10] = 2
        fat[0x15] = 0xF8
        #expect(inspect(fat).format == "raw")
    }

    @Test("format match: raw takes what a raw disk may hold, other formats only themselves")
    func matching() {
        #expect(FormatInspector.matches(declared: "raw", detected: "gpt"))
        #expect(FormatInspector.matches(declared: "raw", detected: "iso"))
        #expect(!FormatInspector.matches(declared: "raw", detected: "qcow2"))
        #expect(!FormatInspector.matches(declared: "raw", detected: "vmdk"))
        #expect(!FormatInspector.matches(declared: "iso", detected: "raw"))
        #expect(!FormatInspector.matches(declared: "qcow2", detected: "raw"))
        #expect(FormatInspector.matches(declared: "aki", detected: "raw"))
        #expect(!FormatInspector.matches(declared: "ami", detected: "qcow2"))
        #expect(FormatInspector.matches(declared: "custom", detected: "raw"))
        #expect(!FormatInspector.matches(declared: "custom", detected: "vhd"))
        #expect(
            inspect(H.qcow2()).formatError(declared: "vmdk")
                == "Image disk_format vmdk does not match stream data qcow2")
        #expect(
            inspect(H.iso(systemArea: H.qcow2())).formatError(declared: "iso") == "Multiple formats detected: iso,qcow2"
        )
    }

    @Test("memory stays bounded: 64 KiB for plain data, about 1 MiB at most for a hostile descriptor")
    func boundedMemory() {
        var inspector = FormatInspector()
        let chunk = ByteBuffer(bytes: testBytes(1 << 20, seed: 7))
        for _ in 0..<64 { inspector.feed(chunk) }
        #expect(inspector.keptBytes == 64 * 1024)
        var text = FormatInspector()
        let line = ByteBuffer(
            string: String(repeating: "# comment comment comment comment comment comment\n", count: 20_000))
        for _ in 0..<8 { text.feed(line) }
        #expect(text.keptBytes < (1 << 20) + 64 * 1024)
        #expect(text.result().format == "raw")
    }

    @Test("feeding costs next to nothing once the headers are in")
    func feedCost() {
        var inspector = FormatInspector()
        let chunk = ByteBuffer(bytes: H.vhdx())
        inspector.feed(chunk)
        // The best of five rounds each, so that a busy machine does not decide.
        let clock = ContinuousClock()
        func fastest(_ rounds: Int, _ body: () -> Void) -> Duration {
            (0..<5).map { _ in clock.measure { for _ in 0..<rounds { body() } } / rounds }.min() ?? .zero
        }
        let perChunk = fastest(20_000) { inspector.feed(chunk) }
        // What merely copying the chunk once costs, in the same conditions.
        var copied = 0
        let perCopy = fastest(40) { copied &+= Array(chunk.readableBytesView).count }
        print("FormatInspector.feed: \(perChunk) per 1.1 MiB chunk once the headers are in; a copy: \(perCopy)")
        // Counting the bytes must cost far less than touching them once (it takes ~0.1 µs in a
        // release build, ~0.3 µs in a debug one).
        #expect(perChunk * 4 < perCopy)
        #expect(copied == 200 * chunk.readableBytes)
        #expect(inspector.result().format == "vhdx")
    }
}
