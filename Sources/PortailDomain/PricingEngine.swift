/// Prices booked days exactly, in cents: units and combinations (the largest combination wins),
/// QF brackets, family categories, and sibling ranks (oldest first among the family's children
/// booked that day).
public enum PricingEngine {
    /// One child's booking on one day.
    public struct ChildDay: Sendable, Hashable {
        public var childID: Int64
        public var day: LocalDate
        public var units: Set<String>

        public init(childID: Int64, day: LocalDate, units: Set<String>) {
            self.childID = childID
            self.day = day
            self.units = units
        }
    }

    /// A child of the family, for sibling ranks.
    public struct Child: Sendable, Hashable {
        public var id: Int64
        public var birthDate: LocalDate
        public init(id: Int64, birthDate: LocalDate) {
            self.id = id
            self.birthDate = birthDate
        }
    }

    /// A priced line: one combination (or unit) of one child on one day.
    public struct Line: Sendable, Hashable {
        public var childID: Int64
        public var day: LocalDate
        /// The units the price covers, sorted: ["apres-midi", "matin", "repas"].
        public var units: [String]
        /// The price key used ("journee", "matin+repas+apres-midi").
        public var key: String
        public var price: Money
    }

    public struct UnpricedUnits: Error, Sendable, Equatable {
        public var day: LocalDate
        public var units: [String]
    }

    /// Prices `days` under `tariff`. `presentByDay` lists, per day, the family's children booked that day
    /// (those being priced included) to rank siblings; a child missing from it counts as alone.
    public static func price(
        _ days: [ChildDay], tariff: Tariff, quotient: Int?, category: String?,
        presentByDay: [LocalDate: [Child]] = [:]
    ) throws(UnpricedUnits) -> [Line] {
        let model = tariff.model(for: category)
        var lines: [Line] = []
        for booking in days.sorted(by: { ($0.day, $0.childID) < ($1.day, $1.childID) }) {
            let rank = siblingRank(of: booking.childID, among: presentByDay[booking.day] ?? [])
            let prices = model.prices(quotient: quotient, siblingRank: rank)
            lines += try decompose(booking, prices: prices)
        }
        return lines
    }

    /// 1 for the oldest child booked that day (ties broken by id), 2 for the next ...
    static func siblingRank(of childID: Int64, among children: [Child]) -> Int {
        let ordered = children.sorted { ($0.birthDate, $0.id) < ($1.birthDate, $1.id) }
        return (ordered.firstIndex { $0.id == childID } ?? 0) + 1
    }

    /// Covers the day's units with priced keys, largest combination first.
    static func decompose(_ booking: ChildDay, prices: [String: Money]) throws(UnpricedUnits) -> [Line] {
        let combos = prices.keys
            .map { (key: $0, units: Set($0.split(separator: "+").map(String.init))) }
            .sorted { ($0.units.count, $1.key) > ($1.units.count, $0.key) }
        var remaining = booking.units
        var lines: [Line] = []
        for combo in combos where !combo.units.isEmpty && combo.units.isSubset(of: remaining) {
            remaining.subtract(combo.units)
            lines.append(Line(childID: booking.childID, day: booking.day, units: combo.units.sorted(), key: combo.key, price: prices[combo.key]!))
        }
        guard remaining.isEmpty else { throw UnpricedUnits(day: booking.day, units: remaining.sorted()) }
        return lines
    }
}
