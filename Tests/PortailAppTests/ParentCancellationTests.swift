import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import PortailDomain
import Testing
@testable import PortailApp
@testable import PortailStore

/// A parent cancels some days of a reservation, not only all of it (issue 15, item 2): a page names the
/// days and the credit before anything is done; each day until its own deadline; the credit note names
/// the days.
@Suite struct ParentCancellationTests {
    let office = BackOfficeSignInTests()

    @Test func aParentCancelsTwoDaysOfAReservationAndKeepsTheOthers() async throws {
        try await withPortal(payment: "", provider: { _ in nil }) { client, fixture in
            let parent = Browser(client)
            _ = try await parent.login("/petit", email: "parent@example.org", password: PortalFixture.password)
            try await office.bookInvoiced(parent, fixture, days: [0, 1, 2])
            let start = fixture.petit.center.periods[0].startsOn
            let (d1, d2) = (start.adding(days: 1), start.adding(days: 2))
            let asking = try await parent.get("/petit/reservations/00001/annuler")
            #expect(asking.text.contains("Ou seulement certains jours") && asking.body.contains("value=\"\(d1.iso)\""), "\(asking.text)")

            // The days ticked, asked again: named, with the credit; nothing cancelled yet.
            let confirm = try await parent.post("/petit/reservations/00001/annuler", [("jour", d1.iso), ("jour", d2.iso)])
            #expect(confirm.status == .ok && confirm.text.contains("Annuler ces jours de la réservation n° 00001 ?") && confirm.text.contains("20,00"), "\(confirm.text)")
            #expect(try await count(fixture, "SELECT count(*)::int FROM invoices WHERE kind = 'credit_note'") == 0)
            let done = try await parent.post("/petit/reservations/00001/annuler", [("confirmer", "oui"), ("jour", d1.iso), ("jour", d2.iso)])
            #expect(done.location == "/petit/factures?annulation=PET-AV00001")
            // Not paid yet (payment at the office): the credit note lowers what is due.
            #expect(try await parent.get(try #require(done.location)).text.contains("Total restant dû : 10,00"))
            let kept = try await parent.get("/petit/reservations/00001")
            #expect(kept.text.contains("confirmée") && kept.text.contains("10,00") && !kept.text.contains(d1.french))
            #expect(try await count(fixture, "SELECT count(*)::int FROM audit_log WHERE action = 'reservation.cancel_days' AND actor LIKE 'family:%'") == 1)

            // A day that is not the reservation's, or another family's reservation: nothing.
            #expect(try await parent.post("/petit/reservations/00001/annuler", [("confirmer", "oui"), ("jour", "2001-01-01")]).status == .notFound)
            let neighbour = Browser(client)
            _ = try await neighbour.login("/petit", email: "voisin@example.org", password: PortalFixture.password)
            _ = try await neighbour.get("/petit/compte")
            #expect(try await neighbour.post("/petit/reservations/00001/annuler", [("confirmer", "oui"), ("jour", start.iso)]).status == .notFound)
            #expect(try await count(fixture, "SELECT count(*)::int FROM invoices WHERE kind = 'credit_note'") == 1)
        }
    }
}

/// A combination the grid cannot take (a day and its morning ticked together) brings the grid back with
/// every box as ticked and a French message naming the day (issue 15, item 1).
@Suite struct GridSelectionTests {
    @Test func aRefusedCombinationKeepsTheSelection() async throws {
        try await withPortal(payment: "", provider: { _ in nil }) { client, fixture in
            let parent = Browser(client)
            _ = try await parent.login("/petit", email: "parent@example.org", password: PortalFixture.password)
            let periods = try await parent.get("/petit/reservations/nouvelle")
            let child = try #require(periods.body.firstMatch(of: /name="enfant" value="(\d+)"/)?.1)
            let start = fixture.petit.center.periods[0].startsOn
            let refused = try await parent.post("/petit/reservations/recapitulatif",
                                                [("enfant", String(child)), ("periode", "vacances"), ("jour", "\(start.iso):journee"), ("jour", "\(start.iso):matin"),
                                                 ("jour", "\(start.adding(days: 1).iso):journee")])
            #expect(refused.status == .unprocessableContent)
            #expect(refused.text.contains("Sélection impossible : le \(start.french), deux cases cochées demandent la même place"), "\(refused.text)")
            #expect(refused.body.contains("<th scope=\"col\" data-prix=\"1000\">Journée<br>"))
            #expect(refused.body.contains("value=\"\(start.adding(days: 1).iso):journee\" checked>"))
            let kept = refused.body.matches(of: /name="jour" value="[^"]+" checked>/).count
            #expect(kept == 3, "\(kept)")
            #expect(try await count(fixture, "SELECT count(*)::int FROM reservations") == 0)
        }
    }
}
