import Foundation
import Logging
import PortailDomain
import PostgresNIO

/// A center as the request router needs it: identity, hosts, state and the declaration read back.
public struct CenterRecord: Sendable {
    public var id: Int64
    public var state: String
    public var center: Center
}

/// Reads centers back from their rows.
public enum CenterRepository {
    /// Every center of the federation with its full declaration (periods, tariffs ...).
    public static func loadAll(_ database: Database) async throws -> [CenterRecord] {
        var ids: [(Int64, String)] = []
        for try await (id, state) in try await database.app.query("SELECT id, state FROM centers ORDER BY code").decode((Int64, String).self) {
            ids.append((id, state))
        }
        var records: [CenterRecord] = []
        for (id, state) in ids {
            let center = try await database.withCenter(id) { connection in
                try await load(connection, centerID: id, logger: database.logger)
            }
            if let center { records.append(CenterRecord(id: id, state: state, center: center)) }
        }
        return records
    }

    /// Changes whenever a center is added, edited, suspended or resumed on any instance: each instance
    /// compares it with the one it loaded to reload what it serves.
    public static func version(_ database: Database) async throws -> String {
        var version = ""
        for try await value in try await database.app.query(
            "SELECT count(*)::text || ':' || coalesce(max(updated_at)::text, '') FROM centers"
        ).decode(String.self) { version = value }
        return version
    }

    /// Every version of every tariff of a center, oldest first.
    public static func tariffVersions(_ c: PostgresConnection, center: Int64, logger: Logger) async throws -> [(code: String, version: Int, createdAt: Date)] {
        try await c.all(
            "SELECT code, version, created_at FROM tariffs WHERE center_id = \(center) ORDER BY code, version", (String, Int, Date).self, logger: logger
        ).map { (code: $0.0, version: $0.1, createdAt: $0.2) }
    }

    /// The center `centerID` as a `Center` value, the same shape its YAML file gives. Every query names
    /// the center itself, so that it is also right on the owner's connection, which RLS does not filter.
    static func load(_ connection: PostgresConnection, centerID: Int64, logger: Logger) async throws -> Center? {
        let decoder = JSONDecoder()
        var center: Center?
        let rows = try await connection.query("""
            SELECT code, name, organisation, time_zone, invoice_prefix, cart_hold_minutes, coordinates::text, payment::text, legal::text,
                   residents::text
            FROM centers WHERE id = \(centerID)
            """, logger: logger)
        for try await (code, name, organisation, zone, prefix, hold, coordinates, payment, legal, residents)
            in rows.decode((String, String, String, String, String, Int, String, String?, String?, String?).self) {
            center = Center(
                code: code, name: name, organisation: organisation, hosts: [], timeZone: zone,
                coordinates: try decoder.decode(Coordinates.self, from: Data(coordinates.utf8)),
                invoicePrefix: prefix, cartHoldMinutes: hold, units: [], ageGroups: [], tariffs: [], periods: [],
                payment: try payment.map { try decoder.decode(PaymentSettings.self, from: Data($0.utf8)) },
                legal: try legal.map { try decoder.decode(LegalMentions.self, from: Data($0.utf8)) },
                residents: try residents.map { try decoder.decode(Residents.self, from: Data($0.utf8)) }
            )
        }
        guard var center else { return nil }
        for try await host in try await connection.query("SELECT host FROM center_hosts WHERE center_id = \(centerID) ORDER BY host", logger: logger).decode(String.self) {
            center.hosts.append(host)
        }
        for try await (code, label, consumes) in try await connection.query(
            "SELECT code, label, consumes FROM units WHERE center_id = \(centerID) ORDER BY position, code", logger: logger
        ).decode((String, String, [String]).self) {
            center.units.append(BookingUnit(code: code, label: label, consumes: consumes))
        }
        for try await (code, label, minAge, maxAge) in try await connection.query(
            "SELECT code, label, min_age, max_age FROM age_groups WHERE center_id = \(centerID) ORDER BY min_age, code", logger: logger
        ).decode((String, String, Int, Int).self) {
            center.ageGroups.append(AgeGroup(code: code, label: label, minAge: minAge, maxAge: maxAge))
        }
        // The newest version of each tariff is the one in force for new bookings.
        for try await definition in try await connection.query("""
            SELECT DISTINCT ON (code) definition::text FROM tariffs WHERE center_id = \(centerID) ORDER BY code, version DESC
            """, logger: logger).decode(String.self) {
            center.tariffs.append(try decoder.decode(Tariff.self, from: Data(definition.utf8)))
        }
        var periods: [(Int64, Period)] = []
        for try await (id, code, label, group, starts, ends, weekdays, units, tariff, opens, closes, deadline, cancellation, state, priority, previous)
            in try await connection.query("""
            SELECT id, code, label, age_group, starts_on::text, ends_on::text, weekdays, units, tariff,
                   to_char(booking_opens_at, 'YYYY-MM-DD"T"HH24:MI'), to_char(booking_closes_at, 'YYYY-MM-DD"T"HH24:MI'), deadline::text, cancellation::text, state,
                   priority::text, previous_period
            FROM periods WHERE center_id = \(centerID) ORDER BY starts_on, code
            """, logger: logger).decode((Int64, String, String, String, String, String, [Int16], [String], String, String?, String?, String, String?, String, String, String?).self) {
            periods.append((id, Period(
                code: code, label: label, ageGroup: group, startsOn: LocalDate(iso: starts)!, endsOn: LocalDate(iso: ends)!,
                weekdays: weekdays.map { Weekday.allCases[Int($0) - 1] }, closedDays: [], units: units, places: [:],
                tariff: tariff, bookingOpensAt: opens.flatMap(LocalDateTime.init(parsing:)),
                bookingClosesAt: closes.flatMap(LocalDateTime.init(parsing:)),
                deadline: try decoder.decode(DeadlineRule.self, from: Data(deadline.utf8)),
                cancellation: try cancellation.map { try decoder.decode(DeadlineRule.self, from: Data($0.utf8)) },
                closed: state == "closed",
                priorityWindows: try decoder.decode([PriorityWindow].self, from: Data(priority.utf8)), previousPeriod: previous
            )))
        }
        for index in periods.indices {
            let id = periods[index].0
            for try await day in try await connection.query(
                "SELECT day::text FROM period_closed_days WHERE center_id = \(centerID) AND period_id = \(id) ORDER BY day", logger: logger
            ).decode(String.self) {
                periods[index].1.closedDays.append(LocalDate(iso: day)!)
            }
            for try await (unit, places) in try await connection.query(
                "SELECT unit, places FROM period_capacities WHERE center_id = \(centerID) AND period_id = \(id)", logger: logger
            ).decode((String, Int).self) {
                periods[index].1.places[unit] = places
            }
            // The days whose places differ from the period's.
            for try await (day, unit, places) in try await connection.query("""
                SELECT d.day::text, d.unit, d.places FROM day_capacities d
                JOIN period_capacities c ON c.center_id = d.center_id AND c.period_id = d.period_id AND c.unit = d.unit
                WHERE d.center_id = \(centerID) AND d.period_id = \(id) AND d.places <> c.places
                """, logger: logger).decode((String, String, Int).self) {
                periods[index].1.dayPlaces[LocalDate(iso: day)!, default: [:]][unit] = places
            }
        }
        center.periods = periods.map(\.1)
        return center
    }
}
