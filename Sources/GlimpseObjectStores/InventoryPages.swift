import GlimpseCore

/// An object store's inventory merges two listings the engine pages on its own: the
/// committed objects, and the uploads still pending (segments without a manifest,
/// multipart uploads not completed). Each listing is complete up to its last entry unless
/// the engine cut it at the limit; a merged page is only sure up to the first cut.
enum InventoryPages {
    /// One merged page: everything up to the first cut (a pending entry whose name is also
    /// committed counts once, as committed), at most `limit`; and where the next page
    /// starts, or nil when both listings ended.
    static func merge(
        committed: [StoredBlob], committedCut: String?, pending: [StoredBlob], pendingCut: String?, limit: Int
    ) -> (blobs: [StoredBlob], next: String?) {
        let bound = [committedCut, pendingCut].compactMap { $0 }.min { before($0, $1) }
        let names = Set(committed.map(\.location))
        var blobs = committed
        var seen = Set<String>()
        for blob in pending where !names.contains(blob.location) && seen.insert(blob.location).inserted {
            blobs.append(blob)
        }
        blobs.sort { before($0.location, $1.location) }
        if let bound { blobs.removeAll { before(bound, $0.location) } }
        if blobs.count > limit { return (Array(blobs.prefix(limit)), blobs[limit - 1].location) }
        return (blobs, bound)
    }

    /// Asks for merged pages after `marker` until `limit` entries or the end: a page shorter
    /// than `limit` means the inventory ended, as the orphan sweep expects.
    static func collect(
        after marker: String?, limit: Int, page: (_ after: String?, _ limit: Int) async throws -> MergedPage
    ) async throws -> [StoredBlob] {
        var blobs: [StoredBlob] = []
        var cursor = marker
        while blobs.count < limit {
            let (more, next) = try await page(cursor, limit - blobs.count)
            blobs += more
            guard let next else { break }
            cursor = next
        }
        return blobs
    }

    typealias MergedPage = (blobs: [StoredBlob], next: String?)

    static func before(_ a: String, _ b: String) -> Bool { a.utf8.lexicographicallyPrecedes(b.utf8) }
}
