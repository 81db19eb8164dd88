import Foundation
import Logging
import PortailDomain
import PostgresNIO

/// A family's rights over its data (RGPD): a copy of everything the center holds about it, and the
/// erasure of its personal data, refused while accounting records that name it must be kept (10 years
/// after the last one) and while it has reservations to come.
public enum FamilyPrivacy {
    /// A family's account, children, QF, guardians, reservations (and days cancelled from them), waiting
    /// lists and accounting documents, as one JSON document (the copy a family asks for).
    public struct Export: Sendable, Codable {
        public struct Reservation: Sendable, Codable {
            public var number: Int
            public var child: String
            public var period: String
            public var state: String
            public var days: [String]
            public var totalCents: Int
        }
        public struct Document: Sendable, Codable {
            public var kind: String
            public var number: String
            public var date: Date
            public var amountCents: Int
            public var label: String
        }
        public struct Waiting: Sendable, Codable {
            public var child: String
            public var day: String
            public var unit: String
            public var state: String
        }
        public var exportedAt: Date
        public var family: FamilyDetail
        public var guardians: [[String: String]]
        public var reservations: [Reservation]
        /// Days taken out of reservations (cancelled one by one), by reservation number.
        public var cancelledDays: [String: [String]]
        public var waitingList: [Waiting]
        public var ledger: [Document]
        /// Each child's health form and authorisations, the documents held (not their content), when the
        /// file was last confirmed.
        public var familyFile: [String: [[String: String]]]
        /// The people who log in to the family (its own address first), and who receives its invoices.
        public var members: [[String: String]]
    }

    public static func export(_ c: PostgresConnection, center: Int64, family: Int64, logger: Logger) async throws -> Export? {
        guard let detail = try await FamilyAdministration.detail(c, center: center, family: family, logger: logger) else { return nil }
        let guardians = try await c.all("""
            SELECT first_name, last_name, relation, email, phone, kind FROM guardians WHERE center_id = \(center) AND family_id = \(family) ORDER BY id
            """, (String, String, String, String, String, String).self, logger: logger).map {
            ["first_name": $0.0, "last_name": $0.1, "relation": $0.2, "email": $0.3, "phone": $0.4, "kind": $0.5]
        }
        var file: [String: [[String: String]]] = [:]
        if let view = try await FamilyFile.load(c, center: center, family: family, logger: logger) {
            func yesNo(_ value: Bool?) -> String { value.map { $0 ? "oui" : "non" } ?? "" }
            file["children"] = view.children.map { child in
                ["child": child.firstName, "doctor": child.file.doctor, "doctor_phone": child.file.doctorPhone, "allergies": child.file.allergies,
                 "pai": yesNo(child.file.pai), "pai_details": child.file.paiDetails, "diet": child.file.diet,
                 "vaccinations_up_to_date": yesNo(child.file.vaccinationsOK), "notes": child.file.notes,
                 "image_rights": yesNo(child.file.imageRights), "outings": yesNo(child.file.outings),
                 "goes_home_alone": yesNo(child.file.goesHomeAlone)]
            }
            file["documents"] = view.documents.map { ["kind": $0.kind.rawValue, "filename": $0.filename, "state": $0.state] }
            file["confirmed"] = view.confirmedAt.map { [["at": ISO8601DateFormatter().string(from: $0)]] } ?? []
        }
        let reservations = try await c.all("""
            SELECT r.number, ch.first_name, p.label, r.state, r.total_cents::bigint,
                   coalesce((SELECT array_agg(DISTINCT l.day::text ORDER BY l.day::text) FROM reservation_lines l
                             WHERE l.center_id = r.center_id AND l.reservation_id = r.id), '{}')
            FROM reservations r
            JOIN children ch ON ch.center_id = r.center_id AND ch.id = r.child_id
            JOIN periods p ON p.center_id = r.center_id AND p.id = r.period_id
            WHERE r.center_id = \(center) AND r.family_id = \(family) ORDER BY r.number
            """, (Int, String, String, String, Int, [String]).self, logger: logger).map {
            Export.Reservation(number: $0.0, child: $0.1, period: $0.2, state: $0.3, days: $0.5, totalCents: $0.4)
        }
        let ledger = try await c.all("""
            SELECT kind, number, issued_at, total_cents::bigint, '' FROM invoices WHERE center_id = \(center) AND family_id = \(family)
            UNION ALL
            SELECT 'payment', number, received_at, amount_cents::bigint, label FROM payments WHERE center_id = \(center) AND family_id = \(family)
            ORDER BY 3, 2
            """, (String, String, Date, Int, String).self, logger: logger).map {
            Export.Document(kind: $0.0, number: $0.1, date: $0.2, amountCents: $0.3, label: $0.4)
        }
        var cancelled: [String: [String]] = [:]
        for (number, day) in try await c.all("""
            SELECT r.number, l.day::text FROM cancelled_reservation_lines l
            JOIN reservations r ON r.center_id = l.center_id AND r.id = l.reservation_id
            WHERE l.center_id = \(center) AND r.family_id = \(family) ORDER BY r.number, l.day
            """, (Int, String).self, logger: logger) where cancelled[String(format: "%05d", number)]?.last != day {
            cancelled[String(format: "%05d", number), default: []].append(day)
        }
        let waiting = try await c.all("""
            SELECT ch.first_name, w.day::text, w.unit, w.state FROM waiting_list w
            JOIN children ch ON ch.center_id = w.center_id AND ch.id = w.child_id
            WHERE w.center_id = \(center) AND w.family_id = \(family) ORDER BY w.day, w.id
            """, (String, String, String, String).self, logger: logger).map { Export.Waiting(child: $0.0, day: $0.1, unit: $0.2, state: $0.3) }
        let members = try await People.members(c, center: center, family: family, logger: logger).map {
            ["email": $0.email, "billing_contact": $0.billingContact ? "oui" : "non", "own_address": $0.ownAddress ? "oui" : "non"]
        }
        return Export(exportedAt: Date(), family: detail, guardians: guardians, reservations: reservations, cancelledDays: cancelled,
                      waitingList: waiting, ledger: ledger, familyFile: file, members: members)
    }

    /// Why a family's data cannot be erased yet.
    public enum Refusal: Error, Sendable, Equatable {
        /// Invoices or payments name it: accounting records are kept 10 years, until this day.
        case recordsKeptUntil(LocalDate)
        /// It has reservations to come (or waiting for payment).
        case reservationsToCome
    }

    /// Erases the family's personal data: its account becomes "Famille effacée" with no e-mail, password,
    /// address or phone, its children and guardians lose their names (the children keep their year of
    /// birth), its QF, sessions, links and mails go, and the audit log names it by its number only. The
    /// reservations and accounting documents keep their numbers, amounts and lines (an invoice line names
    /// the child's first name: accounting records are kept as issued). The account is marked erased:
    /// nobody reactivates, invites, edits or books for it again.
    /// Returns false for a family that is not the center's.
    public static func erase(_ c: PostgresConnection, center: Int64, family: Int64, today: LocalDate, zone: TimeZone = TimeZone(identifier: "Europe/Paris")!,
                             actor: String, logger: Logger) async throws -> Bool {
        guard let email = try await c.first("""
            SELECT email FROM families WHERE center_id = \(center) AND id = \(family) AND erased_at IS NULL FOR UPDATE
            """, (String.self), logger: logger) else { return false }
        // Its children's rows too: a booking in progress (it locks the child) finishes before the count below.
        try await c.run("SELECT 1 FROM children WHERE center_id = \(center) AND family_id = \(family) FOR UPDATE", logger: logger)
        let lastRow: String?? = try await c.first("""
            SELECT max(d)::text FROM (
                SELECT (issued_at AT TIME ZONE \(zone.identifier))::date AS d FROM invoices WHERE center_id = \(center) AND family_id = \(family)
                UNION ALL SELECT (received_at AT TIME ZONE \(zone.identifier))::date FROM payments WHERE center_id = \(center) AND family_id = \(family)
            ) AS documents
            """, (String?.self), logger: logger)
        // Accounting records are kept 10 years from the end of their (calendar) year.
        if let text = lastRow ?? nil, let last = LocalDate(iso: text), let until = LocalDate(iso: "\(Digits.pad(last.year + 11, 4))-01-01") {
            if until > today { throw Refusal.recordsKeptUntil(until) }
        }
        let toCome = try await c.first("""
            SELECT count(*)::int FROM reservations r
            WHERE r.center_id = \(center) AND r.family_id = \(family)
              AND (r.state = 'pending_payment' OR (r.state = 'confirmed' AND r.last_day >= \(today.iso)::date))
            """, (Int.self), logger: logger) ?? 0
        guard toCome == 0 else { throw Refusal.reservationsToCome }
        // Mails to the family or its guardians, before their addresses go.
        try await c.run("""
            DELETE FROM mail_outbox WHERE center_id = \(center) AND lower(to_address) IN (
                SELECT lower(\(email)) UNION SELECT lower(email) FROM guardians WHERE center_id = \(center) AND family_id = \(family) AND email <> '')
            """, logger: logger)
        // What the audit log says about it: the entries stay (who did what, when), naming the family by its number.
        try await c.run("SELECT portail_erase_family_audit(\(family), \(email))", logger: logger)
        try await c.run("""
            UPDATE families SET email = 'efface-' || id || '@efface.invalid', name = 'Famille effacée', password_hash = NULL,
                address_lines = '{}', postcode = '', city = '', resident_postcode = '', resident_city = '', phone = '', category = NULL, priority_marked = false, state = 'deactivated',
                erased_at = now()
            WHERE center_id = \(center) AND id = \(family)
            """, logger: logger)
        // Children keep their year of birth (age statistics), nothing more.
        try await c.run("""
            UPDATE children SET first_name = 'Enfant', last_name = 'effacé', birth_date = date_trunc('year', birth_date)::date
            WHERE center_id = \(center) AND family_id = \(family)
            """, logger: logger)
        try await forgetFile(c, center: center, family: family, logger: logger)
        try await AuditLog.record(c, center: center, actor: actor, action: "family.erase", subject: "famille \(family)",
                                  after: ["erased": "true"], logger: logger)
        return true
    }

    /// What goes from a family as soon as nobody uses its account any more (erasure, dormancy): its
    /// guardians, file (health forms, documents, the queue's summaries), calendar feeds, QF, sessions,
    /// links, and its members (a person left with no family anywhere is forgotten).
    static func forgetFile(_ c: PostgresConnection, center: Int64, family: Int64, logger: Logger) async throws {
        try await c.run("""
            UPDATE guardians SET first_name = '', last_name = '', relation = '', email = '', phone = '' WHERE center_id = \(center) AND family_id = \(family)
            """, logger: logger)
        // The family file: health forms, documents (their content), what the staff's queue says of them.
        try await c.run("""
            UPDATE child_files SET doctor = '', doctor_phone = '', allergies = '', pai = false, pai_details = '', diet = '', notes = '',
                vaccinations_ok = false, health_saved_at = NULL, image_rights = NULL, outings = NULL, goes_home_alone = NULL, updated_at = now()
            WHERE center_id = \(center) AND child_id IN (SELECT id FROM children WHERE center_id = \(center) AND family_id = \(family))
            """, logger: logger)
        try await c.run("""
            UPDATE family_documents SET content = ''::bytea, filename = 'effacé', state = 'removed' WHERE center_id = \(center) AND family_id = \(family)
            """, logger: logger)
        try await c.run("UPDATE family_file_changes SET summary = '', note = '' WHERE center_id = \(center) AND family_id = \(family)", logger: logger)
        try await c.run("""
            UPDATE calendar_feeds SET label = '', revoked_at = coalesce(revoked_at, now()) WHERE center_id = \(center) AND family_id = \(family)
            """, logger: logger)
        for table in ["family_quotients", "sessions", "account_tokens"] {
            try await c.run(PostgresQuery(unsafeSQL: "DELETE FROM \(table) WHERE center_id = $1 AND family_id = $2", binds: try .of(center, family)), logger: logger)
        }
        // Its members leave it; a person with no family left anywhere is forgotten.
        try await People.removeAll(c, center: center, family: family, logger: logger)
    }

    /// A family nobody has used for years whose invoices or payments must still be kept: it becomes
    /// dormant. Its login, file, guardians, QF, phone, mails and its children's last names and birth days go
    /// and its account is closed; its name and address stay on its invoices (accounting records are kept as
    /// issued) until it may be erased.
    /// False for a family that is not the center's, or already erased or dormant.
    public static func makeDormant(_ c: PostgresConnection, center: Int64, family: Int64, actor: String, logger: Logger) async throws -> Bool {
        guard let email = try await c.first("""
            SELECT email FROM families WHERE center_id = \(center) AND id = \(family) AND erased_at IS NULL AND dormant_at IS NULL FOR UPDATE
            """, (String.self), logger: logger) else { return false }
        try await c.run("""
            DELETE FROM mail_outbox WHERE center_id = \(center) AND lower(to_address) IN (
                SELECT lower(\(email)) UNION SELECT lower(email) FROM guardians WHERE center_id = \(center) AND family_id = \(family) AND email <> '')
            """, logger: logger)
        try await c.run("SELECT portail_erase_family_audit(\(family), \(email))", logger: logger)
        try await forgetFile(c, center: center, family: family, logger: logger)
        // The children keep the first name their invoice lines name, and their year of birth.
        try await c.run("""
            UPDATE children SET last_name = '', birth_date = date_trunc('year', birth_date)::date WHERE center_id = \(center) AND family_id = \(family)
            """, logger: logger)
        try await c.run("""
            UPDATE families SET email = 'en-sommeil-' || id || '@efface.invalid', password_hash = NULL, phone = '', state = 'deactivated',
                priority_marked = false, dormant_at = now()
            WHERE center_id = \(center) AND id = \(family)
            """, logger: logger)
        try await AuditLog.record(c, center: center, actor: actor, action: "family.dormant", subject: "famille \(family)",
                                  after: ["dormant": "true"], logger: logger)
        return true
    }
}
