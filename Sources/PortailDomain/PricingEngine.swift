/// Prices booked days exactly, in cents: units and combinations (the largest combination wins),
/// QF brackets, family categories, and sibling ranks (see `ranks(fixed:movable:)`).
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
        /// The child's sibling rank on the day (1 when alone).
        public var rank: Int
    }

    public struct UnpricedUnits: Error, Sendable, Equatable {
        public var day: LocalDate
        public var units: [String]
    }

    /// Prices `days` under `tariff`. `ranks` gives, per day, each child's sibling rank (from
    /// `ranks(fixed:movable:)`); a child missing from it counts as alone.
    public static func price(
        _ days: [ChildDay], tariff: Tariff, quotient: Int?, category: String?,
        ranks: [LocalDate: [Int64: Int]] = [:]
    ) throws(UnpricedUnits) -> [Line] {
        let model = tariff.model(for: category)
        var lines: [Line] = []
        for booking in days.sorted(by: { ($0.day, $0.childID) < ($1.day, $1.childID) }) {
            let rank = ranks[booking.day]?[booking.childID] ?? 1
            let prices = model.prices(quotient: quotient, siblingRank: rank)
            lines += try decompose(booking, prices: prices).map { line in
                var line = line
                line.rank = rank
                return line
            }
        }
        return lines
    }

    /// The sibling ranks of one day, so that what a family pays for the day does not depend on the order
    /// its children were booked in. Children whose day is paid or confirmed keep the rank they were priced
    /// with (`fixed`); the others (still in the cart, or being booked) take the ranks left, lowest first,
    /// oldest child first (ties broken by id). Two children booked together get 1 and 2, oldest first;
    /// a younger child paid alone at rank 1 leaves rank 2 to an older sibling booked later.
    public static func ranks(fixed: [Int], movable: [Child]) -> [Int64: Int] {
        let taken = Set(fixed)
        var free: [Int] = []
        var rank = 1
        while free.count < movable.count {
            if !taken.contains(rank) { free.append(rank) }
            rank += 1
        }
        let ordered = movable.sorted { ($0.birthDate, $0.id) < ($1.birthDate, $1.id) }
        return Dictionary(uniqueKeysWithValues: zip(ordered.map(\.id), free))
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
            lines.append(Line(childID: booking.childID, day: booking.day, units: combo.units.sorted(), key: combo.key, price: prices[combo.key]!, rank: 1))
        }
        guard remaining.isEmpty else { throw UnpricedUnits(day: booking.day, units: remaining.sorted()) }
        return lines
    }
}
