import Foundation
import Logging
import PortailDomain
import PostgresNIO

/// A row of "Les réservations".
public struct ReservationSummary: Sendable {
    public var id: Int64
    public var number: Int
    public var childFirstName: String
    public var periodCode: String
    public var periodLabel: String
    public var createdAt: Date
    public var firstDay: LocalDate
    public var lastDay: LocalDate
    public var state: String
    public var total: Money
    public var cartExpiresAt: Date?
}

/// One priced line of a reservation: a day and the units one price covers.
public struct ReservationLine: Sendable {
    public var day: LocalDate
    public var priceKey: String
    public var units: [String]
    public var price: Money
}

/// Reads reservations and the cart of a family.
public enum ReservationQueries {
    /// SQL: the cart `k` has run out of time: its hold is over and no payment attempt is waiting for the
    /// bank. What it holds reads as expired (and its places as free) before the maintenance job or the
    /// next booking writes it so: reads never write.
    static let cartIsDue = """
        (k.expires_at <= now() AND (k.state = 'open' OR (k.state = 'paying' AND NOT EXISTS (
            SELECT 1 FROM payment_attempts a WHERE a.center_id = k.center_id AND a.cart_id = k.id AND a.state IN ('created', 'pending')
              AND a.live_until > now()))))
        """

    /// SQL: the reservation `r` holds its days: confirmed, or waiting for payment in a cart that has not
    /// run out of time (`cartIsDue`). The grid and the staff's registers read it instead of expiring carts.
    static let holdsItsDays = """
        (r.state = 'confirmed' OR (r.state = 'pending_payment' AND NOT EXISTS (
            SELECT 1 FROM carts k WHERE k.center_id = r.center_id AND k.id = r.cart_id AND k.state IN ('open', 'paying')
              AND \(cartIsDue))))
        """

    /// SQL: the state of reservation `r` as it reads now: "expired" for one left in a cart that has run out
    /// of time, before the maintenance job or the next booking writes it so.
    static let stateNow = "(CASE WHEN r.state = 'pending_payment' AND NOT \(holdsItsDays) THEN 'expired' ELSE r.state END)"

    /// SQL: the places that carts run out of time still count in `day_capacities.taken`, by day and capacity
    /// unit of each period (`period_id`, `day`, `unit`, `held`; join on all three: periods of two age groups
    /// share days), for the center `center` (an SQL expression) and the reservations that
    /// match `condition` (on `r`). Reads subtract them instead of expiring the carts.
    static func dueHolds(center: String, where condition: String) -> String {
        """
        SELECT r.period_id, l.day, cu AS unit, count(*)::int AS held
        FROM carts k
        JOIN reservations r ON r.center_id = k.center_id AND r.cart_id = k.id
        JOIN reservation_lines l ON l.center_id = r.center_id AND l.reservation_id = r.id
        CROSS JOIN LATERAL unnest(l.capacity_units) AS cu
        WHERE k.center_id = \(center) AND k.state IN ('open', 'paying') AND \(cartIsDue)
          AND r.state = 'pending_payment' AND \(condition)
        GROUP BY 1, 2, 3
        """
    }

    static let columns = """
        SELECT r.id, r.number, ch.first_name, p.code, p.label, r.created_at, r.first_day::text, r.last_day::text,
               CASE WHEN r.state = 'pending_payment' AND k.state IN ('open', 'paying') AND \(cartIsDue) THEN 'expired' ELSE r.state END,
               r.total_cents, k.expires_at
        FROM reservations r
        JOIN children ch ON ch.center_id = r.center_id AND ch.id = r.child_id
        JOIN periods p ON p.center_id = r.center_id AND p.id = r.period_id
        LEFT JOIN carts k ON k.center_id = r.center_id AND k.id = r.cart_id
        """

    /// The account's reservations, a page of them, newest first ($1 center, $2 family, $3 limit, $4 offset).
    struct Page: PreparedQuery {
        static let sql = columns + " WHERE r.center_id = $1 AND r.family_id = $2 ORDER BY r.created_at DESC, r.id DESC LIMIT $3 OFFSET $4"
        let bindings: PostgresBindings
    }

    /// How many reservations the family has ($1 center, $2 family).
    struct Count: PreparedQuery {
        static let sql = "SELECT count(*)::int FROM reservations WHERE center_id = $1 AND family_id = $2"
        let bindings: PostgresBindings
    }

    /// One reservation of the family by its number ($1 center, $2 family, $3 number).
    struct One: PreparedQuery {
        static let sql = columns + " WHERE r.center_id = $1 AND r.family_id = $2 AND r.number = $3"
        let bindings: PostgresBindings
    }

    /// The reservations of the family's live cart ($1 center, $2 family).
    struct Cart: PreparedQuery {
        static let sql = columns + """
             WHERE r.center_id = $1 AND r.family_id = $2 AND r.state = 'pending_payment'
               AND k.state IN ('open', 'paying') AND NOT \(cartIsDue) ORDER BY r.id
            """
        let bindings: PostgresBindings
    }

    static func summaries(_ c: PostgresConnection, _ query: some PreparedQuery, logger: Logger) async throws -> [ReservationSummary] {
        try await c.rows(query, (Int64, Int, String, String, String, Date, String, String, String, Int, Date?).self, logger: logger).map {
            ReservationSummary(id: $0.0, number: $0.1, childFirstName: $0.2, periodCode: $0.3, periodLabel: $0.4, createdAt: $0.5,
                               firstDay: LocalDate(iso: $0.6)!, lastDay: LocalDate(iso: $0.7)!, state: $0.8,
                               total: Money(cents: $0.9), cartExpiresAt: $0.10)
        }
    }

    /// A page of the family's reservations, newest first, and how many there are in all.
    public static func page(_ c: PostgresConnection, center: Int64, family: Int64, offset: Int, limit: Int, logger: Logger) async throws -> (rows: [ReservationSummary], total: Int) {
        let rows = try await summaries(c, Page(bindings: try .of(center, family, limit, offset)), logger: logger)
        let total = try await listTotal(offset: offset, limit: limit, read: rows.count) {
            try await c.row(Count(bindings: try .of(center, family)), (Int.self), logger: logger) ?? 0
        }
        return (rows, total)
    }

    /// One reservation of the family by its number; nil for another family's or unknown number.
    public static func reservation(_ c: PostgresConnection, center: Int64, family: Int64, number: Int, logger: Logger) async throws -> (ReservationSummary, [ReservationLine])? {
        guard let summary = try await summaries(c, One(bindings: try .of(center, family, number)), logger: logger).first else { return nil }
        return (summary, try await lines(c, center: center, reservation: summary.id, logger: logger))
    }

    public static func lines(_ c: PostgresConnection, center: Int64, reservation: Int64, logger: Logger) async throws -> [ReservationLine] {
        try await c.all("""
            SELECT day::text, price_key, units, price_cents FROM reservation_lines
            WHERE center_id = \(center) AND reservation_id = \(reservation) ORDER BY day, price_key
            """, (String, String, [String], Int).self, logger: logger).map {
            ReservationLine(day: LocalDate(iso: $0.0)!, priceKey: $0.1, units: $0.2, price: Money(cents: $0.3))
        }
    }

    /// The reservations of the family's cart without their lines (Mon compte's banner): one query.
    public static func cartSummaries(_ c: PostgresConnection, center: Int64, family: Int64, logger: Logger) async throws -> [ReservationSummary] {
        try await summaries(c, Cart(bindings: try .of(center, family)), logger: logger)
    }

    /// The reservations waiting for payment in the family's cart (open and still held, or being paid),
    /// with their lines: two queries whatever the cart holds.
    public static func cart(_ c: PostgresConnection, center: Int64, family: Int64, logger: Logger) async throws -> [(ReservationSummary, [ReservationLine])] {
        let summaries = try await cartSummaries(c, center: center, family: family, logger: logger)
        guard !summaries.isEmpty else { return [] }
        var lines: [Int64: [ReservationLine]] = [:]
        for (reservation, day, key, units, price) in try await c.all("""
            SELECT reservation_id, day::text, price_key, units, price_cents FROM reservation_lines
            WHERE center_id = \(center) AND reservation_id = ANY(\(summaries.map(\.id))) ORDER BY day, price_key
            """, (Int64, String, String, [String], Int).self, logger: logger) {
            lines[reservation, default: []].append(ReservationLine(day: LocalDate(iso: day)!, priceKey: key, units: units, price: Money(cents: price)))
        }
        return summaries.map { ($0, lines[$0.id] ?? []) }
    }
}

extension ReservationQueries {
    /// The invoice of a reservation and the newest credit note that gave some of it back, by number.
    public static func ledger(_ c: PostgresConnection, center: Int64, reservation: Int64, logger: Logger) async throws
        -> (invoice: String?, lastCreditNote: (number: String, total: Money)?) {
        let invoice = try await c.first("""
            SELECT i.number FROM reservations r JOIN invoices i ON i.center_id = r.center_id AND i.id = r.invoice_id
            WHERE r.center_id = \(center) AND r.id = \(reservation)
            """, (String.self), logger: logger)
        let note = try await c.first("""
            SELECT i.number, i.total_cents::bigint FROM invoices i
            WHERE i.center_id = \(center) AND i.kind = 'credit_note'
              AND EXISTS (SELECT 1 FROM invoice_lines l WHERE l.center_id = i.center_id AND l.invoice_id = i.id AND l.reservation_id = \(reservation))
            ORDER BY i.id DESC LIMIT 1
            """, (String, Int).self, logger: logger)
        return (invoice, note.map { (number: $0.0, total: Money(cents: $0.1)) })
    }
}
