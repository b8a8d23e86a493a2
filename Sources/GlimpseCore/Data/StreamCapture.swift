/// Keeps the byte ranges ("windows") of a stream that an inspection asked for, as the stream
/// passes, and optionally its last bytes; every other byte goes by untouched. Memory is the
/// sum of the windows asked for, whatever the stream's length.
///
/// A window completes at a fixed stream offset (its end), and the stream is consumed up to
/// exactly that offset before the caller sees the completion, so what the caller asks for
/// next, and what it gets, never depends on how the stream was cut into chunks.
struct StreamCapture<Key: Hashable & Sendable>: Sendable {
    struct Window: Sendable {
        let offset: Int
        let length: Int
        /// The bytes from `offset` on, as far as they have passed.
        var bytes: [UInt8] = []
        /// The stream had passed part of it, unkept, when it was asked for.
        var unobtainable = false
        var isComplete: Bool { bytes.count == length }
        var end: Int { offset + length }
    }

    /// Bytes consumed so far.
    private(set) var position = 0
    private(set) var windows: [Key: Window] = [:]
    /// Windows still filling, and the offset where the first of them completes.
    private var filling: [Key] = []
    private var nextEnd = Int.max
    private var tailLength = 0
    private var tailBytes: [UInt8] = []

    subscript(key: Key) -> Window? { windows[key] }

    /// Bytes held: the windows and the tail.
    var keptBytes: Int { windows.values.reduce(tailBytes.count) { $0 + $1.bytes.count } }

    /// The last bytes of the stream (up to the length asked for by `keepTail`).
    var tail: [UInt8] { Array(tailBytes.suffix(tailLength)) }

    /// Asks for `length` bytes at `offset`. Bytes the stream has already passed are taken from
    /// the windows kept so far; if some were not kept, the window can never complete. Returns
    /// true when the window is complete at once.
    mutating func want(_ key: Key, offset: Int, length: Int) -> Bool {
        var window = Window(offset: offset, length: max(0, length))
        if offset < position {
            let upTo = min(window.end, position)
            window.bytes = kept(from: offset, upTo: upTo)
            window.unobtainable = window.bytes.count < upTo - offset
        }
        windows[key] = window
        if window.isComplete { return true }
        if !window.unobtainable {
            filling.append(key)
            nextEnd = min(nextEnd, window.end)
        }
        return false
    }

    /// Keeps the last `length` bytes of the stream from now on (seeded with the kept bytes just
    /// before the current position).
    mutating func keepTail(_ length: Int) {
        tailLength = length
        let seed = kept(from: max(0, position - length), upTo: position)
        tailBytes = seed.count == min(length, position) ? seed : []
    }

    /// Nothing is wanted from the bytes to come: they only need counting (`skip`).
    var isIdle: Bool { filling.isEmpty && tailLength == 0 }

    /// Counts `n` bytes that nothing wants.
    mutating func skip(_ n: Int) {
        precondition(isIdle, "skipping bytes a window wants")
        position += n
    }

    /// Consumes bytes from the front of `rest`: all of them, or up to the offset where a window
    /// completes. Returns the windows completed there.
    mutating func consume(_ rest: inout Slice<UnsafeRawBufferPointer>) -> [Key] {
        let n = min(rest.count, nextEnd - position)
        let piece = UnsafeRawBufferPointer(rebasing: rest.prefix(n))
        rest = rest.dropFirst(n)
        if tailLength > 0 { appendTail(piece) }
        guard !filling.isEmpty else {
            position += n
            return []
        }
        for key in filling { windows[key]?.append(piece, at: position) }
        position += n
        guard position == nextEnd else { return [] }
        let windows = self.windows
        let done = filling.filter { windows[$0]?.isComplete ?? true }
        filling.removeAll { windows[$0]?.isComplete ?? true }
        nextEnd = filling.compactMap { windows[$0]?.end }.min() ?? .max
        return done
    }

    /// The kept bytes from `from` on, contiguous, up to `upTo` at most.
    private func kept(from: Int, upTo: Int) -> [UInt8] {
        var out: [UInt8] = []
        var at = from
        while at < upTo,
            let w = windows.values.first(where: { $0.offset <= at && at < $0.offset + $0.bytes.count })
        {
            let stop = min(upTo, w.offset + w.bytes.count)
            out += w.bytes[(at - w.offset)..<(stop - w.offset)]
            at = stop
        }
        return out
    }

    private mutating func appendTail(_ piece: UnsafeRawBufferPointer) {
        if piece.count >= tailLength {
            tailBytes.removeAll(keepingCapacity: true)
            tailBytes.append(contentsOf: piece.suffix(tailLength))
        } else {
            tailBytes.append(contentsOf: piece)
            if tailBytes.count > 2 * tailLength { tailBytes.removeFirst(tailBytes.count - tailLength) }
        }
    }
}

extension StreamCapture.Window {
    /// Takes the part of `piece` (stream bytes from `position`) that belongs here.
    fileprivate mutating func append(_ piece: UnsafeRawBufferPointer, at position: Int) {
        let from = max(position, offset + bytes.count)
        let to = min(position + piece.count, end)
        guard from < to else { return }
        bytes.append(contentsOf: piece[(from - position)..<(to - position)])
    }
}
