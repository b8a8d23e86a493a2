#if RBD
import CRBD
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Waits for an asynchronous librados operation without holding a thread: the operation is
/// started on the thread pool, and its completion callback resumes the waiting task.
enum RadosCompletion {
    final class Waiter: Sendable {
        let continuation: CheckedContinuation<Int32, Never>
        init(_ continuation: CheckedContinuation<Int32, Never>) { self.continuation = continuation }
    }

    /// The callback's argument: the retained waiter.
    struct Argument: @unchecked Sendable {
        let pointer: UnsafeMutableRawPointer
    }

    /// Starts an operation with `start` (which returns what the librados call returned) and
    /// returns the operation's result: a negative errno on failure.
    static func wait(
        on threads: NIOThreadPool, _ start: @escaping @Sendable (rados_completion_t) -> Int32
    ) async -> Int32 {
        await withCheckedContinuation { continuation in
            // Released by the callback, or below if the operation never starts.
            let argument = Argument(pointer: Unmanaged.passRetained(Waiter(continuation)).toOpaque())
            threads.submit { state in
                var completion: rados_completion_t?
                var r = -ESHUTDOWN
                if case .active = state { r = rados_aio_create_completion2(argument.pointer, completed, &completion) }
                if r >= 0, let completion {
                    r = start(completion)
                    if r >= 0 { return }
                    rados_aio_release(completion)
                }
                Unmanaged<Waiter>.fromOpaque(argument.pointer).takeRetainedValue().continuation.resume(returning: r)
            }
        }
    }
}

/// librados's completion callback (on one of its threads).
private func completed(_ completion: rados_completion_t?, _ argument: UnsafeMutableRawPointer?) {
    let waiter = Unmanaged<RadosCompletion.Waiter>.fromOpaque(argument!).takeRetainedValue()
    let r = rados_aio_get_return_value(completion)
    rados_aio_release(completion)
    waiter.continuation.resume(returning: r)
}
#endif
