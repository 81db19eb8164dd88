import Foundation
import Logging
import PortailDomain
import PostgresNIO

/// Refunds made through the bank (`bank_refunds`): recorded first ('asking'), the bank asked outside any
/// transaction with the refund's number as idempotency key, then settled by its answer.
public enum BankRefunds {
    public struct Row: Sendable {
        public var refundID: Int64
        public var number: String
        public var paymentID: Int64
        public var amount: Money
        public var state: String
        public var providerRefund: String?
        public var detail: String?
    }

    public static func begin(_ c: PostgresConnection, center: Int64, refund: Int64, payment: Int64, amount: Money, logger: Logger) async throws {
        try await c.run("""
            INSERT INTO bank_refunds (center_id, refund_id, payment_id, amount_cents) VALUES (\(center), \(refund), \(payment), \(amount.cents))
            """, logger: logger)
    }

    /// The bank refund of a refund document, by its number ("OPI-R00007").
    public static func row(_ c: PostgresConnection, center: Int64, number: String, logger: Logger) async throws -> Row? {
        try await c.first("""
            SELECT b.refund_id, i.number, b.payment_id, b.amount_cents::bigint, b.state, b.provider_refund, b.detail
            FROM bank_refunds b JOIN invoices i ON i.center_id = b.center_id AND i.id = b.refund_id
            WHERE b.center_id = \(center) AND i.number = \(number)
            FOR UPDATE OF b
            """, (Int64, String, Int64, Int, String, String?, String?).self, logger: logger).map {
            Row(refundID: $0.0, number: $0.1, paymentID: $0.2, amount: Money(cents: $0.3), state: $0.4, providerRefund: $0.5, detail: $0.6)
        }
    }

    /// The bank made the refund (`completed`), or accepted it and is still processing it.
    public static func settle(_ c: PostgresConnection, center: Int64, row: Row, providerRefund: String, completed: Bool, actor: String, logger: Logger) async throws {
        try await c.run("""
            UPDATE bank_refunds SET state = \(completed ? "done" : "pending"), provider_refund = \(providerRefund), updated_at = now()
            WHERE center_id = \(center) AND refund_id = \(row.refundID) AND state = 'asking'
            """, logger: logger)
        try await AuditLog.record(c, center: center, actor: actor, action: "refund.bank", subject: row.number,
                                  after: ["provider_refund": providerRefund, "state": completed ? "done" : "pending at the bank"], logger: logger)
    }

    /// The bank refused: nothing was refunded, so the refund document is reversed (its allocations get
    /// their reversal) and the money is the family's credit again. The ledger stays append-only.
    public static func refuse(_ c: PostgresConnection, center: Int64, row: Row, reason: String, actor: String, logger: Logger) async throws {
        try await c.run("""
            INSERT INTO allocations (center_id, payment_id, invoice_id, amount_cents, reverses)
            SELECT a.center_id, a.payment_id, a.invoice_id, -a.amount_cents, a.id FROM allocations a
            WHERE a.center_id = \(center) AND a.invoice_id = \(row.refundID) AND a.amount_cents > 0
              AND NOT EXISTS (SELECT 1 FROM allocations r WHERE r.center_id = a.center_id AND r.reverses = a.id)
            """, logger: logger)
        try await c.run("""
            UPDATE bank_refunds SET state = 'refused', detail = \(reason), updated_at = now()
            WHERE center_id = \(center) AND refund_id = \(row.refundID) AND state = 'asking'
            """, logger: logger)
        try await AuditLog.record(c, center: center, actor: actor, action: "refund.bank_refused", subject: row.number,
                                  after: ["reason": reason, "credit": "given back to the family"], logger: logger)
    }
}
