import Foundation
import Logging
import PostgresNIO

/// Slows down guessing and mail flooding without letting anyone lock a family out. Failures are
/// counted per key and forgotten after `Rule.window` without a failure; past a rule's free failures
/// each further failure blocks the key for longer, up to the rule's maximum.
///
/// The login counts three keys: the pair (account, client address), which may be blocked for long (it
/// only stops whoever guesses from there); the account alone, blocked briefly (a distributed guess is
/// slowed, the family can still log in a minute later); the client address, across accounts.
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
    /// Every client guessing one account: 20 tries, then never more than a minute's wait.
    public static let account = Rule(freeFailures: 20, firstBlock: 15, maxBlock: 60)
    /// One client guessing many accounts: 30 tries, then up to 15 min.
    public static let address = Rule(freeFailures: 30, firstBlock: 30, maxBlock: 15 * 60)
    /// "Mot de passe oublié": 3 mails an hour to one account, 20 requests an hour from one client.
    public static let resetAccount = Rule(freeFailures: 3, firstBlock: 3600, maxBlock: 3600)
    public static let resetAddress = Rule(freeFailures: 20, firstBlock: 3600, maxBlock: 3600)

    /// The keys of a login attempt; e-mails are compared without case.
    public static func loginKeys(email: String, address: String) -> (pair: String, account: String, address: String) {
        let account = email.lowercased()
        return ("pair:\(account)|\(address)", "account:\(account)", "address:\(address)")
    }

    /// When the latest of `keys` may try again, if any is blocked now.
    public static func blockedUntil(_ c: PostgresConnection, center: Int64, keys: [String], logger: Logger) async throws -> Date? {
        try await c.first("""
            SELECT max(blocked_until) FROM login_throttle WHERE center_id = \(center) AND key = ANY(\(keys)) AND blocked_until > now()
            """, (Date?.self), logger: logger) ?? nil
    }

    public static func recordFailure(_ c: PostgresConnection, center: Int64, key: String, rule: Rule, logger: Logger) async throws {
        // A key quiet for a whole window starts again from one failure; doubling blocks after the free ones.
        try await c.run("""
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
            """, logger: logger)
    }

    public static func clear(_ c: PostgresConnection, center: Int64, key: String, logger: Logger) async throws {
        try await c.run("DELETE FROM login_throttle WHERE center_id = \(center) AND key = \(key)", logger: logger)
    }

    /// Counts one use of a limited action (a reset mail) and says whether it is still allowed.
    public static func allow(_ c: PostgresConnection, center: Int64, key: String, rule: Rule, logger: Logger) async throws -> Bool {
        if try await blockedUntil(c, center: center, keys: [key], logger: logger) != nil { return false }
        try await recordFailure(c, center: center, key: key, rule: rule, logger: logger)
        return true
    }

    /// Forgets keys quiet for a day (the maintenance job), so that random e-mails do not pile up.
    public static func purge(_ c: PostgresConnection, center: Int64, logger: Logger) async throws {
        try await c.run("""
            DELETE FROM login_throttle WHERE center_id = \(center) AND last_failure_at < now() - interval '1 day'
              AND (blocked_until IS NULL OR blocked_until < now())
            """, logger: logger)
    }
}
