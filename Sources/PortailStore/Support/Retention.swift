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
    /// A family with no reservation, invoice, payment, login or change of its file for this many years
    /// loses its file (health forms, documents, guardians and people allowed to pick up, calendar links);
    /// it is erased whole once its accounting records need no longer name it. Default 3 years.
    public var inactiveFamilyYears = 3

    public init() {}

    /// From PORTAIL_RETENTION_MAIL_DAYS, PORTAIL_RETENTION_NOTIFICATION_DAYS, PORTAIL_RETENTION_AUDIT_DAYS,
    /// PORTAIL_RETENTION_INACTIVE_YEARS; what is not set keeps its default. An invalid value says what to write.
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
            guard let years = Int(text), (1...10).contains(years) else {
                throw RetentionError(message: "PORTAIL_RETENTION_INACTIVE_YEARS must be a number of years from 1 to 10, found \"\(text)\"")
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
    /// Families inactive for `years`: their file goes (what still holds something), then those whose
    /// accounting records no longer need their name (none, or all older than the 10 years counted from
    /// the end of their year) are erased as an erasure request would (`FamilyPrivacy.erase`). At most
    /// 500 families a pass.
    static func inactiveFamilies(_ c: PostgresConnection, years: Int, logger: Logger) async throws -> (files: Int, erased: Int) {
        let inactive = try await c.all("""
            SELECT f.center_id, f.id,
                   NOT EXISTS (SELECT 1 FROM invoices i WHERE i.center_id = f.center_id AND i.family_id = f.id
                                 AND i.issued_at >= date_trunc('year', now()) - interval '10 years')
                   AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.center_id = f.center_id AND p.family_id = f.id
                                 AND p.received_at >= date_trunc('year', now()) - interval '10 years')
            FROM families f
            WHERE f.erased_at IS NULL AND f.created_at < now() - make_interval(years => \(years)::int)
              AND NOT EXISTS (SELECT 1 FROM reservations r WHERE r.center_id = f.center_id AND r.family_id = f.id
                                AND (r.created_at >= now() - make_interval(years => \(years)::int)
                                     OR r.last_day >= (now() - make_interval(years => \(years)::int))::date))
              AND NOT EXISTS (SELECT 1 FROM invoices i WHERE i.center_id = f.center_id AND i.family_id = f.id
                                AND i.issued_at >= now() - make_interval(years => \(years)::int))
              AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.center_id = f.center_id AND p.family_id = f.id
                                AND p.received_at >= now() - make_interval(years => \(years)::int))
              AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.center_id = f.center_id AND s.family_id = f.id
                                AND s.last_seen_at >= now() - make_interval(years => \(years)::int))
              AND NOT EXISTS (SELECT 1 FROM family_file_changes x WHERE x.center_id = f.center_id AND x.family_id = f.id
                                AND x.changed_at >= now() - make_interval(years => \(years)::int))
            ORDER BY f.center_id, f.id
            LIMIT 500
            """, (Int64, Int64, Bool).self, logger: logger)
        guard !inactive.isEmpty else { return (0, 0) }
        let centers = inactive.map(\.0), families = inactive.map(\.1)
        // The file, where it still holds something: one statement per table for every family at once.
        let files = try await c.first("""
            WITH target AS (SELECT * FROM unnest(\(centers)::bigint[], \(families)::bigint[]) AS t(center_id, family_id)),
            health AS (
                UPDATE child_files cf SET doctor = '', doctor_phone = '', allergies = '', pai = false, pai_details = '', diet = '', notes = '',
                    vaccinations_ok = false, health_saved_at = NULL, image_rights = NULL, outings = NULL, goes_home_alone = NULL, updated_at = now()
                FROM children ch JOIN target t ON t.center_id = ch.center_id AND t.family_id = ch.family_id
                WHERE cf.center_id = ch.center_id AND cf.child_id = ch.id
                  AND (cf.health_saved_at IS NOT NULL OR cf.image_rights IS NOT NULL OR cf.outings IS NOT NULL OR cf.goes_home_alone IS NOT NULL)
                RETURNING ch.center_id, ch.family_id
            ), documents AS (
                UPDATE family_documents d SET content = ''::bytea, state = 'removed'
                FROM target t WHERE d.center_id = t.center_id AND d.family_id = t.family_id AND d.state <> 'removed'
                RETURNING d.center_id, d.family_id
            ), people AS (
                DELETE FROM guardians g USING target t WHERE g.center_id = t.center_id AND g.family_id = t.family_id
                RETURNING g.center_id, g.family_id
            ), feeds AS (
                UPDATE calendar_feeds cal SET revoked_at = now()
                FROM target t WHERE cal.center_id = t.center_id AND cal.family_id = t.family_id AND cal.revoked_at IS NULL
                RETURNING cal.center_id, cal.family_id
            )
            SELECT count(*)::int FROM (SELECT * FROM health UNION SELECT * FROM documents UNION SELECT * FROM people UNION SELECT * FROM feeds) emptied
            """, (Int.self), logger: logger) ?? 0
        var erased = 0
        let today = LocalDate(Date(), in: TimeZone(identifier: "Europe/Paris")!)
        for (center, family, recordsGone) in inactive where recordsGone {
            do {
                if try await FamilyPrivacy.erase(c, center: center, family: family, today: today, actor: "retention", logger: logger) { erased += 1 }
            } catch is FamilyPrivacy.Refusal {
                continue
            }
        }
        return (files, erased)
    }

    public struct Purged: Sendable, Equatable {
        public var mails = 0
        public var notifications = 0
        public var auditEntries = 0
        public var staffSessions = 0
        /// Inactive families whose file was emptied, and those erased whole.
        public var inactiveFiles = 0
        public var erasedFamilies = 0

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
            (purged.inactiveFiles, purged.erasedFamilies) = try await inactiveFamilies(c, years: settings.inactiveFamilyYears, logger: logger)
            return purged
        }
    }
}
