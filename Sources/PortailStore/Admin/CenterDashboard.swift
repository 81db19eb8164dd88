import Foundation
import Logging
import PortailDomain
import PostgresNIO

/// What a center's director sees first in the back office: who comes today and tomorrow, the week's
/// bookings and payments, the places left on the coming days, and what waits for a person (flagged
/// payments, unpaid invoices).
public struct CenterDashboard: Sendable {
    public struct Day: Sendable {
        public var day: LocalDate
        public var children: Int
        /// Children per unit ("journee" -> 12).
        public var byUnit: [(unit: String, children: Int)]
        /// Children per age group of the period they are booked in ("maternelle" -> 8).
        public var byAgeGroup: [(group: String, children: Int)]
    }

    public struct Places: Sendable {
        public var period: String
        public var day: LocalDate
        public var unit: String
        public var places: Int
        public var taken: Int
        public var left: Int { max(0, places - taken) }
    }

    public struct UnpaidInvoice: Sendable {
        public var number: String
        public var family: String
        public var issuedAt: Date
        public var due: Money
    }

    public var today: Day
    public var tomorrow: Day
    public var bookingsThisWeek: Int
    public var paymentsThisWeek: Int
    public var receivedThisWeek: Money
    /// The coming days of the open periods (at most 60 days ahead), by period, day and unit.
    public var places: [Places]
    public var flaggedPayments: Int
    public var unmatchedPayments: Int
    /// The oldest unpaid invoices (at most 20) and how many there are in all.
    public var unpaid: [UnpaidInvoice]
    public var unpaidCount: Int
    public var unpaidTotal: Money

    /// It reads; it does not expire carts (places of carts whose hold ran out read as free).
    public static func load(_ c: PostgresConnection, center: Int64, today: LocalDate, logger: Logger) async throws -> CenterDashboard {
        func day(_ date: LocalDate) async throws -> Day {
            let rows = try await c.all("""
                SELECT u, count(DISTINCT r.child_id)::int
                FROM reservations r
                JOIN reservation_lines l ON l.center_id = r.center_id AND l.reservation_id = r.id
                CROSS JOIN LATERAL unnest(l.units) AS u
                WHERE r.center_id = \(center) AND l.day = \(date.iso)::date AND r.state = 'confirmed'
                GROUP BY u ORDER BY u
                """, (String, Int).self, logger: logger)
            let children = try await c.first("""
                SELECT count(DISTINCT r.child_id)::int FROM reservations r
                JOIN reservation_lines l ON l.center_id = r.center_id AND l.reservation_id = r.id
                WHERE r.center_id = \(center) AND l.day = \(date.iso)::date AND r.state = 'confirmed'
                """, (Int.self), logger: logger) ?? 0
            let groups = try await c.all("""
                SELECT p.age_group, count(DISTINCT r.child_id)::int
                FROM reservations r
                JOIN reservation_lines l ON l.center_id = r.center_id AND l.reservation_id = r.id
                JOIN periods p ON p.center_id = r.center_id AND p.id = r.period_id
                WHERE r.center_id = \(center) AND l.day = \(date.iso)::date AND r.state = 'confirmed'
                GROUP BY p.age_group ORDER BY p.age_group
                """, (String, Int).self, logger: logger)
            return Day(day: date, children: children, byUnit: rows.map { (unit: $0.0, children: $0.1) },
                       byAgeGroup: groups.map { (group: $0.0, children: $0.1) })
        }
        let week = try await c.first("""
            SELECT (SELECT count(*) FROM reservations WHERE center_id = \(center) AND created_at > now() - interval '7 days')::int,
                   (SELECT count(*) FROM payments WHERE center_id = \(center) AND received_at > now() - interval '7 days')::int,
                   (SELECT coalesce(sum(amount_cents), 0) FROM payments WHERE center_id = \(center) AND received_at > now() - interval '7 days')::bigint
            """, (Int, Int, Int64).self, logger: logger) ?? (0, 0, Int64(0))
        let placesWindow = "l.day >= $2::date AND l.day < $2::date + 60"
        let places = try await c.all(PostgresQuery(unsafeSQL: """
            SELECT p.label, d.day::text, d.unit, d.places, d.taken - coalesce(due.held, 0)
            FROM day_capacities d JOIN periods p ON p.center_id = d.center_id AND p.id = d.period_id
            LEFT JOIN (\(ReservationQueries.dueHolds(center: "$1", where: placesWindow))) due
                ON due.period_id = d.period_id AND due.day = d.day AND due.unit = d.unit
            WHERE d.center_id = $1 AND d.day >= $2::date AND d.day < $2::date + 60
            ORDER BY d.day, p.label, d.unit
            LIMIT 2000
            """, binds: try .of(center, today.iso)), (String, String, String, Int, Int).self, logger: logger).compactMap { row -> Places? in
            guard let day = LocalDate(iso: row.1) else { return nil }
            return Places(period: row.0, day: day, unit: row.2, places: row.3, taken: row.4)
        }
        let flagged = try await c.first("""
            SELECT (SELECT count(*) FROM payment_attempts WHERE center_id = \(center) AND flag IS NOT NULL AND resolved_at IS NULL)::int,
                   (SELECT count(DISTINCT n.attempt_reference) FROM payment_notifications n
                    WHERE n.center_id = \(center) AND n.outcome = 'unknown_attempt' AND n.status = 'paid'
                      AND NOT EXISTS (SELECT 1 FROM unmatched_payment_resolutions r
                                      WHERE r.center_id = n.center_id AND r.attempt_reference = n.attempt_reference))::int
            """, (Int, Int).self, logger: logger) ?? (0, 0)
        // What the database keeps of the invoices still open (open_invoices): the oldest twenty, and all counted.
        let unpaidRows = try await c.all("""
            SELECT i.number, f.name, o.issued_at, o.due_cents, t.n, t.total
            FROM (SELECT count(*)::int AS n, coalesce(sum(due_cents), 0)::bigint AS total FROM open_invoices WHERE center_id = \(center)) t
            CROSS JOIN LATERAL (SELECT * FROM open_invoices WHERE center_id = \(center) ORDER BY issued_at, invoice_id LIMIT 20) o
            JOIN invoices i ON i.center_id = o.center_id AND i.id = o.invoice_id
            JOIN families f ON f.center_id = o.center_id AND f.id = o.family_id
            ORDER BY o.issued_at, i.number
            """, (String, String, Date, Int64, Int, Int64).self, logger: logger)
        return CenterDashboard(
            today: try await day(today), tomorrow: try await day(today.adding(days: 1)),
            bookingsThisWeek: week.0, paymentsThisWeek: week.1, receivedThisWeek: Money(cents: Int(week.2)),
            places: places, flaggedPayments: flagged.0, unmatchedPayments: flagged.1,
            unpaid: unpaidRows.map { UnpaidInvoice(number: $0.0, family: $0.1, issuedAt: $0.2, due: Money(cents: Int($0.3))) },
            unpaidCount: unpaidRows.first?.4 ?? 0, unpaidTotal: Money(cents: Int(unpaidRows.first?.5 ?? 0))
        )
    }
}

/// A child on the day's register: who, how old, which units, and whom to call.
public struct RegisterLine: Sendable {
    public var reservation: Int
    public var child: String
    public var birthDate: LocalDate?
    public var family: String
    public var phone: String
    public var units: [String]
    public var confirmed: Bool
    /// The age group of the period booked ("maternelle").
    public var ageGroup: String
}

extension CenterDashboard {
    /// The day's register: every child booked that day (confirmed, or waiting for payment in a cart whose
    /// hold runs), by name. It reads; it does not expire carts.
    public static func register(_ c: PostgresConnection, center: Int64, day: LocalDate, limit: Int?, logger: Logger) async throws
        -> (lines: [RegisterLine], total: Int) {
        // `total` counts every child of the day, also past `limit` (nil: no limit).
        let rows = try await c.all(registerQuery(center: center, day: day, total: true, limit: limit),
                                   (Int, String, String, String, String, [String], String, String, Int).self, logger: logger)
        return (rows.map {
            RegisterLine(reservation: $0.0, child: $0.1, birthDate: LocalDate(iso: $0.2), family: $0.3, phone: $0.4, units: $0.5,
                         confirmed: $0.6 == "confirmed", ageGroup: $0.7)
        }, rows.first?.8 ?? 0)
    }

    /// Every line of the day's register, in the page's order, each handed to `each` as it comes from the
    /// database (the CSV file streams them: no count, which would read them all before the first).
    public static func register(_ c: PostgresConnection, center: Int64, day: LocalDate, logger: Logger,
                                each: (RegisterLine) async throws -> Void) async throws {
        let rows = try await c.query(registerQuery(center: center, day: day, total: false, limit: nil), logger: logger)
        for try await row in rows.decode((Int, String, String, String, String, [String], String, String).self) {
            try await each(RegisterLine(reservation: row.0, child: row.1, birthDate: LocalDate(iso: row.2), family: row.3, phone: row.4,
                                        units: row.5, confirmed: row.6 == "confirmed", ageGroup: row.7))
        }
    }

    /// The children of the day with their units, by name; with `total`, each row ends with how many there are.
    private static func registerQuery(center: Int64, day: LocalDate, total: Bool, limit: Int?) -> PostgresQuery {
        """
        SELECT r.number, ch.first_name || ' ' || ch.last_name, ch.birth_date::text, f.name, f.phone, array_agg(DISTINCT u ORDER BY u), r.state,
               p.age_group\(unescaped: total ? ", (count(*) OVER ())::int" : "")
        FROM reservations r
        JOIN periods p ON p.center_id = r.center_id AND p.id = r.period_id
        JOIN reservation_lines l ON l.center_id = r.center_id AND l.reservation_id = r.id
        CROSS JOIN LATERAL unnest(l.units) AS u
        JOIN children ch ON ch.center_id = r.center_id AND ch.id = r.child_id
        JOIN families f ON f.center_id = r.center_id AND f.id = r.family_id
        WHERE r.center_id = \(center) AND l.day = \(day.iso)::date AND r.state IN ('confirmed', 'pending_payment')
          AND \(unescaped: ReservationQueries.holdsItsDays)
        GROUP BY r.number, ch.first_name, ch.last_name, ch.birth_date, f.name, f.phone, r.state, p.age_group
        ORDER BY ch.last_name, ch.first_name, r.number
        LIMIT \(limit)
        """
    }
}
