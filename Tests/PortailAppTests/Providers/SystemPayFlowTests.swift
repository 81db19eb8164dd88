import FakeBanks
import Foundation
import PaymentKit
import PortailDomain
import SystemPay
import Testing
@testable import PortailApp

/// A parent pays through SystemPay's fake payment page, over real HTTP both ways: the browser posts the
/// signed form to the fake, the fake posts its signed IPN to the portal's notification address.
@Suite struct SystemPayFlowTests {
    static let key = "7766554433221100"

    static let restPassword = "testpassword_fake"
    static let environment = ["FAKE_SHOP_KEY": key, "FAKE_SHOP_REST": restPassword]

    static func block(_ bank: FakeSystemPay) -> String {
        """
        payment:
          type: systempay
          mode: TEST
          site_id: "12345678"
          test_key_env: FAKE_SHOP_KEY
          rest_password_env: FAKE_SHOP_REST
          url: \(bank.paymentURL)
          api_url: \(bank.apiURL)
        """
    }

    static func registry() -> PaymentProviderRegistry {
        var registry = PaymentProviderRegistry()
        registry.register(SystemPayProvider.self)
        return registry
    }

    /// The portal with SystemPay pointed at a fresh fake bank that knows both centers' shops.
    func withSystemPay(_ body: @Sendable (Browser, PortalFixture, FakeSystemPay) async throws -> Void) async throws {
        try await withReconciliation { browser, fixture, bank, _ in try await body(browser, fixture, bank) }
    }

    func withReconciliation(_ body: @Sendable (Browser, PortalFixture, FakeSystemPay, PaymentReconciliation) async throws -> Void) async throws {
        let bank = try await FakeSystemPay.start(shops: ["12345678": Self.key, "87654321": Self.key],
                                                 restPasswords: ["12345678": Self.restPassword, "87654321": Self.restPassword])
        try await withProviderPortal(payment: Self.block(bank), registry: Self.registry(), environment: Self.environment,
                                     stop: { await bank.stop() }) { browser, fixture, reconciliation in
            try await body(browser, fixture, bank, reconciliation)
        }
    }

    @Test func paidAtTheBankConfirmsInvoicesAndRecordsThePaymentOnce() async throws {
        try await withSystemPay { browser, fixture, bank in
            let start = try await goToBank(browser, fixture: fixture)
            guard case .form(let action, _) = start else { Issue.record("SystemPay starts with a form"); return }
            #expect(action == bank.paymentURL)
            let back = try await payAtBank(start, .pay)
            #expect(bank.sent.map(\.status) == [200])
            let accepted = try await browser.get(portalPath(back))
            #expect(accepted.text.contains("Paiement accepté"))
            // The accepted page links to the invoice the payment settled.
            #expect(accepted.body.contains("href=\"/petit/factures/PET00001\""))
            #expect(try await fixture.reservationStates() == [1: "confirmed"])
            #expect(try await fixture.invoices() == [BilledInvoice("PET00001", 2000, [1])])
            #expect(try await count(fixture, "SELECT count(*)::int FROM payments WHERE amount_cents = 2000 AND provider_transaction IS NOT NULL") == 1)
            #expect(try await count(fixture, "SELECT count(*)::int FROM allocations WHERE amount_cents = 2000") == 1)
        }
    }

    @Test func refusedAtTheBankConfirmsNothingAndTheCartIsPayableAgain() async throws {
        try await withSystemPay { browser, fixture, bank in
            let start = try await goToBank(browser, fixture: fixture)
            let refused = try await browser.get(portalPath(try await payAtBank(start, .refuse)))
            // The refused page says until when the places wait for another try.
            #expect(refused.text.contains("Paiement refusé"))
            #expect(refused.text.contains("Vos places restent réservées jusqu'au"))
            #expect(refused.text.contains("Retour au panier"))
            #expect(try await fixture.reservationStates() == [1: "pending_payment"])
            #expect(try await fixture.lastCartState() == "open")
            #expect(try await count(fixture, "SELECT count(*)::int FROM payments") == 0)
            // A new attempt, with a new transaction number, pays.
            let again = try await pressPay(browser)
            guard case .form(_, let first) = start, case .form(_, let second) = again else { Issue.record("forms"); return }
            #expect(first.first { $0.0 == "vads_trans_id" }?.1 != second.first { $0.0 == "vads_trans_id" }?.1)
            try await payAtBank(again, .pay)
            #expect(try await fixture.reservationStates() == [1: "confirmed"])
            #expect(try await count(fixture, "SELECT count(*)::int FROM payments") == 1)
        }
    }

    @Test func aNotificationSentTwiceThenReplayedFourTimesIsOnePayment() async throws {
        try await withSystemPay { browser, fixture, bank in
            try await payAtBank(try await goToBank(browser, fixture: fixture), .pay, delivery: .twice)
            let ipn = try #require(bank.sent.last)
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<4 { group.addTask { try await BankHTTP.post(ipn.url, contentType: ipn.contentType, body: ipn.body) } }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses == [200, 200, 200, 200])
            #expect(try await count(fixture, "SELECT count(*)::int FROM payments") == 1)
            #expect(try await count(fixture, "SELECT count(*)::int FROM invoices") == 1)
            #expect(try await count(fixture, "SELECT count(*)::int FROM payment_notifications WHERE outcome = 'duplicate'") == 5)
        }
    }

    @Test func aForgedOrAlteredNotificationIsRefusedAndChangesNothing() async throws {
        try await withSystemPay { browser, fixture, bank in
            // The payer abandons; the attacker then forges a payment of the same order.
            try await payAtBank(try await goToBank(browser, fixture: fixture), .abandon)
            let ipn = try #require(bank.sent.last)
            let forged = ipn.body.replacingOccurrences(of: "vads_trans_status=ABANDONED", with: "vads_trans_status=AUTHORISED")
            #expect(forged != ipn.body)
            #expect(try await BankHTTP.post(ipn.url, contentType: ipn.contentType, body: forged) == 400)
            // Signed with another key.
            var form: [String: String] = [:]
            for field in FormURLEncoding.decode(ipn.body) ?? [] { form[field.name] = field.value }
            let otherKey = FakeSystemPay.notification(form, status: "AUTHORISED", uuid: "forged", key: "0000000000000000")
            #expect(try await BankHTTP.post(ipn.url, contentType: ipn.contentType, body: otherKey) == 400)
            #expect(try await fixture.reservationStates() == [1: "pending_payment"])
            #expect(try await count(fixture, "SELECT count(*)::int FROM payments") == 0)
            #expect(try await count(fixture, "SELECT count(*)::int FROM payment_notifications WHERE outcome = 'applied'") == 1)
        }
    }

    @Test func aSlowBankNotifiesAfterTheBrowserIsBack() async throws {
        try await withSystemPay { browser, fixture, bank in
            let back = try await payAtBank(try await goToBank(browser, fixture: fixture), .pay, delivery: .late)
            #expect(try await browser.get(portalPath(back)).text.contains("en cours de confirmation"))
            #expect(try await eventually { try await fixture.reservationStates() == [1: "confirmed"] })
            #expect(try await browser.get(portalPath(back)).text.contains("Paiement accepté"))
        }
    }

    /// AUTHORISED then CAPTURED for the same transaction: one payment, no double-payment flag.
    @Test func aLaterStatusOfTheSameTransactionIsTheSamePayment() async throws {
        try await withSystemPay { browser, fixture, bank in
            try await payAtBank(try await goToBank(browser, fixture: fixture), .pay)
            let ipn = try #require(bank.sent.last)
            var form: [String: String] = [:]
            for field in FormURLEncoding.decode(ipn.body) ?? [] { form[field.name] = field.value }
            let captured = FakeSystemPay.notification(form, status: "CAPTURED", uuid: form["vads_trans_uuid"]!, key: Self.key)
            #expect(try await BankHTTP.post(ipn.url, contentType: ipn.contentType, body: captured) == 200)
            #expect(try await count(fixture, "SELECT count(*)::int FROM payments") == 1)
            #expect(try await count(fixture, "SELECT count(*)::int FROM payment_attempts WHERE flag IS NOT NULL") == 0)
            // Another transaction paying the same order again is money received twice: recorded, kept as
            // the family's credit and flagged.
            form["vads_trans_id"] = "000777"
            let second = FakeSystemPay.notification(form, status: "AUTHORISED", uuid: "another-uuid", key: Self.key)
            #expect(try await BankHTTP.post(ipn.url, contentType: ipn.contentType, body: second) == 200)
            #expect(try await count(fixture, "SELECT count(*)::int FROM payments") == 2)
            #expect(try await count(fixture, "SELECT count(*)::int FROM payment_attempts WHERE flag = 'double_payment'") == 1)
            #expect(try await fixture.credit() == 2000)
        }
    }

    /// The IPN never comes: reconciliation asks the REST API about the order and finds the payment; the IPN
    /// arriving afterwards is the same transaction, no second payment.
    @Test func withoutAnIPNReconciliationFindsThePayment() async throws {
        try await withReconciliation { browser, fixture, bank, reconciliation in
            let start = try await goToBank(browser, fixture: fixture)
            guard case .form(_, let fields) = start else { Issue.record("SystemPay starts with a form"); return }
            // Nothing at the platform yet: no news, nothing changed.
            #expect(try await reconciliation.reconcile(fixture.petit, quietFor: 0, since: Date().addingTimeInterval(-3600)).isEmpty)
            try await payAtBank(start, .pay, delivery: .never)
            #expect(bank.sent.isEmpty)
            #expect(try await fixture.reservationStates() == [1: "pending_payment"])
            let changes = try await reconciliation.reconcile(fixture.petit, quietFor: 0, since: Date().addingTimeInterval(-3600))
            #expect(changes.map(\.bankStatus) == ["AUTHORISED"])
            #expect(try await fixture.reservationStates() == [1: "confirmed"])
            #expect(try await fixture.invoices() == [BilledInvoice("PET00001", 2000, [1])])
            // The late IPN of the same transaction.
            var form: [String: String] = [:]
            for (name, value) in fields { form[name] = value }
            let transaction = try #require(bank.transactions(site: "12345678", order: form["vads_order_id"]!).first)
            let ipn = FakeSystemPay.notification(form, status: "AUTHORISED", uuid: transaction.uuid, key: Self.key)
            let url = try #require(form["vads_url_check"])
            #expect(try await BankHTTP.post(url, contentType: "application/x-www-form-urlencoded", body: ipn) == 200)
            #expect(try await count(fixture, "SELECT count(*)::int FROM payments") == 1)
            #expect(try await count(fixture, "SELECT count(*)::int FROM payment_attempts WHERE flag IS NOT NULL") == 0)
        }
    }

    /// A refusal the IPN never told: reconciliation learns it, nothing is confirmed, the cart is payable again.
    @Test func reconciliationLearnsARefusal() async throws {
        try await withReconciliation { browser, fixture, bank, reconciliation in
            try await payAtBank(try await goToBank(browser, fixture: fixture), .refuse, delivery: .never)
            let changes = try await reconciliation.reconcile(fixture.petit, quietFor: 0, since: Date().addingTimeInterval(-3600))
            #expect(changes.map(\.bankStatus) == ["REFUSED"])
            #expect(try await fixture.reservationStates() == [1: "pending_payment"])
            #expect(try await fixture.lastCartState() == "open")
            #expect(try await count(fixture, "SELECT count(*)::int FROM payments") == 0)
        }
    }
}
