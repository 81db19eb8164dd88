import Foundation
import Logging
import PostgresNIO

/// The lines of the waiting room (`waiting_room_places`): a family's place for an opening, given once.
public enum WaitingRoomLine {
    /// The family's place in the line of `opening`, given now if it has none: the next number of the
    /// line's counter (`portail_waiting_room_place`, migration 0040). Run it through
    /// `Database.withoutTransaction`: the counter row, which every family arriving in the opening's
    /// minutes updates, is then locked for this one call and its commit, never across a round trip. Two
    /// tabs asking at once get the same place.
    public static func place(_ c: PostgresConnection, center: Int64, family: Int64, opening: Date, logger: Logger) async throws -> Int {
        try await c.first("SELECT portail_waiting_room_place(\(center), \(family), \(opening))", (Int.self), logger: logger)!
    }

    /// The family's place in the line of `opening`, or nil when it has none: read, never given (the room's poll,
    /// inside its page's transaction of the center).
    public static func position(_ c: PostgresConnection, center: Int64, family: Int64, opening: Date, logger: Logger) async throws -> Int? {
        try await c.first("""
            SELECT position FROM waiting_room_places WHERE center_id = \(center) AND opening = \(opening) AND family_id = \(family)
            """, (Int.self), logger: logger)
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
