import Foundation
import Logging
import PostgresNIO

/// The lines of the waiting room (`waiting_room_places`): a family's place for an opening, given once.
public enum WaitingRoomLine {
    /// The family's place in the line of `opening`, given now if it has none: the next number of the
    /// line's counter. One statement: a family already in line only reads, and a new one's counter row is
    /// held for that statement and the commit of its short transaction. Two tabs asking at once get the
    /// same place (the second insert finds the first; its number is skipped, which only lets the line
    /// move a place sooner).
    public static func place(_ c: PostgresConnection, center: Int64, family: Int64, opening: Date, logger: Logger) async throws -> Int {
        let counter = "waiting_room:\(Int(opening.timeIntervalSince1970))"
        if let found = try await c.first("""
            WITH mine AS (
                SELECT position FROM waiting_room_places WHERE center_id = \(center) AND opening = \(opening) AND family_id = \(family)
            ), numbered AS (
                INSERT INTO center_counters AS k (center_id, name, value)
                SELECT \(center), \(counter), 1 WHERE NOT EXISTS (SELECT 1 FROM mine)
                ON CONFLICT (center_id, name) DO UPDATE SET value = k.value + 1
                RETURNING value
            ), placed AS (
                INSERT INTO waiting_room_places (center_id, opening, family_id, position)
                SELECT \(center), \(opening), \(family), value FROM numbered
                ON CONFLICT (center_id, opening, family_id) DO NOTHING
                RETURNING position
            )
            SELECT coalesce((SELECT position FROM mine), (SELECT position FROM placed))
            """, (Int?.self), logger: logger), let position = found {
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
