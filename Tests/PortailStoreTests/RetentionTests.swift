import Foundation
import Logging
import PortailDomain
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

    /// Families nobody has used for years: one with nothing to keep is erased; one whose invoice must be
    /// kept 10 years becomes dormant (login, file and address book gone, its name kept on its invoice),
    /// then is erased once the invoice may go; a family that logged in or booked lately stays; a sign-up
    /// never confirmed goes after 30 days. A second pass finds nothing more to do.
    @Test func familiesNobodyUsesAreErasedOrMadeDormant() async throws {
        try await withSmallCenter(places: 5) { database, center, id in
            let logger = database.logger
            let families = try await makeFamilies(database, center: id, count: 5)
            // families[0] does nothing at all (rows[0] below).
            let (invoiced, loggedIn, booked, revived) = (families[1].0, families[2].0, families[3].0, families[4].0)
            let day = center.periods[0].startsOn
            // An invoice (a reservation paid at the office), then everything made four years old.
            for (family, child) in [(invoiced, families[1].1[0]), (revived, families[4].1[0])] {
                let reservation = try await book(database, center, id, family: family, child: child, days: [day: ["journee"]])
                try await database.withCenter(id) { c in
                    try await BookingRepository.confirm(c, center: id, reservations: [reservation.reservationID], logger: logger)
                    _ = try await LedgerRepository.issueInvoice(for: [reservation.reservationID], center: center, centerID: id, family: family, c, logger: logger)
                }
            }
            try await database.withCenter(id) { c in
                _ = try await FamilyFile.addPerson(c, center: id, family: invoiced, .init(kind: .pickup, firstName: "Marie", lastName: "Durand",
                                                                                          relation: "grand-mère", email: "", phone: "0493000000"),
                                                   rules: nil, logger: logger)
            }
            _ = try await book(database, center, id, family: booked, child: families[3].1[0], days: [day.adding(days: 1): ["journee"]])
            try await database.owner.withConnection { c in
                try await c.run("UPDATE families SET created_at = now() - interval '4 years', last_activity_at = now() - interval '4 years' WHERE center_id = \(id)", logger: logger)
                try await c.run("UPDATE families SET last_activity_at = now() - interval '2 days' WHERE center_id = \(id) AND id = \(loggedIn)", logger: logger)
                try await c.run("""
                    UPDATE reservations SET created_at = now() - interval '4 years', first_day = first_day - 1461, last_day = last_day - 1461
                    WHERE center_id = \(id) AND family_id IN (\(invoiced), \(revived))
                    """, logger: logger)
                try await c.run("UPDATE invoices SET issued_at = now() - interval '4 years' WHERE center_id = \(id)", logger: logger)
                // A sign-up 40 days ago whose link was never used.
                try await c.run("""
                    INSERT INTO families (center_id, email, name, state, signed_up_at, last_activity_at)
                    VALUES (\(id), 'jamais@example.org', 'JAMAIS', 'invited', now() - interval '40 days', now() - interval '40 days')
                    """, logger: logger)
            }
            let today = LocalDate(Date(), in: center.zone)
            let first = try await Retention.retireFamilies(database, center: id, zone: center.zone, years: 3, today: today)
            #expect(first.erased == 1 && first.dormant == 2 && first.unconfirmedSignUps == 1 && first.failed == 0, "\(first)")
            let rows = try await database.owner.withConnection { c in
                try await c.all("""
                    SELECT name, email, state, erased_at IS NOT NULL, dormant_at IS NOT NULL FROM families WHERE center_id = \(id) ORDER BY id
                    """, (String, String, String, Bool, Bool).self, logger: logger)
            }
            #expect(rows[0].0 == "Famille effacée" && rows[0].3)  // nothing to keep: erased
            #expect(rows[1].0 == "F1" && rows[1].1.hasSuffix("@efface.invalid") && rows[1].2 == "deactivated" && rows[1].4 && !rows[1].3)
            #expect(rows[2].0 == "F2" && !rows[2].3 && !rows[2].4)  // logged in two days ago
            #expect(rows[3].0 == "F3" && !rows[3].3 && !rows[3].4)  // a reservation to come
            #expect(rows[5].3)  // the unconfirmed sign-up
            // A dormant family keeps its children's first names (its invoices name them), not their last names nor birth days.
            #expect(try await database.owner.withConnection { c -> String? in
                try await c.first("SELECT first_name || '/' || last_name || '/' || birth_date::text FROM children WHERE center_id = \(id) AND family_id = \(invoiced)",
                                  (String.self), logger: logger)
            } == "C1-0//2015-01-01")
            // The dormant family: no login, no one to pick the children up; its invoice still names it.
            #expect(try await database.owner.withConnection { c -> Int? in
                try await c.first("""
                    SELECT ((SELECT count(*) FROM family_members WHERE center_id = \(id) AND family_id = \(invoiced))
                         + (SELECT count(*) FROM guardians WHERE center_id = \(id) AND family_id = \(invoiced) AND first_name <> ''))::int
                    """, (Int.self), logger: logger)
            } == 0)
            #expect(try await database.owner.withConnection { c -> Int? in
                try await c.first("SELECT count(*)::int FROM people WHERE email IN ('f0@example.org', 'f1@example.org', 'jamais@example.org')", (Int.self), logger: logger)
            } == 0)
            // A dormant family the staff reactivate counts as used again: the next passes leave it alone.
            try await database.withCenter(id) { c in
                _ = try await FamilyAdministration.setState(c, center: id, family: revived, active: true, actor: "test", logger: logger)
            }
            // Again: nothing. Eleven years later, the dormant family's invoice may go: it is erased.
            #expect(try await Retention.retireFamilies(database, center: id, zone: center.zone, years: 3, today: today).isEmpty)
            let later = try #require(LocalDate(year: today.year + 11, month: 1, day: 2))
            let second = try await Retention.retireFamilies(database, center: id, zone: center.zone, years: 3, today: later)
            #expect(second.erased == 1 && second.dormant == 0, "\(second)")
            #expect(try await database.owner.withConnection { c -> Bool? in
                try await c.first("SELECT erased_at IS NULL AND dormant_at IS NULL FROM families WHERE center_id = \(id) AND id = \(revived)", (Bool.self), logger: logger)
            } == true)
            #expect(try await database.owner.withConnection { c -> String? in
                try await c.first("SELECT name FROM families WHERE center_id = \(id) AND id = \(invoiced)", (String.self), logger: logger)
            } == "Famille effacée")
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
