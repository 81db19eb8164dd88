import Foundation
import Logging
import PortailConfig
import PortailDomain
import PortailTestSupport
import PostgresNIO
import Testing
@testable import PortailStore

/// Many centers imported at once: in batches that share their statements, several batches at a time.
/// Batches of 7 here, so that 40 centers make six batches, two written at once.
@Suite struct CenterImportScaleTests {
    static let rules = [PaymentTypeRule(type: "systempay") { _, _ in [] }]

    /// Centers 0..<count of `ManyCenters`, as sources of a start (their texts' digests, skipped when unchanged).
    static func sources(_ count: Int, revision: Int = 0) throws -> [CenterImporter.Source] {
        let catalog = CenterCatalog.parse(
            sources: (0..<count).map { ("\(ManyCenters.code($0)).yaml", .success(ManyCenters.file($0, revision: revision))) },
            paymentRules: rules, environment: [:]
        )
        #expect(catalog.failures.isEmpty, "\(catalog.allIssues.prefix(3))")
        return catalog.centers.map { CenterImporter.Source(center: $0.center, file: $0.file, text: $0.text, skipIfUnchanged: true) }
    }

    static func importer(_ database: Database) -> CenterImporter {
        var importer = CenterImporter(database: database)
        importer.batchSize = 7
        return importer
    }

    static func withDatabase<T: Sendable>(_ body: @Sendable (Database) async throws -> T) async throws -> T {
        let settings = try await TestCluster.shared.freshDatabase()
        return try await Database(settings: settings, logger: TestCluster.logger).run(body)
    }

    @Test func manyCentersAtOnceMakeTheDatabaseThatOneByOneMakes() async throws {
        let sources = try Self.sources(40)
        let changed = try Self.sources(40, revision: 1)
        let atOnce = try await Self.withDatabase { database in
            let first = try await Self.importer(database).importCenters(sources, dryRun: false)
            #expect(first.allSatisfy { $0.applied && $0.refusal == nil })
            // The same files edited: names and places change, as a start with edited files does.
            let second = try await Self.importer(database).importCenters(changed, dryRun: false)
            #expect(second.allSatisfy { $0.applied && $0.refusal == nil })
            #expect(second.map(\.code) == changed.map(\.center.code))
            return try await Self.contents(database)
        }
        let oneByOne = try await Self.withDatabase { database in
            for source in sources + changed {
                let outcome = try #require(try await CenterImporter(database: database).importCenters([source], dryRun: false).first)
                #expect(outcome.applied && outcome.refusal == nil)
            }
            return try await Self.contents(database)
        }
        #expect(atOnce.count > 1_000)
        #expect(atOnce == oneByOne)
    }

    @Test func aRefusedCenterAmongManyIsNamedAndNothingOfItIsWritten() async throws {
        try await Self.withDatabase { database in
            let sources = try Self.sources(30)
            _ = try await Self.importer(database).importCenters(sources, dryRun: false)
            let records = try await CenterRepository.loadAll(database)
            // Center 3 has a reservation on its period p0.
            let booked = try #require(records.first { $0.center.code == ManyCenters.code(3) })
            try await database.withCenter(booked.id) { c in
                let logger = database.logger
                let family = try #require(try await c.first("""
                    INSERT INTO families (center_id, email, name) VALUES (\(booked.id), 'a@example.org', 'A') RETURNING id
                    """, Int64.self, logger: logger))
                let child = try #require(try await c.first("""
                    INSERT INTO children (center_id, family_id, first_name, last_name, birth_date)
                    VALUES (\(booked.id), \(family), 'JULES', 'A', '2021-03-14') RETURNING id
                    """, Int64.self, logger: logger))
                let period = try #require(try await c.first("SELECT id FROM periods WHERE code = 'p0'", Int64.self, logger: logger))
                try await c.run("""
                    INSERT INTO reservations (center_id, number, family_id, child_id, period_id, total_cents, first_day, last_day)
                    VALUES (\(booked.id), 1, \(family), \(child), \(period), 1400, '2027-01-04', '2027-01-04')
                    """, logger: logger)
            }
            // Every file edited; center 3's drops its booked period, center 5's names the host of center 0.
            var changed = try Self.sources(30, revision: 1)
            changed[3].center.periods.removeAll { $0.code == "p0" }
            changed[5].center.hosts.append("\(ManyCenters.code(0)).example.org")
            let before = try await Self.contents(database)
            let outcomes = try await Self.importer(database).importCenters(changed, dryRun: false)

            #expect(outcomes[3].code == ManyCenters.code(3) && !outcomes[3].applied)
            #expect(outcomes[3].refusal?.contains("period \"p0\" is removed from the file but 1 reservation(s) point at it") == true)
            #expect(outcomes[5].code == ManyCenters.code(5) && !outcomes[5].applied)
            #expect(outcomes[5].refusal?.contains("already used by another center") == true)
            #expect(outcomes.indices.filter { outcomes[$0].refusal != nil } == [3, 5])
            #expect(outcomes.indices.filter { outcomes[$0].applied } == outcomes.indices.filter { $0 != 3 && $0 != 5 })
            // Nothing of the two refused centers changed; every other one did.
            let after = try await Self.contents(database)
            for index in changed.indices {
                let code = ManyCenters.code(index)
                let unchanged = before.filter { $0.hasPrefix(code + " ") } == after.filter { $0.hasPrefix(code + " ") }
                #expect(unchanged == (index == 3 || index == 5), "\(code)")
            }
        }
    }

    @Test func aBrokenFileAmongManyIsReportedWithItsNameAndTheOthersAreImported() async throws {
        let folder = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("portail-scale-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let files = try ManyCenters.write(count: 25, to: folder)
        let broken = files[11]
        let text = try String(contentsOfFile: broken, encoding: .utf8)
        try text.replacingOccurrences(of: "tariff: base", with: "tariff: bsae").write(toFile: broken, atomically: true, encoding: .utf8)

        let catalog = CenterCatalog.load(files: files, paymentRules: Self.rules, environment: [:])
        #expect(catalog.failures.map(\.file) == [broken])
        #expect(catalog.failures.first?.code == ManyCenters.code(11))
        #expect(catalog.allIssues.contains { $0.description.hasPrefix("\(broken):") && $0.description.contains("bsae") })
        #expect(catalog.centers.map(\.file) == files.filter { $0 != broken })

        try await Self.withDatabase { database in
            let outcomes = try await Self.importer(database).importCenters(
                catalog.centers.map { CenterImporter.Source(center: $0.center, file: $0.file, text: $0.text, skipIfUnchanged: true) },
                dryRun: false
            )
            #expect(outcomes.count == 24 && outcomes.allSatisfy(\.applied))
            let codes = try await CenterRepository.loadAll(database).map(\.center.code)
            #expect(codes == (0..<25).filter { $0 != 11 }.map(ManyCenters.code))
        }
    }

    @Test func aRestartWithUnchangedFilesWritesNothing() async throws {
        try await Self.withDatabase { database in
            let sources = try Self.sources(30)
            _ = try await Self.importer(database).importCenters(sources, dryRun: false)
            let before = try await Self.contents(database)
            // Every row a transaction writes (inserts, updates, locks taken with FOR UPDATE excepted) carries
            // its transaction id: none may be newer than this one.
            let mark = try await database.owner.withConnection { c in
                try await c.first("SELECT txid_current()", Int64.self, logger: database.logger)!
            }
            let restart = try await Self.importer(database).importCenters(sources, dryRun: false)
            #expect(restart.allSatisfy { !$0.applied && $0.diff.isEmpty && $0.refusal == nil })
            #expect(try await Self.contents(database) == before)
            for table in Self.tables {
                var binds = PostgresBindings()
                binds.append(mark)
                let query = PostgresQuery(unsafeSQL: "SELECT count(*) FROM \(table) WHERE xmin::text::bigint > $1", binds: binds)
                let written = try await database.owner.withConnection { c in
                    try await c.first(query, Int.self, logger: database.logger)!
                }
                #expect(written == 0, "\(table)")
            }
        }
    }

    static let tables = [
        "centers", "center_hosts", "units", "age_groups", "tariffs", "periods", "period_closed_days", "period_capacities",
        "day_capacities", "audit_log",
    ]

    /// What the import wrote, one line per row, with centers and periods named by their codes instead of
    /// ids (two databases number them differently) and without the times of writing; sorted.
    static func contents(_ database: Database) async throws -> [String] {
        let volatile = "- 'id' - 'center_id' - 'period_id' - 'created_at' - 'updated_at' - 'edited_at' - 'at'"
        var lines: [String] = []
        try await database.owner.withConnection { c in
            for table in tables {
                let row = table == "centers" ? "to_jsonb(c)" : "to_jsonb(t)"
                let from = table == "centers" ? "centers c" : "\(table) t JOIN centers c ON c.id = t.center_id"
                let period = ["period_closed_days", "period_capacities", "day_capacities"].contains(table)
                    ? "|| jsonb_build_object('period', (SELECT p.code FROM periods p WHERE p.center_id = t.center_id AND p.id = t.period_id))"
                    : ""
                let query = "SELECT c.code || ' \(table) ' || ((\(row) \(volatile)) \(period))::text FROM \(from)"
                lines += try await c.all(PostgresQuery(unsafeSQL: query), String.self, logger: database.logger)
            }
        }
        return lines.sorted()
    }
}
