import Foundation
import Logging
import PortailConfig
import PortailDomain
import PortailTestSupport
import PostgresNIO
import Testing
@testable import PortailStore

/// Issue 16, item 3: the reads that tolerate lag go to a streaming replica (`withReplica`), what decides
/// places and money to the primary. A real primary and a real replica (pg_basebackup -R), on unix
/// sockets of their own.
@Suite struct ReplicaTests {
    @Test func lagTolerantReadsComeFromTheReplicaAndBookingsFromThePrimary() async throws {
        let folder = NSTemporaryDirectory() + "replica-\(UInt32.random(in: 0...UInt32.max))"
        let primary = EmbeddedPostgres(directory: folder + "/p", logger: TestCluster.logger)
        let standby = EmbeddedPostgres(directory: folder + "/r", logger: TestCluster.logger)
        defer {
            standby.stopAnyway()
            primary.stopAnyway()
            try? FileManager.default.removeItem(atPath: folder)
        }
        try primary.start()
        // The replica: a base backup of the primary, streaming from it, with a socket of its own.
        let bin = try EmbeddedPostgres.serverBinDirectory()
        try FileManager.default.createDirectory(atPath: standby.socketDirectory, withIntermediateDirectories: true)
        if EmbeddedPostgres.isRoot { try primary.run("/bin/chown", ["-R", "postgres:postgres", folder + "/r"], asPostgres: false) }
        try primary.run(bin + "/pg_basebackup", ["-h", primary.socketDirectory, "-U", "postgres", "-D", standby.dataDirectory, "-R", "-X", "stream", "-c", "fast"])
        try primary.run("/bin/sh", ["-c", "echo \"unix_socket_directories = '\(standby.socketDirectory)'\" >> \(standby.dataDirectory)/postgresql.conf"])
        try standby.start()
        #expect(try standby.execute("SELECT pg_is_in_recovery()").trimmingCharacters(in: .whitespacesAndNewlines) == "t")

        var settings = primary.settings()
        settings.replica = standby.settings().app
        try await Database(settings: settings, logger: TestCluster.logger).run { database in
            try await database.migrate()
            let catalog = CenterCatalog.parse(sources: [("petit.yaml", .success(TestCenters.small(places: 5)))], paymentRules: [], environment: [:])
            let center = try #require(catalog.centers.first?.center)
            _ = try await CenterImporter(database: database).importCenters([(center, "petit.yaml")], dryRun: false)
            let id = try #require(try await CenterRepository.loadAll(database).first?.id)
            let families = try await makeFamilies(database, center: id, count: 1)
            let day = center.periods[0].startsOn
            func onReplica() async throws -> Int {
                try await database.withReplica(id) { c in try await c.first("SELECT count(*)::int FROM reservations", (Int.self), logger: database.logger) ?? -1 }
            }
            func onPrimary() async throws -> Int {
                try await database.withCenter(id) { c in try await c.first("SELECT count(*)::int FROM reservations", (Int.self), logger: database.logger) ?? -1 }
            }
            // A booking on the primary reaches the replica.
            _ = try await book(database, center, id, family: families[0].0, child: families[0].1[0], days: [day: ["journee"]])
            var seen = 0
            for _ in 0..<100 where seen < 1 {
                seen = try await onReplica()
                if seen < 1 { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(seen == 1)
            #expect(try await database.withReplica(id) { c in try await c.first("SELECT pg_is_in_recovery()", (Bool.self), logger: database.logger) ?? false } == true)
            #expect(try await database.withCenter(id) { c in try await c.first("SELECT pg_is_in_recovery()", (Bool.self), logger: database.logger) ?? true } == false)

            // Replay paused: the primary decides the next booking at once; the replica's read lags behind.
            try standby.execute("SELECT pg_wal_replay_pause()")
            _ = try await book(database, center, id, family: families[0].0, child: families[0].1[0], days: [day.adding(days: 1): ["journee"]])
            #expect(try await onPrimary() == 2)
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await onReplica() == 1)
            // The lag the dashboards read: at least the time since replay stopped, 0 once caught up.
            let lag = try #require(try await database.replicaLagSeconds())
            #expect(lag >= 0.25, "lag \(lag)")
            // Row-level security holds on the replica too: another center's id sees nothing.
            #expect(try await database.withReplica(id + 1000) { c in
                try await c.first("SELECT count(*)::int FROM reservations", (Int.self), logger: database.logger) ?? -1
            } == 0)
            try standby.execute("SELECT pg_wal_replay_resume()")
            seen = 0
            for _ in 0..<100 where seen < 2 {
                seen = try await onReplica()
                if seen < 2 { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(seen == 2)
            var caughtUp = 1.0
            for _ in 0..<100 where caughtUp > 0 {
                caughtUp = try #require(try await database.replicaLagSeconds())
                if caughtUp > 0 { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(caughtUp == 0)
        }
    }
}
