import GlimpseCore
import Testing

@Suite("Random identifiers")
struct IdentifierTests {
    @Test("UUIDs are version 4, lower-case 8-4-4-4-12, and never repeat across refills of the pool")
    func uuids() {
        var seen = Set<String>()
        // 16 UUIDs per refill: 5,000 of them cross the pool's boundary hundreds of times.
        for _ in 0..<5000 {
            let id = Identifiers.uuid()
            let u = Array(id.utf8)
            #expect(u.count == 36, "\(id)")
            for (i, c) in u.enumerated() {
                if [8, 13, 18, 23].contains(i) {
                    #expect(c == UInt8(ascii: "-"), "\(id)")
                } else {
                    #expect("0123456789abcdef".utf8.contains(c), "\(id)")
                }
            }
            #expect(u[14] == UInt8(ascii: "4"), "version of \(id)")
            #expect("89ab".utf8.contains(u[19]), "variant of \(id)")
            seen.insert(id)
        }
        #expect(seen.count == 5000)
    }

    @Test("random bytes of any length, past the system's 256 bytes a call")
    func bytes() {
        #expect(Identifiers.randomBytes(0).isEmpty)
        for count in [1, 16, 255, 256, 257, 1000] {
            let a = Identifiers.randomBytes(count)
            let b = Identifiers.randomBytes(count)
            #expect(a.count == count && b.count == count)
            if count >= 16 { #expect(a != b) }
            // Every part filled: no 64-byte run left at zero.
            if count >= 512 {
                #expect(stride(from: 0, to: count - 64, by: 64).allSatisfy { a[$0..<$0 + 64].contains { $0 != 0 } })
            }
        }
        #expect(Identifiers.randomHex(bytes: 4).count == 8)
    }
}
