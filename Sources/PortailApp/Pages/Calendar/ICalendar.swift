import Foundation
import PortailDomain

/// Writes an iCalendar (RFC 5545) document: CRLF line ends, text escaped, lines folded at 75 octets.
struct ICalendar {
    struct Event {
        /// Stable across readings, so that a calendar updates the event instead of adding it again.
        let uid: String
        /// An all-day event on this date (no time zone: the day is the day wherever the phone is).
        let day: LocalDate
        let summary: String
        let location: String
        let description: String
    }

    let name: String
    let events: [Event]
    let stamp: Date

    var text: String {
        var lines = [
            "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Portail Famille//Agenda//FR", "CALSCALE:GREGORIAN", "METHOD:PUBLISH",
            "X-WR-CALNAME:" + Self.escape(name), "REFRESH-INTERVAL;VALUE=DURATION:PT6H", "X-PUBLISHED-TTL:PT6H",
        ]
        let stamp = Self.utc(stamp)
        for event in events {
            lines += [
                "BEGIN:VEVENT", "UID:" + event.uid, "DTSTAMP:" + stamp,
                "DTSTART;VALUE=DATE:" + Self.date(event.day), "DTEND;VALUE=DATE:" + Self.date(event.day.adding(days: 1)),
                "SUMMARY:" + Self.escape(event.summary), "LOCATION:" + Self.escape(event.location),
                "DESCRIPTION:" + Self.escape(event.description), "TRANSP:TRANSPARENT", "END:VEVENT",
            ]
        }
        lines.append("END:VCALENDAR")
        return lines.map(Self.fold).joined(separator: "\r\n") + "\r\n"
    }

    /// TEXT values: backslash, semicolon, comma and line breaks escaped (RFC 5545, 3.3.11).
    static func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "\\": out += "\\\\"
            case ";": out += "\\;"
            case ",": out += "\\,"
            case "\n", "\r\n", "\r": out += "\\n"
            default: out.append(character)
            }
        }
        return out
    }

    /// Lines longer than 75 octets continue on the next line after a space, never inside a character.
    static func fold(_ line: String) -> String {
        var result = "", count = 0
        for scalar in line.unicodeScalars {
            let size = String(scalar).utf8.count
            if count + size > 75 {
                result += "\r\n "
                count = 1
            }
            result.unicodeScalars.append(scalar)
            count += size
        }
        return result
    }

    static func date(_ day: LocalDate) -> String { day.iso.replacingOccurrences(of: "-", with: "") }

    static func utc(_ instant: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: instant)
        return Digits.pad(c.year!, 4) + Digits.pad(c.month!, 2) + Digits.pad(c.day!, 2) + "T"
            + Digits.pad(c.hour!, 2) + Digits.pad(c.minute!, 2) + Digits.pad(c.second!, 2) + "Z"
    }
}
