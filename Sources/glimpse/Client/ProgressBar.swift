import Foundation
import OpenStack
import Synchronization

/// A one-line progress bar on standard error: bytes, percent, rate.
final class ProgressBar: Sendable {
    let enabled: Bool
    let label: String
    private struct State {
        var start = ContinuousClock.now
        var lastDraw = ContinuousClock.now - .seconds(1)
        var last: TransferProgress?
        var drew = false
    }
    private let state = Mutex(State())

    /// Whether standard error is a terminal (where a bar can redraw itself).
    static var terminal: Bool { isatty(2) == 1 }

    init(enabled: Bool, label: String) {
        self.enabled = enabled
        self.label = label
    }

    /// Records progress; redraws at most ten times a second.
    var update: @Sendable (TransferProgress) -> Void {
        { [self] p in
            guard enabled else { return }
            let now = ContinuousClock.now
            let line: String? = state.withLock { s in
                if s.last == nil { s.start = now }
                s.last = p
                let complete = p.total.map { p.bytes >= $0 } ?? false
                guard now - s.lastDraw >= .milliseconds(100) || complete else { return nil }
                s.lastDraw = now
                s.drew = true
                return render(p, elapsed: now - s.start)
            }
            if let line { FileHandle.standardError.write(Data(("\r" + line).utf8)) }
        }
    }

    /// Ends the bar's line.
    func finish() {
        guard enabled else { return }
        let (drew, last, start) = state.withLock { ($0.drew, $0.last, $0.start) }
        guard drew, let last else { return }
        FileHandle.standardError.write(Data(("\r" + render(last, elapsed: ContinuousClock.now - start) + "\n").utf8))
    }

    func render(_ p: TransferProgress, elapsed: Duration) -> String {
        let seconds = max(0.001, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        let rate = Self.bytes(Int64(Double(p.bytes) / seconds)) + "/s"
        if let fraction = p.fraction {
            let width = 30
            let filled = Int(fraction * Double(width))
            let bar = String(repeating: "=", count: filled) + String(repeating: " ", count: width - filled)
            return "\(label) [\(bar)] \(Int(fraction * 100))% \(Self.bytes(p.bytes)) \(rate)   "
        }
        return "\(label) \(Self.bytes(p.bytes)) \(rate)   "
    }

    /// `1.5 GiB`-style sizes.
    static func bytes(_ n: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var v = Double(n)
        var u = 0
        while v >= 1024, u < units.count - 1 {
            v /= 1024
            u += 1
        }
        return u == 0 ? "\(n) B" : String(format: "%.1f %@", v, units[u])
    }
}
