import Foundation
import Logging
import PortailConfig
import PostgresNIO
import PortailTestSupport
import Testing
@testable import PortailStore

/// A page's one transaction (`withPageTransaction`): its reads join it; a failed statement inside is
/// never committed, even when the page goes on; a task that outlives the page does not use it; its
/// first statement reads the session and sets the center.
@Suite struct PageTransactionTests {
    /// The statement that reads the cookie's session also sets the transaction's center: the page sees
    /// its center's rows, only them, with or without a session; a cookie of one center is no session at another.
    @Test func thePagesFirstStatementReadsTheSessionAndSetsItsCenter() async throws {
        try await withSmallCenter(places: 1) { database, center, id in
            let catalog = CenterCatalog.parse(sources: [("autre.yaml", .success(TestCenters.small(code: "autre", places: 1)))], paymentRules: [], environment: [:])
            let other = try #require(catalog.centers.first?.center, "\(catalog.allIssues)")
            _ = try await CenterImporter(database: database).importCenters([(other, "autre.yaml")], dryRun: false)
            let otherID = try #require(try await CenterRepository.loadAll(database).first { $0.center.code == "autre" }?.id)
            let family = try await makeFamilies(database, center: id, count: 1)[0].0
            _ = try await makeFamilies(database, center: otherID, count: 2)
            let token = try #require(try await database.withCenter(id) { c in
                try await SessionRepository.create(c, center: id, familyID: family, logger: database.logger).token
            })
            let logger = database.logger
            let read = { (center: Int64, token: String) in
                let before = Database.opened.load(ordering: .relaxed)
                let seen = try await database.withPageTransaction(center, session: token) { session in
                    try await database.withCenter(center) { c in
                        (session: session,
                         families: try await c.first("SELECT count(*)::int FROM families", (Int.self), logger: logger) ?? -1,
                         setting: try await c.first("SELECT current_setting('portail.center_id')", (String.self), logger: logger) ?? "")
                    }
                }
                #expect(Database.opened.load(ordering: .relaxed) - before == 1)
                return seen
            }
            let own = try await read(id, token)
            #expect(own.session?.familyID == family && own.session?.familyName == "F0" && own.families == 1 && own.setting == String(id))
            let elsewhere = try await read(otherID, token)
            #expect(elsewhere.session == nil && elsewhere.families == 2 && elsewhere.setting == String(otherID))
            let unknown = try await read(id, SecretToken.generate())
            #expect(unknown.session == nil && unknown.families == 1 && unknown.setting == String(id))
        }
    }

    @Test func aFailedStatementInsideAPageIsRolledBackNotCommitted() async throws {
        try await withSmallCenter(places: 1) { database, center, id in
            let families = try await makeFamilies(database, center: id, count: 1)
            let family = families[0].0
            let rename = "UPDATE families SET name = 'CHANGÉ' WHERE center_id = \(id) AND id = \(family)"
            await #expect(throws: Database.PageTransactionFailed.self) {
                try await database.withPageTransaction(id, session: SecretToken.generate()) { _ in
                    try await database.withCenter(id) { c in try await c.run(PostgresQuery(unsafeSQL: rename), logger: database.logger) }
                    // A statement fails and the page swallows it: the whole transaction must not commit.
                    _ = try? await database.withCenter(id) { c in try await c.run("SELECT 1 / 0", logger: database.logger) }
                }
            }
            let name = try await database.withCenter(id) { c in
                try await c.first("SELECT name FROM families WHERE center_id = \(id) AND id = \(family)", (String.self), logger: database.logger)
            }
            #expect(name == "F0")
        }
    }

    @Test func aPagesReadsShareItsTransactionAndATaskThatOutlivesItDoesNot() async throws {
        try await withSmallCenter(places: 1) { database, center, id in
            _ = try await makeFamilies(database, center: id, count: 1)
            let (inside, later) = try await database.withPageTransaction(id, session: SecretToken.generate()) { _ -> (Bool, Task<Int, any Error>) in
                let outer = try await database.withCenter(id) { c in try await c.first("SELECT txid_current()", (Int64.self), logger: database.logger) }
                let inner = try await database.withCenter(id) { c in try await c.first("SELECT txid_current()", (Int64.self), logger: database.logger) }
                // A task started by the page inherits its task-locals; once the page has ended it must
                // not use the page's connection (back in the pool, outside any transaction, it would
                // see no center and so no family).
                let task = Task {
                    try await Task.sleep(for: .milliseconds(200))
                    return try await database.withCenter(id) { c in try await c.first("SELECT count(*)::int FROM families", (Int.self), logger: database.logger)! }
                }
                return (outer == inner, task)
            }
            #expect(inside)
            #expect(try await later.value == 1)
        }
    }
}
