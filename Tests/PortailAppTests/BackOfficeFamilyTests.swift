import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import PortailDomain
import Testing
@testable import PortailApp
@testable import PortailStore

/// Family files at the office (issue 14, item 5): created with its children and QF (the activation link
/// e-mailed), edited with the audit kept (the login e-mail is the managers'), a child and a QF added,
/// the activation link sent again; another center's family is not found.
@Suite struct BackOfficeFamilyTests {
    let office = BackOfficeSignInTests()

    @Test func theTeamCreatesAFamilyAndKeepsItsFile() async throws {
        try await withPortal(payment: "", provider: { _ in nil }) { client, fixture in
            try await office.invitedManager(client, fixture, email: "animateur@petit.example.org", role: "staff")
            let browser = Browser(client)
            _ = try await office.signIn(browser, email: "animateur@petit.example.org")
            #expect(try await browser.get("/admin/centres/petit/nouvelle-famille").status == .ok)

            let wrong = try await browser.post("/admin/centres/petit/nouvelle-famille",
                                               [("nom", "LEROY Anne"), ("email", "pas-une-adresse"), ("enfant1_prenom", "Tom"), ("enfant1_naissance", "hier")])
            #expect(wrong.status == .unprocessableContent && wrong.text.contains("Indiquez l'adresse e-mail") && wrong.text.contains("Enfant 1"), "\(wrong.text)")
            #expect(wrong.body.contains("value=\"LEROY Anne\""))
            let fields = [("nom", "LEROY Anne"), ("email", "anne.leroy@example.org"), ("telephone", "06 12 34 56 78"), ("adresse", "3 chemin des Oliviers"),
                          ("code_postal", "06650"), ("ville", "Le Rouret"), ("enfant1_prenom", "Tom"), ("enfant1_naissance", "2019-05-04"), ("quotient", "620")]
            let created = try await browser.post("/admin/centres/petit/nouvelle-famille", fields)
            #expect(created.status == .seeOther, "\(created.text)")
            let id = try await count(fixture, "SELECT id::int FROM families WHERE email = 'anne.leroy@example.org' AND center_id = \(fixture.petit.id) AND state = 'invited'")
            #expect(created.location == "/admin/centres/petit/familles/\(id)?etat=creee")
            let page = try await browser.get(try #require(created.location))
            #expect(page.text.contains("Famille créée") && page.text.contains("TOM LEROY") && page.text.contains("QF 620") && page.text.contains("06 12 34 56 78"), "\(page.text)")
            #expect(try await count(fixture, "SELECT count(*)::int FROM mail_outbox WHERE to_address = 'anne.leroy@example.org' AND body_text LIKE '%activation?jeton=%'") == 1)
            #expect(try await count(fixture, "SELECT count(*)::int FROM audit_log WHERE action = 'family.create' AND actor = 'staff:animateur@petit.example.org'") == 1)
            // The same e-mail again: said, nothing created.
            let twice = try await browser.post("/admin/centres/petit/nouvelle-famille", fields)
            #expect(twice.status == .conflict && twice.text.contains("utilise déjà anne.leroy@example.org"))

            // Edited: the audit keeps before and after; the login e-mail is not the team's to change.
            let edit = try await browser.post("/admin/centres/petit/familles/\(id)/modifier",
                                              [("nom", "LEROY Anne"), ("email", "anne.leroy@example.org"), ("telephone", "04 93 00 00 00"),
                                               ("adresse", "3 chemin des Oliviers"), ("code_postal", "06650"), ("ville", "Le Rouret")])
            #expect(edit.status == .seeOther && edit.location == "/admin/centres/petit/familles/\(id)?etat=modifiee")
            #expect(try await count(fixture, "SELECT count(*)::int FROM audit_log WHERE action = 'family.update' AND before::text LIKE '%06 12 34 56 78%' AND after::text LIKE '%04 93 00 00 00%'") == 1)
            let takeover = try await browser.post("/admin/centres/petit/familles/\(id)/modifier",
                                                  [("nom", "LEROY Anne"), ("email", "pirate@example.org"), ("telephone", "04 93 00 00 00")])
            #expect(takeover.status == .unprocessableContent && takeover.text.contains("réservé aux responsables"))
            #expect(try await count(fixture, "SELECT count(*)::int FROM families WHERE email = 'pirate@example.org'") == 0)

            // A child, a QF; an overlapping QF is refused in French; the activation link again.
            #expect(try await browser.post("/admin/centres/petit/familles/\(id)/enfants", [("prenom", "Lou"), ("nom_enfant", "Leroy"), ("naissance", "2021-01-10")]).status == .seeOther)
            #expect(try await count(fixture, "SELECT count(*)::int FROM children WHERE family_id = \(id) AND first_name = 'LOU'") == 1)
            #expect(try await browser.post("/admin/centres/petit/familles/\(id)/quotients", [("qf", "700"), ("qf_du", "2027-01-01"), ("qf_au", ""), ("qf_source", "CAF")]).status == .seeOther)
            let overlap = try await browser.post("/admin/centres/petit/familles/\(id)/quotients", [("qf", "800"), ("qf_du", "2027-01-01"), ("qf_au", "2027-03-01"), ("qf_source", "CAF")])
            #expect(overlap.status == .conflict && overlap.text.contains("couvre déjà une partie de ces dates"), "\(overlap.text)")
            #expect(try await browser.post("/admin/centres/petit/familles/\(id)/invitation", []).location == "/admin/centres/petit/familles/\(id)?etat=invitation")
            #expect(try await count(fixture, "SELECT count(*)::int FROM mail_outbox WHERE to_address = 'anne.leroy@example.org'") == 2)

            // A child corrected; the account deactivated (no login), then reactivated.
            let lou = try await count(fixture, "SELECT id::int FROM children WHERE family_id = \(id) AND first_name = 'LOU'")
            #expect(try await browser.post("/admin/centres/petit/familles/\(id)/enfants/\(lou)", [("prenom", "Louise"), ("nom_enfant", "Leroy"), ("naissance", "2021-01-11")]).status == .seeOther)
            #expect(try await count(fixture, "SELECT count(*)::int FROM children WHERE id = \(lou) AND first_name = 'LOUISE' AND birth_date = '2021-01-11'") == 1)
            let parentID = try await count(fixture, "SELECT id::int FROM families WHERE email = 'parent@example.org' AND center_id = \(fixture.petit.id)")
            #expect(try await browser.post("/admin/centres/petit/familles/\(parentID)/desactiver", []).location == "/admin/centres/petit/familles/\(parentID)?etat=desactivee")
            #expect(try await Browser(client).login("/petit", email: "parent@example.org", password: PortalFixture.password).location != "/petit/compte")
            #expect(try await browser.get("/admin/centres/petit/familles/\(parentID)").text.contains("Réactiver le compte"))
            _ = try await browser.post("/admin/centres/petit/familles/\(parentID)/reactiver", [])
            #expect(try await count(fixture, "SELECT count(*)::int FROM families WHERE id = \(parentID) AND state = 'active'") == 1)

            // Another center's family, through this center's address or its own: not found.
            let elsewhere = try await count(fixture, "SELECT id::int FROM families WHERE email = 'parent@example.org' AND center_id = \(fixture.autre.id)")
            #expect(try await browser.post("/admin/centres/petit/familles/\(elsewhere)/enfants", [("prenom", "X"), ("nom_enfant", "Y"), ("naissance", "2020-01-01")]).status == .notFound)
            #expect(try await browser.get("/admin/centres/petit/familles/\(elsewhere)/modifier").status == .notFound)
            #expect(try await browser.get("/admin/centres/autre/familles/\(elsewhere)/modifier").status == .notFound)
            #expect(try await browser.post("/admin/centres/petit/familles/\(elsewhere)/desactiver", []).status == .notFound)
            #expect(try await count(fixture, "SELECT count(*)::int FROM children WHERE first_name = 'X'") == 0)
        }
    }

    @Test func aManagerChangesTheLoginEmailAndTheOldAddressIsTold() async throws {
        try await withPortal(payment: "", provider: { _ in nil }) { client, fixture in
            let browser = try await office.signedInManager(client, fixture)
            let id = try await count(fixture, "SELECT id::int FROM families WHERE email = 'parent@example.org' AND center_id = \(fixture.petit.id)")
            let form = try await browser.get("/admin/centres/petit/familles/\(id)/modifier")
            #expect(form.status == .ok && form.body.contains("value=\"parent@example.org\""))
            let moved = try await browser.post("/admin/centres/petit/familles/\(id)/modifier", [("nom", "FAMILLE JULES"), ("email", "nouvelle@example.org")])
            #expect(moved.status == .seeOther, "\(moved.text)")
            #expect(try await count(fixture, "SELECT count(*)::int FROM families WHERE id = \(id) AND email = 'nouvelle@example.org'") == 1)
            #expect(try await count(fixture, "SELECT count(*)::int FROM mail_outbox WHERE to_address = 'parent@example.org' AND subject LIKE '%adresse de connexion modifiée%'") == 1)
            let taken = try await browser.post("/admin/centres/petit/familles/\(id)/modifier", [("nom", "FAMILLE JULES"), ("email", "voisin@example.org")])
            #expect(taken.status == .conflict && taken.text.contains("utilise déjà cette adresse"))
        }
    }
}
