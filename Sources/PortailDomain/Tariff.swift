/// A tariff: how much one booked unit costs on a day, under one of the models of the portal.
public struct Tariff: Sendable, Hashable, Codable {
    public var code: String
    public var label: String
    public var validFrom: LocalDate?
    public var validTo: LocalDate?
    public var model: TariffModel

    public init(code: String, label: String, validFrom: LocalDate?, validTo: LocalDate?, model: TariffModel) {
        self.code = code
        self.label = label
        self.validFrom = validFrom
        self.validTo = validTo
        self.model = model
    }

    /// Units the tariff puts a price on.
    public var pricedUnits: Set<String> {
        switch model {
        case .flat(let prices): return Set(prices.keys)
        case .quotientBrackets(let brackets): return Set(brackets.flatMap { $0.prices.keys })
        case .siblings(let prices): return Set(prices.keys)
        }
    }

    /// The price of one unit for a child, given the family's QF (if known) and the child's rank among
    /// the siblings booked that day (1 = oldest). Nil when the tariff has no price for the unit.
    public func price(unit: String, quotient: Int?, siblingRank: Int = 1) -> Money? {
        switch model {
        case .flat(let prices):
            return prices[unit]
        case .quotientBrackets(let brackets):
            // First bracket containing the QF, bounds inclusive; no QF or no match: the last (plein tarif).
            if let qf = quotient, let bracket = brackets.first(where: { $0.contains(qf) }) {
                return bracket.prices[unit]
            }
            return brackets.last?.prices[unit]
        case .siblings(let prices):
            guard let ranks = prices[unit], !ranks.isEmpty else { return nil }
            return ranks[min(max(siblingRank, 1), ranks.count) - 1]
        }
    }
}

/// The tariff models (family-portals.md §2.2).
public enum TariffModel: Sendable, Hashable, Codable {
    /// One price per unit ("montant unique").
    case flat([String: Money])
    /// Brackets of quotient familial, bounds inclusive; the last bracket applies without QF.
    case quotientBrackets([QuotientBracket])
    /// Degressive by rank among siblings present the same day, oldest first; the last price repeats.
    case siblings([String: [Money]])

    public var name: String {
        switch self {
        case .flat: "flat"
        case .quotientBrackets: "qf"
        case .siblings: "siblings"
        }
    }
}

public struct QuotientBracket: Sendable, Hashable, Codable {
    public var min: Int?
    public var max: Int?
    public var prices: [String: Money]

    public init(min: Int?, max: Int?, prices: [String: Money]) {
        self.min = min
        self.max = max
        self.prices = prices
    }

    public func contains(_ qf: Int) -> Bool {
        (min.map { qf >= $0 } ?? true) && (max.map { qf <= $0 } ?? true)
    }
}
