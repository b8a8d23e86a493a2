/// Percent-encoding of URL paths and query strings, as the OpenStack services (Python's
/// `urllib`) read and write it.
public enum URLCoding {
    /// Decodes `%XX` escapes; with `plusIsSpace`, `+` becomes a space (query strings).
    /// Malformed escapes are kept as they are.
    public static func decode(_ s: some StringProtocol, plusIsSpace: Bool = false) -> String {
        let u = Array(s.utf8)
        guard u.contains(where: { $0 == UInt8(ascii: "%") || (plusIsSpace && $0 == UInt8(ascii: "+")) }) else {
            return String(s)
        }
        var out: [UInt8] = []
        out.reserveCapacity(u.count)
        var i = 0
        while i < u.count {
            let c = u[i]
            if c == UInt8(ascii: "%"), i + 2 < u.count, let h = Hex.value(of: u[i + 1]), let l = Hex.value(of: u[i + 2])
            {
                out.append(h << 4 | l)
                i += 3
            } else if plusIsSpace, c == UInt8(ascii: "+") {
                out.append(UInt8(ascii: " "))
                i += 1
            } else {
                out.append(c)
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Splits a query string into decoded (name, value) pairs, keeping order and repeats.
    public static func parseQuery(_ query: some StringProtocol) -> [(String, String)] {
        query.split(separator: "&", omittingEmptySubsequences: true).map { pair in
            if let eq = pair.firstIndex(of: "=") {
                return (
                    decode(pair[..<eq], plusIsSpace: true), decode(pair[pair.index(after: eq)...], plusIsSpace: true)
                )
            }
            return (decode(pair, plusIsSpace: true), "")
        }
    }

    /// Python's `quote_plus`: letters, digits and `_.-~` stay, space becomes `+`, the rest is escaped.
    public static func quotePlus(_ s: String) -> String { escape(s, spaceAsPlus: true) }

    /// Percent-encodes one path segment (a `/` inside it is escaped too).
    public static func quotePath(_ s: String) -> String { escape(s, spaceAsPlus: false) }

    /// `urlencode` of pairs, in order: `a=1&b=x+y`.
    public static func encodeQuery(_ pairs: [(String, String)]) -> String {
        pairs.map { quotePlus($0.0) + "=" + quotePlus($0.1) }.joined(separator: "&")
    }

    static let upperHex: [UInt8] = Array("0123456789ABCDEF".utf8)

    static func escape(_ s: String, spaceAsPlus: Bool) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count)
        for c in s.utf8 {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "-"),
                UInt8(ascii: "~"):
                out.append(c)
            case UInt8(ascii: " ") where spaceAsPlus:
                out.append(UInt8(ascii: "+"))
            default:
                out += [UInt8(ascii: "%"), upperHex[Int(c >> 4)], upperHex[Int(c & 0xF)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
