import Foundation
import Logging
import PortailDomain
import PostgresNIO

/// Upserts centers from their declarations, keyed by codes. Importing the same files twice changes
/// nothing; what reservations or invoices point at is never removed.
public struct CenterImporter: Sendable {
    public struct Outcome: Sendable {
        public var code: String
        public var diff: CenterDiff
        /// Why the import of this center was refused, when it was; nothing of it was written then.
        public var refusal: String?
        public var applied: Bool
    }

    /// Thrown inside a center's transaction to roll it back with a message for the person importing.
    struct Refusal: Error { var message: String }

    let database: Database

    public init(database: Database) { self.database = database }

    /// Imports each center in its own transaction; a refusal of one does not stop the others.
    public func importCenters(_ centers: [(center: Center, file: String)], dryRun: Bool) async throws -> [Outcome] {
        var outcomes: [Outcome] = []
        for (center, file) in centers {
            outcomes.append(try await importCenter(center, file: file, dryRun: dryRun))
        }
        return outcomes
    }

    func importCenter(_ center: Center, file: String, dryRun: Bool) async throws -> Outcome {
        let logger = database.logger
        return try await database.owner.withConnection { connection in
            var diff = CenterDiff(changes: [])
            do {
                return try await Database.transaction(on: connection, center: nil, logger: logger) { connection in
                    // Two instances importing the same center wait for each other.
                    try await connection.query("SELECT pg_advisory_xact_lock(hashtext(\("center:" + center.code)))", logger: logger)
                    var existingID: Int64?
                    for try await id in try await connection.query("SELECT id FROM centers WHERE code = \(center.code) FOR UPDATE", logger: logger).decode(Int64.self) {
                        existingID = id
                    }
                    let before = try await existingID.asyncMap { try await CenterRepository.load(connection, centerID: $0, logger: logger) } ?? nil
                    diff = CenterDiff(from: before, to: center)
                    if diff.isEmpty {
                        return Outcome(code: center.code, diff: diff, refusal: nil, applied: false)
                    }
                    try await apply(center, file: file, existingID: existingID, diff: diff, on: connection)
                    if dryRun { throw DryRunRollback() }
                    return Outcome(code: center.code, diff: diff, refusal: nil, applied: true)
                }
            } catch is DryRunRollback {
                return Outcome(code: center.code, diff: diff, refusal: nil, applied: false)
            } catch let refusal as Refusal {
                return Outcome(code: center.code, diff: diff, refusal: refusal.message, applied: false)
            } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
                // A unique value (a host, an invoice prefix) already belongs to another center.
                let detail = error.serverInfo?[.detail] ?? Migrator.message(of: error)
                return Outcome(code: center.code, diff: diff, refusal: "already used by another center: \(detail)", applied: false)
            }
        }
    }

    /// A dry run goes through every check and write, then rolls back, so that it refuses what a real run would.
    struct DryRunRollback: Error {}

    private func apply(_ center: Center, file: String, existingID: Int64?, diff: CenterDiff, on connection: PostgresConnection) async throws {
        let logger = database.logger
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let coordinates = String(decoding: try encoder.encode(center.coordinates), as: UTF8.self)
        let payment = try center.payment.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
        let legal = try center.legal.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
        let id: Int64
        if let existingID {
            id = existingID
            try await connection.query("""
                UPDATE centers SET name = \(center.name), organisation = \(center.organisation), time_zone = \(center.timeZone),
                    invoice_prefix = \(center.invoicePrefix), cart_hold_minutes = \(center.cartHoldMinutes),
                    coordinates = \(coordinates)::jsonb, payment = \(payment)::jsonb, legal = \(legal)::jsonb, source_file = \(file), updated_at = now()
                WHERE id = \(id)
                """, logger: logger)
        } else {
            var newID: Int64 = 0
            for try await value in try await connection.query("""
                INSERT INTO centers (code, name, organisation, time_zone, invoice_prefix, cart_hold_minutes, coordinates, payment, legal, source_file)
                VALUES (\(center.code), \(center.name), \(center.organisation), \(center.timeZone), \(center.invoicePrefix),
                        \(center.cartHoldMinutes), \(coordinates)::jsonb, \(payment)::jsonb, \(legal)::jsonb, \(file))
                RETURNING id
                """, logger: logger).decode(Int64.self) { newID = value }
            id = newID
        }
        try await connection.query("SELECT set_config('portail.center_id', \(String(id)), true)", logger: logger)
        try await connection.query("DELETE FROM center_hosts WHERE center_id = \(id)", logger: logger)
        for host in center.hosts {
            try await connection.query("INSERT INTO center_hosts (center_id, host) VALUES (\(id), \(host))", logger: logger)
        }

        for (position, unit) in center.units.enumerated() {
            try await connection.query("""
                INSERT INTO units (center_id, code, label, consumes, position) VALUES (\(id), \(unit.code), \(unit.label), \(unit.consumes), \(position))
                ON CONFLICT (center_id, code) DO UPDATE SET label = EXCLUDED.label, consumes = EXCLUDED.consumes, position = EXCLUDED.position
                """, logger: logger)
        }
        for group in center.ageGroups {
            try await connection.query("""
                INSERT INTO age_groups (center_id, code, label, min_age, max_age) VALUES (\(id), \(group.code), \(group.label), \(group.minAge), \(group.maxAge))
                ON CONFLICT (center_id, code) DO UPDATE SET label = EXCLUDED.label, min_age = EXCLUDED.min_age, max_age = EXCLUDED.max_age
                """, logger: logger)
        }
        // A changed tariff becomes a new version: reservations keep the version they were priced with.
        let changedTariffs = Set(diff.changes.filter { $0.entity == "tariff" && $0.kind != .removed }.map(\.code))
        for tariff in center.tariffs where existingID == nil || changedTariffs.contains(tariff.code) {
            let definition = String(decoding: try encoder.encode(tariff), as: UTF8.self)
            try await connection.query("""
                INSERT INTO tariffs (center_id, code, version, label, model, valid_from, valid_to, definition)
                SELECT \(id), \(tariff.code), coalesce(max(version), 0) + 1, \(tariff.label), \(tariff.model.name),
                       \(tariff.validFrom?.iso)::date, \(tariff.validTo?.iso)::date, \(definition)::jsonb
                FROM tariffs WHERE center_id = \(id) AND code = \(tariff.code)
                """, logger: logger)
        }
        for period in center.periods {
            try await upsertPeriod(period, center: id, on: connection)
        }

        // Removals last, each refused when something booked points at it.
        for code in diff.removed("period") {
            let booked = try await count(connection, "SELECT count(*) FROM reservations r JOIN periods p ON p.center_id = r.center_id AND p.id = r.period_id WHERE p.center_id = \(id) AND p.code = \(code)")
            if booked > 0 {
                throw Refusal(message: "period \"\(code)\" is removed from the file but \(booked) reservation(s) point at it: close it instead (state closed) or keep it")
            }
            try await connection.query("DELETE FROM day_capacities WHERE center_id = \(id) AND period_id = (SELECT id FROM periods WHERE center_id = \(id) AND code = \(code))", logger: logger)
            try await connection.query("DELETE FROM periods WHERE center_id = \(id) AND code = \(code)", logger: logger)
        }
        for code in diff.removed("tariff") {
            let used = try await count(connection, "SELECT count(*) FROM reservation_lines WHERE center_id = \(id) AND tariff = \(code)")
            if used > 0 {
                throw Refusal(message: "tariff \"\(code)\" is removed from the file but \(used) booked day(s) were priced with it: keep it (give it a valid_to date instead)")
            }
            try await connection.query("DELETE FROM tariffs WHERE center_id = \(id) AND code = \(code)", logger: logger)
        }
        for code in diff.removed("unit") {
            let used = try await count(connection, "SELECT count(*) FROM reservation_lines WHERE center_id = \(id) AND \(code) = ANY(units)")
            if used > 0 {
                throw Refusal(message: "unit \"\(code)\" is removed from the file but \(used) booked day(s) use it: keep it")
            }
            try await connection.query("DELETE FROM period_capacities WHERE center_id = \(id) AND unit = \(code)", logger: logger)
            try await connection.query("DELETE FROM units WHERE center_id = \(id) AND code = \(code)", logger: logger)
        }
        for code in diff.removed("age group") {
            let used = try await count(connection, "SELECT count(*) FROM periods WHERE center_id = \(id) AND age_group = \(code)")
            if used > 0 {
                throw Refusal(message: "age group \"\(code)\" is removed from the file but \(used) period(s) still use it")
            }
            try await connection.query("DELETE FROM age_groups WHERE center_id = \(id) AND code = \(code)", logger: logger)
        }
        try await AuditLog.record(connection, center: id, actor: "import", action: "center.import", subject: file,
                                  after: diff.changes.map(\.description), logger: logger)
    }

    private func upsertPeriod(_ period: Period, center id: Int64, on connection: PostgresConnection) async throws {
        let logger = database.logger
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let deadline = String(decoding: try encoder.encode(period.deadline), as: UTF8.self)
        let cancellation = try period.cancellation.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
        let weekdays = period.weekdays.map { Int16($0.index + 1) }
        var periodID: Int64 = 0
        for try await value in try await connection.query("""
            INSERT INTO periods (center_id, code, label, age_group, starts_on, ends_on, weekdays, units, tariff,
                                 booking_opens_at, booking_closes_at, deadline, cancellation)
            VALUES (\(id), \(period.code), \(period.label), \(period.ageGroup), \(period.startsOn.iso)::date, \(period.endsOn.iso)::date,
                    \(weekdays), \(period.units), \(period.tariff), \(period.bookingOpensAt?.description)::timestamp,
                    \(period.bookingClosesAt?.description)::timestamp, \(deadline)::jsonb, \(cancellation)::jsonb)
            ON CONFLICT (center_id, code) DO UPDATE SET label = EXCLUDED.label, age_group = EXCLUDED.age_group,
                starts_on = EXCLUDED.starts_on, ends_on = EXCLUDED.ends_on, weekdays = EXCLUDED.weekdays, units = EXCLUDED.units,
                tariff = EXCLUDED.tariff, booking_opens_at = EXCLUDED.booking_opens_at,
                booking_closes_at = EXCLUDED.booking_closes_at, deadline = EXCLUDED.deadline, cancellation = EXCLUDED.cancellation
            RETURNING id
            """, logger: logger).decode(Int64.self) { periodID = value }

        try await connection.query("DELETE FROM period_closed_days WHERE center_id = \(id) AND period_id = \(periodID)", logger: logger)
        for day in period.closedDays {
            try await connection.query("INSERT INTO period_closed_days (center_id, period_id, day) VALUES (\(id), \(periodID), \(day.iso)::date)", logger: logger)
        }
        try await connection.query("DELETE FROM period_capacities WHERE center_id = \(id) AND period_id = \(periodID)", logger: logger)
        for (unit, places) in period.places.sorted(by: { $0.key < $1.key }) {
            try await connection.query("INSERT INTO period_capacities (center_id, period_id, unit, places) VALUES (\(id), \(periodID), \(unit), \(places))", logger: logger)
        }

        // One capacity row per open day and capacity unit. Places can shrink only down to what is taken.
        let days = period.openDays.map(\.iso)
        let units = period.places.keys.sorted()
        let overbooked = try await connection.query("""
            SELECT day::text, unit, taken FROM day_capacities d
            WHERE center_id = \(id) AND period_id = \(periodID) AND taken > 0
              AND (NOT (day = ANY(\(days)::date[])) OR NOT (unit = ANY(\(units)))
                   OR taken > (SELECT places FROM period_capacities c WHERE c.center_id = d.center_id AND c.period_id = d.period_id AND c.unit = d.unit))
            """, logger: logger).decode((String, String, Int).self)
        for try await (day, unit, taken) in overbooked {
            throw Refusal(message: "period \"\(period.code)\": \(taken) place(s) of \"\(unit)\" are already taken on \(day), "
                + "which the file closes or gives fewer places: keep that day open with at least \(taken) places")
        }
        try await connection.query("""
            DELETE FROM day_capacities WHERE center_id = \(id) AND period_id = \(periodID)
              AND (NOT (day = ANY(\(days)::date[])) OR NOT (unit = ANY(\(units))))
            """, logger: logger)
        try await connection.query("""
            INSERT INTO day_capacities (center_id, period_id, day, unit, places)
            SELECT \(id), \(periodID), d, c.unit, c.places
            FROM unnest(\(days)::date[]) AS d, period_capacities c
            WHERE c.center_id = \(id) AND c.period_id = \(periodID)
            ON CONFLICT (center_id, period_id, day, unit) DO UPDATE SET places = EXCLUDED.places
            """, logger: logger)
    }

    private func count(_ connection: PostgresConnection, _ query: PostgresQuery) async throws -> Int {
        var n = 0
        for try await value in try await connection.query(query, logger: database.logger).decode(Int.self) { n = value }
        return n
    }
}

extension Optional {
    func asyncMap<U>(_ transform: (Wrapped) async throws -> U) async rethrows -> U? {
        switch self {
        case .some(let value): try await transform(value)
        case .none: nil
        }
    }
}
