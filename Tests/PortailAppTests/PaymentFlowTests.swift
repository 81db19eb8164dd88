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
    try await bookDays(browser, fixture: fixture, Array(0..<days))
    return try await startPayment(browser)
}

/// Books, in one reservation of the logged-in family's cart, the journées `offsets` days after the period's start.
func bookDays(_ browser: Browser, fixture: PortalFixture, _ offsets: [Int]) async throws {
    let periods = try await browser.get("/petit/reservations/nouvelle")
    let childID = try #require(periods.body.firstMatch(of: /name="enfant" value="(\d+)"/)?.1)
    let start = fixture.petit.center.periods[0].startsOn
    let selection = [("enfant", String(childID)), ("periode", "vacances")] + offsets.map { ("jour", "\(start.adding(days: $0).iso):journee") }
    let confirm = try await browser.post("/petit/reservations/confirmer", selection)
    #expect(confirm.status == .seeOther || confirm.text.contains("Mon panier"))
}

/// "Accéder au paiement" from the cart: the fields of the bank form.
func startPayment(_ browser: Browser) async throws -> [String: String] {
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
            #expect(account.text.contains("Total facturé 20,00 € (1 facture)"))
            #expect(account.text.contains("Total payé 20,00 € (1 paiement)"))
            #expect(account.text.contains("Total restant dû 0,00 € (0 facture non soldée)"))
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
            // A wrong amount, correctly signed: stored, flagged, not confirmed; the money the bank took is
            // recorded as the family's credit, and the cart is payable again (for the rest).
            #expect(try await notify(client, bankNotification(form, amount: "100")) == .ok)
            #expect(try await count(fixture, "SELECT count(*)::int FROM payment_attempts WHERE state = 'review' AND flag = 'amount_mismatch'") == 1)
            #expect(try await count(fixture, "SELECT count(*)::int FROM reservations WHERE state = 'confirmed'") == 0)
            #expect(try await count(fixture, "SELECT count(*)::int FROM payments WHERE amount_cents = 100") == 1)
            #expect(try await count(fixture, "SELECT count(*)::int FROM allocations") == 0)
            #expect(try await count(fixture, "SELECT count(*)::int FROM carts WHERE state = 'open'") == 1)
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
                try await c.run("UPDATE payment_attempts SET created_at = now() - interval '1 hour', live_until = now() - interval '50 minutes'", logger: fixture.database.logger)
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
            #expect(account.text.contains("Total payé 10,00 € (1 paiement)"))
            #expect(account.text.contains("Total facturé 0,00 €"))
        }
    }

    @Test func aPaymentAfterTheCartExpiredWithPlacesStillFreeIsConfirmed() async throws {
        try await withPortal(places: 3, payment: systemPayBlock, provider: systemPayProviders) { client, fixture in
            let parent = Browser(client)
            let form = try await bookAndStartPayment(parent, fixture: fixture, days: 1)
            try await fixture.database.owner.withConnection { c in
                try await c.run("UPDATE payment_attempts SET created_at = now() - interval '1 hour', live_until = now() - interval '50 minutes'", logger: fixture.database.logger)
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
            #expect(account.text.contains("Total facturé 10,00 € (1 facture)"))
            #expect(account.text.contains("Total restant dû 10,00 € (1 facture non soldée)"))
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
            #expect(form["sim_notify_url"] == "http://127.0.0.1:\(port)/petit/paiement/notification")
            // The browser posts the form to the bank page, then chooses "Payer".
            let encoded = form.map { "\($0.key.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)=\($0.value.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)" }.joined(separator: "&")
            let bank = try await client.execute(uri: "/petit/simulateur/paiement", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"], body: ByteBuffer(string: encoded))
            #expect(String(buffer: bank.body).contains("Paiement de 20,00\u{00A0}€"))
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
            // The button asks first: what is cancelled, the credit it gives, until when. Nothing is cancelled yet.
            let asking = try await browser.get("/petit/reservations/00001/annuler")
            #expect(asking.text.contains("Annuler la réservation n° 00001 ?"))
            #expect(asking.text.contains("Son montant, 20,00 €"))
            #expect(asking.text.contains("vous sera rendu sous forme d'avoir"))
            #expect(asking.text.contains("Annulation possible jusqu'au"))
            #expect(asking.text.contains("Non, garder ma réservation"))
            let unconfirmed = try await browser.post("/petit/reservations/00001/annuler", [])
            #expect(unconfirmed.status == .seeOther && unconfirmed.location == "/petit/reservations/00001/annuler")
            #expect(try await browser.get("/petit/reservations/00001").text.contains("confirmée"))
            let cancel = try await browser.post("/petit/reservations/00001/annuler", [("confirmer", "oui")])
            #expect(cancel.location == "/petit/factures?annulation=PET-AV00001")
            let ledger = try await browser.get(cancel.location!)
            #expect(ledger.text.contains("La réservation est annulée : l'avoir n° PET-AV00001"))
            // The notice names documents of the family only, never text from the address.
            let forged = try await browser.get("/petit/factures?annulation=Appelez%20le%2006%2000%2000%2000%2000")
            #expect(!forged.text.contains("Appelez") && !forged.text.contains("est annulée"))
            #expect(ledger.text.contains("Avoir n° PET-AV00001"))
            #expect(ledger.text.contains("Facture n° PET00001"))
            #expect(ledger.text.contains("Total restant dû : 0,00 €"))
            #expect(ledger.text.contains("Avoir disponible : 20,00 €"))
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
            #expect(try await browser.post("/petit/reservations/00001/annuler", [("confirmer", "oui")]).status == .notFound)

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
            #expect(after.text.contains("Avoir disponible : 10,00 €"))
            #expect(after.text.contains("Total restant dû : 0,00 €"))

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
            #expect(last.text.contains("Total restant dû : 0,00 € (0 facture non soldée)"))
            #expect(!last.text.contains("Avoir disponible"))
        }
    }

    /// Text of a PDF, through poppler's pdftotext, no-break spaces read as spaces.
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
        return String(decoding: output, as: UTF8.self).replacingOccurrences(of: "\u{00A0}", with: " ")
    }

    @Test func invoicesAndPaymentsWithTheirPDFs() async throws {
        try await withPortal(payment: systemPayBlock, provider: systemPayProviders) { client, fixture in
            let browser = Browser(client)
            let form = try await bookAndStartPayment(browser, fixture: fixture)
            #expect(try await notify(client, bankNotification(form)) == .ok)

            let ledger = try await browser.get("/petit/factures")
            #expect(ledger.text.contains("Mes Factures & Paiements - CENTRE PETIT") || ledger.text.contains("Mes Factures &amp; Paiements - CENTRE PETIT"))
            #expect(ledger.text.contains("Total facturé : 20,00 € (1 facture)"))
            #expect(ledger.text.contains("Total payé : 20,00 € (1 paiement)"))
            #expect(ledger.text.contains("Total restant dû : 0,00 € (0 facture non soldée)"))
            #expect(ledger.text.contains("Facture n° PET00001"))
            #expect(ledger.text.contains("(par SYSTEMPAY)"))
            #expect(ledger.text.contains("soldée"))
            #expect(ledger.text.contains("( de 1 à 2 sur 2 éléments )"))

            let page = try await browser.get("/petit/factures/PET00001")
            #expect(page.status == .ok)
            #expect(page.text.contains("Reste à payer 0,00 €"))
            let pdf = try await client.execute(uri: "/petit/factures/PET00001.pdf", method: .get, headers: [.cookie: browser.cookie!])
            #expect(pdf.headers[.contentType] == "application/pdf")
            let text = try pdfText(Data(buffer: pdf.body))
            #expect(text.contains("PET00001"))
            #expect(text.contains("Centre petit"))
            #expect(text.contains("20,00 €"))
            #expect(text.contains("JULES"))

            let paymentNumber = try #require(ledger.body.firstMatch(of: /paiements\/(PET-P\d+)/)?.1)
            let receipt = try await client.execute(uri: "/petit/paiements/\(paymentNumber).pdf", method: .get, headers: [.cookie: browser.cookie!])
            let receiptText = try pdfText(Data(buffer: receipt.body))
            #expect(receiptText.contains("Reçu de paiement n° \(paymentNumber)"))
            #expect(receiptText.contains("Facture n° PET00001 : 20,00 €"))

            // The yearly childcare certificate lists what was paid for the child.
            let year = LocalDate(Date(), in: TimeZone(identifier: "Europe/Paris")!).year
            let certificate = try await client.execute(uri: "/petit/attestations/\(year).pdf", method: .get, headers: [.cookie: browser.cookie!])
            let certificateText = try pdfText(Data(buffer: certificate.body))
            #expect(certificateText.contains("Attestation de frais de garde – année \(year)"))
            #expect(certificateText.contains("JULES X, né(e) le \(youngChildBirthDate.french)"))
            #expect(certificateText.contains("20,00 €"))

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

// MARK: - An attempt pays exactly what it froze (issue 11)

/// An invoice as the database holds it: its number, total and the reservations (numbers) it bills.
struct BilledInvoice: Equatable, CustomStringConvertible {
    var number: String
    var totalCents: Int
    var reservations: [Int]
    init(_ number: String, _ totalCents: Int, _ reservations: [Int]) {
        (self.number, self.totalCents, self.reservations) = (number, totalCents, reservations)
    }
    var description: String { "\(number) \(totalCents) \(reservations)" }
}

/// A payment attempt as the database holds it.
struct AttemptSummary: Equatable, CustomStringConvertible {
    var amountCents: Int
    var state: String
    var flag: String?
    init(_ amountCents: Int, _ state: String, flag: String? = nil) {
        (self.amountCents, self.state, self.flag) = (amountCents, state, flag)
    }
    var description: String { "\(amountCents) \(state) \(flag ?? "-")" }
}

extension PortalFixture {
    /// Runs a statement as the owner, to set a scene (time passing, staff changing places).
    func execute(_ sql: PostgresQuery) async throws {
        try await database.owner.withConnection { try await $0.run(sql, logger: database.logger) }
    }

    /// The state of each of the small center's reservations, by number.
    func reservationStates() async throws -> [Int: String] {
        try await database.owner.withConnection { c in
            let rows = try await c.all("""
                SELECT number, state FROM reservations WHERE center_id = \(petit.id)
                """, (Int, String).self, logger: database.logger)
            return Dictionary(uniqueKeysWithValues: rows.map { ($0.0, $0.1) })
        }
    }

    /// The small center's invoices, in number order.
    func invoices() async throws -> [BilledInvoice] {
        try await database.owner.withConnection { c in
            try await c.all("""
                SELECT i.number, i.total_cents::bigint,
                       coalesce((SELECT array_agg(DISTINCT r.number::bigint) FROM invoice_lines l
                                 JOIN reservations r ON r.center_id = l.center_id AND r.id = l.reservation_id
                                 WHERE l.center_id = i.center_id AND l.invoice_id = i.id), '{}')
                FROM invoices i WHERE i.center_id = \(petit.id) AND i.kind = 'invoice' ORDER BY i.number
                """, (String, Int, [Int64]).self, logger: database.logger).map {
                BilledInvoice($0.0, $0.1, $0.2.map { Int($0) }.sorted())
            }
        }
    }

    /// The small center's payment attempts, oldest first.
    func attempts() async throws -> [AttemptSummary] {
        try await database.owner.withConnection { c in
            try await c.all("""
                SELECT amount_cents::bigint, state, flag FROM payment_attempts WHERE center_id = \(petit.id) ORDER BY id
                """, (Int, String, String?).self, logger: database.logger).map { AttemptSummary($0.0, $0.1, flag: $0.2) }
        }
    }

    /// The family's money not allocated to any invoice, in cents.
    func credit(of email: String = "parent@example.org") async throws -> Int {
        try await database.owner.withConnection { c in
            try await c.first("""
                SELECT coalesce(sum(p.amount_cents - coalesce((
                    SELECT sum(a.amount_cents) FROM allocations a WHERE a.center_id = p.center_id AND a.payment_id = p.id
                ), 0)), 0)::bigint
                FROM payments p JOIN families f ON f.center_id = p.center_id AND f.id = p.family_id
                WHERE p.center_id = \(petit.id) AND f.email = \(email)
                """, (Int.self), logger: database.logger) ?? -1
        }
    }

    /// Places taken in the mornings of the days `offsets` days after the period's start.
    func taken(days offsets: ClosedRange<Int>) async throws -> [Int] {
        let start = petit.center.periods[0].startsOn
        let days = offsets.map { start.adding(days: $0).iso }
        return try await database.owner.withConnection { c in
            try await c.all("""
                SELECT taken FROM day_capacities
                WHERE center_id = \(petit.id) AND day = ANY(\(days)::date[]) AND unit = 'matin' ORDER BY day
                """, (Int.self), logger: database.logger)
        }
    }

    /// The state of the family's most recent cart.
    func lastCartState(of email: String = "parent@example.org") async throws -> String? {
        try await database.owner.withConnection { c in
            try await c.first("""
                SELECT k.state FROM carts k JOIN families f ON f.center_id = k.center_id AND f.id = k.family_id
                WHERE k.center_id = \(petit.id) AND f.email = \(email) ORDER BY k.id DESC LIMIT 1
                """, (String.self), logger: database.logger)
        }
    }

    /// How many audit entries of `action` have a detail containing every one of `words`.
    func audited(_ action: String, saying words: [String]) async throws -> Int {
        try await database.owner.withConnection { c in
            try await c.first("""
                SELECT count(*)::int FROM audit_log
                WHERE center_id = \(petit.id) AND action = \(action)
                  AND (SELECT bool_and(strpos(after->>'detail', w) > 0) FROM unnest(\(words)::text[]) AS w)
                """, (Int.self), logger: database.logger) ?? -1
        }
    }
}

extension PaymentFlowTests {
    /// The simulated bank: the parent abandons a 10 € payment, adds three days (30 €) to the reopened cart,
    /// then pays the first, old form. Only the first day is confirmed and invoiced; the three others wait
    /// in the cart for a payment of their own.
    @Test func anAbandonedFormPaidAfterDaysWereAddedPaysOnlyItsOwnDays() async throws {
        let simulator: @Sendable (Center) -> (any PaymentProvider)? = { center in
            center.payment == nil ? nil : SimulatorBank(key: "test")
        }
        let block = "payment:\n  type: simulator\n  mode: TEST"
        try await withPortal(payment: block, setup: .ahc(.http), provider: simulator) { client, fixture in
            // This client follows redirects and drops their cookies: log in by creating the session directly.
            let browser = Browser(client)
            let (database, center) = (fixture.database, fixture.petit.id)
            let session = try await database.withCenter(center) { c in
                let logger = database.logger
                let family = try await AccountRepository.family(c, center: center, email: "parent@example.org", logger: logger)!
                return try await SessionRepository.create(c, center: center, familyID: family.id, logger: logger)
            }
            browser.cookie = "portail_session=\(session.token!)"
            try await browser.get("/petit/compte")
            let form = try await bookAndStartPayment(browser, fixture: fixture, days: 1, login: false)
            #expect(form["sim_amount"] == "1000")
            let escape = { (s: String) in s.addingPercentEncoding(withAllowedCharacters: .alphanumerics)! }
            let encoded = form.map { "\(escape($0.key))=\(escape($0.value))" }.joined(separator: "&")
            // The parent's choice on the bank's page, for the first form.
            let choose = { (choice: String) in
                try await client.execute(uri: "/petit/simulateur/choix", method: .post,
                                         headers: [.contentType: "application/x-www-form-urlencoded"],
                                         body: ByteBuffer(string: encoded + "&choix=\(choice)"))
            }
            // "Abandonner": the attempt is cancelled and the cart reopens.
            #expect(try await choose("abandonner").status == .ok)
            #expect(try await fixture.attempts() == [AttemptSummary(1000, "cancelled")])
            #expect(try await fixture.lastCartState() == "open")

            try await bookDays(browser, fixture: fixture, [1, 2, 3])
            #expect(try await fixture.reservationStates() == [1: "pending_payment", 2: "pending_payment"])

            // The old form, paid at the bank: 10 € buys the first day, nothing else.
            #expect(try await choose("payer").status == .ok)
            #expect(try await fixture.reservationStates() == [1: "confirmed", 2: "pending_payment"])
            #expect(try await fixture.invoices() == [BilledInvoice("PET00001", 1000, [1])])
            #expect(try await fixture.attempts() == [AttemptSummary(1000, "paid")])
            #expect(try await count(fixture, "SELECT count(*)::int FROM allocations WHERE amount_cents = 1000") == 1)
            #expect(try await fixture.credit() == 0)
            #expect(try await fixture.lastCartState() == "open")
            #expect(try await fixture.taken(days: 0...3) == [1, 1, 1, 1])

            // The rest is payable: a new attempt, for the three days only.
            let rest = try await startPayment(browser)
            #expect(rest["sim_amount"] == "3000")
            #expect(try await count(fixture, """
                SELECT count(*)::int FROM payment_attempt_reservations f
                JOIN reservations r ON r.center_id = f.center_id AND r.id = f.reservation_id
                WHERE f.attempt_id = (SELECT max(id) FROM payment_attempts) AND r.number = 2 AND f.amount_cents = 3000
                """) == 1)
            #expect(try await count(fixture, "SELECT count(*)::int FROM payment_attempt_reservations") == 2)
        }
    }

    /// SystemPay: a refused card, three days added, then an AUTHORISED notification for the first attempt.
    /// The first day is confirmed; the three others are paid by their own attempt afterwards.
    @Test func aRefusedAttemptAuthorisedAfterDaysWereAddedPaysOnlyItsOwnDays() async throws {
        try await withPortal(payment: systemPayBlock, provider: systemPayProviders) { client, fixture in
            let browser = Browser(client)
            let first = try await bookAndStartPayment(browser, fixture: fixture, days: 1)
            #expect(first["vads_amount"] == "1000")
            #expect(try await notify(client, bankNotification(first, status: "REFUSED", uuid: "u-refused")) == .ok)
            try await bookDays(browser, fixture: fixture, [1, 2, 3])
            #expect(try await fixture.reservationStates() == [1: "pending_payment", 2: "pending_payment"])

            #expect(try await notify(client, bankNotification(first, uuid: "u-authorised")) == .ok)
            #expect(try await fixture.reservationStates() == [1: "confirmed", 2: "pending_payment"])
            #expect(try await fixture.invoices() == [BilledInvoice("PET00001", 1000, [1])])
            #expect(try await fixture.attempts() == [AttemptSummary(1000, "paid")])
            #expect(try await fixture.credit() == 0)
            #expect(try await fixture.lastCartState() == "open")
            #expect(try await browser.get("/petit/panier").text.contains("30,00 €"))

            // The three days, by an attempt of their own: everything paid, nothing flagged.
            let second = try await startPayment(browser)
            #expect(second["vads_amount"] == "3000")
            #expect(try await notify(client, bankNotification(second, uuid: "u-second")) == .ok)
            #expect(try await fixture.reservationStates() == [1: "confirmed", 2: "confirmed"])
            #expect(try await fixture.invoices() == [BilledInvoice("PET00001", 1000, [1]),
                                                     BilledInvoice("PET00002", 3000, [2])])
            #expect(try await fixture.attempts() == [AttemptSummary(1000, "paid"), AttemptSummary(3000, "paid")])
            #expect(try await fixture.credit() == 0)
            #expect(try await fixture.lastCartState() == "paid")
        }
    }

    /// A payment after the attempt's lifetime and the cart's hold: of the three reservations it froze, the
    /// one whose place went to a neighbour stays expired, the one the parent booked again is not taken a
    /// second time, the one still free is confirmed. The 20 € that bought nothing are credit, flagged.
    @Test func aLatePaymentConfirmsOnlyWhatItFrozeAndIsStillFree() async throws {
        try await withPortal(places: 1, payment: systemPayBlock, provider: systemPayProviders) { client, fixture in
            let parent = Browser(client)
            _ = try await parent.login("/petit", email: "parent@example.org", password: PortalFixture.password)
            // Staff opened a second place on day 1: only the child's new booking keeps the payment from it.
            let day1 = fixture.petit.center.periods[0].startsOn.adding(days: 1)
            try await fixture.execute("""
                UPDATE day_capacities SET places = 2 WHERE center_id = \(fixture.petit.id) AND day = \(day1.iso)::date
                """)
            for offset in 0..<3 { try await bookDays(parent, fixture: fixture, [offset]) }
            let form = try await startPayment(parent)
            #expect(form["vads_amount"] == "3000")
            // The bank takes its time: the attempt and then the hold run out.
            try await fixture.execute("UPDATE payment_attempts SET created_at = now() - interval '1 hour', live_until = now() - interval '50 minutes'")
            try await fixture.execute("UPDATE carts SET expires_at = now() - interval '1 minute'")
            // The neighbour takes day 0; the parent books day 1 again, in a new cart.
            let neighbour = Browser(client)
            _ = try await neighbour.login("/petit", email: "voisin@example.org", password: PortalFixture.password)
            try await bookDays(neighbour, fixture: fixture, [0])
            try await bookDays(parent, fixture: fixture, [1])
            #expect(try await fixture.reservationStates()
                    == [1: "expired", 2: "expired", 3: "expired", 4: "pending_payment", 5: "pending_payment"])

            #expect(try await notify(client, bankNotification(form)) == .ok)
            #expect(try await fixture.reservationStates()
                    == [1: "expired", 2: "expired", 3: "confirmed", 4: "pending_payment", 5: "pending_payment"])
            #expect(try await fixture.invoices() == [BilledInvoice("PET00001", 1000, [3])])
            #expect(try await fixture.attempts() == [AttemptSummary(3000, "paid", flag: "refund_due")])
            #expect(try await count(fixture, "SELECT count(*)::int FROM allocations WHERE amount_cents = 1000") == 1)
            #expect(try await fixture.credit() == 2000)
            let why = ["00001 (places taken)", "00002 (booked again)"]
            #expect(try await fixture.audited("payment.credit", saying: why) == 1)
            // Nobody overbooked, and the child does not hold day 1 twice.
            #expect(try await fixture.taken(days: 0...2) == [1, 1, 1])
            #expect(try await count(fixture, "SELECT count(*)::int FROM day_capacities WHERE taken > places") == 0)
            // The parent's new cart still waits for its own payment.
            #expect(try await fixture.lastCartState() == "open")
            let account = try await parent.get("/petit/compte")
            #expect(account.text.contains("Votre panier contient 1 réservation(s) pour 10,00 €"))
        }
    }

    /// Attempt 1 for day A dies (no news for longer than its lifetime); the parent adds day B and pays A+B
    /// by attempt 2; then attempt 1's payment comes. A is paid already: attempt 1's money is credit, flagged
    /// refund_due, not double_payment (that is for one attempt paid twice).
    @Test func aLatePaymentForDaysAnotherAttemptPaidBecomesACredit() async throws {
        try await withPortal(payment: systemPayBlock, provider: systemPayProviders) { client, fixture in
            let browser = Browser(client)
            let first = try await bookAndStartPayment(browser, fixture: fixture, days: 1)
            try await fixture.execute("UPDATE payment_attempts SET created_at = now() - interval '21 minutes', live_until = now() - interval '1 minute'")
            // Booking finds the attempt dead and the cart open again (its hold has not run out).
            try await bookDays(browser, fixture: fixture, [1])
            #expect(try await fixture.attempts() == [AttemptSummary(1000, "expired")])
            let second = try await startPayment(browser)
            #expect(second["vads_amount"] == "2000")
            #expect(try await notify(client, bankNotification(second, uuid: "u-second")) == .ok)
            #expect(try await fixture.reservationStates() == [1: "confirmed", 2: "confirmed"])

            #expect(try await notify(client, bankNotification(first, uuid: "u-first")) == .ok)
            #expect(try await fixture.reservationStates() == [1: "confirmed", 2: "confirmed"])
            #expect(try await fixture.invoices() == [BilledInvoice("PET00001", 2000, [1, 2])])
            #expect(try await fixture.attempts() == [AttemptSummary(1000, "paid", flag: "refund_due"),
                                                     AttemptSummary(2000, "paid")])
            #expect(try await fixture.credit() == 1000)
            #expect(try await fixture.lastCartState() == "paid")
            #expect(try await fixture.audited("payment.credit", saying: ["00001 (already confirmed)"]) == 1)
            let back = try await browser.get("/petit/paiement/retour?ref=\(first["vads_order_id"]!)")
            #expect(back.text.contains("crédit de votre compte"))
        }
    }
}
