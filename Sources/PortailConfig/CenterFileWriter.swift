import Foundation
import PortailDomain
import Yams

/// Writes a center back as a center file (the format `CenterFileParser` reads), so that what staff
/// changed through the API can be reviewed and committed to git.
public enum CenterFileWriter {
    public static func yaml(_ center: Center) throws -> String {
        var top: [(String, Node)] = [("code", s(center.code)), ("name", s(center.name))]
        if !center.organisation.isEmpty { top.append(("organisation", s(center.organisation))) }
        top += [
            ("hosts", seq(center.hosts.map(s))), ("time_zone", s(center.timeZone)),
            ("coordinates", map(coordinates(center.coordinates))),
            ("invoice_prefix", s(center.invoicePrefix)), ("cart_hold_minutes", n(center.cartHoldMinutes)),
            ("units", seq(center.units.map { unit in
                map([("code", s(unit.code)), ("label", s(unit.label))] + (unit.consumes.isEmpty ? [] : [("consumes", seq(unit.consumes.map(s)))]))
            })),
            ("age_groups", seq(center.ageGroups.map { group in
                map([("code", s(group.code)), ("label", s(group.label)), ("min_age", n(group.minAge)), ("max_age", n(group.maxAge))])
            })),
            ("tariffs", seq(center.tariffs.map(tariff))),
            ("periods", seq(center.periods.map(period))),
        ]
        if center.waitingListOfferHours != Center.defaultOfferHours {
            top.append(("waiting_list", map([("offer_hours", n(center.waitingListOfferHours))])))
        }
        if let room = center.waitingRoom {
            top.append(("waiting_room", map([("admitted_per_minute", n(room.admittedPerMinute)), ("active_minutes", n(room.activeMinutes)),
                                             ("queue_before_minutes", n(room.queueBeforeMinutes))])))
        }
        if let residents = center.residents {
            top.append(("residents", map([("postcodes", residents.postcodes), ("communes", residents.communes)]
                .filter { !$0.1.isEmpty }.map { ($0.0, seq($0.1.map(s))) })))
        }
        if let file = center.familyFile {
            var block: [(String, Node)] = []
            if !file.required.isEmpty { block.append(("required", seq(file.required.map { s($0.rawValue) }))) }
            if !file.documents.isEmpty { block.append(("documents", seq(file.documents.map { s($0.rawValue) }))) }
            if let days = file.confirmEveryDays { block.append(("confirm_every_days", n(days))) }
            if !file.validation.isEmpty { block.append(("validation", seq(file.validation.map { s($0.rawValue) }))) }
            if file.selfSignUp { block.append(("self_sign_up", Node.scalar(.init("true")))) }
            if file.approveSignUps { block.append(("approve_sign_ups", Node.scalar(.init("true")))) }
            top.append(("family_file", map(block)))
        }
        if let legal = center.legal {
            top.append(("legal", map([("name", legal.name), ("siret", legal.siret), ("address", legal.address), ("mentions", legal.mentions)]
                .compactMap { key, value in value.map { (key, s($0)) } })))
        }
        if let payment = center.payment {
            top.append(("payment", map([("type", s(payment.type))] + payment.parameters.sorted { $0.key < $1.key }.map { ($0.key, s($0.value)) })))
        }
        return try Yams.serialize(node: map(top), allowUnicode: true, sortKeys: false)
    }

    static func coordinates(_ c: Coordinates) -> [(String, Node)] {
        var result: [(String, Node)] = [
            ("name", s(c.name)), ("address", seq(c.addressLines.map(s))), ("postcode", s(c.postcode)), ("city", s(c.city)),
            ("phone", s(c.phone)), ("email", s(c.email)),
        ]
        if !c.officeHours.isEmpty {
            result.append(("office_hours", map(c.officeHours.map { hours in
                (hours.weekday.rawValue, seq(hours.slots.map { s("\($0.start)-\($0.end)") }))
            })))
        }
        result.append(("portal_url", s(c.portalURL)))
        return result
    }

    static func tariff(_ t: Tariff) -> Node {
        var fields: [(String, Node)] = [("code", s(t.code)), ("label", s(t.label))]
        if let from = t.validFrom { fields.append(("valid_from", s(from.iso))) }
        if let to = t.validTo { fields.append(("valid_to", s(to.iso))) }
        fields.append(("model", s(t.model.name)))
        fields += grid(t.model)
        if !t.categories.isEmpty {
            fields.append(("categories", map(t.categories.sorted { $0.key < $1.key }.map { ($0.key, map(grid($0.value))) })))
        }
        return map(fields)
    }

    static func grid(_ model: TariffModel) -> [(String, Node)] {
        func prices(_ p: [String: Money]) -> Node { map(p.sorted { $0.key < $1.key }.map { ($0.key, s($0.value.decimalString)) }) }
        switch model {
        case .flat(let p):
            return [("prices", prices(p))]
        case .siblings(let p):
            return [("prices", map(p.sorted { $0.key < $1.key }.map { ($0.key, seq($0.value.map { s($0.decimalString) })) }))]
        case .quotientBrackets(let brackets):
            return [("brackets", seq(brackets.map { b in
                map([b.min.map { ("qf_min", n($0)) }, b.max.map { ("qf_max", n($0)) }].compactMap { $0 } + [("prices", prices(b.prices))])
            }))]
        }
    }

    static func deadline(_ d: DeadlineRule) -> Node {
        if let weekday = d.previousWeekday {
            return map([("previous_weekday", s(weekday.rawValue)), ("at", s(d.at.description))])
        }
        return map([("days_before", n(d.daysBefore)), ("at", s(d.at.description)),
                    ("skip_weekends", b(d.skipWeekends)), ("skip_public_holidays", b(d.skipPublicHolidays))])
    }

    static func period(_ p: Period) -> Node {
        var booking: [(String, Node)] = []
        if let opens = p.bookingOpensAt { booking.append(("opens_at", s(opens.description))) }
        if let closes = p.bookingClosesAt { booking.append(("closes_at", s(closes.description))) }
        if !p.priorityWindows.isEmpty {
            booking.append(("priority", seq(p.priorityWindows.map { window in
                map([("opens_at", s(window.opensAt.description)), ("for", seq(window.groups.map { s($0.rawValue) }))])
            })))
        }
        if let previous = p.previousPeriod { booking.append(("previous_period", s(previous))) }
        booking.append(("deadline", deadline(p.deadline)))
        if let cancellation = p.cancellation { booking.append(("cancellation", deadline(cancellation))) }
        return map([
            ("code", s(p.code)), ("label", s(p.label)), ("age_group", s(p.ageGroup)),
            ("starts_on", s(p.startsOn.iso)), ("ends_on", s(p.endsOn.iso)),
            ("weekdays", seq(p.weekdays.map { s($0.rawValue) })), ("closed_days", seq(p.closedDays.map { s($0.iso) })),
            ("units", seq(p.units.map(s))),
            ("places", map(p.places.sorted { $0.key < $1.key }.map { ($0.key, n($0.value)) })),
        ] + (p.dayPlaces.isEmpty ? [] : [
            ("day_places", map(p.dayPlaces.sorted { $0.key < $1.key }.map { day, places in
                (day.iso, map(places.sorted { $0.key < $1.key }.map { ($0.key, n($0.value)) }))
            })),
        ]) + [
            ("tariff", s(p.tariff)), ("booking", map(booking)),
        ] + (p.closed ? [("closed", b(true))] : []))
    }

    /// A period as JSON (the same keys as in the center file), for the admin API.
    public static func json(_ p: Period) throws -> Data {
        try json(period(p))
    }

    /// A tariff as JSON (the same keys as in the center file), for the admin API.
    public static func json(_ t: Tariff) throws -> Data {
        try json(tariff(t))
    }

    static func json(_ node: Node) throws -> Data {
        try JSONSerialization.data(withJSONObject: plain(node), options: [.sortedKeys])
    }

    /// The node as Foundation values: quoted scalars are text, plain ones numbers or booleans.
    static func plain(_ node: Node) -> Any {
        switch node {
        case .scalar(let scalar):
            if scalar.style == .doubleQuoted { return scalar.string }
            if let value = Int(scalar.string) { return value }
            if scalar.string == "true" || scalar.string == "false" { return scalar.string == "true" }
            return scalar.string
        case .mapping(let mapping):
            return Dictionary(mapping.map { ($0.key.string ?? "", plain($0.value)) }, uniquingKeysWith: { a, _ in a })
        case .sequence(let sequence):
            return sequence.map(plain)
        case .alias:
            return NSNull()
        }
    }

    /// Text always quoted, so that codes like "06650" or "yes" stay text.
    static func s(_ text: String) -> Node { .scalar(.init(text, .implicit, .doubleQuoted)) }
    static func n(_ value: Int) -> Node { .scalar(.init(String(value))) }
    static func b(_ value: Bool) -> Node { .scalar(.init(value ? "true" : "false")) }
    static func seq(_ nodes: [Node]) -> Node { .sequence(.init(nodes)) }
    static func map(_ pairs: [(String, Node)]) -> Node { .mapping(.init(pairs.map { (s($0.0), $0.1) })) }
}
