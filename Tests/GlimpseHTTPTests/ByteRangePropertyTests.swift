import GlimpseCore
import PropertyBased
import Testing

@testable import GlimpseHTTP

/// The `Range` (and legacy `Content-Range`) header of a download: a random header is
/// ignored, resolved to a range inside the data, or refused with 400 (several ranges) or 416;
/// a well-formed single range resolves to exactly the bytes RFC 9110 names.
@Suite("Range header: properties")
struct ByteRangePropertyTests {
    @Test("a random header is ignored, resolved inside the data, or refused with 400 or 416")
    func anyHeader() async {
        await propertyCheck(count: 5000, input: RangeGen.header, Gen.int(in: 0...2000), Gen.bool) {
            header, size, legacy in
            do {
                guard let range = try ByteRange.resolve(header, size: size, isContentRange: legacy) else { return }
                #expect(range.lowerBound >= 0 && range.upperBound < size, "\(header) of \(size): \(range)")
            } catch let error as ServiceError {
                #expect(error.kind == .badRequest || error.kind == .rangeNotSatisfiable, "\(header): \(error)")
                if error.kind == .badRequest { #expect(header.contains(",")) }
            }
        }
    }

    @Test("bytes=A-B, bytes=A- and bytes=-N resolve to the bytes they name, clamped to the data")
    func wellFormed() async {
        await propertyCheck(
            count: 3000, input: Gen.int(in: 1...5000), Gen.int(in: 0...6000), Gen.int(in: 0...6000), Gen.int(in: 0...2)
        ) { size, a, b, form in
            let (start, end) = (min(a, b), max(a, b))
            let spec: String
            let expected: ClosedRange<Int>?
            switch form {
            case 0:
                spec = "bytes=\(start)-\(end)"
                expected = start < size ? start...min(end, size - 1) : nil
            case 1:
                spec = "bytes=\(start)-"
                expected = start < size ? start...(size - 1) : nil
            default:
                spec = "bytes=-\(end)"
                expected = end > 0 ? max(0, size - end)...(size - 1) : nil
            }
            do {
                let range = try ByteRange.resolve(spec, size: size, isContentRange: false)
                #expect(range == expected, "\(spec) of \(size)")
                let legacy = try ByteRange.resolve(
                    spec.replacingAll("=", with: " ") + "/*", size: size, isContentRange: true)
                #expect(legacy == range, "legacy \(spec) of \(size)")
            } catch let error as ServiceError {
                #expect(expected == nil && error.kind == .rangeNotSatisfiable, "\(spec) of \(size): \(error)")
            }
        }
    }
}

/// `Range` headers built from the pieces that make and break them.
enum RangeGen {
    static let header: Generator<String, Shrink.None<String>> = Generator { rng in
        let pieces = [
            "bytes", "BYTES", "bytes=", "=", "-", ",", " ", "/", "*", "0", "1", "7", "99", "1000", "-5", "+3",
            "9223372036854775807", "9223372036854775808", "99999999999999999999", "a", "items=", "\t", "0x10",
        ]
        return (0..<Int.random(in: 0...7, using: &rng)).map { _ in pieces.randomElement(using: &rng)! }.joined()
    }
}
