import Logging
import ServiceLifecycle

/// Runs a job at a fixed interval until the service group shuts down. A failure is logged
/// and the job runs again at the next interval.
struct PeriodicJob: Service {
    let name: String
    let every: Duration
    let after: Duration
    let logger: Logger
    let job: @Sendable () async throws -> Void

    /// - Parameter after: the wait before the first run (none by default).
    init(
        name: String, every: Duration, after: Duration = .zero, logger: Logger,
        job: @escaping @Sendable () async throws -> Void
    ) {
        self.name = name
        self.every = every
        self.after = after
        self.logger = logger
        self.job = job
    }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            if after > .zero { try? await Task.sleep(for: after) }
            while !Task.isCancelled {
                do {
                    try await job()
                } catch {
                    logger.warning("background job failed", metadata: ["job": "\(name)", "error": "\(error)"])
                }
                try? await Task.sleep(for: every)
            }
        }
    }
}
