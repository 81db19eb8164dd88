import Foundation
import Hummingbird
import HummingbirdTesting
import PortailDomain
import PortailTestSupport
import Testing
@testable import PortailApp
@testable import PortailStore

/// Priority windows over real HTTP: the center file's keys through the API, the families' standing in
/// the database, the parent pages and the booking's own check.
@Suite struct PriorityWindowPortalTests {
    static let zone = TimeZone(identifier: "Europe/Paris")!
    static var today: LocalDate { LocalDate(Date(), in: zone) }
    /// The general opening: tomorrow at 8:00; a priority window: yesterday at 8:00.
    static var tomorrow8: String { "\(today.adding(days: 1).iso)T08:00" }
    static var yesterday8: String { "\(today.adding(days: -1).iso)T08:00" }

    /// The id of the family with `email` at center petit, and its child's.
    func family(_ client: any TestClientProtocol, _ token: String, _ email: String) async throws -> (id: Int64, child: Int64) {
        let list = try await apiJSON(client, .get, "/api/centers/petit/families", token: token)
        let id = try #require((list.json["families"] as? [[String: Any]])?.first { $0["email"] as? String == email }?["id"] as? Int)
        let detail = try await apiJSON(client, .get, "/api/centers/petit/families/\(id)", token: token)
        let child = try #require((detail.json["children"] as? [[String: Any]])?.first?["id"] as? Int)
        return (Int64(id), Int64(child))
    }

    /// Vacances opens tomorrow at 8:00 for everyone, since yesterday for the groups `groups`.
    func openEarlier(_ client: any TestClientProtocol, _ token: String, for groups: String, extra: String = "") async throws {
        let patched = try await apiJSON(client, .patch, "/api/centers/petit/periods/vacances", token: token, json: """
            {"booking": {"opens_at": "\(Self.tomorrow8)", "priority": [{"opens_at": "\(Self.yesterday8)", "for": [\(groups)]}]\(extra)}}
            """)
        #expect(patched.status == .ok, "\(patched.json)")
    }

    /// The parent books the period's first day, or is refused: the answer's status and text.
    func book(_ parent: Browser, child: Int64, day: LocalDate) async throws -> Browser.Page {
        try await parent.get("/petit/compte")  // a page of the logged-in family, for the form's token
        return try await parent.post("/petit/reservations/confirmer", [("enfant", String(child)), ("periode", "vacances"), ("jour", "\(day.iso):journee")])
    }

    @Test func aResidentBooksInItsWindowAndTheOthersWaitForTheGeneralOpening() async throws {
        try await withPortal(payment: "", provider: { _ in nil }) { client, fixture in
            let admin = try await staffToken(fixture, email: "admin@federation.example.org", federationAdmin: true)
            let first = fixture.petit.center.periods[0].startsOn

            // The center declares its residents (a top-level key of the file, posted whole).
            let exported = try await client.execute(uri: "/api/centers/petit/configuration", method: .get, headers: [.authorization: "Bearer \(admin)"])
            let file = String(buffer: exported.body) + "residents:\n  postcodes: [\"06650\"]\n  communes: [Le Rouret]\n"
            let imported = try await api(client, .post, "/api/centers", token: admin, body: file)
            #expect(imported.status == .ok, "\(imported.json)")
            #expect((imported.json["changes"] as? [String])?.first?.contains("residents") == true, "\(imported.json)")

            // A window for residents before a residents' declaration would be refused; now it is taken.
            let dry = try await apiJSON(client, .patch, "/api/centers/petit/periods/vacances?dry_run=true", token: admin, json: """
                {"booking": {"opens_at": "\(Self.tomorrow8)", "priority": [{"opens_at": "\(Self.yesterday8)", "for": ["residents"]}]}}
                """)
            #expect(dry.status == .ok && dry.json["applied"] as? Bool == false)
            #expect((dry.json["changes"] as? [String])?.first?.contains("priorityWindows") == true, "\(dry.json)")
            let late = try await apiJSON(client, .patch, "/api/centers/petit/periods/vacances", token: admin, json: """
                {"booking": {"opens_at": "\(Self.yesterday8)", "priority": [{"opens_at": "\(Self.tomorrow8)", "for": ["residents"]}]}}
                """)
            #expect(late.status == .unprocessableContent)
            #expect((late.json["errors"] as? [[String: Any]])?.first?["field"] as? String == "booking.priority[0].opens_at", "\(late.json)")
            try await openEarlier(client, admin, for: #""residents""#)
            let period = try await apiJSON(client, .get, "/api/centers/petit/periods/vacances", token: admin)
            let booking = try #require(period.json["booking"] as? [String: Any])
            #expect((booking["priority"] as? [[String: Any]])?.first?["for"] as? [String] == ["residents"])
            #expect(booking["deadline"] != nil, "a merge patch keeps the other booking keys")

            // The parent lives in Le Rouret (a resident commune); the neighbour elsewhere.
            let parentFamily = try await family(client, admin, "parent@example.org")
            let neighbour = try await family(client, admin, "voisin@example.org")
            #expect(try await apiJSON(client, .patch, "/api/centers/petit/families/\(parentFamily.id)", token: admin,
                                      json: #"{"postcode": "06650", "city": "LE ROURET"}"#).status == .ok)
            #expect(try await apiJSON(client, .patch, "/api/centers/petit/families/\(neighbour.id)", token: admin,
                                      json: #"{"postcode": "06000", "city": "Nice"}"#).status == .ok)

            let opening = LocalDateTime(parsing: Self.tomorrow8)!.frenchDayMonth
            let resident = Browser(client)
            _ = try await resident.login("/petit", email: "parent@example.org", password: PortalFixture.password)
            let home = try await resident.get("/petit/")
            #expect(home.text.contains("réservations ouvertes pour vous depuis le \(LocalDateTime(parsing: Self.yesterday8)!.frenchDayMonth)"), "\(home.text)")
            let periods = try await resident.get("/petit/reservations/nouvelle")
            #expect(periods.body.contains("value=\"vacances\""))
            let grid = try await resident.get("/petit/reservations/nouvelle?enfant=\(parentFamily.child)&periode=vacances")
            #expect(grid.text.contains("Ouverture prioritaire"), "\(grid.text)")
            #expect(grid.text.contains("elles ouvriront à toutes les familles le \(opening)"))
            let booked = try await book(resident, child: parentFamily.child, day: first)
            #expect(booked.status == .seeOther && booked.location == "/petit/reservations/00001?confirmee=1", "\(booked.text)")

            // The neighbour sees when the period opens for it, and a forged booking is refused in French.
            let other = Browser(client)
            _ = try await other.login("/petit", email: "voisin@example.org", password: PortalFixture.password)
            #expect(try await other.get("/petit/").text.contains("réservations à partir du \(opening) (dès le"))
            let list = try await other.get("/petit/reservations/nouvelle")
            #expect(!list.body.contains("value=\"vacances\""))
            #expect(list.text.contains("Prochaines ouvertures"))
            #expect(list.text.contains("Vacances"))
            #expect(list.text.contains("réservations à partir du \(opening)"), "\(list.text)")
            #expect(try await other.get("/petit/reservations/nouvelle?enfant=\(neighbour.child)&periode=vacances").body.contains("Prochaines ouvertures"))
            let refused = try await book(other, child: neighbour.child, day: first)
            #expect(refused.status == .conflict)
            #expect(refused.text.contains("Les réservations de cette période ouvrent pour vous le \(opening)."), "\(refused.text)")
            #expect(try await count(fixture, "SELECT count(*)::int FROM reservations WHERE center_id = \(fixture.petit.id)") == 1)

            // The neighbour writes a resident address in its own file: the staff have not recorded it, so the
            // window stays closed to it, on the pages and at the booking's own check.
            _ = try await other.get("/petit/dossier")
            let declared = try await other.post("/petit/dossier/coordonnees", [("adresse", "1 chemin du Village"), ("code_postal", "06650"),
                                                                               ("commune", "Le Rouret"), ("telephone", "06 12 34 56 78")])
            #expect(declared.status == .seeOther, "\(declared.text)")
            #expect(!(try await other.get("/petit/reservations/nouvelle").body.contains("value=\"vacances\"")))
            #expect(try await book(other, child: neighbour.child, day: first).status == .conflict)
            // The API and the back office show both addresses; a staff save of the family's form that leaves the
            // address as the family wrote it does not record it.
            let detail = try await apiJSON(client, .get, "/api/centers/petit/families/\(neighbour.id)", token: admin)
            #expect(detail.json["postcode"] as? String == "06650" && detail.json["city"] as? String == "Le Rouret", "\(detail.json)")
            #expect(detail.json["resident_postcode"] as? String != "06650" && detail.json["resident_city"] as? String != "Le Rouret", "\(detail.json)")
            try await BackOfficeSignInTests().invitedManager(client, fixture, email: "accueil@petit.example.org", role: "staff")
            let office = Browser(client)
            _ = try await BackOfficeSignInTests().signIn(office, email: "accueil@petit.example.org")
            let familyPage = try await office.get("/admin/centres/petit/familles/\(neighbour.id)")
            #expect(familyPage.text.contains("famille non résidente") && familyPage.text.contains("une autre adresse : 06650 Le Rouret (commune résidente)"),
                    "\(familyPage.text)")
            let form = try await office.get("/admin/centres/petit/familles/\(neighbour.id)/modifier")
            let name = try #require(form.body.firstMatch(of: /name="nom"[^>]*value="([^"]*)"/)?.1)
            let saved = try await office.post("/admin/centres/petit/familles/\(neighbour.id)/modifier",
                                              [("nom", String(name)), ("telephone", "04 93 11 11 11"), ("adresse", "1 chemin du Village"),
                                               ("code_postal", "06650"), ("ville", "Le Rouret")])
            #expect(saved.status == .seeOther, "\(saved.text)")
            #expect(!(try await other.get("/petit/reservations/nouvelle").body.contains("value=\"vacances\"")))
            // A form opened before the family changed its address, saved as it showed it: the family's newer
            // address stays, and nothing is recorded.
            let stale = try await office.post("/admin/centres/petit/familles/\(neighbour.id)/modifier",
                                              [("nom", String(name)), ("telephone", "04 93 11 11 11"), ("adresse", "1 chemin du Village"),
                                               ("code_postal", "06000"), ("ville", "Nice"), ("code_postal_affiche", "06000"), ("ville_affichee", "Nice")])
            #expect(stale.status == .seeOther, "\(stale.text)")
            #expect(try await count(fixture, "SELECT count(*)::int FROM families WHERE id = \(neighbour.id) AND postcode = '06650' AND resident_postcode <> '06650'") == 1)
            // The confirmation posts the address the page showed; one the family has changed since is not recorded.
            let button = try await office.get("/admin/centres/petit/familles/\(neighbour.id)")
            #expect(button.body.contains("name=\"code_postal\" value=\"06650\"") && button.body.contains("name=\"ville\" value=\"Le Rouret\""))
            let outdated = try await office.post("/admin/centres/petit/familles/\(neighbour.id)/adresse-residence", [("code_postal", "06000"), ("ville", "Nice")])
            #expect(outdated.status == .conflict && outdated.text.contains("vient de changer l'adresse"), "\(outdated.status)")
            #expect(try await count(fixture, "SELECT count(*)::int FROM audit_log WHERE action = 'family.resident_address'") == 0)
            // Once the staff record that address, the window is the neighbour's too.
            let confirmed = try await office.post("/admin/centres/petit/familles/\(neighbour.id)/adresse-residence",
                                                  [("code_postal", "06650"), ("ville", "Le Rouret")])
            #expect(confirmed.location == "/admin/centres/petit/familles/\(neighbour.id)?etat=adresse-retenue")
            let after = try await office.get(try #require(confirmed.location))
            #expect(after.text.contains("Adresse retenue pour la priorité des résidents : 06650 Le Rouret – famille résidente"), "\(after.text)")
            #expect(!after.text.contains("une autre adresse"))
            #expect(try await count(fixture, "SELECT count(*)::int FROM audit_log WHERE action = 'family.resident_address' AND after::text LIKE '%06650%'") == 1)
            #expect(try await other.get("/petit/reservations/nouvelle").body.contains("value=\"vacances\""))
            // Another center's staff cannot confirm an address of this center's family.
            try await BackOfficeSignInTests().invitedManager(client, fixture, email: "accueil@autre.example.org", role: "staff", center: "autre")
            let stranger = Browser(client)
            _ = try await BackOfficeSignInTests().signIn(stranger, email: "accueil@autre.example.org")
            #expect(try await stranger.get("/admin/centres/autre/familles").status == .ok)
            let throughOwn = try await stranger.post("/admin/centres/autre/familles/\(neighbour.id)/adresse-residence", [])
            #expect(throughOwn.status == .notFound, "\(throughOwn.status) \(throughOwn.text)")
            let throughTheirs = try await stranger.post("/admin/centres/petit/familles/\(neighbour.id)/adresse-residence", [])
            #expect(throughTheirs.status == .forbidden || throughTheirs.status == .notFound, "\(throughTheirs.status)")
            #expect(try await count(fixture, "SELECT count(*)::int FROM audit_log WHERE action = 'family.resident_address'") == 1)
            // A staff save of an address typed anew records it at once (the API's PATCH as well).
            #expect(try await apiJSON(client, .patch, "/api/centers/petit/families/\(neighbour.id)", token: admin,
                                      json: #"{"postcode": "06650", "city": "Le Rouret"}"#).status == .ok)
            #expect(try await apiJSON(client, .patch, "/api/centers/petit/families/\(neighbour.id)", token: admin,
                                      json: #"{"postcode": "06000", "city": "Nice"}"#).status == .ok)

            // The general opening come, the neighbour books too.
            let opened = try await apiJSON(client, .patch, "/api/centers/petit/periods/vacances", token: admin, json: """
                {"booking": {"opens_at": "\(Self.yesterday8)", "priority": [{"opens_at": "\(Self.today.adding(days: -2).iso)T08:00", "for": ["residents"]}]}}
                """)
            #expect(opened.status == .ok)
            #expect(try await book(other, child: neighbour.child, day: first).status == .seeOther)
        }
    }

    @Test func familiesOfThePreviousPeriodBookFirst() async throws {
        try await withPortal(payment: "", provider: { _ in nil }) { client, fixture in
            let admin = try await staffToken(fixture, email: "admin@federation.example.org", federationAdmin: true)
            let first = fixture.petit.center.periods[0].startsOn
            let (start, end) = (Self.today.adding(days: -40), Self.today.adding(days: -20))
            let created = try await apiJSON(client, .post, "/api/centers/petit/periods", token: admin, json: """
                {"code": "printemps", "label": "Printemps", "age_group": "enfants", "starts_on": "\(start.iso)", "ends_on": "\(end.iso)",
                 "units": ["journee"], "places": {"matin": 5, "apres-midi": 5}, "tariff": "base"}
                """)
            #expect(created.status == .created, "\(created.json)")
            // The parent's child went to the spring period (booked at the office, confirmed).
            let parentFamily = try await family(client, admin, "parent@example.org")
            let neighbour = try await family(client, admin, "voisin@example.org")
            let office = try await apiJSON(client, .post, "/api/centers/petit/reservations", token: admin, json: """
                {"family_id": \(parentFamily.id), "child_id": \(parentFamily.child), "period": "printemps",
                 "days": [{"day": "\(start.adding(days: 1).iso)", "units": ["journee"]}]}
                """)
            #expect(office.status == .created, "\(office.json)")

            // Without previous_period, the latest period of the age group that ended before: printemps.
            try await openEarlier(client, admin, for: #""previous_period""#)
            let attended = Browser(client)
            _ = try await attended.login("/petit", email: "parent@example.org", password: PortalFixture.password)
            #expect(try await attended.get("/petit/").text.contains("réservations ouvertes pour vous depuis le"))
            #expect(try await book(attended, child: parentFamily.child, day: first).status == .seeOther)
            let other = Browser(client)
            _ = try await other.login("/petit", email: "voisin@example.org", password: PortalFixture.password)
            #expect(try await other.get("/petit/").text.contains("pour les familles inscrites à « Printemps »"))
            #expect(try await book(other, child: neighbour.child, day: first).status == .conflict)

            // Named, the previous period must exist and have come before.
            let unknown = try await apiJSON(client, .patch, "/api/centers/petit/periods/vacances", token: admin,
                                            json: #"{"booking": {"previous_period": "hiver"}}"#)
            #expect(unknown.status == .unprocessableContent)
            #expect((unknown.json["errors"] as? [[String: Any]])?.contains { ($0["message"] as? String)?.contains("unknown period \"hiver\"") == true } == true,
                    "\(unknown.json)")
            #expect(try await apiJSON(client, .patch, "/api/centers/petit/periods/vacances", token: admin,
                                      json: #"{"booking": {"previous_period": "printemps"}}"#).status == .ok)
        }
    }

    @Test func staffMarkAFamilyOfTheirCenterOnly() async throws {
        try await withPortal(payment: "", provider: { _ in nil }) { client, fixture in
            let admin = try await staffToken(fixture, email: "admin@federation.example.org", federationAdmin: true)
            let staff = try await invitedToken(client, fixture, center: "petit", email: "equipe@petit.example.org", role: "staff", by: admin)
            let elsewhere = try await invitedToken(client, fixture, center: "autre", email: "equipe@autre.example.org", role: "manager", by: admin)
            let first = fixture.petit.center.periods[0].startsOn
            try await openEarlier(client, admin, for: #""marked""#)
            let neighbour = try await family(client, admin, "voisin@example.org")

            let other = Browser(client)
            _ = try await other.login("/petit", email: "voisin@example.org", password: PortalFixture.password)
            #expect(try await book(other, child: neighbour.child, day: first).status == .conflict)

            // Another center's staff cannot mark it: 404 through their center and through this one.
            #expect(try await apiJSON(client, .patch, "/api/centers/autre/families/\(neighbour.id)", token: elsewhere,
                                      json: #"{"priority_marked": true}"#).status == .notFound)
            #expect(try await apiJSON(client, .patch, "/api/centers/petit/families/\(neighbour.id)", token: elsewhere,
                                      json: #"{"priority_marked": true}"#).status == .notFound)
            #expect(try await apiJSON(client, .get, "/api/centers/petit/families/\(neighbour.id)", token: staff).json["priority_marked"] as? Bool == false)

            // This center's staff can, with the change in the audit log.
            let marked = try await apiJSON(client, .patch, "/api/centers/petit/families/\(neighbour.id)", token: staff, json: #"{"priority_marked": true}"#)
            #expect(marked.status == .ok && marked.json["priority_marked"] as? Bool == true, "\(marked.json)")
            #expect(try await apiJSON(client, .get, "/api/centers/petit/families/\(neighbour.id)", token: staff).json["priority_marked"] as? Bool == true)
            let audit = try await apiJSON(client, .get, "/api/centers/petit/audit", token: admin)
            let entry = (audit.json["entries"] as? [[String: Any]])?.first { $0["action"] as? String == "family.update" }
            #expect((entry?["before"] as? String)?.contains(#""priority_marked": "false""#) == true, "\(audit.json)")
            #expect((entry?["after"] as? String)?.contains(#""priority_marked": "true""#) == true)
            #expect(entry?["actor"] as? String == "staff:equipe@petit.example.org")

            // Marked, the family books in the window; a staff booking never waited for it.
            #expect(try await book(other, child: neighbour.child, day: first).status == .seeOther)
            let parentFamily = try await family(client, admin, "parent@example.org")
            let office = try await apiJSON(client, .post, "/api/centers/petit/reservations", token: staff, json: """
                {"family_id": \(parentFamily.id), "child_id": \(parentFamily.child), "period": "vacances",
                 "days": [{"day": "\(first.iso)", "units": ["journee"]}]}
                """)
            #expect(office.status == .created, "\(office.json)")
        }
    }
}
