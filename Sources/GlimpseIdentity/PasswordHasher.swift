import Crypto
import CryptoExtras
import GlimpseCore
import NIOPosix
import OpenStackEncoding

/// Salted, slow password hashes: PBKDF2-HMAC-SHA512 with 210,000 rounds by default
/// (OWASP's 2023 guidance), stored as `pbkdf2-sha512$<rounds>$<salt hex>$<hash hex>`.
///
/// Hashing takes tens of milliseconds of CPU on purpose, so it runs on the thread pool given
/// rather than on the threads that serve requests.
public struct PasswordHasher: Sendable {
    public var rounds: Int

    public init(rounds: Int = 210_000) { self.rounds = rounds }

    /// Hashes a new password with a fresh random salt.
    public func hash(_ password: String, on pool: NIOThreadPool) async throws -> String {
        let salt = Identifiers.randomBytes(16)
        let rounds = self.rounds
        let key = try await pool.runIfActive {
            try Self.derive(password, salt: salt, rounds: rounds)
        }
        return "pbkdf2-sha512$\(rounds)$\(Hex.encode(salt))$\(Hex.encode(key))"
    }

    /// Checks a password against a stored hash, in constant time for the comparison.
    public func verify(_ password: String, against stored: String, on pool: NIOThreadPool) async -> Bool {
        let parts = stored.split(separator: "$").map(String.init)
        guard parts.count == 4, parts[0] == "pbkdf2-sha512", let rounds = Int(parts[1]), rounds > 0,
            let salt = Hex.decode(parts[2]), let expected = Hex.decode(parts[3])
        else { return false }
        guard
            let key = try? await pool.runIfActive({
                try Self.derive(password, salt: salt, rounds: rounds)
            })
        else { return false }
        guard key.count == expected.count else { return false }
        var diff: UInt8 = 0
        for (a, b) in zip(key, expected) { diff |= a ^ b }
        return diff == 0
    }

    static func derive(_ password: String, salt: [UInt8], rounds: Int) throws -> [UInt8] {
        let key = try KDF.Insecure.PBKDF2.deriveKey(
            from: Array(password.utf8), salt: salt, using: .sha512, outputByteCount: 32, unsafeUncheckedRounds: rounds)
        return key.withUnsafeBytes { Array($0) }
    }
}
