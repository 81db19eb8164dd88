import FakeBanks
import Foundation
import PayFiP
import PaymentKit
import PortailConfig
import PortailDomain
import PortailTestSupport
import Testing
@testable import PortailApp

/// A parent pays through the fake PayFiP, over real HTTP both ways: the portal opens the payment with the
/// SOAP call `creerPaiementSecurise` and redirects the browser to the idOp's page; the fake posts the unsigned
/// notification (only `idOp`) to `urlnotif`, and the portal believes only PayFiP's answer to
/// `recupererDetailPaiementSecurise`.
@Suite struct PayFiPFlowTests {
    static func block(_ bank: FakePayFiP) -> String {
        """
        payment:
          type: payfip
          numcli: "123456"
          saisie: T
          service_url: \(bank.serviceURL)
          payment_url: \(bank.paymentURL)
        """
    }

    static func registry() -> PaymentProviderRegistry {
        var registry = PaymentProviderRegistry()
        registry.register(PayFiPProvider.self)
        return registry
    }

    /// The portal with PayFiP pointed at a fresh fake that knows both centers' régies (123456 and 654321).
    func withPayFiP(_ body: @Sendable (Browser, PortalFixture, FakePayFiP, PaymentReconciliation) async throws -> Void) async throws {
        let bank = try await FakePayFiP.start(clients: ["123456", "654321"])
        try await withProviderPortal(payment: Self.block(bank), registry: Self.registry(), environment: [:],
                                     stop: { await bank.stop() }) { browser, fixture, reconciliation in
            try await body(browser, fixture, bank, reconciliation)
        }
    }

    /// "Accéder au paiement": the redirect to the idOp's page, and the operation PayFiP opened.
    func startAtPayFiP(_ browser: Browser, fixture: PortalFixture, bank: FakePayFiP, login: Bool = true) async throws -> (BankStart, FakePayFiP.Operation) {
        let start = login ? try await goToBank(browser, fixture: fixture) : try await pressPay(browser)
        guard case .redirect(let url) = start else { Issue.record("PayFiP redirects"); throw CancellationError() }
        let idOp = try #require(url.split(separator: "=").last.map(String.init))
        #expect(url == bank.paymentURL + "?idop=" + idOp)
        return (start, try #require(bank.operation(idOp)))
    }

    @Test func paidAtPayFiPConfirmsInvoicesAndRecordsThePaymentOnce() async throws {
        try await withPayFiP { browser, fixture, bank, _ in
            let (start, operation) = try await startAtPayFiP(browser, fixture: fixture, bank: bank)
            #expect(operation.montant == 2000 && operation.numcli == "123456" && operation.mel == "parent@example.org")
            #expect(PayFiPProvider.isValidRefdet(operation.refdet))
            #expect(operation.urlnotif.hasSuffix("/paiement/notification"))
            let back = try await payAtBank(start, .pay)
            #expect(bank.sent.map(\.status) == [200])
            #expect(bank.sent.first?.body == "idOp=" + operation.idOp)
            #expect(try await browser.get(portalPath(back)).text.contains("Paiement accepté"))
            #expect(try await fixture.reservationStates() == [1: "confirmed"])
            #expect(try await fixture.invoices() == [BilledInvoice("PET00001", 2000, [1])])
            // The payment is recorded under its idOp (PayFiP's numauto is not in every answer).
            #expect(try await count(fixture, "SELECT count(*)::int FROM payments WHERE amount_cents = 2000 AND provider_transaction = '\(operation.idOp)'") == 1)
            #expect(try await count(fixture, "SELECT count(*)::int FROM allocations WHERE amount_cents = 2000") == 1)
        }
    }

    @Test func refusedAtPayFiPConfirmsNothingAndTheCartIsPayableAgain() async throws {
        try await withPayFiP { browser, fixture, bank, _ in
            let (start, first) = try await startAtPayFiP(browser, fixture: fixture, bank: bank)
            try await payAtBank(start, .refuse)
            #expect(bank.sent.map(\.status) == [200])
            #expect(try await fixture.reservationStates() == [1: "pending_payment"])
            #expect(try await fixture.lastCartState() == "open")
            #expect(try await count(fixture, "SELECT count(*)::int FROM payments") == 0)
            // A new attempt: a new idOp and a new refdet.
            let (again, second) = try await startAtPayFiP(browser, fixture: fixture, bank: bank, login: false)
            #expect(second.idOp != first.idOp && second.refdet != first.refdet)
            try await payAtBank(again, .pay)
            #expect(try await fixture.reservationStates() == [1: "confirmed"])
            #expect(try await count(fixture, "SELECT count(*)::int FROM payments") == 1)
        }
    }

    @Test func aNotificationSentTwiceThenReplayedFourTimesIsOnePayment() async throws {
        try await withPayFiP { browser, fixture, bank, _ in
            let (start, _) = try await startAtPayFiP(browser, fixture: fixture, bank: bank)
            try await payAtBank(start, .pay, delivery: .twice)
            let notification = try #require(bank.sent.last)
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<4 {
                    group.addTask { try await BankHTTP.post(notification.url, contentType: notification.contentType, body: notification.body) }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses == [200, 200, 200, 200])
            #expect(try await count(fixture, "SELECT count(*)::int FROM payments") == 1)
            #expect(try await count(fixture, "SELECT count(*)::int FROM invoices") == 1)
            #expect(try await count(fixture, "SELECT count(*)::int FROM payment_notifications WHERE outcome = 'duplicate'") == 5)
        }
    }

    /// The notification is unsigned: whatever it says, only PayFiP's answer counts.
    @Test func forgedNotificationsChangeNothing() async throws {
        try await withPayFiP { browser, fixture, bank, _ in
            let (start, operation) = try await startAtPayFiP(browser, fixture: fixture, bank: bank)
            let url = operation.urlnotif
            let form = "application/x-www-form-urlencoded"
            // The payer is still on the page: PayFiP answers P5, the portal asks for a retry and records nothing.
            #expect(try await BankHTTP.post(url, contentType: form, body: "idOp=" + operation.idOp) == 503)
            // An idOp this center never opened, and none at all.
            #expect(try await BankHTTP.post(url, contentType: form, body: "idOp=cc0cb210-1cd4-11ea-8cca-0213ad91a103") == 400)
            #expect(try await BankHTTP.post(url, contentType: form, body: "resultrans=P&montant=2000") == 400)
            // The payer abandons; the attacker posts the idOp again, claiming a payment: PayFiP still says A.
            try await payAtBank(start, .abandon)
            #expect(try await BankHTTP.post(url, contentType: form, body: "idOp=\(operation.idOp)&resultrans=P") == 200)
            // This center's idOp posted to the other center's address: not one it opened.
            let other = url.replacingOccurrences(of: "/petit/", with: "/autre/")
            #expect(other != url)
            #expect(try await BankHTTP.post(other, contentType: form, body: "idOp=" + operation.idOp) == 400)
            #expect(try await fixture.reservationStates() == [1: "pending_payment"])
            #expect(try await count(fixture, "SELECT count(*)::int FROM payments") == 0)
            #expect(try await count(fixture, "SELECT count(*)::int FROM payment_notifications WHERE outcome = 'applied'") == 1)
        }
    }

    @Test func aSlowNotificationArrivesAfterTheBrowserIsBack() async throws {
        try await withPayFiP { browser, fixture, bank, _ in
            let (start, _) = try await startAtPayFiP(browser, fixture: fixture, bank: bank)
            let back = try await payAtBank(start, .pay, delivery: .late)
            #expect(try await browser.get(portalPath(back)).text.contains("en cours de confirmation"))
            #expect(try await eventually { try await fixture.reservationStates() == [1: "confirmed"] })
            #expect(try await browser.get(portalPath(back)).text.contains("Paiement accepté"))
        }
    }

    /// PayFiP took another amount than asked: recorded as the family's credit and flagged, nothing confirmed.
    @Test func anotherAmountIsFlaggedNeverConfirmed() async throws {
        try await withPayFiP { browser, fixture, bank, _ in
            let (start, operation) = try await startAtPayFiP(browser, fixture: fixture, bank: bank)
            try await payAtBank(start, .pay, delivery: .never)
            bank.settle(operation.idOp, resultrans: "P", montant: 1000)
            #expect(try await bank.notify(idOp: operation.idOp, to: operation.urlnotif) == 200)
            #expect(try await fixture.reservationStates() == [1: "pending_payment"])
            #expect(try await count(fixture, "SELECT count(*)::int FROM payment_attempts WHERE flag = 'amount_mismatch'") == 1)
            #expect(try await fixture.credit() == 1000)
        }
    }

    /// No notification ever: reconciliation asks PayFiP and finds the payment; a notification arriving
    /// afterwards is the same payment.
    @Test func withoutANotificationReconciliationFindsThePayment() async throws {
        try await withPayFiP { browser, fixture, bank, reconciliation in
            let (start, operation) = try await startAtPayFiP(browser, fixture: fixture, bank: bank)
            // The payer is on the page (P5, under 20 minutes): nothing to learn yet.
            #expect(try await reconciliation.reconcile(fixture.petit, quietFor: 0, since: Date().addingTimeInterval(-3600)).isEmpty)
            try await payAtBank(start, .pay, delivery: .never)
            #expect(bank.sent.isEmpty)
            #expect(try await fixture.reservationStates() == [1: "pending_payment"])
            let changes = try await reconciliation.reconcile(fixture.petit, quietFor: 0, since: Date().addingTimeInterval(-3600))
            #expect(changes.map(\.bankStatus) == ["P"])
            #expect(try await fixture.reservationStates() == [1: "confirmed"])
            #expect(try await fixture.invoices() == [BilledInvoice("PET00001", 2000, [1])])
            #expect(try await bank.notify(idOp: operation.idOp, to: operation.urlnotif) == 200)
            #expect(try await count(fixture, "SELECT count(*)::int FROM payments") == 1)
            #expect(try await count(fixture, "SELECT count(*)::int FROM payment_attempts WHERE flag IS NOT NULL") == 0)
        }
    }
}
