import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import PortailDomain
import PortailTestSupport
import Testing
@testable import PortailApp
@testable import PortailStore

/// The federation's pages (issue 14, item 8): centers with their state and figures, a center onboarded or
/// updated from its file with the difference shown before it is applied, suspended and resumed; and a
/// center's journal filtered by who and what. Only federation administrators reach the federation's pages.
@Suite struct BackOfficeFederationTests {
    let office = BackOfficeSignInTests()

    /// A federation administrator with a back-office password and TOTP, signed in.
    func signedInFederationAdmin(_ client: any TestClientProtocol, _ fixture: PortalFixture) async throws -> Browser {
        let email = "admin@federation.example.org"
        _ = try await staffToken(fixture, email: email, federationAdmin: true)
        let hash = try await Passwords.hash(BackOfficeSignInTests.password)
        #expect(try await fixture.database.owner.withConnection { c in
            try await StaffSignIn.ownerSetPassword(c, email: email, hash: hash, logger: fixture.database.logger)
        })
        let browser = Browser(client)
        _ = try await office.signIn(browser, email: email)
        let enrol = try await browser.get("/admin/verification")
        #expect(try await browser.post("/admin/verification", [("code", try office.code(for: enrol.body))]).status == .ok)
        return browser
    }

    @Test func aFederationAdministratorOnboardsACenterFromItsFileAfterSeeingTheDifference() async throws {
        try await withPortal(payment: "", provider: { _ in nil }) { client, fixture in
            let browser = try await signedInFederationAdmin(client, fixture)
            #expect(try await browser.get("/admin/").text.contains("Administration de la fédération"))
            let list = try await browser.get("/admin/federation")
            #expect(list.status == .ok && list.text.contains("Centre petit") && list.text.contains("Centre autre") && list.text.contains("ouvert"))

            // A file that fails its checks: each problem with its line.
            let broken = try await browser.post("/admin/federation/importer", [("fichier", "code: neuf\nname: [\n")])
            #expect(broken.status == .unprocessableContent && broken.text.contains("Ligne"), "\(broken.text)")
            #expect(try await browser.post("/admin/federation/importer", [("fichier", "  ")]).text.contains("Collez le fichier"))
            // A host another center serves.
            let clash = TestCenters.small(code: "double", places: 5).replacingOccurrences(of: "hosts: [double.example.org]", with: "hosts: [petit.example.org]")
            let refused = try await browser.post("/admin/federation/importer", [("fichier", clash)])
            #expect(refused.status == .conflict && refused.text.contains("déjà celle de l'accueil petit"), "\(refused.text)")

            // A new center: previewed, nothing written; then applied and served at once.
            let file = TestCenters.small(code: "neuf", places: 5)
            let preview = try await browser.post("/admin/federation/importer", [("fichier", file)])
            #expect(preview.status == .ok && preview.text.contains("Nouvel accueil « Centre neuf » (neuf)") && preview.text.contains("Appliquer"), "\(preview.text)")
            #expect(try await count(fixture, "SELECT count(*)::int FROM centers WHERE code = 'neuf'") == 0)
            let applied = try await browser.post("/admin/federation/importer", [("fichier", file), ("etape", "enregistrer")])
            #expect(applied.status == .seeOther && applied.location == "/admin/federation?etat=importe&centre=neuf")
            #expect(try await browser.get(try #require(applied.location)).text.contains("L'accueil « Centre neuf » est enregistré"))
            #expect(try await client.execute(uri: "/neuf/", method: .get).status == .ok)

            // An update says what changes, in the words of the forms.
            let update = TestCenters.small(code: "neuf", places: 7)
            let changes = try await browser.post("/admin/federation/importer", [("fichier", update)])
            #expect(changes.text.contains("Période « Vacances » : Places par jour (Matin) : 5 → 7"), "\(changes.text)")

            // Suspended: its portal no longer answers; resumed: it does again.
            #expect(try await browser.post("/admin/federation/centres/neuf/suspendre", []).status == .unprocessableContent)
            let suspended = try await browser.post("/admin/federation/centres/neuf/suspendre", [("confirme", "oui")])
            #expect(suspended.location == "/admin/federation?etat=suspendu")
            #expect(try await client.execute(uri: "/neuf/", method: .get).status == .notFound)
            #expect(try await browser.get("/admin/federation").text.contains("suspendu"))
            _ = try await browser.post("/admin/federation/centres/neuf/reprendre", [("confirme", "oui")])
            #expect(try await client.execute(uri: "/neuf/", method: .get).status == .ok)
            #expect(try await browser.post("/admin/federation/centres/inconnu/suspendre", [("confirme", "oui")]).status == .notFound)
            #expect(try await browser.post("/admin/federation/centres/\(String(repeating: "n", count: 41))/suspendre", [("confirme", "oui")]).status == .notFound)
        }
    }

    @Test func aManagerHasNoFederationPageButReadsTheCentersJournal() async throws {
        try await withPortal(payment: "", provider: { _ in nil }) { client, fixture in
            let browser = try await office.signedInManager(client, fixture)
            #expect(try await browser.get("/admin/federation").status == .forbidden)
            #expect(try await browser.get("/admin/federation/importer").status == .forbidden)
            #expect(try await browser.post("/admin/federation/importer", [("fichier", TestCenters.small(code: "neuf", places: 5)), ("etape", "enregistrer")]).status == .forbidden)
            #expect(try await browser.post("/admin/federation/centres/autre/suspendre", [("confirme", "oui")]).status == .forbidden)
            #expect(try await count(fixture, "SELECT count(*)::int FROM centers WHERE code = 'neuf' OR state = 'suspended'") == 0)

            // The journal: the manager's own grant, filtered by who and by what.
            _ = try await browser.post("/admin/centres/petit/periodes/vacances/fermer", [])
            let journal = try await browser.get("/admin/centres/petit/journal")
            #expect(journal.status == .ok && journal.text.contains("staff.grant") && journal.text.contains("period.update"))
            let closings = try await browser.get("/admin/centres/petit/journal?action=period.update")
            #expect(closings.text.contains("period.update") && !closings.text.contains("directrice@petit.example.org\u{0020}staff.grant"))
            #expect(!closings.body.contains("<td>staff.grant</td>"))
            let byNobody = try await browser.get("/admin/centres/petit/journal?acteur=personne")
            #expect(byNobody.text.contains("Aucune action ne correspond"))
            #expect(try await browser.get("/admin/centres/autre/journal").status == .notFound)
        }
    }
}
