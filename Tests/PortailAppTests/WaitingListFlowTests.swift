import Foundation
import Hummingbird
import HummingbirdTesting
import PortailApp
import PortailStore
import PortailTestSupport
import Testing

/// The waiting list as families and staff live it, over HTTP: a full day, the line, a cancellation,
/// the offer by e-mail, the payment through the bank, and the line's history for the staff.
@Suite struct WaitingListFlowTests {
    @Test func aPlaceFreedByACancellationIsOfferedToTheFirstInLineWhoPaysForIt() async throws {
        try await withPortal(places: 1) { client, fixture in
            let day = fixture.petit.center.periods[0].startsOn
            let cell = "\(day.iso):journee"
            // The parent takes the only place of the first day and pays for it.
            let parent = Browser(client, forwardedFor: "10.0.0.1")
            let form = try await bookAndStartPayment(parent, fixture: fixture, days: 1)
            #expect(try await notify(client, bankNotification(form)) == .ok)

            // The neighbour finds the day full and joins its waiting list from the grid.
            let voisin = Browser(client, forwardedFor: "10.0.0.2")
            _ = try await voisin.login("/petit", email: "voisin@example.org", password: PortalFixture.password)
            let periods = try await voisin.get("/petit/reservations/nouvelle")
            let childID = String(try #require(periods.body.firstMatch(of: /name="enfant" value="(\d+)"/)?.1))
            let grid = try await voisin.get("/petit/reservations/nouvelle?enfant=\(childID)&periode=vacances")
            #expect(grid.body.contains("name=\"attente\" value=\"\(cell)\""))
            // A day with places left offers no line.
            #expect(!grid.body.contains("name=\"attente\" value=\"\(day.adding(days: 1).iso):journee\""))
            let join = try await voisin.post("/petit/reservations/liste-attente", [("enfant", childID), ("periode", "vacances"), ("attente", cell)])
            #expect(join.status == .seeOther)
            let joined = try await voisin.get(try #require(join.location))
            #expect(joined.text.contains("INÈS est inscrit(e) sur la liste d'attente"))
            #expect(joined.text.contains("liste d'attente : 1er"))
            #expect(!joined.body.contains("name=\"attente\" value=\"\(cell)\""))
            let again = try await voisin.post("/petit/reservations/liste-attente", [("enfant", childID), ("periode", "vacances"), ("attente", cell)])
            #expect(again.status == .conflict)
            #expect(again.text.contains("INÈS est déjà sur la liste d'attente"))
            let account = try await voisin.get("/petit/compte")
            #expect(account.text.contains("\(day.french) (Journée) : en liste d'attente, 1er"))
            let entry = String(try #require(account.body.firstMatch(of: /name="entree" value="(\d+)"/)?.1))

            // Nobody else can take the neighbour out of the line: not the other family, not a family of another center.
            #expect(try await parent.post("/petit/liste-attente/retirer", [("entree", entry)]).status == .notFound)
            let stranger = Browser(client, forwardedFor: "10.0.0.3")
            _ = try await stranger.login("/autre", email: "voisin@example.org", password: PortalFixture.password)
            _ = try await stranger.get("/autre/compte")
            #expect(try await stranger.post("/autre/liste-attente/retirer", [("entree", entry)]).status == .notFound)
            #expect(try await count(fixture, "SELECT count(*)::int FROM waiting_list WHERE state = 'waiting'") == 1)

            // The staff cancel the parent's day; the next maintenance pass offers the place by e-mail.
            let admin = try await staffToken(fixture, email: "admin@federation.example.org", federationAdmin: true)
            let manager = try await invitedToken(client, fixture, center: "petit", email: "direction@petit.example.org", role: "manager", by: admin)
            #expect(try await apiJSON(client, .post, "/api/centers/petit/reservations/00001/cancel", token: manager).status == .ok)
            let job = MaintenanceService(database: fixture.database, directory: CenterDirectory(.init(centers: [fixture.petit, fixture.autre], failures: [])),
                                         mail: LogMailTransport(), logger: TestCluster.logger)
            await job.runOnce()
            #expect(try await count(fixture, """
                SELECT count(*)::int FROM mail_outbox WHERE to_address = 'voisin@example.org'
                  AND subject LIKE '%une place s''est libérée pour INÈS%' AND body_text LIKE '%/panier%'
                """) == 1)
            let offered = try await voisin.get("/petit/compte")
            #expect(offered.text.contains("place proposée : à payer avant le"))
            #expect(offered.text.contains("Votre panier contient 1 réservation(s) pour 10,00 €"))

            // The neighbour pays the offered day through the bank: it is theirs, and the line records it.
            let payment = try await startPayment(voisin)
            #expect(try await notify(client, bankNotification(payment, uuid: "uuid-2")) == .ok)
            await job.runOnce()
            let list = try await apiJSON(client, .get, "/api/centers/petit/waiting-list?day=\(day.iso)", token: manager)
            #expect(list.status == .ok)
            let entries = try #require(list.json["entries"] as? [[String: Any]])
            #expect(entries.count == 1)
            #expect(entries.first?["state"] as? String == "booked")
            #expect(entries.first?["child"] as? String == "INÈS")
            let listedChild = try #require(entries.first?["child_id"] as? Int)
            #expect(String(listedChild) == childID)
            let mine = try await apiJSON(client, .get, "/api/centers/petit/waiting-list?child_id=\(listedChild)&state=booked", token: manager)
            #expect((mine.json["entries"] as? [Any])?.count == 1)
            let none = try await apiJSON(client, .get, "/api/centers/petit/waiting-list?child_id=\(listedChild)&state=waiting", token: manager)
            #expect((none.json["entries"] as? [Any])?.isEmpty == true && none.json["total"] as? Int == 0)
            #expect(try await apiJSON(client, .get, "/api/centers/petit/waiting-list?family_id=deux", token: manager).status.code >= 400)
            #expect(try await count(fixture, "SELECT count(*)::int FROM reservations WHERE state = 'confirmed'") == 1)
            #expect(try await count(fixture, "SELECT taken FROM day_capacities d JOIN centers c ON c.id = d.center_id WHERE c.code = 'petit' AND d.day = '\(day.iso)' AND d.unit = 'matin'") == 1)
            #expect(!(try await voisin.get("/petit/compte").text.contains("Listes d'attente")))

            // Another center's staff see nothing of this line.
            let other = try await invitedToken(client, fixture, center: "autre", email: "direction@autre.example.org", role: "manager", by: admin)
            #expect(try await apiJSON(client, .get, "/api/centers/petit/waiting-list", token: other).status == .notFound)
            let own = try await apiJSON(client, .get, "/api/centers/autre/waiting-list", token: other)
            #expect((own.json["entries"] as? [Any])?.isEmpty == true)
        }
    }
}
