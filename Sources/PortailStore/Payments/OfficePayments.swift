import Foundation
import Logging
import PortailDomain
import PostgresNIO

/// A payment taken at the office (a cheque, cash, CESU, ANCV, a transfer): recorded and allocated to the
/// family's invoices, as the staff said or, by default, to its oldest open invoices first. What is left
/// is the family's credit. The admin API and the back office's "Saisir un règlement" both come here.
public enum OfficePayments {
    /// The office's means of payment, as the API names them, and their label on documents.
    public static let methods: [(code: String, label: String)] = [
        ("cheque", "CHÈQUE"), ("especes", "ESPÈCES"), ("cesu", "CESU"), ("ancv", "ANCV"), ("virement", "VIREMENT"),
    ]

    public enum Refusal: Error, Sendable, Equatable {
        /// The family has no invoice of that number (or it is a credit note).
        case unknownInvoice(String)
        /// More than the invoice still lacks.
        case tooMuchFor(invoice: String, lacks: Money)
    }

    /// An open invoice of the family, oldest first: its number and what it still lacks.
    public static func openInvoices(_ c: PostgresConnection, center: Int64, family: Int64, logger: Logger) async throws -> [(id: Int64, number: String, lacks: Money)] {
        try await c.all("""
            SELECT i.id, i.number, (i.total_cents - coalesce(cn.credited, 0) - coalesce(a.allocated, 0))::bigint
            FROM invoices i \(unescaped: LedgerQueries.invoiceSettlement)
            WHERE i.center_id = \(center) AND i.family_id = \(family) AND i.kind = 'invoice'
              AND i.total_cents - coalesce(cn.credited, 0) - coalesce(a.allocated, 0) > 0
            ORDER BY i.issued_at, i.id
            """, (Int64, String, Int64).self, logger: logger).map { (id: $0.0, number: $0.1, lacks: Money(cents: Int($0.2))) }
    }

    /// Records the payment and its allocations in the caller's transaction; returns its number and what
    /// went to which invoice. `allocations` nil: the oldest open invoices first, up to the amount.
    public static func record(
        _ c: PostgresConnection, center: Center, centerID: Int64, family: Int64, amount: Money, method: String, label: String,
        allocations: [(invoice: String, amount: Money)]?, logger: Logger
    ) async throws -> (number: String, allocated: [(invoice: String, amount: Money)]) {
        // The family's row first, as every allocation and cancellation of its money takes it: what an invoice
        // lacks is read after any of them that committed.
        try await c.run("SELECT 1 FROM families WHERE center_id = \(centerID) AND id = \(family) FOR UPDATE", logger: logger)
        let payment = try await LedgerRepository.recordPayment(center: center, centerID: centerID, family: family, amount: amount, method: method,
                                                               provider: nil, label: label, attempt: nil, c, logger: logger)
        let open = try await openInvoices(c, center: centerID, family: family, logger: logger)
        var plan: [(id: Int64, invoice: String, amount: Money)] = []
        if let allocations {
            for allocation in allocations {
                guard let invoice = open.first(where: { $0.number == allocation.invoice }) else {
                    // Settled already, a credit note, or not the family's: none of them takes money.
                    if try await LedgerQueries.invoice(c, center: centerID, family: family, number: allocation.invoice, logger: logger)?.kind == "invoice" {
                        throw Refusal.tooMuchFor(invoice: allocation.invoice, lacks: Money(cents: 0))
                    }
                    throw Refusal.unknownInvoice(allocation.invoice)
                }
                let already = plan.filter { $0.id == invoice.id }.reduce(0) { $0 + $1.amount.cents }
                guard already + allocation.amount.cents <= invoice.lacks.cents else {
                    throw Refusal.tooMuchFor(invoice: allocation.invoice, lacks: Money(cents: invoice.lacks.cents - already))
                }
                plan.append((invoice.id, invoice.number, allocation.amount))
            }
        } else {
            var left = amount.cents
            for invoice in open where left > 0 {
                let part = min(left, invoice.lacks.cents)
                plan.append((invoice.id, invoice.number, Money(cents: part)))
                left -= part
            }
        }
        for step in plan {
            try await LedgerRepository.allocate(payment: payment.id, invoice: step.id, amount: step.amount, center: centerID, c, logger: logger)
        }
        return (payment.number, plan.map { (invoice: $0.invoice, amount: $0.amount) })
    }
}

extension OfficePayments {
    /// Applies the family's available credit (money not allocated, oldest first) to one of its open
    /// invoices, up to what the invoice lacks; returns what was applied (zero when there is no credit),
    /// nil when the family has no such open invoice.
    public static func applyCredit(_ c: PostgresConnection, center: Int64, family: Int64, invoice number: String, actor: String,
                                   logger: Logger) async throws -> Money? {
        // The family's row first: two requests (a double click) apply the credit one after the other, the
        // second seeing what the first allocated.
        try await c.run("SELECT 1 FROM families WHERE center_id = \(center) AND id = \(family) FOR UPDATE", logger: logger)
        guard let open = try await openInvoices(c, center: center, family: family, logger: logger).first(where: { $0.number == number }) else { return nil }
        let applied = try await LedgerRepository.useCredit(upTo: open.lacks, invoice: open.id, center: center, family: family, c, logger: logger)
        if applied.cents > 0 {
            try await AuditLog.record(c, center: center, actor: actor, action: "credit.apply", subject: number,
                                      after: ["family": String(family), "amount": applied.description], logger: logger)
        }
        return applied
    }
}
