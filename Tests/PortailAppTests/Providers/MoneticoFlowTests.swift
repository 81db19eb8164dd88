import FakeBanks
import Foundation
import Monetico
import PaymentKit
import PortailConfig
import PortailDomain
import PortailTestSupport
import Testing
@testable import PortailApp

/// A parent pays through Monetico's fake payment page, over real HTTP both ways: the browser posts the
/// sealed form to the fake, the fake posts its sealed result to the TPE's CGI2 address (the portal's
/// notification address) and checks the receipt.
@Suite struct MoneticoFlowTests {
    static let key = "1036DEFD9175F29EE9337A1F284BDF781D5A4048"
    /// The other center's key (its block names MONETICO_KEY_87654321): same TPE number, another key.
    static let otherKey = "00112233445566778899AABBCCDDEEFF00112233"
    static let environment = ["MONETICO_KEY_12345678": key, "MONETICO_KEY_87654321": otherKey]

    static func block(_ bank: FakeMonetico) -> String {
        """
        payment:
          type: monetico
          mode: TEST
          tpe: "9344512"
          societe: petitsloups
          key_env: MONETICO_KEY_12345678
          url: \(bank.paymentURL)
        """
    }

    static func registry() -> PaymentProviderRegistry {
        var registry = PaymentProviderRegistry()
        registry.register(MoneticoProvider.self)
        return registry
    }

    func withMonetico(_ body: @Sendable (Browser, PortalFixture, FakeMonetico) async throws -> Void) async throws {
        let bank = try await FakeMonetico.start(terminals: ["9344512": Self.key])
        // The fake knows one terminal, which both test centers name.
        try await withProviderPortal(payment: Self.block(bank), registry: Self.registry(), environment: Self.environment,
                                     checkingAccounts: false, stop: { await bank.stop() }) { browser, fixture, _ in
            try await body(browser, fixture, bank)
        }
    }

    /// "Accéder au paiement", then the TPE's CGI2 address set at the fake (the portal's notification
    /// address, found from the form's return URL). Returns the start and the form's fields.
    func startAtMonetico(_ browser: Browser, fixture: PortalFixture, bank: FakeMonetico, login: Bool = true) async throws -> (BankStart, [String: String]) {
        let page = login ? try await goToBank(browser, fixture: fixture) : try await pressPay(browser)
        guard case .form(let action, let fields) = page else { Issue.record("Monetico starts with a form"); throw CancellationError() }
        #expect(action == bank.paymentURL)
        // Monetico's MAC covers every field it receives: the bank form carries nothing but its own.
        #expect(!fields.contains { $0.0 == "csrf" })
        let start = page
        let form = Dictionary(fields, uniquingKeysWith: { a, _ in a })
        bank.setCGI2URL(try notificationURL(form), for: "9344512")
        return (start, form)
    }

    /// The portal's notification address, from the form's return URL.
    func notificationURL(_ form: [String: String]) throws -> String {
        let back = try #require(form["url_retour_ok"])
        let path = try #require(back.range(of: "/paiement/retour"))
        return String(back[..<path.lowerBound]) + "/paiement/notification"
    }

    @Test func paidAtTheBankConfirmsInvoicesAndRecordsThePaymentOnce() async throws {
        try await withMonetico { browser, fixture, bank in
            let (start, form) = try await startAtMonetico(browser, fixture: fixture, bank: bank)
            #expect(form["montant"] == "20.00EUR" && form["version"] == "3.0")
            let reference = try #require(form["reference"])
            #expect(reference.count <= 12)
            let back = try await payAtBank(start, .pay)
            #expect(bank.sent.map(\.status) == [200])
            #expect(bank.answers == ["version=2\ncdr=0"])
            #expect(try await browser.get(portalPath(back)).text.contains("Paiement accepté"))
            #expect(try await fixture.reservationStates() == [1: "confirmed"])
            #expect(try await fixture.invoices() == [BilledInvoice("PET00001", 2000, [1])])
            #expect(try await count(fixture, "SELECT count(*)::int FROM payments WHERE amount_cents = 2000 AND provider_transaction = '\(reference)'") == 1)
        }
    }

    @Test func refusedAtTheBankConfirmsNothingAndTheCartIsPayableAgain() async throws {
        try await withMonetico { browser, fixture, bank in
            let (start, first) = try await startAtMonetico(browser, fixture: fixture, bank: bank)
            try await payAtBank(start, .refuse)
            #expect(bank.allAcknowledged)
            #expect(try await fixture.reservationStates() == [1: "pending_payment"])
            #expect(try await fixture.lastCartState() == "open")
            #expect(try await count(fixture, "SELECT count(*)::int FROM payments") == 0)
            // A new attempt, with a new bank reference, pays.
            let (again, second) = try await startAtMonetico(browser, fixture: fixture, bank: bank, login: false)
            #expect(first["reference"] != second["reference"])
            try await payAtBank(again, .pay)
            #expect(try await fixture.reservationStates() == [1: "confirmed"])
            #expect(try await count(fixture, "SELECT count(*)::int FROM payments") == 1)
        }
    }

    @Test func aResultSentTwiceThenReplayedFourTimesIsOnePayment() async throws {
        try await withMonetico { browser, fixture, bank in
            let (start, _) = try await startAtMonetico(browser, fixture: fixture, bank: bank)
            try await payAtBank(start, .pay, delivery: .twice)
            let result = try #require(bank.sent.last)
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<4 { group.addTask { try await bank.post(result.body, to: result.url) } }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses == [200, 200, 200, 200])
            #expect(bank.answers.count == 6 && bank.allAcknowledged)
            #expect(try await count(fixture, "SELECT count(*)::int FROM payments") == 1)
            #expect(try await count(fixture, "SELECT count(*)::int FROM invoices") == 1)
            #expect(try await count(fixture, "SELECT count(*)::int FROM payment_notifications WHERE outcome = 'duplicate'") == 5)
        }
    }

    @Test func aForgedOrAlteredResultIsRefusedWithCdr1AndChangesNothing() async throws {
        try await withMonetico { browser, fixture, bank in
            // The payer leaves the page: the bank sends nothing; the attacker forges a payment of the reference.
            let (start, form) = try await startAtMonetico(browser, fixture: fixture, bank: bank)
            try await payAtBank(start, .abandon)
            #expect(bank.sent.isEmpty)
            let url = try notificationURL(form)
            // Sealed with another center's key.
            #expect(try await bank.post(FakeMonetico.notification(form, code: "payetest", key: Self.otherKey), to: url) == 400)
            #expect(bank.answers.last == "version=2\ncdr=1\n")
            // Sealed right (a refusal), then its code-retour changed to a payment.
            let genuine = FakeMonetico.notification(form, code: "Annulation", key: Self.key)
            let altered = genuine.replacingOccurrences(of: "code-retour=Annulation", with: "code-retour=payetest")
            #expect(altered != genuine)
            #expect(try await bank.post(altered, to: url) == 400)
            #expect(try await fixture.reservationStates() == [1: "pending_payment"])
            #expect(try await count(fixture, "SELECT count(*)::int FROM payments") == 0)
            #expect(try await count(fixture, "SELECT count(*)::int FROM payment_notifications") == 0)
        }
    }

    @Test func aSlowBankNotifiesAfterTheBrowserIsBack() async throws {
        try await withMonetico { browser, fixture, bank in
            let (start, _) = try await startAtMonetico(browser, fixture: fixture, bank: bank)
            let back = try await payAtBank(start, .pay, delivery: .late)
            #expect(try await browser.get(portalPath(back)).text.contains("en cours de confirmation"))
            #expect(try await eventually { try await fixture.reservationStates() == [1: "confirmed"] })
            #expect(try await browser.get(portalPath(back)).text.contains("Paiement accepté"))
        }
    }

    /// A sealed result for less than the attempt: recorded as the family's credit, flagged, nothing confirmed.
    @Test func aWrongAmountIsFlaggedAndConfirmsNothing() async throws {
        try await withMonetico { browser, fixture, bank in
            let (_, form) = try await startAtMonetico(browser, fixture: fixture, bank: bank)
            let url = try notificationURL(form)
            #expect(try await bank.post(FakeMonetico.notification(form, code: "payetest", key: Self.key, montant: "0.01EUR"), to: url) == 200)
            #expect(bank.allAcknowledged)
            #expect(try await fixture.reservationStates() == [1: "pending_payment"])
            #expect(try await count(fixture, "SELECT count(*)::int FROM payment_attempts WHERE flag = 'amount_mismatch'") == 1)
            #expect(try await fixture.credit() == 1)
        }
    }
}
