import Foundation
import Logging
import PortailDomain
import PostgresNIO

/// Who calls the admin API.
public struct StaffIdentity: Sendable {
    public var id: Int64
    public var email: String
    public var isFederationAdmin: Bool

    public init(id: Int64, email: String, isFederationAdmin: Bool) {
        self.id = id
        self.email = email
        self.isFederationAdmin = isFederationAdmin
    }
}

/// A person's place in the federation, as a center's manager may act on it.
public struct StaffStanding: Sendable {
    public var id: Int64
    public var isFederationAdmin: Bool
    /// Roles at centers other than the current one.
    public var rolesElsewhere: Int
}

/// A staff member of a center.
public struct StaffMember: Sendable, Codable {
    public var id: Int64
    public var email: String
    public var name: String
    public var role: String
    public var state: String
}

/// An API token as listed (never its secret).
public struct TokenInfo: Sendable, Codable {
    public var id: Int64
    public var label: String
    public var createdAt: Date
    public var expiresAt: Date
    public var revokedAt: Date?
    public var lastUsedAt: Date?
}

/// Staff accounts and their API tokens: random, stored as SHA-256, shown once, revocable, may expire.
public enum StaffRepository {
    public static let tokenPrefix = "ptk_"

    /// How long a token lives when its owner does not say (PORTAIL_TOKEN_DAYS overrides it).
    public static let defaultTokenDays = 90
    /// The longest life a token can be given.
    public static let maxTokenDays = 365

    /// Creates a staff account (or finds it by e-mail) and returns its id: the owner's door (the CLI's
    /// first federation administrator, tests). Request paths create accounts with `createCenterAccount`.
    public static func createStaff(_ c: PostgresConnection, email: String, name: String, federationAdmin: Bool, logger: Logger) async throws -> Int64 {
        if let id = try await c.first("SELECT id FROM staff_users WHERE lower(email) = lower(\(email))", (Int64.self), logger: logger) {
            return id
        }
        return try await c.first("""
            INSERT INTO staff_users (email, name, is_federation_admin) VALUES (\(email), \(name), \(federationAdmin)) RETURNING id
            """, (Int64.self), logger: logger)!
    }

    /// A new token for a staff member, valid until `expiresAt`; the returned secret is the only copy.
    /// The owner's door (the CLI's first federation administrator, tests): the application role cannot
    /// write tokens for others.
    public static func issueToken(_ c: PostgresConnection, staff: Int64, label: String, expiresAt: Date, logger: Logger) async throws
        -> (id: Int64, secret: String) {
        let secret = tokenPrefix + SecretToken.generate()
        let id = try await c.first("""
            INSERT INTO api_tokens (staff_id, label, token_hash, expires_at) VALUES (\(staff), \(label), \(SecretToken.hash(secret)), \(expiresAt))
            RETURNING id
            """, (Int64.self), logger: logger)!
        return (id, secret)
    }

    /// A new token for the owner of the live token `caller` (the request's own bearer token); nil when
    /// that token is no longer live or `expiresAt` is beyond a year.
    public static func issueOwnToken(_ c: PostgresConnection, caller: String, label: String, expiresAt: Date, logger: Logger) async throws
        -> (id: Int64, secret: String)? {
        let secret = tokenPrefix + SecretToken.generate()
        let row = try await c.first("""
            SELECT portail_issue_own_token(\(SecretToken.hash(caller)), \(label), \(SecretToken.hash(secret)), \(expiresAt))
            """, (Int64?.self), logger: logger)
        guard let found = row, let id = found else { return nil }
        return (id, secret)
    }

    /// The staff member of a live token (not revoked, not expired, account active).
    public static func authenticate(_ c: PostgresConnection, secret: String, logger: Logger) async throws -> StaffIdentity? {
        guard secret.hasPrefix(tokenPrefix), SecretToken.looksValid(secret.dropFirst(tokenPrefix.count)) else { return nil }
        return try await c.first("""
            SELECT staff_id, email, is_federation_admin FROM portail_authenticate_token(\(SecretToken.hash(secret)))
            """, (Int64, String, Bool).self, logger: logger).map { StaffIdentity(id: $0.0, email: $0.1, isFederationAdmin: $0.2) }
    }

    public static func tokens(_ c: PostgresConnection, staff: Int64, logger: Logger) async throws -> [TokenInfo] {
        try await c.all("""
            SELECT id, label, created_at, expires_at, revoked_at, last_used_at FROM api_tokens WHERE staff_id = \(staff) ORDER BY id
            """, (Int64, String, Date, Date, Date?, Date?).self, logger: logger).map {
            TokenInfo(id: $0.0, label: $0.1, createdAt: $0.2, expiresAt: $0.3, revokedAt: $0.4, lastUsedAt: $0.5)
        }
    }

    /// Revokes one of the staff member's tokens; false when there is no such live token.
    public static func revoke(_ c: PostgresConnection, staff: Int64, token: Int64, logger: Logger) async throws -> Bool {
        try await c.first("""
            UPDATE api_tokens SET revoked_at = now() WHERE id = \(token) AND staff_id = \(staff) AND revoked_at IS NULL RETURNING id
            """, (Int64.self), logger: logger) != nil
    }

    /// Runs `body` in a transaction of the application role with no center set (federation tables only).
    public static func federation<T>(_ database: Database, isolation: isolated (any Actor)? = #isolation,
                                     _ body: (PostgresConnection) async throws -> sending T) async throws -> sending T {
        try await database.app.withConnection { connection in
            try await Database.transaction(on: connection, center: nil, logger: database.logger, body)
        }
    }
}

extension CenterRepository {
    /// Suspends or resumes a center (a suspended center is not served); false for an unknown code.
    public static func setState(_ database: Database, code: String, state: String, actor: String) async throws -> Bool {
        let changed = try await StaffRepository.federation(database) { c in
            try await c.all("SELECT coalesce(portail_set_center_state(\(code), \(state)), 0)", (Int64.self), logger: database.logger)
        }
        guard let id = changed.first, id != 0 else { return false }
        try await database.withCenter(id) { c in
            try await AuditLog.record(c, center: id, actor: actor, action: "center." + state, subject: code, after: ["state": state], logger: database.logger)
        }
        return true
    }

    /// Every center with its state, including suspended ones.
    public static func states(_ database: Database) async throws -> [(id: Int64, code: String, name: String, state: String)] {
        try await database.app.withConnection { c in
            try await c.all("SELECT id, code, name, state FROM centers ORDER BY code", (Int64, String, String, String).self, logger: database.logger)
                .map { (id: $0.0, code: $0.1, name: $0.2, state: $0.3) }
        }
    }

    /// Families, reservations made and payments received in the last 7 days, for the centers list.
    public static func activity(_ database: Database, center: Int64) async throws -> (families: Int, bookings: Int, payments: Int) {
        try await database.withCenter(center) { c in
            try await c.first("""
                SELECT (SELECT count(*) FROM families WHERE center_id = \(center))::int,
                       (SELECT count(*) FROM reservations WHERE center_id = \(center) AND created_at > now() - interval '7 days')::int,
                       (SELECT count(*) FROM payments WHERE center_id = \(center) AND received_at > now() - interval '7 days')::int
                """, (Int, Int, Int).self, logger: database.logger) ?? (0, 0, 0)
        }
    }
}

extension StaffRepository {
    /// The staff member's role at the current center ("manager", "staff"), nil when none.
    public static func role(_ c: PostgresConnection, center: Int64, staff: Int64, logger: Logger) async throws -> String? {
        try await c.first("SELECT role FROM staff_center_roles WHERE center_id = \(center) AND staff_id = \(staff)", (String.self), logger: logger)
    }

    public static func grant(_ c: PostgresConnection, center: Int64, staff: Int64, role: String, logger: Logger) async throws {
        try await c.run("""
            INSERT INTO staff_center_roles (center_id, staff_id, role) VALUES (\(center), \(staff), \(role))
            ON CONFLICT (center_id, staff_id) DO UPDATE SET role = EXCLUDED.role
            """, logger: logger)
    }

    /// Where a person stands, seen from the current center: their account, whether it is a federation
    /// administrator, and how many other centers give them a role.
    public static func standing(_ c: PostgresConnection, center: Int64, email: String, logger: Logger) async throws -> StaffStanding? {
        try await c.first("SELECT staff_id, is_federation_admin, roles_elsewhere FROM portail_staff_standing(\(email), \(center))",
                          (Int64, Bool, Int).self, logger: logger)
            .map { StaffStanding(id: $0.0, isFederationAdmin: $0.1, rolesElsewhere: $0.2) }
    }

    /// Where a staff member of the current center stands (by id).
    public static func standing(_ c: PostgresConnection, center: Int64, staff: Int64, logger: Logger) async throws -> StaffStanding? {
        guard let email = try await email(c, staff: staff, logger: logger) else { return nil }
        return try await standing(c, center: center, email: email, logger: logger)
    }

    public static func email(_ c: PostgresConnection, staff: Int64, logger: Logger) async throws -> String? {
        try await c.first("SELECT email FROM staff_users WHERE id = \(staff)", (String.self), logger: logger)
    }

    /// Creates a center staff account (never a federation administrator).
    public static func createCenterAccount(_ c: PostgresConnection, email: String, name: String, logger: Logger) async throws -> Int64 {
        try await c.first("SELECT portail_create_staff_account(\(email), \(name))", (Int64.self), logger: logger)!
    }

    /// An invitation of the current center for `staff`: the code to e-mail (only its hash is kept); nil
    /// when the person holds no role here or is a federation administrator (the database refuses).
    public static func invite(_ c: PostgresConnection, staff: Int64, by actor: String, validFor: TimeInterval, logger: Logger) async throws -> String? {
        let code = SecretToken.generate()
        let row = try await c.first("""
            SELECT portail_invite(\(staff), \(SecretToken.hash(code)), \(actor), now() + make_interval(secs => \(validFor)))
            """, (Int64?.self), logger: logger)
        guard let found = row, found != nil else { return nil }
        return code
    }

    /// Exchanges an invitation code for a new token of the invited person; nil when the code is unknown,
    /// used or expired.
    public static func acceptInvitation(_ c: PostgresConnection, code: String, label: String, expiresAt: Date, logger: Logger) async throws
        -> (identity: StaffIdentity, tokenID: Int64, secret: String, center: Int64?)? {
        guard SecretToken.looksValid(code) else { return nil }
        let secret = tokenPrefix + SecretToken.generate()
        return try await c.first("""
            SELECT staff_id, email, token_id, center_id
            FROM portail_accept_invitation(\(SecretToken.hash(code)), \(SecretToken.hash(secret)), \(label), \(expiresAt))
            """, (Int64, String, Int64, Int64?).self, logger: logger).map {
            (StaffIdentity(id: $0.0, email: $0.1, isFederationAdmin: false), $0.2, secret, $0.3)
        }
    }

    /// The staff of the current center with their roles.
    public static func members(_ c: PostgresConnection, center: Int64, logger: Logger) async throws -> [StaffMember] {
        try await c.all("""
            SELECT s.id, s.email, s.name, r.role, s.state FROM staff_center_roles r JOIN staff_users s ON s.id = r.staff_id
            WHERE r.center_id = \(center) ORDER BY s.email
            """, (Int64, String, String, String, String).self, logger: logger)
            .map { StaffMember(id: $0.0, email: $0.1, name: $0.2, role: $0.3, state: $0.4) }
    }

    /// The staff of the center with an invitation not used yet (and none used): they have not chosen a
    /// password from it.
    public static func pendingInvitations(_ c: PostgresConnection, center: Int64, logger: Logger) async throws -> Set<Int64> {
        Set(try await c.all("""
            SELECT DISTINCT i.staff_id FROM staff_invitations i
            WHERE i.center_id = \(center) AND i.used_at IS NULL AND i.expires_at > now()
              AND NOT EXISTS (SELECT 1 FROM staff_invitations u WHERE u.staff_id = i.staff_id AND u.used_at IS NOT NULL)
            """, (Int64.self), logger: logger))
    }

    /// Removes a staff member's role at the current center (and the invitations it sent them); returns
    /// the role removed, nil when they had none.
    public static func removeRole(_ c: PostgresConnection, center: Int64, staff: Int64, logger: Logger) async throws -> String? {
        try await c.first("""
            DELETE FROM staff_center_roles WHERE center_id = \(center) AND staff_id = \(staff) RETURNING role
            """, (String.self), logger: logger)
    }

    /// The answer already given to this key, if any. Locks the key until the transaction ends, so that
    /// two requests with the same key one after the other's heels wait instead of both acting.
    public static func idempotent(_ c: PostgresConnection, center: Int64, key: String, logger: Logger) async throws -> (status: Int, body: String)? {
        try await c.run("SELECT pg_advisory_xact_lock(hashtext(\("idempotency:\(center):" + key)))", logger: logger)
        return try await c.first("SELECT status, response FROM api_idempotency WHERE center_id = \(center) AND key = \(key)", (Int, String).self, logger: logger)
            .map { (status: $0.0, body: $0.1) }
    }

    public static func remember(_ c: PostgresConnection, center: Int64, key: String, status: Int, body: String, logger: Logger) async throws {
        try await c.run("INSERT INTO api_idempotency (center_id, key, status, response) VALUES (\(center), \(key), \(status), \(body))", logger: logger)
    }
}

/// A family as the staff API lists it.
public struct FamilySummary: Sendable, Codable {
    public var id: Int64
    public var email: String
    public var name: String
    public var state: String
    public var children: Int
}

/// A child booked on a day, for the attendance list.
public struct AttendanceLine: Sendable, Codable {
    public var reservation: Int
    public var child: String
    public var family: String
    public var units: [String]
    public var state: String
}

extension AccountRepository {
    public static func families(_ c: PostgresConnection, center: Int64, logger: Logger) async throws -> [FamilySummary] {
        try await c.all("""
            SELECT f.id, f.email, f.name, f.state, (SELECT count(*) FROM children ch WHERE ch.center_id = f.center_id AND ch.family_id = f.id)::int
            FROM families f WHERE f.center_id = \(center) ORDER BY f.name, f.id
            """, (Int64, String, String, String, Int).self, logger: logger).map {
            FamilySummary(id: $0.0, email: $0.1, name: $0.2, state: $0.3, children: $0.4)
        }
    }
}

extension ReservationQueries {
    /// Who is booked on a day (confirmed, or waiting for payment in a cart whose hold runs), by child. It
    /// reads; it does not expire carts.
    public static func attendance(_ c: PostgresConnection, center: Int64, day: LocalDate, logger: Logger) async throws -> [AttendanceLine] {
        var lines: [AttendanceLine] = []
        try await attendance(c, center: center, day: day, logger: logger) { lines.append($0) }
        return lines
    }

    /// The day's attendance, each line handed to `each` as it comes from the database (the CSV file streams them).
    public static func attendance(_ c: PostgresConnection, center: Int64, day: LocalDate, logger: Logger,
                                  each: (AttendanceLine) async throws -> Void) async throws {
        let rows = try await c.query("""
            SELECT r.number, ch.first_name || ' ' || ch.last_name, f.name, array_agg(u ORDER BY u), r.state
            FROM reservations r
            JOIN reservation_lines l ON l.center_id = r.center_id AND l.reservation_id = r.id
            CROSS JOIN LATERAL unnest(l.units) AS u
            JOIN children ch ON ch.center_id = r.center_id AND ch.id = r.child_id
            JOIN families f ON f.center_id = r.center_id AND f.id = r.family_id
            WHERE r.center_id = \(center) AND l.day = \(day.iso)::date AND r.state IN ('confirmed', 'pending_payment')
              AND \(unescaped: holdsItsDays)
            GROUP BY r.number, ch.first_name, ch.last_name, f.name, r.state ORDER BY 2
            """, logger: logger)
        for try await (number, child, family, units, state) in rows.decode((Int, String, String, [String], String).self) {
            try await each(AttendanceLine(reservation: number, child: child, family: family, units: units, state: state))
        }
    }
}
