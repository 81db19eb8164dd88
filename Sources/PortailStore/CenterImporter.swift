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
        /// When refused because places are taken: each day and unit the change would take them from.
        public var conflicts: [PlacesConflict] = []
        /// The days whose places a forced change puts below what is taken (the audit log names them).
        public var forced: [PlacesConflict] = []
    }

    /// A day and unit of a period whose places taken a change would go under (`wanted`) or close (nil).
    public struct PlacesConflict: Sendable, Hashable, CustomStringConvertible {
        public var period: String
        public var day: LocalDate
        public var unit: String
        public var taken: Int
        public var wanted: Int?

        public var description: String { "\(period) \(day.iso) \(unit): \(wanted ?? 0) place(s), \(taken) taken" }
    }

    /// Thrown inside a center's transaction to roll it back with a message for the person importing.
    struct Refusal: Error {
        var message: String
        var conflicts: [PlacesConflict] = []
    }

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
            self.textDigest = text.map { Self.hex(SHA256.hash(data: Data($0.utf8))) }
            self.skipIfUnchanged = skipIfUnchanged
        }

        /// Lowercase hexadecimal, as `file_hash` stores it (without `String(format:)`, slow with many files).
        static func hex(_ digest: some Sequence<UInt8>) -> String {
            let digits = Array("0123456789abcdef".utf8)
            return String(decoding: digest.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 0x0f)]] }, as: UTF8.self)
        }
    }

    /// How many centers one transaction writes at most. Centers share each statement, so that a first
    /// start with a thousand files runs a few hundred statements rather than tens of thousands; when one
    /// center of a batch is refused, the batch is written again center by center (see `run`).
    var batchSize = 100
    /// How many batches are written at once, each on its own connection of the owner's pool: PostgreSQL
    /// spends most of a batch checking the foreign keys of its rows, one core per statement.
    var concurrentBatches = 2

    /// Imports each center as if in its own transaction: a refusal of one does not stop the others.
    public func importCenters(_ sources: [Source], dryRun: Bool) async throws -> [Outcome] {
        // The files unchanged since their last import are found in one query and not even locked: a
        // start whose files did not change writes nothing. (The check is made again under the lock.)
        let skippable = dryRun ? [] : sources.filter { $0.skipIfUnchanged && $0.textDigest != nil }.map(\.center.code)
        let stored = try await storedDigests(of: skippable)
        var outcomes: [Outcome?] = Array(repeating: nil, count: sources.count)
        var pending: [Int] = []
        for (index, source) in sources.enumerated() {
            if source.skipIfUnchanged, !dryRun, let digest = source.textDigest, stored[source.center.code] == digest {
                outcomes[index] = Outcome(code: source.center.code, diff: CenterDiff(changes: []), refusal: nil, applied: false)
            } else {
                pending.append(index)
            }
        }
        let batches = stride(from: 0, to: pending.count, by: batchSize).map { start in
            pending[start..<min(start + batchSize, pending.count)].map { index in
                let source = sources[index]
                return (index, Request(
                    code: source.center.code, file: source.file, textDigest: source.textDigest, skipIfUnchanged: source.skipIfUnchanged,
                    audit: Audit(actor: "import", action: "center.import", subject: source.file)
                ) { _ in source.center })
            }
        }
        try await withThrowingTaskGroup(of: [(Int, Outcome?)].self) { group in
            var next = 0
            func startNext() {
                guard next < batches.count else { return }
                let batch = batches[next]
                next += 1
                group.addTask {
                    Array(zip(batch.map(\.0), try await run(batch.map(\.1), dryRun: dryRun, force: false)))
                }
            }
            for _ in 0..<concurrentBatches { startNext() }
            while let written = try await group.next() {
                for (index, outcome) in written { outcomes[index] = outcome }
                startNext()
            }
        }
        // An import always has an outcome: only an edit of a center that does not exist has none.
        return outcomes.map { $0! }
    }

    public func importCenters(_ centers: [(center: Center, file: String)], dryRun: Bool) async throws -> [Outcome] {
        try await importCenters(centers.map { Source(center: $0.center, file: $0.file) }, dryRun: dryRun)
    }

    /// Changes a stored center through `change` (an admin API edit of a period or a tariff), under the
    /// same lock and checks as an import. `force` lets places go below what is taken; each forced day
    /// is in the audit log.
    /// `reason` (why places were forced) is kept in the audit log beside the forced days.
    public func edit(
        code: String, actor: String, action: String, subject: String, force: Bool = false, reason: String? = nil, dryRun: Bool = false,
        change: @escaping @Sendable (Center) throws -> Center
    ) async throws -> Outcome? {
        let request = Request(
            code: code, file: nil, textDigest: nil, skipIfUnchanged: false,
            audit: Audit(actor: actor, action: action, subject: subject, reason: reason)
        ) { before in
            guard let before else { return nil }
            return try change(before)
        }
        return try await run([request], dryRun: dryRun, force: force)[0]
    }

    /// Who changed a center, for the audit log.
    struct Audit: Sendable {
        var actor: String
        var action: String
        var subject: String
        var reason: String? = nil
    }

    /// One center to write: where its declaration comes from, and what it becomes given what is stored
    /// (nil: nothing to write, an edit of a center that does not exist).
    struct Request: Sendable {
        var code: String
        var file: String?
        var textDigest: String?
        var skipIfUnchanged: Bool
        var audit: Audit
        var target: @Sendable (Center?) throws -> Center?
    }

    /// Writes `requests` in one transaction. When one of them is refused, or the database rejects one
    /// (a host already served by another center), the whole batch is rolled back and its centers are
    /// written again one per transaction: the refusal is then reported for its own center, and nothing
    /// of that center is written, while the others are.
    private func run(_ requests: [Request], dryRun: Bool, force: Bool) async throws -> [Outcome?] {
        if requests.count > 1, Set(requests.map(\.code)).count == requests.count {
            do {
                return try await transaction(requests, dryRun: dryRun, force: force)
            } catch is Refusal {
            } catch let error as PSQLError where error.serverInfo != nil {
            }
        }
        var outcomes: [Outcome?] = []
        for request in requests {
            outcomes += try await transaction([request], dryRun: dryRun, force: force)
        }
        return outcomes
    }

    /// One transaction writing `requests`; the refusal of a single center is its outcome.
    private func transaction(_ requests: [Request], dryRun: Bool, force: Bool) async throws -> [Outcome?] {
        let logger = database.logger
        // Places of the centers' periods may have changed: the grids read them again.
        defer { if !dryRun { database.placesLeft.changedAll() } }
        return try await database.owner.withConnection { connection in
            var diffs: [CenterDiff?] = Array(repeating: nil, count: requests.count)
            do {
                return try await Database.transaction(on: connection, center: nil, logger: logger) { connection -> [Outcome?] in
                    let outcomes = try await write(requests, dryRun: dryRun, force: force, diffs: &diffs, on: connection)
                    if dryRun { throw DryRunRollback(outcomes: outcomes) }
                    return outcomes
                }
            } catch let rollback as DryRunRollback {
                return rollback.outcomes
            } catch let refusal as Refusal where requests.count == 1 {
                return [Outcome(code: requests[0].code, diff: diffs[0] ?? CenterDiff(changes: []), refusal: refusal.message, applied: false,
                                conflicts: refusal.conflicts)]
            } catch let error as PSQLError where requests.count == 1 && error.serverInfo?[.sqlState] == "23505" {
                // A unique value (a host, an invoice prefix) already belongs to another center.
                let detail = error.serverInfo?[.detail] ?? Migrator.message(of: error)
                return [Outcome(code: requests[0].code, diff: diffs[0] ?? CenterDiff(changes: []),
                                refusal: "already used by another center: \(detail)", applied: false)]
            }
        }
    }

    /// A dry run goes through every check and write, then rolls back, so that it refuses what a real run would.
    struct DryRunRollback: Error { var outcomes: [Outcome?] }

    /// The digest of the file each center was last imported from, by code.
    private func storedDigests(of codes: [String]) async throws -> [String: String] {
        guard !codes.isEmpty else { return [:] }
        let logger = database.logger
        let rows = try await database.owner.withConnection { connection in
            try await connection.all(
                "SELECT code, file_hash FROM centers WHERE code = ANY(\(codes)) AND file_hash IS NOT NULL", (String, String).self, logger: logger
            )
        }
        return Dictionary(rows, uniquingKeysWith: { a, _ in a })
    }

    /// A center whose declaration differs from what is stored.
    struct Write {
        /// Its position among the requests.
        var request: Int
        var center: Center
        var existingID: Int64?
        var diff: CenterDiff
        var file: String?
        var audit: Audit
    }

    /// The body of a transaction: locks the centers, compares each with what is stored, writes those
    /// that differ and records their files' digests.
    private func write(
        _ requests: [Request], dryRun: Bool, force: Bool, diffs: inout [CenterDiff?], on connection: PostgresConnection
    ) async throws -> [Outcome?] {
        let logger = database.logger
        let codes = requests.map(\.code)
        // Two instances importing the same center wait for each other. A batch takes its locks in the
        // order of the codes, so that two batches never wait for each other crosswise.
        try await connection.run("""
            SELECT pg_advisory_xact_lock(hashtext('center:' || code))
            FROM (SELECT DISTINCT code FROM unnest(\(codes)::text[]) AS code ORDER BY code) AS locked
            """, logger: logger)
        var stored: [String: (id: Int64, digest: String?)] = [:]
        for (code, id, digest) in try await connection.all(
            "SELECT code, id, file_hash FROM centers WHERE code = ANY(\(codes)) ORDER BY code FOR UPDATE", (String, Int64, String?).self, logger: logger
        ) {
            stored[code] = (id, digest)
        }
        var outcomes: [Outcome?] = Array(repeating: nil, count: requests.count)
        var compared: [Int] = []
        for (index, request) in requests.enumerated() {
            if request.skipIfUnchanged, !dryRun, let digest = request.textDigest, digest == stored[request.code]?.digest {
                outcomes[index] = Outcome(code: request.code, diff: CenterDiff(changes: []), refusal: nil, applied: false)
            } else {
                compared.append(index)
            }
        }
        let befores = try await CenterRepository.load(
            connection, centerIDs: compared.compactMap { stored[requests[$0].code]?.id }, logger: logger
        )
        var writes: [Write] = []
        for index in compared {
            let request = requests[index]
            let existingID = stored[request.code]?.id
            let before = existingID.flatMap { befores[$0] }
            guard let center = try request.target(before) else { continue }
            let diff = CenterDiff(from: before, to: center)
            diffs[index] = diff
            outcomes[index] = Outcome(code: center.code, diff: diff, refusal: nil, applied: !diff.isEmpty && !dryRun)
            if !diff.isEmpty {
                writes.append(Write(request: index, center: center, existingID: existingID, diff: diff, file: request.file, audit: request.audit))
            }
        }
        var forced: [Int64: [PlacesConflict]] = [:]
        let written = try await apply(writes, force: force, forced: &forced, on: connection)
        for index in compared {
            if let id = written[index] ?? stored[requests[index].code]?.id, let days = forced[id] { outcomes[index]?.forced = days }
        }
        guard !dryRun else { return outcomes }
        var hashed: (ids: [Int64], digests: [String]) = ([], [])
        var edited: [Int64] = []
        for index in compared where outcomes[index] != nil {
            guard let id = written[index] ?? stored[requests[index].code]?.id else { continue }
            if let digest = requests[index].textDigest {
                // The file's text as now imported, so that a start skips it while it stays the same.
                hashed.ids.append(id)
                hashed.digests.append(digest)
            } else if diffs[index]?.isEmpty == false {
                // Changed through the API: the file (if any) no longer tells all.
                edited.append(id)
            }
        }
        if !hashed.ids.isEmpty {
            try await connection.run("""
                UPDATE centers AS c SET file_hash = w.digest
                FROM unnest(\(hashed.ids)::bigint[], \(hashed.digests)::text[]) AS w(id, digest) WHERE c.id = w.id
                """, logger: logger)
        }
        if !edited.isEmpty {
            try await connection.run("UPDATE centers SET edited_at = now() WHERE id = ANY(\(edited))", logger: logger)
        }
        return outcomes
    }

    /// Writes the centers, each table in one statement for all of them; returns the id of each center
    /// by its request's position. Throws `Refusal` when a change would take away what bookings use.
    private func apply(
        _ writes: [Write], force: Bool, forced: inout [Int64: [PlacesConflict]], on connection: PostgresConnection
    ) async throws -> [Int: Int64] {
        guard !writes.isEmpty else { return [:] }
        let logger = database.logger
        let json = JSONText()
        var ids: [Int: Int64] = [:]

        var updated = CenterColumns()
        var inserted = CenterColumns()
        for write in writes {
            if let id = write.existingID {
                ids[write.request] = id
                try updated.append(write, id: id, json: json)
            } else {
                try inserted.append(write, id: 0, json: json)
            }
        }
        if !updated.codes.isEmpty {
            try await connection.run("""
                UPDATE centers AS c SET name = w.name, organisation = w.organisation, time_zone = w.zone,
                    invoice_prefix = w.prefix, cart_hold_minutes = w.hold, coordinates = w.coordinates::jsonb,
                    payment = nullif(w.payment, '')::jsonb, legal = nullif(w.legal, '')::jsonb,
                    residents = nullif(w.residents, '')::jsonb, source_file = coalesce(nullif(w.file, ''), c.source_file),
                    waiting_room = nullif(w.room, '')::jsonb, waiting_list_offer_hours = w.offer,
                    family_file = nullif(w.family_file, '')::jsonb, updated_at = now()
                FROM unnest(\(updated.ids)::bigint[], \(updated.names)::text[], \(updated.organisations)::text[],
                            \(updated.zones)::text[], \(updated.prefixes)::text[], \(updated.holds)::int[],
                            \(updated.coordinates)::text[], \(updated.payments)::text[], \(updated.legals)::text[],
                            \(updated.residents)::text[], \(updated.files)::text[], \(updated.rooms)::text[], \(updated.offers)::int[],
                            \(updated.familyFiles)::text[])
                    AS w(id, name, organisation, zone, prefix, hold, coordinates, payment, legal, residents, file, room, offer, family_file)
                WHERE c.id = w.id
                """, logger: logger)
        }
        if !inserted.codes.isEmpty {
            let newIDs = try await connection.all("""
                INSERT INTO centers (code, name, organisation, time_zone, invoice_prefix, cart_hold_minutes, coordinates, payment,
                                     legal, residents, source_file, waiting_room, waiting_list_offer_hours, family_file)
                SELECT w.code, w.name, w.organisation, w.zone, w.prefix, w.hold, w.coordinates::jsonb, nullif(w.payment, '')::jsonb,
                       nullif(w.legal, '')::jsonb, nullif(w.residents, '')::jsonb, nullif(w.file, ''), nullif(w.room, '')::jsonb, w.offer,
                       nullif(w.family_file, '')::jsonb
                FROM unnest(\(inserted.codes)::text[], \(inserted.names)::text[], \(inserted.organisations)::text[],
                            \(inserted.zones)::text[], \(inserted.prefixes)::text[], \(inserted.holds)::int[],
                            \(inserted.coordinates)::text[], \(inserted.payments)::text[], \(inserted.legals)::text[],
                            \(inserted.residents)::text[], \(inserted.files)::text[], \(inserted.rooms)::text[], \(inserted.offers)::int[],
                            \(inserted.familyFiles)::text[])
                    AS w(code, name, organisation, zone, prefix, hold, coordinates, payment, legal, residents, file, room, offer, family_file)
                RETURNING code, id
                """, (String, Int64).self, logger: logger)
            let byCode = Dictionary(newIDs, uniquingKeysWith: { a, _ in a })
            for write in writes where write.existingID == nil { ids[write.request] = byCode[write.center.code] }
        }
        let centerIDs = writes.map { ids[$0.request]! }
        if writes.count == 1 {
            // One center: the owner's row-level security keeps every statement inside it. (A batch names
            // each row's center in every statement.)
            try await connection.run("SELECT set_config('portail.center_id', \(String(centerIDs[0])), true)", logger: logger)
        }

        var hosts: (centers: [Int64], hosts: [String]) = ([], [])
        var units = UnitColumns()
        var groups = AgeGroupColumns()
        var tariffs = TariffColumns()
        var periods = PeriodColumns()
        for (write, id) in zip(writes, centerIDs) {
            for host in write.center.hosts {
                hosts.centers.append(id)
                hosts.hosts.append(host)
            }
            for (position, unit) in write.center.units.enumerated() { units.append(unit, position: position, center: id) }
            for group in write.center.ageGroups { groups.append(group, center: id) }
            // A changed tariff becomes a new version: reservations keep the version they were priced with.
            let changedTariffs = Set(write.diff.changes.filter { $0.entity == "tariff" && $0.kind != .removed }.map(\.code))
            for tariff in write.center.tariffs where write.existingID == nil || changedTariffs.contains(tariff.code) {
                try tariffs.append(tariff, center: id, json: json)
            }
            for period in write.center.periods { try periods.append(period, center: id, json: json) }
        }
        try await connection.run("DELETE FROM center_hosts WHERE center_id = ANY(\(centerIDs))", logger: logger)
        try await connection.run("""
            INSERT INTO center_hosts (center_id, host) SELECT * FROM unnest(\(hosts.centers)::bigint[], \(hosts.hosts)::text[])
            """, logger: logger)
        try await connection.run("""
            INSERT INTO units (center_id, code, label, consumes, position)
            SELECT w.center, w.code, w.label, w.consumes::text[], w.position
            FROM unnest(\(units.centers)::bigint[], \(units.codes)::text[], \(units.labels)::text[], \(units.consumes)::text[],
                        \(units.positions)::int[]) AS w(center, code, label, consumes, position)
            ON CONFLICT (center_id, code) DO UPDATE SET label = EXCLUDED.label, consumes = EXCLUDED.consumes, position = EXCLUDED.position
            """, logger: logger)
        try await connection.run("""
            INSERT INTO age_groups (center_id, code, label, min_age, max_age)
            SELECT * FROM unnest(\(groups.centers)::bigint[], \(groups.codes)::text[], \(groups.labels)::text[],
                                 \(groups.minAges)::int[], \(groups.maxAges)::int[])
            ON CONFLICT (center_id, code) DO UPDATE SET label = EXCLUDED.label, min_age = EXCLUDED.min_age, max_age = EXCLUDED.max_age
            """, logger: logger)
        if !tariffs.codes.isEmpty {
            try await connection.run("""
                INSERT INTO tariffs (center_id, code, version, label, model, valid_from, valid_to, definition)
                SELECT w.center, w.code,
                       coalesce((SELECT max(t.version) FROM tariffs t WHERE t.center_id = w.center AND t.code = w.code), 0) + 1,
                       w.label, w.model, nullif(w.valid_from, '')::date, nullif(w.valid_to, '')::date, w.definition::jsonb
                FROM unnest(\(tariffs.centers)::bigint[], \(tariffs.codes)::text[], \(tariffs.labels)::text[], \(tariffs.models)::text[],
                            \(tariffs.validFrom)::text[], \(tariffs.validTo)::text[], \(tariffs.definitions)::text[])
                    AS w(center, code, label, model, valid_from, valid_to, definition)
                """, logger: logger)
        }
        forced = try await writePeriods(periods, writes: writes, centerIDs: centerIDs, force: force, on: connection)

        // Removals last, each refused when something booked points at it.
        for (write, id) in zip(writes, centerIDs) {
            try await remove(write.diff, center: id, on: connection)
        }
        var audit = AuditColumns()
        for (write, id) in zip(writes, centerIDs) {
            try audit.append(center: id, write.audit, action: write.audit.action, after: write.diff.changes.map(\.description), json: json)
            if let days = forced[id], !days.isEmpty {
                struct Forced: Encodable { let days: [String]; let reason: String? }
                try audit.append(center: id, write.audit, action: "capacity.force",
                                 after: Forced(days: days.map(\.description), reason: write.audit.reason), json: json)
            }
        }
        try await connection.run("""
            INSERT INTO audit_log (center_id, actor, action, subject, after)
            SELECT w.center, w.actor, w.action, w.subject, w.after::jsonb
            FROM unnest(\(audit.centers)::bigint[], \(audit.actors)::text[], \(audit.actions)::text[], \(audit.subjects)::text[],
                        \(audit.after)::text[]) AS w(center, actor, action, subject, after)
            """, logger: logger)
        return ids
    }

    /// Writes the periods with their closed days and the places of each open day; returns, by center,
    /// the days whose places were forced below what is taken.
    private func writePeriods(
        _ periods: PeriodColumns, writes: [Write], centerIDs: [Int64], force: Bool, on connection: PostgresConnection
    ) async throws -> [Int64: [PlacesConflict]] {
        let logger = database.logger
        var periodIDs: [PeriodKey: Int64] = [:]
        for (center, code, id) in try await connection.all("""
            INSERT INTO periods (center_id, code, label, age_group, starts_on, ends_on, weekdays, units, tariff,
                                 booking_opens_at, booking_closes_at, deadline, cancellation, state, priority, previous_period)
            SELECT w.center, w.code, w.label, w.age_group, w.starts_on::date, w.ends_on::date, w.weekdays::smallint[], w.units::text[],
                   w.tariff, nullif(w.opens_at, '')::timestamp, nullif(w.closes_at, '')::timestamp, w.deadline::jsonb,
                   nullif(w.cancellation, '')::jsonb, w.state, w.priority::jsonb, nullif(w.previous_period, '')
            FROM unnest(\(periods.centers)::bigint[], \(periods.codes)::text[], \(periods.labels)::text[], \(periods.ageGroups)::text[],
                        \(periods.startsOn)::text[], \(periods.endsOn)::text[], \(periods.weekdays)::text[], \(periods.units)::text[],
                        \(periods.tariffs)::text[], \(periods.opensAt)::text[], \(periods.closesAt)::text[], \(periods.deadlines)::text[],
                        \(periods.cancellations)::text[], \(periods.states)::text[], \(periods.priorities)::text[],
                        \(periods.previousPeriods)::text[])
                AS w(center, code, label, age_group, starts_on, ends_on, weekdays, units, tariff, opens_at, closes_at, deadline,
                     cancellation, state, priority, previous_period)
            ON CONFLICT (center_id, code) DO UPDATE SET label = EXCLUDED.label, age_group = EXCLUDED.age_group,
                starts_on = EXCLUDED.starts_on, ends_on = EXCLUDED.ends_on, weekdays = EXCLUDED.weekdays, units = EXCLUDED.units,
                tariff = EXCLUDED.tariff, booking_opens_at = EXCLUDED.booking_opens_at,
                booking_closes_at = EXCLUDED.booking_closes_at, deadline = EXCLUDED.deadline, cancellation = EXCLUDED.cancellation,
                state = EXCLUDED.state, priority = EXCLUDED.priority, previous_period = EXCLUDED.previous_period
            RETURNING center_id, code, id
            """, (Int64, String, Int64).self, logger: logger) {
            periodIDs[PeriodKey(center: center, code: code)] = id
        }

        // The rows each period should have. Only a period stored before can have rows to replace or places
        // already taken: those are listed in the order of the centers and of their periods, the order in
        // which a refusal is looked for.
        var stored: (centers: [Int64], ids: [Int64], codes: [String]) = ([], [], [])
        var closed: (centers: [Int64], periods: [Int64], days: [String]) = ([], [], [])
        var capacities: (centers: [Int64], periods: [Int64], units: [String], places: [Int]) = ([], [], [], [])
        var days: (centers: [Int64], periods: [Int64], days: [String], units: [String], places: [Int]) = ([], [], [], [], [])
        for (write, center) in zip(writes, centerIDs) {
            let added = Set(write.diff.changes.filter { $0.entity == "period" && $0.kind == .added }.map(\.code))
            for period in write.center.periods {
                let id = periodIDs[PeriodKey(center: center, code: period.code)]!
                if write.existingID != nil && !added.contains(period.code) {
                    stored.centers.append(center); stored.ids.append(id); stored.codes.append(period.code)
                }
                for day in period.closedDays {
                    closed.centers.append(center); closed.periods.append(id); closed.days.append(day.iso)
                }
                for (unit, places) in period.places.sorted(by: { $0.key < $1.key }) {
                    capacities.centers.append(center); capacities.periods.append(id)
                    capacities.units.append(unit); capacities.places.append(places)
                }
                // One capacity row per open day and capacity unit, with that day's places.
                for day in period.openDays {
                    for (unit, places) in period.places(on: day).sorted(by: { $0.key < $1.key }) {
                        days.centers.append(center); days.periods.append(id); days.days.append(day.iso)
                        days.units.append(unit); days.places.append(places)
                    }
                }
            }
        }
        var forced: [Int64: [PlacesConflict]] = [:]
        if !stored.ids.isEmpty {
            // A cart whose hold ran out still counts its places in `taken`, while the period screen shows
            // them free: expire such carts first, so that the check below counts what the person saw.
            // Only the centers whose stored periods change and that have such a cart: one statement for
            // the 1,000 centers of an import.
            for center in try await connection.all("""
                SELECT DISTINCT k.center_id FROM carts k
                WHERE k.center_id = ANY(\(Array(Set(stored.centers)))) AND k.state IN ('open', 'paying')
                  AND \(unescaped: ReservationQueries.cartIsDue)
                ORDER BY 1
                """, (Int64.self), logger: logger) {
                try await BookingRepository.expireDueCarts(connection, center: center, logger: logger)
            }
            try await connection.run("""
                DELETE FROM period_closed_days WHERE center_id = ANY(\(stored.centers)) AND period_id = ANY(\(stored.ids))
                """, logger: logger)
            try await connection.run("""
                DELETE FROM period_capacities WHERE center_id = ANY(\(stored.centers)) AND period_id = ANY(\(stored.ids))
                """, logger: logger)
            // A day that is booked cannot be closed, nor its unit removed: cancel its reservations first.
            // Fewer places than taken only when forced. Period by period, closed days first.
            // Every day and unit the change takes places from, so that the person sees them all at once.
            var conflicts: [(center: Int64, conflict: PlacesConflict)] = []
            for (_, code, center, day, unit, taken, wanted) in try await connection.all("""
                WITH stored AS (
                    SELECT * FROM unnest(\(stored.centers)::bigint[], \(stored.ids)::bigint[], \(stored.codes)::text[])
                        WITH ORDINALITY AS s(center, period, code, ordinal)
                ), wanted AS (
                    SELECT * FROM unnest(\(days.centers)::bigint[], \(days.periods)::bigint[], \(days.days)::date[],
                                         \(days.units)::text[], \(days.places)::int[]) AS w(center, period, day, unit, places)
                )
                SELECT s.ordinal, s.code, d.center_id, to_char(d.day, 'YYYY-MM-DD'), d.unit, d.taken, w.places
                FROM stored s
                JOIN day_capacities d ON d.center_id = s.center AND d.period_id = s.period
                LEFT JOIN wanted w ON w.center = d.center_id AND w.period = d.period_id AND w.day = d.day AND w.unit = d.unit
                WHERE (w.day IS NULL AND d.taken > 0) OR (d.taken > w.places AND w.places < d.places)
                ORDER BY s.ordinal, w.day IS NOT NULL, d.day, d.unit
                """, (Int64, String, Int64, String, String, Int, Int?).self, logger: logger) {
                guard let date = LocalDate(iso: day) else { throw Refusal(message: "period \"\(code)\": cannot read the day \(day)") }
                conflicts.append((center, PlacesConflict(period: code, day: date, unit: unit, taken: taken, wanted: wanted)))
            }
            let refused = conflicts.filter { $0.conflict.wanted == nil || !force }
            if let first = refused.first {
                // The first center refused, with all of its days: a day closed (or unit removed) comes first.
                let own = refused.filter { $0.center == first.center }.map(\.conflict)
                let closing = own.filter { $0.wanted == nil }
                let shown = closing.first ?? first.conflict
                // Every day is listed, those that only need force too, so that one round shows them all.
                if closing.isEmpty, let wanted = shown.wanted {
                    throw Refusal(message: "period \"\(shown.period)\": \(shown.taken) place(s) of \"\(shown.unit)\" are already taken on \(shown.day.iso), "
                        + "more than the \(wanted) asked: give at least \(shown.taken) places, or force the change (the reservations keep their places)",
                        conflicts: own)
                }
                throw Refusal(message: "period \"\(shown.period)\": \(shown.taken) place(s) of \"\(shown.unit)\" are already taken on \(shown.day.iso), "
                    + "which the change closes: keep that day open, or cancel its reservations first",
                    conflicts: own + conflicts.filter { $0.center == first.center && $0.conflict.wanted != nil && force }.map(\.conflict))
            }
            for (center, conflict) in conflicts { forced[center, default: []].append(conflict) }
            try await connection.run("""
                WITH wanted AS (
                    SELECT * FROM unnest(\(days.centers)::bigint[], \(days.periods)::bigint[], \(days.days)::date[], \(days.units)::text[])
                        AS w(center, period, day, unit)
                )
                DELETE FROM day_capacities d WHERE d.center_id = ANY(\(stored.centers)) AND d.period_id = ANY(\(stored.ids))
                  AND NOT EXISTS (SELECT 1 FROM wanted w WHERE w.center = d.center_id AND w.period = d.period_id AND w.day = d.day AND w.unit = d.unit)
                """, logger: logger)
        }
        try await connection.run("""
            INSERT INTO period_closed_days (center_id, period_id, day)
            SELECT * FROM unnest(\(closed.centers)::bigint[], \(closed.periods)::bigint[], \(closed.days)::date[])
            """, logger: logger)
        try await connection.run("""
            INSERT INTO period_capacities (center_id, period_id, unit, places)
            SELECT * FROM unnest(\(capacities.centers)::bigint[], \(capacities.periods)::bigint[], \(capacities.units)::text[],
                                 \(capacities.places)::int[])
            """, logger: logger)
        try await connection.run("""
            INSERT INTO day_capacities (center_id, period_id, day, unit, places)
            SELECT * FROM unnest(\(days.centers)::bigint[], \(days.periods)::bigint[], \(days.days)::date[], \(days.units)::text[],
                                 \(days.places)::int[])
            ON CONFLICT (center_id, period_id, day, unit)
            DO UPDATE SET places = EXCLUDED.places, forced = day_capacities.taken > EXCLUDED.places
            """, logger: logger)
        return forced
    }

    /// Deletes what `diff` removes from center `id`, refusing when something booked points at it.
    private func remove(_ diff: CenterDiff, center id: Int64, on connection: PostgresConnection) async throws {
        let logger = database.logger
        for code in diff.removed("period") {
            let booked = try await count(connection, "SELECT count(*) FROM reservations r JOIN periods p ON p.center_id = r.center_id AND p.id = r.period_id WHERE p.center_id = \(id) AND p.code = \(code)")
            if booked > 0 {
                throw Refusal(message: "period \"\(code)\" is removed from the file but \(booked) reservation(s) point at it: close it instead (state closed) or keep it")
            }
            try await connection.run("DELETE FROM day_capacities WHERE center_id = \(id) AND period_id = (SELECT id FROM periods WHERE center_id = \(id) AND code = \(code))", logger: logger)
            try await connection.run("DELETE FROM periods WHERE center_id = \(id) AND code = \(code)", logger: logger)
        }
        for code in diff.removed("tariff") {
            let used = try await count(connection, "SELECT count(*) FROM reservation_lines WHERE center_id = \(id) AND tariff = \(code)")
            if used > 0 {
                throw Refusal(message: "tariff \"\(code)\" is removed from the file but \(used) booked day(s) were priced with it: keep it (give it a valid_to date instead)")
            }
            try await connection.run("DELETE FROM tariffs WHERE center_id = \(id) AND code = \(code)", logger: logger)
        }
        for code in diff.removed("unit") {
            let used = try await count(connection, "SELECT count(*) FROM reservation_lines WHERE center_id = \(id) AND \(code) = ANY(units)")
            if used > 0 {
                throw Refusal(message: "unit \"\(code)\" is removed from the file but \(used) booked day(s) use it: keep it")
            }
            try await connection.run("DELETE FROM period_capacities WHERE center_id = \(id) AND unit = \(code)", logger: logger)
            try await connection.run("DELETE FROM units WHERE center_id = \(id) AND code = \(code)", logger: logger)
        }
        for code in diff.removed("age group") {
            let used = try await count(connection, "SELECT count(*) FROM periods WHERE center_id = \(id) AND age_group = \(code)")
            if used > 0 {
                throw Refusal(message: "age group \"\(code)\" is removed from the file but \(used) period(s) still use it")
            }
            try await connection.run("DELETE FROM age_groups WHERE center_id = \(id) AND code = \(code)", logger: logger)
        }
    }

    private func count(_ connection: PostgresConnection, _ query: PostgresQuery) async throws -> Int {
        try await connection.first(query, (Int).self, logger: database.logger) ?? 0
    }
}

// MARK: - Columns
// Each table's rows as one array per column, bound as parameters and read back with unnest(), so that
// one statement writes the rows of every center of a batch. A value that may be absent is '' when it
// is (an array parameter has no nulls here), turned back into NULL with nullif(); no stored text is ever
// empty where this is done (JSON, dates, codes). A list inside a row is an array literal ('{a,b}').

private struct PeriodKey: Hashable {
    var center: Int64
    var code: String
}

/// JSON as stored: keys sorted, so that the same value is always the same text.
private struct JSONText {
    let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    func callAsFunction(_ value: some Encodable) throws -> String {
        String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}

/// `{"a","b"}`: a PostgreSQL array literal, bound as text and cast to an array in the statement.
private func arrayLiteral(_ values: [String]) -> String {
    let quoted = values.map { value in
        "\"" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
    return "{" + quoted.joined(separator: ",") + "}"
}

private struct CenterColumns {
    var ids: [Int64] = [], codes: [String] = [], names: [String] = [], organisations: [String] = [], zones: [String] = []
    var prefixes: [String] = [], holds: [Int] = [], coordinates: [String] = [], payments: [String] = [], legals: [String] = []
    var residents: [String] = [], files: [String] = [], rooms: [String] = [], offers: [Int] = [], familyFiles: [String] = []

    mutating func append(_ write: CenterImporter.Write, id: Int64, json: JSONText) throws {
        let center = write.center
        ids.append(id); codes.append(center.code); names.append(center.name); organisations.append(center.organisation)
        zones.append(center.timeZone); prefixes.append(center.invoicePrefix); holds.append(center.cartHoldMinutes)
        coordinates.append(try json(center.coordinates))
        payments.append(try center.payment.map { try json($0) } ?? "")
        legals.append(try center.legal.map { try json($0) } ?? "")
        residents.append(try center.residents.map { try json($0) } ?? "")
        files.append(write.file ?? "")
        rooms.append(try center.waitingRoom.map { try json($0) } ?? "")
        offers.append(center.waitingListOfferHours)
        familyFiles.append(try center.familyFile.map { try json($0) } ?? "")
    }
}

private struct UnitColumns {
    var centers: [Int64] = [], codes: [String] = [], labels: [String] = [], consumes: [String] = [], positions: [Int] = []

    mutating func append(_ unit: BookingUnit, position: Int, center: Int64) {
        centers.append(center); codes.append(unit.code); labels.append(unit.label)
        consumes.append(arrayLiteral(unit.consumes)); positions.append(position)
    }
}

private struct AgeGroupColumns {
    var centers: [Int64] = [], codes: [String] = [], labels: [String] = [], minAges: [Int] = [], maxAges: [Int] = []

    mutating func append(_ group: AgeGroup, center: Int64) {
        centers.append(center); codes.append(group.code); labels.append(group.label)
        minAges.append(group.minAge); maxAges.append(group.maxAge)
    }
}

private struct TariffColumns {
    var centers: [Int64] = [], codes: [String] = [], labels: [String] = [], models: [String] = []
    var validFrom: [String] = [], validTo: [String] = [], definitions: [String] = []

    mutating func append(_ tariff: Tariff, center: Int64, json: JSONText) throws {
        centers.append(center); codes.append(tariff.code); labels.append(tariff.label); models.append(tariff.model.name)
        validFrom.append(tariff.validFrom?.iso ?? ""); validTo.append(tariff.validTo?.iso ?? "")
        definitions.append(try json(tariff))
    }
}

private struct PeriodColumns {
    var centers: [Int64] = [], codes: [String] = [], labels: [String] = [], ageGroups: [String] = []
    var startsOn: [String] = [], endsOn: [String] = [], weekdays: [String] = [], units: [String] = [], tariffs: [String] = []
    var opensAt: [String] = [], closesAt: [String] = [], deadlines: [String] = [], cancellations: [String] = []
    var states: [String] = [], priorities: [String] = [], previousPeriods: [String] = []

    mutating func append(_ period: Period, center: Int64, json: JSONText) throws {
        centers.append(center); codes.append(period.code); labels.append(period.label); ageGroups.append(period.ageGroup)
        startsOn.append(period.startsOn.iso); endsOn.append(period.endsOn.iso)
        weekdays.append(arrayLiteral(period.weekdays.map { String($0.index + 1) }))
        units.append(arrayLiteral(period.units)); tariffs.append(period.tariff)
        opensAt.append(period.bookingOpensAt?.description ?? ""); closesAt.append(period.bookingClosesAt?.description ?? "")
        deadlines.append(try json(period.deadline)); cancellations.append(try period.cancellation.map { try json($0) } ?? "")
        states.append(period.closed ? "closed" : "open")
        priorities.append(try json(period.priorityWindows)); previousPeriods.append(period.previousPeriod ?? "")
    }
}

private struct AuditColumns {
    var centers: [Int64] = [], actors: [String] = [], actions: [String] = [], subjects: [String] = [], after: [String] = []

    mutating func append(center: Int64, _ audit: CenterImporter.Audit, action: String, after entries: some Encodable, json: JSONText) throws {
        centers.append(center); actors.append(audit.actor); actions.append(action); subjects.append(audit.subject)
        after.append(try json(entries))
    }
}
