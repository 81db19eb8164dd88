/// An amount of money in integer cents (euros only for now). Never a floating-point value.
public struct Money: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public var cents: Int

    public init(cents: Int) { self.cents = cents }

    public static let zero = Money(cents: 0)

    /// Parses a decimal amount written by a person: "12.50", "12,5", "12". At most two decimals.
    public init?(parsing text: String) {
        var s = text.trimmingCharacters(in: .whitespaces)
        if s.hasSuffix("€") { s = String(s.dropLast()).trimmingCharacters(in: .whitespaces) }
        s = s.replacingOccurrences(of: ",", with: ".")
        var negative = false
        if s.hasPrefix("-") { negative = true; s.removeFirst() }
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 1 || parts.count == 2,
              let whole = parts.first, !whole.isEmpty, whole.allSatisfy(\.isASCIIDigit),
              whole.count <= 9
        else { return nil }
        var cents = Int(whole)! * 100
        if parts.count == 2 {
            let fraction = parts[1]
            guard !fraction.isEmpty, fraction.count <= 2, fraction.allSatisfy(\.isASCIIDigit) else { return nil }
            cents += Int(fraction)! * (fraction.count == 1 ? 10 : 1)
        }
        self.cents = negative ? -cents : cents
    }

    /// "12.50" — the form the seed shows before the € sign.
    public var decimalString: String {
        let sign = cents < 0 ? "-" : ""
        let magnitude = cents.magnitude
        let fraction = magnitude % 100
        return "\(sign)\(magnitude / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }

    /// "12.50 €"
    public var description: String { "\(decimalString) €" }

    public static func + (a: Money, b: Money) -> Money { Money(cents: a.cents + b.cents) }
    public static func - (a: Money, b: Money) -> Money { Money(cents: a.cents - b.cents) }
    public static func * (a: Money, n: Int) -> Money { Money(cents: a.cents * n) }
    public static func < (a: Money, b: Money) -> Bool { a.cents < b.cents }
}

extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
