import Foundation
import Logging
import PortailConfig
import PortailDomain
import PortailTestSupport
import PostgresNIO
import Testing
@testable import PortailStore

let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// The shipped demo centers, parsed as the portal does.
func demoCenters() throws -> [(center: Center, file: String)] {
    let files = try CenterCatalog.files(in: root.appendingPathComponent("centers").path)
    let rules = [PaymentTypeRule(type: "systempay") { _, _ in [] }]
    let catalog = CenterCatalog.load(files: files, paymentRules: rules, environment: [:])
    precondition(catalog.failures.isEmpty, "\(catalog.allIssues)")
    return catalog.centers.map { ($0.center, $0.file) }
}

/// A fresh migrated database with the demo centers imported.
func withImportedDatabase(_ body: @Sendable (Database, [CenterRecord]) async throws -> Void) async throws {
    let settings = try await TestCluster.shared.freshDatabase()
    let database = Database(settings: settings, logger: TestCluster.logger)
    try await database.run { database in
        _ = try await CenterImporter(database: database).importCenters(try demoCenters(), dryRun: false)
        try await body(database, try await CenterRepository.loadAll(database))
    }
}

@Suite struct MigrationTests {
    @Test func migrationsApplyOnceAndRecordThemselves() async throws {
        let settings = try await TestCluster.shared.freshDatabase()
        try await Database(settings: settings, logger: TestCluster.logger).run { database in
            // The template is already migrated: nothing is left to apply, twice.
            #expect(try await database.migrate().isEmpty)
            #expect(try await database.migrate().isEmpty)
            let rows = try await database.owner.query("SELECT version FROM schema_migrations ORDER BY version")
            var versions: [String] = []
            for try await v in rows.decode(String.self) { versions.append(v) }
            #expect(versions == Migrator.bundled().map(\.version))
            #expect(versions.count >= 3)
        }
    }

    @Test func aFailingMigrationIsRolledBackAndNamed() async throws {
        let settings = try await TestCluster.shared.freshDatabase()
        try await Database(settings: settings, logger: TestCluster.logger).run { database in
            let broken = Migrator(migrations: Migrator.bundled() + [
                .init(version: "9999_broken", sql: "CREATE TABLE half_done (id int);\nSELECT * FROM no_such_table;"),
            ])
            await #expect {
                try await database.owner.withConnection { try await broken.migrate($0, logger: TestCluster.logger) }
            } throws: { error in
                let message = "\(error)"
                return message.contains("9999_broken.sql") && message.contains("no_such_table")
            }
            // Nothing of the failed file remains, and it is not recorded.
            var exists = true
            for try await value in try await database.owner.query("SELECT to_regclass('half_done') IS NOT NULL").decode(Bool.self) { exists = value }
            #expect(!exists)
        }
    }

    @Test func splitterRespectsQuotesDollarsAndComments() {
        let sql = """
        -- a comment; with a semicolon
        CREATE TABLE a (t text DEFAULT 'x;y');
        DO $$ BEGIN PERFORM 1; END $$;
        /* block; comment */ SELECT "odd;name" FROM a;
        CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $body$ SELECT 1; $body$;
        """
        let statements = SQLSplitter.split(sql)
        #expect(statements.count == 4)
        #expect(statements[0].hasSuffix("DEFAULT 'x;y')"))
        #expect(statements[1] == "DO $$ BEGIN PERFORM 1; END $$")
        #expect(statements[3].contains("$body$ SELECT 1; $body$"))
    }
}

@Suite struct TenantIsolationTests {
    /// Row-level security: SQL run for center A neither reads nor writes center B's rows, even without WHERE.
    @Test func aCenterSeesOnlyItsOwnRows() async throws {
        try await withImportedDatabase { database, records in
            let opio = try #require(records.first { $0.center.code == "opio" })
            let valbonne = try #require(records.first { $0.center.code == "valbonne" })
            for record in [opio, valbonne] {
                try await database.withCenter(record.id) { connection in
                    try await connection.query("INSERT INTO families (center_id, email, name) VALUES (\(record.id), 'same@example.org', \(record.center.code))", logger: database.logger)
                }
            }
            // The same e-mail at two centers is two accounts; each center sees exactly its own.
            let seen = try await database.withCenter(opio.id) { connection in
                var names: [String] = []
                for try await name in try await connection.query("SELECT name FROM families", logger: database.logger).decode(String.self) { names.append(name) }
                var periods: [String] = []
                for try await code in try await connection.query("SELECT code FROM periods", logger: database.logger).decode(String.self) { periods.append(code) }
                return (names, periods)
            }
            #expect(seen.0 == ["opio"])
            #expect(Set(seen.1) == Set(opio.center.periods.map(\.code)))

            // Writing a row for another center is refused by the policy.
            await #expect(throws: (any Error).self) {
                try await database.withCenter(opio.id) { connection in
                    try await connection.query("INSERT INTO families (center_id, email, name) VALUES (\(valbonne.id), 'x@example.org', 'intrus')", logger: database.logger)
                }
            }
            // An UPDATE or DELETE without WHERE touches only the current center's rows.
            try await database.withCenter(opio.id) { connection in
                try await connection.query("UPDATE families SET name = 'changed'", logger: database.logger)
                try await connection.query("DELETE FROM day_capacities", logger: database.logger)
            }
            let valbonneView = try await database.withCenter(valbonne.id) { connection in
                var names: [String] = []
                for try await name in try await connection.query("SELECT name FROM families", logger: database.logger).decode(String.self) { names.append(name) }
                var capacities = 0
                for try await n in try await connection.query("SELECT count(*) FROM day_capacities", logger: database.logger).decode(Int.self) { capacities = n }
                return (names, capacities)
            }
            #expect(valbonneView.0 == ["valbonne"])
            #expect(valbonneView.1 > 0)

            // With no center set, the application role sees nothing at all.
            var count = -1
            for try await n in try await database.app.query("SELECT count(*) FROM families").decode(Int.self) { count = n }
            #expect(count == 0)
        }
    }

    /// A request's connection is bounded in time and never JIT-compiles (docs/operations.md); the owner's,
    /// which migrates and imports, keeps PostgreSQL's defaults.
    @Test func theServingConnectionsCarryTheirTimeoutsAndNoJIT() async throws {
        var settings = try await TestCluster.shared.freshDatabase()
        settings.lockTimeoutMilliseconds = 2_500
        try await Database(settings: settings, logger: TestCluster.logger).run { database in
            let sql: PostgresQuery = "SELECT current_setting('statement_timeout'), current_setting('lock_timeout'), current_setting('idle_in_transaction_session_timeout'), current_setting('jit')"
            let serving = try #require(try await database.app.withConnection { c in try await c.first(sql, (String, String, String, String).self, logger: database.logger) })
            #expect(serving.0 == "15s" && serving.1 == "2500ms" && serving.2 == "1min" && serving.3 == "off", "\(serving)")
            let owner = try #require(try await database.owner.withConnection { c in try await c.first(sql, (String, String, String, String).self, logger: database.logger) })
            #expect(owner.0 == "0" && owner.1 == "0")
        }
    }

    @Test func theApplicationRoleCannotRewriteTheLedgerNorTheDirectory() async throws {
        try await withImportedDatabase { database, records in
            let opio = try #require(records.first { $0.center.code == "opio" })
            await #expect(throws: (any Error).self) {
                try await database.withCenter(opio.id) { connection in
                    try await connection.query("UPDATE invoices SET total_cents = 0", logger: database.logger)
                }
            }
            await #expect(throws: (any Error).self) {
                try await database.app.query("UPDATE centers SET name = 'x'")
            }
            // Nor what the database keeps of it: the families' totals and what each invoice still lacks.
            for statement in ["UPDATE family_totals SET paid_cents = paid_cents + 100", "DELETE FROM family_totals",
                              "UPDATE open_invoices SET due_cents = 1", "DELETE FROM open_invoices",
                              "INSERT INTO open_invoices (center_id, invoice_id, family_id, issued_at, due_cents) SELECT center_id, id, family_id, issued_at, 1 FROM invoices"] {
                await #expect(throws: (any Error).self, "\(statement)") {
                    try await database.withCenter(opio.id) { connection in
                        try await connection.run(PostgresQuery(unsafeSQL: statement), logger: database.logger)
                    }
                }
            }
        }
    }
}

@Suite struct CenterImportTests {
    @Test func importingTwiceChangesNothing() async throws {
        try await withImportedDatabase { database, records in
            #expect(records.count == 3)
            let again = try await CenterImporter(database: database).importCenters(try demoCenters(), dryRun: false)
            #expect(again.allSatisfy { $0.diff.isEmpty && !$0.applied && $0.refusal == nil })
            // What was stored reads back as the file declared it.
            let opio = try #require(records.first { $0.center.code == "opio" })
            let declared = try #require(try demoCenters().first { $0.center.code == "opio" }?.center)
            #expect(CenterDiff(from: opio.center, to: declared).isEmpty)
        }
    }

    @Test func aStartKeepsStaffEditsUntilTheFileChanges() async throws {
        try await withImportedDatabase { database, records in
            let file = try #require(try demoCenters().first { $0.center.code == "opio" })
            let text = try String(contentsOfFile: file.file, encoding: .utf8)
            let importer = CenterImporter(database: database)
            let source = CenterImporter.Source(center: file.center, file: file.file, text: text, skipIfUnchanged: true)
            _ = try await importer.importCenters([source], dryRun: false)
            // Staff give a period more places and a day of its own.
            let period = file.center.periods[1]
            let edited = try await importer.edit(code: "opio", actor: "staff:a@example.org", action: "period.update", subject: period.code) { center in
                var center = center
                center.periods[1].places["matin"] = 30
                center.periods[1].dayPlaces[period.openDays[0]] = ["matin": 12]
                return center
            }
            #expect(edited?.applied == true)
            // A start with the same file leaves the edit alone ...
            let restart = try #require(try await importer.importCenters([source], dryRun: false).first)
            #expect(!restart.applied)
            var stored = try #require(try await CenterRepository.loadAll(database).first { $0.center.code == "opio" }?.center.periods[1])
            #expect(stored.places["matin"] == 30 && stored.places(on: period.openDays[0])["matin"] == 12 && stored.places(on: period.openDays[1])["matin"] == 30)
            // ... an explicit import of the file applies it ...
            let explicit = try #require(try await importer.importCenters([CenterImporter.Source(center: file.center, file: file.file, text: text)], dryRun: false).first)
            #expect(explicit.applied)
            stored = try #require(try await CenterRepository.loadAll(database).first { $0.center.code == "opio" }?.center.periods[1])
            #expect(stored == period)
            // ... and so does a start with a changed file.
            var changed = file.center
            changed.name = "ALSH d'Opio (nouveau nom)"
            let next = try #require(try await importer.importCenters([CenterImporter.Source(center: changed, file: file.file, text: text + "\n# changed", skipIfUnchanged: true)], dryRun: false).first)
            #expect(next.applied)
            _ = records
        }
    }

    @Test func dryRunPrintsTheDifferenceAndWritesNothing() async throws {
        try await withImportedDatabase { database, records in
            var changed = try #require(try demoCenters().first { $0.center.code == "opio" })
            changed.center.name = "ALSH d'Opio (nouveau nom)"
            changed.center.periods[1].places["matin"] = 30
            let outcome = try #require(try await CenterImporter(database: database).importCenters([changed], dryRun: true).first)
            #expect(!outcome.applied)
            let lines = outcome.diff.changes.map(\.description)
            #expect(lines.contains { $0.hasPrefix("~ center opio: ") && $0.contains("nouveau nom") })
            #expect(lines.contains { $0.hasPrefix("~ period \(changed.center.periods[1].code): places") })
            let reread = try await CenterRepository.loadAll(database)
            #expect(reread.first { $0.center.code == "opio" }?.center.name == "ALSH d'Opio")
        }
    }

    @Test func removingABookedPeriodIsRefusedWithItsName() async throws {
        try await withImportedDatabase { database, records in
            let opio = try #require(records.first { $0.center.code == "opio" })
            let period = opio.center.periods[1]
            try await database.withCenter(opio.id) { connection in
                let logger = database.logger
                var family: Int64 = 0, child: Int64 = 0, periodID: Int64 = 0
                for try await id in try await connection.query("INSERT INTO families (center_id, email, name) VALUES (\(opio.id), 'a@example.org', 'A') RETURNING id", logger: logger).decode(Int64.self) { family = id }
                for try await id in try await connection.query("INSERT INTO children (center_id, family_id, first_name, last_name, birth_date) VALUES (\(opio.id), \(family), 'JULES', 'A', '2021-03-14') RETURNING id", logger: logger).decode(Int64.self) { child = id }
                for try await id in try await connection.query("SELECT id FROM periods WHERE code = \(period.code)", logger: logger).decode(Int64.self) { periodID = id }
                try await connection.query("""
                    INSERT INTO reservations (center_id, number, family_id, child_id, period_id, total_cents, first_day, last_day)
                    VALUES (\(opio.id), 1, \(family), \(child), \(periodID), 1400, '2026-12-21', '2026-12-21')
                    """, logger: logger)
            }
            var without = try #require(try demoCenters().first { $0.center.code == "opio" })
            without.center.periods.removeAll { $0.code == period.code }
            without.center.name = "renamed"
            let outcome = try #require(try await CenterImporter(database: database).importCenters([without], dryRun: false).first)
            let refusal = try #require(outcome.refusal)
            #expect(refusal.contains("period \"\(period.code)\""))
            #expect(refusal.contains("1 reservation(s)"))
            // Refused as a whole: not even the name changed.
            let reread = try await CenterRepository.loadAll(database)
            #expect(reread.first { $0.center.code == "opio" }?.center.name == "ALSH d'Opio")
            #expect(reread.first { $0.center.code == "opio" }?.center.periods.count == opio.center.periods.count)
        }
    }
}

/// A list read a page at a time counts its rows only when the page cannot tell.
@Suite struct ListTotalTests {
    @Test func thePageTellsUnlessItIsFullOrPastTheEnd() async throws {
        // (offset, limit, rows read) → (total, whether the database was asked); the database holds 13 rows.
        let cases: [(Int, Int, Int, Int, Bool)] = [
            (0, 10, 8, 8, false), (0, 10, 0, 0, false), (10, 10, 3, 13, false),
            (0, 10, 10, 13, true), (20, 10, 0, 13, true),
        ]
        for (offset, limit, read, total, asked) in cases {
            var counted = false
            let answer = try await listTotal(offset: offset, limit: limit, read: read) { counted = true; return 13 }
            #expect(answer == total && counted == asked, "offset \(offset), limit \(limit), read \(read)")
        }
    }
}
