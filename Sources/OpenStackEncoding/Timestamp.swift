#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A UTC instant with microsecond precision, stored as microseconds since the Unix epoch,
/// and the ISO 8601 forms OpenStack services write and read.
///
/// Glimpse keeps microseconds so that "newest first" is exact; the image API shows whole
/// seconds (`YYYY-MM-DDThh:mm:ssZ`) as Glance does, the identity API microseconds.
public struct Timestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var microseconds: Int64

    public init(microseconds: Int64) { self.microseconds = microseconds }
    public init(seconds: Int64) { self.microseconds = seconds * 1_000_000 }

    /// The current time of the system clock.
    public static func now() -> Timestamp {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Timestamp(microseconds: Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000)
    }

    public var seconds: Int64 { microseconds >= 0 ? microseconds / 1_000_000 : (microseconds - 999_999) / 1_000_000 }

    public static func < (a: Timestamp, b: Timestamp) -> Bool { a.microseconds < b.microseconds }

    public func adding(seconds s: Int64) -> Timestamp { Timestamp(microseconds: microseconds + s * 1_000_000) }

    public func adding(microseconds us: Int64) -> Timestamp { Timestamp(microseconds: microseconds + us) }

    /// `YYYY-MM-DDThh:mm:ssZ`, the image API's format.
    public var iso8601: String { format(fraction: false) }

    /// `YYYY-MM-DDThh:mm:ss.ffffffZ`, the identity API's format.
    public var iso8601Microseconds: String { format(fraction: true) }

    /// `YYYY-MM-DDThh:mm:ss.ffffff` without a zone, the fraction only when not zero: what
    /// Python's `datetime.isoformat()` writes for a naive UTC time (Glance's raw database
    /// values, as `GET /v2/images/{id}/tasks` shows them).
    public var pythonISOFormat: String {
        format(fraction: microseconds % 1_000_000 != 0, zone: false)
    }

    public var description: String { iso8601Microseconds }

    private func format(fraction: Bool, zone: Bool = true) -> String {
        let secs = seconds
        let micros = microseconds - secs * 1_000_000
        let days = secs >= 0 ? secs / 86_400 : (secs - 86_399) / 86_400
        let secOfDay = secs - days * 86_400
        let (y, m, d) = Self.civil(fromDays: days)
        var out: [UInt8] = []
        out.reserveCapacity(28)
        func pad(_ v: Int64, _ width: Int) {
            var digits: [UInt8] = []
            var v = v
            for _ in 0..<width {
                digits.append(UInt8(ascii: "0") + UInt8(v % 10))
                v /= 10
            }
            out.append(contentsOf: digits.reversed())
        }
        pad(y, 4)
        out.append(UInt8(ascii: "-"))
        pad(m, 2)
        out.append(UInt8(ascii: "-"))
        pad(d, 2)
        out.append(UInt8(ascii: "T"))
        pad(secOfDay / 3600, 2)
        out.append(UInt8(ascii: ":"))
        pad(secOfDay / 60 % 60, 2)
        out.append(UInt8(ascii: ":"))
        pad(secOfDay % 60, 2)
        if fraction {
            out.append(UInt8(ascii: "."))
            pad(micros, 6)
        }
        if zone { out.append(UInt8(ascii: "Z")) }
        return String(decoding: out, as: UTF8.self)
    }

    /// Days since 1970-01-01 to a proleptic Gregorian (year, month, day).
    static func civil(fromDays z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }

    /// A proleptic Gregorian date to days since 1970-01-01.
    static func days(fromCivil y0: Int64, _ m: Int64, _ d: Int64) -> Int64 {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = m > 2 ? m - 3 : m + 9
        let doy = (153 * mp + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// Parses ISO 8601 date-times as clients and services send them: `2026-11-23T09:08:25Z`,
    /// `2026-11-23T09:08:25.123456+02:00`, `2026-11-23 09:08:25`, `2026-11-23` (midnight),
    /// Keystone v2.0's `2026-11-23T09:08:25.123456`. A missing zone means UTC.
    public init?(iso8601 text: String) {
        let b = Array(text.utf8)
        var i = 0
        func digits(_ n: Int) -> Int64? {
            guard i + n <= b.count else { return nil }
            var v: Int64 = 0
            for k in 0..<n {
                let c = b[i + k]
                guard c >= 48, c <= 57 else { return nil }
                v = v * 10 + Int64(c - 48)
            }
            i += n
            return v
        }
        func expect(_ c: Character) -> Bool {
            guard i < b.count, b[i] == c.asciiValue! else { return false }
            i += 1
            return true
        }
        guard let year = digits(4), expect("-"), let month = digits(2), expect("-"), let day = digits(2) else {
            return nil
        }
        guard (1...12).contains(month), (1...31).contains(day) else { return nil }
        var hour: Int64 = 0, minute: Int64 = 0, second: Int64 = 0, micros: Int64 = 0
        var offsetSeconds: Int64 = 0
        if i < b.count {
            guard b[i] == UInt8(ascii: "T") || b[i] == UInt8(ascii: "t") || b[i] == UInt8(ascii: " ") else {
                return nil
            }
            i += 1
            guard let h = digits(2), expect(":"), let mi = digits(2) else { return nil }
            hour = h
            minute = mi
            if expect(":") {
                guard let s = digits(2) else { return nil }
                second = s
                if i < b.count, b[i] == UInt8(ascii: ".") || b[i] == UInt8(ascii: ",") {
                    i += 1
                    var scale: Int64 = 100_000
                    var any = false
                    while i < b.count, b[i] >= 48, b[i] <= 57 {
                        micros += Int64(b[i] - 48) * scale
                        scale /= 10
                        i += 1
                        any = true
                    }
                    guard any else { return nil }
                }
            }
            guard hour < 24, minute < 60, second < 61 else { return nil }
            if i < b.count {
                if b[i] == UInt8(ascii: "Z") || b[i] == UInt8(ascii: "z") {
                    i += 1
                } else if b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
                    let sign: Int64 = b[i] == UInt8(ascii: "-") ? -1 : 1
                    i += 1
                    guard let oh = digits(2) else { return nil }
                    _ = expect(":")
                    let om = digits(2) ?? 0
                    offsetSeconds = sign * (oh * 3600 + om * 60)
                } else {
                    return nil
                }
            }
            guard i == b.count else { return nil }
        }
        let days = Self.days(fromCivil: year, month, day)
        // Reject dates like 2026-02-31 that roll over.
        let (cy, cm, cd) = Self.civil(fromDays: days)
        guard cy == year, cm == month, cd == day else { return nil }
        let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds
        self.microseconds = secs * 1_000_000 + micros
    }
}
