import Foundation
import OpenStackEncoding

extension Timestamp {
    /// The instant of a `Date`, to the microsecond.
    public init(_ date: Date) {
        self.init(microseconds: Int64((date.timeIntervalSince1970 * 1_000_000).rounded(.down)))
    }

    public var date: Date { Date(timeIntervalSince1970: Double(microseconds) / 1_000_000) }
}

/// A date as OpenStack services write it (see `Timestamp(iso8601:)` for the forms read).
func parseDate(_ text: String) -> Date? { Timestamp(iso8601: text)?.date }

/// `YYYY-MM-DDThh:mm:ssZ`, as the image API takes it in filters.
func formatDate(_ date: Date) -> String { Timestamp(date).iso8601 }
