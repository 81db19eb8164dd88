import Foundation
import Logging
import PortailDomain
import PortailTestSupport
import PostgresNIO
import Testing
@testable import PortailStore

/// What a payment attempt pays for is recorded when it starts; attempts from before the table get it
/// from the migration when their cart still adds up to what they asked.
@Suite struct AttemptReservationsTests {
    /// Starts a payment of the family's cart; returns the attempt's reference.
    func startPayment(_ database: Database, _ center: Center, _ id: Int64, family: Int64) async throws -> String {
        try await database.withCenter(id) { c in
            let started = try await PaymentRepository.begin(
                c, center: center, centerID: id, family: family, provider: "TEST", sessionLimit: 600, logger: database.logger
            )
            guard case .new(let attempt) = started else { throw CancellationError() }
            try await PaymentRepository.recordStart(c, centerID: id, attempt: attempt.id, action: "https://bank.example.org", form: [],
                                                    providerReference: nil, logger: database.logger)
            return attempt.reference
        }
    }

    /// The reservation numbers each attempt pays for, by reference.
    func frozen(_ database: Database) async throws -> [String: [Int]] {
        try await database.owner.withConnection { c in
            var result: [String: [Int]] = [:]
            for (reference, number) in try await c.all("""
                SELECT a.reference, r.number FROM payment_attempts a
                JOIN payment_attempt_reservations f ON f.center_id = a.center_id AND f.attempt_id = a.id
                JOIN reservations r ON r.center_id = f.center_id AND r.id = f.reservation_id
                ORDER BY 1, 2
                """, (String, Int).self, logger: database.logger) {
                result[reference, default: []].append(number)
            }
            return result
        }
    }

    @Test func anAttemptRecordsTheReservationsAndAmountsItPriced() async throws {
        try await withSmallCenter(places: 5) { database, center, id in
            let families = try await makeFamilies(database, center: id, count: 1)
            let (family, children) = families[0]
            let start = center.periods[0].startsOn
            _ = try await book(database, center, id, family: family, child: children[0], days: [start: ["journee"]])
            _ = try await book(database, center, id, family: family, child: children[0],
                               days: [start.adding(days: 1): ["matin"], start.adding(days: 2): ["matin"]])
            let reference = try await startPayment(database, center, id, family: family)
            #expect(try await frozen(database) == [reference: [1, 2]])
            let (amount, frozenTotal) = try await database.owner.withConnection { c in
                try await c.first("""
                    SELECT a.amount_cents::bigint, (SELECT sum(amount_cents) FROM payment_attempt_reservations f
                                                    WHERE f.center_id = a.center_id AND f.attempt_id = a.id)::bigint
                    FROM payment_attempts a WHERE a.reference = \(reference)
                    """, (Int, Int).self, logger: database.logger)!
            }
            #expect(amount == 1000 + 2 * 600)
            #expect(frozenTotal == amount)
        }
    }

    @Test func theMigrationGivesOlderAttemptsTheirCartWhenItStillAddsUp() async throws {
        try await withSmallCenter(places: 5) { database, center, id in
            let families = try await makeFamilies(database, center: id, count: 3)
            let start = center.periods[0].startsOn
            var references: [String] = []
            for (index, (family, children)) in families.enumerated() {
                _ = try await book(database, center, id, family: family, child: children[0], days: [start.adding(days: index): ["journee"]])
                references.append(try await startPayment(database, center, id, family: family))
            }
            // The second family's attempt dies and a day is added to its reopened cart; the third removes
            // its reservation from its reopened cart.
            let logger = database.logger
            try await database.owner.withConnection { c in
                try await c.run("UPDATE payment_attempts SET state = 'cancelled' WHERE reference <> \(references[0])", logger: logger)
                try await c.run("UPDATE carts SET state = 'open' WHERE state = 'paying' AND family_id <> \(families[0].0)", logger: logger)
            }
            _ = try await book(database, center, id, family: families[1].0, child: families[1].1[0], days: [start.adding(days: 5): ["journee"]])
            let removed = try await database.withCenter(id) { c in
                try await BookingRepository.removeFromCart(c, center: center, centerID: id, family: families[2].0, number: 3, logger: logger)
            }
            #expect(removed)

            // As before the table existed, then the migration's backfill.
            let migration = try #require(Migrator.bundled().first { $0.version == "0013_attempt_reservations" })
            let backfill = try #require(SQLSplitter.split(migration.sql).last)
            #expect(backfill.contains("INSERT INTO payment_attempt_reservations"))
            try await database.owner.withConnection { c in
                try await c.run("DELETE FROM payment_attempt_reservations", logger: logger)
                try await c.run(PostgresQuery(unsafeSQL: backfill), logger: logger)
            }
            // The live attempt and the dead one get what they priced, not the day added after; the attempt
            // whose cart no longer adds up gets nothing (a late payment of it becomes a flagged credit).
            #expect(try await frozen(database) == [references[0]: [1], references[1]: [2]])
        }
    }
}
