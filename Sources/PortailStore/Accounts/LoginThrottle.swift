import Foundation
import Logging
import PostgresNIO
#if canImport(Glibc)
import Glibc
#endif

/// Slows down guessing and mail flooding without letting anyone lock a family out. Failures are
/// counted per key and forgotten after `Rule.window` without a failure; past a rule's free failures
/// each further failure blocks the key for longer, up to the rule's maximum.
///
/// The login counts two keys: the pair (login address, client address), across the federation
/// (`chargeLogin`), charged before the password is checked so that a burst of parallel guesses cannot
/// slip through, and cleared by a success; and the client address at the center, across accounts.
/// There is no block on the account alone: it would let anyone lock a family out. A distributed guess
/// is slowed by the pairs (5 tries per address, then doubling waits), by bcrypt, and by the password
/// rules. IPv6 clients count by /64, the block one subscriber owns.
public enum LoginThrottle {
    public struct Rule: Sendable {
        public var freeFailures: Int
        public var firstBlock: TimeInterval
        public var maxBlock: TimeInterval
        /// Failures older than this (counted from the last one) are forgotten.
        public var window: TimeInterval = 3600
    }

    /// One client guessing one account: 5 tries, then 30 s, 1 min, 2 min ... up to 15 min.
    public static let pair = Rule(freeFailures: 5, firstBlock: 30, maxBlock: 15 * 60)
    /// One client guessing many accounts: 100 failures (a school or a town hall behind one address has
    /// many families), then 1 min, doubling up to 10 min.
    public static let address = Rule(freeFailures: 100, firstBlock: 60, maxBlock: 10 * 60)
    /// "Mot de passe oublié": 3 mails an hour to one account, 50 requests an hour from one client.
    public static let resetAccount = Rule(freeFailures: 3, firstBlock: 3600, maxBlock: 3600)
    public static let resetAddress = Rule(freeFailures: 50, firstBlock: 3600, maxBlock: 3600)

    /// "Mot de passe oublié" across the federation: 5 mails an hour to one person, whichever of their
    /// centers is asked (each center also keeps its own 3), counted under the client `resetMails`.
    public static let resetPerson = Rule(freeFailures: 5, firstBlock: 3600, maxBlock: 3600)
    public static let resetMails = "reset-mails"

    /// The key of a client address at a center, across the accounts it tries.
    public static func addressKey(_ address: String) -> String {
        "address:\(clientKey(address))"
    }

    /// An IPv6 address counts by its /64 (what one subscriber gets); IPv4 as it is.
    public static func clientKey(_ address: String) -> String {
        guard address.contains(":") else { return address }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, address, &v6) == 1 else { return address }
        let bytes = withUnsafeBytes(of: &v6) { Array($0) }
        return bytes.prefix(8).map { String(format: "%02x", $0) }.joined() + "::/64"
    }

    /// Charges one attempt to `key` before the password is checked, in one statement (concurrent
    /// attempts see each other's charge); nil when charged, or the end of the block that refuses it.
    public static func charge(_ c: PostgresConnection, center: Int64, key: String, rule: Rule, logger: Logger) async throws -> Date? {
        if try await c.first("""
            INSERT INTO login_throttle AS t (center_id, key, failures) VALUES (\(center), \(key), 1)
            ON CONFLICT (center_id, key) DO UPDATE SET
                failures = CASE WHEN t.last_failure_at < now() - make_interval(secs => \(rule.window)) THEN 1 ELSE t.failures + 1 END,
                last_failure_at = now(),
                blocked_until = CASE
                    WHEN t.last_failure_at < now() - make_interval(secs => \(rule.window)) THEN NULL
                    WHEN t.failures + 1 >= \(rule.freeFailures)
                    THEN now() + make_interval(secs => least(\(rule.maxBlock),
                                                             \(rule.firstBlock) * power(2, least(t.failures + 1 - \(rule.freeFailures), 20))))
                    ELSE NULL END
            WHERE t.blocked_until IS NULL OR t.blocked_until <= now()
            RETURNING 1
            """, (Int.self), logger: logger) != nil {
            return nil
        }
        return try await blockedUntil(c, center: center, keys: [key], logger: logger) ?? Date()
    }

    /// Charges one login attempt to (login address, client) across the federation, before the password is
    /// checked: one person logs in at every center of theirs with one password, so their guesses are
    /// counted once whichever portal they are sent to, and an unknown address is counted the same way (a
    /// block at a second portal says nothing of where the address has families). Nil when charged, else
    /// the end of the block.
    public static func chargeLogin(_ c: PostgresConnection, login: String, client: String, rule: Rule, logger: Logger) async throws -> Date? {
        try await c.first("""
            SELECT portail_person_login_charge(\(login.lowercased()), \(clientKey(client)), \(rule.freeFailures)::int, \(rule.firstBlock), \(rule.maxBlock), \(rule.window))
            """, (Date?.self), logger: logger) ?? nil
    }

    /// A successful login clears its (login address, client) pair at every center.
    public static func clearLogin(_ c: PostgresConnection, login: String, client: String, logger: Logger) async throws {
        try await c.run("SELECT portail_person_login_clear(\(login.lowercased()), \(clientKey(client)))", logger: logger)
    }

    /// When the latest of `keys` may try again, if any is blocked now.
    public static func blockedUntil(_ c: PostgresConnection, center: Int64, keys: [String], logger: Logger) async throws -> Date? {
        try await c.first("""
            SELECT max(blocked_until) FROM login_throttle WHERE center_id = \(center) AND key = ANY(\(keys)) AND blocked_until > now()
            """, (Date?.self), logger: logger) ?? nil
    }

    /// Counts a failure against `key` (nothing more while it is blocked already).
    public static func recordFailure(_ c: PostgresConnection, center: Int64, key: String, rule: Rule, logger: Logger) async throws {
        _ = try await charge(c, center: center, key: key, rule: rule, logger: logger)
    }

    /// Counts one use of a limited action (a reset mail) and says whether it is still allowed.
    public static func allow(_ c: PostgresConnection, center: Int64, key: String, rule: Rule, logger: Logger) async throws -> Bool {
        try await charge(c, center: center, key: key, rule: rule, logger: logger) == nil
    }

    /// Forgets keys quiet for a day (the maintenance job), so that random e-mails do not pile up.
    public static func purge(_ c: PostgresConnection, center: Int64, logger: Logger) async throws {
        try await c.run("""
            DELETE FROM login_throttle WHERE center_id = \(center) AND last_failure_at < now() - interval '1 day'
              AND (blocked_until IS NULL OR blocked_until < now())
            """, logger: logger)
    }
}
