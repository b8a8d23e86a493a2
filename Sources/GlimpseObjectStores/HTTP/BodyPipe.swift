import NIOCore
import Synchronization

/// Hands the chunks of an upload to a request body that is being sent: the sender may run
/// one chunk ahead of the request, then waits until the request has taken it, so a slow
/// object store slows the upload instead of filling memory.
///
/// One task sends, the HTTP client pulls. `finish()` ends the body; `close(_:)` (the request
/// ended, or the upload was abandoned) makes a waiting or later `send` throw.
final class BodyPipe: AsyncSequence, Sendable {
    typealias Element = ByteBuffer

    private struct State {
        /// The chunk the request takes next.
        var queued: ByteBuffer?
        /// A sender waiting because `queued` is taken, with its chunk.
        var waiting: (chunk: ByteBuffer, sender: CheckedContinuation<Void, any Error>)?
        /// The request waiting for a chunk.
        var reader: CheckedContinuation<ByteBuffer?, any Error>?
        var finished = false
        var closed: (any Error)?
    }

    private let state = Mutex(State())

    /// Passes a chunk on; waits while the request still has the previous one to take.
    func send(_ chunk: ByteBuffer) async throws {
        try await withCheckedThrowingContinuation { (sender: CheckedContinuation<Void, any Error>) in
            enum Action {
                case handOver(CheckedContinuation<ByteBuffer?, any Error>)
                case done
                case fail(any Error)
                case wait
            }
            let action = state.withLock { s -> Action in
                if let error = s.closed { return .fail(error) }
                if let reader = s.reader {
                    s.reader = nil
                    return .handOver(reader)
                }
                if s.queued == nil {
                    s.queued = chunk
                    return .done
                }
                s.waiting = (chunk, sender)
                return .wait
            }
            switch action {
            case .handOver(let reader):
                reader.resume(returning: chunk)
                sender.resume()
            case .done: sender.resume()
            case .fail(let error): sender.resume(throwing: error)
            case .wait: break
            }
        }
    }

    /// Ends the body once the request has taken what was sent.
    func finish() {
        let reader = state.withLock { s -> CheckedContinuation<ByteBuffer?, any Error>? in
            s.finished = true
            guard s.queued == nil else { return nil }
            defer { s.reader = nil }
            return s.reader
        }
        reader?.resume(returning: nil)
    }

    /// Stops the transfer: a sender waiting now or sending later gets `error`, and so does
    /// the request if it is still reading.
    func close(_ error: any Error) {
        let (sender, reader) = state.withLock { s in
            if s.closed == nil { s.closed = error }
            defer {
                s.waiting = nil
                s.reader = nil
                s.queued = nil
            }
            return (s.waiting?.sender, s.reader)
        }
        sender?.resume(throwing: error)
        reader?.resume(throwing: error)
    }

    /// The request's side: the next chunk, waiting for the sender if need be; nil at the end.
    func next() async throws -> ByteBuffer? {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (reader: CheckedContinuation<ByteBuffer?, any Error>) in
                enum Action {
                    case take(ByteBuffer, CheckedContinuation<Void, any Error>?)
                    case end
                    case fail(any Error)
                    case wait
                }
                let action = state.withLock { s -> Action in
                    if let chunk = s.queued {
                        s.queued = s.waiting?.chunk
                        defer { s.waiting = nil }
                        return .take(chunk, s.waiting?.sender)
                    }
                    if let error = s.closed { return .fail(error) }
                    if s.finished { return .end }
                    s.reader = reader
                    return .wait
                }
                switch action {
                case .take(let chunk, let sender):
                    sender?.resume()
                    reader.resume(returning: chunk)
                case .end: reader.resume(returning: nil)
                case .fail(let error): reader.resume(throwing: error)
                case .wait: break
                }
            }
        } onCancel: {
            self.close(CancellationError())
        }
    }

    struct AsyncIterator: AsyncIteratorProtocol {
        let pipe: BodyPipe
        mutating func next() async throws -> ByteBuffer? { try await pipe.next() }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(pipe: self) }
}
