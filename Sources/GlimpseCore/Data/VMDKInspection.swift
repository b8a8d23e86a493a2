/// VMware's VMDK in its three shapes QEMU opens: a hosted sparse extent (`KDMV` header with an
/// embedded text descriptor), the older VMware 3 sparse extent (`COWD`), and a bare text
/// descriptor file whose extents are other files.
///
/// Only single-file sparse subformats listed in `vmdk_allowed_types` pass, and their
/// descriptor is read cautiously: every line must be a comment, a `ddb` entry, a header field
/// or an extent; extents name no path; no parent (backing) file is named.
enum VMDKInspection {
    static let sparseMagic = Array("KDMV".utf8)
    static let vmware3Magic = Array("COWD".utf8)
    /// QEMU reads an embedded descriptor only at sector 1, and at most 1 MiB of it.
    static let descriptorOffset = 512
    static let descriptorLimit = (1 << 20) - 1
    static let gdAtEnd = UInt64.max
    /// Footer marker, footer (a copy of the header) and end-of-stream marker.
    static let footerLength = 3 * 512
    /// Subformats made of a single file holding its own data.
    static let sparseTypes: Set<String> = ["monolithicsparse", "streamoptimized"]

    /// The fields of a hosted sparse extent header that matter here.
    struct SparseHeader: Equatable {
        var version: UInt64
        var capacitySectors: UInt64
        var descriptorSector: UInt64
        var descriptorSectors: UInt64
        var gdOffset: UInt64

        init?(_ b: HeaderBytes, at o: Int = 0) {
            guard b.starts(with: sparseMagic, at: o), let version = b.le(o + 4, 4), let capacity = b.le(o + 12, 8),
                let descriptorSector = b.le(o + 28, 8), let descriptorSectors = b.le(o + 36, 8),
                let gdOffset = b.le(o + 56, 8)
            else { return nil }
            self.version = version
            self.capacitySectors = capacity
            self.descriptorSector = descriptorSector
            self.descriptorSectors = descriptorSectors
            self.gdOffset = gdOffset
        }

        /// Bytes of the embedded descriptor to read; nil when the header cannot be read on.
        var descriptorLength: Int? {
            guard (1...3).contains(version), descriptorSector == 1, descriptorSectors > 0 else { return nil }
            return descriptorSectors > UInt64(descriptorLimit / 512) ? descriptorLimit : Int(descriptorSectors) * 512
        }
    }

    /// Inspects a stream starting with a sparse header, or nil when it does not.
    static func inspectSparse(
        _ head: HeaderBytes, descriptor: StreamCapture<FormatInspector.Window>.Window?, tail: [UInt8],
        allowedTypes: Set<String>
    ) -> FormatDetection? {
        if head.starts(with: vmware3Magic) {
            return FormatDetection(format: "vmdk", problem: "Unsupported subformat vmfsSparse (VMware 3 COWD)")
        }
        guard head.starts(with: sparseMagic) else { return nil }
        guard let header = SparseHeader(head) else { return .incomplete("vmdk") }
        guard (1...3).contains(header.version) else {
            return FormatDetection(format: "vmdk", problem: "Unsupported format version \(header.version)")
        }
        guard header.descriptorSector == 1 else {
            return FormatDetection(format: "vmdk", problem: "Wrong descriptor location")
        }
        guard header.descriptorSectors > 0 else {
            return FormatDetection(format: "vmdk", problem: "No descriptor found")
        }
        guard let descriptor, descriptor.isComplete else { return .incomplete("vmdk") }
        var detection = FormatDetection(format: "vmdk")
        let text = descriptor.bytes.prefix { $0 != 0 }
        let createType = createType(in: text)
        if let problem = descriptorProblem(text, createType: createType, allowedTypes: allowedTypes) {
            detection.refuse(problem)
        }
        if header.capacitySectors == 0 {
            // QEMU opens a sparse header without capacity through its descriptor, as a descriptor file.
            detection.refuse("Sparse header without capacity")
        }
        if header.gdOffset == gdAtEnd {
            guard tail.count == footerLength else { return .incomplete("vmdk") }
            if let problem = footerProblem(tail, header: header) { detection.refuse(problem) }
        }
        if let createType, sparseTypes.contains(createType), header.capacitySectors <= UInt64.max / 512 {
            detection.virtualSize = (header.capacitySectors * 512).streamOffset
        }
        return detection
    }

    /// Inspects a stream that may be a text descriptor file: QEMU takes a stream for one when,
    /// after comment and blank lines, it starts with `version=`; Glance when its start is text
    /// naming a `createType`. Such a file is never a whole image (its extents are other files).
    static func inspectDescriptorFile(
        _ head: HeaderBytes, text window: [UInt8]?, allowedTypes: Set<String>
    )
        -> FormatDetection?
    {
        let startsAsText = looksLikeText(head.bytes.prefix(512))
        let probed = qemuProbesAsDescriptor(head.bytes)
        guard startsAsText || probed else { return nil }
        let text = (window ?? head.bytes).prefix { $0 != 0 }
        let createType = createType(in: text)
        guard probed || createType != nil || find(Array("createtype=\"".utf8), in: text.map(lowercased)[...]) != nil
        else { return nil }
        let problem =
            descriptorProblem(text, createType: createType, allowedTypes: allowedTypes)
            ?? "VMDK descriptor files are not allowed: their extents are other files"
        return FormatDetection(format: "vmdk", problem: problem)
    }

    /// Whether the stream's first bytes could be a descriptor, so that more of it is kept.
    static func looksLikeText(_ bytes: ArraySlice<UInt8>) -> Bool {
        !bytes.isEmpty
            && bytes.allSatisfy {
                (0x20...0x7E).contains($0) || (0x09...0x0D).contains($0) || (0x1C...0x1F).contains($0)
            }
    }

    /// QEMU's probe, widened: comment lines and lines of blanks, then `version=` in any case.
    static func qemuProbesAsDescriptor(_ bytes: [UInt8]) -> Bool {
        var at = 0
        while at < bytes.count {
            let lineEnd = bytes[at...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.count
            let line = bytes[at..<lineEnd]
            if line.first == UInt8(ascii: "#") || line.allSatisfy({ [0x20, 0x09, 0x0D].contains($0) }) {
                at = lineEnd + 1
                continue
            }
            return line.count >= 8 && line.prefix(8).map(lowercased) == Array("version=".utf8)
        }
        return false
    }

    /// The `createType` of a descriptor, lower-cased; nil when there is none or it is absurdly long.
    static func createType(in text: ArraySlice<UInt8>) -> String? {
        let lowered = text.map(lowercased)
        let key = Array("createtype=\"".utf8)
        guard let start = find(key, in: lowered[...]).map({ $0 + key.count }) else { return nil }
        let end = lowered[start...].firstIndex(of: UInt8(ascii: "\"")) ?? lowered.count
        guard end - start < 64 else { return nil }
        return String(decoding: lowered[start..<end], as: UTF8.self)
    }

    /// The first reason to refuse a descriptor (Glance's checks, plus: no parent, and only
    /// sparse extents in a sparse subformat), nil when it passes.
    static func descriptorProblem(
        _ text: ArraySlice<UInt8>, createType: String?, allowedTypes: Set<String>
    )
        -> String?
    {
        guard text.allSatisfy({ $0 < 0x80 }) else { return "VMDK descriptor is not ASCII text" }
        guard let createType, allowedTypes.contains(createType) else {
            return "Unsupported subformat \(createType ?? "formatnotfound")"
        }
        let access: Set<String> = ["rw", "rdonly", "noaccess"]
        let blanks: Set<UInt8> = [0x20, 0x09, 0x0A, 0x0B, 0x0C, 0x0D]
        var extents: [[Substring]] = []
        for raw in text.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            var (lo, hi) = (raw.startIndex, raw.endIndex)
            while lo < hi, blanks.contains(raw[lo]) { lo += 1 }
            while hi > lo, blanks.contains(raw[hi - 1]) { hi -= 1 }
            let line = String(decoding: raw[lo..<hi].map(lowercased), as: UTF8.self)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix("ddb") { continue }
            if let eq = line.firstIndex(of: "="), !line[..<eq].contains(" ") {
                if line[..<eq] == "parentfilenamehint" { return "VMDK image names a parent (backing) file" }
                continue
            }
            let words = line.split(separator: " ")
            guard let first = words.first, access.contains(String(first)) else {
                return "Invalid VMDK descriptor data"
            }
            if line.contains("/") || line.contains("\\") { return "Invalid extent filenames found" }
            extents.append(words)
        }
        guard !extents.isEmpty else { return "No extents found" }
        if sparseTypes.contains(createType), extents.contains(where: { $0.count < 3 || $0[2] != "sparse" }) {
            return "Only sparse extents are allowed in a \(createType) image"
        }
        return nil
    }

    /// Glance's checks of a stream-optimized footer: a footer marker, a copy of the header that
    /// agrees with it and points at no further footer, and an end-of-stream marker.
    static func footerProblem(_ tail: [UInt8], header: SparseHeader) -> String? {
        let b = HeaderBytes(tail)
        guard let footer = SparseHeader(b, at: 512) else { return "Header and footer signature do not match" }
        if footer.version != header.version { return "Header and footer versions do not match" }
        if footer.descriptorSector != header.descriptorSector || footer.descriptorSectors != header.descriptorSectors {
            return "Footer specifies a different descriptor than header"
        }
        if footer.gdOffset == gdAtEnd { return "Footer indicates another footer" }
        func isMarker(at o: Int, type: UInt64, zeroValue: Bool) -> Bool {
            b.le(o + 8, 4) == 0 && b.le(o + 12, 4) == type && tail[(o + 16)..<(o + 512)].allSatisfy { $0 == 0 }
                && (!zeroValue || b.le(o, 8) == 0)
        }
        if !isMarker(at: 0, type: 3, zeroValue: false) { return "Footer marker is invalid" }
        if !isMarker(at: 1024, type: 0, zeroValue: true) { return "End-of-stream marker is invalid" }
        return nil
    }

    static func lowercased(_ c: UInt8) -> UInt8 { (0x41...0x5A).contains(c) ? c + 0x20 : c }

    static func find(_ needle: [UInt8], in hay: ArraySlice<UInt8>) -> Int? {
        guard let first = needle.first, hay.count >= needle.count else { return nil }
        var at = hay.startIndex
        while let i = hay[at...].firstIndex(of: first), i + needle.count <= hay.endIndex {
            if hay[i..<i + needle.count].elementsEqual(needle) { return i }
            at = i + 1
        }
        return nil
    }
}
