import Foundation
import Logging
import PostgresNIO

/// The lines of the waiting room (`waiting_room_places`): a family's place for an opening, given once.
public enum WaitingRoomLine {
    /// The family's place in the line of `opening`, given now if it has none: the next number of the
    /// line's counter. Two tabs asking at once get the same place (the second insert finds the first).
    public static func place(_ c: PostgresConnection, center: Int64, family: Int64, opening: Date, logger: Logger) async throws -> Int {
        if let position = try await c.first("""
            SELECT position FROM waiting_room_places WHERE center_id = \(center) AND opening = \(opening) AND family_id = \(family)
            """, (Int.self), logger: logger) {
            return position
        }
        // The counter row is held only until this short transaction commits.
        let counter = "waiting_room:\(Int(opening.timeIntervalSince1970))"
        let next = try await BookingRepository.nextNumber(c, center: center, counter: counter, logger: logger)
        if let position = try await c.first("""
            INSERT INTO waiting_room_places (center_id, opening, family_id, position) VALUES (\(center), \(opening), \(family), \(next))
            ON CONFLICT (center_id, opening, family_id) DO NOTHING
            RETURNING position
            """, (Int.self), logger: logger) {
            return position
        }
        return try await c.first("""
            SELECT position FROM waiting_room_places WHERE center_id = \(center) AND opening = \(opening) AND family_id = \(family)
            """, (Int.self), logger: logger)!
    }

    /// Forgets the lines of openings more than a day old, and their counters.
    public static func purge(_ c: PostgresConnection, center: Int64, logger: Logger) async throws {
        let old = try await c.all("""
            WITH gone AS (DELETE FROM waiting_room_places WHERE center_id = \(center) AND opening < now() - interval '1 day' RETURNING opening)
            SELECT DISTINCT opening FROM gone
            """, (Date.self), logger: logger)
        guard !old.isEmpty else { return }
        let counters = Set(old.map { "waiting_room:\(Int($0.timeIntervalSince1970))" })
        try await c.run("DELETE FROM center_counters WHERE center_id = \(center) AND name = ANY(\(Array(counters)))", logger: logger)
    }
}
