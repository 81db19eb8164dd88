/// A tariff: what booked units cost on a day, under one of the models of the portal, optionally with
/// another grid per family category ("hors-commune").
public struct Tariff: Sendable, Hashable, Codable {
    public var code: String
    public var label: String
    public var validFrom: LocalDate?
    public var validTo: LocalDate?
    public var model: TariffModel
    /// Grids for families of a category; families without a category, or of another, use `model`.
    public var categories: [String: TariffModel]

    public init(code: String, label: String, validFrom: LocalDate?, validTo: LocalDate?, model: TariffModel,
                categories: [String: TariffModel] = [:]) {
        self.code = code
        self.label = label
        self.validFrom = validFrom
        self.validTo = validTo
        self.model = model
        self.categories = categories
    }

    /// The grid that applies to a family of `category`.
    public func model(for category: String?) -> TariffModel {
        category.flatMap { categories[$0] } ?? model
    }

    /// Units that can be priced on their own in every grid.
    public var pricedUnits: Set<String> {
        ([model] + Array(categories.values)).map(\.singleUnitKeys).reduce(nil as Set<String>?) { acc, keys in
            acc.map { $0.intersection(keys) } ?? keys
        } ?? []
    }

    /// The price of one single unit for a child (see `PricingEngine` for days with several units).
    public func price(unit: String, quotient: Int?, siblingRank: Int = 1, category: String? = nil) -> Money? {
        model(for: category).prices(quotient: quotient, siblingRank: siblingRank)[unit]
    }
}

/// The tariff models (family-portals.md §2.2). Price keys are a unit code ("matin") or a combination
/// of units joined by "+" ("matin+repas+apres-midi"): the largest combination booked wins.
public enum TariffModel: Sendable, Hashable, Codable {
    /// One price per unit or combination ("montant unique").
    case flat([String: Money])
    /// Brackets of quotient familial, bounds inclusive, first match wins; no QF or no match: the last.
    case quotientBrackets([QuotientBracket])
    /// Degressive by rank among the family's children booked the same day, oldest first; the last repeats.
    case siblings([String: [Money]])

    public var name: String {
        switch self {
        case .flat: "flat"
        case .quotientBrackets: "qf"
        case .siblings: "siblings"
        }
    }

    /// Whether the prices depend on the family's quotient familial (a page need not read it otherwise).
    public var usesQuotient: Bool {
        if case .quotientBrackets = self { return true }
        return false
    }

    /// The prices that apply to one child: the QF bracket and the sibling rank resolved.
    public func prices(quotient: Int?, siblingRank: Int) -> [String: Money] {
        switch self {
        case .flat(let prices):
            return prices
        case .quotientBrackets(let brackets):
            if let qf = quotient, let bracket = brackets.first(where: { $0.contains(qf) }) {
                return bracket.prices
            }
            return brackets.last?.prices ?? [:]
        case .siblings(let prices):
            return prices.compactMapValues { ranks in
                ranks.isEmpty ? nil : ranks[min(max(siblingRank, 1), ranks.count) - 1]
            }
        }
    }

    var allKeys: Set<String> {
        switch self {
        case .flat(let prices): Set(prices.keys)
        case .quotientBrackets(let brackets): Set(brackets.flatMap { $0.prices.keys })
        case .siblings(let prices): Set(prices.keys)
        }
    }

    /// Keys that name one unit alone, present in every bracket.
    var singleUnitKeys: Set<String> {
        switch self {
        case .quotientBrackets(let brackets):
            brackets.map { Set($0.prices.keys.filter { !$0.contains("+") }) }.reduce(nil as Set<String>?) { acc, keys in
                acc.map { $0.intersection(keys) } ?? keys
            } ?? []
        default:
            Set(allKeys.filter { !$0.contains("+") })
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
