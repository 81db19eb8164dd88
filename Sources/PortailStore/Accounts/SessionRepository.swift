import Foundation
import Logging
import PostgresNIO

/// A browser session of a family portal: anonymous until login, then bound to one family account.
public struct FamilySession: Sendable {
    public var familyID: Int64?
    /// The person logged in (one login may enter several families, at several centers).
    public var personID: Int64?
    /// Sent back in every form; a POST without it is refused.
    public var csrfToken: String
    /// The cookie value; known only when the session was just created.
    public var token: String?
    /// False when the family keeps its invoices to its billing contact and the person is not that contact.
    public var seesInvoices: Bool
    /// The person had other families to switch to when the session began.
    public var severalFamilies: Bool
    /// The family's name and tariff category, read with the session (the account's heading, the grid's
    /// prices): a page does not read the family again. Empty and nil without a family.
    public var familyName: String
    public var familyCategory: String?

    public init(familyID: Int64?, personID: Int64? = nil, csrfToken: String, token: String?, seesInvoices: Bool = true, severalFamilies: Bool = false,
                familyName: String = "", familyCategory: String? = nil) {
        self.familyID = familyID
        self.personID = personID
        self.csrfToken = csrfToken
        self.token = token
        self.seesInvoices = seesInvoices
        self.severalFamilies = severalFamilies
        self.familyName = familyName
        self.familyCategory = familyCategory
    }
}

/// Sessions live in PostgreSQL, so any instance can serve any request. Expiry: idle and absolute.
public enum SessionRepository {
    public static let idleTimeout: TimeInterval = 30 * 60
    public static let absoluteTimeout: TimeInterval = 12 * 3600

    /// Creates the session of `person` (by default the family's own address) in `familyID` and returns its
    /// cookie token.
    public static func create(_ c: PostgresConnection, center: Int64, familyID: Int64, personID: Int64? = nil, severalFamilies: Bool = false,
                              logger: Logger) async throws -> FamilySession {
        let token = SecretToken.generate()
        let csrf = SecretToken.generate()
        let person = try await c.first("""
            INSERT INTO sessions (center_id, id_hash, family_id, person_id, csrf_token, expires_at, several_families)
            VALUES (\(center), \(SecretToken.hash(token)), \(familyID), coalesce(\(personID), family_own_person(\(center), \(familyID))), \(csrf),
                    now() + make_interval(secs => \(absoluteTimeout)), \(severalFamilies))
            RETURNING person_id
            """, (Int64.self), logger: logger)
        // A session is a login (or a switch): the family is in use (retention of inactive families), and the
        // person has used their access to it (what the staff see).
        let family = try await c.first("""
            UPDATE families SET last_activity_at = now() WHERE center_id = \(center) AND id = \(familyID) RETURNING name, category
            """, (String, String?).self, logger: logger)
        try await c.run("""
            UPDATE family_members SET last_login_at = now() WHERE center_id = \(center) AND family_id = \(familyID) AND person_id = \(person)
            """, logger: logger)
        return FamilySession(familyID: familyID, personID: person, csrfToken: csrf, token: token, severalFamilies: severalFamilies,
                             familyName: family?.0 ?? "", familyCategory: family?.1)
    }

    /// The live session of a cookie token; nil when unknown, idle too long or past its end. Its idle clock
    /// is moved at most once a minute, so that a page view is a read, not a write. It also sets the
    /// transaction's center (`portail_page_session`, migration 0041): as the first statement of a page's
    /// transaction (`Database.withPageTransaction`) it takes the place of the statement that sets it.
    public static func find(_ c: PostgresConnection, center: Int64, token: String, logger: Logger) async throws -> FamilySession? {
        guard let (session, touch) = try await read(c, center: center, token: token, logger: logger) else { return nil }
        if touch { try await self.touch(c, center: center, token: token, logger: logger) }
        return session
    }

    /// `find` without moving the idle clock: the session, and whether its clock is due to move (`touch`).
    /// Also as a statement of its own, outside any transaction (`Database.withPageReads`): the center it
    /// sets then lasts for that statement only.
    public static func read(_ c: PostgresConnection, center: Int64, token: String, logger: Logger) async throws -> (FamilySession, touch: Bool)? {
        let request = RequestTrace.current.map { "portail " + $0 } ?? ""
        guard let row = try await c.row(FindSession(bindings: try .of(center, SecretToken.hash(token), idleTimeout, request)),
                                        (Int64, Int64, String, Bool, Bool, Bool, String, String?).self, logger: logger)
        else { return nil }
        return (FamilySession(familyID: row.0, personID: row.1, csrfToken: row.2, token: nil, seesInvoices: row.4, severalFamilies: row.5,
                              familyName: row.6, familyCategory: row.7), row.3)
    }

    /// Moves the session's idle clock to now, in a transaction of its center. The pages of one session that
    /// find its clock due at the same moment (a parent's tabs) do not queue on its row: the first moves it,
    /// the others skip the row it has locked.
    public static func touch(_ c: PostgresConnection, center: Int64, token: String, logger: Logger) async throws {
        try await c.run("""
            UPDATE sessions SET last_seen_at = now()
            WHERE (center_id, id_hash) IN (SELECT center_id, id_hash FROM sessions WHERE center_id = \(center) AND id_hash = \(SecretToken.hash(token))
                                           FOR UPDATE SKIP LOCKED)
            """, logger: logger)
    }

    /// Every page reads its session: prepared once per connection. A person who no longer belongs to the
    /// family (removed by the staff) has no session in it.
    struct FindSession: PreparedQuery {
        static let sql = "SELECT * FROM portail_page_session($1, $2, $3, $4)"
        let bindings: PostgresBindings
    }

    /// The person had other families to switch to when the session began (the menu's "Changer de famille").
    public static func markSeveralFamilies(_ c: PostgresConnection, center: Int64, token: String, logger: Logger) async throws {
        try await c.run("UPDATE sessions SET several_families = true WHERE center_id = \(center) AND id_hash = \(SecretToken.hash(token))", logger: logger)
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
