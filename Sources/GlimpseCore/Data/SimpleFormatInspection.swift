/// Formats recognised from one header at a fixed place, with nothing to follow: VHD, VDI,
/// ISO 9660 / UDF, QED, Virtuozzo ploop and LUKS.
enum SimpleFormatInspection {
    /// Connectix/Microsoft VHD: a big-endian footer copied at the start of dynamic disks.
    static func vhd(_ head: HeaderBytes) -> FormatDetection? {
        guard head.starts(with: "conectix") else { return nil }
        guard let size = head.be(40, 8) else { return .incomplete("vhd") }
        return FormatDetection(format: "vhd", virtualSize: size.streamOffset)
    }

    /// VirtualBox VDI: little-endian header, magic at 0x40, size at 0x170.
    static func vdi(_ head: HeaderBytes) -> FormatDetection? {
        guard head.le(0x40, 4) == 0xBEDA_107F else { return nil }
        guard let size = head.le(0x170, 8) else { return .incomplete("vdi") }
        return FormatDetection(format: "vdi", virtualSize: size.streamOffset)
    }

    /// ISO 9660 or UDF: the first volume descriptor at 32 KiB (the first 16 sectors are free
    /// for a boot loader, which may hold a partition table).
    static let volumeDescriptor = 32 * 1024

    static func iso(_ head: HeaderBytes) -> FormatDetection? {
        let d = volumeDescriptor
        guard ["CD001", "NSR02", "NSR03"].contains(where: { head.starts(with: $0, at: d + 1) }) else { return nil }
        guard head.has(2048, at: d) else { return .incomplete("iso") }
        // Only a primary volume descriptor (type 1) gives the size: blocks × block size.
        guard head.bytes[d] == 1, let blocks = head.le(d + 80, 4), let blockSize = head.le(d + 128, 2) else {
            return FormatDetection(format: "iso")
        }
        return FormatDetection(format: "iso", virtualSize: Int(blocks * blockSize))
    }

    /// QEMU's QED: recognised to be refused (no one supports it), as Glance does.
    static func qed(_ head: HeaderBytes) -> FormatDetection? {
        guard head.starts(with: [0x51, 0x45, 0x44, 0x00]) else { return nil }
        return FormatDetection(format: "qed", problem: "This file format is not allowed")
    }

    /// Virtuozzo ploop: sectors at 36.
    static func ploop(_ head: HeaderBytes) -> FormatDetection? {
        guard head.starts(with: "WithoutFreeSpace") || head.starts(with: "WithouFreSpacExt") else { return nil }
        guard let sectors = head.le(36, 8) else { return .incomplete("ploop") }
        return FormatDetection(
            format: "ploop", virtualSize: sectors <= UInt64.max / 512 ? (sectors * 512).streamOffset : nil)
    }

    /// LUKS version 1 (version 2 is refused, as Glance does): the payload follows the header,
    /// so the virtual size is what is left after its offset.
    static func luks(_ head: HeaderBytes, total: Int) -> FormatDetection? {
        guard head.starts(with: [0x4C, 0x55, 0x4B, 0x53, 0xBA, 0xBE]) else { return nil }
        guard let version = head.be(6, 2), let payloadSectors = head.be(104, 4) else { return .incomplete("luks") }
        guard version == 1 else {
            return FormatDetection(format: "luks", problem: "LUKS version \(version) is not supported")
        }
        let payload = Int(payloadSectors) * 512
        return FormatDetection(format: "luks", virtualSize: total > payload ? total - payload : nil)
    }
}
