import Foundation
import PortailDomain

/// The back office's period form, as the text its fields hold: filled from a period (to edit or to
/// duplicate) or from what was posted (shown again with what to fix), and turned into the period's JSON
/// with the center file's keys, which `CenterEditor` then checks as it does the admin API's.
struct PeriodForm {
    var code = ""
    var label = ""
    var ageGroup = ""
    var startsOn = ""
    var endsOn = ""
    var weekdays: Set<String> = ["lundi", "mardi", "mercredi", "jeudi", "vendredi"]
    var closedDays = ""
    var units: Set<String> = []
    var places: [String: String] = [:]
    var tariff = ""
    var opensAt = ""
    var closesAt = ""
    var deadlineDays = "1"
    var deadlineTime = "12:00"
    var skipWeekends = false
    var skipHolidays = false
    /// A weekday name: "the previous jeudi" rather than a number of days.
    var deadlineWeekday = ""
    /// The period a new one copies (its cancellation rule is kept).
    var source = ""

    init() {}

    /// The form of `period`; `shiftedBy` days later for a duplicate (its code and name a year on).
    init(_ period: Period, shiftedBy days: Int = 0) {
        func shift(_ d: LocalDate) -> LocalDate { d.adding(days: days) }
        func shift(_ t: LocalDateTime?) -> String {
            t.map { LocalDateTime(date: shift($0.date), time: $0.time).description } ?? ""
        }
        code = days == 0 ? period.code : Self.nextYear(period.code)
        label = days == 0 ? period.label : Self.nextYear(period.label)
        ageGroup = period.ageGroup
        startsOn = shift(period.startsOn).iso
        endsOn = shift(period.endsOn).iso
        weekdays = Set(period.weekdays.map(\.rawValue))
        closedDays = period.closedDays.sorted().map { shift($0).french }.joined(separator: ", ")
        units = Set(period.units)
        places = period.places.mapValues(String.init)
        tariff = period.tariff
        opensAt = shift(period.bookingOpensAt)
        closesAt = shift(period.bookingClosesAt)
        deadlineDays = String(period.deadline.daysBefore)
        deadlineTime = period.deadline.at.description
        skipWeekends = period.deadline.skipWeekends
        skipHolidays = period.deadline.skipPublicHolidays
        deadlineWeekday = period.deadline.previousWeekday?.rawValue ?? ""
    }

    init(_ form: FormFields) {
        func text(_ name: String, _ limit: Int = 200) -> String { String((form[name] ?? "").trimmingCharacters(in: .whitespacesAndNewlines).prefix(limit)) }
        code = text("code", 60).lowercased()
        label = text("libelle")
        ageGroup = text("groupe", 60)
        startsOn = text("debut", 20)
        endsOn = text("fin", 20)
        weekdays = Set(form.all("jours").filter { Weekday(rawValue: $0) != nil })
        closedDays = text("fermes", 2000)
        units = Set(form.all("formules").prefix(50))
        for field in form.fields where field.name.hasPrefix("places_") && field.name.count <= 60 {
            places[String(field.name.dropFirst(7))] = String(field.value.trimmingCharacters(in: .whitespaces).prefix(10))
        }
        tariff = text("tarif", 60)
        opensAt = text("ouverture", 20)
        closesAt = text("cloture", 20)
        deadlineDays = text("delai_jours", 10)
        deadlineTime = text("delai_heure", 10)
        skipWeekends = form["delai_weekends"] == "oui"
        skipHolidays = form["delai_feries"] == "oui"
        deadlineWeekday = text("delai_jour_semaine", 20)
        source = text("depuis", 60)
    }

    /// "hiver-2026" → "hiver-2027", "Vacances 2026-2027" → "Vacances 2027-2028": the years a year on.
    static func nextYear(_ text: String) -> String {
        guard let regex = try? NSRegularExpression(pattern: "20[0-9]{2}") else { return text }
        var result = text
        for match in regex.matches(in: text, range: NSRange(text.startIndex..., in: text)).reversed() {
            guard let range = Range(match.range, in: result), let year = Int(result[range]) else { continue }
            result.replaceSubrange(range, with: String(year + 1))
        }
        return result
    }

    /// A date as typed: 21/12/2026, 21/12/26 or 2026-12-21.
    static func date(_ text: String) -> LocalDate? {
        if let iso = LocalDate(iso: text) { return iso }
        let parts = text.split(separator: "/").map(String.init)
        guard parts.count == 3, let d = Int(parts[0]), let m = Int(parts[1]), var y = Int(parts[2]) else { return nil }
        if parts[2].count == 2 { y += 2000 }
        return LocalDate(iso: "\(Digits.pad(y, 4))-\(Digits.pad(m, 2))-\(Digits.pad(d, 2))")
    }

    /// "2027-01-04T08:00" (a datetime-local field) or "04/01/2027 08:00".
    static func dateTime(_ text: String) -> LocalDateTime? {
        if let t = LocalDateTime(parsing: text) { return t }
        let parts = text.split(separator: " ", maxSplits: 1).map(String.init)
        guard parts.count == 2, let d = date(parts[0]), let t = LocalTime(parsing: parts[1].replacingOccurrences(of: "h", with: ":")) else { return nil }
        return LocalDateTime(date: d, time: t)
    }

    /// The period's JSON: `current` (its center-file keys) with what the form sets; the keys the form does
    /// not show (cancellation, priority windows, places of single days) stay. Or what to fix, in French.
    func json(over current: [String: Any], creating: Bool) -> Result<[String: Any], FormProblems> {
        var errors: [String] = []
        var object = current
        if creating {
            var code = code
            if code.isEmpty { code = Self.slug(label) }
            if code.isEmpty { errors.append("Donnez un nom à la période.") }
            object["code"] = code
        }
        if label.isEmpty { errors.append("Donnez un nom à la période, par exemple « Vacances d'hiver 2027 élémentaire ».") }
        object["label"] = label
        object["age_group"] = ageGroup
        let starts = Self.date(startsOn), ends = Self.date(endsOn)
        if starts == nil { errors.append("Indiquez la date de début, par exemple 08/02/2027.") }
        if ends == nil { errors.append("Indiquez la date de fin, par exemple 19/02/2027.") }
        object["starts_on"] = starts?.iso
        object["ends_on"] = ends?.iso
        if weekdays.isEmpty { errors.append("Cochez au moins un jour d'ouverture.") }
        object["weekdays"] = Weekday.allCases.map(\.rawValue).filter(weekdays.contains)
        var closed: [String] = []
        for item in closedDays.split(whereSeparator: { $0 == "," || $0 == ";" || $0.isWhitespace }) where !item.isEmpty {
            guard let day = Self.date(String(item)) else { errors.append("« \(item) » n'est pas une date de jour fermé : écrivez par exemple 25/12/2026."); continue }
            closed.append(day.iso)
        }
        guard closed.count <= 400 else { return .failure(FormProblems(["Trop de jours fermés."])) }
        object["closed_days"] = closed
        if units.isEmpty { errors.append("Cochez au moins une formule proposée.") }
        object["units"] = units.sorted()
        var placesObject: [String: Int] = [:]
        for (unit, text) in places where !text.isEmpty {
            guard let n = Int(text), (0...10_000).contains(n) else { errors.append("Les places vont de 0 à 10 000 : « \(text) » n'en est pas un nombre."); continue }
            placesObject[unit] = n
        }
        object["places"] = placesObject
        object["tariff"] = tariff
        var booking = (current["booking"] as? [String: Any]) ?? [:]
        booking["opens_at"] = nil
        booking["closes_at"] = nil
        if !opensAt.isEmpty {
            if let t = Self.dateTime(opensAt) { booking["opens_at"] = t.description } else { errors.append("L'ouverture des réservations s'écrit par exemple 04/01/2027 08:00.") }
        }
        if !closesAt.isEmpty {
            if let t = Self.dateTime(closesAt) { booking["closes_at"] = t.description } else { errors.append("La clôture des réservations s'écrit par exemple 05/02/2027 12:00.") }
        }
        guard let at = LocalTime(parsing: deadlineTime.replacingOccurrences(of: "h", with: ":")) else {
            return .failure(FormProblems(errors + ["L'heure limite pour réserver s'écrit par exemple 12:00."]))
        }
        if let weekday = Weekday(rawValue: deadlineWeekday) {
            booking["deadline"] = ["previous_weekday": weekday.rawValue, "at": at.description]
        } else {
            guard let days = Int(deadlineDays), (0...60).contains(days) else {
                return .failure(FormProblems(errors + ["Le délai pour réserver se compte en jours avant le jour réservé, de 0 à 60."]))
            }
            booking["deadline"] = ["days_before": days, "at": at.description, "skip_weekends": skipWeekends, "skip_public_holidays": skipHolidays]
        }
        object["booking"] = booking
        // Places of single days outside the new dates, or on a day now closed, no longer apply.
        if let dayPlaces = current["day_places"] as? [String: Any], let starts, let ends {
            let kept = dayPlaces.filter { key, _ in
                LocalDate(iso: key).map { $0 >= starts && $0 <= ends && !closed.contains(key) } ?? false
            }
            object["day_places"] = kept.isEmpty ? nil : kept
        }
        return errors.isEmpty ? .success(object) : .failure(FormProblems(errors))
    }

    /// "Vacances d'hiver 2027 élémentaire" → "vacances-d-hiver-2027-elementaire" (at most 40 characters).
    static func slug(_ text: String) -> String {
        let plain = text.folding(options: [.diacriticInsensitive, .caseInsensitive], locale: Locale(identifier: "fr_FR")).lowercased()
        var result = ""
        for c in plain.unicodeScalars {
            if ("a"..."z").contains(c) || ("0"..."9").contains(c) { result.unicodeScalars.append(c) }
            else if !result.isEmpty, result.last != "-" { result.append("-") }
        }
        while result.hasSuffix("-") { result.removeLast() }
        return String(result.prefix(40)).trimmingCharacters(in: CharacterSet(charactersIn: "-"))
    }
}

/// What a form's fields say to fix, in French, one message per problem.
struct FormProblems: Error {
    var messages: [String]
    init(_ messages: [String]) { self.messages = messages }
}
