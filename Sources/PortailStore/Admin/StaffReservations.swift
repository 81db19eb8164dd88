import Foundation
import Logging
import PortailDomain
import PostgresNIO

/// A reservation as the staff list shows it.
public struct StaffReservation: Sendable, Codable {
    public var number: String
    public var state: String
    public var familyId: Int64
    public var family: String
    public var childId: Int64
    public var child: String
    public var period: String
    public var firstDay: String
    public var lastDay: String
    public var totalCents: Int
    public var invoice: String?
    /// The days and units booked ("2026-07-06": ["journee"]).
    public var days: [String: [String]]
}

/// Filters of the staff reservation list; nil means any.
public struct ReservationFilter: Sendable {
    public var period: String?
    public var day: LocalDate?
    public var state: String?
    public var family: Int64?
    public var child: Int64?

    public init(period: String? = nil, day: LocalDate? = nil, state: String? = nil, family: Int64? = nil, child: Int64? = nil) {
        self.period = period
        self.day = day
        self.state = state
        self.family = family
        self.child = child
    }
}

/// The center's reservations for its staff, and the invoicing of what is confirmed and not invoiced.
public enum StaffReservations {
    /// A page of reservations matching `filter`, by first day then number, with the count of all matches.
    /// A reservation left in a cart whose hold ran out reads (and filters) as "expired"; nothing is written.
    public static func list(_ c: PostgresConnection, center: Int64, filter: ReservationFilter, offset: Int, limit: Int, logger: Logger) async throws -> (rows: [StaffReservation], total: Int) {
        // The filters, after the joins of the count and of the page.
        let filters: PostgresQuery = """
            WHERE r.center_id = \(center)
              AND (\(filter.period)::text IS NULL OR p.code = \(filter.period))
              AND (\(filter.state)::text IS NULL OR \(unescaped: ReservationQueries.stateNow) = \(filter.state))
              AND (\(filter.family)::bigint IS NULL OR r.family_id = \(filter.family))
              AND (\(filter.child)::bigint IS NULL OR r.child_id = \(filter.child))
              AND (\(filter.day?.iso)::date IS NULL OR EXISTS (SELECT 1 FROM reservation_lines l WHERE l.center_id = r.center_id
                                                              AND l.reservation_id = r.id AND l.day = \(filter.day?.iso)::date))
            """
        var countQuery: PostgresQuery = "SELECT count(*)::int FROM reservations r JOIN periods p ON p.center_id = r.center_id AND p.id = r.period_id\n"
        countQuery.sql += filters.sql
        countQuery.binds = filters.binds
        let total = try await c.first(countQuery, (Int.self), logger: logger) ?? 0
        var query: PostgresQuery = """
            SELECT r.number, \(unescaped: ReservationQueries.stateNow), f.id, f.name, ch.id, ch.first_name || ' ' || ch.last_name, p.code, r.first_day::text, r.last_day::text,
                   r.total_cents::int, i.number,
                   (SELECT json_object_agg(d.day, d.units)::text FROM (SELECT l.day::text AS day, array_agg(u ORDER BY u) AS units
                        FROM reservation_lines l CROSS JOIN LATERAL unnest(l.units) AS u
                        WHERE l.center_id = r.center_id AND l.reservation_id = r.id GROUP BY l.day) d)
            FROM reservations r
            JOIN periods p ON p.center_id = r.center_id AND p.id = r.period_id
            JOIN families f ON f.center_id = r.center_id AND f.id = r.family_id
            JOIN children ch ON ch.center_id = r.center_id AND ch.id = r.child_id
            LEFT JOIN invoices i ON i.center_id = r.center_id AND i.id = r.invoice_id
            """
        query.binds = filters.binds
        query.sql += "\n" + filters.sql + " ORDER BY r.first_day, r.number LIMIT $\(query.binds.count + 1) OFFSET $\(query.binds.count + 2)"
        try query.binds.append(limit, context: .default)
        try query.binds.append(offset, context: .default)
        let rows = try await c.all(query, (Int, String, Int64, String, Int64, String, String, String, String, Int, String?, String?).self, logger: logger)
        return (rows.map {
            let days = $0.11.flatMap { try? JSONDecoder().decode([String: [String]].self, from: Data($0.utf8)) } ?? [:]
            return StaffReservation(number: String(format: "%05d", $0.0), state: $0.1, familyId: $0.2, family: $0.3, childId: $0.4, child: $0.5,
                                    period: $0.6, firstDay: $0.7, lastDay: $0.8, totalCents: $0.9, invoice: $0.10, days: days)
        }, total)
    }

    /// Issues one invoice per family for its confirmed reservations not invoiced yet (all families, or
    /// one), those ending on `until` at the latest; a retry finds nothing left to invoice.
    public static func invoiceConfirmed(
        _ c: PostgresConnection, center: Center, centerID: Int64, family: Int64?, until: LocalDate?, only reservation: Int64? = nil, actor: String,
        logger: Logger
    ) async throws -> [(family: Int64, invoice: LedgerRepository.Issued)] {
        let rows = try await c.all("""
            SELECT family_id, id FROM reservations
            WHERE center_id = \(centerID) AND state = 'confirmed' AND invoice_id IS NULL
              AND (\(family)::bigint IS NULL OR family_id = \(family))
              AND (\(reservation)::bigint IS NULL OR id = \(reservation))
              AND (\(until?.iso)::date IS NULL OR last_day <= \(until?.iso)::date)
            ORDER BY family_id, id
            FOR UPDATE
            """, (Int64, Int64).self, logger: logger)
        let pending = Dictionary(grouping: rows, by: \.0).mapValues { $0.map(\.1) }.sorted { $0.key < $1.key }
        var issued: [(family: Int64, invoice: LedgerRepository.Issued)] = []
        for (familyID, reservations) in pending {
            guard let invoice = try await LedgerRepository.issueInvoice(for: reservations, center: center, centerID: centerID, family: familyID, c, logger: logger) else { continue }
            // Money the family already has with the center pays it first.
            try await LedgerRepository.useCredit(upTo: invoice.total, invoice: invoice.id, center: centerID, family: familyID, c, logger: logger)
            try await AuditLog.record(c, center: centerID, actor: actor, action: "invoice.issue", subject: invoice.number,
                                      after: ["family": String(familyID), "amount": invoice.total.description], logger: logger)
            issued.append((familyID, invoice))
        }
        return issued
    }

    /// The carts past their hold, expired in a short transaction of their own before an office booking, so
    /// that their places count as free for it (a booking frees only its own family's).
    public static func expireBeforeBooking(_ database: Database, centerID: Int64) async throws {
        try await database.withCenter(centerID) { c in
            try await BookingRepository.expireDueCartsWithoutWaiting(c, center: centerID, logger: database.logger)
        }
    }

    /// A booking made at the office for a family (admin API and back office): past the booking window
    /// and the deadlines, never past the places; confirmed at once, invoiced at once when `invoice`
    /// (paid first from the family's credit), audited. Nil when the family has no such child; a
    /// `BookingRefusal` says why nothing was booked.
    public static func bookAtOffice(
        _ c: PostgresConnection, center: Center, centerID: Int64, family: Int64, child childID: Int64, period: Period,
        selection: [LocalDate: Set<String>], invoice: Bool, actor: String, logger: Logger
    ) async throws -> (reservation: BookedReservation, invoice: LedgerRepository.Issued?)? {
        guard try await FamilyAdministration.isErased(c, center: centerID, family: family, logger: logger) == false,
              let child = try await AccountRepository.children(c, center: centerID, family: family, logger: logger).first(where: { $0.id == childID }) else {
            return nil
        }
        try await FamilyAdministration.touch(c, center: centerID, family: family, logger: logger)
        let booking = BookingRequest(familyID: family, child: child, period: period, selection: selection, byStaff: true)
        let booked = try await BookingRepository.book(c, center: center, centerID: centerID, request: booking, now: Date(), logger: logger)
        var issued: LedgerRepository.Issued?
        if invoice {
            // This booking only: others the office left unbilled on purpose stay so.
            issued = try await invoiceConfirmed(c, center: center, centerID: centerID, family: family, until: nil, only: booked.reservationID,
                                                actor: actor, logger: logger).first?.invoice
        }
        try await AuditLog.record(c, center: centerID, actor: actor, action: "reservation.create", subject: String(format: "%05d", booked.number),
                                  after: ["family": String(family), "child": String(childID), "period": period.code, "amount": booked.total.description],
                                  logger: logger)
        return (booked, issued)
    }
}
