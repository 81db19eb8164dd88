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
            let prices = ["journee": Money(cents: 1000), "matin": Money(cents: 600), "apres-midi": Money(cents: 600)]
            let markup = GridModel.rows(center: center, period: period, units: units, reads: reads, prices: prices,
                                        selected: ["\(days[4].iso):matin"], now: now, base: "/petit")
            let html = String(decoding: markup.bytes, as: UTF8.self)
            #expect(html.components(separatedBy: "<tr>").count - 1 == days.count)
            #expect(html.components(separatedBy: "<td class=\"cell ").count - 1 == days.count * 3)
            /// The cell of `day` and `unit`, from its `<td` to its `</td>`.
            func cell(_ day: LocalDate, _ unit: String) -> String {
                guard let box = html.range(of: "id=\"c-\(day.iso)-\(unit)\""),
                      let start = html.range(of: "<td", options: .backwards, range: html.startIndex..<box.lowerBound),
                      let end = html.range(of: "</td>\n", range: box.upperBound..<html.endIndex) else { return "" }
                return String(html[start.lowerBound..<end.upperBound])
            }
            func box(_ day: LocalDate, _ unit: String, price: String) -> String {
                "<input type=\"checkbox\" id=\"c-\(day.iso)-\(unit)\" name=\"jour\" value=\"\(day.iso):\(unit)\" data-prix=\"\(price)\" "
                    + "data-semaine=\"\(day.adding(days: -day.weekday.index).iso)\""
            }
            func label(_ day: LocalDate, _ unit: String, _ name: String, _ words: String) -> String {
                "<label for=\"c-\(day.iso)-\(unit)\"><span class=\"visually-hidden\">\(day.french) \(name) : </span>\(words)</label>\n"
            }
            // Past the deadline: nothing to tick.
            #expect(cell(days[0], "journee") == "<td class=\"cell locked\">\n  " + box(days[0], "journee", price: "1000") + " disabled>\n  "
                    + label(days[0], "journee", "Journée", "délai dépassé") + "</td>\n")
            // Held (its half days too): ticked and disabled.
            #expect(cell(days[1], "matin") == "<td class=\"cell held\">\n  " + box(days[1], "matin", price: "600") + " disabled checked>\n  "
                    + label(days[1], "matin", "Matin", "déjà réservé") + "</td>\n")
            // Full: the day (which takes the morning) and the morning offer their waiting list; the afternoon is free.
            let waitButton = "  <button type=\"submit\" class=\"wait\" formaction=\"/petit/reservations/liste-attente\" name=\"attente\" "
                + "value=\"\(days[2].iso):journee\" aria-label=\"Liste d'attente du \(days[2].french), Journée\">liste d'attente</button>\n"
            #expect(cell(days[2], "journee") == "<td class=\"cell full\">\n  " + box(days[2], "journee", price: "1000") + " disabled>\n  "
                    + label(days[2], "journee", "Journée", "complet") + waitButton + "</td>\n")
            #expect(cell(days[2], "matin").contains("complet</label>\n  <button"))
            #expect(cell(days[2], "apres-midi") == "<td class=\"cell free\">\n  " + box(days[2], "apres-midi", price: "600") + ">\n  "
                    + label(days[2], "apres-midi", "Après-midi", "disponible") + "</td>\n")
            // Waiting, second in line; the last places of the morning.
            #expect(cell(days[3], "journee") == "<td class=\"cell waiting\">\n  " + box(days[3], "journee", price: "1000") + " disabled>\n  "
                    + label(days[3], "journee", "Journée", "liste d&#39;attente : 2e") + "</td>\n")
            #expect(cell(days[3], "matin") == "<td class=\"cell last\">\n  " + box(days[3], "matin", price: "600") + ">\n  "
                    + label(days[3], "matin", "Matin", "dernières places (3)") + "</td>\n")
            // The box ticked before (the grid shown again after a refusal) comes back ticked, and only it.
            #expect(cell(days[4], "matin").contains(box(days[4], "matin", price: "600") + " checked>\n"))
            #expect(html.components(separatedBy: " checked>").count - 1 == 3 + 1)
        }
    }
}
