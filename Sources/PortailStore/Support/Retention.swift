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
            // People's failed logins, quiet for a day, as the centers' own (LoginThrottle.purge).
            try await c.run("""
                DELETE FROM person_login_throttle WHERE last_failure_at < now() - interval '1 day' AND (blocked_until IS NULL OR blocked_until < now())
                """, logger: logger)
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
        /// Families that could not be handled (logged; the others went on).
        public var failed = 0

        public init() {}
        public var isEmpty: Bool { self == Families() }
    }

    /// A sign-up whose address was never proven is erased after this long (its link lasted 7 days).
    public static let unconfirmedSignUpDays = 30

    /// What makes a family idle for `years` (alias `f`): nobody logged in to it nor did the staff work on it,
    /// and it has no reservation, invoice, payment, waiting-list entry or file change since.
    static func idle(years: Int) -> String {
        let since = "now() - make_interval(years => \(years))"
        return """
            f.erased_at IS NULL AND f.dormant_at IS NULL AND f.created_at < \(since) AND f.last_activity_at < \(since)
            AND NOT EXISTS (SELECT 1 FROM reservations r WHERE r.center_id = f.center_id AND r.family_id = f.id
                            AND (r.created_at >= \(since) OR r.state = 'pending_payment' OR r.last_day >= (\(since))::date))
            AND NOT EXISTS (SELECT 1 FROM invoices i WHERE i.center_id = f.center_id AND i.family_id = f.id AND i.issued_at >= \(since))
            AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.center_id = f.center_id AND p.family_id = f.id AND p.received_at >= \(since))
            AND NOT EXISTS (SELECT 1 FROM waiting_list w WHERE w.center_id = f.center_id AND w.family_id = f.id AND w.created_at >= \(since))
            AND NOT EXISTS (SELECT 1 FROM family_file_changes x WHERE x.center_id = f.center_id AND x.family_id = f.id AND x.changed_at >= \(since))
            """
    }

    /// No accounting record to keep any more (FamilyPrivacy.erase's rule, in the center's time zone) and
    /// nothing booked to come (alias `f`).
    static func erasable(firstKeptDay: String, zone: TimeZone) -> String {
        let day = { (column: String) in "(\(column) AT TIME ZONE '\(zone.identifier.replacingOccurrences(of: "'", with: ""))')::date >= DATE '\(firstKeptDay)'" }
        return """
            f.erased_at IS NULL
            AND NOT EXISTS (SELECT 1 FROM invoices i WHERE i.center_id = f.center_id AND i.family_id = f.id AND \(day("i.issued_at")))
            AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.center_id = f.center_id AND p.family_id = f.id AND \(day("p.received_at")))
            AND NOT EXISTS (SELECT 1 FROM reservations r WHERE r.center_id = f.center_id AND r.family_id = f.id
                            AND (r.state = 'pending_payment' OR (r.state = 'confirmed' AND r.last_day >= CURRENT_DATE)))
            """
    }

    /// The families of one center that nobody has used for `years`: erased when no accounting record must
    /// be kept, else made dormant; dormant families whose records may now go, erased; sign-ups never
    /// confirmed after 30 days (and nothing booked or paid), erased. Each family in a transaction of its own
    /// that locks it and checks again (one used meanwhile is left alone); an error on one is logged and the
    /// others go on. At most `limit` of each kind a pass, oldest first; the selection leaves out what a
    /// pass could not do, so the next pass takes the next ones.
    public static func retireFamilies(_ database: Database, center: Int64, zone: TimeZone, years: Int, today: LocalDate,
                                      limit: Int = 25) async throws -> Families {
        let logger = database.logger
        let firstKeptDay = "\(Digits.pad(today.year - 10, 4))-01-01"
        let erasable = erasable(firstKeptDay: firstKeptDay, zone: zone)
        let idle = idle(years: years)
        let unconfirmed = """
            f.erased_at IS NULL AND f.state = 'invited' AND f.signed_up_at IS NOT NULL
            AND f.signed_up_at < now() - make_interval(days => \(unconfirmedSignUpDays)) AND f.last_activity_at < now() - make_interval(days => \(unconfirmedSignUpDays))
            """
        enum Kind { case idle, dormant, unconfirmed }
        let candidates = try await database.withCenter(center) { c -> [(Int64, Kind)] in
            var found: [(Int64, Kind)] = []
            for (condition, kind) in [(idle, Kind.idle), ("f.dormant_at IS NOT NULL AND " + erasable, .dormant), (unconfirmed + " AND " + erasable, .unconfirmed)] {
                let ids = try await c.all(PostgresQuery(unsafeSQL: """
                    SELECT f.id FROM families f WHERE f.center_id = $1 AND \(condition) ORDER BY f.id LIMIT $2
                    """, binds: try .of(center, limit)), (Int64.self), logger: logger)
                found += ids.map { ($0, kind) }
            }
            return found
        }
        var done = Families()
        for (family, kind) in candidates {
            do {
                let outcome = try await database.withCenter(center) { c -> String? in
                    // Locked, then checked again: a family used since the selection is left alone.
                    let condition = switch kind {
                    case .idle: idle
                    case .dormant: "f.dormant_at IS NOT NULL AND " + erasable
                    case .unconfirmed: unconfirmed + " AND " + erasable
                    }
                    guard try await c.first(PostgresQuery(unsafeSQL: """
                        SELECT f.id FROM families f WHERE f.center_id = $1 AND f.id = $2 AND \(condition) FOR UPDATE
                        """, binds: try .of(center, family)), (Int64.self), logger: logger) != nil else { return nil }
                    do {
                        return try await FamilyPrivacy.erase(c, center: center, family: family, today: today, zone: zone, actor: "retention", logger: logger)
                            ? "erased" : nil
                    } catch FamilyPrivacy.Refusal.recordsKeptUntil where kind == .idle {
                        // Its invoices or payments must stay: what they do not need goes now.
                        return try await FamilyPrivacy.makeDormant(c, center: center, family: family, actor: "retention", logger: logger) ? "dormant" : nil
                    } catch is FamilyPrivacy.Refusal {
                        return nil
                    }
                }
                switch (outcome, kind) {
                case ("erased", .unconfirmed): done.unconfirmedSignUps += 1
                case ("erased", _): done.erased += 1
                case ("dormant", _): done.dormant += 1
                default: break
                }
            } catch {
                done.failed += 1
                logger.error("retention of family \(family) of center \(center) failed: \(String(reflecting: error))")
            }
        }
        return done
    }
}
