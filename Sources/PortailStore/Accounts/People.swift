import Foundation
import Logging
import PostgresNIO

/// One login per parent (issue 15, item 6): a person (an address and a password) belongs to families at one
/// or more centers. Here: the families a person may enter, the members of a family as its center sees them,
/// and the handoff that takes a person from one center's portal to another's without a second login.
/// Each family keeps its own money; the billing contact may keep the invoices to themself.
public enum People {
    /// A family a person may enter, at any center of the federation.
    public struct Membership: Sendable, Hashable {
        public var centerID: Int64
        public var familyID: Int64
        public var familyName: String
    }

    /// A member of a family, as the family's center sees them.
    public struct Member: Sendable, Hashable {
        public var personID: Int64
        public var email: String
        /// Whether the person has logged in to this family yet (what this center may know of them).
        public var hasLoggedIn: Bool
        public var billingContact: Bool
        /// The family's own address (its first member, who receives its mails; changed by the staff only).
        public var ownAddress: Bool
    }

    /// A family may be shared by a few people, not by a crowd.
    public static let membersPerFamily = 6
    /// A handoff is used at once by the browser that asked for it.
    public static let handoffValidity: TimeInterval = 120

    /// Every family the person of the live session `session` (its cookie token) may enter, at every active center.
    public static func families(_ c: PostgresConnection, session: String, logger: Logger) async throws -> [Membership] {
        try await c.all("SELECT center_id, family_id, family_name FROM portail_person_families(\(SecretToken.hash(session)))",
                        (Int64, Int64, String).self, logger: logger)
            .map { Membership(centerID: $0.0, familyID: $0.1, familyName: $0.2) }
    }

    /// Whether `person` may enter `family` of the current center now.
    public static func mayEnter(_ c: PostgresConnection, center: Int64, family: Int64, person: Int64, logger: Logger) async throws -> Bool {
        try await c.first("""
            SELECT 1 FROM family_members m JOIN families f ON f.center_id = m.center_id AND f.id = m.family_id
            WHERE m.center_id = \(center) AND m.family_id = \(family) AND m.person_id = \(person)
              AND portail_family_open(f.state, f.signed_up_at, f.erased_at)
            """, (Int.self), logger: logger) != nil
    }

    /// A family the staff created for a person who already has a password opens at their first login.
    public static func activateOnLogin(_ c: PostgresConnection, center: Int64, family: Int64, logger: Logger) async throws {
        try await c.run("""
            UPDATE families SET state = 'active' WHERE center_id = \(center) AND id = \(family) AND state = 'invited' AND signed_up_at IS NULL
            """, logger: logger)
    }

    /// A single-use handoff of the person of the live session `session` to `family` at `center` (another
    /// center's portal), or nil when they may not enter it. The token goes in the link to that portal; only
    /// its hash is stored.
    public static func issueHandoff(_ c: PostgresConnection, session: String, center: Int64, family: Int64, logger: Logger) async throws -> String? {
        let token = SecretToken.generate()
        let issued = try await c.first("SELECT portail_issue_handoff(\(SecretToken.hash(session)), \(center), \(family), \(SecretToken.hash(token)))",
                                       (Bool.self), logger: logger) ?? false
        return issued ? token : nil
    }

    /// Where a live handoff of the current center leads (to say it before it is used): the family, and the
    /// person by their address.
    public static func handoff(_ c: PostgresConnection, center: Int64, token: String, logger: Logger) async throws
        -> (family: Int64, familyName: String, person: Int64, email: String)? {
        try await c.first("""
            SELECT f.id, f.name, p.id, p.email FROM person_handoffs h JOIN families f ON f.center_id = h.center_id AND f.id = h.family_id
            JOIN people p ON p.id = h.person_id
            WHERE h.center_id = \(center) AND h.token_hash = \(SecretToken.hash(token)) AND h.used_at IS NULL AND h.expires_at > now()
            """, (Int64, String, Int64, String).self, logger: logger).map { (family: $0.0, familyName: $0.1, person: $0.2, email: $0.3) }
    }

    /// Uses a live handoff of the current center: its person and family, when the person may still enter it.
    public static func takeHandoff(_ c: PostgresConnection, center: Int64, token: String, logger: Logger) async throws -> (person: Int64, family: Int64)? {
        guard let row = try await c.first("""
            UPDATE person_handoffs SET used_at = now()
            WHERE center_id = \(center) AND token_hash = \(SecretToken.hash(token)) AND used_at IS NULL AND expires_at > now()
            RETURNING person_id, family_id
            """, (Int64, Int64).self, logger: logger) else { return nil }
        guard try await mayEnter(c, center: center, family: row.1, person: row.0, logger: logger) else { return nil }
        return (person: row.0, family: row.1)
    }

    /// Removes used and expired handoffs of the current center (maintenance job).
    public static func purgeHandoffs(_ c: PostgresConnection, center: Int64, logger: Logger) async throws {
        try await c.run("DELETE FROM person_handoffs WHERE center_id = \(center) AND (used_at IS NOT NULL OR expires_at < now())", logger: logger)
    }

    /// The members of a family, its own address first.
    public static func members(_ c: PostgresConnection, center: Int64, family: Int64, logger: Logger) async throws -> [Member] {
        try await c.all("""
            SELECT p.id, p.email, m.last_login_at IS NOT NULL, m.billing_contact, lower(p.email) = lower(f.email)
            FROM family_members m JOIN people p ON p.id = m.person_id
            JOIN families f ON f.center_id = m.center_id AND f.id = m.family_id
            WHERE m.center_id = \(center) AND m.family_id = \(family)
            ORDER BY lower(p.email) = lower(f.email) DESC, m.created_at, p.id
            """, (Int64, String, Bool, Bool, Bool).self, logger: logger)
            .map { Member(personID: $0.0, email: $0.1, hasLoggedIn: $0.2, billingContact: $0.3, ownAddress: $0.4) }
    }

    public enum Refusal: Error, Sendable, Equatable {
        /// The person already belongs to the family.
        case alreadyMember
        /// The family has `membersPerFamily` members.
        case tooMany
        /// The family's own address cannot be removed (the staff change the family's e-mail instead).
        case ownAddress
        /// Not a member of the family.
        case notMember
    }

    /// Adds the person of `email` to `family` (created without a password if the address is new) and returns
    /// them. The caller locks the family's row first.
    public static func addMember(_ c: PostgresConnection, center: Int64, family: Int64, email: String, logger: Logger) async throws -> Member {
        let current = try await members(c, center: center, family: family, logger: logger)
        guard !current.contains(where: { $0.email.lowercased() == email.lowercased() }) else { throw Refusal.alreadyMember }
        guard current.count < membersPerFamily else { throw Refusal.tooMany }
        try await c.run("""
            INSERT INTO family_members (center_id, family_id, person_id) VALUES (\(center), \(family), portail_person_for(\(email)))
            """, logger: logger)
        return try await members(c, center: center, family: family, logger: logger).first { $0.email.lowercased() == email.lowercased() }!
    }

    /// Removes `person` from `family`: their sessions in it and links through it end, and a person left with
    /// no family anywhere is forgotten. The billing contact's role falls back to the family's own address.
    public static func removeMember(_ c: PostgresConnection, center: Int64, family: Int64, person: Int64, logger: Logger) async throws {
        let current = try await members(c, center: center, family: family, logger: logger)
        guard let member = current.first(where: { $0.personID == person }) else { throw Refusal.notMember }
        guard !member.ownAddress else { throw Refusal.ownAddress }
        try await c.run("DELETE FROM sessions WHERE center_id = \(center) AND family_id = \(family) AND person_id = \(person)", logger: logger)
        try await c.run("""
            UPDATE account_tokens SET used_at = now() WHERE center_id = \(center) AND family_id = \(family) AND person_id = \(person) AND used_at IS NULL
            """, logger: logger)
        try await c.run("DELETE FROM person_handoffs WHERE center_id = \(center) AND family_id = \(family) AND person_id = \(person)", logger: logger)
        try await c.run("DELETE FROM family_members WHERE center_id = \(center) AND family_id = \(family) AND person_id = \(person)", logger: logger)
        if member.billingContact {
            try await c.run("""
                UPDATE family_members SET billing_contact = true
                WHERE center_id = \(center) AND family_id = \(family) AND person_id = family_own_person(\(center), \(family))
                """, logger: logger)
        }
        _ = try await c.first("SELECT portail_forget_person_if_alone(\(person))", (Bool.self), logger: logger)
    }

    /// The staff changed the family's own address: the person of the old one leaves the family (forgotten if
    /// it was their only one), the person of the new one joins it (keeping the billing contact's role when
    /// the old one had it). Sessions and links of the family were ended by the caller.
    public static func changeOwnAddress(_ c: PostgresConnection, center: Int64, family: Int64, from old: String, to new: String, logger: Logger) async throws {
        let leaving = try await c.first("""
            DELETE FROM family_members m USING people p
            WHERE m.center_id = \(center) AND m.family_id = \(family) AND p.id = m.person_id AND lower(p.email) = lower(\(old))
            RETURNING m.person_id, m.billing_contact
            """, (Int64, Bool).self, logger: logger)
        try await c.run("""
            INSERT INTO family_members (center_id, family_id, person_id, billing_contact)
            VALUES (\(center), \(family), portail_person_for(\(new)), false)
            ON CONFLICT DO NOTHING
            """, logger: logger)
        let billing = try await c.first("""
            SELECT 1 FROM family_members WHERE center_id = \(center) AND family_id = \(family) AND billing_contact
            """, (Int.self), logger: logger) != nil
        if !billing || leaving?.1 == true {
            try await c.run("""
                UPDATE family_members SET billing_contact = (person_id = family_own_person(\(center), \(family)))
                WHERE center_id = \(center) AND family_id = \(family)
                """, logger: logger)
        }
        if let leaving {
            _ = try await c.first("SELECT portail_forget_person_if_alone(\(leaving.0))", (Bool.self), logger: logger)
        }
    }

    /// Makes `person` the family's billing contact (the only one).
    public static func setBillingContact(_ c: PostgresConnection, center: Int64, family: Int64, person: Int64, logger: Logger) async throws {
        guard try await members(c, center: center, family: family, logger: logger).contains(where: { $0.personID == person }) else {
            throw Refusal.notMember
        }
        try await c.run("""
            UPDATE family_members SET billing_contact = false WHERE center_id = \(center) AND family_id = \(family) AND billing_contact AND person_id <> \(person)
            """, logger: logger)
        try await c.run("""
            UPDATE family_members SET billing_contact = true WHERE center_id = \(center) AND family_id = \(family) AND person_id = \(person)
            """, logger: logger)
    }

    /// Where the family's money mails go: its billing contact's address (its own address by default).
    public static func billingAddress(_ c: PostgresConnection, center: Int64, family: Int64, logger: Logger) async throws -> String? {
        try await c.first("""
            SELECT coalesce((SELECT p.email FROM family_members m JOIN people p ON p.id = m.person_id
                             WHERE m.center_id = f.center_id AND m.family_id = f.id AND m.billing_contact), f.email)
            FROM families f WHERE f.center_id = \(center) AND f.id = \(family)
            """, (String.self), logger: logger)
    }

    /// Whether the family's invoices are shown to its billing contact only.
    public static func invoicesBillingOnly(_ c: PostgresConnection, center: Int64, family: Int64, logger: Logger) async throws -> Bool {
        try await c.first("SELECT invoices_billing_only FROM families WHERE center_id = \(center) AND id = \(family)", (Bool.self), logger: logger) ?? false
    }

    public static func setInvoicesBillingOnly(_ c: PostgresConnection, center: Int64, family: Int64, _ only: Bool, logger: Logger) async throws {
        try await c.run("UPDATE families SET invoices_billing_only = \(only) WHERE center_id = \(center) AND id = \(family)", logger: logger)
    }

    /// The family's members leave with an erased family; each person left with no family is forgotten, with
    /// the center's mails to them.
    public static func removeAll(_ c: PostgresConnection, center: Int64, family: Int64, logger: Logger) async throws {
        let persons = try await members(c, center: center, family: family, logger: logger)
        try await c.run("DELETE FROM family_members WHERE center_id = \(center) AND family_id = \(family)", logger: logger)
        try await c.run("DELETE FROM person_handoffs WHERE center_id = \(center) AND family_id = \(family)", logger: logger)
        for person in persons {
            let forgotten: Bool = try await c.first("SELECT portail_forget_person_if_alone(\(person.personID))", (Bool.self), logger: logger) ?? false
            if forgotten {
                try await c.run("DELETE FROM mail_outbox WHERE center_id = \(center) AND lower(to_address) = lower(\(person.email))", logger: logger)
            }
        }
    }
}
