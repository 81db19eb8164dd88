import Logging
import PortailDomain
import PostgresNIO

/// The three totals of "Mes paiements et factures", computed from invoices, credit notes, payments and
/// allocations, so that they are consistent by construction.
public struct LedgerTotals: Sendable {
    public var invoiced: Money
    public var invoiceCount: Int
    public var paid: Money
    public var paymentCount: Int
    public var due: Money
    public var unsettledCount: Int
}

public enum LedgerQueries {
    public static func totals(_ c: PostgresConnection, center: Int64, family: Int64, logger: Logger) async throws -> LedgerTotals {
        let invoices = try await c.first("""
            SELECT coalesce(sum(i.total_cents - coalesce(cn.credited, 0)), 0)::bigint, count(*)::int,
                   coalesce(sum(greatest(i.total_cents - coalesce(cn.credited, 0) - coalesce(a.allocated, 0), 0)), 0)::bigint,
                   count(*) FILTER (WHERE i.total_cents - coalesce(cn.credited, 0) - coalesce(a.allocated, 0) > 0)::int
            FROM invoices i
            LEFT JOIN (SELECT credit_of, sum(total_cents) AS credited FROM invoices
                       WHERE center_id = \(center) AND kind = 'credit_note' GROUP BY credit_of) cn ON cn.credit_of = i.id
            LEFT JOIN (SELECT invoice_id, sum(amount_cents) AS allocated FROM allocations
                       WHERE center_id = \(center) GROUP BY invoice_id) a ON a.invoice_id = i.id
            WHERE i.center_id = \(center) AND i.family_id = \(family) AND i.kind = 'invoice'
            """, (Int, Int, Int, Int).self, logger: logger) ?? (0, 0, 0, 0)
        let payments = try await c.first("""
            SELECT coalesce(sum(amount_cents), 0)::bigint, count(*)::int FROM payments WHERE center_id = \(center) AND family_id = \(family)
            """, (Int, Int).self, logger: logger) ?? (0, 0)
        return LedgerTotals(invoiced: Money(cents: invoices.0), invoiceCount: invoices.1, paid: Money(cents: payments.0),
                            paymentCount: payments.1, due: Money(cents: invoices.2), unsettledCount: invoices.3)
    }
}
