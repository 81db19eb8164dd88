import Foundation
import PortailDomain
@testable import PortailApp
@testable import PortailStore
import Testing

/// The booking grid's cells, written as bytes by `GridModel.rows`: each state's words, box and button.
@Suite struct GridCellsTests {
    @Test func eachCellSaysItsStateAndOffersWhatItAllows() async throws {
        try await withPortal(places: 10) { _, fixture in
            let center = fixture.petit.center
            let period = center.periods[0]
            let days = period.openDays
            // Noon and a minute the day before the first day: its deadline (1 day before, 12:00) has passed.
            let now = days[0].adding(days: -1).instant(at: try #require(LocalTime(hour: 12, minute: 1)), in: center.zone)
            var reads = BookingRepository.GridReads()
            for day in days { reads.availability[day] = DayAvailability(remaining: ["matin": 10, "apres-midi": 10]) }
            reads.held[days[1]] = ["matin", "apres-midi"]
            reads.availability[days[2]] = DayAvailability(remaining: ["matin": 0, "apres-midi": 10])
            reads.waiting[days[3]] = ["journee": 2]
            reads.availability[days[3]] = DayAvailability(remaining: ["matin": 3, "apres-midi": 10])
            let units = period.units.compactMap { center.unit($0) }
            let markup = GridModel.rows(center: center, period: period, units: units, reads: reads,
                                        selected: ["\(days[4].iso):matin"], now: now, base: "/petit")
            let html = String(decoding: markup.bytes, as: UTF8.self)
            // A row a day, which names its week's first day; a cell a day and unit.
            #expect(html.components(separatedBy: "<tr data-semaine=").count - 1 == days.count)
            for day in days { #expect(html.contains("<tr data-semaine=\"\(day.adding(days: -day.weekday.index).iso)\">\n<th scope=\"row\"><abbr title=\"\(day.french)\">")) }
            #expect(html.components(separatedBy: "<td class=\"cell ").count - 1 == days.count * 3)
            /// The cell of `day` and `unit`, from its `<td` to its `</td>`.
            func cell(_ day: LocalDate, _ unit: String) -> String {
                guard let box = html.range(of: "value=\"\(day.iso):\(unit)\""),
                      let start = html.range(of: "<td", options: .backwards, range: html.startIndex..<box.lowerBound),
                      let end = html.range(of: "</td>\n", range: box.upperBound..<html.endIndex) else { return "" }
                return String(html[start.lowerBound..<end.upperBound])
            }
            /// A cell: its state, its label with the box inside (`flags`: " disabled", " checked"), the words a
            /// screen reader says first, then what every reader sees.
            func expected(_ state: String, _ day: LocalDate, _ unit: String, _ name: String, _ flags: String, _ words: String, after: String = "") -> String {
                "<td class=\"cell \(state)\"><label><input type=\"checkbox\" name=\"jour\" value=\"\(day.iso):\(unit)\"\(flags)> "
                    + "<span class=\"visually-hidden\">\(day.french) \(name) : </span>\(words)</label>\(after)</td>\n"
            }
            // Past the deadline: nothing to tick.
            #expect(cell(days[0], "journee") == expected("locked", days[0], "journee", "Journée", " disabled", "délai dépassé"))
            // Held (its half days too): ticked and disabled.
            #expect(cell(days[1], "matin") == expected("held", days[1], "matin", "Matin", " disabled checked", "déjà réservé"))
            // Full: the day (which takes the morning) and the morning offer their waiting list; the afternoon is free.
            let waitButton = "<button type=\"submit\" class=\"wait\" formaction=\"/petit/reservations/liste-attente\" name=\"attente\" "
                + "value=\"\(days[2].iso):journee\" aria-label=\"Liste d'attente du \(days[2].french), Journée\">liste d'attente</button>"
            #expect(cell(days[2], "journee") == expected("full", days[2], "journee", "Journée", " disabled", "complet", after: waitButton))
            #expect(cell(days[2], "matin").contains("complet</label><button"))
            #expect(cell(days[2], "apres-midi") == expected("free", days[2], "apres-midi", "Après-midi", "", "disponible"))
            // Waiting, second in line; the last places of the morning.
            #expect(cell(days[3], "journee") == expected("waiting", days[3], "journee", "Journée", " disabled", "liste d&#39;attente : 2e"))
            #expect(cell(days[3], "matin") == expected("last", days[3], "matin", "Matin", "", "dernières places (3)"))
            // The box ticked before (the grid shown again after a refusal) comes back ticked, and only it.
            #expect(cell(days[4], "matin") == expected("free", days[4], "matin", "Matin", " checked", "disponible"))
            #expect(html.components(separatedBy: " checked>").count - 1 == 3 + 1)
        }
    }
}
