import Foundation
import Synchronization

/// A day of the calendar, with no time zone (a period's day, a birth date, a closed day).
public struct LocalDate: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public let year: Int
    public let month: Int
    public let day: Int

    public init?(year: Int, month: Int, day: Int) {
        guard (1...9999).contains(year), (1...12).contains(month),
              (1...LocalDate.daysIn(month: month, year: year)).contains(day) else { return nil }
        self.year = year
        self.month = month
        self.day = day
    }

    /// Parses ISO "2016-07-06".
    public init?(iso text: String) {
        // Byte by byte: every date PostgreSQL sends comes through here (the grid reads 150 a page).
        guard text.utf8.count == 10 else { return nil }
        var y = 0, m = 0, d = 0
        for (index, byte) in text.utf8.enumerated() {
            if index == 4 || index == 7 {
                guard byte == UInt8(ascii: "-") else { return nil }
                continue
            }
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let digit = Int(byte - UInt8(ascii: "0"))
            if index < 4 { y = y * 10 + digit } else if index < 7 { m = m * 10 + digit } else { d = d * 10 + digit }
        }
        self.init(year: y, month: m, day: d)
    }

    public static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    public static func isLeap(_ y: Int) -> Bool { (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 }

    /// Days since 1970-01-01 (proleptic Gregorian), for arithmetic.
    public var dayNumber: Int {
        // Howard Hinnant's days_from_civil.
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    public init(dayNumber z0: Int) {
        let z = z0 + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        self.year = yoe + era * 400 + (m <= 2 ? 1 : 0)
        self.month = m
        self.day = d
    }

    public func adding(days: Int) -> LocalDate { LocalDate(dayNumber: dayNumber + days) }

    /// Whole years from this day (a birth date) to `day`: the age on that day.
    public func age(on day: LocalDate) -> Int {
        day.year - year - ((day.month, day.day) < (month, self.day) ? 1 : 0)
    }

    public var weekday: Weekday { Weekday.allCases[((dayNumber % 7) + 7 + 3) % 7] }  // 1970-01-01 was a Thursday

    /// "2016-07-06"
    public var iso: String { Digits.joined((year, 4), (month, 2), (day, 2), by: UInt8(ascii: "-")) }
    /// "06/07/2016"
    public var french: String { Digits.joined((day, 2), (month, 2), (year, 4), by: UInt8(ascii: "/")) }
    /// "06/07"
    public var frenchDayMonth: String { Digits.joined((day, 2), (month, 2), by: UInt8(ascii: "/")) }
    public var description: String { iso }

    public static func < (a: LocalDate, b: LocalDate) -> Bool { a.dayNumber < b.dayNumber }

    /// The calendar day of an instant in a time zone.
    public init(_ instant: Date, in zone: TimeZone) {
        let c = Calendars.gregorian(in: zone).dateComponents([.year, .month, .day], from: instant)
        self.init(year: c.year!, month: c.month!, day: c.day!)!
    }

    /// The instant of this day at a wall-clock time in a time zone.
    public func instant(at time: LocalTime, in zone: TimeZone) -> Date {
        let c = DateComponents(year: year, month: month, day: day, hour: time.hour, minute: time.minute)
        return Calendars.gregorian(in: zone).date(from: c)!
    }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let date = LocalDate(iso: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a date: \(text)"))
        }
        self = date
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(iso)
    }
}

/// A wall-clock time of day, minutes precision ("12:00").
public struct LocalTime: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public let hour: Int
    public let minute: Int

    public init?(hour: Int, minute: Int) {
        guard (0...23).contains(hour), (0...59).contains(minute) else { return nil }
        self.hour = hour
        self.minute = minute
    }

    /// Parses "12:00" or "8:30".
    public init?(parsing text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, (1...2).contains(parts[0].count), parts[1].count == 2,
              let h = Int(parts[0]), let m = Int(parts[1]) else { return nil }
        self.init(hour: h, minute: m)
    }

    public var minutesOfDay: Int { hour * 60 + minute }
    /// "12:00"
    public var description: String { Digits.pad(hour, 2) + ":" + Digits.pad(minute, 2) }
    /// "14h00", as French notices write it.
    public var french: String { "\(hour)h" + Digits.pad(minute, 2) }
    public static func < (a: LocalTime, b: LocalTime) -> Bool { a.minutesOfDay < b.minutesOfDay }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let t = LocalTime(parsing: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a time: \(text)"))
        }
        self = t
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// Days of the week, Monday first, with their French names (as the YAML and the pages write them).
public enum Weekday: String, Sendable, CaseIterable, Codable, Comparable {
    case lundi, mardi, mercredi, jeudi, vendredi, samedi, dimanche

    public var isWeekend: Bool { self == .samedi || self == .dimanche }
    public var index: Int { Weekday.allCases.firstIndex(of: self)! }
    public static func < (a: Weekday, b: Weekday) -> Bool { a.index < b.index }
}

/// Dictionaries keyed by day encode as JSON objects keyed "YYYY-MM-DD".
extension LocalDate: CodingKeyRepresentable {
    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public var codingKey: any CodingKey { Key(stringValue: iso) }

    public init?<T: CodingKey>(codingKey: T) {
        self.init(iso: codingKey.stringValue)
    }
}

/// Zero-padded numbers without `String(format:)`, which goes through NSString and shows on every page.
public enum Digits {
    /// Two or three numbers padded to their widths and joined by `separator` ("2016-07-06"), written at once: a
    /// day's words are on every page, and pads then concatenations cost several strings each.
    public static func joined(_ a: (Int, Int), _ b: (Int, Int), _ c: (Int, Int)? = nil, by separator: UInt8) -> String {
        // Only numbers from 0 that fit their width (a date's): any other goes through `pad`.
        guard fits(a), fits(b), c.map(fits) ?? true else {
            return [a, b, c].compactMap { $0.map { pad($0.0, $0.1) } }.joined(separator: String(UnicodeScalar(separator)))
        }
        let count = a.1 + 1 + b.1 + (c.map { 1 + $0.1 } ?? 0)
        return String(unsafeUninitializedCapacity: count) { buffer in
            var end = 0
            func put(_ part: (Int, Int)) {
                var rest = part.0
                for position in stride(from: end + part.1 - 1, through: end, by: -1) {
                    buffer[position] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: rest % 10)
                    rest /= 10
                }
                end += part.1
            }
            put(a)
            buffer[end] = separator
            end += 1
            put(b)
            if let c {
                buffer[end] = separator
                end += 1
                put(c)
            }
            return end
        }
    }

    /// Whether a number is from 0 and has at most its width of digits (1 to 9).
    private static func fits(_ part: (Int, Int)) -> Bool {
        guard part.0 >= 0, (1...9).contains(part.1) else { return false }
        var limit = 1
        for _ in 0..<part.1 { limit *= 10 }
        return part.0 < limit
    }

    /// "07" for (7, 2); numbers wider than `width` are written whole.
    public static func pad(_ n: Int, _ width: Int) -> String {
        let digits = String(n.magnitude)
        let padded = digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
        return n < 0 ? "-" + padded : padded
    }
}

/// Gregorian calendars and time zones, made once per zone: creating them on Linux reads the zone
/// database under a lock, and pages need them for every cell and deadline.
public enum Calendars {
    private static let cache = Mutex<[String: Calendar]>([:])
    private static let zones = Mutex<[String: TimeZone]>([:])

    public static func gregorian(in zone: TimeZone) -> Calendar {
        if let calendar = cache.withLock({ $0[zone.identifier] }) { return calendar }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        cache.withLock { $0[zone.identifier] = calendar }
        return calendar
    }

    /// The zone of an identifier ("Europe/Paris"), nil when unknown.
    public static func zone(_ identifier: String) -> TimeZone? {
        if let zone = zones.withLock({ $0[identifier] }) { return zone }
        guard let zone = TimeZone(identifier: identifier) else { return nil }
        zones.withLock { $0[identifier] = zone }
        return zone
    }
}
