import Foundation
import Logging
import PortailDomain
import PostgresNIO

/// A family as the center's staff see and edit it.
public struct FamilyDetail: Sendable, Codable {
    public struct Child: Sendable, Codable {
        public var id: Int64
        public var firstName: String
        public var lastName: String
        public var birthDate: String
    }

    public struct Quotient: Sendable, Codable {
        public var quotient: Int
        public var validFrom: String
        public var validTo: String?
        public var source: String
    }

    public var id: Int64
    public var email: String
    public var name: String
    public var phone: String
    public var addressLines: [String]
    public var postcode: String
    public var city: String
    /// The postcode and city the staff recorded, which the residents' priority reads (migration 0042): the
    /// family's own edits of its file change `postcode` and `city` only.
    public var residentPostcode: String
    public var residentCity: String
    public var category: String?
    /// Marked by the staff as a priority family: it books in the periods' `marked` priority windows.
    public var priorityMarked: Bool
    public var state: String
    public var children: [Child]
    public var quotients: [Quotient]
}

/// The fields of a family staff may change; nil leaves a field as it is.
public struct FamilyChanges: Sendable, Codable {
    public var email: String?
    public var name: String?
    public var phone: String?
    public var addressLines: [String]?
    public var postcode: String?
    public var city: String?
    /// A tariff category ("hors-commune"); an empty text puts the family back on the default grid.
    public var category: String?
    public var priorityMarked: Bool?

    public init() {}
}

/// Staff work on family accounts: details, edits, QF with validity dates, deactivation.
public enum FamilyAdministration {
    /// Whether the family's personal data was erased (RGPD); nil for a family that is not the center's.
    public static func isErased(_ c: PostgresConnection, center: Int64, family: Int64, logger: Logger) async throws -> Bool? {
        try await c.first("SELECT erased_at IS NOT NULL FROM families WHERE center_id = \(center) AND id = \(family)", (Bool.self), logger: logger)
    }

    public static func detail(_ c: PostgresConnection, center: Int64, family: Int64, logger: Logger) async throws -> FamilyDetail? {
        guard let row = try await c.first("""
            SELECT id, email, name, phone, address_lines, postcode, city, category, state, priority_marked, resident_postcode, resident_city
            FROM families WHERE center_id = \(center) AND id = \(family)
            """, (Int64, String, String, String, [String], String, String, String?, String, Bool, String, String).self, logger: logger) else { return nil }
        let children = try await c.all("""
            SELECT id, first_name, last_name, birth_date::text FROM children WHERE center_id = \(center) AND family_id = \(family) ORDER BY birth_date, id
            """, (Int64, String, String, String).self, logger: logger).map { FamilyDetail.Child(id: $0.0, firstName: $0.1, lastName: $0.2, birthDate: $0.3) }
        let quotients = try await c.all("""
            SELECT quotient, valid_from::text, valid_to::text, source FROM family_quotients WHERE center_id = \(center) AND family_id = \(family) ORDER BY valid_from
            """, (Int, String, String?, String).self, logger: logger).map { FamilyDetail.Quotient(quotient: $0.0, validFrom: $0.1, validTo: $0.2, source: $0.3) }
        return FamilyDetail(id: row.0, email: row.1, name: row.2, phone: row.3, addressLines: row.4, postcode: row.5, city: row.6,
                            residentPostcode: row.10, residentCity: row.11, category: row.7, priorityMarked: row.9, state: row.8,
                            children: children, quotients: quotients)
    }

    /// Applies `changes` and logs the family before and after; nil when there is no such family.
    public static func update(_ c: PostgresConnection, center: Int64, family: Int64, changes: FamilyChanges, actor: String, logger: Logger) async throws -> FamilyDetail? {
        guard try await isErased(c, center: center, family: family, logger: logger) == false,
              let before = try await detail(c, center: center, family: family, logger: logger) else { return nil }
        let category = changes.category.map { $0.isEmpty ? nil : $0 } ?? before.category
        // The staff's save of an address is the one the residents' priority reads (migration 0042).
        let recordsAddress = changes.postcode != nil || changes.city != nil
        try await c.run("""
            UPDATE families SET last_activity_at = now(), email = \(changes.email ?? before.email), name = \(changes.name ?? before.name), phone = \(changes.phone ?? before.phone),
                address_lines = \(changes.addressLines ?? before.addressLines), postcode = \(changes.postcode ?? before.postcode),
                city = \(changes.city ?? before.city), category = \(category),
                resident_postcode = CASE WHEN \(recordsAddress) THEN \(changes.postcode ?? before.postcode) ELSE resident_postcode END,
                resident_city = CASE WHEN \(recordsAddress) THEN \(changes.city ?? before.city) ELSE resident_city END,
                priority_marked = \(changes.priorityMarked ?? before.priorityMarked)
            WHERE center_id = \(center) AND id = \(family)
            """, logger: logger)
        let after = try await detail(c, center: center, family: family, logger: logger)!
        if after.email.lowercased() != before.email.lowercased() {
            // Links mailed to the old address, and sessions opened with it, must not outlive the change.
            try await AccountRepository.voidLinksAndSessions(c, center: center, family: family, logger: logger)
            // The family's own password from before people had one was the old address's: it goes with it.
            try await c.run("UPDATE families SET password_hash = NULL WHERE center_id = \(center) AND id = \(family)", logger: logger)
            try await People.changeOwnAddress(c, center: center, family: family, from: before.email, to: after.email, logger: logger)
        }
        try await AuditLog.record(c, center: center, actor: actor, action: "family.update", subject: before.email,
                                  before: Self.contact(before), after: Self.contact(after), logger: logger)
        return after
    }

    private static func contact(_ f: FamilyDetail) -> [String: String] {
        ["email": f.email, "name": f.name, "phone": f.phone, "address": f.addressLines.joined(separator: ", "),
         "postcode": f.postcode, "city": f.city, "resident_postcode": f.residentPostcode, "resident_city": f.residentCity,
         "category": f.category ?? "", "priority_marked": String(f.priorityMarked)]
    }

    /// What came of confirming a family's address for the residents' priority.
    public enum ResidentAddressRecord: Sendable { case recorded, changed, notFound }

    /// The staff confirm the postcode and city the family wrote in its file, as they saw them (`postcode`, `city`),
    /// as the address the residents' priority reads, logged. `changed`: the family's address is no longer the one
    /// the staff saw (nothing recorded); `notFound`: no such family, or it was erased.
    public static func recordResidentAddress(_ c: PostgresConnection, center: Int64, family: Int64, postcode: String, city: String,
                                             actor: String, logger: Logger) async throws -> ResidentAddressRecord {
        guard let before = try await c.first("""
            SELECT email, resident_postcode, resident_city, postcode, city FROM families
            WHERE center_id = \(center) AND id = \(family) AND erased_at IS NULL FOR UPDATE
            """, (String, String, String, String, String).self, logger: logger) else { return .notFound }
        guard before.3 == postcode, before.4 == city else { return .changed }
        try await c.run("""
            UPDATE families SET resident_postcode = \(postcode), resident_city = \(city), last_activity_at = now()
            WHERE center_id = \(center) AND id = \(family)
            """, logger: logger)
        try await AuditLog.record(c, center: center, actor: actor, action: "family.resident_address", subject: before.0,
                                  before: ["resident_postcode": before.1, "resident_city": before.2],
                                  after: ["resident_postcode": postcode, "resident_city": city], logger: logger)
        return .recorded
    }

    /// Why a QF cannot be recorded: another one already covers some of its days.
    public struct QuotientOverlap: Error, Sendable {
        public var validFrom: String
        public var message: String { "a QF valid from \(validFrom) already covers some of these days: give dates after it, or end it first" }
    }

    /// Records a QF from `from`; an open-ended QF that started before ends the day before, so that one
    /// QF at most applies on any day. Throws `QuotientOverlap` (the caller's transaction rolls back
    /// that shortening) when the new one would overlap another.
    public static func addQuotient(
        _ c: PostgresConnection, center: Int64, family: Int64, quotient: Int, from: LocalDate, to: LocalDate?, source: String,
        actor: String, logger: Logger
    ) async throws {
        try await touch(c, center: center, family: family, logger: logger)
        try await c.run("""
            UPDATE family_quotients SET valid_to = \(from.adding(days: -1).iso)::date
            WHERE center_id = \(center) AND family_id = \(family) AND valid_to IS NULL AND valid_from < \(from.iso)::date
            """, logger: logger)
        let end = to?.iso ?? "infinity"
        if let clash = try await c.first("""
            SELECT valid_from::text FROM family_quotients
            WHERE center_id = \(center) AND family_id = \(family)
              AND daterange(valid_from, coalesce(valid_to, 'infinity'::date), '[]') && daterange(\(from.iso)::date, \(end)::date, '[]')
            """, (String.self), logger: logger) {
            throw QuotientOverlap(validFrom: clash)
        }
        try await AccountRepository.addQuotient(c, center: center, family: family, quotient: quotient, from: from, to: to, source: source, logger: logger)
        struct Recorded: Encodable, Sendable { let quotient: Int; let valid_from: String; let valid_to: String?; let source: String }
        try await AuditLog.record(c, center: center, actor: actor, action: "family.quotient", subject: String(family),
                                  after: Recorded(quotient: quotient, valid_from: from.iso, valid_to: to?.iso, source: source), logger: logger)
    }

    /// The family is in use (staff work on it): the retention of inactive families starts counting again.
    public static func touch(_ c: PostgresConnection, center: Int64, family: Int64, logger: Logger) async throws {
        try await c.run("UPDATE families SET last_activity_at = now() WHERE center_id = \(center) AND id = \(family)", logger: logger)
    }

    /// Deactivates (no login, sessions closed; reservations and ledger stay) or reactivates a family.
    public static func setState(_ c: PostgresConnection, center: Int64, family: Int64, active: Bool, actor: String, logger: Logger) async throws -> Bool {
        guard let before = try await c.first("""
            SELECT state, email, has_password OR EXISTS (
                SELECT 1 FROM family_members m WHERE m.center_id = families.center_id AND m.family_id = families.id AND m.last_login_at IS NOT NULL)
            FROM families WHERE center_id = \(center) AND id = \(family) AND erased_at IS NULL FOR UPDATE
            """, (String, String, Bool).self, logger: logger) else { return false }
        // Reactivated, a family none of whose members ever logged in to it is invited again.
        let state = active ? (before.2 ? "active" : "invited") : "deactivated"
        // Reactivated by the staff, an account created by sign-up is approved.
        try await c.run("""
            UPDATE families SET state = \(state), approved_at = CASE WHEN \(active) AND signed_up_at IS NOT NULL THEN coalesce(approved_at, now()) ELSE approved_at END,
                dormant_at = CASE WHEN \(active) THEN NULL ELSE dormant_at END, last_activity_at = now()
            WHERE center_id = \(center) AND id = \(family)
            """, logger: logger)
        if !active {
            try await AccountRepository.voidLinksAndSessions(c, center: center, family: family, logger: logger)
        }
        try await AuditLog.record(c, center: center, actor: actor, action: active ? "family.reactivate" : "family.deactivate", subject: before.1,
                                  before: ["state": before.0], after: ["state": state], logger: logger)
        return true
    }

    /// Adds a child, logged, and returns its id.
    public static func addChild(
        _ c: PostgresConnection, center: Int64, family: Int64, firstName: String, lastName: String, birthDate: LocalDate, actor: String, logger: Logger
    ) async throws -> Int64 {
        try await touch(c, center: center, family: family, logger: logger)
        let id = try await AccountRepository.addChild(c, center: center, family: family, firstName: firstName, lastName: lastName, birthDate: birthDate, logger: logger)
        try await AuditLog.record(c, center: center, actor: actor, action: "child.create", subject: String(family),
                                  after: ["first_name": firstName, "last_name": lastName, "birth_date": birthDate.iso], logger: logger)
        return id
    }

    /// Corrects a child's names or birth date; false when the family has no such child.
    public static func updateChild(
        _ c: PostgresConnection, center: Int64, family: Int64, child: Int64, firstName: String?, lastName: String?, birthDate: LocalDate?,
        actor: String, logger: Logger
    ) async throws -> Bool {
        guard let before = try await c.first("""
            SELECT first_name, last_name, birth_date::text FROM children WHERE center_id = \(center) AND family_id = \(family) AND id = \(child)
            """, (String, String, String).self, logger: logger) else { return false }
        let after = (firstName ?? before.0, lastName ?? before.1, birthDate?.iso ?? before.2)
        try await c.run("""
            UPDATE children SET first_name = \(after.0), last_name = \(after.1), birth_date = \(after.2)::date
            WHERE center_id = \(center) AND id = \(child)
            """, logger: logger)
        try await AuditLog.record(c, center: center, actor: actor, action: "child.update", subject: String(child),
                                  before: ["first_name": before.0, "last_name": before.1, "birth_date": before.2],
                                  after: ["first_name": after.0, "last_name": after.1, "birth_date": after.2], logger: logger)
        return true
    }
}

/// A family as the back office's search lists it.
public struct FamilyFound: Sendable {
    public var id: Int64
    public var name: String
    public var email: String
    public var state: String
    /// First names of its children, in birth order.
    public var children: [String]
}

extension FamilyAdministration {
    /// Families whose name, e-mail, or one of whose children's names contains every word of `query`
    /// (case and accents ignored); at most `limit`, by name. An empty query lists the first families.
    public static func search(_ c: PostgresConnection, center: Int64, query: String, limit: Int, logger: Logger) async throws -> [FamilyFound] {
        let folded = query.folding(options: [.diacriticInsensitive, .caseInsensitive], locale: nil).lowercased()
        let words = folded.split(whereSeparator: \.isWhitespace).prefix(5).map { word in
            "%" + word.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%")
                .replacingOccurrences(of: "_", with: "\\_") + "%"
        }
        // Each family's name, e-mail and children's names are kept folded in `search_text` (migration 0039):
        // one LIKE ALL per family, without folding anything at search time. The first page (no words), and
        // a search that matches many, walk the families by name and stop at `limit`.
        let filter = words.isEmpty ? "" : " AND f.search_text LIKE ALL ($2::text[])"
        var sql = PostgresQuery(unsafeSQL: """
            SELECT f.id, f.name, f.email, f.state,
                   coalesce((SELECT array_agg(ch.first_name ORDER BY ch.birth_date, ch.id) FROM children ch
                             WHERE ch.center_id = f.center_id AND ch.family_id = f.id), '{}')
            FROM families f
            WHERE f.center_id = $1\(filter)
            ORDER BY f.name, f.id
            LIMIT \(limit)
            """)
        try sql.binds.append(center, context: .default)
        if !words.isEmpty { try sql.binds.append(words, context: .default) }
        return try await c.all(sql, (Int64, String, String, String, [String]).self, logger: logger).map {
            FamilyFound(id: $0.0, name: $0.1, email: $0.2, state: $0.3, children: $0.4)
        }
    }
}
