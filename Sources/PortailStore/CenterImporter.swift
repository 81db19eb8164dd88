import Crypto
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

    /// A center file to import: its text's digest lets a start skip the files unchanged since their
    /// last import, so that what staff edited through the API in the meantime stays.
    public struct Source: Sendable {
        public var center: Center
        public var file: String
        public var textDigest: String?
        /// Whether a file whose text is the one imported last is left alone (at start), rather than
        /// compared with the database again (an explicit `portail centers import`).
        public var skipIfUnchanged: Bool

        public init(center: Center, file: String, text: String? = nil, skipIfUnchanged: Bool = false) {
            self.center = center
            self.file = file
            self.textDigest = text.map { SHA256.hash(data: Data($0.utf8)).map { String(format: "%02x", $0) }.joined() }
            self.skipIfUnchanged = skipIfUnchanged
        }
    }

    /// Imports each center in its own transaction; a refusal of one does not stop the others.
    public func importCenters(_ sources: [Source], dryRun: Bool) async throws -> [Outcome] {
        var outcomes: [Outcome] = []
        for source in sources {
            outcomes.append(try await run(code: source.center.code, file: source.file, textDigest: source.textDigest, skipIfUnchanged: source.skipIfUnchanged,
                                          dryRun: dryRun, force: false, audit: ("import", "center.import", source.file)) { _ in source.center }!)
        }
        return outcomes
    }

    public func importCenters(_ centers: [(center: Center, file: String)], dryRun: Bool) async throws -> [Outcome] {
        try await importCenters(centers.map { Source(center: $0.center, file: $0.file) }, dryRun: dryRun)
    }

    /// Changes a stored center through `change` (an admin API edit of a period or a tariff), under the
    /// same lock and checks as an import. `force` lets places go below what is taken; each forced day
    /// is in the audit log.
    public func edit(
        code: String, actor: String, action: String, subject: String, force: Bool = false, dryRun: Bool = false,
        change: @Sendable (Center) throws -> Center
    ) async throws -> Outcome? {
        try await run(code: code, file: nil, textDigest: nil, skipIfUnchanged: false, dryRun: dryRun, force: force, audit: (actor, action, subject)) { before in
            guard let before else { return nil }
            return try change(before)
        }
    }

    private func run(
        code: String, file: String?, textDigest: String?, skipIfUnchanged: Bool, dryRun: Bool, force: Bool,
        audit: (actor: String, action: String, subject: String),
        target: @Sendable (Center?) throws -> Center?
    ) async throws -> Outcome? {
        let logger = database.logger
        return try await database.owner.withConnection { connection in
            var diff = CenterDiff(changes: [])
            do {
                return try await Database.transaction(on: connection, center: nil, logger: logger) { connection -> Outcome? in
                    // Two instances importing the same center wait for each other.
                    try await connection.query("SELECT pg_advisory_xact_lock(hashtext(\("center:" + code)))", logger: logger)
                    var existingID: Int64?
                    var storedDigest: String?
                    for try await (id, digest) in try await connection.query("SELECT id, file_hash FROM centers WHERE code = \(code) FOR UPDATE", logger: logger).decode((Int64, String?).self) {
                        existingID = id
                        storedDigest = digest
                    }
                    if skipIfUnchanged, let textDigest, textDigest == storedDigest, !dryRun {
                        return Outcome(code: code, diff: diff, refusal: nil, applied: false)
                    }
                    let before = try await existingID.asyncMap { try await CenterRepository.load(connection, centerID: $0, logger: logger) } ?? nil
                    guard let center = try target(before) else { return nil }
                    diff = CenterDiff(from: before, to: center)
                    let id = diff.isEmpty ? existingID : try await apply(center, file: file, existingID: existingID, diff: diff, force: force, audit: audit, on: connection)
                    if dryRun && !diff.isEmpty { throw DryRunRollback() }
                    if let id, !dryRun {
                        if let textDigest {
                            // The file's text as now imported, so that a start skips it while it stays the same.
                            try await connection.query("UPDATE centers SET file_hash = \(textDigest) WHERE id = \(id)", logger: logger)
                        } else if !diff.isEmpty {
                            // Changed through the API: the file (if any) no longer tells all.
                            try await connection.query("UPDATE centers SET edited_at = now() WHERE id = \(id)", logger: logger)
                        }
                    }
                    return Outcome(code: center.code, diff: diff, refusal: nil, applied: !diff.isEmpty)
                }
            } catch is DryRunRollback {
                return Outcome(code: code, diff: diff, refusal: nil, applied: false)
            } catch let refusal as Refusal {
                return Outcome(code: code, diff: diff, refusal: refusal.message, applied: false)
            } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
                // A unique value (a host, an invoice prefix) already belongs to another center.
                let detail = error.serverInfo?[.detail] ?? Migrator.message(of: error)
                return Outcome(code: code, diff: diff, refusal: "already used by another center: \(detail)", applied: false)
            }
        }
    }

    /// A dry run goes through every check and write, then rolls back, so that it refuses what a real run would.
    struct DryRunRollback: Error {}

    private func apply(
        _ center: Center, file: String?, existingID: Int64?, diff: CenterDiff, force: Bool,
        audit: (actor: String, action: String, subject: String), on connection: PostgresConnection
    ) async throws -> Int64 {
        let logger = database.logger
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let coordinates = String(decoding: try encoder.encode(center.coordinates), as: UTF8.self)
        let payment = try center.payment.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
        let legal = try center.legal.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
        let residents = try center.residents.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
        let id: Int64
        if let existingID {
            id = existingID
            try await connection.query("""
                UPDATE centers SET name = \(center.name), organisation = \(center.organisation), time_zone = \(center.timeZone),
                    invoice_prefix = \(center.invoicePrefix), cart_hold_minutes = \(center.cartHoldMinutes),
                    coordinates = \(coordinates)::jsonb, payment = \(payment)::jsonb, legal = \(legal)::jsonb,
                    residents = \(residents)::jsonb, source_file = coalesce(\(file), source_file), updated_at = now()
                WHERE id = \(id)
                """, logger: logger)
        } else {
            var newID: Int64 = 0
            for try await value in try await connection.query("""
                INSERT INTO centers (code, name, organisation, time_zone, invoice_prefix, cart_hold_minutes, coordinates, payment, legal, source_file, residents)
                VALUES (\(center.code), \(center.name), \(center.organisation), \(center.timeZone), \(center.invoicePrefix),
                        \(center.cartHoldMinutes), \(coordinates)::jsonb, \(payment)::jsonb, \(legal)::jsonb, \(file), \(residents)::jsonb)
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
        var forced: [String] = []
        for period in center.periods {
            forced += try await upsertPeriod(period, center: id, force: force, on: connection)
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
        try await AuditLog.record(connection, center: id, actor: audit.actor, action: audit.action, subject: audit.subject,
                                  after: diff.changes.map(\.description), logger: logger)
        if !forced.isEmpty {
            try await AuditLog.record(connection, center: id, actor: audit.actor, action: "capacity.force", subject: audit.subject,
                                      after: forced, logger: logger)
        }
        return id
    }

    /// Writes one period with its closed days and the places of each open day; returns the days whose
    /// places were forced below what is taken ("2026-07-15 journee: 12 places, 14 taken").
    private func upsertPeriod(_ period: Period, center id: Int64, force: Bool, on connection: PostgresConnection) async throws -> [String] {
        let logger = database.logger
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let deadline = String(decoding: try encoder.encode(period.deadline), as: UTF8.self)
        let cancellation = try period.cancellation.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
        let priority = String(decoding: try encoder.encode(period.priorityWindows), as: UTF8.self)
        let weekdays = period.weekdays.map { Int16($0.index + 1) }
        let state = period.closed ? "closed" : "open"
        var periodID: Int64 = 0
        for try await value in try await connection.query("""
            INSERT INTO periods (center_id, code, label, age_group, starts_on, ends_on, weekdays, units, tariff,
                                 booking_opens_at, booking_closes_at, deadline, cancellation, state, priority, previous_period)
            VALUES (\(id), \(period.code), \(period.label), \(period.ageGroup), \(period.startsOn.iso)::date, \(period.endsOn.iso)::date,
                    \(weekdays), \(period.units), \(period.tariff), \(period.bookingOpensAt?.description)::timestamp,
                    \(period.bookingClosesAt?.description)::timestamp, \(deadline)::jsonb, \(cancellation)::jsonb, \(state),
                    \(priority)::jsonb, \(period.previousPeriod))
            ON CONFLICT (center_id, code) DO UPDATE SET label = EXCLUDED.label, age_group = EXCLUDED.age_group,
                starts_on = EXCLUDED.starts_on, ends_on = EXCLUDED.ends_on, weekdays = EXCLUDED.weekdays, units = EXCLUDED.units,
                tariff = EXCLUDED.tariff, booking_opens_at = EXCLUDED.booking_opens_at,
                booking_closes_at = EXCLUDED.booking_closes_at, deadline = EXCLUDED.deadline, cancellation = EXCLUDED.cancellation,
                state = EXCLUDED.state, priority = EXCLUDED.priority, previous_period = EXCLUDED.previous_period
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

        // One capacity row per open day and capacity unit, with that day's places.
        var days: [String] = [], units: [String] = [], places: [Int] = []
        for day in period.openDays {
            for (unit, number) in period.places(on: day).sorted(by: { $0.key < $1.key }) {
                days.append(day.iso); units.append(unit); places.append(number)
            }
        }
        // A day that is booked cannot be closed, nor its unit removed: cancel its reservations first.
        for try await (day, unit, taken) in try await connection.query("""
            SELECT d.day::text, d.unit, d.taken FROM day_capacities d
            WHERE d.center_id = \(id) AND d.period_id = \(periodID) AND d.taken > 0
              AND NOT EXISTS (SELECT 1 FROM unnest(\(days)::date[], \(units)::text[]) AS w(day, unit) WHERE w.day = d.day AND w.unit = d.unit)
            ORDER BY d.day, d.unit
            """, logger: logger).decode((String, String, Int).self) {
            throw Refusal(message: "period \"\(period.code)\": \(taken) place(s) of \"\(unit)\" are already taken on \(day), "
                + "which the change closes: keep that day open, or cancel its reservations first")
        }
        // Fewer places than taken only when forced.
        var forced: [String] = []
        for try await (day, unit, taken, wantedPlaces) in try await connection.query("""
            SELECT d.day::text, d.unit, d.taken, w.places FROM day_capacities d
            JOIN unnest(\(days)::date[], \(units)::text[], \(places)::int[]) AS w(day, unit, places) ON w.day = d.day AND w.unit = d.unit
            WHERE d.center_id = \(id) AND d.period_id = \(periodID) AND d.taken > w.places AND w.places < d.places
            ORDER BY d.day, d.unit
            """, logger: logger).decode((String, String, Int, Int).self) {
            guard force else {
                throw Refusal(message: "period \"\(period.code)\": \(taken) place(s) of \"\(unit)\" are already taken on \(day), "
                    + "more than the \(wantedPlaces) asked: give at least \(taken) places, or force the change (the reservations keep their places)")
            }
            forced.append("\(period.code) \(day) \(unit): \(wantedPlaces) place(s), \(taken) taken")
        }
        try await connection.query("""
            DELETE FROM day_capacities d WHERE d.center_id = \(id) AND d.period_id = \(periodID)
              AND NOT EXISTS (SELECT 1 FROM unnest(\(days)::date[], \(units)::text[]) AS w(day, unit) WHERE w.day = d.day AND w.unit = d.unit)
            """, logger: logger)
        try await connection.query("""
            INSERT INTO day_capacities (center_id, period_id, day, unit, places)
            SELECT \(id), \(periodID), w.day, w.unit, w.places
            FROM unnest(\(days)::date[], \(units)::text[], \(places)::int[]) AS w(day, unit, places)
            ON CONFLICT (center_id, period_id, day, unit)
            DO UPDATE SET places = EXCLUDED.places, forced = day_capacities.taken > EXCLUDED.places
            """, logger: logger)
        return forced
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
