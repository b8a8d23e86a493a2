import OpenStackEncoding
import Synchronization

/// Where the services read the time: the system clock, or in tests a clock moved by hand,
/// so that expiry (tokens, upload leases, retention) is tested without sleeping.
public protocol WallClock: Sendable {
    func now() -> Timestamp
}

/// The system's real-time clock.
public struct SystemClock: WallClock {
    public init() {}
    public func now() -> Timestamp { Timestamp.now() }
}

/// A clock that stands still until moved.
public final class ManualClock: WallClock {
    private let time: Mutex<Timestamp>

    public init(_ start: Timestamp = Timestamp.now()) { time = Mutex(start) }

    public func now() -> Timestamp { time.withLock { $0 } }

    /// Moves the clock forward.
    public func advance(seconds: Int64) {
        time.withLock { $0 = $0.adding(seconds: seconds) }
    }
}
