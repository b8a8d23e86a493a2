/// Disk image headers built byte by byte, valid or hostile: host paths appear in them only as
/// bytes, nothing is written anywhere.
enum DiskImageHeaders {
    static func putLE(_ value: UInt64, _ n: Int, at offset: Int, in b: inout [UInt8]) {
        for i in 0..<n { b[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
    }

    static func putBE(_ value: UInt64, _ n: Int, at offset: Int, in b: inout [UInt8]) {
        for i in 0..<n { b[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(n - 1 - i))) }
    }

    static func put(_ text: String, at offset: Int, in b: inout [UInt8]) {
        b.replaceSubrange(offset..<offset + text.utf8.count, with: Array(text.utf8))
    }

    /// A qcow2 header in a 64 KiB cluster; `extensions` follow the header.
    static func qcow2(
        version: UInt64 = 3, size: UInt64 = 1 << 30, backingOffset: UInt64 = 0, incompatible: UInt64 = 0,
        clusterBits: UInt64 = 16, headerLength: UInt64 = 104, extensions: [(UInt64, [UInt8])] = [],
        length: Int = 1024
    ) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: length)
        b.replaceSubrange(0..<4, with: [0x51, 0x46, 0x49, 0xFB])
        putBE(version, 4, at: 4, in: &b)
        putBE(backingOffset, 8, at: 8, in: &b)
        putBE(clusterBits, 4, at: 20, in: &b)
        putBE(size, 8, at: 24, in: &b)
        if version == 3 {
            putBE(incompatible, 8, at: 72, in: &b)
            putBE(4, 4, at: 96, in: &b)
            putBE(headerLength, 4, at: 100, in: &b)
        }
        var at = version == 3 ? Int(headerLength) : 72
        for (type, data) in extensions {
            putBE(type, 4, at: at, in: &b)
            putBE(UInt64(data.count), 4, at: at + 4, in: &b)
            b.replaceSubrange(at + 8..<at + 8 + data.count, with: data)
            at += 8 + (data.count + 7) & ~7
        }
        return b
    }

    /// A VMDK descriptor as qemu-img writes it.
    static func descriptor(createType: String, extent: String, extra: String = "") -> String {
        "# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=ffffffff\n\(extra)createType=\"\(createType)\"\n\n"
            + "# Extent description\n\(extent)\n\n# The Disk Data Base\n#DDB\n\nddb.virtualHWVersion = \"4\"\n"
            + "ddb.adapterType = \"ide\"\n"
    }

    /// A hosted sparse extent: header, descriptor at sector 1, then `dataSectors` of zeros.
    static func vmdkSparse(
        descriptor: String, capacity: UInt64 = 2048, version: UInt64 = 1, descriptorSector: UInt64 = 1,
        descriptorSectors: UInt64 = 20, gdOffset: UInt64 = 21, dataSectors: Int = 8, footer: [UInt8] = []
    ) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: 512 * (21 + dataSectors))
        put("KDMV", at: 0, in: &b)
        putLE(version, 4, at: 4, in: &b)
        putLE(capacity, 8, at: 12, in: &b)
        putLE(128, 8, at: 20, in: &b)
        putLE(descriptorSector, 8, at: 28, in: &b)
        putLE(descriptorSectors, 8, at: 36, in: &b)
        putLE(512, 4, at: 44, in: &b)
        putLE(gdOffset, 8, at: 56, in: &b)
        put(descriptor, at: 512, in: &b)
        return b + footer
    }

    /// A stream-optimized footer for `header` (its first 512 bytes): footer marker, a copy of
    /// the header with the grain directory in place, end-of-stream marker.
    static func vmdkFooter(of image: [UInt8], markerType: UInt64 = 3, gdOffset: UInt64 = 21) -> [UInt8] {
        var f = [UInt8](repeating: 0, count: 1536)
        putLE(markerType, 4, at: 12, in: &f)
        f.replaceSubrange(512..<1024, with: image[0..<512])
        putLE(gdOffset, 8, at: 512 + 56, in: &f)
        return f
    }

    /// A VHDX skeleton: identifier, region table at 192 KiB pointing at a metadata region at
    /// `metadataOffset`, whose table holds the virtual disk size.
    static func vhdx(
        size: UInt64 = 1 << 30, metadataOffset: Int = 1 << 20, regionSignature: String = "regi",
        regionCount: UInt64 = 2, metadataSignature: String = "metadata", length: Int? = nil
    ) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: length ?? max(256 * 1024, metadataOffset + 65536 + 512))
        put("vhdxfile", at: 0, in: &b)
        let table = 192 * 1024
        put(regionSignature, at: table, in: &b)
        putLE(regionCount, 4, at: table + 8, in: &b)
        // Entry 0: the BAT region (any GUID but the metadata one); entry 1: metadata.
        b.replaceSubrange(table + 16..<table + 32, with: [UInt8](repeating: 0x11, count: 16))
        putLE(2 << 20, 8, at: table + 32, in: &b)
        b.replaceSubrange(
            table + 48..<table + 64,
            with: [0x06, 0xA2, 0x7C, 0x8B, 0x90, 0x47, 0x9A, 0x4B, 0xB8, 0xFE, 0x57, 0x5F, 0x05, 0x0F, 0x88, 0x6E])
        putLE(UInt64(metadataOffset), 8, at: table + 64, in: &b)
        putLE(1 << 20, 4, at: table + 72, in: &b)
        guard metadataOffset + 65536 + 8 <= b.count else { return b }
        put(metadataSignature, at: metadataOffset, in: &b)
        putLE(1, 2, at: metadataOffset + 10, in: &b)
        b.replaceSubrange(
            metadataOffset + 32..<metadataOffset + 48,
            with: [0x24, 0x42, 0xA5, 0x2F, 0x1B, 0xCD, 0x76, 0x48, 0xB2, 0x11, 0x5D, 0xBE, 0xD8, 0x3B, 0xF4, 0xB8])
        putLE(65536, 4, at: metadataOffset + 48, in: &b)
        putLE(8, 4, at: metadataOffset + 52, in: &b)
        putLE(size, 8, at: metadataOffset + 65536, in: &b)
        return b
    }

    /// An ISO 9660 image of `blocks` 2 KiB blocks, the primary volume descriptor at 32 KiB; the
    /// system area before it is `systemArea` (zeros by default).
    static func iso(blocks: UInt64 = 40, systemArea: [UInt8] = []) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: 36 * 1024)
        b.replaceSubrange(0..<systemArea.count, with: systemArea)
        b[32768] = 1
        put("CD001", at: 32769, in: &b)
        putLE(blocks, 4, at: 32768 + 80, in: &b)
        putBE(blocks, 4, at: 32768 + 84, in: &b)
        putLE(2048, 2, at: 32768 + 128, in: &b)
        return b
    }

    /// One partition table entry.
    struct Partition {
        var boot: UInt8 = 0
        var type: UInt8 = 0x83
        var startCHS: [UInt8] = [0x00, 0x02, 0x00]
        var startLBA: UInt64 = 2048
    }

    /// A boot sector with these partition entries and the 0xAA55 signature, then `sectors` more.
    static func mbr(_ partitions: [Partition], sectors: Int = 7) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: 512 * (1 + sectors))
        for (i, p) in partitions.enumerated() {
            let e = 446 + 16 * i
            b[e] = p.boot
            b.replaceSubrange(e + 1..<e + 4, with: p.startCHS)
            b[e + 4] = p.type
            putLE(p.startLBA, 4, at: e + 8, in: &b)
            putLE(1000, 4, at: e + 12, in: &b)
        }
        b[510] = 0x55
        b[511] = 0xAA
        return b
    }

    static func luks(version: UInt64 = 1, payloadSectors: UInt64 = 4096, length: Int = 4096 * 512 + 4096) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: length)
        b.replaceSubrange(0..<6, with: [0x4C, 0x55, 0x4B, 0x53, 0xBA, 0xBE])
        putBE(version, 2, at: 6, in: &b)
        put("aes", at: 8, in: &b)
        put("xts-plain64", at: 40, in: &b)
        put("sha256", at: 72, in: &b)
        putBE(payloadSectors, 4, at: 104, in: &b)
        return b
    }

    static func vhd(size: UInt64 = 1 << 30) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: 1024)
        put("conectix", at: 0, in: &b)
        putBE(size, 8, at: 40, in: &b)
        putBE(size, 8, at: 48, in: &b)
        return b
    }

    static func vdi(size: UInt64 = 1 << 30) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: 1024)
        put("<<< Oracle VM VirtualBox Disk Image >>>\n", at: 0, in: &b)
        putLE(0xBEDA_107F, 4, at: 0x40, in: &b)
        putLE(size, 8, at: 0x170, in: &b)
        return b
    }
}
