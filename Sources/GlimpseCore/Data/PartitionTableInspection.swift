/// A legacy MBR or a GPT's protective MBR (UEFI 2.10 §5): Glance's sanity checks of the four
/// partition entries. Raw disks carry one; a hostile one hides another format's header or
/// points its partitions where they should not be.
enum PartitionTableInspection {
    static let signatureOffset = 510
    static let entriesOffset = 446
    static let gptProtective: UInt8 = 0xEE

    static func inspect(_ head: HeaderBytes) -> FormatDetection? {
        guard head.le(signatureOffset, 2) == 0xAA55, !looksLikeFAT(head) else { return nil }
        return FormatDetection(format: "gpt", problem: problem(head))
    }

    /// A FAT boot sector carries the same signature: two FATs on a fixed disk give it away.
    static func looksLikeFAT(_ head: HeaderBytes) -> Bool {
        head.le(0x10, 1) == 2 && head.le(0x15, 1) == 0xF8
    }

    static func problem(_ head: HeaderBytes) -> String? {
        var used: [Int] = []
        var protective = false
        for i in 0..<4 {
            let e = entriesOffset + 16 * i
            let boot = head.bytes[e]
            let type = head.bytes[e + 4]
            if boot != 0x00 && boot != 0x80 { return "MBR PTE \(i) has invalid boot flag" }
            if type != 0 { used.append(i) }
            if type == gptProtective {
                protective = true
                if head.bytes[(e + 1)...(e + 3)].elementsEqual([0x00, 0x02, 0x00]) == false {
                    return "GPT MBR has invalid start CHS"
                }
                if head.le(e + 8, 4) != 1 { return "GPT MBR has invalid start LBA" }
            }
        }
        if protective && used != [0] { return "GPT MBR defines invalid extra partitions" }
        if used.isEmpty { return "GPT MBR has no partitions defined" }
        return nil
    }
}
