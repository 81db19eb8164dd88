import Foundation
import HummingbirdTesting
import PaymentKit
import PortailTestSupport
import Testing
@testable import PortailApp
@testable import PortailStore

/// Kept rows of the ledger (open_invoices, family_totals) that disagree with its documents added up again
/// (`ledger_drift`, migration 0046): 0 when they all agree.
func keptLedgerDrift(_ fixture: PortalFixture) async throws -> Int {
    try await count(fixture, "SELECT count(*)::int FROM ledger_drift")
}

/// Paying online what is due on an invoice (booked at the office, paid in part at the office), from
/// "Mes factures": through the real SystemPay adapter and its signed notifications.
@Suite struct InvoicePaymentTests {
    /// The parent's family and child at petit, as the admin API lists them.
    func parentFamily(_ client: any TestClientProtocol, _ token: String) async throws -> (id: Int, child: Int) {
        let list = try await apiJSON(client, .get, "/api/centers/petit/families", token: token)
        let id = try #require((list.json["families"] as? [[String: Any]])?.first { $0["email"] as? String == "parent@example.org" }?["id"] as? Int)
        let detail = try await apiJSON(client, .get, "/api/centers/petit/families/\(id)", token: token)
        let child = try #require((detail.json["children"] as? [[String: Any]])?.first?["id"] as? Int)
        return (id, child)
    }

    /// Books `days` journées (offsets in petit's period) at the office: confirmed and invoiced at once.
    func bookAtOffice(_ client: any TestClientProtocol, _ fixture: PortalFixture, _ token: String, days: [Int]) async throws -> String {
        let family = try await parentFamily(client, token)
        let start = fixture.petit.center.periods[0].startsOn
        let list = days.map { #"{"day": "\#(start.adding(days: $0).iso)", "units": ["journee"]}"# }.joined(separator: ", ")
        let booked = try await apiJSON(client, .post, "/api/centers/petit/reservations", token: token, json: """
            {"family_id": \(family.id), "child_id": \(family.child), "period": "vacances", "days": [\(list)]}
            """)
        #expect(booked.status == .created, "\(booked.json)")
        return try #require(booked.json["invoice"] as? String)
    }

    /// A cheque recorded at the office: to `invoice`, or to nothing (the family's credit) when nil.
    func cheque(_ client: any TestClientProtocol, _ token: String, cents: Int, to invoice: String?, key: String) async throws {
        let family = try await parentFamily(client, token)
        let allocations = invoice.map { #"[{"invoice": "\#($0)", "amount_cents": \#(cents)}]"# } ?? "[]"
        let recorded = try await apiJSON(client, .post, "/api/centers/petit/payments", token: token, json: """
            {"family_id": \(family.id), "method": "cheque", "amount_cents": \(cents), "reference": "1234567", "bank": "CIC", "allocations": \(allocations)}
            """, headers: [.init("Idempotency-Key")!: key])
        #expect(recorded.status == .created, "\(recorded.json)")
    }

    /// The hidden fields of the bank form a page carries.
    func bankForm(_ page: Browser.Page) -> [String: String] {
        var fields: [String: String] = [:]
        for match in page.body.matches(of: /<input type="hidden" name="(vads_[^"]+|signature)" value="([^"]*)">/) {
            fields[String(match.1)] = String(match.2).replacingOccurrences(of: "&amp;", with: "&").replacingOccurrences(of: "&#39;", with: "'")
                .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&#x3D;", with: "=").replacingOccurrences(of: "&#x2F;", with: "/")
        }
        return fields
    }

    @Test func whatAnOfficeInvoiceStillLacksIsPaidOnlineFromMesFactures() async throws {
        try await withPortal(payment: systemPayBlock, provider: systemPayProviders) { client, fixture in
            let admin = try await staffToken(fixture, email: "admin@federation.example.org", federationAdmin: true)
            let number = try await bookAtOffice(client, fixture, admin, days: [0, 1])
            #expect(number == "PET00001")
            try await cheque(client, admin, cents: 500, to: number, key: "cheque-1")

            let parent = Browser(client)
            _ = try await parent.login("/petit", email: "parent@example.org", password: PortalFixture.password)
            let ledger = try await parent.get("/petit/factures")
            #expect(ledger.body.contains(#"action="/petit/factures/PET00001/paiement""#))
            #expect(ledger.body.contains(/aria-label="Payer 15,00\s€ pour la facture PET00001"/))
            let invoice = try await parent.get("/petit/factures/PET00001")
            #expect(invoice.text.contains("partiellement soldée") && invoice.text.contains("Payer 15,00 € en ligne"))

            // Another family of the center: the same 404 as an unknown invoice, nothing started.
            let neighbour = Browser(client)
            _ = try await neighbour.login("/petit", email: "voisin@example.org", password: PortalFixture.password)
            _ = try await neighbour.get("/petit/factures")
            #expect(try await neighbour.post("/petit/factures/PET00001/paiement", []).status == .notFound)
            #expect(try await neighbour.post("/petit/factures/PET99999/paiement", []).status == .notFound)
            #expect(try await count(fixture, "SELECT count(*)::int FROM payment_attempts") == 0)

            let pay = try await parent.post("/petit/factures/PET00001/paiement", [])
            #expect(pay.status == .ok)
            let form = bankForm(pay)
            let invoiceID = try await count(fixture, "SELECT id::int FROM invoices WHERE number = 'PET00001'")
            #expect(form["vads_amount"] == "1500" && form["vads_order_id"] == "PET-F\(invoiceID)-1")
            // A second click resumes the same order at the bank.
            #expect(bankForm(try await parent.post("/petit/factures/PET00001/paiement", []))["vads_trans_id"] == form["vads_trans_id"])
            #expect(try await count(fixture, "SELECT count(*)::int FROM payment_attempts") == 1)

            #expect(try await notify(client, bankNotification(form)) == .ok)
            #expect(try await notify(client, bankNotification(form)) == .ok)  // replayed: once
            let settled = try await parent.get("/petit/factures/PET00001")
            #expect(settled.text.contains("État : soldée") && !settled.text.contains("en ligne"))
            #expect(try await count(fixture, "SELECT count(*)::int FROM payments WHERE method = 'online' AND amount_cents = 1500") == 1)
            #expect(try await count(fixture, "SELECT sum(amount_cents)::int FROM allocations WHERE invoice_id = \(invoiceID)") == 2000)
            #expect(try await count(fixture, "SELECT count(*)::int FROM invoices") == 1)  // no new invoice
            let back = try await parent.get("/petit/paiement/retour?ref=\(form["vads_order_id"]!)")
            #expect(back.text.contains("Paiement accepté") && back.text.contains("la facture n° PET00001 est réglée"))
            #expect(back.body.contains(#"href="/petit/factures/PET00001""#))
            #expect(try await count(fixture, "SELECT count(*)::int FROM mail_outbox WHERE body_text LIKE '%La facture n° PET00001 est réglée%'") == 1)
            #expect(try await parent.get("/petit/compte").text.contains("Total restant dû 0,00 €"))
            // Nothing more to pay.
            let again = try await parent.post("/petit/factures/PET00001/paiement", [])
            #expect(again.status == .ok && again.text.contains("déjà réglée"))
            #expect(try await count(fixture, "SELECT count(*)::int FROM payment_attempts") == 1)
        }
    }

    @Test func aRefusalLeavesTheInvoiceToPayAndMoneyForASettledInvoiceIsCredit() async throws {
        try await withPortal(payment: systemPayBlock, provider: systemPayProviders) { client, fixture in
            let admin = try await staffToken(fixture, email: "admin@federation.example.org", federationAdmin: true)
            let number = try await bookAtOffice(client, fixture, admin, days: [2])
            let parent = Browser(client)
            _ = try await parent.login("/petit", email: "parent@example.org", password: PortalFixture.password)
            _ = try await parent.get("/petit/factures")
            let first = bankForm(try await parent.post("/petit/factures/\(number)/paiement", []))
            #expect(first["vads_amount"] == "1000")
            #expect(try await notify(client, bankNotification(first, status: "REFUSED")) == .ok)
            let refused = try await parent.get("/petit/paiement/retour?ref=\(first["vads_order_id"]!)")
            #expect(refused.text.contains("Paiement refusé") && refused.text.contains("La facture n° \(number) reste à régler"))
            #expect(refused.body.contains(#"href="/petit/factures/\#(number)#payer""#) && refused.text.contains("Retour à la facture"))

            // Tried again: a new order; meanwhile the family pays by cheque at the office.
            _ = try await parent.get("/petit/factures/\(number)")
            let second = bankForm(try await parent.post("/petit/factures/\(number)/paiement", []))
            #expect(second["vads_order_id"]?.hasSuffix("-2") == true)
            try await cheque(client, admin, cents: 1000, to: number, key: "cheque-2")
            // The bank pays the second order after all: the money is the family's credit, flagged for a refund.
            #expect(try await notify(client, bankNotification(second, uuid: "uuid-2")) == .ok)
            #expect(try await count(fixture, "SELECT count(*)::int FROM payment_attempts WHERE state = 'paid' AND flag = 'refund_due'") == 1)
            let invoiceID = try await count(fixture, "SELECT id::int FROM invoices WHERE number = '\(number)'")
            #expect(try await count(fixture, "SELECT sum(amount_cents)::int FROM allocations WHERE invoice_id = \(invoiceID)") == 1000)
            let back = try await parent.get("/petit/paiement/retour?ref=\(second["vads_order_id"]!)")
            #expect(back.text.contains("une partie n'était plus due"))
            let ledger = try await parent.get("/petit/factures")
            #expect(ledger.text.contains("Avoir disponible : 10,00 €") || ledger.text.contains("10,00 € d'avoir disponible"))
        }
    }

    @Test func theFamilysCreditGoesFirstAndAloneCanSettleTheInvoice() async throws {
        try await withPortal(payment: systemPayBlock, provider: systemPayProviders) { client, fixture in
            let admin = try await staffToken(fixture, email: "admin@federation.example.org", federationAdmin: true)
            let number = try await bookAtOffice(client, fixture, admin, days: [0, 1])
            try await cheque(client, admin, cents: 500, to: nil, key: "credit-1")  // 5,00 € of credit
            let parent = Browser(client)
            _ = try await parent.login("/petit", email: "parent@example.org", password: PortalFixture.password)
            let invoice = try await parent.get("/petit/factures/\(number)")
            #expect(invoice.text.contains("Payer 15,00 € en ligne") && invoice.text.contains("Votre avoir disponible (5,00 €) est déduit en premier"))
            let form = bankForm(try await parent.post("/petit/factures/\(number)/paiement", []))
            #expect(form["vads_amount"] == "1500")
            #expect(try await notify(client, bankNotification(form)) == .ok)
            let invoiceID = try await count(fixture, "SELECT id::int FROM invoices WHERE number = '\(number)'")
            #expect(try await count(fixture, "SELECT sum(amount_cents)::int FROM allocations WHERE invoice_id = \(invoiceID)") == 2000)
            #expect(try await count(fixture, "SELECT count(*)::int FROM payment_attempts WHERE flag IS NOT NULL") == 0)

            // Enough credit: no bank at all.
            let second = try await bookAtOffice(client, fixture, admin, days: [3])
            try await cheque(client, admin, cents: 1000, to: nil, key: "credit-2")
            #expect(try await parent.get("/petit/factures/\(second)").text.contains("Régler 10,00 € avec mon avoir"))
            let byCredit = try await parent.post("/petit/factures/\(second)/paiement", [])
            #expect(byCredit.status == .seeOther && byCredit.location == "/petit/factures/\(second)?reglee=avoir")
            let shown = try await parent.get(byCredit.location!)
            #expect(shown.text.contains("Votre avoir a réglé cette facture") && shown.text.contains("État : soldée"))
            #expect(try await count(fixture, "SELECT count(*)::int FROM payment_attempts") == 1)
            #expect(try await keptLedgerDrift(fixture) == 0)
        }
    }

    @Test func aCenterWithoutOnlinePaymentOffersNone() async throws {
        try await withPortal(payment: "", provider: { _ in nil }) { client, fixture in
            let admin = try await staffToken(fixture, email: "admin@federation.example.org", federationAdmin: true)
            let number = try await bookAtOffice(client, fixture, admin, days: [0])
            let parent = Browser(client)
            _ = try await parent.login("/petit", email: "parent@example.org", password: PortalFixture.password)
            let ledger = try await parent.get("/petit/factures")
            #expect(ledger.text.contains(number) && !ledger.body.contains("/paiement\""))
            #expect(!(try await parent.get("/petit/factures/\(number)")).body.contains("/paiement\""))
            let refused = try await parent.post("/petit/factures/\(number)/paiement", [])
            #expect(refused.status == .ok && refused.text.contains("ne propose pas le paiement en ligne"))
            #expect(try await count(fixture, "SELECT count(*)::int FROM payment_attempts") == 0)
        }
    }

    /// A bank that can be switched off: SystemPay's form, or a failure to start as when its server is down.
    final class BankSwitch: @unchecked Sendable {
        private let lock = NSLock()
        private var isDown = false
        var down: Bool {
            get { lock.withLock { isDown } }
            set { lock.withLock { isDown = newValue } }
        }
    }

    struct SwitchedBank: PaymentProvider {
        let inner: any PaymentProvider
        let bank: BankSwitch
        var displayName: String { inner.displayName }
        var sessionLimit: TimeInterval { inner.sessionLimit }
        func start(_ attempt: PaymentAttempt, services: ProviderServices) async throws -> PaymentStart {
            if bank.down { throw ProviderCallFailed("the bank does not answer") }
            return try await inner.start(attempt, services: services)
        }
        func verify(_ notification: IncomingNotification, services: ProviderServices) async throws -> VerifiedNotification {
            try await inner.verify(notification, services: services)
        }
        func acknowledgement(_ outcome: NotificationOutcome) -> (status: Int, body: String) { inner.acknowledgement(outcome) }
    }

    @Test func aBankDownThenAnAmountThatChangedStartAFreshOrderAndAnOldOneStaysTheFamilysMoney() async throws {
        let bank = BankSwitch()
        try await withPortal(payment: systemPayBlock, provider: { center in systemPayProviders(center).map { SwitchedBank(inner: $0, bank: bank) } }) { client, fixture in
            let admin = try await staffToken(fixture, email: "admin@federation.example.org", federationAdmin: true)
            let number = try await bookAtOffice(client, fixture, admin, days: [0, 1])
            let parent = Browser(client)
            _ = try await parent.login("/petit", email: "parent@example.org", password: PortalFixture.password)
            _ = try await parent.get("/petit/factures/\(number)")

            // The bank does not answer: said so on the invoice's page, the order given up, nothing held.
            bank.down = true
            let down = try await parent.post("/petit/factures/\(number)/paiement", [])
            #expect(down.status == .ok && down.text.contains("La banque ne répond pas") && down.text.contains("Payer 20,00 € en ligne"))
            #expect(try await count(fixture, "SELECT count(*)::int FROM payment_attempts WHERE state = 'cancelled'") == 1)
            #expect(try await count(fixture, "SELECT count(*)::int FROM audit_log WHERE action = 'payment.start_failed'") == 1)
            bank.down = false
            let old = bankForm(try await parent.post("/petit/factures/\(number)/paiement", []))
            #expect(old["vads_amount"] == "2000" && old["vads_order_id"]?.hasSuffix("-2") == true)

            // A cheque at the office meanwhile: the next click does not resume the 20,00 € order but asks for 15,00 €.
            try await cheque(client, admin, cents: 500, to: number, key: "cheque-3")
            let fresh = bankForm(try await parent.post("/petit/factures/\(number)/paiement", []))
            #expect(fresh["vads_amount"] == "1500" && fresh["vads_order_id"]?.hasSuffix("-3") == true)
            // The old form is paid at the bank after all: 15,00 € settle the invoice, 5,00 € are the family's credit.
            #expect(try await notify(client, bankNotification(old)) == .ok)
            let invoiceID = try await count(fixture, "SELECT id::int FROM invoices WHERE number = '\(number)'")
            #expect(try await count(fixture, "SELECT sum(amount_cents)::int FROM allocations WHERE invoice_id = \(invoiceID)") == 2000)
            #expect(try await count(fixture, "SELECT count(*)::int FROM payment_attempts WHERE flag = 'refund_due'") == 1)
            let back = try await parent.get("/petit/paiement/retour?ref=\(old["vads_order_id"]!)")
            #expect(back.text.contains("une partie n'était plus due"))
            // Nothing is due: the live 15,00 € order is given up rather than sent to the bank.
            let settled = try await parent.post("/petit/factures/\(number)/paiement", [])
            #expect(settled.text.contains("déjà réglée"))
            #expect(try await count(fixture, "SELECT count(*)::int FROM payment_attempts WHERE state IN ('created', 'pending')") == 0)

            // "Réglée par l'avoir" is said of a settled invoice only, whatever the address says.
            let unpaid = try await bookAtOffice(client, fixture, admin, days: [3])
            #expect(!(try await parent.get("/petit/factures/\(unpaid)?reglee=avoir")).text.contains("Votre avoir a réglé"))

            // The balances export (one statement for the whole center) says what each family's own totals say:
            // here with credit, a partly paid invoice and a flagged payment.
            let logger = fixture.database.logger
            let (balances, each) = try await fixture.database.withCenter(fixture.petit.id) { c in
                var all: [(family: String, email: String, totals: LedgerTotals)] = []
                try await LedgerQueries.balances(c, center: fixture.petit.id, logger: logger) { all.append($0) }
                var each: [String: LedgerTotals] = [:]
                for family in try await AccountRepository.families(c, center: fixture.petit.id, logger: logger) {
                    each[family.email] = try await LedgerQueries.totals(c, center: fixture.petit.id, family: family.id, logger: logger)
                }
                return (all, each)
            }
            #expect(balances.count == each.count && balances.count >= 2)
            #expect(try await keptLedgerDrift(fixture) == 0)
            #expect(try await count(fixture, "SELECT count(*)::int FROM open_invoices") >= 1)
            let describe = { (t: LedgerTotals) in "\(t.invoiced) \(t.invoiceCount) \(t.paid) \(t.paymentCount) \(t.due) \(t.unsettledCount) \(t.allocated)" }
            for row in balances {
                #expect(describe(row.totals) == each[row.email].map(describe), "\(row.email)")
            }
            #expect(balances.first { $0.email == "parent@example.org" }.map { $0.totals.paid.cents - $0.totals.allocated.cents } == 0)
        }
    }
}
