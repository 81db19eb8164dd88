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
        /// The price in cents, for the page's running total (`data-prix` on the column's head).
        let cents: Int
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
        columns = units.map { Column(label: $0.label, price: prices[$0.code]?.description ?? "", cents: prices[$0.code]?.cents ?? 0) }
        firstUnit = units.first?.label.lowercased() ?? ""
        rowsHTML = Self.rows(center: center, period: period, units: units, reads: reads, selected: selected, now: now, base: page.base)
        self.error = error
        self.notice = notice
        if let tariff = center.tariff(period.tariff), case .siblings = tariff.model {
            priceNote = "Tarif dégressif : le prix indiqué est celui du premier enfant ; les frères et sœurs inscrits le même jour paient moins, quel que soit l'ordre dans lequel vous les inscrivez."
        } else {
            priceNote = nil
        }
    }
    /// One row a day, one cell a unit: a box to tick with its state ("disponible", "complet" with the
    /// waiting list's button, "déjà réservé" …). Written as bytes: the page's fixed parts as static strings,
    /// each unit's and each day's words escaped once (a String grown by interpolations, then variadic
    /// arrays of strings, took a sixth of the page's time). Each cell is its label with the box inside (no
    /// `id` to name); what every cell of a row or a column shares is said once: the week's first day on the
    /// row (`data-semaine`), the unit's price on its column's head (`data-prix`, the model's `columns`).
    static func rows(center: Center, period: Period, units: [BookingUnit], reads: BookingRepository.GridReads,
                     selected: Set<String>, now: Date, base: String) -> Markup {
        let waitAction = Array((HTML.escape(base) + "/reservations/liste-attente").utf8)
        // Each unit's code and label escaped for the HTML (the model's `columns` are the table's heads).
        let escaped = units.map { (code: Array(HTML.escape($0.code).utf8), label: Array(HTML.escape($0.label).utf8), capacity: $0.capacityUnits) }
        let days = period.openDays
        let firstBookable = period.firstBookable(of: days, at: now, in: center.zone)
        var page = PageBytes(capacity: days.count * (100 + units.count * 200))
        for (index, day) in days.enumerated() {
            let isoText = day.iso
            let iso = Array(isoText.utf8), long = Array(HTML.escape(day.french).utf8)
            let bookable = index >= firstBookable
            let heldUnits = reads.held[day] ?? []
            let remaining = reads.availability[day]?.remaining ?? [:], waiting = reads.waiting[day] ?? [:]
            page.put("<tr data-semaine=\""); page.put(Array(day.adding(days: -day.weekday.index).iso.utf8))
            page.put("\">\n<th scope=\"row\"><abbr title=\""); page.put(long); page.put("\">")
            page.put(escaping: French.shortDay(day))
            page.put("</abbr></th>\n")
            for (unit, column) in zip(units, escaped) {
                var left = Int.max
                for capacity in column.capacity { left = min(left, remaining[capacity] ?? 0) }
                if left == Int.max { left = 0 }
                let state: CellState = !heldUnits.isEmpty && !heldUnits.isDisjoint(with: column.capacity) ? .held
                    : !bookable ? .locked
                    : (waiting.isEmpty ? nil : waiting[unit.code]).map(CellState.waiting) ?? (left <= 0 ? .full : left <= 5 ? .last : .free)
                // Whether the box comes back ticked (the grid shown again after a refusal): the choice as the form posts it.
                let ticked: Bool
                if case .held = state { ticked = true } else {
                    ticked = state.canTick && !selected.isEmpty && selected.contains(isoText + ":" + unit.code)
                }
                page.put("<td class=\"cell "); page.put(state.style); page.put("\"><label><input type=\"checkbox\" name=\"jour\" value=\"")
                page.put(iso); page.put(":"); page.put(column.code); page.put("\"")
                if !state.canTick { page.put(" disabled") }
                page.put(ticked ? " checked> <span class=\"visually-hidden\">" : "> <span class=\"visually-hidden\">")
                page.put(long); page.put(" "); page.put(column.label); page.put(" : </span>")
                switch state {
                case .held: page.put("déjà réservé")
                case .locked: page.put("délai dépassé")
                case .waiting(let rank): page.put("liste d&#39;attente : "); page.put(escaping: French.rank(rank))
                case .full: page.put("complet")
                case .last: page.put("dernières places ("); page.put(Array(String(left).utf8)); page.put(")")
                case .free: page.put("disponible")
                }
                page.put("</label>")
                if case .full = state {
                    page.put("<button type=\"submit\" class=\"wait\" formaction=\""); page.put(waitAction); page.put("\" name=\"attente\" value=\""); page.put(iso)
                    page.put(":"); page.put(column.code); page.put("\" aria-label=\"Liste d'attente du "); page.put(long); page.put(", "); page.put(column.label)
                    page.put("\">liste d'attente</button>")
                }
                page.put("</td>\n")
            }
            page.put("</tr>\n")
        }
        return Markup(bytes: page.bytes)
    }
}

/// The state of a cell of the grid, and its class in the page (`cell held` …).
private enum CellState {
    case held, locked, waiting(Int), full, last, free

    var style: StaticString {
        switch self {
        case .held: "held"
        case .locked: "locked"
        case .waiting: "waiting"
        case .full: "full"
        case .last: "last"
        case .free: "free"
        }
    }

    /// Whether the parent may tick the box (places left, before the deadline, not held nor waited for).
    var canTick: Bool {
        switch self {
        case .last, .free: true
        case .held, .locked, .waiting, .full: false
        }
    }
}

/// A page's bytes as they are written (the grid's rows): fixed parts from static strings, without a `String` in
/// between. A struct with mutating methods, so that writing needs no exclusivity check at run time (a nested
/// function capturing the array did, at every call).
struct PageBytes {
    var bytes: [UInt8] = []

    init(capacity: Int) { bytes.reserveCapacity(capacity) }

    mutating func put(_ text: StaticString) { text.withUTF8Buffer { bytes.append(contentsOf: $0) } }
    mutating func put(_ part: [UInt8]) { bytes.append(contentsOf: part) }
    /// Text escaped for the HTML (`HTML.append(escaping:to:)`).
    mutating func put(escaping text: String) { HTML.append(escaping: text, to: &bytes) }
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
