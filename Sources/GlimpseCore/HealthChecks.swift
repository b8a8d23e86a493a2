import Synchronization

/// What a server depends on, probed for `/healthcheck`: the metadata database and each
/// image store. A load balancer takes a node whose database is gone out of rotation.
public struct HealthChecks: Sendable {
    /// One dependency and how to probe it.
    public struct Probe: Sendable {
        /// `database`, or the store's id.
        public var name: String
        /// `database` or `store`.
        public var kind: String
        /// Its backend (`postgresql`, `file`, …).
        public var backend: String
        public var check: @Sendable () async throws -> Void

        public init(name: String, kind: String, backend: String, check: @escaping @Sendable () async throws -> Void) {
            self.name = name
            self.kind = kind
            self.backend = backend
            self.check = check
        }
    }

    /// How a probe went.
    public struct Result: Sendable {
        public var probe: Probe
        /// Nil when healthy; else why not.
        public var failure: String?
        public var milliseconds: Double
        public var healthy: Bool { failure == nil }
    }

    public let probes: [Probe]
    /// A probe that has not answered by then counts as failed.
    public let timeout: Duration

    public init(_ probes: [Probe], timeout: Duration = .seconds(3)) {
        self.probes = probes
        self.timeout = timeout
    }

    /// Runs every probe at once; returns within `timeout` even if a probe hangs.
    public func run() async -> [Result] {
        await withTaskGroup(of: (Int, Result).self) { group in
            for (i, probe) in probes.enumerated() {
                group.addTask { (i, await Self.run(probe, timeout: timeout)) }
            }
            var results: [Result?] = Array(repeating: nil, count: probes.count)
            for await (i, r) in group { results[i] = r }
            return results.compactMap { $0 }
        }
    }

    static func run(_ probe: Probe, timeout: Duration) async -> Result {
        let clock = ContinuousClock()
        let start = clock.now
        let failure: String? = await withCheckedContinuation { continuation in
            // The first of the probe and the timer answers; a hung probe is left behind.
            let once = Once()
            @Sendable func answer(_ failure: String?) {
                if once.first() { continuation.resume(returning: failure) }
            }
            let timer = Task {
                try await Task.sleep(for: timeout)
                answer("no answer within \(timeout)")
            }
            Task {
                do {
                    try await probe.check()
                    answer(nil)
                } catch {
                    answer("\(error)")
                }
                timer.cancel()
            }
        }
        let elapsed = clock.now - start
        let ms = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        return Result(probe: probe, failure: failure, milliseconds: ms)
    }
}

/// True for the first caller only.
private final class Once: Sendable {
    private let done = Atomic<Bool>(false)
    func first() -> Bool { !done.exchange(true, ordering: .acquiringAndReleasing) }
}
