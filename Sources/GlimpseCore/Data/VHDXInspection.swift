/// Microsoft's VHDX (MS-VHDX): the virtual size is a metadata item, found through the region
/// table at 192 KiB, which points at the metadata region, whose table points at the item.
/// Each step is read as the stream reaches it: 16 + 32·n bytes of region table, 32 + 32·n
/// bytes of metadata table, 8 bytes of size.
enum VHDXInspection {
    static let magic = Array("vhdxfile".utf8)
    static let regionTableOffset = 192 * 1024
    /// GUIDs as stored (the first three fields little-endian).
    static let metadataRegion: [UInt8] = [
        0x06, 0xA2, 0x7C, 0x8B, 0x90, 0x47, 0x9A, 0x4B, 0xB8, 0xFE, 0x57, 0x5F, 0x05, 0x0F, 0x88, 0x6E,
    ]
    static let virtualDiskSize: [UInt8] = [
        0x24, 0x42, 0xA5, 0x2F, 0x1B, 0xCD, 0x76, 0x48, 0xB2, 0x11, 0x5D, 0xBE, 0xD8, 0x3B, 0xF4, 0xB8,
    ]
    static let entryLimit = 2047

    /// One step of the walk: the bytes to read next, or why the walk stops.
    enum Step: Equatable {
        case read(offset: Int, length: Int)
        case problem(String)
    }

    /// After the 16-byte region table header: its entries.
    static func regionEntries(_ header: HeaderBytes) -> Step {
        guard header.starts(with: "regi") else { return .problem("Region signature not found") }
        guard let count = header.le(8, 4), count <= entryLimit else { return .problem("Region count over 2047") }
        return .read(offset: regionTableOffset + 16, length: Int(count) * 32)
    }

    /// After the region table entries: the metadata table header.
    static func metadataHeader(_ entries: HeaderBytes) -> Step {
        guard
            let entry = stride(from: 0, to: entries.count, by: 32).first(where: {
                entries.starts(with: metadataRegion, at: $0)
            }), let offset = entries.le(entry + 16, 8)?.streamOffset
        else { return .problem("Metadata region not found") }
        return .read(offset: offset, length: 32)
    }

    /// After the metadata table header (at `metadataOffset`): its entries.
    static func metadataEntries(_ header: HeaderBytes, metadataOffset: Int) -> Step {
        guard header.starts(with: "metadata") else { return .problem("Invalid signature for metadata region") }
        guard let count = header.le(10, 2), count <= entryLimit else {
            return .problem("Metadata item count over 2047")
        }
        return .read(offset: metadataOffset + 32, length: Int(count) * 32)
    }

    /// After the metadata entries: the 8-byte virtual size item.
    static func diskSize(_ entries: HeaderBytes, metadataOffset: Int) -> Step {
        guard
            let entry = stride(from: 0, to: entries.count, by: 32).first(where: {
                entries.starts(with: virtualDiskSize, at: $0)
            }), let itemOffset = entries.le(entry + 16, 4)
        else { return .problem("Virtual disk size metadata item not found") }
        return .read(offset: metadataOffset + Int(itemOffset), length: 8)
    }
}
