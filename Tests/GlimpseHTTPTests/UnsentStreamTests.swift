import GlimpseCore
import Synchronization
import Testing

@testable import GlimpseHTTP

@Suite("A download's stream when its response body never runs")
struct UnsentStreamTests {
    @Test("cancelled if the body never took it (the client left before the head); the body's to end otherwise")
    func cancelledUnlessTaken() {
        let cancels = Atomic<Int>(0)
        func stream() -> ByteStream {
            ByteStream(pull: { nil }, onCancel: { cancels.add(1, ordering: .relaxed) })
        }
        do { _ = UnsentStream(stream()) }
        #expect(cancels.load(ordering: .relaxed) == 1)
        do {
            let unsent = UnsentStream(stream())
            _ = unsent.take()
        }
        #expect(cancels.load(ordering: .relaxed) == 1)
    }
}
