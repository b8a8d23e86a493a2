/// One page of a listing: its items and the server's link to the next page, if any.
struct Page<Item: Sendable>: Sendable {
    var items: [Item]
    var next: String?
}

/// The pages of a listing, fetched as they are iterated: the first request, then the
/// server's `next` links until there is none — or until a link comes back that was already
/// followed, which a server that ignores the marker would otherwise send forever.
struct Paginator<Item: Sendable>: AsyncSequence, Sendable {
    typealias Element = [Item]
    let first: @Sendable () async throws -> Page<Item>
    let follow: @Sendable (String) async throws -> Page<Item>

    struct AsyncIterator: AsyncIteratorProtocol {
        let paginator: Paginator
        var started = false
        var link: String?
        var followed: Set<String> = []

        mutating func next() async throws -> [Item]? {
            let page: Page<Item>
            if !started {
                started = true
                page = try await paginator.first()
            } else if let link {
                page = try await paginator.follow(link)
            } else {
                return nil
            }
            link = page.next.flatMap { followed.insert($0).inserted ? $0 : nil }
            return page.items
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(paginator: self) }
}

/// The items of a paginator's pages one by one, up to `maxItems`.
struct PaginatedItems<Item: Sendable>: AsyncSequence, Sendable {
    typealias Element = Item
    let pages: Paginator<Item>
    let maxItems: Int?

    struct AsyncIterator: AsyncIteratorProtocol {
        var pages: Paginator<Item>.AsyncIterator
        let maxItems: Int?
        var buffer: [Item] = []
        var index = 0
        var returned = 0

        mutating func next() async throws -> Item? {
            if let maxItems, returned >= maxItems { return nil }
            while index >= buffer.count {
                guard let page = try await pages.next() else { return nil }
                buffer = page
                index = 0
            }
            defer {
                index += 1
                returned += 1
            }
            return buffer[index]
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(pages: pages.makeAsyncIterator(), maxItems: maxItems) }
}
