import Foundation
import PortailDomain
import PortailStore

/// Step 1: choose the child.
struct ChooseChildModel {
    struct Child {
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
struct ChoosePeriodModel {
    struct PeriodChoice {
        let code: String
        let label: String
        let dates: String
        let checked: Bool
        /// Said while the family books in its priority window.
        let opening: String?
    }
    /// A period that opens later for this family: when.
    struct Upcoming {
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
struct GridModel {
    struct Column {
        let label: String
        let price: String
    }
    struct Cell {
        let id: String
        let value: String
        let unitLabel: String
        let status: String
        let statusClass: String
        let disabled: Bool
        let checked: Bool
        /// A full day the child may wait for: the cell offers the waiting list.
        let canWait: Bool
        /// The unit's price for a first child, for the page's running total (the recap prices exactly).
        var priceCents = 0
        /// The Monday of the day's week, for "toute la semaine".
        var week = ""
    }
    struct Row {
        let day: String
        let dayLong: String
        /// The row's cells as HTML, written here rather than by a template section: 156 cells through
        /// the template engine's lookups were half of the page's time (docs/architecture.md).
        let cellsHTML: String

        init(day: String, dayLong: String, cells: [Cell], base: String) {
            self.day = day
            self.dayLong = dayLong
            var html = ""
            for cell in cells {
                let (id, value, unit, long) = (HTML.escape(cell.id), HTML.escape(cell.value), HTML.escape(cell.unitLabel), HTML.escape(dayLong))
                html += "<td class=\"cell \(HTML.escape(cell.statusClass))\">\n"
                html += "  <input type=\"checkbox\" id=\"\(id)\" name=\"jour\" value=\"\(value)\" data-prix=\"\(cell.priceCents)\" data-semaine=\"\(HTML.escape(cell.week))\""
                    + "\(cell.disabled ? " disabled" : "")\(cell.checked ? " checked" : "")>\n"
                html += "  <label for=\"\(id)\"><span class=\"visually-hidden\">\(long) \(unit) : </span>\(HTML.escape(cell.status))</label>\n"
                if cell.canWait {
                    html += "  <button type=\"submit\" class=\"wait\" formaction=\"\(HTML.escape(base))/reservations/liste-attente\" name=\"attente\" "
                        + "value=\"\(value)\" aria-label=\"Liste d'attente du \(long), \(unit)\">liste d'attente</button>\n"
                }
                html += "</td>\n"
            }
            cellsHTML = html
        }
    }
    let page: PageChrome
    let childID: Int64
    let childName: String
    let periodCode: String
    let periodLabel: String
    let deadline: String
    let columns: [Column]
    let rows: [Row]
    let error: String?
    let notice: String?
    let priceNote: String?
    /// The first unit offered ("Journée"), which the shortcuts tick.
    let firstUnit: String
    /// "Ouverture prioritaire …", while the family books before the general opening.
    var opening: String?

    /// Builds the grid from the period, the places left, what the child already holds and the days it
    /// waits for (rank by "day:unit").
    init(page: PageChrome, center: Center, period: Period, child: ChildRecord, availability: [LocalDate: DayAvailability],
         held: [LocalDate: Set<String>], waiting: [String: Int], prices: [String: Money], selected: Set<String>, now: Date,
         error: String?, notice: String? = nil) {
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
        rows = period.openDays.map { day in
            let cells = units.map { unit -> Cell in
                let value = "\(day.iso):\(unit.code)"
                let left = unit.capacityUnits.map { availability[day]?.remaining[$0] ?? 0 }.min() ?? 0
                let status: (String, String, Bool, Bool)  // words, class, disabled, checked
                var canWait = false
                if !(held[day] ?? []).isDisjoint(with: unit.capacityUnits) {
                    status = ("déjà réservé", "held", true, true)
                } else if !period.isBookable(day, at: now, in: center.zone) {
                    status = ("délai dépassé", "locked", true, false)
                } else if let rank = waiting[value] {
                    status = ("liste d'attente : \(French.rank(rank))", "waiting", true, false)
                } else if left <= 0 {
                    status = ("complet", "full", true, false)
                    canWait = true
                } else if left <= 5 {
                    status = ("dernières places (\(left))", "last", false, selected.contains(value))
                } else {
                    status = ("disponible", "free", false, selected.contains(value))
                }
                return Cell(id: "c-\(day.iso)-\(unit.code)", value: value, unitLabel: unit.label,
                            status: status.0, statusClass: status.1, disabled: status.2, checked: status.3, canWait: canWait,
                            priceCents: prices[unit.code]?.cents ?? 0, week: day.adding(days: -day.weekday.index).iso)
            }
            return Row(day: French.shortDay(day), dayLong: day.french, cells: cells, base: page.base)
        }
        self.error = error
        self.notice = notice
        if let tariff = center.tariff(period.tariff), case .siblings = tariff.model {
            priceNote = "Tarif dégressif : le prix indiqué est celui du premier enfant ; les frères et sœurs inscrits le même jour paient moins, quel que soit l'ordre dans lequel vous les inscrivez."
        } else {
            priceNote = nil
        }
    }
}

/// Step 4: the recap, priced by the engine, before "confirmer la réservation".
struct RecapModel {
    struct Line {
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
