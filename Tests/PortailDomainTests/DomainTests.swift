import Foundation
import Testing
@testable import PortailDomain

@Suite struct MoneyTests {
    @Test func parsesWhatPeopleWrite() {
        #expect(Money(parsing: "12.50")?.cents == 1250)
        #expect(Money(parsing: "12,5")?.cents == 1250)
        #expect(Money(parsing: "1\u{00A0}250,00\u{00A0}€")?.cents == 125_000)
        #expect(Money(parsing: "12")?.cents == 1200)
        #expect(Money(parsing: "0.05")?.cents == 5)
        #expect(Money(parsing: "12.505") == nil)
        #expect(Money(parsing: "douze") == nil)
        #expect(Money(parsing: "") == nil)
        #expect(Money(parsing: "1.") == nil)
    }

    @Test func formatsLikeTheSeed() {
        #expect(Money(cents: 1250).description == "12,50\u{00A0}€")
        #expect(Money(cents: 125_000_05).description == "125\u{00A0}000,05\u{00A0}€")
        #expect(Money(cents: -5).description == "-0,05\u{00A0}€")
        #expect(Money(cents: 5).decimalString == "0.05")
        #expect(Money(cents: -7050).decimalString == "-70.50")
        // Noethys issue 74: 17 × 4.15 must be 70.55, exactly.
        #expect((Money(parsing: "4.15")! * 17).decimalString == "70.55")
    }
}

@Suite struct CalendarTests {
    @Test func weekdaysAndArithmetic() {
        let day = LocalDate(iso: "2016-09-28")!
        #expect(day.weekday == .mercredi)
        #expect(day.adding(days: 4).iso == "2016-10-02")
        #expect(day.adding(days: 4).weekday == .dimanche)
        #expect(LocalDate(iso: "2024-02-29") != nil)
        #expect(LocalDate(iso: "2023-02-29") == nil)
        // Exactly YYYY-MM-DD, digits only.
        #expect(LocalDate(iso: "2026-12-31")?.dayNumber == LocalDate(year: 2026, month: 12, day: 31)?.dayNumber)
        for text in ["2026-1-01", "+026-01-01", "2026-01-1 ", "2026/01/01", "2026-13-01", "0000-01-01", "2026-01-011", "", "２026-01-01"] {
            #expect(LocalDate(iso: text) == nil, "\(text)")
        }
        #expect(LocalDate(dayNumber: day.dayNumber) == day)
        #expect(day.french == "28/09/2016")
        // Written at once, padded: the same words as each number padded and joined.
        let early = LocalDate(year: 812, month: 1, day: 5)!
        #expect((early.iso, early.french, early.frenchDayMonth) == ("0812-01-05", "05/01/0812", "05/01"))
        for dayNumber in stride(from: -719_000, through: 3_000_000, by: 997) {
            let date = LocalDate(dayNumber: dayNumber)
            #expect(date.iso == Digits.pad(date.year, 4) + "-" + Digits.pad(date.month, 2) + "-" + Digits.pad(date.day, 2))
        }
        // A number wider than its width, or below 0, is written whole.
        #expect(Digits.joined((12_345, 4), (7, 2), by: UInt8(ascii: "-")) == "12345-07")
        #expect(Digits.joined((-3, 2), (7, 2), (1, 1), by: UInt8(ascii: "/")) == "-03/07/1")
    }

    @Test func frenchPublicHolidays() {
        #expect(FrenchPublicHolidays.easterSunday(2024).iso == "2024-03-31")
        #expect(FrenchPublicHolidays.easterSunday(2027).iso == "2027-03-28")
        let h2026 = FrenchPublicHolidays.days(in: 2026)
        #expect(h2026.count == 11)
        #expect(h2026.contains(LocalDate(iso: "2026-05-14")!))  // Ascension
        #expect(h2026.contains(LocalDate(iso: "2026-05-25")!))  // lundi de Pentecôte
        // `contains` answers as the year's set does, for every day of three centuries.
        var day = LocalDate(iso: "1900-01-01")!, mismatches: [String] = [], found = 0
        var year = day.year, holidays = FrenchPublicHolidays.days(in: year)
        while day.year < 2200 {
            if day.year != year { (year, holidays) = (day.year, FrenchPublicHolidays.days(in: day.year)) }
            if FrenchPublicHolidays.contains(day) != holidays.contains(day) { mismatches.append(day.iso) }
            if FrenchPublicHolidays.contains(day) { found += 1 }
            day = day.adding(days: 1)
        }
        #expect(mismatches.isEmpty)
        #expect(found == (1900..<2200).reduce(0) { $0 + FrenchPublicHolidays.days(in: $1).count })  // 2008: Ascension on May 1
    }

    @Test func deadlineSkipsWeekendsAndHolidays() {
        let rule = DeadlineRule(daysBefore: 2, at: LocalTime(hour: 12, minute: 0)!, skipWeekends: true, skipPublicHolidays: true)
        // Monday 2026-12-28: the weekend and Friday 25th (Christmas) are not counted: Thursday 24th, Wednesday 23rd.
        #expect(rule.deadlineDay(for: LocalDate(iso: "2026-12-28")!).iso == "2026-12-23")
        // Tuesday 2026-12-29: Monday 28th counts, the weekend does not, then Friday 25th is Christmas: Thursday 24th.
        #expect(rule.deadlineDay(for: LocalDate(iso: "2026-12-29")!).iso == "2026-12-24")
        let counted = DeadlineRule(daysBefore: 2, at: LocalTime(hour: 12, minute: 0)!, skipWeekends: false, skipPublicHolidays: false)
        #expect(counted.deadlineDay(for: LocalDate(iso: "2026-12-28")!).iso == "2026-12-26")
        let paris = TimeZone(identifier: "Europe/Paris")!
        let instant = rule.deadline(for: LocalDate(iso: "2026-12-28")!, in: paris)
        #expect(instant == Date(timeIntervalSince1970: 1_798_023_600))  // 2026-12-23T11:00:00Z, noon in Paris
    }

    @Test func deadlineOnThePreviousWeekday() {
        let rule = DeadlineRule(daysBefore: 0, at: LocalTime(hour: 12, minute: 0)!, skipWeekends: false, skipPublicHolidays: false, previousWeekday: .jeudi)
        #expect(rule.deadlineDay(for: LocalDate(iso: "2026-12-28")!).iso == "2026-12-24")  // Monday -> Thursday before
        #expect(rule.deadlineDay(for: LocalDate(iso: "2026-12-24")!).iso == "2026-12-17")  // a Thursday -> the one before
        #expect(rule.deadlineDay(for: LocalDate(iso: "2026-12-25")!).iso == "2026-12-24")  // Friday -> the day before
        #expect(rule.french == "le jeudi précédent à 12h00")
    }

    /// A later day's deadline never falls earlier, whatever the rule, across the changes of hour, the weekends
    /// and the holidays; so the first bookable day of a grid, found by halves, is the one a day-by-day reading finds.
    @Test func aLaterDayNeverHasAnEarlierDeadline() {
        let noon = LocalTime(hour: 12, minute: 0)!
        let rules = [
            DeadlineRule.dayBeforeNoon,
            DeadlineRule(daysBefore: 0, at: LocalTime(hour: 2, minute: 30)!, skipWeekends: false, skipPublicHolidays: false),
            DeadlineRule(daysBefore: 2, at: noon, skipWeekends: true, skipPublicHolidays: true),
            DeadlineRule(daysBefore: 5, at: LocalTime(hour: 18, minute: 0)!, skipWeekends: true, skipPublicHolidays: false),
            DeadlineRule(daysBefore: 3, at: noon, skipWeekends: false, skipPublicHolidays: true),
            DeadlineRule(daysBefore: 0, at: noon, skipWeekends: false, skipPublicHolidays: false, previousWeekday: .jeudi),
            DeadlineRule(daysBefore: 0, at: LocalTime(hour: 23, minute: 59)!, skipWeekends: false, skipPublicHolidays: false, previousWeekday: .lundi),
        ]
        let paris = TimeZone(identifier: "Europe/Paris")!
        let start = LocalDate(iso: "2026-01-01")!
        let days = (0..<730).map { start.adding(days: $0) }
        for rule in rules {
            let deadlines = days.map { rule.deadline(for: $0, in: paris) }
            #expect(zip(deadlines, deadlines.dropFirst()).allSatisfy { $0 <= $1 }, "\(rule)")
            let period = Period(code: "p", label: "P", ageGroup: "g", startsOn: days[0], endsOn: days[days.count - 1], weekdays: Weekday.allCases,
                                closedDays: [], units: ["journee"], places: ["journee": 10], tariff: "t", bookingOpensAt: nil, bookingClosesAt: nil,
                                deadline: rule)
            // Before every deadline, at each one exactly, a second after it and after the last.
            let instants = [deadlines[0].addingTimeInterval(-1)] + stride(from: 0, to: deadlines.count, by: 37).flatMap { [deadlines[$0], deadlines[$0].addingTimeInterval(1)] }
                + [deadlines[deadlines.count - 1].addingTimeInterval(1)]
            for now in instants {
                let byDay = days.firstIndex { period.isBookable($0, at: now, in: paris) } ?? days.count
                #expect(period.firstBookable(of: days, at: now, in: paris) == byDay, "\(rule) \(now)")
            }
        }
        // The ends: every day bookable, none.
        let period = Period(code: "p", label: "P", ageGroup: "g", startsOn: days[0], endsOn: days[9], weekdays: Weekday.allCases, closedDays: [],
                            units: ["journee"], places: ["journee": 10], tariff: "t", bookingOpensAt: nil, bookingClosesAt: nil, deadline: .dayBeforeNoon)
        #expect(period.firstBookable(of: Array(days[0..<10]), at: Date(timeIntervalSince1970: 0), in: paris) == 0)
        #expect(period.firstBookable(of: Array(days[0..<10]), at: Date(timeIntervalSince1970: 4_000_000_000), in: paris) == 10)
        #expect(period.firstBookable(of: [], at: Date(), in: paris) == 0)
    }

    @Test func openDaysOfAPeriod() {
        let period = Period(
            code: "p", label: "P", ageGroup: "g", startsOn: LocalDate(iso: "2026-12-21")!, endsOn: LocalDate(iso: "2027-01-01")!,
            weekdays: [.lundi, .mardi, .mercredi, .jeudi, .vendredi], closedDays: [LocalDate(iso: "2026-12-25")!, LocalDate(iso: "2027-01-01")!],
            units: ["journee"], places: ["journee": 10], tariff: "t", bookingOpensAt: nil, bookingClosesAt: nil, deadline: .dayBeforeNoon
        )
        #expect(period.openDays.map(\.iso) == ["2026-12-21", "2026-12-22", "2026-12-23", "2026-12-24", "2026-12-28", "2026-12-29", "2026-12-30", "2026-12-31"])
    }
}

@Suite struct TariffTests {
    let qf = Tariff(code: "qf", label: "QF", validFrom: nil, validTo: nil, model: .quotientBrackets([
        QuotientBracket(min: nil, max: 600, prices: ["journee": Money(cents: 800)]),
        QuotientBracket(min: 601, max: 1200, prices: ["journee": Money(cents: 1100)]),
        QuotientBracket(min: 1201, max: nil, prices: ["journee": Money(cents: 1500)]),
    ]))

    @Test func quotientBracketsAreInclusiveAndFallBackToTheLast() {
        #expect(qf.price(unit: "journee", quotient: 600)?.cents == 800)
        #expect(qf.price(unit: "journee", quotient: 601)?.cents == 1100)
        #expect(qf.price(unit: "journee", quotient: 1200)?.cents == 1100)
        #expect(qf.price(unit: "journee", quotient: 5000)?.cents == 1500)
        #expect(qf.price(unit: "journee", quotient: nil)?.cents == 1500)
        #expect(qf.price(unit: "matin", quotient: 100) == nil)
    }

    @Test func siblingsAreDegressiveAndTheLastPriceRepeats() {
        let t = Tariff(code: "f", label: "F", validFrom: nil, validTo: nil, model: .siblings(["journee": [Money(cents: 1600), Money(cents: 1400), Money(cents: 1200)]]))
        #expect(t.price(unit: "journee", quotient: nil, siblingRank: 1)?.cents == 1600)
        #expect(t.price(unit: "journee", quotient: nil, siblingRank: 2)?.cents == 1400)
        #expect(t.price(unit: "journee", quotient: nil, siblingRank: 5)?.cents == 1200)
    }
}
