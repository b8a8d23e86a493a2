#if RBD
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Errors of the RBD store.
public enum RBDError: Error, CustomStringConvertible, Sendable {
    /// A librados or librbd call failed: what was done, and the negative errno it returned.
    case call(String, Int32)
    /// Settings (or a store URL) that cannot be used.
    case configuration(String)
    /// A location (or image id) that cannot name an image of this store.
    case badLocation(String)
    /// The store was closed.
    case storeClosed
    /// The writer committed or aborted already.
    case writerClosed

    public var description: String {
        switch self {
        case .call(let what, let code): "\(what): \(String(cString: strerror(-code)))"
        case .configuration(let message): message
        case .badLocation(let l): "not a location of this store: \(l)"
        case .storeClosed: "the RBD store is closed"
        case .writerClosed: "the writer is closed"
        }
    }
}

/// Throws if a librados or librbd return value is an error (negative errno); returns it otherwise.
@discardableResult
func check<T: BinaryInteger>(_ result: T, _ what: @autoclosure () -> String) throws(RBDError) -> T {
    guard result >= 0 else { throw .call(what(), Int32(result)) }
    return result
}
#endif
