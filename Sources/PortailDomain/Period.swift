import Foundation

/// A booking period: a holiday or a school term for one age group, with its days, units and places.
public struct Period: Sendable, Hashable, Codable {
    public var code: String
    public var label: String
    public var ageGroup: String
    public var startsOn: LocalDate
    public var endsOn: LocalDate
    public var weekdays: [Weekday]
    public var closedDays: [LocalDate]
    /// Booking units offered in this period.
    public var units: [String]
    /// Places per day for each capacity unit.
    public var places: [String: Int]
    public var tariff: String
    public var bookingOpensAt: LocalDateTime?
    public var bookingClosesAt: LocalDateTime?
    public var deadline: DeadlineRule
    /// Until when parents may cancel a confirmed day themselves; nil: only staff cancel.
    public var cancellation: DeadlineRule?
    /// Places of some days that differ from `places` (an outing, a smaller team that day).
    public var dayPlaces: [LocalDate: [String: Int]]
    /// A closed period takes no new booking; what is booked stays.
    public var closed: Bool
    /// Openings before `bookingOpensAt` for some families (residents, last period's families, marked ones).
    public var priorityWindows: [PriorityWindow]
    /// The period whose families have the `previous_period` priority; nil: the latest of the age group before this one.
    public var previousPeriod: String?

    public init(code: String, label: String, ageGroup: String, startsOn: LocalDate, endsOn: LocalDate,
                weekdays: [Weekday], closedDays: [LocalDate], units: [String], places: [String: Int],
                tariff: String, bookingOpensAt: LocalDateTime?, bookingClosesAt: LocalDateTime?,
                deadline: DeadlineRule, cancellation: DeadlineRule? = nil,
                dayPlaces: [LocalDate: [String: Int]] = [:], closed: Bool = false,
                priorityWindows: [PriorityWindow] = [], previousPeriod: String? = nil) {
        self.priorityWindows = priorityWindows
        self.previousPeriod = previousPeriod
        self.cancellation = cancellation
        self.dayPlaces = dayPlaces
        self.closed = closed
        self.code = code
        self.label = label
        self.ageGroup = ageGroup
        self.startsOn = startsOn
        self.endsOn = endsOn
        self.weekdays = weekdays
        self.closedDays = closedDays
        self.units = units
        self.places = places
        self.tariff = tariff
        self.bookingOpensAt = bookingOpensAt
        self.bookingClosesAt = bookingClosesAt
        self.deadline = deadline
    }

    /// The days the center is open in this period: the weekdays offered, minus closed days.
    public var openDays: [LocalDate] {
        let closed = Set(closedDays)
        let open = Set(weekdays)
        return (startsOn.dayNumber...endsOn.dayNumber).map(LocalDate.init(dayNumber:))
            .filter { open.contains($0.weekday) && !closed.contains($0) }
    }

    /// The places of each capacity unit on `day`: the day's own numbers over the period's.
    public func places(on day: LocalDate) -> [String: Int] {
        places.merging(dayPlaces[day] ?? [:]) { _, dayValue in dayValue }
    }

    /// Whether two periods share at least one calendar day.
    public func overlaps(_ other: Period) -> Bool {
        startsOn <= other.endsOn && other.startsOn <= endsOn
    }
}

/// Families that a priority window lets book before the general opening.
public enum PriorityGroup: String, Sendable, Hashable, Codable, CaseIterable {
    /// Families whose address is in the center's `residents`.
    case residents
    /// Families with a child confirmed in the previous period.
    case previousPeriod = "previous_period"
    /// Families the staff marked as priority.
    case marked
}

/// An opening of a period's booking, earlier than the general one, for some groups of families.
public struct PriorityWindow: Sendable, Hashable, Codable {
    public var opensAt: LocalDateTime
    public var groups: [PriorityGroup]

    public init(opensAt: LocalDateTime, groups: [PriorityGroup]) {
        self.opensAt = opensAt
        self.groups = groups
    }
}

/// A wall-clock date and time in the center's time zone ("2026-12-01T08:00").
public struct LocalDateTime: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public var date: LocalDate
    public var time: LocalTime

    public init(date: LocalDate, time: LocalTime) {
        self.date = date
        self.time = time
    }

    /// Parses "2026-12-01T08:00" or "2026-12-01 08:00".
    public init?(parsing text: String) {
        let sep: Character = text.contains("T") ? "T" : " "
        let parts = text.split(separator: sep)
        guard parts.count == 2, let d = LocalDate(iso: String(parts[0])), let t = LocalTime(parsing: String(parts[1])) else {
            return nil
        }
        self.init(date: d, time: t)
    }

    public var description: String { "\(date.iso)T\(time)" }
    /// "15/01 à 8h00", as parents read it.
    public var frenchDayMonth: String { "\(date.frenchDayMonth) à \(time.french)" }
    public static func < (a: LocalDateTime, b: LocalDateTime) -> Bool { (a.date, a.time) < (b.date, b.time) }
    public func instant(in zone: TimeZone) -> Date { date.instant(at: time, in: zone) }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let v = LocalDateTime(parsing: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a date-time: \(text)"))
        }
        self = v
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}
