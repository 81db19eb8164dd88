import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import NIOCore
import PortailDomain
import PortailTestSupport
import PostgresNIO
import Testing
@testable import PortailApp
@testable import PortailStore

/// Issue 15, item 6: one login per parent across families and centers. In the fixture, parent@example.org
/// has a family at each of the two centers (petit and autre): one person, two families.
@Suite struct OneLoginTests {
    /// The link of the last mail to `email` that carries `path` (activation or reset), as a path of the test server.
    static func mailedLink(_ fixture: PortalFixture, to email: String, path: String) async throws -> String {
        let body = try await fixture.database.owner.withConnection { c in
            try await c.first("SELECT body_text FROM mail_outbox WHERE to_address = \(email) ORDER BY id DESC LIMIT 1",
                              (String.self), logger: fixture.database.logger)
        }
        let match = try #require(body?.firstMatch(of: /https?:\/\/[^\/\s]+(\/[a-z-]+\/[a-z-]+\?jeton=[A-Za-z0-9_-]+)/))
        let link = String(match.1)
        #expect(link.contains(path))
        return link
    }

    static func family(_ fixture: PortalFixture, _ center: CenterRecord, email: String) async throws -> Int64 {
        try await fixture.database.withCenter(center.id) { c in
            try #require(try await AccountRepository.family(c, center: center.id, email: email, logger: fixture.database.logger)).id
        }
    }

    /// Books the first day of the center's period for its first child, as a parent does: grid, recap, confirm.
    static func bookFirstDay(_ browser: Browser, base: String, center: CenterRecord) async throws -> Browser.Page {
        let periods = try await browser.get(base + "/reservations/nouvelle")
        let child = try #require(periods.body.firstMatch(of: /name="enfant" value="(\d+)"/)?.1)
        let day = center.center.periods[0].startsOn
        _ = try await browser.get(base + "/reservations/nouvelle?enfant=\(child)&periode=vacances")
        let selection = [("enfant", String(child)), ("periode", "vacances"), ("jour", "\(day.iso):journee")]
        _ = try await browser.post(base + "/reservations/recapitulatif", selection)
        return try await browser.post(base + "/reservations/confirmer", selection)
    }

    @Test func oneLoginSwitchesToTheOtherCenterAndBooksAtBoth() async throws {
        try await withPortal { client, fixture in
            let petitFamily = try await Self.family(fixture, fixture.petit, email: "parent@example.org")
            let autreFamily = try await Self.family(fixture, fixture.autre, email: "parent@example.org")
            let browser = Browser(client)
            let login = try await browser.login("/petit", email: "parent@example.org", password: PortalFixture.password)
            #expect(login.location == "/petit/compte")
            let account = try await browser.get("/petit/compte")
            #expect(account.text.contains("Changer de famille"))
            #expect(try await Self.bookFirstDay(browser, base: "/petit", center: fixture.petit).status == .seeOther)

            // "Mes familles" offers the family at the other center, through its own portal.
            let families = try await browser.get("/petit/familles")
            #expect(families.status == .ok)
            #expect(families.text.contains("Ouvrir ce compte famille"))
            #expect(families.body.contains("name=\"centre\" value=\"autre\""))
            #expect(families.body.contains("name=\"famille\" value=\"\(autreFamily)\""))
            let handoff = try await browser.post("/petit/familles/relais", [("famille", String(autreFamily)), ("centre", "autre")])
            #expect(handoff.status == .seeOther)
            let location = try #require(handoff.location)
            let path = try #require(location.firstMatch(of: /https?:\/\/[^\/]+(\/autre\/connexion\/relais\?jeton=[A-Za-z0-9_-]+)/)?.1)

            // The other portal names the family and asks to continue; the token works once.
            let landing = try await browser.get(String(path))
            #expect(landing.status == .ok)
            #expect(landing.text.contains("FAMILLE JULES"))
            let token = String(path.split(separator: "=").last!)
            let entered = try await browser.post("/autre/connexion/relais", [("jeton", token)])
            #expect(entered.status == .seeOther)
            #expect(entered.location == "/autre/compte")
            #expect(try await browser.get("/autre/compte").status == .ok)
            #expect(try await Self.bookFirstDay(browser, base: "/autre", center: fixture.autre).status == .seeOther)
            _ = try await browser.get("/autre/compte")
            #expect(try await browser.post("/autre/connexion/relais", [("jeton", token)]).status == .gone)

            // Each family's reservation is its own, at its own center.
            #expect(try await count(fixture, "SELECT count(*)::int FROM reservations WHERE center_id = \(fixture.petit.id) AND family_id = \(petitFamily)") == 1)
            #expect(try await count(fixture, "SELECT count(*)::int FROM reservations WHERE center_id = \(fixture.autre.id) AND family_id = \(autreFamily)") == 1)
            #expect(try await count(fixture, "SELECT count(*)::int FROM reservations") == 2)

            // Each center's staff sees its own family only, and the person among its members.
            let admin = try await staffToken(fixture, email: "admin@federation.example.org", federationAdmin: true)
            let manager = try await invitedToken(client, fixture, center: "autre", email: "direction@autre.example.org", role: "manager", by: admin)
            let members = try await apiJSON(client, .get, "/api/centers/autre/families/\(autreFamily)/members", token: manager)
            #expect(members.status == .ok)
            #expect((members.json["members"] as? [[String: Any]])?.map { $0["email"] as? String } == ["parent@example.org"])
            #expect(try await apiJSON(client, .get, "/api/centers/autre/families/\(petitFamily)/members", token: manager).status == .notFound)
            #expect(try await apiJSON(client, .get, "/api/centers/petit/families/\(petitFamily)/members", token: manager).status == .notFound)
        }
    }

    @Test func switchesAndHandoffsRefuseWhatIsNotThePersons() async throws {
        try await withPortal { client, fixture in
            let autreFamily = try await Self.family(fixture, fixture.autre, email: "parent@example.org")
            let neighbourAtPetit = try await Self.family(fixture, fixture.petit, email: "voisin@example.org")
            let neighbourAtAutre = try await Self.family(fixture, fixture.autre, email: "voisin@example.org")

            // A stranger is sent to log in.
            let stranger = Browser(client)
            _ = try await stranger.get("/petit/")
            let refused = try await stranger.post("/petit/familles/relais", [("famille", String(autreFamily)), ("centre", "autre")])
            #expect(refused.location == "/petit/?connexion=requise")
            #expect(try await stranger.get("/petit/familles").location == "/petit/?connexion=requise")

            // Another parent of the center cannot enter parent@'s family, here or there.
            let neighbour = Browser(client)
            _ = try await neighbour.login("/petit", email: "voisin@example.org", password: PortalFixture.password)
            _ = try await neighbour.get("/petit/familles")
            #expect(try await neighbour.post("/petit/familles/relais", [("famille", String(autreFamily)), ("centre", "autre")]).status == .notFound)
            let parentAtPetit = try await Self.family(fixture, fixture.petit, email: "parent@example.org")
            #expect(try await neighbour.post("/petit/familles/choisir", [("famille", String(parentAtPetit))]).status == .notFound)
            // A family id of the other center is not one of this center's to choose.
            #expect(try await neighbour.post("/petit/familles/choisir", [("famille", String(neighbourAtAutre))]).status == .notFound)
            #expect(try await neighbour.get("/petit/compte").text.contains("FAMILLE INÈS"))
            #expect(neighbourAtPetit != neighbourAtAutre)

            // A handoff is used at its own center only, once, and within two minutes.
            let parent = Browser(client)
            _ = try await parent.login("/petit", email: "parent@example.org", password: PortalFixture.password)
            _ = try await parent.get("/petit/familles")
            let first = try await parent.post("/petit/familles/relais", [("famille", String(autreFamily)), ("centre", "autre")])
            let token = try #require(first.location?.firstMatch(of: /jeton=([A-Za-z0-9_-]+)/)?.1)
            _ = try await parent.get("/petit/connexion/relais?jeton=\(token)")
            #expect(try await parent.post("/petit/connexion/relais", [("jeton", String(token))]).status == .gone)
            // At its own center, the page names the family; two minutes later the token is worth nothing.
            #expect(try await parent.get("/autre/connexion/relais?jeton=\(token)").status == .ok)
            try await fixture.database.owner.withConnection { c in
                try await c.run("UPDATE person_handoffs SET expires_at = now() - interval '1 second'", logger: fixture.database.logger)
            }
            #expect(try await parent.post("/autre/connexion/relais", [("jeton", String(token))]).status == .gone)
            #expect(try await parent.get("/autre/connexion/relais?jeton=\(token)").status == .gone)
            _ = try await parent.get("/petit/familles")
            // A malformed token never reaches the database.
            #expect(try await parent.get("/autre/connexion/relais?jeton=x'%20OR%201=1").status == .gone)
            // A browser logged in at autre as someone else is told to log out first; the handoff stays unused.
            let third = try await parent.post("/petit/familles/relais", [("famille", String(autreFamily)), ("centre", "autre")])
            let thirdToken = try #require(third.location?.firstMatch(of: /jeton=([A-Za-z0-9_-]+)/)?.1)
            let other = Browser(client)
            _ = try await other.login("/autre", email: "voisin@example.org", password: PortalFixture.password)
            let refusedLanding = try await other.get("/autre/connexion/relais?jeton=\(thirdToken)")
            #expect(refusedLanding.status == .conflict)
            #expect(refusedLanding.text.contains("avec un autre identifiant"))
            _ = try await other.get("/autre/compte")
            #expect(try await other.post("/autre/connexion/relais", [("jeton", String(thirdToken))]).status == .gone)
            #expect(try await other.get("/autre/compte").text.contains("FAMILLE INÈS"))
            // A handoff to the center the person is already on, or to an unknown one, is a bad request.
            #expect(try await parent.post("/petit/familles/relais", [("famille", String(parentAtPetit)), ("centre", "petit")]).status == .badRequest)
            #expect(try await parent.post("/petit/familles/relais", [("famille", String(autreFamily)), ("centre", "inconnu")]).status == .badRequest)

            // A family closed by the staff is no longer offered, nor entered.
            try await fixture.database.withCenter(fixture.autre.id) { c in
                _ = try await FamilyAdministration.setState(c, center: fixture.autre.id, family: autreFamily, active: false, actor: "test", logger: fixture.database.logger)
            }
            #expect(!(try await parent.get("/petit/familles").body.contains("value=\"\(autreFamily)\"")))
            #expect(try await parent.post("/petit/familles/relais", [("famille", String(autreFamily)), ("centre", "autre")]).status == .notFound)
        }
    }

    @Test func aNewPasswordIsThePersonsAtEveryCenter() async throws {
        try await withPortal { client, fixture in
            // A session at the other center, opened with the family's password from before people had one.
            let elsewhere = Browser(client)
            #expect(try await elsewhere.login("/autre", email: "parent@example.org", password: PortalFixture.password).location == "/autre/compte")

            let browser = Browser(client)
            _ = try await browser.get("/petit/mot-de-passe-oublie")
            _ = try await browser.post("/petit/mot-de-passe-oublie", [("identifiant", "PARENT@example.org")])
            let link = try await Self.mailedLink(fixture, to: "parent@example.org", path: "/petit/reinitialisation")
            _ = try await browser.get(link)
            let token = String(link.split(separator: "=").last!)
            let chosen = try await browser.post("/petit/reinitialisation", [("jeton", token), ("mot_de_passe", "un-autre-mot-de-passe-2026"),
                                                                            ("confirmation", "un-autre-mot-de-passe-2026")])
            #expect(chosen.status == .ok)

            // The session elsewhere ended; the old password opens nothing; the new one opens both centers.
            #expect(try await elsewhere.get("/autre/compte").location == "/autre/?connexion=requise")
            #expect(try await Browser(client).login("/autre", email: "parent@example.org", password: PortalFixture.password).status == .unauthorized)
            #expect(try await Browser(client).login("/autre", email: "parent@example.org", password: "un-autre-mot-de-passe-2026").location == "/autre/compte")
            #expect(try await Browser(client).login("/petit", email: "parent@example.org", password: "un-autre-mot-de-passe-2026").location == "/petit/compte")
            #expect(try await count(fixture, "SELECT count(*)::int FROM families WHERE password_hash IS NOT NULL AND lower(email) = 'parent@example.org'") == 0)
            // The other parent's own password is untouched.
            #expect(try await Browser(client).login("/autre", email: "voisin@example.org", password: PortalFixture.password).location == "/autre/compte")
            // The reset went to the address as stored, whatever the case typed.
            #expect(try await count(fixture, "SELECT count(*)::int FROM mail_outbox WHERE to_address = 'PARENT@example.org'") == 0)

            // The staff give voisin's family at autre a new address: the family's old password does not open it.
            let neighbour = try await Self.family(fixture, fixture.autre, email: "voisin@example.org")
            try await fixture.database.withCenter(fixture.autre.id) { c in
                var changes = FamilyChanges()
                changes.email = "nouvelle@example.org"
                _ = try await FamilyAdministration.update(c, center: fixture.autre.id, family: neighbour, changes: changes, actor: "test", logger: fixture.database.logger)
            }
            #expect(try await Browser(client).login("/autre", email: "nouvelle@example.org", password: PortalFixture.password).status == .unauthorized)
            #expect(try await Browser(client).login("/autre", email: "voisin@example.org", password: PortalFixture.password).status == .unauthorized)
        }
    }

    @Test func staffShareAFamilyAndItsBillingContactKeepsTheInvoices() async throws {
        try await withPortal { client, fixture in
            let family = try await Self.family(fixture, fixture.petit, email: "parent@example.org")
            let admin = try await staffToken(fixture, email: "admin@federation.example.org", federationAdmin: true)
            let manager = try await invitedToken(client, fixture, center: "petit", email: "direction@petit.example.org", role: "manager", by: admin)
            let team = try await invitedToken(client, fixture, center: "petit", email: "equipe@petit.example.org", role: "staff", by: manager)

            // Giving access is a manager's; bad input says what to fix.
            let body = #"{"email": "mamie@example.org"}"#
            #expect(try await apiJSON(client, .post, "/api/centers/petit/families/\(family)/members", token: team, json: body).status == .forbidden)
            #expect(try await apiJSON(client, .post, "/api/centers/petit/families/\(family)/members", token: manager, json: #"{"email": "pas une adresse"}"#).status == .unprocessableContent)
            let added = try await apiJSON(client, .post, "/api/centers/petit/families/\(family)/members", token: manager, json: body)
            #expect(added.status == .created)
            let members = try #require(added.json["members"] as? [[String: Any]])
            #expect(members.map { $0["email"] as? String } == ["parent@example.org", "mamie@example.org"])
            #expect(members.map { $0["billing_contact"] as? Bool } == [true, false])
            #expect(members.map { $0["has_logged_in"] as? Bool } == [false, false])
            #expect(try await apiJSON(client, .post, "/api/centers/petit/families/\(family)/members", token: manager, json: body).status == .conflict)
            let mamie = try #require(members.last?["person_id"] as? Int)

            // The person chooses a password with the mailed link, logs in and sees the family.
            let link = try await Self.mailedLink(fixture, to: "mamie@example.org", path: "/petit/activation")
            let browser = Browser(client)
            _ = try await browser.get(link)
            let token = String(link.split(separator: "=").last!)
            _ = try await browser.post("/petit/activation", [("jeton", token), ("mot_de_passe", "mamie-mot-de-passe-2026"), ("confirmation", "mamie-mot-de-passe-2026")])
            #expect(try await browser.login("/petit", email: "mamie@example.org", password: "mamie-mot-de-passe-2026").location == "/petit/compte")
            #expect(try await browser.get("/petit/compte").text.contains("FAMILLE JULES"))
            #expect(try await browser.get("/petit/factures").status == .ok)
            let used = try await apiJSON(client, .get, "/api/centers/petit/families/\(family)/members", token: manager)
            #expect((used.json["members"] as? [[String: Any]])?.map { $0["has_logged_in"] as? Bool } == [false, true])
            // The other center knows nothing of her: her right password there is answered as a wrong one.
            #expect(try await Browser(client).login("/autre", email: "mamie@example.org", password: "mamie-mot-de-passe-2026").status == .unauthorized)

            // The billing contact keeps the invoices to themself; she may not change that.
            let parent = Browser(client)
            _ = try await parent.login("/petit", email: "parent@example.org", password: PortalFixture.password)
            _ = try await parent.get("/petit/familles")
            let kept = try await parent.post("/petit/familles/factures", [("reservees", "oui")])
            #expect(kept.status == .ok, "\(kept.status) \(kept.text)")
            let withheld = try await browser.get("/petit/factures")
            #expect(withheld.status == .forbidden)
            #expect(withheld.text.contains("Factures réservées au payeur"))
            let account = try await browser.get("/petit/compte")
            #expect(!account.text.contains("Total facturé") && account.text.contains("réservées à son payeur"))
            _ = try await browser.get("/petit/familles")
            #expect(try await browser.post("/petit/familles/factures", [("reservees", "non")]).status == .forbidden)
            #expect(try await parent.get("/petit/factures").status == .ok)

            // The staff make her the billing contact: the invoices are hers, no longer his.
            let designated = try await apiJSON(client, .put, "/api/centers/petit/families/\(family)/members/\(mamie)/billing-contact", token: manager)
            #expect(designated.status == .ok)
            #expect(try await browser.get("/petit/factures").status == .ok)
            #expect(try await parent.get("/petit/factures").status == .forbidden)

            // The family's own address cannot be removed; any staff removes her: her session ends, she is forgotten.
            let own = try #require(members.first?["person_id"] as? Int)
            #expect(try await apiJSON(client, .delete, "/api/centers/petit/families/\(family)/members/\(own)", token: team).status == .conflict)
            #expect(try await apiJSON(client, .delete, "/api/centers/petit/families/\(family)/members/\(mamie)", token: team).status == .noContent)
            #expect(try await browser.get("/petit/compte").location == "/petit/?connexion=requise")
            #expect(try await count(fixture, "SELECT count(*)::int FROM people WHERE email = 'mamie@example.org'") == 0)
            // The billing role went back to the family's own address.
            #expect(try await parent.get("/petit/factures").status == .ok)
            #expect(try await apiJSON(client, .delete, "/api/centers/petit/families/\(family)/members/\(mamie)", token: team).status == .notFound)
        }
    }

    /// The database's wall: a center reads the people of its own families only, never a password, and
    /// writes people only through the functions of migration 0035.
    @Test func aCenterSeesOnlyItsOwnPeopleAndNoPassword() async throws {
        try await withPortal { _, fixture in
            let database = fixture.database
            try await database.withCenter(fixture.autre.id) { c in
                let family = try await AccountRepository.createFamily(c, center: fixture.autre.id, email: "seulement-autre@example.org", name: "AUTRE",
                                                                      passwordHash: nil, state: "invited", category: nil, logger: database.logger)
                #expect(try await People.members(c, center: fixture.autre.id, family: family, logger: database.logger).map(\.email) == ["seulement-autre@example.org"])
            }
            let seen = try await database.withCenter(fixture.petit.id) { c in
                try await c.all("SELECT email FROM people ORDER BY email", (String.self), logger: database.logger)
            }
            #expect(seen == ["parent@example.org", "voisin@example.org"])
            // A person of the other center is no family's member here, and no family of the other center is chosen here.
            let hidden = try await database.withCenter(fixture.petit.id) { c in
                try await c.first("SELECT count(*)::int FROM family_members", (Int.self), logger: database.logger)
            }
            #expect(hidden == 2)
            for sql in ["SELECT password_hash FROM people", "INSERT INTO people (email) VALUES ('x@example.org')",
                        "UPDATE people SET email = 'x@example.org'", "INSERT INTO person_handoffs (center_id, token_hash, person_id, family_id, expires_at) VALUES (1, '\\x00', 1, 1, now())",
                        "SELECT count(*) FROM person_login_throttle", "DELETE FROM person_login_throttle"] {
                await #expect(throws: (any Error).self, "\(sql)") {
                    try await database.withCenter(fixture.petit.id) { c in try await c.query(PostgresQuery(unsafeSQL: sql), logger: database.logger) }
                }
            }
            // A handoff is issued only for the person of a live session, to a family of theirs.
            let neighbourAtPetit = try await Self.family(fixture, fixture.petit, email: "voisin@example.org")
            let parentAtAutre = try await Self.family(fixture, fixture.autre, email: "parent@example.org")
            let (issued, forged, families, hashes) = try await database.withCenter(fixture.petit.id) { c in
                let session = try await SessionRepository.create(c, center: fixture.petit.id, familyID: neighbourAtPetit, logger: database.logger)
                return (try await People.issueHandoff(c, session: session.token!, center: fixture.autre.id, family: parentAtAutre, logger: database.logger),
                        try await People.issueHandoff(c, session: SecretToken.generate(), center: fixture.autre.id, family: parentAtAutre, logger: database.logger),
                        try await People.families(c, session: SecretToken.generate(), logger: database.logger),
                        // Nobody's hash but the center's own people's: the person of the other center has none here.
                        try await c.first("SELECT count(*)::int FROM portail_person_credentials('seulement-autre@example.org')", (Int.self), logger: database.logger))
            }
            #expect(issued == nil && forged == nil && families.isEmpty && hashes == 0)
        }
    }
}
