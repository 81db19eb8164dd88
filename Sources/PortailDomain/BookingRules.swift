import Foundation

extension Period {
    /// Whether parents can book this period at `now`: not closed, inside its booking window and not over.
    public func isOpenForBooking(at now: Date, in zone: TimeZone) -> Bool {
        if closed { return false }
        if let opens = bookingOpensAt, now < opens.instant(in: zone) { return false }
        if let closes = bookingClosesAt, now >= closes.instant(in: zone) { return false }
        return LocalDate(now, in: zone) <= endsOn
    }

    /// Whether `day` can still be booked at `now` under the period's deadline rule.
    public func isBookable(_ day: LocalDate, at now: Date, in zone: TimeZone) -> Bool {
        now <= deadline.deadline(for: day, in: zone)
    }
}

extension AgeGroup {
    /// A child belongs to the group when its age on the period's first day is within the bounds.
    public func admits(birthDate: LocalDate, on day: LocalDate) -> Bool {
        (minAge...maxAge).contains(birthDate.age(on: day))
    }
}

extension BookingUnit {
    /// "Journées", "Matins", "Repas", "Après-midi": the label for several days.
    public var pluralLabel: String {
        let lower = label.lowercased()
        if lower.hasSuffix("s") || lower.hasSuffix("x") || lower.hasSuffix("midi") || label.contains(" ") { return label }
        return label + "s"
    }
}

extension Center {
    public func unit(_ code: String) -> BookingUnit? { units.first { $0.code == code } }
    public func period(_ code: String) -> Period? { periods.first { $0.code == code } }
    public func tariff(_ code: String) -> Tariff? { tariffs.first { $0.code == code } }
    public func ageGroup(_ code: String) -> AgeGroup? { ageGroups.first { $0.code == code } }

    /// How a price key reads on a cart line: "Journées" (or "Journée" for one day), or "Matin + Repas + Après-midi".
    public func designation(forKey key: String, plural: Bool = true) -> String {
        let parts = key.split(separator: "+").map(String.init)
        if parts.count == 1 { return (plural ? unit(key)?.pluralLabel : unit(key)?.label) ?? key }
        return parts.map { unit($0)?.label ?? $0 }.joined(separator: " + ")
    }
}
