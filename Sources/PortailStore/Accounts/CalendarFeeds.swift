import Foundation
import Logging
import PortailDomain
import PostgresNIO

/// Private calendar feeds of a family's confirmed days (issue 15, item 7): one secret address per device
/// a parent subscribes from, for all the children or one. The address is shown once; the table keeps the
/// SHA-256 of its token; a parent withdraws each link on its own.
public enum CalendarFeeds {
    /// Live links a family may hold at once.
    public static let perFamily = 10

    public struct Feed: Sendable {
        public var id: Int64
        public var label: String
        /// Nil: every child of the family.
        public var childName: String?
        public var createdAt: Date
        public var lastReadAt: Date?
    }

    /// A child's confirmed day, with the price keys booked ("journee", "matin+repas").
    public struct Day: Sendable, Equatable {
        public var childID: Int64
        public var childName: String
        public var day: LocalDate
        public var keys: [String]
        public var reservation: Int
    }

    public enum Refusal: Error, Sendable, Equatable {
        case tooMany
        case unknownChild
    }

    /// The family's live links, newest first.
    public static func list(_ c: PostgresConnection, center: Int64, family: Int64, logger: Logger) async throws -> [Feed] {
        try await c.all("""
            SELECT f.id, f.label, ch.first_name, f.created_at, f.last_read_at
            FROM calendar_feeds f LEFT JOIN children ch ON ch.center_id = f.center_id AND ch.id = f.child_id
            WHERE f.center_id = \(center) AND f.family_id = \(family) AND f.revoked_at IS NULL
            ORDER BY f.id DESC
            """, (Int64, String, String?, Date, Date?).self, logger: logger)
            .map { Feed(id: $0.0, label: $0.1, childName: $0.2, createdAt: $0.3, lastReadAt: $0.4) }
    }

    /// A new link for the family (one child's, or every child's when `child` is nil); returns its token,
    /// to be shown once.
    public static func create(_ c: PostgresConnection, center: Int64, family: Int64, child: Int64?, label: String, logger: Logger) async throws -> String {
        try await FamilyFile.lockFamily(c, center: center, family: family, logger: logger)
        let live = try await c.first("""
            SELECT count(*)::int FROM calendar_feeds WHERE center_id = \(center) AND family_id = \(family) AND revoked_at IS NULL
            """, (Int.self), logger: logger) ?? 0
        guard live < perFamily else { throw Refusal.tooMany }
        if let child {
            guard try await c.first("""
                SELECT 1 FROM children WHERE center_id = \(center) AND id = \(child) AND family_id = \(family)
                """, (Int.self), logger: logger) != nil else { throw Refusal.unknownChild }
        }
        let token = SecretToken.generate()
        try await c.run("""
            INSERT INTO calendar_feeds (center_id, family_id, child_id, label, token_hash)
            VALUES (\(center), \(family), \(child), \(label), \(SecretToken.hash(token)))
            """, logger: logger)
        return token
    }

    /// Withdraws one of the family's links; false when it is not one of its live links.
    public static func revoke(_ c: PostgresConnection, center: Int64, family: Int64, id: Int64, logger: Logger) async throws -> Bool {
        try await c.first("""
            UPDATE calendar_feeds SET revoked_at = now()
            WHERE center_id = \(center) AND family_id = \(family) AND id = \(id) AND revoked_at IS NULL
            RETURNING id
            """, (Int64.self), logger: logger) != nil
    }

    /// What the link behind `token` shows: its child's (or every child's) confirmed days from `since`, at
    /// most `limit`; nil when no live link of an active family has this token. Its last reading is noted
    /// at most once an hour.
    public static func read(
        _ c: PostgresConnection, center: Int64, token: String, since: LocalDate, limit: Int = 2000, logger: Logger
    ) async throws -> (childName: String?, days: [Day])? {
        guard SecretToken.looksValid(token), let (id, family, child, childName) = try await c.first("""
            SELECT f.id, f.family_id, f.child_id, ch.first_name
            FROM calendar_feeds f
            JOIN families fam ON fam.center_id = f.center_id AND fam.id = f.family_id
            LEFT JOIN children ch ON ch.center_id = f.center_id AND ch.id = f.child_id
            WHERE f.center_id = \(center) AND f.token_hash = \(SecretToken.hash(token)) AND f.revoked_at IS NULL
              AND fam.state = 'active' AND fam.erased_at IS NULL
            """, (Int64, Int64, Int64?, String?).self, logger: logger) else { return nil }
        try await c.run("""
            UPDATE calendar_feeds SET last_read_at = now()
            WHERE center_id = \(center) AND id = \(id) AND (last_read_at IS NULL OR last_read_at < now() - interval '1 hour')
            """, logger: logger)
        // The newest days when there are more than `limit`: the days to come matter most.
        let days = try await c.all("""
            SELECT * FROM (
                SELECT ch.id, ch.first_name, l.day::text AS day, array_agg(l.price_key ORDER BY l.price_key), min(r.number)::int
                FROM reservation_lines l
                JOIN reservations r ON r.center_id = l.center_id AND r.id = l.reservation_id
                JOIN children ch ON ch.center_id = r.center_id AND ch.id = r.child_id
                WHERE r.center_id = \(center) AND r.family_id = \(family) AND r.state = 'confirmed'
                  AND (\(child)::bigint IS NULL OR r.child_id = \(child)) AND l.day >= \(since.iso)::date
                GROUP BY ch.id, ch.first_name, l.day
                ORDER BY l.day DESC, ch.first_name, ch.id
                LIMIT \(limit)
            ) newest ORDER BY day, first_name, id
            """, (Int64, String, String, [String], Int).self, logger: logger)
            .map { Day(childID: $0.0, childName: $0.1, day: LocalDate(iso: $0.2)!, keys: $0.3, reservation: $0.4) }
        return (childName, days)
    }
}
