import Foundation
import PortailDomain
import PortailTestSupport
import PostgresNIO
import Synchronization
import Testing
@testable import PortailStore

/// Conflicts between transactions end in an answer, never in an error a parent would see.
/// How many times transactions ran.
final class TransactionRuns: Sendable {
    let count = Mutex(0)
    func add() { count.withLock { $0 += 1 } }
    var total: Int { count.withLock { $0 } }
}

/// Locks two families' rows, the first, then (a moment later) the second.
func lockFamilies(_ c: PostgresConnection, _ database: Database, center: Int64, _ first: Int64, _ second: Int64,
                  runs: TransactionRuns) async throws {
    runs.add()
    try await c.run("SELECT 1 FROM families WHERE center_id = \(center) AND id = \(first) FOR UPDATE", logger: database.logger)
    try await c.run("SELECT pg_sleep(0.3)", logger: database.logger)
    try await c.run("SELECT 1 FROM families WHERE center_id = \(center) AND id = \(second) FOR UPDATE", logger: database.logger)
}

@Suite struct ConflictRetryTests {

    /// Two transactions lock two families' rows in opposite orders: PostgreSQL aborts one as a deadlock,
    /// `withCenter` runs it again, and both end well.
    @Test func aDeadlockIsRetriedAndBothTransactionsSucceed() async throws {
        try await withSmallCenter(places: 2) { database, _, id in
            let families = try await makeFamilies(database, center: id, count: 2)
            let (a, b) = (families[0].0, families[1].0)
            let runs = TransactionRuns()
            async let one: Void = database.withCenter(id) { c in try await lockFamilies(c, database, center: id, a, b, runs: runs) }
            async let two: Void = database.withCenter(id) { c in try await lockFamilies(c, database, center: id, b, a, runs: runs) }
            _ = try await (one, two)
            #expect(runs.total == 3)
        }
    }

    /// Two parents race for the last place while a third family's cart, which held it, expires: one gets
    /// the place, the other is told the day is full; nobody gets an error, nobody is overbooked.
    @Test func twoParentsRaceForTheLastPlaceWhileAThirdCartExpires() async throws {
        try await withSmallCenter(places: 1) { database, center, id in
            let families = try await makeFamilies(database, center: id, count: 3)
            let day = center.periods[0].startsOn
            _ = try await book(database, center, id, family: families[2].0, child: families[2].1[0], days: [day: ["journee"]])
            try await database.owner.withConnection { c in
                try await c.run("UPDATE carts SET expires_at = now() - interval '1 second'", logger: database.logger)
            }
            let outcomes = try await withThrowingTaskGroup(of: String.self) { group in
                for family in families.prefix(2) {
                    group.addTask {
                        do {
                            // As the confirmation does: the center's due carts expire in a short transaction first.
                            try await database.withCenter(id) { c in _ = try await BookingRepository.expireDueCarts(c, center: id, logger: database.logger) }
                            _ = try await book(database, center, id, family: family.0, child: family.1[0], days: [day: ["journee"]])
                            return "booked"
                        } catch BookingRefusal.full {
                            return "full"
                        }
                    }
                }
                return try await group.reduce(into: [String]()) { $0.append($1) }
            }
            #expect(outcomes.sorted() == ["booked", "full"])
            let taken = try await database.owner.withConnection { c in
                try await c.first("SELECT max(taken)::int FROM day_capacities", (Int.self), logger: database.logger)
            }
            #expect(taken == 1)
        }
    }
}
