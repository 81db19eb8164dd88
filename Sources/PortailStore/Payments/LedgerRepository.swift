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
                                     label: String, attempt: Int64?, providerTransaction: String? = nil,
                                     _ c: PostgresConnection, logger: Logger) async throws -> Issued {
        BusinessMetrics.paid(method: method)
        let number = try await BookingRepository.nextNumber(c, center: centerID, counter: "payment", logger: logger)
        let reference = "\(center.invoicePrefix)-P\(String(format: "%05d", number))"
        let id = try await c.first("""
            INSERT INTO payments (center_id, number, family_id, method, provider, amount_cents, attempt_id, label, provider_transaction)
            VALUES (\(centerID), \(reference), \(family), \(method), \(provider), \(amount.cents), \(attempt), \(label), \(providerTransaction))
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

/// Why a cancellation was refused.
public enum CancellationRefusal: Error, Sendable, Equatable {
    case notCancellable
    case pastDeadline([LocalDate])
}

extension LedgerRepository {
    /// Cancels a confirmed reservation: its places are free again and, when it was invoiced, a credit
    /// note with its own number cancels its lines. Money already allocated beyond what the invoice still
    /// bills is released (reversal allocations) and becomes the family's credit. Nothing is edited.
    /// `family` limits it to that family's reservations (a parent); `now` checks the period's
    /// cancellation deadline when given (a parent), staff pass nil.
    public static func cancel(
        number: Int, family: Int64?, now: Date?, center: Center, centerID: Int64, actor: String, _ c: PostgresConnection, logger: Logger
    ) async throws -> Issued? {
        guard let (id, familyID, periodCode, invoiceID) = try await c.first("""
            SELECT r.id, r.family_id, p.code, r.invoice_id FROM reservations r JOIN periods p ON p.center_id = r.center_id AND p.id = r.period_id
            WHERE r.center_id = \(centerID) AND r.number = \(number) AND r.state = 'confirmed'
              AND (\(family)::bigint IS NULL OR r.family_id = \(family))
            FOR UPDATE OF r
            """, (Int64, Int64, String, Int64?).self, logger: logger) else { throw CancellationRefusal.notCancellable }
        let days = try await c.all("""
            SELECT DISTINCT day::text FROM reservation_lines WHERE center_id = \(centerID) AND reservation_id = \(id) ORDER BY 1
            """, (String.self), logger: logger).compactMap(LocalDate.init(iso:))
        // Some days cancelled before were credited then: the rest is credited from its own lines.
        if try await hasCancelledDays(reservation: id, center: centerID, c, logger: logger) {
            return try await cancelDays(Set(days), number: number, family: family, now: now, center: center, centerID: centerID, actor: actor, c, logger: logger)
        }
        if let now {
            guard let rule = center.period(periodCode)?.cancellation else { throw CancellationRefusal.notCancellable }
            let late = days.filter { rule.deadline(for: $0, in: center.zone) < now }
            guard late.isEmpty else { throw CancellationRefusal.pastDeadline(late) }
        }
        BusinessMetrics.cancelled(whole: true)
        try await c.run("UPDATE reservations SET state = 'cancelled' WHERE center_id = \(centerID) AND id = \(id)", logger: logger)
        try await BookingRepository.releasePlaces(c, center: centerID, reservations: [id], logger: logger)
        guard let invoiceID else { return nil }

        // The credit note repeats the reservation's invoice lines.
        let lines = try await c.all("""
            SELECT child_id, designation, quantity, unit_price_cents::bigint, amount_cents::bigint FROM invoice_lines
            WHERE center_id = \(centerID) AND invoice_id = \(invoiceID) AND reservation_id = \(id) ORDER BY line_no
            """, (Int64?, String, Int, Int, Int).self, logger: logger)
        let total = lines.reduce(0) { $0 + $1.4 }
        let sequence = try await BookingRepository.nextNumber(c, center: centerID, counter: "credit_note", logger: logger)
        let label = "\(center.invoicePrefix)-AV\(String(format: "%05d", sequence))"
        let noteID = try await c.first("""
            INSERT INTO invoices (center_id, number, kind, credit_of, family_id, total_cents)
            VALUES (\(centerID), \(label), 'credit_note', \(invoiceID), \(familyID), \(total)) RETURNING id
            """, (Int64.self), logger: logger)!
        for (index, line) in lines.enumerated() {
            try await c.run("""
                INSERT INTO invoice_lines (center_id, invoice_id, line_no, child_id, reservation_id, designation, quantity, unit_price_cents, amount_cents)
                VALUES (\(centerID), \(noteID), \(index + 1), \(line.0), \(id), \("Annulation : " + line.1), \(line.2), \(line.3), \(line.4))
                """, logger: logger)
        }
        try await releaseExcess(invoice: invoiceID, center: centerID, c, logger: logger)
        try await AuditLog.record(c, center: centerID, actor: actor, action: "reservation.cancel", subject: String(format: "%05d", number),
                                  after: ["credit_note": label, "amount": Money(cents: total).description], logger: logger)
        return Issued(id: noteID, number: label, total: Money(cents: total))
    }
}

extension LedgerRepository {
    /// Releases what payments gave an invoice beyond what it now bills (after a credit note), newest
    /// allocation first, with reversal allocations: that money becomes the family's credit.
    static func releaseExcess(invoice invoiceID: Int64, center centerID: Int64, _ c: PostgresConnection, logger: Logger) async throws {
        try await c.run("""
            SELECT 1 FROM families f JOIN invoices i ON i.center_id = f.center_id AND i.family_id = f.id
            WHERE i.center_id = \(centerID) AND i.id = \(invoiceID) FOR UPDATE OF f
            """, logger: logger)
        let (invoiceTotal, credited, allocated) = try await c.first("""
            SELECT i.total_cents::bigint,
                   coalesce((SELECT sum(total_cents) FROM invoices WHERE center_id = i.center_id AND credit_of = i.id), 0)::bigint,
                   coalesce((SELECT sum(amount_cents) FROM allocations WHERE center_id = i.center_id AND invoice_id = i.id), 0)::bigint
            FROM invoices i WHERE i.center_id = \(centerID) AND i.id = \(invoiceID)
            """, (Int, Int, Int).self, logger: logger)!
        var excess = allocated + credited - invoiceTotal
        guard excess > 0 else { return }
        let allocations = try await c.all("""
            SELECT a.id, a.payment_id, a.amount_cents::bigint
                 + coalesce((SELECT sum(r.amount_cents) FROM allocations r WHERE r.center_id = a.center_id AND r.reverses = a.id), 0)::bigint
            FROM allocations a WHERE a.center_id = \(centerID) AND a.invoice_id = \(invoiceID) AND a.amount_cents > 0 ORDER BY a.id DESC
            """, (Int64, Int64, Int).self, logger: logger)
        for (allocation, payment, left) in allocations where excess > 0 && left > 0 {
            let amount = min(left, excess)
            try await c.run("""
                INSERT INTO allocations (center_id, payment_id, invoice_id, amount_cents, reverses)
                VALUES (\(centerID), \(payment), \(invoiceID), \(-amount), \(allocation))
                """, logger: logger)
            excess -= amount
        }
    }
}

/// Why a refund cannot be made.
public struct RefundRefusal: Error, Sendable {
    public var available: Money
}

extension LedgerRepository {
    /// Gives `amount` of the family's available credit back (by bank transfer, cheque, cash or the card
    /// it was paid with): a refund document, settled by the credit, oldest money first.
    /// `fromPayment`: the refund gives back that payment's own money (a card refunded through its bank),
    /// at most what of it is not allocated; otherwise the family's credit, oldest money first.
    public static func refund(
        amount: Money, method: String, reference: String, center: Center, centerID: Int64, family: Int64, actor: String,
        fromPayment: Int64? = nil, _ c: PostgresConnection, logger: Logger
    ) async throws -> Issued {
        let credit = try await availableCredit(c, center: centerID, family: family, logger: logger)
        let available = credit.filter { fromPayment == nil || $0.payment == fromPayment }.reduce(Money.zero) { $0 + $1.left }
        guard amount.cents <= available.cents else { throw RefundRefusal(available: available) }
        let sequence = try await BookingRepository.nextNumber(c, center: centerID, counter: "refund", logger: logger)
        let number = "\(center.invoicePrefix)-R\(String(format: "%05d", sequence))"
        let id = try await c.first("""
            INSERT INTO invoices (center_id, number, kind, family_id, total_cents) VALUES (\(centerID), \(number), 'refund', \(family), \(amount.cents))
            RETURNING id
            """, (Int64.self), logger: logger)!
        let designation = "Remboursement de l'avoir (par \(method.uppercased()))" + (reference.isEmpty ? "" : " – réf. \(reference)")
        try await c.run("""
            INSERT INTO invoice_lines (center_id, invoice_id, line_no, designation, quantity, unit_price_cents, amount_cents)
            VALUES (\(centerID), \(id), 1, \(designation), 1, \(amount.cents), \(amount.cents))
            """, logger: logger)
        if let fromPayment {
            try await allocate(payment: fromPayment, invoice: id, amount: amount, center: centerID, c, logger: logger)
        } else {
            try await useCredit(upTo: amount, invoice: id, center: centerID, family: family, c, logger: logger)
        }
        try await AuditLog.record(c, center: centerID, actor: actor, action: "refund.record", subject: number,
                                  after: ["family": String(family), "amount": amount.description, "method": method, "reference": reference], logger: logger)
        return Issued(id: id, number: number, total: amount)
    }

    /// The family's money not yet allocated, per payment, oldest first, less the credit a live payment
    /// attempt counted when it started (it is that attempt's until it ends: no refund or other cart spends
    /// it meanwhile). Locks the family's row, so that two carts of one family cannot spend the same credit
    /// (payments are append-only: not lockable).
    public static func availableCredit(_ c: PostgresConnection, center: Int64, family: Int64, logger: Logger) async throws -> [(payment: Int64, left: Money)] {
        try await c.run("SELECT 1 FROM families WHERE center_id = \(center) AND id = \(family) FOR UPDATE", logger: logger)
        let unallocated = try await c.all("""
            SELECT p.id, (p.amount_cents - coalesce((SELECT sum(a.amount_cents) FROM allocations a WHERE a.center_id = p.center_id AND a.payment_id = p.id), 0))::bigint
            FROM payments p WHERE p.center_id = \(center) AND p.family_id = \(family)
            ORDER BY p.received_at, p.id
            """, (Int64, Int).self, logger: logger).filter { $0.1 > 0 }
        var reserved = try await c.first("""
            SELECT coalesce(sum(credit_cents), 0)::bigint FROM payment_attempts
            WHERE center_id = \(center) AND family_id = \(family) AND state IN ('created', 'pending') AND credit_cents > 0 AND live_until > now()
            """, (Int.self), logger: logger) ?? 0
        var credit: [(payment: Int64, left: Money)] = []
        for (payment, left) in unallocated {
            let taken = min(left, reserved)
            reserved -= taken
            if left > taken { credit.append((payment: payment, left: Money(cents: left - taken))) }
        }
        return credit
    }

    /// Allocates up to `limit` of the family's credit to an invoice, oldest money first; returns what was used.
    @discardableResult
    public static func useCredit(upTo limit: Money, invoice: Int64, center: Int64, family: Int64, _ c: PostgresConnection, logger: Logger) async throws -> Money {
        var remaining = limit.cents
        for (payment, left) in try await availableCredit(c, center: center, family: family, logger: logger) where remaining > 0 {
            let amount = min(left.cents, remaining)
            try await allocate(payment: payment, invoice: invoice, amount: Money(cents: amount), center: center, c, logger: logger)
            remaining -= amount
        }
        return Money(cents: limit.cents - remaining)
    }
}
