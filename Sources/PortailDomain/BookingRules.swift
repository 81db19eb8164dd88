import Foundation

extension Period {
    /// Whether parents can book this period at `now`: not closed, inside its booking window and not over.
    public func isOpenForBooking(at now: Date, in zone: TimeZone) -> Bool {
        isOpenForBooking(at: now, in: zone, opensAt: bookingOpensAt)
    }

    /// The same, for a family for whom booking opens at `opensAt` (its priority window, or the general
    /// opening; nil: no opening to wait for).
    public func isOpenForBooking(at now: Date, in zone: TimeZone, opensAt: LocalDateTime?) -> Bool {
        if closed { return false }
        if let opens = opensAt, now < opens.instant(in: zone) { return false }
        if let closes = bookingClosesAt, now >= closes.instant(in: zone) { return false }
        return LocalDate(now, in: zone) <= endsOn
    }

    /// Whether `day` can still be booked at `now` under the period's deadline rule.
    public func isBookable(_ day: LocalDate, at now: Date, in zone: TimeZone) -> Bool {
        now <= deadline.deadline(for: day, in: zone)
    }

    /// Of `days`, in calendar order, the index of the first that can still be booked at `now` (`days.count`:
    /// none). A later day's deadline never falls earlier (`DeadlineRule.deadlineDay` steps back from the day
    /// itself), so every day after it can be booked too: a grid works out a few deadlines, not one a day
    /// (each a calendar reckoning in the center's zone).
    public func firstBookable(of days: [LocalDate], at now: Date, in zone: TimeZone) -> Int {
        var low = 0, high = days.count
        while low < high {
            let middle = (low + high) / 2
            if isBookable(days[middle], at: now, in: zone) { high = middle } else { low = middle + 1 }
        }
        return low
    }
}

/// What decides when a period opens for one family: its address, the staff's mark, and the periods
/// where one of its children had a confirmed reservation.
public struct PriorityStanding: Sendable, Hashable {
    public var postcode: String
    public var city: String
    public var marked: Bool
    /// Codes of the periods where a child of the family has a confirmed reservation.
    public var attended: Set<String>

    public init(postcode: String, city: String, marked: Bool, attended: Set<String>) {
        self.postcode = postcode
        self.city = city
        self.marked = marked
        self.attended = attended
    }

    /// A family that belongs to no group: it waits for the general opening.
    public static let none = PriorityStanding(postcode: "", city: "", marked: false, attended: [])
}

extension Center {
    /// Whether some period opens earlier for some families (else no family's standing matters).
    public var hasPriorityWindows: Bool { periods.contains { !$0.priorityWindows.isEmpty } }

    /// Whether booking first reads the family's standing or its file: priority windows, or a family file that
    /// asks something. Without either, a grid's one statement is all the booking wizard reads.
    public var checksFamiliesBeforeBooking: Bool { hasPriorityWindows || familyFile?.asksAnything == true }

    /// Whether some tariff prices some families by their quotient familial (its grid then reads it).
    public var pricesByQuotient: Bool {
        tariffs.contains { $0.model.usesQuotient || $0.categories.values.contains(where: \.usesQuotient) }
    }

    /// The period whose families have the `previous_period` priority for `period`: the one it names,
    /// else the latest period of its age group that ended before it starts.
    public func previousPeriod(of period: Period) -> Period? {
        if let code = period.previousPeriod { return self.period(code) }
        return periods.filter { $0.ageGroup == period.ageGroup && $0.endsOn < period.startsOn }
            .max { ($0.endsOn, $0.code) < ($1.endsOn, $1.code) }
    }

    /// The groups of `period`'s priority windows that the family belongs to.
    public func priorityGroups(_ standing: PriorityStanding, for period: Period) -> Set<PriorityGroup> {
        var groups: Set<PriorityGroup> = []
        if residents?.includes(postcode: standing.postcode, city: standing.city) == true { groups.insert(.residents) }
        if standing.marked { groups.insert(.marked) }
        if let previous = previousPeriod(of: period), standing.attended.contains(previous.code) { groups.insert(.previousPeriod) }
        return groups
    }

    /// When `period` opens for the family: the earliest window of a group it belongs to, else the
    /// general opening (nil: open from the start).
    public func opening(of period: Period, for standing: PriorityStanding) -> LocalDateTime? {
        guard let general = period.bookingOpensAt, !period.priorityWindows.isEmpty else { return period.bookingOpensAt }
        let groups = priorityGroups(standing, for: period)
        let earliest = period.priorityWindows.filter { !groups.isDisjoint(with: $0.groups) }.map(\.opensAt).min()
        return min(earliest ?? general, general)
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
