import NIOCore

/// Recognises the disk image format of an upload as it streams by, reads its virtual size, and
/// runs the safety checks Glance runs (and a few more): no backing or data file, no extents
/// naming other files, no header hidden in another, sane partition tables.
///
/// Only the byte regions the formats need are kept, as the stream passes: the first 64 KiB
/// (every fixed-place header), then what they point at (the VMDK descriptor, the VHDX region
/// and metadata tables, the last 1.5 KiB of a stream-optimized VMDK). Once those are in,
/// `feed` only counts bytes. The result never depends on how the stream is cut into chunks.
///
/// References: Glance's `location.py` and oslo.utils' `imageutils/format_inspector.py`
/// (behaviour), QEMU's block drivers (what a format makes QEMU open).
public struct FormatInspector: Sendable {
    /// Glance's `vmdk_allowed_types` default: the single-file sparse subformats.
    public static let defaultVMDKAllowedTypes = ["streamOptimized", "monolithicSparse"]
    /// Bytes kept from the start of every stream: every header at a fixed place lies in them,
    /// the ISO 9660 volume descriptor at 32 KiB being the farthest.
    static let headLength = 64 * 1024

    /// The regions of the stream an inspection may ask for.
    enum Window: Hashable, Sendable {
        case head, descriptorText, vmdkDescriptor
        case vhdxRegionHeader, vhdxRegionEntries, vhdxMetadataHeader, vhdxMetadataEntries, vhdxDiskSize
    }

    let vmdkAllowedTypes: Set<String>
    private var capture = StreamCapture<Window>()
    private var headFollowed = false

    /// - Parameter vmdkAllowedTypes: the VMDK `createType`s accepted (case-insensitive).
    public init(vmdkAllowedTypes: [String] = defaultVMDKAllowedTypes) {
        self.vmdkAllowedTypes = Set(vmdkAllowedTypes.map { $0.lowercased() })
        _ = capture.want(.head, offset: 0, length: Self.headLength)
    }

    /// Feeds the next chunk of the stream.
    public mutating func feed(_ chunk: ByteBuffer) {
        if capture.isIdle { return capture.skip(chunk.readableBytes) }
        chunk.withUnsafeReadableBytes { raw in
            var rest = raw[...]
            repeat {
                for window in capture.consume(&rest) { follow(window) }
            } while !rest.isEmpty
        }
    }

    /// Bytes held to inspect the stream (whatever its length, at most about 1.2 MiB).
    var keptBytes: Int { capture.keptBytes }

    /// What the stream looks like.
    public struct Result: Sendable, Equatable {
        /// `qcow2`, `vmdk`, `vhd`, `vhdx`, `vdi`, `iso`, `qed`, `ploop`, `luks`, `gpt` (a
        /// partition table) or `raw` (nothing recognised); when headers of several formats
        /// were found, their names joined by commas.
        public var format: String
        /// The guest-visible size, when the header gives one (the stream's length for `raw`).
        public var virtualSize: Int?
        /// Why the data is unsafe to hand to a hypervisor, if it is.
        public var safetyProblem: String?
        /// Glance's format error whatever the declared format: several formats, or headers
        /// cut short.
        var unclearFormat: String?

        public init(format: String, virtualSize: Int?, safetyProblem: String? = nil) {
            self.format = format
            self.virtualSize = virtualSize
            self.safetyProblem = safetyProblem
        }

        /// Glance's `require_image_format_match` error for data declared as `declared`, nil
        /// when the data may be stored as that.
        public func formatError(declared: String) -> String? {
            if let unclearFormat { return unclearFormat }
            guard FormatInspector.matches(declared: declared, detected: format) else {
                return "Image disk_format \(declared) does not match stream data \(format)"
            }
            return nil
        }
    }

    /// Inspects what has been fed, as the whole stream.
    public func result() -> Result {
        var ended = self
        if !ended.headFollowed { ended.follow(.head) }
        return ended.evaluate()
    }

    /// Glance's format match: whether data detected as `detected` may be stored as `declared`.
    /// Kernels and ramdisks (`aki`, `ari`, `ami`) and unknown formats take data without a
    /// recognised header; `raw` also takes what a raw disk may start with (a partition table,
    /// an ISO, LUKS); every other format takes only itself.
    public static func matches(declared: String, detected: String) -> Bool {
        if declared == detected { return true }
        return switch declared {
        case "raw": ["raw", "gpt", "iso", "luks"].contains(detected)
        case "ami", "ari", "aki": detected == "raw" || detected == "gpt"
        case "qcow2", "vmdk", "vhd", "vhdx", "vdi", "iso", "qed", "ploop", "luks", "gpt": false
        default: detected == "raw"
        }
    }

    // MARK: Following the headers as the stream passes

    private mutating func want(_ window: Window, _ step: VHDXInspection.Step) {
        if case .read(let offset, let length) = step { want(window, offset: offset, length: length) }
    }

    private mutating func want(_ window: Window, offset: Int, length: Int) {
        if capture.want(window, offset: offset, length: length) { follow(window) }
    }

    private func bytes(_ window: Window) -> HeaderBytes? {
        capture[window].flatMap { $0.isComplete ? HeaderBytes($0.bytes) : nil }
    }

    /// Asks for what a completed window points at.
    private mutating func follow(_ window: Window) {
        switch window {
        case .head:
            headFollowed = true
            let head = HeaderBytes(capture[.head]?.bytes ?? [])
            if head.starts(with: VHDXInspection.magic) {
                want(.vhdxRegionHeader, offset: VHDXInspection.regionTableOffset, length: 16)
            }
            if let header = VMDKInspection.SparseHeader(head), let length = header.descriptorLength {
                want(.vmdkDescriptor, offset: VMDKInspection.descriptorOffset, length: length)
                if header.gdOffset == VMDKInspection.gdAtEnd { capture.keepTail(VMDKInspection.footerLength) }
            }
            if VMDKInspection.looksLikeText(head.bytes.prefix(512)) {
                want(.descriptorText, offset: 0, length: VMDKInspection.descriptorLimit)
            }
        case .vhdxRegionHeader:
            if let b = bytes(window) { want(.vhdxRegionEntries, VHDXInspection.regionEntries(b)) }
        case .vhdxRegionEntries:
            if let b = bytes(window) { want(.vhdxMetadataHeader, VHDXInspection.metadataHeader(b)) }
        case .vhdxMetadataHeader:
            if let b = bytes(window), let at = capture[window]?.offset {
                want(.vhdxMetadataEntries, VHDXInspection.metadataEntries(b, metadataOffset: at))
            }
        case .vhdxMetadataEntries:
            if let b = bytes(window), let at = capture[.vhdxMetadataHeader]?.offset {
                want(.vhdxDiskSize, VHDXInspection.diskSize(b, metadataOffset: at))
            }
        case .descriptorText, .vmdkDescriptor, .vhdxDiskSize: break
        }
    }

    // MARK: Verdict

    private func evaluate() -> Result {
        let total = capture.position
        let head = HeaderBytes(capture[.head]?.bytes ?? [])
        var found = [
            QCOW2Inspection.inspect(head),
            VMDKInspection.inspectSparse(
                head, descriptor: capture[.vmdkDescriptor], tail: capture.tail, allowedTypes: vmdkAllowedTypes),
            VMDKInspection.inspectDescriptorFile(
                head, text: capture[.descriptorText]?.bytes, allowedTypes: vmdkAllowedTypes),
            vhdx(head),
            SimpleFormatInspection.vhd(head),
            SimpleFormatInspection.vdi(head),
            SimpleFormatInspection.iso(head),
            SimpleFormatInspection.qed(head),
            SimpleFormatInspection.ploop(head),
            SimpleFormatInspection.luks(head, total: total),
            PartitionTableInspection.inspect(head),
        ].compactMap { $0 }
        // A bootable ISO may carry a partition table in its system area: that is the ISO.
        if Set(found.map(\.format)) == ["iso", "gpt"] { found.removeAll { $0.format == "gpt" } }
        if found.count > 1 {
            let names = found.map(\.format).sorted().joined(separator: ",")
            var result = Result(format: names, virtualSize: nil, safetyProblem: "Multiple formats detected: \(names)")
            result.unclearFormat = result.safetyProblem
            return result
        }
        guard let detection = found.first else { return Result(format: "raw", virtualSize: total > 0 ? total : nil) }
        let incomplete = "Incomplete file cannot be safety checked"
        var result = Result(
            format: detection.format, virtualSize: detection.virtualSize.flatMap { $0 > 0 ? $0 : nil },
            safetyProblem: detection.incomplete ? incomplete : detection.problem)
        if detection.incomplete { result.unclearFormat = incomplete }
        if detection.format == "gpt" { result.virtualSize = total }
        return result
    }

    /// VHDX: the walk from the region table to the virtual size item, each step as far as
    /// the stream went.
    private func vhdx(_ head: HeaderBytes) -> FormatDetection? {
        guard head.starts(with: VHDXInspection.magic) else { return nil }
        var detection = FormatDetection(format: "vhdx")
        let steps: [(Window, (HeaderBytes) -> VHDXInspection.Step)] = [
            (.vhdxRegionHeader, VHDXInspection.regionEntries),
            (.vhdxRegionEntries, VHDXInspection.metadataHeader),
            (.vhdxMetadataHeader, { VHDXInspection.metadataEntries($0, metadataOffset: self.metadataOffset) }),
            (.vhdxMetadataEntries, { VHDXInspection.diskSize($0, metadataOffset: self.metadataOffset) }),
        ]
        for (window, next) in steps {
            guard let b = bytes(window) else { return .incomplete("vhdx") }
            if case .problem(let problem) = next(b) {
                detection.refuse(problem)
                return detection
            }
        }
        guard let size = bytes(.vhdxDiskSize)?.le(0, 8) else { return .incomplete("vhdx") }
        detection.virtualSize = size.streamOffset
        return detection
    }

    private var metadataOffset: Int { capture[.vhdxMetadataHeader]?.offset ?? 0 }
}

/// What one format's inspection found.
struct FormatDetection {
    var format: String
    var virtualSize: Int?
    /// The first safety check that failed.
    var problem: String?
    /// Bytes its checks need were not in the stream.
    var incomplete = false

    init(format: String, virtualSize: Int? = nil, problem: String? = nil) {
        self.format = format
        self.virtualSize = virtualSize
        self.problem = problem
    }

    static func incomplete(_ format: String) -> FormatDetection {
        var d = FormatDetection(format: format)
        d.incomplete = true
        return d
    }

    /// Records a failed check (the first one is kept).
    mutating func refuse(_ problem: String) {
        if self.problem == nil { self.problem = problem }
    }
}
