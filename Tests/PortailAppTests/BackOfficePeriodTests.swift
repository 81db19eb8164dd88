import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import PortailDomain
import Testing
@testable import PortailApp
@testable import PortailStore

/// The back office's periods (issue 14, item 3): created from a form or duplicated a year on, every
/// change previewed in French before it is saved; places of a day below what is taken refused with the
/// numbers, or forced with a reason the audit log keeps; closed and reopened; managers only.
@Suite struct BackOfficePeriodTests {
    let office = BackOfficeSignInTests()

    /// Posts the preview's "Enregistrer" form as the browser would: its hidden fields, as the page gives them.
    func confirm(_ browser: Browser, _ preview: Browser.Page) async throws -> Browser.Page {
        let form = try #require(preview.body.firstMatch(of: /<form method="post" action="([^"]+)">((?:(?!<\/form>)[\s\S])*?name="etape" value="enregistrer"[\s\S]*?)<\/form>/))
        var fields: [(String, String)] = []
        for input in form.2.matches(of: /<input type="hidden" name="([^"]+)" value="([^"]*)">/) where input.1 != "csrf" {
            let value = String(input.2).replacingOccurrences(of: "&#39;", with: "'").replacingOccurrences(of: "&quot;", with: "\"")
                .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">").replacingOccurrences(of: "&amp;", with: "&")
            fields.append((String(input.1), value))
        }
        return try await browser.post(String(form.1), fields)
    }

    func periodFields(label: String, from: LocalDate, to: LocalDate, units: [String] = ["journee", "matin"], places: String = "12") -> [(String, String)] {
        [("libelle", label), ("code", ""), ("groupe", "enfants"), ("debut", from.iso), ("fin", to.iso),
         ("jours", "lundi"), ("jours", "mardi"), ("jours", "jeudi"), ("jours", "vendredi"), ("fermes", ""),
         ("places_matin", places), ("places_apres-midi", places), ("tarif", "base"),
         ("ouverture", "2026-01-04T08:00"), ("cloture", ""), ("delai_jours", "2"), ("delai_heure", "12:00"), ("delai_weekends", "oui"),
         ("delai_jour_semaine", "")] + units.map { ("formules", $0) }
    }

    @Test func aManagerCreatesAPeriodFromTheFormAfterSeeingWhatItAdds() async throws {
        try await withPortal(payment: "", provider: { _ in nil }) { client, fixture in
            let browser = try await office.signedInManager(client, fixture)
            let vacances = fixture.petit.center.periods[0]
            let list = try await browser.get("/admin/centres/petit/periodes")
            #expect(list.status == .ok && list.text.contains("Vacances") && list.text.contains("Créer une période"))
            #expect(try await browser.get("/admin/centres/petit/nouvelle-periode").text.contains("Nouvelle période"))

            // What to fix, in French, with the fields as typed kept.
            var wrong = periodFields(label: "Hiver", from: vacances.endsOn.adding(days: 20), to: vacances.endsOn.adding(days: 10), units: [])
            wrong.removeAll { $0.0 == "places_matin" }
            let refused = try await browser.post("/admin/centres/petit/nouvelle-periode", wrong + [("places_matin", "beaucoup")])
            #expect(refused.status == .unprocessableContent)
            #expect(refused.text.contains("Cochez au moins une formule proposée") && refused.text.contains("« beaucoup » n'en est pas un nombre"), "\(refused.text)")
            #expect(refused.body.contains("value=\"Hiver\""))
            let backwards = try await browser.post("/admin/centres/petit/nouvelle-periode",
                                                   periodFields(label: "Hiver", from: vacances.endsOn.adding(days: 20), to: vacances.endsOn.adding(days: 10)))
            #expect(backwards.status == .unprocessableContent && backwards.text.contains("est avant la date de début"), "\(backwards.text)")
            let overlapping = try await browser.post("/admin/centres/petit/nouvelle-periode",
                                                     periodFields(label: "Hiver", from: vacances.endsOn, to: vacances.endsOn.adding(days: 10)))
            #expect(overlapping.status == .unprocessableContent && overlapping.text.contains("chevauchent la période « Vacances »"), "\(overlapping.text)")

            // A valid form is previewed: nothing is written until "Enregistrer".
            let from = vacances.endsOn.adding(days: 10), to = vacances.endsOn.adding(days: 20)
            let fields = periodFields(label: "Vacances d'hiver", from: from, to: to)
            let preview = try await browser.post("/admin/centres/petit/nouvelle-periode", fields)
            #expect(preview.status == .ok && preview.text.contains("Nouvelle période « Vacances d'hiver » du \(from.french) au \(to.french)"), "\(preview.text)")
            #expect(try await count(fixture, "SELECT count(*)::int FROM periods WHERE center_id = \(fixture.petit.id)") == 1)
            let saved = try await confirm(browser, preview)
            #expect(saved.status == .seeOther && saved.location == "/admin/centres/petit/periodes/vacances-d-hiver?etat=enregistre", "\(saved.text)")
            #expect(try await count(fixture, "SELECT count(*)::int FROM periods WHERE center_id = \(fixture.petit.id) AND code = 'vacances-d-hiver'") == 1)
            let page = try await browser.get(try #require(saved.location))
            #expect(page.text.contains("Les changements sont enregistrés") && page.text.contains("J-2 à 12h00 (week-ends non comptés)"))
            // Served at once: the families see it.
            let parent = Browser(client)
            _ = try await parent.login("/petit", email: "parent@example.org", password: PortalFixture.password)
            #expect(try await parent.get("/petit/reservations/nouvelle").text.contains("Vacances d'hiver"))
            // The audit log names who did it.
            #expect(try await count(fixture, "SELECT count(*)::int FROM audit_log WHERE action = 'period.create' AND actor = 'staff:directrice@petit.example.org'") == 1)

            // Changing it: the preview says what changes, in the form's words.
            let edit = try await browser.get("/admin/centres/petit/periodes/vacances-d-hiver/modifier")
            #expect(edit.status == .ok && edit.text.contains("Modifier « Vacances d"))
            let changed = periodFields(label: "Vacances d'hiver", from: from, to: to, places: "10").map { $0.0 == "fermes" ? ($0.0, from.adding(days: 1).french) : $0 }
            let changePreview = try await browser.post("/admin/centres/petit/periodes/vacances-d-hiver/modifier", changed)
            #expect(changePreview.text.contains("Places par jour (Matin) : 12 → 10") && changePreview.text.contains("Jour(s) fermé(s) en plus : \(from.adding(days: 1).french)"),
                    "\(changePreview.text)")

            // A year on: the copy's dates are 52 weeks later, its name a year on.
            let copy = try await browser.get("/admin/centres/petit/nouvelle-periode?depuis=vacances")
            #expect(copy.body.contains("value=\"\(vacances.startsOn.adding(days: 364).iso)\"") && copy.text.contains("Copie de « Vacances »"))
            // The copy keeps what the form does not show: the parents' cancellation rule.
            let next = periodFields(label: "Vacances 2", from: vacances.startsOn.adding(days: 364), to: vacances.endsOn.adding(days: 364)) + [("depuis", "vacances")]
            let copied = try await confirm(browser, try await browser.post("/admin/centres/petit/nouvelle-periode", next))
            #expect(copied.status == .seeOther, "\(copied.text)")
            #expect(try await count(fixture, "SELECT count(*)::int FROM periods WHERE center_id = \(fixture.petit.id) AND code = 'vacances-2' AND cancellation IS NOT NULL") == 1)
        }
    }

    @Test func placesBelowWhatIsTakenAreRefusedWithTheNumbersOrForcedWithAReason() async throws {
        try await withPortal(payment: "", provider: { _ in nil }) { client, fixture in
            let parent = Browser(client)
            _ = try await parent.login("/petit", email: "parent@example.org", password: PortalFixture.password)
            try await office.bookInvoiced(parent, fixture, days: [0])
            let browser = try await office.signedInManager(client, fixture)
            let first = fixture.petit.center.periods[0].startsOn, third = first.adding(days: 2)
            let page = try await browser.get("/admin/centres/petit/periodes/vacances")
            #expect(page.status == .ok && page.body.contains("name=\"j_\(first.iso)_matin\" value=\"3\"") && page.text.contains("1 prise(s)"))

            // One click on a free day: previewed, then saved.
            let lower = [("j_\(third.iso)_matin", "1")]
            let preview = try await browser.post("/admin/centres/petit/periodes/vacances/places", lower)
            #expect(preview.status == .ok && preview.text.contains("(Matin) : 3 → 1"), "\(preview.text)")
            // Saved without the preview's check values: the preview again, nothing written.
            let unseen = try await browser.post("/admin/centres/petit/periodes/vacances/places", lower + [("etape", "enregistrer")])
            #expect(unseen.status == .conflict && unseen.text.contains("ont changé depuis votre vérification"))
            #expect(try await count(fixture, "SELECT places FROM day_capacities WHERE center_id = \(fixture.petit.id) AND day = '\(third.iso)' AND unit = 'matin'") == 3)
            let saved = try await confirm(browser, preview)
            #expect(saved.status == .seeOther)
            #expect(try await count(fixture, "SELECT places FROM day_capacities WHERE center_id = \(fixture.petit.id) AND day = '\(third.iso)' AND unit = 'matin'") == 1)

            // Below what is taken: refused with the numbers, nothing written.
            let below = [("j_\(first.iso)_matin", "0"), ("j_\(third.iso)_matin", "1")]
            let refused = try await browser.post("/admin/centres/petit/periodes/vacances/places", below)
            #expect(refused.status == .conflict && refused.text.contains("1 place(s) déjà prise(s) pour 0 demandée(s)"), "\(refused.text)")
            #expect(refused.text.contains("Forcer le changement"))
            let noReason = try await browser.post("/admin/centres/petit/periodes/vacances/places", below + [("forcer", "oui"), ("raison", "")])
            #expect(noReason.status == .unprocessableContent && noReason.text.contains("Indiquez pourquoi"))
            #expect(try await count(fixture, "SELECT places FROM day_capacities WHERE center_id = \(fixture.petit.id) AND day = '\(first.iso)' AND unit = 'matin'") == 3)
            // Forced with a reason: previewed with the day named, then saved; the audit log keeps the reason.
            let forcedPreview = try await browser.post("/admin/centres/petit/periodes/vacances/places", below + [("forcer", "oui"), ("raison", "Sortie piscine")])
            #expect(forcedPreview.status == .ok && forcedPreview.text.contains("moins de places que d'enfants déjà inscrits"), "\(forcedPreview.text)")
            let forced = try await confirm(browser, forcedPreview)
            #expect(forced.status == .seeOther, "\(forced.text)")
            #expect(try await count(fixture, "SELECT places FROM day_capacities WHERE center_id = \(fixture.petit.id) AND day = '\(first.iso)' AND unit = 'matin'") == 0)
            #expect(try await count(fixture, "SELECT count(*)::int FROM audit_log WHERE action = 'capacity.force' AND after->>'reason' = 'Sortie piscine' AND after::text LIKE '%\(first.iso) matin%'") == 1)

            // Closed, then reopened.
            #expect(try await browser.post("/admin/centres/petit/periodes/vacances/fermer", []).location == "/admin/centres/petit/periodes/vacances?etat=ferme")
            #expect(try await count(fixture, "SELECT count(*)::int FROM periods WHERE center_id = \(fixture.petit.id) AND code = 'vacances' AND state = 'closed'") == 1)
            #expect(try await browser.get("/admin/centres/petit/periodes/vacances?etat=ferme").text.contains("Rouvrir aux réservations"))
            _ = try await browser.post("/admin/centres/petit/periodes/vacances/rouvrir", [])
            #expect(try await count(fixture, "SELECT count(*)::int FROM periods WHERE center_id = \(fixture.petit.id) AND code = 'vacances' AND state = 'closed'") == 0)

            // Another center's periods are not this manager's.
            #expect(try await browser.get("/admin/centres/autre/periodes").status == .notFound)
            #expect(try await browser.post("/admin/centres/autre/periodes/vacances/fermer", []).status == .notFound)
        }
    }

    @Test func theTeamSeesPeriodsButChangesNothing() async throws {
        try await withPortal(payment: "", provider: { _ in nil }) { client, fixture in
            try await office.invitedManager(client, fixture, email: "animateur@petit.example.org", role: "staff")
            let browser = Browser(client)
            _ = try await office.signIn(browser, email: "animateur@petit.example.org")
            let first = fixture.petit.center.periods[0].startsOn
            let page = try await browser.get("/admin/centres/petit/periodes/vacances")
            #expect(page.status == .ok && page.text.contains("3 places") && !page.body.contains("type=\"number\""))
            #expect(try await browser.get("/admin/centres/petit/nouvelle-periode").status == .forbidden)
            #expect(try await browser.post("/admin/centres/petit/periodes/vacances/places", [("j_\(first.iso)_matin", "1"), ("etape", "enregistrer")]).status == .forbidden)
            #expect(try await browser.post("/admin/centres/petit/periodes/vacances/fermer", []).status == .forbidden)
            #expect(try await count(fixture, "SELECT count(*)::int FROM audit_log WHERE action LIKE 'period.%'") == 0)
        }
    }
}
