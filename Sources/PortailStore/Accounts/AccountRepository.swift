import Foundation
import Logging
import PortailDomain
import PostgresNIO

/// A family account as the portal pages need it.
public struct FamilyAccount: Sendable {
    public var id: Int64
    public var email: String
    public var name: String
    public var state: String
    public var category: String?
}

/// What the login reads for one address at a center: the person and their families there (each with the
/// family's own password, kept from before people had one, when the address is the family's). Nil for a
/// person without a family at this center.
public struct PersonCredentials: Sendable {
    public struct Family: Sendable {
        public var id: Int64
        public var state: String
        /// Whether its members may enter it (not deactivated or erased; a sign-up's address proven).
        public var open: Bool
        public var ownPasswordHash: String?
        /// Whether the address is the family's own (its first member's).
        public var ownAddress: Bool
    }
    public var personID: Int64
    /// The address as stored (mails go there, never to the address as typed).
    public var email: String
    public var passwordHash: String?
    public var families: [Family]
}

/// A child of a family.
public struct ChildRecord: Sendable, Hashable {
    public var id: Int64
    public var firstName: String
    public var lastName: String
    public var birthDate: LocalDate

    /// Age in whole years on `day`.
    public func age(on day: LocalDate) -> Int { birthDate.age(on: day) }
}

/// Family accounts, their children and QF, and the single-use tokens e-mailed to them.
public enum AccountRepository {
    public static func family(_ c: PostgresConnection, center: Int64, email: String, logger: Logger) async throws -> FamilyAccount? {
        try await c.first("""
            SELECT id, email, name, state, category FROM families
            WHERE center_id = \(center) AND lower(email) = lower(\(email))
            """, (Int64, String, String, String, String?).self, logger: logger)
            .map { FamilyAccount(id: $0.0, email: $0.1, name: $0.2, state: $0.3, category: $0.4) }
    }

    /// What the login checks for one address at the current center: the person, their password hash, and
    /// their families here. The application role cannot read hashes otherwise (portail_person_credentials,
    /// migration 0035).
    public static func credentials(_ c: PostgresConnection, email: String, logger: Logger) async throws -> PersonCredentials? {
        let rows = try await c.all("SELECT * FROM portail_person_credentials(\(email))",
                                   (Int64, String, String?, Int64, String, Bool, String?, Bool).self, logger: logger)
        guard let first = rows.first else { return nil }
        let families = rows.map { row in
            PersonCredentials.Family(id: row.3, state: row.4, open: row.5, ownPasswordHash: row.6, ownAddress: row.7)
        }
        return PersonCredentials(personID: first.0, email: first.1, passwordHash: first.2, families: families)
    }

    public static func family(_ c: PostgresConnection, center: Int64, id: Int64, logger: Logger) async throws -> FamilyAccount? {
        try await c.row(Family(bindings: try .of(center, id)), (Int64, String, String, String, String?).self, logger: logger)
            .map { FamilyAccount(id: $0.0, email: $0.1, name: $0.2, state: $0.3, category: $0.4) }
    }

    /// Every page of the account reads these: prepared once per connection.
    struct Family: PreparedQuery {
        static let sql = "SELECT id, email, name, state, category FROM families WHERE center_id = $1 AND id = $2"
        let bindings: PostgresBindings
    }

    struct Children: PreparedQuery {
        static let sql = "SELECT id, first_name, last_name, birth_date::text FROM children WHERE center_id = $1 AND family_id = $2 ORDER BY birth_date, id"
        let bindings: PostgresBindings
    }

    public static func children(_ c: PostgresConnection, center: Int64, family: Int64, logger: Logger) async throws -> [ChildRecord] {
        try await c.rows(Children(bindings: try .of(center, family)), (Int64, String, String, String).self, logger: logger)
            .map { ChildRecord(id: $0.0, firstName: $0.1, lastName: $0.2, birthDate: LocalDate(iso: $0.3)!) }
    }

    /// The family's QF valid on `day`, if any.
    public static func quotient(_ c: PostgresConnection, center: Int64, family: Int64, on day: LocalDate, logger: Logger) async throws -> Int? {
        try await c.row(Quotient(bindings: try .of(center, family, day.iso)), (Int.self), logger: logger)
    }

    /// The grid and every booking read it: prepared once per connection ($3: the day, as text).
    struct Quotient: PreparedQuery {
        static let sql = """
            SELECT quotient FROM family_quotients
            WHERE center_id = $1 AND family_id = $2 AND valid_from <= $3::date
              AND (valid_to IS NULL OR valid_to >= $3::date)
            ORDER BY valid_from DESC LIMIT 1
            """
        let bindings: PostgresBindings
    }

    /// Voids every e-mailed link of the family and ends its sessions (deactivation, e-mail change).
    public static func voidLinksAndSessions(_ c: PostgresConnection, center: Int64, family: Int64, logger: Logger) async throws {
        try await c.run("""
            UPDATE account_tokens SET used_at = now() WHERE center_id = \(center) AND family_id = \(family) AND used_at IS NULL
            """, logger: logger)
        try await c.run("DELETE FROM sessions WHERE center_id = \(center) AND family_id = \(family)", logger: logger)
    }

    /// Creates a single-use token for an e-mailed link to `person` (by default the family's own address)
    /// through `family`, and returns it (only its hash is stored).
    public static func issueToken(_ c: PostgresConnection, center: Int64, family: Int64, person: Int64? = nil, purpose: String,
                                  validFor: TimeInterval, logger: Logger) async throws -> String {
        let token = SecretToken.generate()
        try await c.run("""
            INSERT INTO account_tokens (center_id, token_hash, family_id, person_id, purpose, expires_at)
            VALUES (\(center), \(SecretToken.hash(token)), \(family), coalesce(\(person), family_own_person(\(center), \(family))),
                    \(purpose), now() + make_interval(secs => \(validFor)))
            """, logger: logger)
        return token
    }

    /// Uses a live link of the current center: the person's password becomes `passwordHash` (replacing any
    /// family's own), their sessions at every center end, their other links here are void and the family
    /// the link came through is active. Nil when the link is unknown, used, expired or its family closed.
    public static func useToken(_ c: PostgresConnection, token: String, purpose: String, passwordHash: String, logger: Logger) async throws
        -> (family: Int64, person: Int64)? {
        try await c.first("SELECT family_id, person_id FROM portail_use_account_token(\(SecretToken.hash(token)), \(purpose), \(passwordHash))",
                          (Int64, Int64).self, logger: logger).map { (family: $0.0, person: $0.1) }
    }

    /// Whether a token is valid, without using it (to show the form it leads to).
    public static func tokenIsValid(_ c: PostgresConnection, center: Int64, token: String, purpose: String, logger: Logger) async throws -> Bool {
        try await c.first("""
            SELECT 1 FROM account_tokens
            WHERE center_id = \(center) AND token_hash = \(SecretToken.hash(token)) AND purpose = \(purpose)
              AND used_at IS NULL AND expires_at > now()
            """, (Int.self), logger: logger) != nil
    }
}

/// Mails wait in the outbox table until the mailer sends them (or, in the demo, prints them).
public enum Outbox {
    public struct Mail: Sendable {
        public var id: Int64
        public var to: String
        public var subject: String
        public var body: String
        public var createdAt: Date
        public var sentAt: Date?
        /// The request that queued it, for following one request through logs, database and mail.
        public var requestID: String? = nil
    }

    public static func enqueue(_ c: PostgresConnection, center: Int64, to: String, subject: String, body: String, logger: Logger) async throws {
        try await c.run("""
            INSERT INTO mail_outbox (center_id, to_address, subject, body_text, request_id) VALUES (\(center), \(to), \(subject), \(body), \(RequestTrace.current))
            """, logger: logger)
    }

    public static func recent(_ c: PostgresConnection, center: Int64, limit: Int = 50, logger: Logger) async throws -> [Mail] {
        try await c.all("""
            SELECT id, to_address, subject, body_text, created_at, sent_at FROM mail_outbox
            WHERE center_id = \(center) ORDER BY id DESC LIMIT \(limit)
            """, (Int64, String, String, String, Date, Date?).self, logger: logger)
            .map { Mail(id: $0.0, to: $0.1, subject: $0.2, body: $0.3, createdAt: $0.4, sentAt: $0.5) }
    }
}

extension AccountRepository {
    /// Creates a family account and returns its id.
    public static func createFamily(
        _ c: PostgresConnection, center: Int64, email: String, name: String, passwordHash: String?, state: String,
        category: String?, logger: Logger
    ) async throws -> Int64 {
        let family = try await c.first("""
            INSERT INTO families (center_id, email, name, password_hash, state, category)
            VALUES (\(center), \(email), \(name), \(passwordHash), \(state), \(category))
            RETURNING id
            """, (Int64.self), logger: logger)!
        try await addOwnMember(c, center: center, family: family, email: email, logger: logger)
        return family
    }

    /// Makes the person of the family's own address its first member and billing contact.
    public static func addOwnMember(_ c: PostgresConnection, center: Int64, family: Int64, email: String, logger: Logger) async throws {
        try await c.run("""
            INSERT INTO family_members (center_id, family_id, person_id, billing_contact)
            VALUES (\(center), \(family), portail_person_for(\(email)), true)
            """, logger: logger)
    }

    /// Adds a child and returns its id.
    @discardableResult
    public static func addChild(_ c: PostgresConnection, center: Int64, family: Int64, firstName: String, lastName: String, birthDate: LocalDate, logger: Logger) async throws -> Int64 {
        try await c.first("""
            INSERT INTO children (center_id, family_id, first_name, last_name, birth_date)
            VALUES (\(center), \(family), \(firstName), \(lastName), \(birthDate.iso)::date) RETURNING id
            """, (Int64.self), logger: logger)!
    }

    /// Records a QF valid from `from` (to `to`, or open-ended), as the CAF (or another `source`) gave it.
    public static func addQuotient(
        _ c: PostgresConnection, center: Int64, family: Int64, quotient: Int, from: LocalDate, to: LocalDate?, source: String = "CAF", logger: Logger
    ) async throws {
        try await c.run("""
            INSERT INTO family_quotients (center_id, family_id, valid_from, valid_to, quotient, source)
            VALUES (\(center), \(family), \(from.iso)::date, \(to?.iso)::date, \(quotient), \(source))
            """, logger: logger)
    }
}

extension Outbox {
    /// Unsent mails of the current center, locked for this instance (others skip them).
    public static func claimPending(_ c: PostgresConnection, center: Int64, limit: Int, logger: Logger) async throws -> [Mail] {
        try await c.all("""
            SELECT id, to_address, subject, body_text, created_at, sent_at, request_id FROM mail_outbox
            WHERE center_id = \(center) AND sent_at IS NULL AND attempts < 10
            ORDER BY id LIMIT \(limit) FOR UPDATE SKIP LOCKED
            """, (Int64, String, String, String, Date, Date?, String?).self, logger: logger)
            .map { Mail(id: $0.0, to: $0.1, subject: $0.2, body: $0.3, createdAt: $0.4, sentAt: $0.5, requestID: $0.6) }
    }

    public static func markSent(_ c: PostgresConnection, center: Int64, id: Int64, logger: Logger) async throws {
        try await c.run("UPDATE mail_outbox SET sent_at = now(), attempts = attempts + 1 WHERE center_id = \(center) AND id = \(id)", logger: logger)
    }

    public static func markFailed(_ c: PostgresConnection, center: Int64, id: Int64, error: String, logger: Logger) async throws {
        try await c.run("UPDATE mail_outbox SET attempts = attempts + 1, last_error = \(error) WHERE center_id = \(center) AND id = \(id)", logger: logger)
    }
}
