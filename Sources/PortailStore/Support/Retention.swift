import Foundation
import Logging
import PortailDomain
import PostgresNIO

/// How long personal data that the law does not require is kept (RGPD): what is past its time is
/// removed or emptied by the maintenance job. Invoices, credit notes, refunds, payments and their
/// allocations are never touched (10 years of accounting records); what a notification said about
/// money (its attempt, status, amount, transaction) stays too, only its raw text goes.
public struct RetentionSettings: Sendable, Equatable {
    /// Sent (or abandoned) mails of the outbox: they hold links, names and amounts. Default 90 days.
    public var mailDays = 90
    /// The raw text of the banks' notifications (card details masked, but names and addresses): kept for
    /// disputes, about 13 months. Default 400 days.
    public var notificationDays = 400
    /// What an audit entry changed (before/after, which may name people); who did what and when stays.
    /// Default 3 years.
    public var auditDetailDays = 1095
    /// A family nobody has used for this many years (no login, booking, invoice, payment, waiting list or
    /// file change) is erased, or made dormant while its accounting records must be kept. Default 3 years.
    public var inactiveFamilyYears = 3

    public init() {}

    /// From PORTAIL_RETENTION_MAIL_DAYS, PORTAIL_RETENTION_NOTIFICATION_DAYS, PORTAIL_RETENTION_AUDIT_DAYS;
    /// what is not set keeps its default. An invalid value says what to write.
    public static func from(_ environment: [String: String]) throws(RetentionError) -> RetentionSettings {
        var settings = RetentionSettings()
        for (name, path, range) in [("PORTAIL_RETENTION_MAIL_DAYS", \RetentionSettings.mailDays, 1...3650),
                                    ("PORTAIL_RETENTION_NOTIFICATION_DAYS", \RetentionSettings.notificationDays, 30...3650),
                                    ("PORTAIL_RETENTION_AUDIT_DAYS", \RetentionSettings.auditDetailDays, 30...3650)] {
            guard let text = environment[name], !text.isEmpty else { continue }
            guard let days = Int(text), range.contains(days) else {
                throw RetentionError(message: "\(name) must be a number of days from \(range.lowerBound) to \(range.upperBound), found \"\(text)\"")
            }
            settings[keyPath: path] = days
        }
        if let text = environment["PORTAIL_RETENTION_INACTIVE_YEARS"], !text.isEmpty {
            guard let years = Int(text), (1...30).contains(years) else {
                throw RetentionError(message: "PORTAIL_RETENTION_INACTIVE_YEARS must be a number of years from 1 to 30, found \"\(text)\"")
            }
            settings.inactiveFamilyYears = years
        }
        return settings
    }
}

public struct RetentionError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }
}

public enum Retention {
    public struct Purged: Sendable, Equatable {
        public var mails = 0
        public var notifications = 0
        public var auditEntries = 0
        public var staffSessions = 0

        public init() {}
        public var isEmpty: Bool { self == Purged() }
    }

    /// Applies `settings` to every center, on the owner's connection (the application role may not
    /// empty what it only appends). Safe on several instances at once: each statement is idempotent.
    public static func apply(_ database: Database, settings: RetentionSettings) async throws -> Purged {
        let logger = database.logger
        return try await database.owner.withConnection { c in
            var purged = Purged()
            purged.mails = try await c.first("""
                WITH gone AS (
                    DELETE FROM mail_outbox
                    WHERE created_at < now() - make_interval(days => \(settings.mailDays)::int)
                      AND (sent_at IS NOT NULL OR attempts > 0)
                    RETURNING 1
                ) SELECT count(*)::int FROM gone
                """, (Int.self), logger: logger) ?? 0
            purged.notifications = try await c.first("""
                WITH emptied AS (
                    UPDATE payment_notifications SET raw = ''
                    WHERE received_at < now() - make_interval(days => \(settings.notificationDays)::int) AND raw <> ''
                    RETURNING 1
                ) SELECT count(*)::int FROM emptied
                """, (Int.self), logger: logger) ?? 0
            purged.auditEntries = try await c.first("""
                WITH emptied AS (
                    UPDATE audit_log SET before = NULL, after = NULL
                    WHERE at < now() - make_interval(days => \(settings.auditDetailDays)::int) AND (before IS NOT NULL OR after IS NOT NULL)
                    RETURNING 1
                ) SELECT count(*)::int FROM emptied
                """, (Int.self), logger: logger) ?? 0
            purged.staffSessions = try await c.first("""
                WITH gone AS (DELETE FROM staff_sessions WHERE expires_at < now() - interval '1 day' RETURNING 1) SELECT count(*)::int FROM gone
                """, (Int.self), logger: logger) ?? 0
            return purged
        }
    }
}

extension Retention {
    /// What a pass did to one center's families.
    public struct Families: Sendable, Equatable {
        public var erased = 0
        public var dormant = 0
        public var unconfirmedSignUps = 0

        public init() {}
        public var isEmpty: Bool { self == Families() }
    }

    /// A sign-up whose address was never proven is erased after this long (its link lasted 7 days).
    public static let unconfirmedSignUpDays = 30

    /// The families of one center that nobody has used for `years`, each in a transaction of its own
    /// (locked, checked again by `FamilyPrivacy`): erased when no accounting record must be kept, else
    /// made dormant; dormant families whose records may now go, erased; sign-ups never confirmed after
    /// 30 days, erased. At most `limit` of each kind a pass, oldest first: the next pass takes the next.
    public static func retireFamilies(_ database: Database, center: Int64, years: Int, today: LocalDate, limit: Int = 100) async throws -> Families {
        let logger = database.logger
        let firstKeptDay = "\(Digits.pad(today.year - 10, 4))-01-01"
        let (idle, erasable, unconfirmed) = try await database.withCenter(center) { c in
            let idle = try await c.all("""
                SELECT f.id FROM families f
                WHERE f.center_id = \(center) AND f.erased_at IS NULL AND f.dormant_at IS NULL
                  AND f.created_at < now() - make_interval(years => \(years)::int)
                  AND coalesce(f.last_login_at, f.created_at) < now() - make_interval(years => \(years)::int)
                  AND NOT EXISTS (SELECT 1 FROM reservations r WHERE r.center_id = f.center_id AND r.family_id = f.id
                                  AND (r.created_at >= now() - make_interval(years => \(years)::int) OR r.state = 'pending_payment'
                                       OR r.last_day >= (now() - make_interval(years => \(years)::int))::date))
                  AND NOT EXISTS (SELECT 1 FROM invoices i WHERE i.center_id = f.center_id AND i.family_id = f.id
                                  AND i.issued_at >= now() - make_interval(years => \(years)::int))
                  AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.center_id = f.center_id AND p.family_id = f.id
                                  AND p.received_at >= now() - make_interval(years => \(years)::int))
                  AND NOT EXISTS (SELECT 1 FROM waiting_list w WHERE w.center_id = f.center_id AND w.family_id = f.id
                                  AND w.created_at >= now() - make_interval(years => \(years)::int))
                  AND NOT EXISTS (SELECT 1 FROM family_file_changes x WHERE x.center_id = f.center_id AND x.family_id = f.id
                                  AND x.changed_at >= now() - make_interval(years => \(years)::int))
                ORDER BY f.id LIMIT \(limit)
                """, (Int64.self), logger: logger)
            // Accounting records are kept 10 years from the end of their year (FamilyPrivacy.erase's rule).
            let erasable = try await c.all("""
                SELECT f.id FROM families f
                WHERE f.center_id = \(center) AND f.erased_at IS NULL AND f.dormant_at IS NOT NULL
                  AND NOT EXISTS (SELECT 1 FROM invoices i WHERE i.center_id = f.center_id AND i.family_id = f.id AND i.issued_at >= \(firstKeptDay)::date)
                  AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.center_id = f.center_id AND p.family_id = f.id AND p.received_at >= \(firstKeptDay)::date)
                ORDER BY f.id LIMIT \(limit)
                """, (Int64.self), logger: logger)
            let unconfirmed = try await c.all("""
                SELECT id FROM families
                WHERE center_id = \(center) AND erased_at IS NULL AND state = 'invited' AND signed_up_at IS NOT NULL
                  AND signed_up_at < now() - make_interval(days => \(unconfirmedSignUpDays)::int)
                ORDER BY id LIMIT \(limit)
                """, (Int64.self), logger: logger)
            return (idle, erasable, unconfirmed)
        }
        var done = Families()
        for family in Set(idle + erasable + unconfirmed).sorted() {
            do {
                if try await database.withCenter(center, { c in
                    try await FamilyPrivacy.erase(c, center: center, family: family, today: today, actor: "retention", logger: logger)
                }) {
                    if unconfirmed.contains(family) { done.unconfirmedSignUps += 1 } else { done.erased += 1 }
                }
            } catch FamilyPrivacy.Refusal.recordsKeptUntil {
                // Its invoices or payments must stay: what they do not need goes now.
                guard idle.contains(family) else { continue }
                if try await database.withCenter(center, { c in
                    try await FamilyPrivacy.makeDormant(c, center: center, family: family, actor: "retention", logger: logger)
                }) { done.dormant += 1 }
            } catch FamilyPrivacy.Refusal.reservationsToCome {
                continue
            }
        }
        return done
    }
}
