/// QEMU's qcow2 (docs/interop/qcow2.txt in QEMU): a big-endian header, then header
/// extensions up to the end of the first cluster.
enum QCOW2Inspection {
    static let magic: [UInt8] = [0x51, 0x46, 0x49, 0xFB]
    /// Header extension naming an external data file.
    static let dataFileExtension: UInt64 = 0x4441_5441
    /// Incompatible features Glance accepts: dirty (bit 0), corrupt (1), external data file
    /// (2, refused on its own) and compression type (3). Anything higher is unknown.
    static let knownIncompatibleFeatures: UInt64 = 0b1111
    static let externalDataFileBit: UInt64 = 1 << 2

    static func inspect(_ head: HeaderBytes) -> FormatDetection? {
        guard head.starts(with: magic) else { return nil }
        guard let version = head.be(4, 4) else { return .incomplete("qcow2") }
        guard version == 2 || version == 3 else {
            return FormatDetection(format: "qcow2", problem: "Unsupported qcow2 version \(version)")
        }
        let fixedLength = version == 2 ? 72 : 104
        guard head.count >= fixedLength, let backingOffset = head.be(8, 8), let clusterBits = head.be(20, 4),
            let size = head.be(24, 8), let encryption = head.be(32, 4)
        else { return .incomplete("qcow2") }
        var detection = FormatDetection(format: "qcow2", virtualSize: size.streamOffset)
        if backingOffset != 0 { detection.refuse("Image has a backing file") }
        guard (9...21).contains(clusterBits) else {
            detection.refuse("Invalid cluster size 2^\(clusterBits)")
            return detection
        }
        // 0 none, 1 AES, 2 LUKS: Glance accepts encrypted images; QEMU knows no other method.
        if encryption > 2 { detection.refuse("Unknown encryption method \(encryption)") }
        var extensionsStart = 72
        if version == 3, let incompatible = head.be(72, 8), let headerLength = head.be(100, 4) {
            if incompatible & externalDataFileBit != 0 { detection.refuse("Image has data_file set") }
            if incompatible & ~knownIncompatibleFeatures != 0 { detection.refuse("Unknown QCOW2 features found") }
            guard headerLength >= 104, headerLength % 8 == 0, headerLength < 1 << clusterBits else {
                detection.refuse("Invalid header length \(headerLength)")
                return detection
            }
            extensionsStart = Int(headerLength)
        }
        if let problem = extensionProblem(head, from: extensionsStart, to: 1 << Int(clusterBits)) {
            detection.refuse(problem)
        }
        return detection
    }

    /// Walks the header extensions (type, length, data padded to 8 bytes) to the end marker,
    /// within the first cluster and the bytes kept.
    static func extensionProblem(_ head: HeaderBytes, from start: Int, to clusterEnd: Int) -> String? {
        let end = min(clusterEnd, head.count)
        var at = start
        while at + 8 <= end, let type = head.be(at, 4), let length = head.be(at + 4, 4), type != 0 {
            if type == dataFileExtension { return "Image has data_file set" }
            let padded = (Int(length) + 7) & ~7
            guard at + 8 + padded <= clusterEnd else { return "Invalid header extension length" }
            at += 8 + padded
        }
        return nil
    }
}
