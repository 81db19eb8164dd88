import Foundation
import Hummingbird
import HummingbirdTesting
import PortailDomain
import PortailTestSupport
import Testing
@testable import PortailApp
@testable import PortailStore

/// The id of the family with `email` at `center`, as the admin API lists it.
func familyID(_ client: any TestClientProtocol, _ token: String, center: String = "petit", email: String = "parent@example.org") async throws -> Int {
    let families = try await apiJSON(client, .get, "/api/centers/\(center)/families", token: token)
    return try #require((families.json["families"] as? [[String: Any]])?.first { $0["email"] as? String == email }?["id"] as? Int)
}

/// Families, reservations, invoicing, refunds and flagged payments through the staff API.
@Suite struct StaffOperationsTests {
    @Test func staffEditFamiliesQuotientsAndDeactivateThem() async throws {
        try await withPortal { client, fixture in
            let admin = try await staffToken(fixture, email: "admin@federation.example.org", federationAdmin: true)
            let staff = try await invitedToken(client, fixture, center: "petit", email: "equipe@petit.example.org", role: "manager", by: admin)
            let id = try await familyID(client, staff)
            let other = try await familyID(client, admin, center: "autre")

            let edited = try await apiJSON(client, .patch, "/api/centers/petit/families/\(id)", token: staff, json: #"{"name": "FAMILLE JULES-MARTIN", "phone": "06 12 34 56 78", "city": "Opio"}"#)
            #expect(edited.status == .ok)
            #expect(edited.json["name"] as? String == "FAMILLE JULES-MARTIN" && edited.json["city"] as? String == "Opio")
            #expect(try await apiJSON(client, .patch, "/api/centers/petit/families/\(id)", token: staff, json: #"{"email": "pas-un-courriel"}"#).status == .unprocessableContent)
            #expect(try await apiJSON(client, .patch, "/api/centers/petit/families/\(id)", token: staff, json: #"{"email": "voisin@example.org"}"#).status == .conflict)
            let category = try await apiJSON(client, .patch, "/api/centers/petit/families/\(id)", token: staff, json: #"{"category": "hors-commune"}"#)
            #expect(category.status == .unprocessableContent && (category.json["detail"] as? String)?.contains("tariff categories") == true)
            // Another center's family is not found through this center, nor is this center for the staff of another.
            #expect(try await apiJSON(client, .get, "/api/centers/petit/families/\(other)", token: staff).status == .notFound)
            #expect(try await apiJSON(client, .patch, "/api/centers/petit/families/\(other)", token: staff, json: #"{"name": "X"}"#).status == .notFound)
            #expect(try await apiJSON(client, .get, "/api/centers/autre/families/\(other)", token: staff).status == .notFound)
            #expect(try await count(fixture, "SELECT count(*)::int FROM families WHERE name = 'X'") == 0)

            // QF with validity dates: a new one ends the open-ended one the day before.
            let first = try await apiJSON(client, .post, "/api/centers/petit/families/\(id)/quotients", token: staff, json: #"{"quotient": 650, "valid_from": "2026-01-01"}"#)
            #expect(first.status == .created)
            let second = try await apiJSON(client, .post, "/api/centers/petit/families/\(id)/quotients", token: staff, json: #"{"quotient": 720, "valid_from": "2027-01-01", "source": "CAF"}"#)
            let quotients = try #require(second.json["quotients"] as? [[String: Any]])
            #expect(quotients.count == 2 && quotients[0]["valid_to"] as? String == "2026-12-31" && quotients[1]["quotient"] as? Int == 720)
            let overlap = try await apiJSON(client, .post, "/api/centers/petit/families/\(id)/quotients", token: staff, json: #"{"quotient": 500, "valid_from": "2026-06-01", "valid_to": "2026-07-31"}"#)
            #expect(overlap.status == .conflict)
            let backwards = try await apiJSON(client, .post, "/api/centers/petit/families/\(id)/quotients", token: staff, json: #"{"quotient": 500, "valid_from": "2026-06-01", "valid_to": "2026-05-31"}"#)
            #expect(backwards.status == .unprocessableContent)

            // Children: added and corrected.
            let child = try await apiJSON(client, .post, "/api/centers/petit/families/\(id)/children", token: staff, json: #"{"first_name": "LÉA", "last_name": "X", "birth_date": "2020-05-06"}"#)
            #expect(child.status == .created)
            let childID = try #require(child.json["id"] as? Int)
            #expect(try await apiJSON(client, .patch, "/api/centers/petit/families/\(id)/children/\(childID)", token: staff, json: #"{"birth_date": "2020-06-05"}"#).status == .noContent)
            #expect(try await count(fixture, "SELECT count(*)::int FROM children WHERE id = \(childID) AND birth_date = '2020-06-05'") == 1)
            #expect(try await apiJSON(client, .patch, "/api/centers/petit/families/\(other)/children/\(childID)", token: staff, json: #"{"first_name": "Y"}"#).status == .notFound)

            // Deactivated: the open session ends and the login is refused; reactivated, it works again.
            let parent = Browser(client)
            _ = try await parent.login("/petit", email: "parent@example.org", password: PortalFixture.password)
            #expect(try await parent.get("/petit/compte").status == .ok)
            let deactivated = try await apiJSON(client, .post, "/api/centers/petit/families/\(id)/deactivate", token: staff)
            #expect(deactivated.json["state"] as? String == "deactivated")
            #expect(try await parent.get("/petit/compte").status == .seeOther)
            #expect(try await Browser(client).login("/petit", email: "parent@example.org", password: PortalFixture.password).status != .seeOther)
            let reactivated = try await apiJSON(client, .post, "/api/centers/petit/families/\(id)/reactivate", token: staff)
            #expect(reactivated.json["state"] as? String == "active")
            #expect(try await Browser(client).login("/petit", email: "parent@example.org", password: PortalFixture.password).status == .seeOther)
            #expect(try await apiJSON(client, .post, "/api/centers/petit/families/\(id)/invitation", token: staff).status == .conflict)

            let audit = try await apiJSON(client, .get, "/api/centers/petit/audit", token: staff)
            let update = (audit.json["entries"] as? [[String: Any]])?.first { $0["action"] as? String == "family.update" }
            #expect((update?["before"] as? String)?.contains("FAMILLE JULES\"") == true && (update?["after"] as? String)?.contains("JULES-MARTIN") == true)
        }
    }

    @Test func staffBookForAFamilyInvoiceAndRefundItsCredit() async throws {
        try await withPortal(payment: "", provider: { _ in nil }) { client, fixture in
            let admin = try await staffToken(fixture, email: "admin@federation.example.org", federationAdmin: true)
            let id = try await familyID(client, admin)
            let children = try await apiJSON(client, .get, "/api/centers/petit/families/\(id)", token: admin)
            let child = try #require((children.json["children"] as? [[String: Any]])?.first?["id"] as? Int)
            let first = fixture.petit.center.periods[0].startsOn

            // Booked by the office, confirmed at once, invoiced later.
            let booking = #"{"family_id": \#(id), "child_id": \#(child), "period": "vacances", "invoice": false, "days": [{"day": "\#(first.iso)", "units": ["journee"]}, {"day": "\#(first.adding(days: 1).iso)", "units": ["matin"]}]}"#
            let booked = try await apiJSON(client, .post, "/api/centers/petit/reservations", token: admin, json: booking)
            #expect(booked.status == .created, "\(booked.json)")
            #expect(booked.json["state"] as? String == "confirmed" && booked.json["total_cents"] as? Int == 1600 && booked.json["invoice"] == nil)
            #expect(try await apiJSON(client, .post, "/api/centers/petit/reservations", token: admin, json: booking).status == .conflict)  // already booked
            let foreign = booking.replacingOccurrences(of: "\"child_id\": \(child)", with: "\"child_id\": 999999")
            #expect(try await apiJSON(client, .post, "/api/centers/petit/reservations", token: admin, json: foreign).status == .notFound)

            // The list by period and day, with filters.
            let list = try await apiJSON(client, .get, "/api/centers/petit/reservations?period=vacances&day=\(first.adding(days: 1).iso)", token: admin)
            #expect(list.status == .ok, "\(list.json)")
            let rows = try #require(list.json["reservations"] as? [[String: Any]])
            #expect(rows.count == 1 && list.json["total"] as? Int == 1)
            #expect((rows[0]["days"] as? [String: [String]]) == [first.iso: ["journee"], first.adding(days: 1).iso: ["matin"]])
            #expect(rows[0]["state"] as? String == "confirmed" && rows[0]["invoice"] == nil)
            #expect((try await apiJSON(client, .get, "/api/centers/petit/reservations?state=cancelled", token: admin).json["total"] as? Int) == 0)
            let secondPage = try await apiJSON(client, .get, "/api/centers/petit/reservations?per_page=1&page=2", token: admin)
            #expect((secondPage.json["reservations"] as? [Any])?.isEmpty == true && secondPage.json["total"] as? Int == 1)
            #expect(try await apiJSON(client, .get, "/api/centers/petit/reservations?per_page=500", token: admin).status == .unprocessableContent)
            #expect(try await apiJSON(client, .get, "/api/centers/petit/reservations?period=inconnue", token: admin).status == .notFound)
            #expect(try await apiJSON(client, .get, "/api/centers/petit/reservations?day=demain", token: admin).status == .unprocessableContent)

            // Invoicing of what is confirmed and not invoiced; a second run finds nothing.
            let invoicing = try await apiJSON(client, .post, "/api/centers/petit/invoices", token: admin, json: "{}")
            #expect(invoicing.status == .created)
            #expect((invoicing.json["invoices"] as? [[String: Any]])?.first?["total_cents"] as? Int == 1600)
            let again = try await apiJSON(client, .post, "/api/centers/petit/invoices", token: admin, json: "{}")
            #expect(again.status == .ok && (again.json["invoices"] as? [Any])?.isEmpty == true)

            // The family pays 50 € by cheque: 16 € settle the invoice, 34 € are credit; 20 € are refunded.
            let cheque = #"{"family_id": \#(id), "method": "cheque", "amount_cents": 5000, "reference": "0001234", "bank": "Crédit Agricole", "allocations": [{"invoice": "PET00001", "amount_cents": 1600}]}"#
            #expect(try await apiJSON(client, .post, "/api/centers/petit/payments", token: admin, json: cheque, headers: [.init("Idempotency-Key")!: "chq-1"]).status == .created)
            let tooMuch = try await apiJSON(client, .post, "/api/centers/petit/refunds", token: admin, json: #"{"family_id": \#(id), "amount_cents": 3500, "method": "virement"}"#, headers: [.init("Idempotency-Key")!: "r-0"])
            #expect(tooMuch.status == .conflict && (tooMuch.json["detail"] as? String)?.contains("34,00\u{00A0}€") == true, "\(tooMuch.json)")
            let refundBody = #"{"family_id": \#(id), "amount_cents": 2000, "method": "virement", "reference": "VIR-77"}"#
            #expect(try await apiJSON(client, .post, "/api/centers/petit/refunds", token: admin, json: refundBody).status == .badRequest)
            let refund = try await apiJSON(client, .post, "/api/centers/petit/refunds", token: admin, json: refundBody, headers: [.init("Idempotency-Key")!: "r-1"])
            #expect(refund.status == .created && refund.json["number"] as? String == "PET-R00001", "\(refund.json)")
            let retry = try await apiJSON(client, .post, "/api/centers/petit/refunds", token: admin, json: refundBody, headers: [.init("Idempotency-Key")!: "r-1"])
            #expect(retry.json["number"] as? String == "PET-R00001")
            #expect(try await count(fixture, "SELECT count(*)::int FROM invoices WHERE kind = 'refund'") == 1)
            let parent = Browser(client)
            _ = try await parent.login("/petit", email: "parent@example.org", password: PortalFixture.password)
            let ledger = try await parent.get("/petit/factures")
            #expect(ledger.text.contains("Remboursement n° PET-R00001"))
            #expect(ledger.text.contains("Paiement n° 0001234 Crédit Agricole (par CHÈQUE)"))
            #expect(ledger.text.contains("14,00 €"))  // the credit left
            let document = try await parent.get("/petit/factures/PET-R00001")
            #expect(document.status == .ok && document.text.contains("Remboursement de l'avoir (par VIREMENT) – réf. VIR-77"))

            // No place left: the office cannot overbook either.
            #expect(try await apiJSON(client, .patch, "/api/centers/petit/periods/vacances", token: admin, json: #"{"places": {"matin": 1, "apres-midi": 1}}"#).status == .ok)
            let voisin = try await familyID(client, admin, email: "voisin@example.org")
            let voisinChild = try #require((try await apiJSON(client, .get, "/api/centers/petit/families/\(voisin)", token: admin).json["children"] as? [[String: Any]])?.first?["id"] as? Int)
            let full = try await apiJSON(client, .post, "/api/centers/petit/reservations", token: admin, json: #"{"family_id": \#(voisin), "child_id": \#(voisinChild), "period": "vacances", "days": [{"day": "\#(first.iso)", "units": ["matin"]}]}"#)
            #expect(full.status == .conflict && (full.json["detail"] as? String)?.contains(first.iso) == true)
        }
    }

    @Test func flaggedPaymentAttemptsAreListedAndResolved() async throws {
        try await withPortal(payment: systemPayBlock, provider: systemPayProviders) { client, fixture in
            let admin = try await staffToken(fixture, email: "admin@federation.example.org", federationAdmin: true)
            let form = try await bookAndStartPayment(Browser(client), fixture: fixture, days: 1)
            #expect(try await notify(client, bankNotification(form, amount: "1")) == .ok)
            let flagged = try await apiJSON(client, .get, "/api/centers/petit/payment-attempts", token: admin)
            let attempts = try #require(flagged.json["attempts"] as? [[String: Any]])
            #expect(attempts.count == 1 && attempts[0]["flag"] as? String == "amount_mismatch" && attempts[0]["reference"] as? String == form["vads_order_id"])
            #expect((try await apiJSON(client, .get, "/api/centers/autre/payment-attempts", token: admin).json["attempts"] as? [Any])?.isEmpty == true)
            let reference = try #require(attempts[0]["reference"] as? String)
            #expect(try await apiJSON(client, .post, "/api/centers/petit/payment-attempts/\(reference)/resolve", token: admin, json: #"{"resolution": "  "}"#).status == .unprocessableContent)
            #expect(try await apiJSON(client, .post, "/api/centers/petit/payment-attempts/\(reference)/resolve", token: admin, json: #"{"resolution": "Vu avec la banque : transaction annulée."}"#).status == .noContent)
            #expect((try await apiJSON(client, .get, "/api/centers/petit/payment-attempts", token: admin).json["attempts"] as? [Any])?.isEmpty == true)
            let all = try await apiJSON(client, .get, "/api/centers/petit/payment-attempts?all=true", token: admin)
            #expect((all.json["attempts"] as? [[String: Any]])?.first?["resolution"] as? String == "Vu avec la banque : transaction annulée.")
            #expect(try await apiJSON(client, .post, "/api/centers/petit/payment-attempts/\(reference)/resolve", token: admin, json: #"{"resolution": "encore"}"#).status == .notFound)
        }
    }
}
