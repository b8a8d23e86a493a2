/// A stored object that is a file of this machine, open for reading: the server sends it
/// to a socket straight from the page cache (`sendfile`) instead of copying it through
/// memory. The descriptor stays open as long as the value lives.
public protocol StoredFile: AnyObject, Sendable {
    /// The open descriptor.
    var descriptor: Int32 { get }
    /// Bytes in the file.
    var size: Int { get }
    /// Returns once the bytes of `range` are in memory (the page cache), read from disk on
    /// a thread of the store's if they were not, so that a send never waits for the disk on
    /// the thread that serves the connection.
    func load(_ range: Range<Int>) async throws
}
