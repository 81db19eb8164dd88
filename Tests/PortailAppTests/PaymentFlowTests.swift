import Foundation
import Hummingbird
import HummingbirdTesting
import PaymentKit
import PortailDomain
import PortailTestSupport
import Simulator
import SystemPay
import Testing
@testable import PortailApp
@testable import PortailStore

let testKey = "1122334455667788"

let systemPayBlock = """
payment:
  type: systempay
  mode: TEST
  site_id: "12345678"
  test_key_env: TEST_SHOP_KEY
"""

/// The real SystemPay adapter, configured from each center's block with the documentation's TEST key.
let systemPayProviders: @Sendable (Center) -> (any PaymentProvider)? = { center in
    guard let settings = center.payment else { return nil }
    return try? SystemPayProvider.make(parameters: settings.parameters, environment: ["TEST_SHOP_KEY": testKey])
}

/// Logs in as the parent of "petit", books `days` journées from the period's start, and opens the payment:
/// returns the fields of the bank form.
func bookAndStartPayment(_ browser: Browser, fixture: PortalFixture, days: Int = 2, email: String = "parent@example.org", login: Bool = true) async throws -> [String: String] {
    if login { _ = try await browser.login("/petit", email: email, password: PortalFixture.password) }
    let periods = try await browser.get("/petit/reservations/nouvelle")
    let childID = try #require(periods.body.firstMatch(of: /name="enfant" value="(\d+)"/)?.1)
    let start = fixture.petit.center.periods[0].startsOn
    let selection = [("enfant", String(childID)), ("periode", "vacances")] + (0..<days).map { ("jour", "\(start.adding(days: $0).iso):journee") }
    let confirm = try await browser.post("/petit/reservations/confirmer", selection)
    #expect(confirm.status == .seeOther || confirm.text.contains("Mon panier"))
    try await browser.get("/petit/panier")
    let pay = try await browser.post("/petit/panier/paiement", [])
    #expect(pay.status == .ok)
    var fields: [String: String] = [:]
    for match in pay.body.matches(of: /<input type="hidden" name="([^"]+)" value="([^"]*)">/) {
        fields[String(match.1)] = String(match.2).replacingOccurrences(of: "&amp;", with: "&").replacingOccurrences(of: "&#39;", with: "'")
            .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&#x3D;", with: "=").replacingOccurrences(of: "&#x2F;", with: "/")
    }
    return fields
}

/// A notification as SystemPay posts it for the form's order.
func bankNotification(_ form: [String: String], status: String = "AUTHORISED", amount: String? = nil, uuid: String = "uuid-1",
                      site: String = "12345678", key: String = testKey) -> String {
    var fields: [(name: String, value: String)] = [
        ("vads_amount", amount ?? form["vads_amount"]!), ("vads_ctx_mode", "TEST"), ("vads_currency", "978"),
        ("vads_order_id", form["vads_order_id"]!), ("vads_site_id", site), ("vads_trans_date", form["vads_trans_date"]!),
        ("vads_trans_id", form["vads_trans_id"]!), ("vads_trans_status", status), ("vads_trans_uuid", uuid),
        ("vads_url_check_src", "PAY"), ("vads_extra_result", ""),
    ]
    fields.append(("signature", SystemPayShop.signature(fields, key: key, algorithm: .hmacSHA256)))
    return FormURLEncoding.encode(fields)
}

func notify(_ client: any TestClientProtocol, _ body: String, center: String = "petit") async throws -> HTTPResponse.Status {
    try await client.execute(uri: "/\(center)/paiement/notification", method: .post,
                             headers: [.contentType: "application/x-www-form-urlencoded"], body: ByteBuffer(string: body)).status
}

/// Counts rows as the owner sees them (all centers).
func count(_ fixture: PortalFixture, _ sql: String) async throws -> Int {
    try await fixture.database.owner.withConnection { c in
        try await c.first(PostgresQuery(unsafeSQL: sql), (Int.self), logger: fixture.database.logger) ?? -1
    }
}

import NIOCore
import PostgresNIO

@Suite struct PaymentFlowTests {
    @Test func aSignedNotificationConfirmsInvoicesAndRecordsOnce() async throws {
        try await withPortal(payment: systemPayBlock, provider: systemPayProviders) { client, fixture in
            let browser = Browser(client)
            let form = try await bookAndStartPayment(browser, fixture: fixture)
            #expect(form["vads_amount"] == "2000")
            #expect(form["vads_site_id"] == "12345678")
            #expect(form["vads_url_check"]?.hasSuffix("/petit/paiement/notification") == true)
            // While the attempt is live, "Accéder au paiement" resumes it: same order, same transaction.
            let again = try await browser.post("/petit/panier/paiement", [])
            #expect(again.body.contains("value=\"\(form["vads_order_id"]!)\""))
            #expect(again.body.contains("value=\"\(form["vads_trans_id"]!)\""))
            // The cart is frozen meanwhile.
            let removal = try await browser.post("/petit/panier/retirer", [("numero", "00001")])
            #expect(removal.text.contains("n'est plus dans votre panier"))

            // One character changed: 400, nothing changes.
            let good = bankNotification(form)
            #expect(try await notify(client, good.replacingOccurrences(of: "vads_amount=2000", with: "vads_amount=2001")) == .badRequest)
            #expect(try await count(fixture, "SELECT count(*)::int FROM payments") == 0)
            #expect(try await browser.get("/petit/reservations/00001").text.contains("en attente de paiement"))

            // The authentic one: 200, confirmed, invoiced, paid, allocated.
            #expect(try await notify(client, good) == .ok)
            #expect(try await browser.get("/petit/reservations/00001").text.contains("confirmée"))
            let account = try await browser.get("/petit/compte")
            #expect(account.text.contains("Total facturé 20.00 € (1 facture)"))
            #expect(account.text.contains("Total payé 20.00 € (1 paiement)"))
            #expect(account.text.contains("Total restant dû 0.00 € (0 facture non soldée)"))
            #expect(try await count(fixture, "SELECT count(*)::int FROM invoices WHERE number = 'PET00001'") == 1)
            #expect(try await count(fixture, "SELECT count(*)::int FROM allocations WHERE amount_cents = 2000") == 1)
            #expect(try await count(fixture, "SELECT count(*)::int FROM audit_log WHERE action = 'payment.paid'") == 1)
            #expect(try await count(fixture, "SELECT count(*)::int FROM mail_outbox WHERE subject LIKE '%paiement reçu'") == 1)
            let back = try await browser.get("/petit/paiement/retour?ref=\(form["vads_order_id"]!)")
            #expect(back.text.contains("Paiement accepté"))

            // Replayed, four times at once: one payment, one invoice.
            try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for _ in 0..<4 { group.addTask { try await notify(client, good) } }
                for try await status in group { #expect(status == .ok) }
            }
            #expect(try await count(fixture, "SELECT count(*)::int FROM payments") == 1)
            #expect(try await count(fixture, "SELECT count(*)::int FROM invoices") == 1)
            #expect(try await count(fixture, "SELECT count(*)::int FROM payment_notifications WHERE outcome = 'duplicate'") == 4)

            // A refusal of another transaction of the same order never undoes the payment.
            #expect(try await notify(client, bankNotification(form, status: "REFUSED", uuid: "uuid-2")) == .ok)
            #expect(try await browser.get("/petit/reservations/00001").text.contains("confirmée"))
            #expect(try await count(fixture, "SELECT count(*)::int FROM payment_attempts WHERE state = 'paid'") == 1)
        }
    }

    @Test func foreignOrWrongNotificationsChangeNothing() async throws {
        try await withPortal(payment: systemPayBlock, provider: systemPayProviders) { client, fixture in
            let form = try await bookAndStartPayment(Browser(client), fixture: fixture)
            // Signed with the right key but for another center's shop: refused.
            #expect(try await notify(client, bankNotification(form, site: "87654321")) == .badRequest)
            // Posted to the other center's address: its own shop refuses it.
            #expect(try await notify(client, bankNotification(form), center: "autre") == .badRequest)
            // The wrong key.
            #expect(try await notify(client, bankNotification(form, key: "0000000000000000")) == .badRequest)
            #expect(try await count(fixture, "SELECT count(*)::int FROM payment_notifications") == 0)
            // A wrong amount, correctly signed: stored, flagged, not confirmed.
            #expect(try await notify(client, bankNotification(form, amount: "100")) == .ok)
            #expect(try await count(fixture, "SELECT count(*)::int FROM payment_attempts WHERE state = 'review' AND flag = 'amount_mismatch'") == 1)
            #expect(try await count(fixture, "SELECT count(*)::int FROM reservations WHERE state = 'confirmed'") == 0)
            #expect(try await count(fixture, "SELECT count(*)::int FROM payments") == 0)
        }
    }

    @Test func aRefusedPaymentCanBeRetriedWithANewTransaction() async throws {
        try await withPortal(payment: systemPayBlock, provider: systemPayProviders) { client, fixture in
            let browser = Browser(client)
            let first = try await bookAndStartPayment(browser, fixture: fixture)
            #expect(try await notify(client, bankNotification(first, status: "REFUSED", uuid: "u-refused")) == .ok)
            let back = try await browser.get("/petit/paiement/retour?ref=\(first["vads_order_id"]!)")
            #expect(back.text.contains("Paiement refusé"))
            try await browser.get("/petit/panier")
            let retry = try await browser.post("/petit/panier/paiement", [])
            let order = try #require(retry.body.firstMatch(of: /name="vads_order_id" value="([^"]+)"/)?.1)
            let transaction = try #require(retry.body.firstMatch(of: /name="vads_trans_id" value="([^"]+)"/)?.1)
            #expect(String(order) != first["vads_order_id"])
            #expect(String(transaction) != first["vads_trans_id"])
        }
    }

    @Test func aPaymentAfterTheCartExpiredAndItsPlacesWereTakenBecomesACredit() async throws {
        try await withPortal(places: 1, payment: systemPayBlock, provider: systemPayProviders) { client, fixture in
            let parent = Browser(client)
            let form = try await bookAndStartPayment(parent, fixture: fixture, days: 1)
            // The bank takes its time: the attempt and then the hold run out.
            try await fixture.database.owner.withConnection { c in
                try await c.run("UPDATE payment_attempts SET created_at = now() - interval '1 hour'", logger: fixture.database.logger)
                try await c.run("UPDATE carts SET expires_at = now() - interval '1 minute'", logger: fixture.database.logger)
            }
            // The neighbour books the place that came back.
            let neighbour = Browser(client)
            _ = try await neighbour.login("/petit", email: "voisin@example.org", password: PortalFixture.password)
            let periods = try await neighbour.get("/petit/reservations/nouvelle")
            let childID = try #require(periods.body.firstMatch(of: /name="enfant" value="(\d+)"/)?.1)
            let day = fixture.petit.center.periods[0].startsOn
            let taken = try await neighbour.post("/petit/reservations/confirmer", [("enfant", String(childID)), ("periode", "vacances"), ("jour", "\(day.iso):journee")])
            #expect(taken.status == .seeOther)
            // Then the payment arrives.
            #expect(try await notify(client, bankNotification(form)) == .ok)
            // Nothing overbooked, the parent's reservation stays expired, the money is a credit, the attempt flagged.
            #expect(try await count(fixture, "SELECT count(*)::int FROM day_capacities WHERE taken > places") == 0)
            #expect(try await count(fixture, "SELECT count(*)::int FROM reservations WHERE state = 'expired'") == 1)
            #expect(try await count(fixture, "SELECT count(*)::int FROM payments WHERE amount_cents = 1000") == 1)
            #expect(try await count(fixture, "SELECT count(*)::int FROM allocations") == 0)
            #expect(try await count(fixture, "SELECT count(*)::int FROM payment_attempts WHERE state = 'paid' AND flag = 'refund_due'") == 1)
            let account = try await parent.get("/petit/compte")
            #expect(account.text.contains("Total payé 10.00 € (1 paiement)"))
            #expect(account.text.contains("Total facturé 0.00 €"))
        }
    }

    @Test func aPaymentAfterTheCartExpiredWithPlacesStillFreeIsConfirmed() async throws {
        try await withPortal(places: 3, payment: systemPayBlock, provider: systemPayProviders) { client, fixture in
            let parent = Browser(client)
            let form = try await bookAndStartPayment(parent, fixture: fixture, days: 1)
            try await fixture.database.owner.withConnection { c in
                try await c.run("UPDATE payment_attempts SET created_at = now() - interval '1 hour'", logger: fixture.database.logger)
                try await c.run("UPDATE carts SET expires_at = now() - interval '1 minute'", logger: fixture.database.logger)
            }
            #expect(try await parent.get("/petit/compte").text.contains("expirée"))
            #expect(try await notify(client, bankNotification(form)) == .ok)
            #expect(try await parent.get("/petit/compte").text.contains("confirmée"))
            #expect(try await count(fixture, "SELECT sum(taken)::int FROM day_capacities") == 2)  // matin + après-midi of one journée
        }
    }

    @Test func aCenterWithoutOnlinePaymentConfirmsAtOnceAndInvoices() async throws {
        try await withPortal(payment: "", provider: { _ in nil }) { client, fixture in
            let browser = Browser(client)
            _ = try await browser.login("/petit", email: "parent@example.org", password: PortalFixture.password)
            let periods = try await browser.get("/petit/reservations/nouvelle")
            let childID = try #require(periods.body.firstMatch(of: /name="enfant" value="(\d+)"/)?.1)
            let day = fixture.petit.center.periods[0].startsOn
            let confirm = try await browser.post("/petit/reservations/confirmer", [("enfant", String(childID)), ("periode", "vacances"), ("jour", "\(day.iso):journee")])
            #expect(confirm.location == "/petit/reservations/00001?confirmee=1")
            let detail = try await browser.get(confirm.location!)
            #expect(detail.text.contains("confirmée"))
            #expect(detail.text.contains("réglez-la à l'accueil"))
            let account = try await browser.get("/petit/compte")
            #expect(account.text.contains("Total facturé 10.00 € (1 facture)"))
            #expect(account.text.contains("Total restant dû 10.00 € (1 facture non soldée)"))
            #expect(!account.text.contains("Votre panier contient"))
        }
    }

    @Test func theSimulatedBankPaysThroughItsOwnNotification() async throws {
        let simulator: @Sendable (Center) -> (any PaymentProvider)? = { center in
            center.payment == nil ? nil : SimulatorBank(key: "test")
        }
        // A real HTTP client, so that the Host header carries the port the bank must post back to.
        try await withPortal(payment: "payment:\n  type: simulator\n  mode: TEST", setup: .ahc(.http), provider: simulator) { client, fixture in
            // This client follows redirects and drops their cookies: log in by creating the session directly.
            let browser = Browser(client)
            let database = fixture.database
            let session = try await database.withCenter(fixture.petit.id) { c in
                let family = try await AccountRepository.family(c, center: fixture.petit.id, email: "parent@example.org", logger: database.logger)!
                return try await SessionRepository.create(c, center: fixture.petit.id, familyID: family.id, logger: database.logger)
            }
            browser.cookie = "\(SessionCookies.session)=\(session.token!)"
            try await browser.get("/petit/compte")
            let form = try await bookAndStartPayment(browser, fixture: fixture, login: false)
            let port = try #require(client.port)
            #expect(form["sim_notify_url"] == "http://localhost:\(port)/petit/paiement/notification")
            // The browser posts the form to the bank page, then chooses "Payer".
            let encoded = form.map { "\($0.key.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)=\($0.value.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)" }.joined(separator: "&")
            let bank = try await client.execute(uri: "/petit/simulateur/paiement", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"], body: ByteBuffer(string: encoded))
            #expect(String(buffer: bank.body).contains("Paiement de 20.00 €"))
            let choice = try await client.execute(uri: "/petit/simulateur/choix", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                                                  body: ByteBuffer(string: encoded + "&choix=payer&deux_fois=1"))
            #expect(choice.status == .ok)  // followed to the return page
            #expect(try await browser.get("/petit/reservations/00001").text.contains("confirmée"))
            #expect(try await count(fixture, "SELECT count(*)::int FROM payments") == 1)
            #expect(try await count(fixture, "SELECT count(*)::int FROM payment_notifications WHERE outcome = 'duplicate'") == 1)
        }
    }
}

@Suite struct LedgerPageTests {
    @Test func aParentCancelsBeforeTheDeadlineAndGetsACreditNote() async throws {
        try await withPortal(payment: systemPayBlock, provider: systemPayProviders) { client, fixture in
            let browser = Browser(client)
            let form = try await bookAndStartPayment(browser, fixture: fixture)
            #expect(try await notify(client, bankNotification(form)) == .ok)
            let detail = try await browser.get("/petit/reservations/00001")
            #expect(detail.text.contains("Annuler cette réservation"))
            let cancel = try await browser.post("/petit/reservations/00001/annuler", [])
            #expect(cancel.location == "/petit/factures?annulation=PET-AV00001")
            let ledger = try await browser.get(cancel.location!)
            #expect(ledger.text.contains("La réservation est annulée : l'avoir n° PET-AV00001"))
            // The notice names documents of the family only, never text from the address.
            let forged = try await browser.get("/petit/factures?annulation=Appelez%20le%2006%2000%2000%2000%2000")
            #expect(!forged.text.contains("Appelez") && !forged.text.contains("est annulée"))
            #expect(ledger.text.contains("Avoir n° PET-AV00001"))
            #expect(ledger.text.contains("Facture n° PET00001"))
            #expect(ledger.text.contains("Total restant dû : 0.00 €"))
            #expect(ledger.text.contains("Avoir disponible : 20.00 €"))
            #expect(try await browser.get("/petit/reservations/00001").text.contains("annulée"))
            // The places are free, the invoice untouched, the payment's allocation reversed, not edited.
            #expect(try await count(fixture, "SELECT coalesce(sum(taken), 0)::int FROM day_capacities") == 0)
            #expect(try await count(fixture, "SELECT total_cents::int FROM invoices WHERE number = 'PET00001'") == 2000)
            #expect(try await count(fixture, "SELECT count(*)::int FROM allocations WHERE amount_cents = -2000 AND reverses IS NOT NULL") == 1)
            // Sum of invoices − credit notes − allocations = restant dû (0), and the credit is the payment.
            #expect(try await count(fixture, """
                SELECT ((SELECT sum(total_cents) FROM invoices WHERE kind = 'invoice') - (SELECT sum(total_cents) FROM invoices WHERE kind = 'credit_note')
                      - (SELECT sum(amount_cents) FROM allocations))::int
                """) == 0)
            // Twice is refused.
            #expect(try await browser.post("/petit/reservations/00001/annuler", []).status == .notFound)

            // The credit is used first on the next cart: a 10 € day is paid with it, no bank involved.
            let periods = try await browser.get("/petit/reservations/nouvelle")
            let childID = try #require(periods.body.firstMatch(of: /name="enfant" value="(\d+)"/)?.1)
            let start = fixture.petit.center.periods[0].startsOn
            _ = try await browser.post("/petit/reservations/confirmer", [("enfant", String(childID)), ("periode", "vacances"), ("jour", "\(start.adding(days: 5).iso):journee")])
            try await browser.get("/petit/panier")
            let byCredit = try await browser.post("/petit/panier/paiement", [])
            #expect(byCredit.location == "/petit/factures?avoir=PET00002")
            #expect(try await browser.get("/petit/reservations/00002").text.contains("confirmée"))
            let after = try await browser.get("/petit/factures")
            #expect(after.text.contains("Avoir disponible : 10.00 €"))
            #expect(after.text.contains("Total restant dû : 0.00 €"))

            // Then a 20 € cart: the bank is asked for the 10 € the credit does not cover.
            _ = try await browser.post("/petit/reservations/confirmer", [("enfant", String(childID)), ("periode", "vacances"),
                                                                         ("jour", "\(start.adding(days: 6).iso):journee"), ("jour", "\(start.adding(days: 7).iso):journee")])
            try await browser.get("/petit/panier")
            let pay = try await browser.post("/petit/panier/paiement", [])
            let amount = try #require(pay.body.firstMatch(of: /name="vads_amount" value="(\d+)"/)?.1)
            #expect(amount == "1000")
            var second: [String: String] = [:]
            for match in pay.body.matches(of: /<input type="hidden" name="([^"]+)" value="([^"]*)">/) { second[String(match.1)] = String(match.2) }
            #expect(try await notify(client, bankNotification(second, uuid: "uuid-3")) == .ok)
            let last = try await browser.get("/petit/factures")
            #expect(last.text.contains("Total restant dû : 0.00 € (0 facture non soldée)"))
            #expect(!last.text.contains("Avoir disponible"))
        }
    }

    /// Text of a PDF, through poppler's pdftotext.
    func pdfText(_ data: Data) throws -> String {
        let path = NSTemporaryDirectory() + "doc-\(UUID().uuidString).pdf"
        try data.write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/pdftotext")
        process.arguments = ["-layout", path, "-"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: output, as: UTF8.self)
    }

    @Test func invoicesAndPaymentsWithTheirPDFs() async throws {
        try await withPortal(payment: systemPayBlock, provider: systemPayProviders) { client, fixture in
            let browser = Browser(client)
            let form = try await bookAndStartPayment(browser, fixture: fixture)
            #expect(try await notify(client, bankNotification(form)) == .ok)

            let ledger = try await browser.get("/petit/factures")
            #expect(ledger.text.contains("Mes Factures & Paiements - CENTRE PETIT") || ledger.text.contains("Mes Factures &amp; Paiements - CENTRE PETIT"))
            #expect(ledger.text.contains("Total facturé : 20.00 € (1 facture)"))
            #expect(ledger.text.contains("Total payé : 20.00 € (1 paiement)"))
            #expect(ledger.text.contains("Total restant dû : 0.00 € (0 facture non soldée)"))
            #expect(ledger.text.contains("Facture n° PET00001"))
            #expect(ledger.text.contains("(par SYSTEMPAY)"))
            #expect(ledger.text.contains("soldée"))
            #expect(ledger.text.contains("( de 1 à 2 sur 2 éléments )"))

            let page = try await browser.get("/petit/factures/PET00001")
            #expect(page.status == .ok)
            #expect(page.text.contains("Reste à payer 0.00 €"))
            let pdf = try await client.execute(uri: "/petit/factures/PET00001.pdf", method: .get, headers: [.cookie: browser.cookie!])
            #expect(pdf.headers[.contentType] == "application/pdf")
            let text = try pdfText(Data(buffer: pdf.body))
            #expect(text.contains("PET00001"))
            #expect(text.contains("Centre petit"))
            #expect(text.contains("20.00 €"))
            #expect(text.contains("JULES"))

            let paymentNumber = try #require(ledger.body.firstMatch(of: /paiements\/(PET-P\d+)/)?.1)
            let receipt = try await client.execute(uri: "/petit/paiements/\(paymentNumber).pdf", method: .get, headers: [.cookie: browser.cookie!])
            let receiptText = try pdfText(Data(buffer: receipt.body))
            #expect(receiptText.contains("Reçu de paiement n° \(paymentNumber)"))
            #expect(receiptText.contains("Facture n° PET00001 : 20.00 €"))

            // The yearly childcare certificate lists what was paid for the child.
            let year = LocalDate(Date(), in: TimeZone(identifier: "Europe/Paris")!).year
            let certificate = try await client.execute(uri: "/petit/attestations/\(year).pdf", method: .get, headers: [.cookie: browser.cookie!])
            let certificateText = try pdfText(Data(buffer: certificate.body))
            #expect(certificateText.contains("Attestation de frais de garde – année \(year)"))
            #expect(certificateText.contains("JULES X, né(e) le \(youngChildBirthDate.french)"))
            #expect(certificateText.contains("20.00 €"))

            // The neighbour cannot read them: 404, like numbers that do not exist.
            let neighbour = Browser(client)
            _ = try await neighbour.login("/petit", email: "voisin@example.org", password: PortalFixture.password)
            #expect(try await neighbour.get("/petit/factures/PET00001").status == .notFound)
            #expect(try await neighbour.get("/petit/factures/PET00001.pdf").status == .notFound)
            #expect(try await neighbour.get("/petit/paiements/\(paymentNumber)").status == .notFound)
            #expect(try await neighbour.get("/petit/factures").text.contains("Aucune facture"))
        }
    }
}
