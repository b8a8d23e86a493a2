import GlimpseCore
import OpenStackEncoding
import Synchronization

/// Failed password logins, counted per user and per source address over a fixed window.
/// Past a limit, further attempts are refused (429 with `Retry-After`) before the password
/// is hashed, so guessing is slow and costs the server nothing. A successful login clears
/// its user's count. Counts are per server process; memory stays bounded.
public final class LoginThrottle: Sendable {
    public struct Limits: Sendable {
        /// Failures of one user name (or id) within `windowSeconds` before it is throttled.
        public var perUser = 10
        /// Failures from one source address within `windowSeconds` before it is throttled.
        public var perAddress = 100
        public var windowSeconds: Int64 = 300

        public init() {}
    }

    struct Window {
        var start: Timestamp
        var failures: Int
    }

    let limits: Limits
    private let clock: any WallClock
    private let windows = Mutex<[String: Window]>([:])
    /// Entries kept at most; past it, expired windows go, then the oldest.
    static let capacity = 100_000

    public init(limits: Limits = .init(), clock: any WallClock) {
        self.limits = limits
        self.clock = clock
    }

    /// Throws 429 if `user` or `address` has failed too often lately.
    func check(user: String, address: String?) throws(ServiceError) {
        let now = clock.now()
        var wait: Int64 = 0
        windows.withLock { windows in
            for (key, limit) in keys(user: user, address: address) {
                guard let w = windows[key], w.failures >= limit else { continue }
                let ends = w.start.adding(seconds: limits.windowSeconds)
                if ends > now { wait = max(wait, (ends.microseconds - now.microseconds + 999_999) / 1_000_000) }
            }
        }
        if wait > 0 {
            throw ServiceError(
                .tooManyRequests,
                explanation: "Too many failed authentication attempts. Retry in \(wait) seconds.",
                headers: [("Retry-After", String(wait))])
        }
    }

    /// Counts a failed attempt of `user` from `address`.
    func failed(user: String, address: String?) {
        let now = clock.now()
        windows.withLock { windows in
            if windows.count >= Self.capacity { evict(&windows, now: now) }
            for (key, _) in keys(user: user, address: address) {
                if var w = windows[key], w.start.adding(seconds: limits.windowSeconds) > now {
                    w.failures += 1
                    windows[key] = w
                } else {
                    windows[key] = Window(start: now, failures: 1)
                }
            }
        }
    }

    /// Clears `user`'s failures after a successful login (its address's stay counted).
    func succeeded(user: String) {
        _ = windows.withLock { $0.removeValue(forKey: "user:" + user) }
    }

    private func keys(user: String, address: String?) -> [(String, Int)] {
        [("user:" + user, limits.perUser)] + (address.map { [("address:" + $0, limits.perAddress)] } ?? [])
    }

    private func evict(_ windows: inout [String: Window], now: Timestamp) {
        windows = windows.filter { $0.value.start.adding(seconds: limits.windowSeconds) > now }
        if windows.count >= Self.capacity {
            let oldest = windows.sorted { $0.value.start < $1.value.start }.prefix(windows.count / 2)
            for (key, _) in oldest { windows.removeValue(forKey: key) }
        }
    }
}
