import Foundation
import Logging
import PortailTestSupport
import PostgresNIO
import Testing
@testable import PortailStore

/// Personal data kept only as long as needed (issue 16, item 6 in part): old mails are removed, the raw
/// text of old bank notifications and the details of old audit entries are emptied, expired staff
/// sessions go; recent ones stay, and the ledger is never touched.
@Suite struct RetentionTests {
    @Test func whatIsPastItsTimeIsRemovedAndTheRestStays() async throws {
        try await withSmallCenter(places: 3) { database, _, center in
            let logger = database.logger
            try await database.owner.withConnection { c in
                try await c.run("""
                    INSERT INTO mail_outbox (center_id, to_address, subject, body_text, created_at, sent_at, attempts) VALUES
                      (\(center), 'old@example.org', 'vieux', 'lien', now() - interval '200 days', now() - interval '200 days', 1),
                      (\(center), 'unsent@example.org', 'jamais envoyé', 'lien', now() - interval '200 days', NULL, 0),
                      (\(center), 'new@example.org', 'récent', 'lien', now() - interval '2 days', now() - interval '2 days', 1)
                    """, logger: logger)
                try await c.run("""
                    INSERT INTO payment_notifications (center_id, raw, outcome, received_at, status, amount_cents) VALUES
                      (\(center), 'vads_cust_name=DUPONT', 'applied', now() - interval '500 days', 'paid', 1000),
                      (\(center), 'vads_cust_name=MARTIN', 'applied', now() - interval '20 days', 'paid', 1200)
                    """, logger: logger)
                try await c.run("""
                    INSERT INTO audit_log (center_id, actor, action, subject, before, after, at) VALUES
                      (\(center), 'staff:a@example.org', 'family.update', 'x@example.org', '{"phone": "06"}', '{"phone": "07"}', now() - interval '4 years'),
                      (\(center), 'staff:a@example.org', 'family.update', 'y@example.org', '{"phone": "06"}', '{"phone": "07"}', now() - interval '1 day')
                    """, logger: logger)
            }
            let purged: Retention.Purged
            do { purged = try await Retention.apply(database, settings: RetentionSettings()) } catch {
                Issue.record("\(String(reflecting: error))"); return
            }
            #expect(purged.mails == 1 && purged.notifications == 1 && purged.auditEntries == 1, "\(purged)")
            let (mails, raws, audits) = try await database.owner.withConnection { c in
                (try await c.all("SELECT to_address FROM mail_outbox ORDER BY to_address", (String.self), logger: logger),
                 try await c.all("SELECT raw || ':' || status || ':' || amount_cents FROM payment_notifications ORDER BY received_at", (String.self), logger: logger),
                 try await c.all("SELECT action || ':' || coalesce(after::text, '-') FROM audit_log WHERE action = 'family.update' ORDER BY at", (String.self), logger: logger))
            }
            // A mail never sent (nor tried) waits for its delivery whatever its age.
            #expect(mails == ["new@example.org", "unsent@example.org"])
            // What a notification said about money stays; its raw text goes.
            #expect(raws == [":paid:1000", "vads_cust_name=MARTIN:paid:1200"])
            #expect(audits == ["family.update:-", "family.update:{\"phone\": \"07\"}"])
            // Again: nothing more.
            #expect(try await Retention.apply(database, settings: RetentionSettings()).isEmpty)
        }
    }

    @Test func settingsComeFromTheEnvironmentWithClearErrors() throws {
        #expect(try RetentionSettings.from([:]) == RetentionSettings())
        let set = try RetentionSettings.from(["PORTAIL_RETENTION_MAIL_DAYS": "30", "PORTAIL_RETENTION_AUDIT_DAYS": "730"])
        #expect(set.mailDays == 30 && set.auditDetailDays == 730 && set.notificationDays == 400)
        #expect(throws: RetentionError.self) { try RetentionSettings.from(["PORTAIL_RETENTION_NOTIFICATION_DAYS": "7"]) }
        do {
            _ = try RetentionSettings.from(["PORTAIL_RETENTION_MAIL_DAYS": "beaucoup"])
        } catch {
            #expect(error.message.contains("PORTAIL_RETENTION_MAIL_DAYS must be a number of days from 1 to 3650"))
        }
    }
}
