import Foundation
import Hummingbird
import HummingbirdTesting
import PortailStore
import Testing
@testable import PortailApp

/// Money stays right when the bank is late, early, twice or wrong (issue 13): each case failed on the
/// payment path before PaymentKit v2.
@Suite struct PaymentTimingTests {
    /// The days of an expired cart that the child booked and paid again meanwhile are not taken a second
    /// time by the first cart's late payment: it becomes the family's credit, flagged for a refund.
    @Test func aLatePaymentForDaysTheChildHasPaidAgainBecomesACredit() async throws {
        try await withPortal(places: 3, payment: systemPayBlock, provider: systemPayProviders) { client, fixture in
            let parent = Browser(client)
            let first = try await bookAndStartPayment(parent, fixture: fixture, days: 1)
            try await fixture.execute("UPDATE payment_attempts SET live_until = now() - interval '1 minute'")
            try await fixture.execute("UPDATE carts SET expires_at = now() - interval '1 minute'")
            // The parent books the same day again and pays it.
            try await bookDays(parent, fixture: fixture, [0])
            let second = try await startPayment(parent)
            #expect(second["vads_order_id"] != first["vads_order_id"])
            #expect(try await notify(client, bankNotification(second, uuid: "second")) == .ok)
            #expect(try await fixture.reservationStates() == [1: "expired", 2: "confirmed"])
            // The first payment arrives late.
            #expect(try await notify(client, bankNotification(first, uuid: "first")) == .ok)
            #expect(try await fixture.reservationStates() == [1: "expired", 2: "confirmed"])
            #expect(try await fixture.taken(days: 0...0) == [1])
            #expect(try await count(fixture, "SELECT count(*)::int FROM payments") == 2)
            #expect(try await fixture.credit() == 1000)
            #expect(try await count(fixture, "SELECT count(*)::int FROM payment_attempts WHERE flag = 'refund_due'") == 1)
            #expect(try await fixture.audited("payment.credit", saying: ["00001 (booked again)"]) == 1)
        }
    }

    /// A wrong amount puts the attempt in review; its cart is released like any other at its hold time,
    /// and the money the bank took is the family's credit.
    @Test func anAttemptInReviewReleasesItsCartAtTheHoldTime() async throws {
        try await withPortal(places: 1, payment: systemPayBlock, provider: systemPayProviders) { client, fixture in
            let parent = Browser(client)
            let form = try await bookAndStartPayment(parent, fixture: fixture, days: 1)
            #expect(try await notify(client, bankNotification(form, amount: "400")) == .ok)
            #expect(try await fixture.attempts() == [AttemptSummary(1000, "review", flag: "amount_mismatch")])
            #expect(try await fixture.lastCartState() == "open")
            #expect(try await fixture.credit() == 400)
            let back = try await parent.get("/petit/paiement/retour?ref=\(form["vads_order_id"]!)")
            #expect(back.text.contains("porté au crédit de votre compte"))
            #expect(back.text.contains("Vos places restent réservées jusqu'au"))
            // The hold runs out: the place is free for the neighbour.
            try await fixture.execute("UPDATE carts SET expires_at = now() - interval '1 minute'")
            let neighbour = Browser(client)
            _ = try await neighbour.login("/petit", email: "voisin@example.org", password: PortalFixture.password)
            try await bookDays(neighbour, fixture: fixture, [0])
            #expect(try await fixture.reservationStates() == [1: "expired", 2: "pending_payment"])
            #expect(try await fixture.taken(days: 0...0) == [1])
            // The parent's Mes factures shows the money as credit.
            #expect(try await parent.get("/petit/factures").text.contains("Avoir disponible : 4,00 €"))
        }
    }

    /// A started payment holds the cart's places past the hold time only while the bank's own session can
    /// still be paid (SystemPay: 10 minutes), not for a fixed 20 minutes.
    @Test func aStartedPaymentHoldsPlacesNoLongerThanTheBanksSession() async throws {
        try await withPortal(places: 1, payment: systemPayBlock, provider: systemPayProviders) { client, fixture in
            let parent = Browser(client)
            _ = try await bookAndStartPayment(parent, fixture: fixture, days: 1)
            #expect(try await count(fixture, "SELECT extract(epoch FROM live_until - created_at)::int FROM payment_attempts") == 600)
            // The hold is over but the bank's page is still open: the place stays held.
            try await fixture.execute("UPDATE carts SET expires_at = now() - interval '1 minute'")
            let neighbour = Browser(client)
            _ = try await neighbour.login("/petit", email: "voisin@example.org", password: PortalFixture.password)
            try await bookDays(neighbour, fixture: fixture, [0])
            #expect(try await fixture.reservationStates() == [1: "pending_payment"])
            // The bank's session is over: the place is free at once.
            try await fixture.execute("UPDATE payment_attempts SET created_at = now() - interval '11 minutes', live_until = now() - interval '1 minute'")
            try await bookDays(neighbour, fixture: fixture, [0])
            #expect(try await fixture.reservationStates() == [1: "expired", 2: "pending_payment"])
        }
    }

    /// A suspended center's pages are gone, but its bank's notifications are verified and recorded.
    @Test func aSuspendedCentersNotificationsAreVerifiedAndRecorded() async throws {
        try await withPortal(payment: systemPayBlock, provider: systemPayProviders) { client, fixture in
            let form = try await bookAndStartPayment(Browser(client), fixture: fixture, days: 1)
            let admin = try await staffToken(fixture, email: "admin@federation.example.org", federationAdmin: true)
            #expect(try await apiJSON(client, .post, "/api/centers/petit/suspend", token: admin).status == .ok)
            #expect(try await client.execute(uri: "/petit/", method: .get).status == .notFound)
            #expect(try await client.execute(uri: "/petit/paiement/retour?ref=x", method: .get).status == .notFound)
            // Forged: refused. Authentic: recorded and applied.
            #expect(try await notify(client, bankNotification(form, key: "0000000000000000")) == .badRequest)
            #expect(try await notify(client, bankNotification(form)) == .ok)
            #expect(try await fixture.reservationStates() == [1: "confirmed"])
            #expect(try await count(fixture, "SELECT count(*)::int FROM payments WHERE amount_cents = 1000") == 1)
        }
    }

    /// More than asked: the reservations are confirmed, the excess is the family's credit, flagged, and the
    /// staff's list of flagged payments shows what the bank took.
    @Test func moneyAboveTheAmountAskedIsCreditListedForTheStaff() async throws {
        try await withPortal(payment: systemPayBlock, provider: systemPayProviders) { client, fixture in
            let parent = Browser(client)
            let form = try await bookAndStartPayment(parent, fixture: fixture, days: 1)
            #expect(try await notify(client, bankNotification(form, amount: "1250")) == .ok)
            #expect(try await fixture.reservationStates() == [1: "confirmed"])
            #expect(try await count(fixture, "SELECT count(*)::int FROM allocations WHERE amount_cents = 1000") == 1)
            #expect(try await fixture.credit() == 250)
            #expect(try await fixture.audited("payment.amount_mismatch", saying: ["12,50\u{00A0}€"]) == 1)
            let admin = try await staffToken(fixture, email: "admin@federation.example.org", federationAdmin: true)
            let listed = try await apiJSON(client, .get, "/api/centers/petit/payment-attempts", token: admin)
            let attempts = try #require(listed.json["attempts"] as? [[String: Any]])
            #expect(attempts.count == 1)
            #expect(attempts.first?["flag"] as? String == "refund_due")
            #expect(attempts.first?["received_cents"] as? Int == 1250)
            #expect(try await parent.get("/petit/factures").text.contains("Avoir disponible : 2,50 €"))
        }
    }

    /// An authentic notification of money taken for an order the portal never made (another site on the same
    /// shop): acknowledged, nothing booked, and listed for the staff until a manager resolves it; a forged one
    /// is not listed at all.
    @Test func moneyTakenForAnUnknownOrderIsListedForTheStaff() async throws {
        try await withPortal(payment: systemPayBlock, provider: systemPayProviders) { client, fixture in
            let parent = Browser(client)
            var form = try await bookAndStartPayment(parent, fixture: fixture, days: 1)
            form["vads_order_id"] = "BOUTIQUE-77"
            #expect(try await notify(client, bankNotification(form, uuid: "elsewhere")) == .ok)
            #expect(try await notify(client, bankNotification(form, uuid: "elsewhere")) == .ok)  // the bank again
            #expect(try await notify(client, bankNotification(form, uuid: "forged", key: "0000000000000000")) == .badRequest)
            #expect(try await fixture.reservationStates() == [1: "pending_payment"])
            #expect(try await count(fixture, "SELECT count(*)::int FROM payments") == 0)
            let admin = try await staffToken(fixture, email: "admin@federation.example.org", federationAdmin: true)
            let listed = try await apiJSON(client, .get, "/api/centers/petit/payment-attempts", token: admin)
            let unmatched = try #require(listed.json["unmatched"] as? [[String: Any]])
            #expect(unmatched.count == 1)
            #expect(unmatched.first?["reference"] as? String == "BOUTIQUE-77" && unmatched.first?["amount_cents"] as? Int == 1000)
            #expect(unmatched.first?["provider_transaction_id"] as? String == "elsewhere")
            // The other center's staff see nothing of it.
            let other = try await apiJSON(client, .get, "/api/centers/autre/payment-attempts", token: admin)
            #expect((other.json["unmatched"] as? [[String: Any]])?.isEmpty == true)
            let resolved = try await apiJSON(client, .post, "/api/centers/petit/payment-attempts/BOUTIQUE-77/resolve", token: admin,
                                             json: #"{"resolution": "remboursé depuis le back-office de la banque"}"#)
            #expect(resolved.status == .noContent)
            let after = try await apiJSON(client, .get, "/api/centers/petit/payment-attempts", token: admin)
            #expect((after.json["unmatched"] as? [[String: Any]])?.isEmpty == true)
            #expect(try await fixture.audited("payment.unmatched", saying: ["1000 cents", "elsewhere"]) == 1)
        }
    }

    /// The credit a live attempt counted is that attempt's until it ends: staff cannot refund it meanwhile,
    /// and the bank's payment of the rest settles the invoice in full.
    @Test func creditCountedByALiveAttemptIsNotSpentTwice() async throws {
        try await withPortal(payment: systemPayBlock, provider: systemPayProviders) { client, fixture in
            let parent = Browser(client)
            let first = try await bookAndStartPayment(parent, fixture: fixture, days: 1)
            #expect(try await notify(client, bankNotification(first, amount: "1250")) == .ok)
            #expect(try await fixture.credit() == 250)
            try await bookDays(parent, fixture: fixture, [1])
            let second = try await startPayment(parent)
            #expect(second["vads_amount"] == "750")
            let admin = try await staffToken(fixture, email: "admin@federation.example.org", federationAdmin: true)
            let family = try await count(fixture, "SELECT id::int FROM families WHERE email = 'parent@example.org' AND center_id = \(fixture.petit.id)")
            let refund = try await apiJSON(client, .post, "/api/centers/petit/refunds", token: admin,
                                           json: #"{"family_id": \#(family), "amount_cents": 250, "method": "virement"}"#,
                                           headers: [.init("Idempotency-Key")!: "r-1"])
            #expect(refund.status == .conflict)
            #expect(try await notify(client, bankNotification(second, uuid: "second")) == .ok)
            #expect(try await fixture.reservationStates() == [1: "confirmed", 2: "confirmed"])
            #expect(try await count(fixture, "SELECT count(*)::int FROM payment_attempts WHERE flag IS NOT NULL AND flag <> 'refund_due'") == 0)
            #expect(try await fixture.credit() == 0)
            #expect(try await parent.get("/petit/factures").text.contains("Total restant dû : 0,00 €"))
        }
    }

    /// A late payment does not take a freed place that a child of the waiting list waits for: the money
    /// is the family's credit, and the place waits for its offer.
    @Test func aLatePaymentDoesNotJumpTheWaitingList() async throws {
        try await withPortal(places: 1, payment: systemPayBlock, provider: systemPayProviders) { client, fixture in
            let form = try await bookAndStartPayment(Browser(client), fixture: fixture, days: 1)
            let neighbour = Browser(client, forwardedFor: "10.0.0.2")
            _ = try await neighbour.login("/petit", email: "voisin@example.org", password: PortalFixture.password)
            let periods = try await neighbour.get("/petit/reservations/nouvelle")
            let child = String(try #require(periods.body.firstMatch(of: /name="enfant" value="(\d+)"/)?.1))
            let day = fixture.petit.center.periods[0].startsOn.iso
            let join = try await neighbour.post("/petit/reservations/liste-attente", [("enfant", child), ("periode", "vacances"), ("attente", "\(day):journee")])
            #expect(join.status == .seeOther)
            try await fixture.execute("UPDATE payment_attempts SET live_until = now() - interval '1 minute'")
            try await fixture.execute("UPDATE carts SET expires_at = now() - interval '1 minute'")
            // The neighbour books another day: the parent's cart is written expired, its place freed.
            try await bookDays(neighbour, fixture: fixture, [1])
            #expect(try await fixture.reservationStates() == [1: "expired", 2: "pending_payment"])
            #expect(try await notify(client, bankNotification(form)) == .ok)
            #expect(try await fixture.reservationStates() == [1: "expired", 2: "pending_payment"])
            #expect(try await fixture.credit() == 1000)
            #expect(try await fixture.audited("payment.credit", saying: ["00001 (places taken)"]) == 1)
            #expect(try await count(fixture, "SELECT count(*)::int FROM waiting_list WHERE state = 'waiting'") == 1)
        }
    }
}
