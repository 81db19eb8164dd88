import Foundation
import Logging
import PortailDomain
import PostgresNIO

/// What the priority windows of a period need to know of a family (`Center.opening(of:for:)` decides).
public enum PriorityQueries {
    /// The family's address as the staff recorded it (not its own edits), the staff's mark and the periods where one of its children has a
    /// confirmed reservation, in one query; `.none` for an unknown family.
    public static func standing(_ c: PostgresConnection, center: Int64, family: Int64, logger: Logger) async throws -> PriorityStanding {
        guard let row = try await c.first("""
            SELECT f.resident_postcode, f.resident_city, f.priority_marked,
                   ARRAY(SELECT DISTINCT p.code FROM reservations r
                         JOIN periods p ON p.center_id = r.center_id AND p.id = r.period_id
                         WHERE r.center_id = f.center_id AND r.family_id = f.id AND r.state = 'confirmed')
            FROM families f WHERE f.center_id = \(center) AND f.id = \(family)
            """, (String, String, Bool, [String]).self, logger: logger) else { return .none }
        return PriorityStanding(postcode: row.0, city: row.1, marked: row.2, attended: Set(row.3))
    }

    /// The same for the pages, without a query when no period of the center has a priority window.
    public static func standing(_ c: PostgresConnection, center: Center, centerID: Int64, family: Int64, logger: Logger) async throws -> PriorityStanding {
        guard center.hasPriorityWindows else { return .none }
        return try await standing(c, center: centerID, family: family, logger: logger)
    }
}
