import Foundation
import Logging
import PostgresNIO
import PortailTestSupport
import Testing
@testable import PortailStore

/// A page's one transaction (`withPageTransaction`): its reads join it; a failed statement inside is
/// never committed, even when the page goes on; a task that outlives the page does not use it.
@Suite struct PageTransactionTests {
    @Test func aFailedStatementInsideAPageIsRolledBackNotCommitted() async throws {
        try await withSmallCenter(places: 1) { database, center, id in
            let families = try await makeFamilies(database, center: id, count: 1)
            let family = families[0].0
            let rename = "UPDATE families SET name = 'CHANGÉ' WHERE center_id = \(id) AND id = \(family)"
            await #expect(throws: Database.PageTransactionFailed.self) {
                try await database.withPageTransaction(id) {
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
            let (inside, later) = try await database.withPageTransaction(id) { () -> (Bool, Task<Int, any Error>) in
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
