import Foundation
import Testing
@testable import PortailDomain

func euros(_ text: String) -> Money { Money(parsing: text)! }
func day(_ iso: String) -> LocalDate { LocalDate(iso: iso)! }

@Suite struct PricingEngineTests {
    let halfDays = Tariff(code: "t", label: "T", validFrom: nil, validTo: nil, model: .flat([
        "matin": euros("6.00"), "repas": euros("4.00"), "apres-midi": euros("6.00"),
        "matin+repas+apres-midi": euros("14.00"), "matin+repas": euros("9.00"),
    ]))

    func price(_ tariff: Tariff, _ units: Set<String>, quotient: Int? = nil, category: String? = nil) throws -> [PricingEngine.Line] {
        try PricingEngine.price([.init(childID: 1, day: day("2026-12-21"), units: units)], tariff: tariff, quotient: quotient, category: category)
    }

    @Test func theLargestCombinationWins() throws {
        let all = try price(halfDays, ["matin", "repas", "apres-midi"])
        #expect(all.map(\.key) == ["matin+repas+apres-midi"])
        #expect(all.map(\.price) == [euros("14.00")])
        let morningMeal = try price(halfDays, ["matin", "repas"])
        #expect(morningMeal.map(\.key) == ["matin+repas"])
        let split = try price(halfDays, ["repas", "apres-midi"])
        #expect(Set(split.map(\.key)) == ["repas", "apres-midi"])
        #expect(split.reduce(Money.zero) { $0 + $1.price } == euros("10.00"))
        #expect(try price(halfDays, ["matin"]).map(\.price) == [euros("6.00")])
    }

    @Test func aUnitWithoutPriceIsReported() {
        #expect(throws: PricingEngine.UnpricedUnits(day: day("2026-12-21"), units: ["soir"])) {
            try price(halfDays, ["matin", "soir"])
        }
    }

    @Test func quotientBracketsInclusiveFirstMatchAndPleinTarif() throws {
        let qf = Tariff(code: "qf", label: "QF", validFrom: nil, validTo: nil, model: .quotientBrackets([
            QuotientBracket(min: nil, max: 600, prices: ["journee": euros("8.00")]),
            QuotientBracket(min: 600, max: 1200, prices: ["journee": euros("11.00")]),  // overlaps at 600: first wins
            QuotientBracket(min: 1201, max: nil, prices: ["journee": euros("15.00")]),
        ]))
        #expect(try price(qf, ["journee"], quotient: 0).first?.price == euros("8.00"))
        #expect(try price(qf, ["journee"], quotient: 600).first?.price == euros("8.00"))
        #expect(try price(qf, ["journee"], quotient: 601).first?.price == euros("11.00"))
        #expect(try price(qf, ["journee"], quotient: 1200).first?.price == euros("11.00"))
        #expect(try price(qf, ["journee"], quotient: 1201).first?.price == euros("15.00"))
        #expect(try price(qf, ["journee"], quotient: nil).first?.price == euros("15.00"))
        let gap = Tariff(code: "g", label: "G", validFrom: nil, validTo: nil, model: .quotientBrackets([
            QuotientBracket(min: 0, max: 500, prices: ["journee": euros("5.00")]),
            QuotientBracket(min: 800, max: 900, prices: ["journee": euros("9.00")]),
        ]))
        // No bracket matches 600: the last line applies.
        #expect(try price(gap, ["journee"], quotient: 600).first?.price == euros("9.00"))
    }

    @Test func categoriesHaveTheirOwnGrid() throws {
        var tariff = halfDays
        tariff.categories["hors-commune"] = .flat(["matin": euros("8.00"), "repas": euros("4.00"), "apres-midi": euros("8.00")])
        #expect(try price(tariff, ["matin"], category: "hors-commune").first?.price == euros("8.00"))
        #expect(try price(tariff, ["matin"], category: "residents").first?.price == euros("6.00"))
        #expect(try price(tariff, ["matin"], category: nil).first?.price == euros("6.00"))
        // The category grid has no combination: a full day is its three parts.
        let day = try price(tariff, ["matin", "repas", "apres-midi"], category: "hors-commune")
        #expect(day.reduce(Money.zero) { $0 + $1.price } == euros("20.00"))
    }

    @Test func siblingsAreRankedOldestFirstPerDay() throws {
        let tariff = Tariff(code: "f", label: "F", validFrom: nil, validTo: nil, model: .siblings(["journee": [euros("16.00"), euros("14.00"), euros("12.00")]]))
        let oldest = PricingEngine.Child(id: 10, birthDate: day("2015-01-01"))
        let middle = PricingEngine.Child(id: 11, birthDate: day("2017-06-01"))
        let youngest = PricingEngine.Child(id: 12, birthDate: day("2019-03-01"))
        let fourth = PricingEngine.Child(id: 13, birthDate: day("2020-03-01"))
        let d1 = day("2026-12-21"), d2 = day("2026-12-22")
        let ranks = [d1: PricingEngine.ranks(fixed: [], movable: [youngest, oldest, middle, fourth]),
                     d2: PricingEngine.ranks(fixed: [], movable: [youngest])]
        let lines = try PricingEngine.price([
            .init(childID: 12, day: d1, units: ["journee"]), .init(childID: 10, day: d1, units: ["journee"]),
            .init(childID: 11, day: d1, units: ["journee"]), .init(childID: 13, day: d1, units: ["journee"]),
            .init(childID: 12, day: d2, units: ["journee"]),
        ], tariff: tariff, quotient: nil, category: nil, ranks: ranks)
        let byChildDay = Dictionary(uniqueKeysWithValues: lines.map { ("\($0.childID)@\($0.day.iso)", $0.price) })
        #expect(byChildDay["10@2026-12-21"] == euros("16.00"))
        #expect(byChildDay["11@2026-12-21"] == euros("14.00"))
        #expect(byChildDay["12@2026-12-21"] == euros("12.00"))
        #expect(byChildDay["13@2026-12-21"] == euros("12.00"))  // 4th child: the last price repeats
        #expect(byChildDay["12@2026-12-22"] == euros("16.00"))  // alone that day: first child's price
    }

    @Test func siblingRanksDoNotDependOnTheOrderOfBooking() throws {
        let tariff = Tariff(code: "f", label: "F", validFrom: nil, validTo: nil, model: .siblings(["journee": [euros("16.00"), euros("14.00"), euros("12.00")]]))
        let older = PricingEngine.Child(id: 20, birthDate: day("2016-01-01"))
        let younger = PricingEngine.Child(id: 21, birthDate: day("2020-01-01"))
        let d = day("2026-12-21")
        func total(_ child: PricingEngine.Child, _ ranks: [Int64: Int]) throws -> Money {
            try PricingEngine.price([.init(childID: child.id, day: d, units: ["journee"])], tariff: tariff, quotient: nil, category: nil,
                                    ranks: [d: ranks]).reduce(Money.zero) { $0 + $1.price }
        }
        // Younger paid first (alone: rank 1), then the older: the older takes the rank left, 2.
        let youngerFirst = PricingEngine.ranks(fixed: [], movable: [younger])
        let thenOlder = PricingEngine.ranks(fixed: [youngerFirst[21]!], movable: [older])
        #expect(youngerFirst == [21: 1] && thenOlder == [20: 2])
        // Older paid first, then the younger: 1 and 2 again.
        let olderFirst = PricingEngine.ranks(fixed: [], movable: [older])
        let thenYounger = PricingEngine.ranks(fixed: [olderFirst[20]!], movable: [younger])
        #expect(try total(younger, youngerFirst) + total(older, thenOlder) == euros("30.00"))
        #expect(try total(older, olderFirst) + total(younger, thenYounger) == euros("30.00"))
        // Both still in the cart: priced again together, oldest first.
        #expect(PricingEngine.ranks(fixed: [], movable: [younger, older]) == [20: 1, 21: 2])
        // A third child between a paid 1st and a paid 3rd takes the 2nd rank; gaps are filled lowest first.
        #expect(PricingEngine.ranks(fixed: [1, 3], movable: [older]) == [20: 2])
        #expect(PricingEngine.ranks(fixed: [2], movable: [younger, older]) == [20: 1, 21: 3])
    }

    @Test func seventeenDaysAtFourFifteenIsExactly7055() throws {
        let tariff = Tariff(code: "c", label: "C", validFrom: nil, validTo: nil, model: .flat(["journee": euros("4.15")]))
        let days = (0..<17).map { PricingEngine.ChildDay(childID: 1, day: day("2027-02-01").adding(days: $0), units: ["journee"]) }
        let lines = try PricingEngine.price(days, tariff: tariff, quotient: nil, category: nil)
        #expect(lines.count == 17)
        #expect(lines.reduce(Money.zero) { $0 + $1.price }.cents == 7055)
        #expect(lines.reduce(Money.zero) { $0 + $1.price }.description == "70,55\u{00A0}€")
    }
}

@Suite struct BookingRuleTests {
    let paris = TimeZone(identifier: "Europe/Paris")!

    @Test func bookingWindowAndAge() {
        let period = Period(code: "p", label: "P", ageGroup: "m", startsOn: day("2026-12-21"), endsOn: day("2026-12-31"),
                            weekdays: [.lundi], closedDays: [], units: ["journee"], places: ["journee": 1], tariff: "t",
                            bookingOpensAt: LocalDateTime(parsing: "2026-11-02T08:00"), bookingClosesAt: LocalDateTime(parsing: "2026-12-20T12:00"),
                            deadline: .dayBeforeNoon)
        #expect(!period.isOpenForBooking(at: day("2026-11-02").instant(at: LocalTime(hour: 7, minute: 59)!, in: paris), in: paris))
        #expect(period.isOpenForBooking(at: day("2026-11-02").instant(at: LocalTime(hour: 8, minute: 0)!, in: paris), in: paris))
        #expect(!period.isOpenForBooking(at: day("2026-12-20").instant(at: LocalTime(hour: 12, minute: 0)!, in: paris), in: paris))
        // Day-before-noon deadline, in Paris time.
        #expect(period.isBookable(day("2026-12-28"), at: day("2026-12-27").instant(at: LocalTime(hour: 12, minute: 0)!, in: paris), in: paris))
        #expect(!period.isBookable(day("2026-12-28"), at: day("2026-12-27").instant(at: LocalTime(hour: 12, minute: 1)!, in: paris), in: paris))
        let group = AgeGroup(code: "m", label: "3-6", minAge: 3, maxAge: 6)
        #expect(group.admits(birthDate: day("2020-12-21"), on: day("2026-12-21")))   // 6 that day
        #expect(!group.admits(birthDate: day("2019-12-20"), on: day("2026-12-21")))  // 7
        #expect(!group.admits(birthDate: day("2023-12-22"), on: day("2026-12-21")))  // 2
    }
}
