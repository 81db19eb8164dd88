import Foundation

/// "J-2 at 12:00, weekends and public holidays not counted": until when a day can be booked.
public struct DeadlineRule: Sendable, Hashable, Codable {
    /// How many days before the booked day the deadline falls (0 = the day itself).
    public var daysBefore: Int
    /// Wall-clock time of the deadline on that day, in the center's time zone.
    public var at: LocalTime
    /// Saturdays and Sundays are not counted when stepping back.
    public var skipWeekends: Bool
    /// French public holidays are not counted when stepping back.
    public var skipPublicHolidays: Bool
    /// "The previous jeudi at 12:00": when set, the deadline is the last such weekday strictly before
    /// the booked day, and `daysBefore` and the skips are not used.
    public var previousWeekday: Weekday?

    public init(daysBefore: Int, at: LocalTime, skipWeekends: Bool, skipPublicHolidays: Bool, previousWeekday: Weekday? = nil) {
        self.daysBefore = daysBefore
        self.at = at
        self.skipWeekends = skipWeekends
        self.skipPublicHolidays = skipPublicHolidays
        self.previousWeekday = previousWeekday
    }

    /// The default: the day before at noon, every day counted.
    public static let dayBeforeNoon = DeadlineRule(daysBefore: 1, at: LocalTime(hour: 12, minute: 0)!, skipWeekends: false, skipPublicHolidays: false)

    /// The calendar day on which the deadline for `day` falls.
    public func deadlineDay(for day: LocalDate) -> LocalDate {
        if let weekday = previousWeekday {
            let back = (day.weekday.index - weekday.index + 7) % 7
            return day.adding(days: -(back == 0 ? 7 : back))
        }
        var current = day
        var remaining = daysBefore
        while remaining > 0 {
            current = current.adding(days: -1)
            if skipWeekends && current.weekday.isWeekend { continue }
            if skipPublicHolidays && FrenchPublicHolidays.contains(current) { continue }
            remaining -= 1
        }
        return current
    }

    /// The instant after which `day` can no longer be booked.
    public func deadline(for day: LocalDate, in zone: TimeZone) -> Date {
        deadlineDay(for: day).instant(at: at, in: zone)
    }

    /// "J-2 à 12h00 (week-ends et jours fériés non comptés)"
    public var french: String {
        if let weekday = previousWeekday { return "le \(weekday.rawValue) précédent à \(at.french)" }
        var text = "J-\(daysBefore) à \(at.french)"
        switch (skipWeekends, skipPublicHolidays) {
        case (true, true): text += " (week-ends et jours fériés non comptés)"
        case (true, false): text += " (week-ends non comptés)"
        case (false, true): text += " (jours fériés non comptés)"
        case (false, false): break
        }
        return text
    }
}

/// The eleven public holidays of metropolitan France.
public enum FrenchPublicHolidays {
    /// Whether `day` is one of `days(in:)`, worked out without building the year's set: a deadline skipping
    /// holidays asks it for each day it steps back, for each day of a grid.
    public static func contains(_ day: LocalDate) -> Bool {
        switch (day.month, day.day) {
        case (1, 1), (5, 1), (5, 8), (7, 14), (8, 15), (11, 1), (11, 11), (12, 25): return true
        default: break
        }
        // Easter falls between March 22 and April 25: its Monday, Ascension and Whit Monday between March 23 and June 14.
        guard (3...6).contains(day.month) else { return false }
        let offset = day.dayNumber - easterSunday(day.year).dayNumber
        return offset == 1 || offset == 39 || offset == 50
    }

    public static func days(in year: Int) -> Set<LocalDate> {
        let easter = easterSunday(year)
        let fixed = [(1, 1), (5, 1), (5, 8), (7, 14), (8, 15), (11, 1), (11, 11), (12, 25)]
        var result = Set(fixed.map { LocalDate(year: year, month: $0.0, day: $0.1)! })
        result.insert(easter.adding(days: 1))   // lundi de Pâques
        result.insert(easter.adding(days: 39))  // Ascension
        result.insert(easter.adding(days: 50))  // lundi de Pentecôte
        return result
    }

    /// Anonymous Gregorian algorithm (Meeus/Jones/Butcher).
    public static func easterSunday(_ year: Int) -> LocalDate {
        let a = year % 19, b = year / 100, c = year % 100
        let d = b / 4, e = b % 4, f = (b + 8) / 25, g = (b - f + 1) / 3
        let h = (19 * a + b - d - g + 15) % 30
        let i = c / 4, k = c % 4
        let l = (32 + 2 * e + 2 * i - h - k) % 7
        let m = (a + 11 * h + 22 * l) / 451
        let month = (h + l - 7 * m + 114) / 31
        let day = ((h + l - 7 * m + 114) % 31) + 1
        return LocalDate(year: year, month: month, day: day)!
    }
}
