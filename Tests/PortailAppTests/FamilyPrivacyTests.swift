import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import PortailDomain
import Testing
@testable import PortailApp
@testable import PortailStore

/// A family's rights over its data (issue 16, item 6): a copy of everything the center holds, and the
/// erasure of its personal data, refused while accounting records of the last 10 years name it.
@Suite struct FamilyPrivacyTests {
    let office = BackOfficeSignInTests()

    @Test func aFamilyWithoutRecordsIsErasedAndOneWithInvoicesIsKept() async throws {
        try await withPortal(payment: "", provider: { _ in nil }) { client, fixture in
            let parent = Browser(client)
            _ = try await parent.login("/petit", email: "parent@example.org", password: PortalFixture.password)
            try await office.bookInvoiced(parent, fixture, days: [0])
            let browser = try await office.signedInManager(client, fixture)
            let booked = try await count(fixture, "SELECT id::int FROM families WHERE email = 'parent@example.org' AND center_id = \(fixture.petit.id)")
            let quiet = try await count(fixture, "SELECT id::int FROM families WHERE email = 'voisin@example.org' AND center_id = \(fixture.petit.id)")

            // The copy: details, children, reservations and invoices.
            let copy = try await browser.get("/admin/centres/petit/familles/\(booked)/donnees.json")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(copy.body.utf8)) as? [String: Any])
            #expect((json["family"] as? [String: Any])?["email"] as? String == "parent@example.org")
            #expect((json["reservations"] as? [[String: Any]])?.first?["days"] as? [String] == [fixture.petit.center.periods[0].startsOn.iso])
            #expect((json["ledger"] as? [[String: Any]])?.first?["number"] as? String == "PET00001")
            #expect(json["waiting_list"] as? [Any] != nil && json["cancelled_days"] as? [String: Any] != nil)

            // Invoices name it: kept, with the date from which erasure is possible.
            let kept = try await browser.post("/admin/centres/petit/familles/\(booked)/effacer", [("confirme", "oui")])
            // Ten years from the end of the year of the last document.
            let year = LocalDate(Date(), in: fixture.petit.center.zone).year + 11
            #expect(kept.status == .conflict && kept.text.contains("gardées 10 ans") && kept.text.contains("01/01/\(year)"), "\(kept.text)")
            #expect(try await count(fixture, "SELECT count(*)::int FROM families WHERE id = \(booked) AND email = 'parent@example.org'") == 1)

            // An edit first: the audit log names the family by its e-mail, with before and after.
            #expect(try await browser.post("/admin/centres/petit/familles/\(quiet)/modifier", [("nom", "FAMILLE INÈS"), ("email", "voisin@example.org"), ("telephone", "06 99 99 99 99")]).status == .seeOther)
            #expect(try await count(fixture, "SELECT count(*)::int FROM audit_log WHERE subject = 'voisin@example.org'") >= 1)
            // No record: erased; the account can no longer sign in.
            #expect(try await browser.post("/admin/centres/petit/familles/\(quiet)/effacer", []).status == .unprocessableContent)
            let erased = try await browser.post("/admin/centres/petit/familles/\(quiet)/effacer", [("confirme", "oui")])
            #expect(erased.location == "/admin/centres/petit/familles/\(quiet)?etat=effacee", "\(erased.text)")
            #expect(try await count(fixture, "SELECT count(*)::int FROM families WHERE id = \(quiet) AND name = 'Famille effacée' AND email LIKE 'efface-%' AND phone = '' AND state = 'deactivated'") == 1)
            #expect(try await count(fixture, "SELECT count(*)::int FROM children WHERE family_id = \(quiet) AND first_name <> 'Enfant'") == 0)
            #expect(try await count(fixture, "SELECT count(*)::int FROM audit_log WHERE action = 'family.erase'") == 1)
            #expect(try await count(fixture, "SELECT count(*)::int FROM audit_log WHERE subject ILIKE '%voisin@example.org%' OR after::text ILIKE '%voisin%'") == 0)
            #expect(try await count(fixture, "SELECT count(*)::int FROM children WHERE family_id = \(quiet) AND extract(doy FROM birth_date) <> 1") == 0)
            // Erased for good: not reactivated, edited nor booked for.
            #expect(try await browser.post("/admin/centres/petit/familles/\(quiet)/reactiver", []).status == .notFound)
            #expect(try await browser.post("/admin/centres/petit/familles/\(quiet)/modifier", [("nom", "Revenu"), ("email", "efface-\(quiet)@efface.invalid")]).status == .notFound)
            #expect(try await count(fixture, "SELECT count(*)::int FROM families WHERE id = \(quiet) AND state = 'deactivated' AND name = 'Famille effacée'") == 1)
            #expect(try await Browser(client).login("/petit", email: "voisin@example.org", password: PortalFixture.password).location != "/petit/compte")

            // The admin API says the same; the team may copy, not erase.
            let admin = try await staffToken(fixture, email: "admin@federation.example.org", federationAdmin: true)
            let refused = try await apiJSON(client, .post, "/api/centers/petit/families/\(booked)/erase", token: admin)
            #expect(refused.status == .conflict && (refused.json["detail"] as? String)?.contains("from \(year)-01-01") == true, "\(refused.json)")
            #expect(try await apiJSON(client, .get, "/api/centers/petit/families/\(booked)/export", token: admin).status == .ok)
            #expect(try await apiJSON(client, .get, "/api/centers/autre/families/\(booked)/export", token: admin).status == .notFound)
        }
    }
}
