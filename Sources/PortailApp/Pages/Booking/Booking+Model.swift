import Foundation
import PortailDomain
import PortailStore

/// Step 1: choose the child.
struct ChooseChildModel: TemplateModel {
    struct Child: Encodable {
        let id: Int64
        let name: String
        let age: String
        let checked: Bool
    }
    let page: PageChrome
    let children: [Child]
    let hasChildren: Bool
}

/// Step 2: choose the period, among those open for booking that fit the child's age.
struct ChoosePeriodModel: TemplateModel {
    struct PeriodChoice: Encodable {
        let code: String
        let label: String
        let dates: String
        let checked: Bool
        /// Said while the family books in its priority window.
        let opening: String?
    }
    /// A period that opens later for this family: when.
    struct Upcoming: Encodable {
        let label: String
        let dates: String
        let opening: String
        /// Where to take a place in the waiting room's line, while it already stands before the opening.
        let queue: String?
    }
    let page: PageChrome
    let childID: Int64
    let childName: String
    let periods: [PeriodChoice]
    let hasPeriods: Bool
    let canChangeChild: Bool
    let upcoming: [Upcoming]
    let hasUpcoming: Bool
}

/// Step 3: the grid of open days × units, with white boxes to tick.
struct GridModel: TemplateModel {
    struct Column: Encodable {
        let label: String
        let price: String
    }
    let page: PageChrome
    let childID: Int64
    let childName: String
    let periodCode: String
    let periodLabel: String
    let deadline: String
    let columns: [Column]
    /// The table's rows as HTML, written here rather than by a template section: the template engine's
    /// lookups over 39 days × 4 units took most of the page's time (docs/architecture.md).
    let rowsHTML: Markup
    let error: String?
    let notice: String?
    let priceNote: String?
    /// The first unit offered ("Journée"), which the shortcuts tick.
    let firstUnit: String
    /// "Ouverture prioritaire …", while the family books before the general opening.
    var opening: String?

    /// Builds the grid from the period, the places left, what the child already holds and the days it
    /// waits for (its rank by day, then unit: `GridReads.waiting`).
    init(page: PageChrome, center: Center, period: Period, child: ChildRecord, reads: BookingRepository.GridReads,
         prices: [String: Money], selected: Set<String>, now: Date, error: String?, notice: String? = nil) {
        self.page = page
        childID = child.id
        childName = child.firstName
        periodCode = period.code
        periodLabel = period.label
        deadline = period.deadline.previousWeekday.map { "Réservation possible jusqu'au \($0.rawValue) précédent à \(period.deadline.at.french), pour chaque jour." }
            ?? "Réservation possible jusqu'à \(period.deadline.french) avant chaque jour."
        let units = period.units.compactMap { center.unit($0) }
        columns = units.map { Column(label: $0.label, price: prices[$0.code]?.description ?? "") }
        firstUnit = units.first?.label.lowercased() ?? ""
        rowsHTML = Self.rows(center: center, period: period, units: units, reads: reads, prices: prices, selected: selected, now: now,
                             base: page.base)
        self.error = error
        self.notice = notice
        if let tariff = center.tariff(period.tariff), case .siblings = tariff.model {
            priceNote = "Tarif dégressif : le prix indiqué est celui du premier enfant ; les frères et sœurs inscrits le même jour paient moins, quel que soit l'ordre dans lequel vous les inscrivez."
        } else {
            priceNote = nil
        }
    }
    /// One row a day, one cell a unit: a box to tick with its state ("disponible", "complet" with the
    /// waiting list's button, "déjà réservé" …). Each day's and unit's words are escaped once.
    private static func rows(center: Center, period: Period, units: [BookingUnit], reads: BookingRepository.GridReads,
                             prices: [String: Money], selected: Set<String>, now: Date, base: String) -> Markup {
        let waitAction = HTML.escape(base) + "/reservations/liste-attente"
        // Each unit's code and label escaped for the HTML (the model's `columns` are the table's heads).
        let escaped = units.map { (code: HTML.escape($0.code), label: HTML.escape($0.label), price: String(prices[$0.code]?.cents ?? 0)) }
        // Written as bytes: a String grown by interpolations took a sixth of the page's time.
        var html: [UInt8] = []
        html.reserveCapacity(period.openDays.count * (80 + units.count * 420))
        func put(_ parts: String...) { for part in parts { HTML.append(part, to: &html) } }
        for day in period.openDays {
            let iso = day.iso, long = HTML.escape(day.french), week = day.adding(days: -day.weekday.index).iso
            let bookable = period.isBookable(day, at: now, in: center.zone)
            let heldUnits = reads.held[day] ?? []
            let remaining = reads.availability[day]?.remaining ?? [:], waiting = reads.waiting[day] ?? [:]
            put("<tr>\n  <th scope=\"row\"><abbr title=\"", long, "\">", HTML.escape(French.shortDay(day)), "</abbr></th>\n")
            for (unit, column) in zip(units, escaped) {
                // Whether the box comes back ticked (the grid shown again after a refusal): the choice as the form posts it.
                func ticked() -> Bool { !selected.isEmpty && selected.contains(iso + ":" + unit.code) }
                let left = unit.capacityUnits.map { remaining[$0] ?? 0 }.min() ?? 0
                let (words, style, disabled, checked): (String, String, Bool, Bool)
                var canWait = false
                if !heldUnits.isDisjoint(with: unit.capacityUnits) {
                    (words, style, disabled, checked) = ("déjà réservé", "held", true, true)
                } else if !bookable {
                    (words, style, disabled, checked) = ("délai dépassé", "locked", true, false)
                } else if let rank = waiting[unit.code] {
                    (words, style, disabled, checked) = ("liste d'attente : \(French.rank(rank))", "waiting", true, false)
                } else if left <= 0 {
                    (words, style, disabled, checked) = ("complet", "full", true, false)
                    canWait = true
                } else if left <= 5 {
                    (words, style, disabled, checked) = ("dernières places (\(left))", "last", false, ticked())
                } else {
                    (words, style, disabled, checked) = ("disponible", "free", false, ticked())
                }
                put("<td class=\"cell ", style, "\">\n")
                put("  <input type=\"checkbox\" id=\"c-", iso, "-", column.code, "\" name=\"jour\" value=\"", iso, ":", column.code,
                    "\" data-prix=\"", column.price, "\" data-semaine=\"", week, "\"")
                put(disabled ? " disabled" : "", checked ? " checked>\n" : ">\n")
                put("  <label for=\"c-", iso, "-", column.code, "\"><span class=\"visually-hidden\">", long, " ", column.label, " : </span>")
                HTML.append(escaping: words, to: &html)
                put("</label>\n")
                if canWait {
                    put("  <button type=\"submit\" class=\"wait\" formaction=\"", waitAction, "\" name=\"attente\" ")
                    put("value=\"", iso, ":", column.code, "\" aria-label=\"Liste d'attente du ", long, ", ", column.label, "\">liste d'attente</button>\n")
                }
                put("</td>\n")
            }
            put("</tr>\n")
        }
        return Markup(bytes: html)
    }
}

/// Step 4: the recap, priced by the engine, before "confirmer la réservation".
struct RecapModel: TemplateModel {
    struct Line: Encodable {
        let day: String
        let designation: String
        let price: String
    }
    let page: PageChrome
    let childID: Int64
    let childName: String
    let periodCode: String
    let periodLabel: String
    let lines: [Line]
    let total: String
    let selection: [String]
    let error: String?
    /// When some days filled up: the days that can still be kept.
    let keepOthers: [String]
    let canKeepOthers: Bool
    /// The siblings' days in the cart priced again with this child (sibling ranks), before → after.
    let siblingNote: String?
}

/// Parses the ticked boxes ("2026-12-21:journee") into days and units; nil if a value is malformed.
func parseSelection(_ values: [String]) -> [LocalDate: Set<String>]? {
    var selection: [LocalDate: Set<String>] = [:]
    for value in values {
        let parts = value.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2, let day = LocalDate(iso: parts[0]), !parts[1].isEmpty else { return nil }
        selection[day, default: []].insert(parts[1])
    }
    return selection
}
