import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import PortailDomain
import Testing
@testable import PortailApp
@testable import PortailStore

/// A center's team in the back office (issue 14, items 1 and 8): invitations by e-mail, a role removed,
/// an authenticator app reset for someone who lost it (their sessions end), and each person's own API
/// tokens, created and revoked from the back office.
@Suite struct BackOfficeTeamTests {
    let office = BackOfficeSignInTests()

    @Test func aManagerInvitesRemovesAndResetsTheSecondFactorOfHerTeam() async throws {
        try await withPortal(payment: "", provider: { _ in nil }) { client, fixture in
            let browser = try await office.signedInManager(client, fixture)
            let team = try await browser.get("/admin/centres/petit/equipe")
            #expect(team.status == .ok && team.text.contains("directrice@petit.example.org") && team.text.contains("vous"))

            #expect(try await browser.post("/admin/centres/petit/equipe", [("email", "pas-une-adresse"), ("nom", "X"), ("role", "staff")]).status == .unprocessableContent)
            let invited = try await browser.post("/admin/centres/petit/equipe", [("email", "adjoint@petit.example.org"), ("nom", "Paul ADJOINT"), ("role", "manager")])
            #expect(invited.location == "/admin/centres/petit/equipe?etat=invite")
            #expect(try await count(fixture, "SELECT count(*)::int FROM mail_outbox WHERE to_address = 'adjoint@petit.example.org' AND body_text LIKE '%/admin/invitation?code=%'") == 1)
            #expect(try await browser.get("/admin/centres/petit/equipe").text.contains("(invitation en attente)"))

            // The deputy chooses a password and enrols an app; then loses the phone: reset, sessions end.
            let mail = try #require(try await fixture.database.owner.withConnection { c in
                try await c.first("SELECT body_text FROM mail_outbox WHERE to_address = 'adjoint@petit.example.org'", (String.self), logger: fixture.database.logger)
            })
            let code = try #require(mail.firstMatch(of: /\/admin\/invitation\?code=([A-Za-z0-9_-]+)/)?.1)
            let deputy = Browser(client)
            _ = try await deputy.get("/admin/invitation?code=\(code)")
            _ = try await deputy.post("/admin/invitation", [("code", String(code)), ("mot_de_passe", BackOfficeSignInTests.password), ("confirmation", BackOfficeSignInTests.password)])
            _ = try await office.signIn(deputy, email: "adjoint@petit.example.org")
            let enrol = try await deputy.get("/admin/verification")
            #expect(try await deputy.post("/admin/verification", [("code", try office.code(for: enrol.body))]).status == .ok)
            #expect(try await deputy.get("/admin/centres/petit").status == .ok)
            let deputyID = try await count(fixture, "SELECT id::int FROM staff_users WHERE email = 'adjoint@petit.example.org' AND totp_secret IS NOT NULL")
            let reset = try await browser.post("/admin/centres/petit/equipe/\(deputyID)/reinitialiser", [])
            #expect(reset.location == "/admin/centres/petit/equipe?etat=reinitialise", "\(reset.text)")
            #expect(try await count(fixture, "SELECT count(*)::int FROM staff_users WHERE id = \(deputyID) AND totp_secret IS NULL") == 1)
            #expect(try await deputy.get("/admin/centres/petit").location == "/admin/connexion")
            #expect(try await count(fixture, "SELECT count(*)::int FROM audit_log WHERE action = 'staff.totp_reset'") == 1)

            // Not for herself, nor for a federation administrator (who has no role here).
            let me = try await count(fixture, "SELECT id::int FROM staff_users WHERE email = 'directrice@petit.example.org'")
            #expect(try await browser.post("/admin/centres/petit/equipe/\(me)/retirer", []).status == .conflict)
            #expect(try await browser.post("/admin/centres/petit/equipe/\(me)/reinitialiser", []).status == .conflict)
            _ = try await staffToken(fixture, email: "admin@federation.example.org", federationAdmin: true)
            let federation = try await count(fixture, "SELECT id::int FROM staff_users WHERE email = 'admin@federation.example.org'")
            #expect(try await browser.post("/admin/centres/petit/equipe/\(federation)/reinitialiser", []).status == .notFound)

            // Removed: no longer of the team.
            #expect(try await browser.post("/admin/centres/petit/equipe/\(deputyID)/retirer", []).location == "/admin/centres/petit/equipe?etat=retire")
            #expect(try await count(fixture, "SELECT count(*)::int FROM staff_center_roles WHERE staff_id = \(deputyID)") == 0)
            #expect(try await browser.get("/admin/centres/autre/equipe").status == .notFound)
            // Someone who also works at another center is the federation's to reset or remove.
            let admin = try await admin_token(fixture)
            for center in ["petit", "autre"] {
                #expect(try await apiJSON(client, .post, "/api/centers/\(center)/staff", token: admin, json: #"{"email": "double@example.org", "role": "staff"}"#).status == .created)
            }
            let double = try await count(fixture, "SELECT id::int FROM staff_users WHERE email = 'double@example.org'")
            let elsewhere = try await browser.post("/admin/centres/petit/equipe/\(double)/reinitialiser", [])
            #expect(elsewhere.status == .conflict && elsewhere.text.contains("travaille aussi ailleurs"), "\(elsewhere.text)")
            #expect(try await browser.post("/admin/centres/petit/equipe/\(double)/retirer", []).status == .conflict)
        }
    }

    func admin_token(_ fixture: PortalFixture) async throws -> String {
        try await staffToken(fixture, email: "admin@federation.example.org", federationAdmin: true)
    }

    @Test func aPersonCreatesAnAPITokenFromTheBackOfficeAndRevokesIt() async throws {
        try await withPortal(payment: "", provider: { _ in nil }) { client, fixture in
            try await office.invitedManager(client, fixture, email: "animateur@petit.example.org", role: "staff")
            let browser = Browser(client)
            _ = try await office.signIn(browser, email: "animateur@petit.example.org")
            #expect(try await browser.get("/admin/centres/petit/equipe").status == .forbidden)
            #expect(try await browser.get("/admin/jetons").text.contains("Aucun jeton"))
            #expect(try await browser.post("/admin/jetons", [("libelle", ""), ("jours", "30")]).status == .unprocessableContent)
            let created = try await browser.post("/admin/jetons", [("libelle", "export du soir"), ("jours", "30")])
            #expect(created.status == .created)
            let secret = String(try #require(created.body.firstMatch(of: /<code id="nouveau-jeton">(ptk_[A-Za-z0-9_-]+)<\/code>/)?.1))
            #expect(try await apiJSON(client, .get, "/api/centers/petit/periods", token: secret).status == .ok)
            // Shown once: the list has its name, never the secret.
            let list = try await browser.get("/admin/jetons")
            #expect(list.text.contains("export du soir") && !list.body.contains(secret))
            let id = try await count(fixture, "SELECT id::int FROM api_tokens WHERE label = 'export du soir'")
            #expect(try await browser.post("/admin/jetons/\(id)/revoquer", []).text.contains("Jeton révoqué"))
            #expect(try await apiJSON(client, .get, "/api/centers/petit/periods", token: secret).status == .unauthorized)
            // Another person's token is not theirs to revoke.
            let other = try await staffToken(fixture, email: "admin@federation.example.org", federationAdmin: true)
            let otherID = try await count(fixture, "SELECT max(id)::int FROM api_tokens")
            #expect(try await browser.post("/admin/jetons/\(otherID)/revoquer", []).status == .notFound)
            #expect(try await apiJSON(client, .get, "/api/centers", token: other).status == .ok)
        }
    }
}
