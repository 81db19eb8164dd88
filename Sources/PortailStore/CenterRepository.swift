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
    ///
    /// Read by the owner, with no center set, in one read-only snapshot: a fixed number of queries for
    /// the whole federation. The application role sees one center per transaction (row-level
    /// security), which made this a thousand transactions for a thousand centers at every start.
    public static func loadAll(_ database: Database) async throws -> [CenterRecord] {
        let logger = database.logger
        return try await database.owner.withConnection { connection in
            try await connection.run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", logger: logger)
            do {
                let ids = try await connection.all("SELECT id, state FROM centers ORDER BY code", (Int64, String).self, logger: logger)
                let centers = try await load(connection, centerIDs: ids.map(\.0), logger: logger)
                try await connection.run("COMMIT", logger: logger)
                return ids.compactMap { id, state in centers[id].map { CenterRecord(id: id, state: state, center: $0) } }
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw error
            }
        }
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

    /// The centers `centerIDs` by id, as `Center` values of the shape their YAML files give, in one query
    /// per table whatever their number. Every query names the centers itself, so that it is also right on
    /// the owner's connection, which sees every center when none is set.
    static func load(_ connection: PostgresConnection, centerIDs: [Int64], logger: Logger) async throws -> [Int64: Center] {
        let decoder = JSONDecoder()
        var centers: [Int64: Center] = [:]
        for (id, code, name, organisation, zone, prefix, hold, coordinates, payment, legal, residents, room, offer, familyFile) in try await connection.all("""
            SELECT id, code, name, organisation, time_zone, invoice_prefix, cart_hold_minutes, coordinates::text, payment::text,
                   legal::text, residents::text, waiting_room::text, waiting_list_offer_hours, family_file::text
            FROM centers WHERE id = ANY(\(centerIDs))
            """, (Int64, String, String, String, String, String, Int, String, String?, String?, String?, String?, Int, String?).self, logger: logger) {
            var center = Center(
                code: code, name: name, organisation: organisation, hosts: [], timeZone: zone,
                coordinates: try decoder.decode(Coordinates.self, from: Data(coordinates.utf8)),
                invoicePrefix: prefix, cartHoldMinutes: hold, units: [], ageGroups: [], tariffs: [], periods: [],
                payment: try payment.map { try decoder.decode(PaymentSettings.self, from: Data($0.utf8)) },
                legal: try legal.map { try decoder.decode(LegalMentions.self, from: Data($0.utf8)) },
                residents: try residents.map { try decoder.decode(Residents.self, from: Data($0.utf8)) }
            )
            center.waitingRoom = try room.map { try decoder.decode(WaitingRoomSettings.self, from: Data($0.utf8)) }
            center.waitingListOfferHours = offer
            center.familyFile = try familyFile.map { try decoder.decode(FamilyFileRules.self, from: Data($0.utf8)) }
            centers[id] = center
        }
        let ids = Array(centers.keys)
        for (center, host) in try await connection.all(
            "SELECT center_id, host FROM center_hosts WHERE center_id = ANY(\(ids)) ORDER BY center_id, host", (Int64, String).self, logger: logger
        ) {
            centers[center]?.hosts.append(host)
        }
        for (center, code, label, consumes) in try await connection.all(
            "SELECT center_id, code, label, consumes FROM units WHERE center_id = ANY(\(ids)) ORDER BY center_id, position, code",
            (Int64, String, String, [String]).self, logger: logger
        ) {
            centers[center]?.units.append(BookingUnit(code: code, label: label, consumes: consumes))
        }
        for (center, code, label, minAge, maxAge) in try await connection.all(
            "SELECT center_id, code, label, min_age, max_age FROM age_groups WHERE center_id = ANY(\(ids)) ORDER BY center_id, min_age, code",
            (Int64, String, String, Int, Int).self, logger: logger
        ) {
            centers[center]?.ageGroups.append(AgeGroup(code: code, label: label, minAge: minAge, maxAge: maxAge))
        }
        // The newest version of each tariff is the one in force for new bookings.
        for (center, definition) in try await connection.all("""
            SELECT DISTINCT ON (center_id, code) center_id, definition::text FROM tariffs WHERE center_id = ANY(\(ids))
            ORDER BY center_id, code, version DESC
            """, (Int64, String).self, logger: logger) {
            centers[center]?.tariffs.append(try decoder.decode(Tariff.self, from: Data(definition.utf8)))
        }
        // Periods in each center's order; closed days, places and the days whose places differ are
        // gathered by period id, then put in place.
        var periods: [(center: Int64, id: Int64, period: Period)] = []
        for (center, id, code, label, group, starts, ends, weekdays, units, tariff, opens, closes, deadline, cancellation, state,
             priority, previous) in try await connection.all("""
            SELECT center_id, id, code, label, age_group, starts_on::text, ends_on::text, weekdays, units, tariff,
                   to_char(booking_opens_at, 'YYYY-MM-DD"T"HH24:MI'), to_char(booking_closes_at, 'YYYY-MM-DD"T"HH24:MI'),
                   deadline::text, cancellation::text, state, priority::text, previous_period
            FROM periods WHERE center_id = ANY(\(ids)) ORDER BY center_id, starts_on, code
            """, (Int64, Int64, String, String, String, String, String, [Int16], [String], String, String?, String?, String, String?,
                  String, String, String?).self, logger: logger) {
            periods.append((center, id, Period(
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
        let index = Dictionary(uniqueKeysWithValues: periods.indices.map { (periods[$0].id, $0) })
        for (period, day) in try await connection.all(
            "SELECT period_id, day::text FROM period_closed_days WHERE center_id = ANY(\(ids)) ORDER BY period_id, day",
            (Int64, String).self, logger: logger
        ) {
            if let i = index[period] { periods[i].period.closedDays.append(LocalDate(iso: day)!) }
        }
        for (period, unit, places) in try await connection.all(
            "SELECT period_id, unit, places FROM period_capacities WHERE center_id = ANY(\(ids))", (Int64, String, Int).self, logger: logger
        ) {
            if let i = index[period] { periods[i].period.places[unit] = places }
        }
        // The days whose places differ from the period's.
        for (period, day, unit, places) in try await connection.all("""
            SELECT d.period_id, d.day::text, d.unit, d.places FROM day_capacities d
            JOIN period_capacities c ON c.center_id = d.center_id AND c.period_id = d.period_id AND c.unit = d.unit
            WHERE d.center_id = ANY(\(ids)) AND d.places <> c.places
            """, (Int64, String, String, Int).self, logger: logger) {
            if let i = index[period] { periods[i].period.dayPlaces[LocalDate(iso: day)!, default: [:]][unit] = places }
        }
        for entry in periods { centers[entry.center]?.periods.append(entry.period) }
        return centers
    }
}
