import FakeBanks
import Foundation
import HelloAsso
import PaymentKit
import PortailConfig
import PortailDomain
import PortailTestSupport
import Testing
@testable import PortailApp

/// A parent pays through the fake HelloAsso, over real HTTP both ways: the portal takes an OAuth2 token,
/// opens a checkout intent and redirects the browser to its page; the fake posts signed Payment and Order
/// notifications to the URL set in the association's back office (the portal's notification address), and
/// the portal believes only the intent it reads back.
@Suite struct HelloAssoFlowTests {
    // The small center's association; the other center's block names other variables (12345678 → 87654321).
    static let environment = [
        "HA_SECRET_12345678": "secret-petit", "HA_SIGN_12345678": "sign-petit",
        "HA_SECRET_87654321": "secret-autre", "HA_SIGN_87654321": "sign-autre",
    ]

    static func block(_ bank: FakeHelloAsso) -> String {
        """
        payment:
          type: helloasso
          organization_slug: les-petits-loups
          client_id: client-12345678
          client_secret_env: HA_SECRET_12345678
          signature_key_env: HA_SIGN_12345678
          environment: sandbox
          api_url: \(bank.apiURL)
          oauth_url: \(bank.oauthURL)
        """
    }

    static func registry() -> PaymentProviderRegistry {
        var registry = PaymentProviderRegistry()
        registry.register(HelloAssoProvider.self)
        return registry
    }

    /// The portal with HelloAsso pointed at a fresh fake of the small center's association.
    func withHelloAsso(_ body: @Sendable (Browser, PortalFixture, FakeHelloAsso, PaymentReconciliation) async throws -> Void) async throws {
        let bank = try await FakeHelloAsso.start(organizationSlug: "les-petits-loups", clientID: "client-12345678",
                                                 clientSecret: "secret-petit", signatureKey: "sign-petit")
        // The fake knows one association, which both test centers name.
        try await withProviderPortal(payment: Self.block(bank), registry: Self.registry(), environment: Self.environment,
                                     checkingAccounts: false, stop: { await bank.stop() }) { browser, fixture, reconciliation in
            try await body(browser, fixture, bank, reconciliation)
        }
    }

    /// "Accéder au paiement", then the association's notification URL set at the fake (the portal's
    /// notification address, found from the intent's return URL). Returns the start and the intent.
    func startAtHelloAsso(_ browser: Browser, fixture: PortalFixture, bank: FakeHelloAsso, login: Bool = true) async throws -> (BankStart, FakeHelloAsso.Intent) {
        let start = login ? try await goToBank(browser, fixture: fixture) : try await pressPay(browser)
        guard case .redirect(let url) = start else { Issue.record("HelloAsso redirects"); throw CancellationError() }
        let intent = try #require(bank.intents.last)
        #expect(url == bank.server.baseURL + "/associations/les-petits-loups/checkout/\(intent.id)")
        bank.setNotificationURL(notificationURL(intent))
        return (start, intent)
    }

    func notificationURL(_ intent: FakeHelloAsso.Intent) -> String {
        String(intent.returnUrl[..<intent.returnUrl.range(of: "/paiement/retour")!.lowerBound]) + "/paiement/notification"
    }

    @Test func paidAtHelloAssoConfirmsInvoicesAndRecordsThePaymentOnce() async throws {
        try await withHelloAsso { browser, fixture, bank, _ in
            let (start, intent) = try await startAtHelloAsso(browser, fixture: fixture, bank: bank)
            #expect(intent.totalAmount == 2000 && intent.payerEmail == "parent@example.org")
            #expect(intent.metadataJSON.contains("\"reference\""))
            let back = try await payAtBank(start, .pay)
            // Payment then Order: two notifications, one payment.
            #expect(bank.sent.map(\.status) == [200, 200])
            #expect(back.contains("code=succeeded"))
            #expect(try await browser.get(portalPath(back)).text.contains("Paiement accepté"))
            #expect(try await fixture.reservationStates() == [1: "confirmed"])
            #expect(try await fixture.invoices() == [BilledInvoice("PET00001", 2000, [1])])
            let paymentID = try #require(bank.intent(intent.id)?.paymentID)
            #expect(try await count(fixture, "SELECT count(*)::int FROM payments WHERE amount_cents = 2000 AND provider_transaction = '\(paymentID)'") == 1)
            #expect(try await count(fixture, "SELECT count(*)::int FROM payments") == 1)
            #expect(try await count(fixture, "SELECT count(*)::int FROM payment_attempts WHERE flag IS NOT NULL") == 0)
            #expect(bank.grants == ["client_credentials"])
        }
    }

    /// HelloAsso says nothing the intent can confirm about a refusal: the attempt stays live, and its page
    /// (the same intent) can still be paid.
    @Test func refusedAtHelloAssoConfirmsNothingAndTheSameIntentCanStillBePaid() async throws {
        try await withHelloAsso { browser, fixture, bank, _ in
            let (start, intent) = try await startAtHelloAsso(browser, fixture: fixture, bank: bank)
            try await payAtBank(start, .refuse)
            #expect(bank.sent.map(\.status) == [200])
            #expect(try await fixture.reservationStates() == [1: "pending_payment"])
            #expect(try await count(fixture, "SELECT count(*)::int FROM payments") == 0)
            let again = try await pressPay(browser)
            guard case .redirect(let url) = again else { Issue.record("HelloAsso redirects"); return }
            #expect(url.hasSuffix("/checkout/\(intent.id)"))
            try await payAtBank(again, .pay)
            #expect(try await fixture.reservationStates() == [1: "confirmed"])
            #expect(try await count(fixture, "SELECT count(*)::int FROM payments") == 1)
        }
    }

    @Test func notificationsSentTwiceThenReplayedFourTimesAreOnePayment() async throws {
        try await withHelloAsso { browser, fixture, bank, _ in
            let (start, _) = try await startAtHelloAsso(browser, fixture: fixture, bank: bank)
            try await payAtBank(start, .pay, delivery: .twice)
            #expect(bank.sent.map(\.status) == [200, 200, 200, 200])
            let order = try #require(bank.sent.last)
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<4 {
                    group.addTask { try await BankHTTP.post(order.url, contentType: order.contentType, headers: order.headers, body: order.body) }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses == [200, 200, 200, 200])
            #expect(try await count(fixture, "SELECT count(*)::int FROM payments") == 1)
            #expect(try await count(fixture, "SELECT count(*)::int FROM invoices") == 1)
            #expect(try await count(fixture, "SELECT count(*)::int FROM payment_attempts WHERE flag IS NOT NULL") == 0)
        }
    }

    @Test func theOrderBeforeThePaymentIsOnePaymentToo() async throws {
        try await withHelloAsso { browser, fixture, bank, _ in
            bank.setPaymentFirst(false)
            let (start, _) = try await startAtHelloAsso(browser, fixture: fixture, bank: bank)
            try await payAtBank(start, .pay)
            #expect(bank.sent.map(\.status) == [200, 200])
            #expect(try await fixture.reservationStates() == [1: "confirmed"])
            #expect(try await count(fixture, "SELECT count(*)::int FROM payments") == 1)
        }
    }

    @Test func forgedOrAlteredNotificationsAreRefusedAndChangeNothing() async throws {
        try await withHelloAsso { browser, fixture, bank, _ in
            let (start, intent) = try await startAtHelloAsso(browser, fixture: fixture, bank: bank)
            try await payAtBank(start, .abandon)
            #expect(bank.sent.isEmpty)  // HelloAsso says nothing of an abandon
            // What a paid intent's Order notification would say, forged while it is unpaid.
            bank.settle(intent.id, state: "Authorized")
            let body = try #require(bank.orderNotification(intent.id))
            bank.settle(intent.id, state: "Pending")
            let url = notificationURL(intent)
            // Unsigned, signed with another key, altered after signing: 400.
            #expect(try await BankHTTP.post(url, contentType: "application/json", body: body) == 400)
            #expect(try await bank.post(body, signature: Digests.hmacSHA256Hex(body, key: "not-the-key")) == 400)
            let signature = Digests.hmacSHA256Hex(body, key: "sign-petit")
            #expect(try await BankHTTP.post(url, contentType: "application/json", headers: [("x-ha-signature", signature)],
                                            body: body.replacingOccurrences(of: "2000", with: "20000")) == 400)
            // Even correctly signed (a leaked key), the intent read back shows no order: HelloAsso would be asked to retry.
            #expect(try await bank.post(body) == 503)
            #expect(try await fixture.reservationStates() == [1: "pending_payment"])
            #expect(try await count(fixture, "SELECT count(*)::int FROM payments") == 0)
            #expect(try await count(fixture, "SELECT count(*)::int FROM payment_notifications") == 0)
        }
    }

    @Test func aSlowNotificationArrivesAfterTheBrowserIsBack() async throws {
        try await withHelloAsso { browser, fixture, bank, _ in
            let (start, _) = try await startAtHelloAsso(browser, fixture: fixture, bank: bank)
            let back = try await payAtBank(start, .pay, delivery: .late)
            #expect(try await browser.get(portalPath(back)).text.contains("en cours de confirmation"))
            #expect(try await eventually { try await fixture.reservationStates() == [1: "confirmed"] })
            #expect(try await browser.get(portalPath(back)).text.contains("Paiement accepté"))
        }
    }

    /// No notification ever (the back office's URL wrong, say): reconciliation reads the intent back and finds
    /// the payment; the notifications arriving afterwards are the same payment.
    @Test func withoutANotificationReconciliationFindsThePayment() async throws {
        try await withHelloAsso { browser, fixture, bank, reconciliation in
            let (start, intent) = try await startAtHelloAsso(browser, fixture: fixture, bank: bank)
            // No order yet, well within the intent's life: nothing to learn.
            #expect(try await reconciliation.reconcile(fixture.petit, quietFor: 0, since: Date().addingTimeInterval(-3600)).isEmpty)
            try await payAtBank(start, .pay, delivery: .never)
            #expect(bank.sent.isEmpty)
            #expect(try await fixture.reservationStates() == [1: "pending_payment"])
            let changes = try await reconciliation.reconcile(fixture.petit, quietFor: 0, since: Date().addingTimeInterval(-3600))
            #expect(changes.map(\.bankStatus) == ["Authorized"])
            #expect(try await fixture.reservationStates() == [1: "confirmed"])
            #expect(try await fixture.invoices() == [BilledInvoice("PET00001", 2000, [1])])
            #expect(try await bank.post(try #require(bank.paymentNotification(intent.id))) == 200)
            #expect(try await bank.post(try #require(bank.orderNotification(intent.id))) == 200)
            #expect(try await count(fixture, "SELECT count(*)::int FROM payments") == 1)
            #expect(try await count(fixture, "SELECT count(*)::int FROM payment_attempts WHERE flag IS NOT NULL") == 0)
        }
    }
}
