import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import PortailDomain
import Testing
@testable import PortailApp
@testable import PortailStore

/// Money at the office beyond the payment form (issue 14, item 7): a credit applied to an open invoice,
/// a refund of the credit (a double click is one refund, never more than the credit), the flagged online
/// payments resolved, the monthly exports.
@Suite struct BackOfficeMoneyTests {
    let office = BackOfficeSignInTests()

    @Test func aManagerAppliesTheCreditToAnInvoiceAndRefundsTheRest() async throws {
        try await withPortal(payment: "", provider: { _ in nil }) { client, fixture in
            let parent = Browser(client)
            _ = try await parent.login("/petit", email: "parent@example.org", password: PortalFixture.password)
            try await office.bookInvoiced(parent, fixture, days: [0])
            try await office.bookInvoiced(parent, fixture, days: [1])
            let browser = try await office.signedInManager(client, fixture)
            let id = try await count(fixture, "SELECT id::int FROM families WHERE email = 'parent@example.org' AND center_id = \(fixture.petit.id)")
            let family = "/admin/centres/petit/familles/\(id)"
            // 15,00 € given to the first invoice only: 5,00 € of credit.
            let page = try await browser.get(family)
            let key = try #require(page.body.firstMatch(of: /name="cle" value="([A-Za-z0-9_-]+)"/)?.1)
            _ = try await browser.post(family + "/reglements", [("cle", String(key)), ("montant", "15,00"), ("moyen", "especes"), ("numero", ""), ("banque", ""),
                                                                ("facture_PET00001", "10,00"), ("facture_PET00002", "")])
            let withCredit = try await browser.get(family)
            #expect(withCredit.text.contains("Avoir disponible : 5,00") && withCredit.text.contains("Régler la facture PET00002 (reste dû 10,00"), "\(withCredit.text)")

            // A refund of 2,00 €; the same form twice is one refund; more than the credit is refused.
            let refundKey = try #require(withCredit.body.firstMatch(of: /name="rembourse_cle" value="([A-Za-z0-9_-]+)"/)?.1)
            let refund = [("rembourse_cle", String(refundKey)), ("rembourse", "2,00"), ("rembourse_moyen", "virement"), ("rembourse_reference", "VIR-42")]
            #expect(try await browser.post(family + "/remboursements", refund).location == family + "?etat=rembourse")
            _ = try await browser.post(family + "/remboursements", refund)
            #expect(try await count(fixture, "SELECT count(*)::int FROM invoices WHERE kind = 'refund' AND total_cents = 200") == 1)
            let fresh = try #require(try await browser.get(family).body.firstMatch(of: /name="rembourse_cle" value="([A-Za-z0-9_-]+)"/)?.1)
            let tooMuch = try await browser.post(family + "/remboursements", [("rembourse_cle", String(fresh)), ("rembourse", "9,00"), ("rembourse_moyen", "cheque")])
            #expect(tooMuch.status == .conflict && tooMuch.text.contains("La famille a 3,00"), "\(tooMuch.text)")

            // The 3,00 € left go to the second invoice.
            #expect(try await browser.post(family + "/avoir", [("facture", "PET00002")]).location == family + "?etat=avoir-utilise")
            #expect(try await count(fixture, "SELECT coalesce(sum(amount_cents), 0)::int FROM allocations a JOIN invoices i ON i.center_id = a.center_id AND i.id = a.invoice_id WHERE i.number = 'PET00002'") == 300)
            let after = try await browser.get(family + "?etat=avoir-utilise")
            #expect(after.text.contains("Avoir utilisé sur la facture") && after.text.contains("Reste dû : 7,00"))
            // No credit left: said.
            #expect(try await browser.post(family + "/avoir", [("facture", "PET00002")]).status == .conflict)
            #expect(try await count(fixture, "SELECT count(*)::int FROM audit_log WHERE action = 'credit.apply'") == 1)

            // The month's export has the invoices, the payment and the refund.
            let exports = try await browser.get("/admin/centres/petit/exports")
            let month = String(LocalDate(Date(), in: fixture.petit.center.zone).iso.prefix(7))
            #expect(exports.body.contains("factures-paiements.csv?mois=\(month)"))
            let csv = try await browser.get("/admin/centres/petit/exports/factures-paiements.csv?mois=\(month)")
            #expect(csv.status == .ok && csv.body.contains("PET00001") && csv.body.contains("remboursement") && csv.body.contains("15,00"), "\(csv.body)")
            #expect(try await browser.get("/admin/centres/petit/exports/soldes.csv").body.contains("parent@example.org"))
            #expect(try await browser.get("/admin/centres/autre/exports/soldes.csv").status == .notFound)

            // A month's days are the center's (Europe/Paris), not the database's: an invoice of 00:30 on the first of
            // next month is next month's, one of 23:30 on the last day is this month's, each under its own day.
            let zone = fixture.petit.center.zone
            let today = LocalDate(Date(), in: zone)
            let nextMonth = try #require(LocalDate(year: today.year, month: today.month, day: 1)).adding(days: LocalDate.daysIn(month: today.month, year: today.year))
            let lastDay = nextMonth.adding(days: -1)
            try await fixture.execute("UPDATE invoices SET issued_at = \(nextMonth.instant(at: LocalTime(hour: 0, minute: 30)!, in: zone)) WHERE number = 'PET00001'")
            try await fixture.execute("UPDATE invoices SET issued_at = \(lastDay.instant(at: LocalTime(hour: 23, minute: 30)!, in: zone)) WHERE number = 'PET00002'")
            let this = try await browser.get("/admin/centres/petit/exports/factures-paiements.csv?mois=\(month)").body
            let next = try await browser.get("/admin/centres/petit/exports/factures-paiements.csv?mois=\(nextMonth.iso.prefix(7))").body
            #expect(!this.contains("PET00001") && this.contains("\(lastDay.french);facture;PET00002"), "\(this)")
            #expect(next.contains("\(nextMonth.french);facture;PET00001") && !next.contains("PET00002"), "\(next)")
        }
    }

    @Test func aFlaggedOnlinePaymentIsResolvedByAManagerNotByTheTeam() async throws {
        try await withPortal(payment: systemPayBlock, provider: systemPayProviders) { client, fixture in
            let form = try await bookAndStartPayment(Browser(client), fixture: fixture)
            #expect(try await notify(client, bankNotification(form, amount: "100")) == .ok)
            let reference = try #require(try await fixture.database.owner.withConnection { c in
                try await c.first("SELECT reference FROM payment_attempts WHERE flag = 'amount_mismatch'", (String.self), logger: fixture.database.logger)
            })
            try await office.invitedManager(client, fixture, email: "animateur@petit.example.org", role: "staff")
            let team = Browser(client)
            _ = try await office.signIn(team, email: "animateur@petit.example.org")
            let seen = try await team.get("/admin/centres/petit/paiements")
            #expect(seen.status == .ok && seen.text.contains(reference) && seen.text.contains("montant différent") && !seen.text.contains("Marquer comme résolu"))
            #expect(try await team.post("/admin/centres/petit/paiements/\(reference)/resoudre", [("resolution", "x")]).status == .forbidden)

            let manager = try await office.signedInManager(client, fixture)
            #expect(try await manager.post("/admin/centres/petit/paiements/\(reference)/resoudre", [("resolution", "")]).status == .unprocessableContent)
            let resolved = try await manager.post("/admin/centres/petit/paiements/\(reference)/resoudre", [("resolution", "Remboursé par la banque")])
            #expect(resolved.location == "/admin/centres/petit/paiements?etat=resolu")
            #expect(try await count(fixture, "SELECT count(*)::int FROM payment_attempts WHERE reference = '\(reference)' AND resolution = 'Remboursé par la banque'") == 1)
            #expect(try await manager.get("/admin/centres/petit/paiements").text.contains("Aucun paiement signalé"))
            #expect(try await manager.get("/admin/centres/petit/paiements?tous=oui").text.contains("Remboursé par la banque"))
            #expect(try await manager.post("/admin/centres/petit/paiements/\(reference)/resoudre", [("resolution", "encore")]).status == .conflict)
        }
    }
}
