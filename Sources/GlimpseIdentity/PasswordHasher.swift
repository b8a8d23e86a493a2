import Crypto
import CryptoExtras
import GlimpseCore
import NIOPosix

/// Salted, slow password hashes: PBKDF2-HMAC-SHA512 with 210,000 rounds by default
/// (OWASP's 2023 guidance), stored as `pbkdf2-sha512$<rounds>$<salt hex>$<hash hex>`.
///
/// Hashing takes tens of milliseconds of CPU on purpose, so it runs on a thread pool
/// rather than on the threads that serve requests.
public struct PasswordHasher: Sendable {
    public var rounds: Int

    public init(rounds: Int = 210_000) { self.rounds = rounds }

    /// Hashes a new password with a fresh random salt.
    public func hash(_ password: String) async throws -> String {
        let salt = Identifiers.randomBytes(16)
        let rounds = self.rounds
        let key = try await NIOThreadPool.singleton.runIfActive {
            try Self.derive(password, salt: salt, rounds: rounds)
        }
        return "pbkdf2-sha512$\(rounds)$\(hexString(salt))$\(hexString(key))"
    }

    /// Checks a password against a stored hash, in constant time for the comparison.
    public func verify(_ password: String, against stored: String) async -> Bool {
        let parts = stored.split(separator: "$").map(String.init)
        guard parts.count == 4, parts[0] == "pbkdf2-sha512", let rounds = Int(parts[1]), rounds > 0,
              let salt = Self.bytes(fromHex: parts[2]), let expected = Self.bytes(fromHex: parts[3])
        else { return false }
        guard let key = try? await NIOThreadPool.singleton.runIfActive({
            try Self.derive(password, salt: salt, rounds: rounds)
        }) else { return false }
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

    static func bytes(fromHex hex: String) -> [UInt8]? {
        let u = Array(hex.utf8)
        guard u.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(u.count / 2)
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: c - 48
            case 97...102: c - 87
            case 65...70: c - 55
            default: nil
            }
        }
        var i = 0
        while i < u.count {
            guard let h = nibble(u[i]), let l = nibble(u[i + 1]) else { return nil }
            out.append(h << 4 | l)
            i += 2
        }
        return out
    }
}
