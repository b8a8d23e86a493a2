import NIOCore

/// Recognises a disk image format from the first bytes of an upload and reads the virtual
/// (guest-visible) size from its header, without holding more than a small prefix.
public struct FormatInspector: Sendable {
    /// Bytes kept from the start of the stream: enough for every header read here,
    /// including the ISO 9660 volume descriptor at 32 KiB.
    static let prefixLimit = 34 * 1024
    private(set) var prefix: [UInt8] = []

    public init() {}

    /// Feeds the next chunk of the stream.
    public mutating func feed(_ chunk: ByteBuffer) {
        guard prefix.count < Self.prefixLimit else { return }
        let take = min(Self.prefixLimit - prefix.count, chunk.readableBytes)
        chunk.withUnsafeReadableBytes { prefix.append(contentsOf: $0.prefix(take)) }
    }

    /// What the stream looks like.
    public struct Result: Sendable, Equatable {
        /// `qcow2`, `vmdk`, `vhd`, `vhdx`, `vdi`, `iso`, `ploop` or `raw` (nothing recognised).
        public var format: String
        public var virtualSize: Int?
        /// A reason the data is unsafe to boot (e.g. a qcow2 backing file), if any.
        public var safetyProblem: String?

        public init(format: String, virtualSize: Int?, safetyProblem: String? = nil) {
            self.format = format
            self.virtualSize = virtualSize
            self.safetyProblem = safetyProblem
        }
    }

    /// Inspects what has been fed; `totalSize` is the stream's full length.
    public func result(totalSize: Int) -> Result {
        let b = prefix
        func be(_ at: Int, _ n: Int) -> Int? {
            guard at + n <= b.count else { return nil }
            var v = 0
            for i in 0..<n { v = v << 8 | Int(b[at + i]) }
            return v
        }
        func le(_ at: Int, _ n: Int) -> Int? {
            guard at + n <= b.count else { return nil }
            var v = 0
            for i in stride(from: n - 1, through: 0, by: -1) { v = v << 8 | Int(b[at + i]) }
            return v
        }
        func starts(_ magic: String, at offset: Int = 0) -> Bool {
            let m = Array(magic.utf8)
            return b.count >= offset + m.count && Array(b[offset..<offset + m.count]) == m
        }
        if b.count >= 4, b[0] == 0x51, b[1] == 0x46, b[2] == 0x49, b[3] == 0xFB {
            var problem: String?
            if let backing = be(8, 8), backing != 0 { problem = "QCOW2 image has a backing file" }
            // Incompatible feature bit 2: external data file (version 3 headers).
            if let version = be(4, 4), version >= 3, let incompatible = be(72, 8), incompatible & 0x4 != 0 {
                problem = "QCOW2 image has an external data file"
            }
            return Result(format: "qcow2", virtualSize: be(24, 8), safetyProblem: problem)
        }
        if starts("KDMV") {
            return Result(format: "vmdk", virtualSize: le(12, 8).map { $0 * 512 })
        }
        if starts("# Disk DescriptorFile") {
            return Result(
                format: "vmdk", virtualSize: nil,
                safetyProblem: "VMDK descriptor files that reference other extents are not allowed")
        }
        if starts("conectix") {
            return Result(format: "vhd", virtualSize: be(48, 8))
        }
        if starts("vhdxfile") {
            return Result(format: "vhdx", virtualSize: nil)
        }
        if le(0x40, 4) == 0xBEDA107F {
            return Result(format: "vdi", virtualSize: le(0x170, 8))
        }
        if starts("WithoutFreeSpace") || starts("WithouFreSpacExt") {
            return Result(format: "ploop", virtualSize: le(36, 8).map { $0 * 512 })
        }
        if starts("CD001", at: 0x8001) {
            let blocks = le(0x8050, 4)
            let blockSize = le(0x8080, 2)
            return Result(format: "iso", virtualSize: blocks.flatMap { n in blockSize.map { n * $0 } })
        }
        return Result(format: "raw", virtualSize: totalSize)
    }

    /// Glance's `require_image_format_match`: whether data detected as `detected` may be
    /// stored as `declared`. Formats without a recognisable header (ami, ari, aki) accept anything;
    /// `raw` refuses data that carries another format's header.
    public static func matches(declared: String, detected: String) -> Bool {
        switch declared {
        case "ami", "ari", "aki": true
        case "raw": detected == "raw" || detected == "iso"
        case "iso": detected == "iso" || detected == "raw"
        default: declared == detected
        }
    }
}
