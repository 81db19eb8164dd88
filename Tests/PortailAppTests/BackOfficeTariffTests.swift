import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import PortailDomain
import Testing
@testable import PortailApp
@testable import PortailStore

/// The back office's tariffs (issue 14, item 4): per-unit prices, combinations, QF brackets, sibling
/// prices and categories in a form; what three sample families pay shown before saving; a change is a
/// new version that prices new bookings only.
@Suite struct BackOfficeTariffTests {
    let office = BackOfficeSignInTests()

    /// The form as the page gives it, with `changes` typed over it.
    func filled(_ page: Browser.Page, _ changes: [String: String]) throws -> [(String, String)] {
        var fields: [(String, String)] = []
        for match in page.body.matches(of: /<input(?: type="(?:hidden|date)")? (?:id="[^"]*" )?name="([^"]+)" value="([^"]*)"/) {
            let name = String(match.1)
            guard name != "csrf" else { continue }
            fields.append((name, changes[name] ?? String(match.2).replacingOccurrences(of: "&#39;", with: "'")))
        }
        for match in page.body.matches(of: /<select id="([a-z_]+)" name="[^"]+">.*?<option value="([^"]+)" selected>/) {
            fields.append((String(match.1), changes[String(match.1)] ?? String(match.2)))
        }
        for (name, value) in changes where !fields.contains(where: { $0.0 == name }) { fields.append((name, value)) }
        return fields
    }

    @Test func aManagerChangesPricesSeeingWhatSampleFamiliesPayAndANewVersionPricesNewBookings() async throws {
        try await withPortal(payment: "", provider: { _ in nil }) { client, fixture in
            let browser = try await office.signedInManager(client, fixture)
            let list = try await browser.get("/admin/centres/petit/tarifs")
            #expect(list.status == .ok && list.text.contains("base") && list.text.contains("dégressif selon le rang"))
            let page = try await browser.get("/admin/centres/petit/tarifs/base")
            #expect(page.text.contains("Famille B : QF 1 100, deux enfants") && page.text.contains("10,00 € puis 8,00 €"), "\(page.text)")

            // The sibling grid: the 1st child's day from 10,00 to 12,00.
            let form = try await browser.get("/admin/centres/petit/tarifs/base/modifier")
            #expect(form.status == .ok && form.body.contains("name=\"g0_c0_r0\" value=\"10,00\""), "\(form.body)")
            let fields = try filled(form, ["g0_c0_r0": "12,00", "etape": "apercu"])
            let preview = try await browser.post("/admin/centres/petit/tarifs/base/modifier", fields)
            #expect(preview.status == .ok, "\(preview.text)")
            #expect(preview.text.contains("Grille générale, Journée, 1er enfant : 10,00 € → 12,00 €"), "\(preview.text)")
            #expect(preview.text.contains("12,00 € (avant : 10,00 €)") && preview.text.contains("nouvelle version"))
            #expect(try await count(fixture, "SELECT count(*)::int FROM tariffs WHERE center_id = \(fixture.petit.id) AND code = 'base'") == 1)

            // A price that is not one: said with its row and column.
            let wrong = try await browser.post("/admin/centres/petit/tarifs/base/modifier", try filled(form, ["g0_c0_r0": "douze", "etape": "apercu"]))
            #expect(wrong.status == .unprocessableContent && wrong.text.contains("Journée, 1er enfant : « douze » n'est pas un prix"), "\(wrong.text)")

            let saved = try await browser.post("/admin/centres/petit/tarifs/base/modifier", fields.map { $0.0 == "etape" ? ("etape", "enregistrer") : $0 })
            #expect(saved.status == .seeOther && saved.location == "/admin/centres/petit/tarifs/base?etat=enregistre")
            #expect(try await count(fixture, "SELECT max(version)::int FROM tariffs WHERE center_id = \(fixture.petit.id) AND code = 'base'") == 2)
            #expect(try await browser.get(try #require(saved.location)).text.contains("Version 2"))

            // A new booking is priced by the new version.
            let parent = Browser(client)
            _ = try await parent.login("/petit", email: "parent@example.org", password: PortalFixture.password)
            try await office.bookInvoiced(parent, fixture, days: [0])
            #expect(try await count(fixture, "SELECT total_cents::int FROM invoices WHERE center_id = \(fixture.petit.id) ORDER BY id DESC LIMIT 1") == 1200)
        }
    }

    @Test func aQFTariffIsCreatedFromTheFormWithABracketPerColumn() async throws {
        try await withPortal(payment: "", provider: { _ in nil }) { client, fixture in
            let browser = try await office.signedInManager(client, fixture)
            let empty = try await browser.get("/admin/centres/petit/nouveau-tarif")
            #expect(empty.status == .ok)
            // Switching the model lays the grid out for it.
            let qfForm = try await browser.post("/admin/centres/petit/nouveau-tarif", try filled(empty, ["modele": "qf", "etape": "modele", "libelle": "Tarif QF"]))
            #expect(qfForm.status == .ok && qfForm.body.contains("name=\"g0_c0_min\""), "\(qfForm.body)")
            // Two brackets: QF up to 700, then from 701 (and families without QF).
            let fields = try filled(qfForm, ["g0_c0_max": "700", "g0_c0_r0": "8,00", "g0_c0_r1": "4,00", "g0_c0_r2": "4,00",
                                             "g0_c1_min": "701", "g0_c1_r0": "14", "g0_c1_r1": "7", "g0_c1_r2": "7", "etape": "apercu"])
            let preview = try await browser.post("/admin/centres/petit/nouveau-tarif", fields)
            #expect(preview.status == .ok && preview.text.contains("Nouveau tarif « Tarif QF », selon le quotient familial"), "\(preview.text)")
            // Famille A (QF 450) pays the first bracket, B (QF 1 100) and C (no QF) the last.
            #expect(preview.text.contains("8,00 €") && preview.text.contains("14,00 € par enfant"), "\(preview.text) \(fields)")
            let saved = try await browser.post("/admin/centres/petit/nouveau-tarif", fields.map { $0.0 == "etape" ? ("etape", "enregistrer") : $0 })
            #expect(saved.status == .seeOther && saved.location == "/admin/centres/petit/tarifs/tarif-qf?etat=enregistre", "\(saved.text)")
            #expect(try await count(fixture, "SELECT count(*)::int FROM tariffs WHERE center_id = \(fixture.petit.id) AND code = 'tarif-qf' AND model = 'qf'") == 1)
            // Overlapping brackets are refused in French.
            let overlap = try await browser.post("/admin/centres/petit/tarifs/tarif-qf/modifier",
                                                 try filled(try await browser.get("/admin/centres/petit/tarifs/tarif-qf/modifier"), ["g0_c1_min": "600", "etape": "apercu"]))
            #expect(overlap.status == .unprocessableContent && overlap.text.contains("Les tranches de QF se chevauchent"), "\(overlap.text)")
            // The team reads tariffs but changes none.
            #expect(try await browser.get("/admin/centres/autre/tarifs").status == .notFound)
        }
    }
}
