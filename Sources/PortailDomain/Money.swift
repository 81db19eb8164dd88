/// An amount of money in integer cents (euros only for now). Never a floating-point value.
public struct Money: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public var cents: Int

    public init(cents: Int) { self.cents = cents }

    public static let zero = Money(cents: 0)

    /// Parses a decimal amount written by a person: "12.50", "12,5", "12", "1 250,00 €". At most two decimals.
    public init?(parsing text: String) {
        var s = text.trimmingCharacters(in: .whitespaces)
        if s.hasSuffix("€") { s = String(s.dropLast()).trimmingCharacters(in: .whitespaces) }
        // Thousands as French writes them: "1 250,00" (space, no-break or narrow no-break).
        s = String(s.filter { $0 != " " && $0 != "\u{00A0}" && $0 != "\u{202F}" })
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

    /// "12.50": a decimal point, no sign (exports and forms).
    public var decimalString: String {
        let sign = cents < 0 ? "-" : ""
        let magnitude = cents.magnitude
        let fraction = magnitude % 100
        return "\(sign)\(magnitude / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }

    /// How French writes it: "12,50 €", "1 250,00 €" (no-break spaces: between thousands and before the
    /// sign, so that an amount never breaks across two lines on a phone).
    public var description: String {
        let sign = cents < 0 ? "-" : ""
        let magnitude = cents.magnitude
        var whole = String(magnitude / 100)
        var grouped = ""
        while whole.count > 3 {
            grouped = "\u{00A0}" + whole.suffix(3) + grouped
            whole = String(whole.dropLast(3))
        }
        let fraction = magnitude % 100
        return "\(sign)\(whole)\(grouped),\(fraction < 10 ? "0" : "")\(fraction)\u{00A0}€"
    }

    public static func + (a: Money, b: Money) -> Money { Money(cents: a.cents + b.cents) }
    public static func - (a: Money, b: Money) -> Money { Money(cents: a.cents - b.cents) }
    public static func * (a: Money, n: Int) -> Money { Money(cents: a.cents * n) }
    public static func < (a: Money, b: Money) -> Bool { a.cents < b.cents }
}

extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
