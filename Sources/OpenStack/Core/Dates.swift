import Foundation

/// Parses the ISO 8601 forms OpenStack services write: `2026-11-23T09:08:25Z`,
/// `…25.123456Z`, `…25.123456` (Keystone v2, UTC), `…25+02:00`.
func parseDate(_ text: String) -> Date? {
    let b = Array(text.utf8)
    var i = 0
    func num(_ n: Int) -> Int? {
        guard i + n <= b.count else { return nil }
        var v = 0
        for k in 0..<n {
            let c = b[i + k]
            guard c >= 48, c <= 57 else { return nil }
            v = v * 10 + Int(c - 48)
        }
        i += n
        return v
    }
    func skip(_ c: Character) -> Bool {
        guard i < b.count, b[i] == c.asciiValue! else { return false }
        i += 1
        return true
    }
    guard let y = num(4), skip("-"), let mo = num(2), skip("-"), let d = num(2) else { return nil }
    var h = 0, mi = 0, se = 0, frac = 0.0, offset = 0
    if i < b.count, b[i] == UInt8(ascii: "T") || b[i] == UInt8(ascii: " ") {
        i += 1
        guard let hh = num(2), skip(":"), let mm = num(2) else { return nil }
        h = hh
        mi = mm
        if skip(":") {
            guard let ss = num(2) else { return nil }
            se = ss
            if skip(".") {
                var scale = 0.1
                while i < b.count, b[i] >= 48, b[i] <= 57 {
                    frac += Double(b[i] - 48) * scale
                    scale /= 10
                    i += 1
                }
            }
        }
        if skip("Z") || skip("z") {
        } else if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
            let sign = b[i] == UInt8(ascii: "-") ? -1 : 1
            i += 1
            guard let oh = num(2) else { return nil }
            _ = skip(":")
            offset = sign * (oh * 3600 + (num(2) ?? 0) * 60)
        }
    }
    guard i == b.count, (1...12).contains(mo), (1...31).contains(d) else { return nil }
    // Days from the civil date (proleptic Gregorian).
    let yy = mo <= 2 ? y - 1 : y
    let era = (yy >= 0 ? yy : yy - 399) / 400
    let yoe = yy - era * 400
    let mp = mo > 2 ? mo - 3 : mo + 9
    let doy = (153 * mp + 2) / 5 + d - 1
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
    let days = era * 146_097 + doe - 719_468
    let seconds = Double(days * 86_400 + h * 3600 + mi * 60 + se - offset) + frac
    return Date(timeIntervalSince1970: seconds)
}

/// `YYYY-MM-DDThh:mm:ssZ`.
func formatDate(_ date: Date) -> String {
    var secs = Int(date.timeIntervalSince1970.rounded(.down))
    let days = secs >= 0 ? secs / 86_400 : (secs - 86_399) / 86_400
    secs -= days * 86_400
    let z = days + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let doe = z - era * 146_097
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
    let mp = (5 * doy + 2) / 153
    let d = doy - (153 * mp + 2) / 5 + 1
    let m = mp < 10 ? mp + 3 : mp - 9
    let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
    func p(_ v: Int, _ w: Int) -> String { String(repeating: "0", count: max(0, w - String(v).count)) + String(v) }
    return "\(p(y, 4))-\(p(m, 2))-\(p(d, 2))T\(p(secs / 3600, 2)):\(p(secs / 60 % 60, 2)):\(p(secs % 60, 2))Z"
}
