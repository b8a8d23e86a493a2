import Testing

@testable import GlimpseSQL

@Suite("the counts recent lists were planned by")
struct RecentCountsTests {
    let rows = SQLStatement("SELECT 1 FROM image_tags d WHERE d.tag = ?", [.text("group-3")])
    let start = ContinuousClock.now

    @Test("a count tells whether a cap is met while it is recent")
    func recent() {
        let counts = RecentCounts(lifetime: .seconds(30))
        #expect(counts.reaches(rows, cap: 100, now: start) == nil)
        // An exact count (below its cap) answers for any cap.
        counts.record(rows, count: 40, cap: 100, now: start)
        #expect(counts.reaches(rows, cap: 100, now: start + .seconds(1)) == false)
        #expect(counts.reaches(rows, cap: 40, now: start + .seconds(1)) == true)
        #expect(counts.reaches(rows, cap: 100, now: start + .seconds(30)) == nil)
        // A count stopped at its cap answers for that cap and lower ones only.
        counts.record(rows, count: 100, cap: 100, now: start)
        #expect(counts.reaches(rows, cap: 90, now: start) == true)
        #expect(counts.reaches(rows, cap: 100, now: start) == true)
        #expect(counts.reaches(rows, cap: 101, now: start) == nil)
        // Other rows, or the same text with other values, are other counts.
        #expect(counts.reaches(SQLStatement(rows.sql, [.text("group-4")]), cap: 100, now: start) == nil)
    }

    @Test("past its capacity it keeps the recent counts")
    func capacity() {
        let counts = RecentCounts(lifetime: .seconds(30), capacity: 2)
        let other = SQLStatement(rows.sql, [.text("other")])
        let third = SQLStatement(rows.sql, [.text("third")])
        counts.record(rows, count: 1, cap: 100, now: start)
        counts.record(other, count: 2, cap: 100, now: start + .seconds(20))
        counts.record(third, count: 3, cap: 100, now: start + .seconds(40))
        #expect(counts.reaches(rows, cap: 100, now: start + .seconds(40)) == nil)
        #expect(counts.reaches(other, cap: 100, now: start + .seconds(40)) == false)
        #expect(counts.reaches(third, cap: 3, now: start + .seconds(40)) == true)
    }
}
