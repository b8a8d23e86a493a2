import OpenStackEncoding
import Synchronization

/// Keeps the lease of one upload alive while its data arrives: in the background it records
/// the bytes received so far and pushes the expiry forward, every progress interval while
/// bytes arrive and at least every quarter of the lease time while the client is slow.
/// A lease that is gone (the image was deleted, or another process decided this one had died)
/// marks the upload as lost, and the upload stops.
final class UploadLeaseKeeper: Sendable {
    private struct State {
        /// The lease as last written to the store.
        var lease: UploadLease
        var received = 0
        var lost = false
        var lastWrite: Timestamp
    }

    private let state: Mutex<State>
    private let task = Mutex<Task<Void, Never>?>(nil)
    private let store: any ImageStore
    private let clock: any WallClock
    private let leaseSeconds: Int64

    init(lease: UploadLease, store: any ImageStore, clock: any WallClock, leaseSeconds: Int64, interval: Duration) {
        state = Mutex(State(lease: lease, lastWrite: clock.now()))
        self.store = store
        self.clock = clock
        self.leaseSeconds = leaseSeconds
        let running = Task { [self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                if Task.isCancelled { return }
                await renewIfDue()
            }
        }
        task.withLock { $0 = running }
    }

    private func renewIfDue() async {
        let now = clock.now()
        let renewEvery = leaseSeconds * 1_000_000 / 4
        let due: UploadLease? = state.withLock { s in
            guard !s.lost, s.received != s.lease.received || now.microseconds - s.lastWrite.microseconds >= renewEvery
            else { return nil }
            var next = s.lease
            next.received = s.received
            next.expiresAt = now.adding(seconds: leaseSeconds)
            return next
        }
        guard let due else { return }
        do {
            let held = try await store.renewLease(due)
            state.withLock { s in
                if held {
                    s.lease = due
                    s.lastWrite = now
                } else {
                    s.lost = true
                }
            }
        } catch {
            // The store is unreachable: the lease keeps its old expiry; the next tick tries again.
        }
    }

    /// Notes the bytes received so far.
    func received(_ bytes: Int) {
        state.withLock { $0.received = bytes }
    }

    /// Whether the store no longer holds the lease for this upload.
    var isLost: Bool { state.withLock { $0.lost } }

    /// Stops renewing; returns the lease as the store last recorded it.
    func stop() async -> UploadLease {
        let running = task.withLock { t in
            defer { t = nil }
            return t
        }
        running?.cancel()
        await running?.value
        return state.withLock { $0.lease }
    }
}
