import FakeBanks
import HTTPTypes
import Foundation
import PaymentKit
import PortailConfig
import PortailDomain
import PortailTestSupport
@testable import PortailStore
import Stripe
import Testing
@testable import PortailApp

/// A parent pays through the fake Stripe, over real HTTP both ways: the portal opens a Checkout Session
/// through the fake's API and redirects the browser to its hosted page; the fake posts signed webhook
/// events to the endpoint registered for the account (the portal's notification address).
@Suite struct StripeFlowTests {
    // The small center's account; the other center's block names other variables (12345678 → 87654321).
    static let environment = [
        "STRIPE_KEY_12345678": "sk_test_petit", "STRIPE_WHSEC_12345678": "whsec_petit",
        "STRIPE_KEY_87654321": "sk_test_autre", "STRIPE_WHSEC_87654321": "whsec_autre",
    ]

    static func block(_ bank: FakeStripe) -> String {
        """
        payment:
          type: stripe
          mode: TEST
          secret_key_env: STRIPE_KEY_12345678
          webhook_secret_env: STRIPE_WHSEC_12345678
          api_url: \(bank.apiURL)
        """
    }

    static func registry() -> PaymentProviderRegistry {
        var registry = PaymentProviderRegistry()
        registry.register(StripeProvider.self)
        return registry
    }

    /// The portal with Stripe pointed at a fresh fake that knows both centers' accounts.
    func withStripe(_ body: @Sendable (Browser, PortalFixture, FakeStripe, PaymentReconciliation) async throws -> Void) async throws {
        let bank = try await FakeStripe.start(accounts: [.init(secretKey: "sk_test_petit", webhookSecret: "whsec_petit"),
                                                         .init(secretKey: "sk_test_autre", webhookSecret: "whsec_autre")])
        try await withProviderPortal(payment: Self.block(bank), registry: Self.registry(), environment: Self.environment,
                                     stop: { await bank.stop() }) { browser, fixture, reconciliation in
            try await body(browser, fixture, bank, reconciliation)
        }
    }

    /// "Accéder au paiement", then the account's webhook endpoint registered at the fake (the portal's
    /// notification address, found from the session's success URL). Returns the start and the session.
    func startAtStripe(_ browser: Browser, fixture: PortalFixture, bank: FakeStripe, login: Bool = true) async throws -> (BankStart, FakeStripe.Session) {
        let start = login ? try await goToBank(browser, fixture: fixture) : try await pressPay(browser)
        guard case .redirect(let url) = start else { Issue.record("Stripe redirects"); throw CancellationError() }
        let session = try #require(bank.sessions.last)
        #expect(url == bank.apiURL + "/c/pay/" + session.id)
        bank.setWebhookURL(notificationURL(session), for: "sk_test_petit")
        return (start, session)
    }

    @Test func paidAtStripeConfirmsInvoicesAndRecordsThePaymentOnce() async throws {
        try await withStripe { browser, fixture, bank, _ in
            let (start, session) = try await startAtStripe(browser, fixture: fixture, bank: bank)
            let request = try #require(bank.sessionRequests.last)
            #expect(request["line_items[0][price_data][unit_amount]"] == "2000" && request["client_reference_id"] != nil)
            #expect(request["customer_email"] == "parent@example.org")
            let back = try await payAtBank(start, .pay)
            #expect(bank.sent.map(\.status) == [200])
            #expect(try await browser.get(portalPath(back)).text.contains("Paiement accepté"))
            #expect(try await fixture.reservationStates() == [1: "confirmed"])
            #expect(try await fixture.invoices() == [BilledInvoice("PET00001", 2000, [1])])
            let intent = try #require(bank.session(session.id)?.paymentIntent)
            #expect(try await count(fixture, "SELECT count(*)::int FROM payments WHERE amount_cents = 2000 AND provider_transaction = '\(intent)'") == 1)
            #expect(try await count(fixture, "SELECT count(*)::int FROM payment_attempts WHERE provider_reference = '\(session.id)'") == 1)
        }
    }

    /// Staff give a paid reservation's money back to the card: the bank refunds, then the ledger records it;
    /// never more than what of that payment is still the family's, never another family's payment.
    @Test func staffRefundAPaymentThroughTheBank() async throws {
        try await withStripe { browser, fixture, bank, _ in
            let (start, session) = try await startAtStripe(browser, fixture: fixture, bank: bank)
            try await payAtBank(start, .pay)
            #expect(try await fixture.reservationStates() == [1: "confirmed"])
            let admin = try await staffToken(fixture, email: "admin@federation.example.org", federationAdmin: true)
            let family = try await count(fixture, "SELECT family_id::int FROM payments")
            let number = try await fixture.database.owner.withConnection { c in
                try await c.first("SELECT number FROM payments", (String.self), logger: fixture.database.logger)!
            }
            func refund(_ cents: Int, payment: String, key: String) async throws -> (status: HTTPResponse.Status, json: [String: Any]) {
                try await apiJSON(browser.client, .post, "/api/centers/petit/refunds", token: admin,
                                  json: #"{"family_id": \#(family), "amount_cents": \#(cents), "method": "online", "payment": "\#(payment)"}"#,
                                  headers: [.init("Idempotency-Key")!: key])
            }
            // All of the payment settles the invoice: nothing of it is the family's to refund yet.
            #expect(try await refund(500, payment: number, key: "r-0").status == .conflict)
            #expect(bank.refunds.isEmpty)
            // Staff cancel the reservation: its credit note gives the 20 € back to the family's account.
            #expect(try await apiJSON(browser.client, .post, "/api/centers/petit/reservations/00001/cancel", token: admin).status == .ok)
            #expect(try await fixture.credit() == 2000)
            let refunded = try await refund(1500, payment: number, key: "r-1")
            #expect(refunded.status == .created)
            #expect(refunded.json["bank_state"] as? String == "done")
            #expect((refunded.json["bank_refund"] as? String)?.isEmpty == false)
            #expect(bank.refunds.count == 1)
            #expect(bank.refunds.first?["payment_intent"] == bank.session(session.id)?.paymentIntent)
            #expect(bank.refunds.first?["amount"] == "1500")
            #expect(try await fixture.credit() == 500)
            // The same request again (same key) is the same refund: the bank is not asked twice.
            #expect(try await refund(1500, payment: number, key: "r-1").status == .created)
            #expect(bank.refunds.count == 1)
            // More than is left of that payment: refused before the bank is asked.
            #expect(try await refund(600, payment: number, key: "r-2").status == .conflict)
            #expect(bank.refunds.count == 1)
            // A payment number that is not this family's (or not online) is not found.
            #expect(try await refund(100, payment: "PET-P99999", key: "r-3").status == .notFound)
            #expect(try await count(fixture, "SELECT count(*)::int FROM invoices WHERE kind = 'refund'") == 1)
            // Someone refunded the rest in Stripe's dashboard: Stripe refuses the portal's refund, which is
            // reversed, and the 5 € are the family's credit again.
            let intent = try #require(bank.session(session.id)?.paymentIntent)
            #expect(try await BankHTTP.post(bank.apiURL + "/v1/refunds", contentType: "application/x-www-form-urlencoded",
                                            headers: [("Authorization", "Bearer sk_test_petit")],
                                            body: "payment_intent=\(intent)&amount=500") == 200)
            let refused = try await refund(500, payment: number, key: "r-4")
            #expect(refused.status == .badGateway)
            #expect((refused.json["title"] as? String) == "The bank refused the refund")
            #expect(try await fixture.credit() == 500)
            #expect(try await count(fixture, "SELECT count(*)::int FROM bank_refunds WHERE state = 'refused'") == 1)
            #expect(try await count(fixture, "SELECT count(*)::int FROM bank_refunds WHERE state = 'done'") == 1)
        }
    }

    /// Refused: a delayed method that fails (completed unpaid, then async_payment_failed).
    @Test func refusedAtStripeConfirmsNothingAndTheCartIsPayableAgain() async throws {
        try await withStripe { browser, fixture, bank, _ in
            let (start, first) = try await startAtStripe(browser, fixture: fixture, bank: bank)
            try await payAtBank(start, .refuse)
            #expect(bank.sent.map(\.status) == [200, 200])
            #expect(try await fixture.reservationStates() == [1: "pending_payment"])
            #expect(try await fixture.lastCartState() == "open")
            #expect(try await count(fixture, "SELECT count(*)::int FROM payments") == 0)
            // A new attempt opens a new session, which pays.
            let (again, second) = try await startAtStripe(browser, fixture: fixture, bank: bank, login: false)
            #expect(first.id != second.id)
            try await payAtBank(again, .pay)
            #expect(try await fixture.reservationStates() == [1: "confirmed"])
            #expect(try await count(fixture, "SELECT count(*)::int FROM payments") == 1)
        }
    }

    @Test func anEventSentTwiceThenReplayedFourTimesIsOnePayment() async throws {
        try await withStripe { browser, fixture, bank, _ in
            let (start, _) = try await startAtStripe(browser, fixture: fixture, bank: bank)
            try await payAtBank(start, .pay, delivery: .twice)
            #expect(bank.sent.map(\.status) == [200, 200])
            let event = try #require(bank.sent.last)
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<4 {
                    group.addTask { try await BankHTTP.post(event.url, contentType: event.contentType, headers: event.headers, body: event.body) }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses == [200, 200, 200, 200])
            #expect(try await count(fixture, "SELECT count(*)::int FROM payments") == 1)
            #expect(try await count(fixture, "SELECT count(*)::int FROM invoices") == 1)
            #expect(try await count(fixture, "SELECT count(*)::int FROM payment_notifications WHERE outcome = 'duplicate'") == 5)
        }
    }

    @Test func aForgedOrAlteredEventIsRefusedAndChangesNothing() async throws {
        try await withStripe { browser, fixture, bank, _ in
            // The payer leaves the page: Stripe says nothing yet.
            let (start, session) = try await startAtStripe(browser, fixture: fixture, bank: bank)
            try await payAtBank(start, .abandon)
            #expect(bank.sent.isEmpty)
            let paid = bank.complete(session.id, paid: true)
            let event = bank.event("checkout.session.completed", paid)
            let url = notificationURL(session)
            let now = Int(Date().timeIntervalSince1970)
            func post(_ body: String, signedWith secret: String, at timestamp: Int = now) async throws -> Int {
                try await BankHTTP.post(url, contentType: "application/json", headers: [
                    ("Stripe-Signature", StripeAccount.signatureHeader(body: body, secret: secret, timestamp: timestamp)),
                ], body: body)
            }
            // No signature; another center's endpoint secret; an API key as the secret; signed ten minutes ago.
            #expect(try await BankHTTP.post(url, contentType: "application/json", body: event) == 400)
            #expect(try await post(event, signedWith: "whsec_autre") == 400)
            #expect(try await post(event, signedWith: "sk_test_petit") == 400)
            #expect(try await post(event, signedWith: "whsec_petit", at: now - 600) == 400)
            // Signed, then one character changed.
            let header = StripeAccount.signatureHeader(body: event, secret: "whsec_petit", timestamp: now)
            let altered = event.replacingOccurrences(of: "\"amount_total\":2000", with: "\"amount_total\":2001")
            #expect(altered != event)
            #expect(try await BankHTTP.post(url, contentType: "application/json", headers: [("Stripe-Signature", header)], body: altered) == 400)
            #expect(try await fixture.reservationStates() == [1: "pending_payment"])
            #expect(try await count(fixture, "SELECT count(*)::int FROM payments") == 0)
            #expect(try await count(fixture, "SELECT count(*)::int FROM payment_notifications") == 0)
            // An event type the portal does not follow, correctly signed: acknowledged, nothing done.
            let other = event.replacingOccurrences(of: "checkout.session.completed", with: "payment_intent.created")
            #expect(try await post(other, signedWith: "whsec_petit") == 200)
            #expect(try await count(fixture, "SELECT count(*)::int FROM payment_notifications") == 0)
        }
    }

    /// The portal's notification address, from the session's success URL.
    func notificationURL(_ session: FakeStripe.Session) -> String {
        String(session.successURL[..<session.successURL.range(of: "/paiement/retour")!.lowerBound]) + "/paiement/notification"
    }

    @Test func aSlowWebhookArrivesAfterTheBrowserIsBack() async throws {
        try await withStripe { browser, fixture, bank, _ in
            let (start, _) = try await startAtStripe(browser, fixture: fixture, bank: bank)
            let back = try await payAtBank(start, .pay, delivery: .late)
            #expect(try await browser.get(portalPath(back)).text.contains("en cours de confirmation"))
            #expect(try await eventually { try await fixture.reservationStates() == [1: "confirmed"] })
            #expect(try await browser.get(portalPath(back)).text.contains("Paiement accepté"))
        }
    }

    /// A delayed method: completed unpaid (pending), then async_payment_succeeded: one payment; an
    /// `expired` arriving after it (events come in any order) does not undo it.
    @Test func aDelayedPaymentSettlesOnceAndALateExpiryChangesNothing() async throws {
        try await withStripe { browser, fixture, bank, _ in
            let (_, session) = try await startAtStripe(browser, fixture: fixture, bank: bank)
            let unpaid = bank.complete(session.id, paid: false)
            #expect(await bank.send(bank.event("checkout.session.completed", unpaid), secretKey: "sk_test_petit")?.status == 200)
            #expect(try await fixture.reservationStates() == [1: "pending_payment"])
            #expect(await bank.settle(session.id)?.status == 200)
            #expect(try await fixture.reservationStates() == [1: "confirmed"])
            let settled = try #require(bank.session(session.id))
            // Stripe may also send the completed event again, and a stray expiry.
            #expect(await bank.send(bank.event("checkout.session.async_payment_succeeded", settled), secretKey: "sk_test_petit")?.status == 200)
            var expired = settled
            expired.status = "expired"
            #expect(await bank.send(bank.event("checkout.session.expired", expired), secretKey: "sk_test_petit")?.status == 200)
            #expect(try await fixture.reservationStates() == [1: "confirmed"])
            #expect(try await count(fixture, "SELECT count(*)::int FROM payments") == 1)
            #expect(try await count(fixture, "SELECT count(*)::int FROM payment_attempts WHERE flag IS NOT NULL") == 0)
        }
    }

    /// A debit Stripe says is on its way, whose attempt runs out of time before it settles: the return page
    /// does not say that nothing was debited, and offers no second payment.
    @Test func aPendingDebitPastItsTimeIsNotCalledUnpaid() async throws {
        try await withStripe { browser, fixture, bank, _ in
            let (_, session) = try await startAtStripe(browser, fixture: fixture, bank: bank)
            let reference = try #require(bank.sessionRequests.last?["client_reference_id"])
            let unpaid = bank.complete(session.id, paid: false)
            #expect(await bank.send(bank.event("checkout.session.completed", unpaid), secretKey: "sk_test_petit")?.status == 200)
            try await fixture.execute("UPDATE payment_attempts SET live_until = now() - interval '1 minute'")
            // What the maintenance service does every minute.
            try await fixture.database.withCenter(fixture.petit.id) { c in
                try await BookingRepository.expireDueCarts(c, center: fixture.petit.id, logger: TestCluster.logger)
            }
            let page = try await browser.get("/petit/paiement/retour?ref=\(reference)")
            #expect(page.text.contains("Paiement en attente à la banque"), "\(page.text.prefix(600))")
            #expect(!page.text.contains("Aucun montant n'a été débité") && !page.text.contains("Retour au panier"))
            #expect(try await count(fixture, "SELECT count(*)::int FROM payment_attempts WHERE state = 'expired'") == 1)
            // When it settles after all, the places still free, the days are confirmed.
            #expect(await bank.settle(session.id)?.status == 200)
            #expect(try await fixture.reservationStates() == [1: "confirmed"])
        }
    }

    /// The webhook never comes: reconciliation asks Stripe for the session and finds the payment; the
    /// webhook arriving afterwards is the same payment.
    @Test func withoutAWebhookReconciliationFindsThePayment() async throws {
        try await withStripe { browser, fixture, bank, reconciliation in
            let (start, session) = try await startAtStripe(browser, fixture: fixture, bank: bank)
            // Open at Stripe: nothing to learn yet.
            #expect(try await reconciliation.reconcile(fixture.petit, quietFor: 0, since: Date().addingTimeInterval(-3600)).isEmpty)
            try await payAtBank(start, .pay, delivery: .never)
            #expect(bank.sent.isEmpty)
            #expect(try await fixture.reservationStates() == [1: "pending_payment"])
            let changes = try await reconciliation.reconcile(fixture.petit, quietFor: 0, since: Date().addingTimeInterval(-3600))
            #expect(changes.map(\.reference).count == 1)
            #expect(try await fixture.reservationStates() == [1: "confirmed"])
            #expect(try await fixture.invoices() == [BilledInvoice("PET00001", 2000, [1])])
            // The late webhook: the same transaction, no second payment, no flag.
            let paid = try #require(bank.session(session.id))
            #expect(await bank.send(bank.event("checkout.session.completed", paid), secretKey: "sk_test_petit")?.status == 200)
            #expect(try await count(fixture, "SELECT count(*)::int FROM payments") == 1)
            #expect(try await count(fixture, "SELECT count(*)::int FROM payment_attempts WHERE flag IS NOT NULL") == 0)
        }
    }
}
