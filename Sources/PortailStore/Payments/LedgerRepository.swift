import Foundation
import Logging
import PortailDomain
import PostgresNIO

/// Invoices, payments and allocations: append-only, numbered per center without gaps (the counter row
/// is updated in the transaction that issues the number).
public enum LedgerRepository {
    public struct Issued: Sendable {
        public var id: Int64
        public var number: String
        public var total: Money
    }

    /// Issues one invoice for these reservations (nil when there are none), lines per reservation and
    /// designation as the cart shows them ("Journées du : 28/09, 29/09"), and links the reservations to it.
    public static func issueInvoice(for reservations: [Int64], center: Center, centerID: Int64, family: Int64, _ c: PostgresConnection, logger: Logger) async throws -> Issued? {
        guard !reservations.isEmpty else { return nil }
        let rows = try await c.all("""
            SELECT r.id, r.child_id, ch.first_name, p.label, l.price_key, l.price_cents, l.day::text
            FROM reservations r
            JOIN children ch ON ch.center_id = r.center_id AND ch.id = r.child_id
            JOIN periods p ON p.center_id = r.center_id AND p.id = r.period_id
            JOIN reservation_lines l ON l.center_id = r.center_id AND l.reservation_id = r.id
            WHERE r.center_id = \(centerID) AND r.id = ANY(\(reservations))
            ORDER BY r.id, l.price_key, l.price_cents, l.day
            """, (Int64, Int64, String, String, String, Int, String).self, logger: logger)
        struct Group { var reservation: Int64; var child: Int64; var childName: String; var period: String; var key: String; var price: Int; var days: [LocalDate] }
        var groups: [Group] = []
        for (reservation, child, childName, period, key, price, day) in rows {
            if let last = groups.last, last.reservation == reservation, last.key == key, last.price == price {
                groups[groups.count - 1].days.append(LocalDate(iso: day)!)
            } else {
                groups.append(Group(reservation: reservation, child: child, childName: childName, period: period, key: key, price: price, days: [LocalDate(iso: day)!]))
            }
        }
        let total = groups.reduce(0) { $0 + $1.price * $1.days.count }
        let number = try await BookingRepository.nextNumber(c, center: centerID, counter: "invoice", logger: logger)
        let label = "\(center.invoicePrefix)\(String(format: "%05d", number))"
        let id = try await c.first("""
            INSERT INTO invoices (center_id, number, kind, family_id, total_cents) VALUES (\(centerID), \(label), 'invoice', \(family), \(total))
            RETURNING id
            """, (Int64.self), logger: logger)!
        for (index, group) in groups.enumerated() {
            let designation = "\(group.childName) – \(group.period) – \(center.designation(forKey: group.key)) du : "
                + group.days.map(\.frenchDayMonth).joined(separator: ", ")
            try await c.run("""
                INSERT INTO invoice_lines (center_id, invoice_id, line_no, child_id, reservation_id, designation, quantity, unit_price_cents, amount_cents)
                VALUES (\(centerID), \(id), \(index + 1), \(group.child), \(group.reservation), \(designation), \(group.days.count), \(group.price), \(group.price * group.days.count))
                """, logger: logger)
        }
        try await c.run("UPDATE reservations SET invoice_id = \(id) WHERE center_id = \(centerID) AND id = ANY(\(reservations))", logger: logger)
        return Issued(id: id, number: label, total: Money(cents: total))
    }

    public static func recordPayment(center: Center, centerID: Int64, family: Int64, amount: Money, method: String, provider: String?,
                                     label: String, attempt: Int64?, _ c: PostgresConnection, logger: Logger) async throws -> Issued {
        let number = try await BookingRepository.nextNumber(c, center: centerID, counter: "payment", logger: logger)
        let reference = "\(center.invoicePrefix)-P\(String(format: "%05d", number))"
        let id = try await c.first("""
            INSERT INTO payments (center_id, number, family_id, method, provider, amount_cents, attempt_id, label)
            VALUES (\(centerID), \(reference), \(family), \(method), \(provider), \(amount.cents), \(attempt), \(label))
            RETURNING id
            """, (Int64.self), logger: logger)!
        return Issued(id: id, number: reference, total: amount)
    }

    public static func allocate(payment: Int64, invoice: Int64, amount: Money, center: Int64, _ c: PostgresConnection, logger: Logger) async throws {
        guard amount.cents > 0 else { return }
        try await c.run("""
            INSERT INTO allocations (center_id, payment_id, invoice_id, amount_cents) VALUES (\(center), \(payment), \(invoice), \(amount.cents))
            """, logger: logger)
    }
}
