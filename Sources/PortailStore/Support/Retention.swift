import Foundation
import Logging
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
