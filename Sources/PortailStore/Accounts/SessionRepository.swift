import Foundation
import Logging
import PostgresNIO

/// A browser session of a family portal: anonymous until login, then bound to one family account.
public struct FamilySession: Sendable {
    public var familyID: Int64?
    /// Sent back in every form; a POST without it is refused.
    public var csrfToken: String
    /// The cookie value; known only when the session was just created.
    public var token: String?

    public init(familyID: Int64?, csrfToken: String, token: String?) {
        self.familyID = familyID
        self.csrfToken = csrfToken
        self.token = token
    }
}

/// Sessions live in PostgreSQL, so any instance can serve any request. Expiry: idle and absolute.
public enum SessionRepository {
    public static let idleTimeout: TimeInterval = 30 * 60
    public static let absoluteTimeout: TimeInterval = 12 * 3600

    /// Creates a session (anonymous, or logged in when `familyID` is given) and returns its cookie token.
    public static func create(_ c: PostgresConnection, center: Int64, familyID: Int64?, logger: Logger) async throws -> FamilySession {
        let token = SecretToken.generate()
        let csrf = SecretToken.generate()
        try await c.run("""
            INSERT INTO sessions (center_id, id_hash, family_id, csrf_token, expires_at)
            VALUES (\(center), \(SecretToken.hash(token)), \(familyID), \(csrf), now() + make_interval(secs => \(absoluteTimeout)))
            """, logger: logger)
        return FamilySession(familyID: familyID, csrfToken: csrf, token: token)
    }

    /// The live session of a cookie token; nil when unknown, idle too long or past its end. Its idle clock
    /// is moved at most once a minute, so that a page view is a read, not a write.
    public static func find(_ c: PostgresConnection, center: Int64, token: String, logger: Logger) async throws -> FamilySession? {
        let hash = SecretToken.hash(token)
        guard let row = try await c.row(FindSession(bindings: try .of(center, hash, idleTimeout)), (Int64?, String, Bool).self, logger: logger)
        else { return nil }
        if row.2 {
            try await c.run("UPDATE sessions SET last_seen_at = now() WHERE center_id = \(center) AND id_hash = \(hash)", logger: logger)
        }
        return FamilySession(familyID: row.0, csrfToken: row.1, token: nil)
    }

    /// Every page reads its session: prepared once per connection.
    struct FindSession: PreparedQuery {
        static let sql = """
            SELECT family_id, csrf_token, last_seen_at < now() - interval '1 minute' FROM sessions
            WHERE center_id = $1 AND id_hash = $2 AND expires_at > now()
              AND last_seen_at > now() - make_interval(secs => $3) AND family_id IS NOT NULL
            """
        let bindings: PostgresBindings
    }

    public static func delete(_ c: PostgresConnection, center: Int64, token: String, logger: Logger) async throws {
        try await c.run("DELETE FROM sessions WHERE center_id = \(center) AND id_hash = \(SecretToken.hash(token))", logger: logger)
    }

    /// Removes expired sessions of the current center (run by the maintenance job).
    public static func purgeExpired(_ c: PostgresConnection, center: Int64, logger: Logger) async throws {
        try await c.run("""
            DELETE FROM sessions WHERE center_id = \(center) AND (expires_at < now() OR last_seen_at < now() - make_interval(secs => \(idleTimeout)))
            """, logger: logger)
    }
}

extension SessionRepository {
    /// Ends every session of a family (after a password change).
    public static func deleteAll(_ c: PostgresConnection, center: Int64, family: Int64, logger: Logger) async throws {
        try await c.run("DELETE FROM sessions WHERE center_id = \(center) AND family_id = \(family)", logger: logger)
    }
}
