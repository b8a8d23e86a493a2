import GlimpseCore
import GlimpseIdentity
import GlimpseTestSupport
import Testing

/// Failed logins are throttled per user and per address, and refusing an unknown user takes
/// as long as refusing a wrong password.
@Suite("Login throttling")
struct LoginThrottleTests {
    @Test(
        "after perUser failures a user gets 429 with Retry-After, even with the right password, until the window ends")
    func perUser() async throws {
        let clock = ManualClock()
        try await TestApp.with({
            $0.clock = clock
            $0.identity.loginLimits.perUser = 3
            $0.identity.loginLimits.windowSeconds = 60
        }) { s in
            let admin = try await s.adminToken()
            _ = try await s.makeUser("carol", project: "p", admin: admin)
            for _ in 0..<3 { #expect(try await s.passwordLogin(user: "carol", password: "wrong").status == 401) }
            let refused = try await s.passwordLogin(user: "carol", password: "pw-carol")
            #expect(refused.status == 429)
            #expect(refused.header("Retry-After") == "60")
            #expect(try refused.json["error"]?["code"]?.intValue == 429)
            // Others are not affected.
            #expect(try await s.passwordLogin(user: "admin", password: adminPassword).status == 201)
            clock.advance(seconds: 61)
            #expect(try await s.passwordLogin(user: "carol", password: "pw-carol").status == 201)
            // A success clears the count.
            for _ in 0..<2 { #expect(try await s.passwordLogin(user: "carol", password: "wrong").status == 401) }
            #expect(try await s.passwordLogin(user: "carol", password: "pw-carol").status == 201)
            for _ in 0..<2 { #expect(try await s.passwordLogin(user: "carol", password: "wrong").status == 401) }
            #expect(try await s.passwordLogin(user: "carol", password: "pw-carol").status == 201)
        }
    }

    @Test("one address guessing many names is throttled per address")
    func perAddress() async throws {
        try await TestServer.with({ $0.identity.loginLimits.perAddress = 5 }) { s in
            for i in 0..<5 { #expect(try await s.passwordLogin(user: "nobody-\(i)", password: "x").status == 401) }
            let refused = try await s.passwordLogin(user: "nobody-99", password: "x")
            #expect(refused.status == 429)
            #expect(refused.header("Retry-After") != nil)
        }
    }

    @Test("an unknown user is refused no faster than a wrong password (both hash)")
    func unknownUserTiming() async throws {
        try await TestApp.with({ $0.identity.passwordHasher = PasswordHasher(rounds: 200_000) }) { s in
            func median(_ user: String) async throws -> Duration {
                var times: [Duration] = []
                for _ in 0..<3 {
                    let start = ContinuousClock.now
                    #expect(try await s.passwordLogin(user: user, password: "wrong").status == 401)
                    times.append(ContinuousClock.now - start)
                }
                return times.sorted()[1]
            }
            let wrongPassword = try await median("admin")
            let unknown = try await median("no-such-user")
            // Without the decoy hash the unknown user's refusal took under 1 % of the other's.
            #expect(unknown * 2 > wrongPassword, "unknown \(unknown), wrong password \(wrongPassword)")
        }
    }
}
