import Foundation
import Logging
import PortailDomain
import PostgresNIO

/// Why an invoice cannot be paid online.
public enum InvoicePaymentRefusal: Error, Sendable, Equatable {
    /// The family has no invoice of that number (a credit note, another family's, another center's).
    case unknownInvoice
}

/// Paying an invoice left unpaid (booked at the office, paid in part at the office, a center that invoices
/// at once): the attempt pays what the invoice lacks, less the family's credit, and its payment goes to that
/// invoice; what it cannot settle (the invoice was paid meanwhile) is the family's credit, flagged for a refund.
extension PaymentRepository {
    /// First step of "Payer en ligne" on an invoice, in one short transaction: the invoice's live attempt
    /// (two tabs, a double click), or a new one for what the invoice lacks now. The provider is asked
    /// afterwards, as for a cart (`recordStart`, `abandonStart`). Nil: nothing is left to pay on it (paid,
    /// or cancelled by a credit note), and an order of it still open at the bank is given up.
    public static func beginInvoice(
        _ c: PostgresConnection, center: Center, centerID: Int64, family: Int64, number: String, provider: String,
        sessionLimit: TimeInterval, logger: Logger
    ) async throws -> PaymentStartResult? {
        // The family's row first, as every allocation of its money: two requests for one invoice go one
        // after the other, the second finding the first's attempt.
        try await c.run("SELECT 1 FROM families WHERE center_id = \(centerID) AND id = \(family) FOR UPDATE", logger: logger)
        guard let invoice = try await LedgerQueries.invoice(c, center: centerID, family: family, number: number, logger: logger),
              invoice.kind == "invoice" else { throw InvoicePaymentRefusal.unknownInvoice }
        let open = try await OfficePayments.openInvoices(c, center: centerID, family: family, logger: logger).first { $0.id == invoice.id }
        if let live = try await attempts(c, center: centerID, where: "invoice_id = $2 AND state IN ('created', 'pending') AND live_until > now()",
                                         binds: [invoice.id], lock: false, logger: logger).first {
            let counted = live.credit.cents
            // Still what the invoice lacks (no cheque, credit note or other payment since): the same order at
            // the bank, resumed. A start interrupted before the bank answered, or an amount that no longer
            // fits, is given up (a late payment of it is still the family's money: see fulfilInvoice).
            let fits = open.map { $0.lacks.cents == live.amount.cents + counted } ?? false
            let given = try await c.first("""
                UPDATE payment_attempts SET state = 'cancelled', updated_at = now()
                WHERE center_id = \(centerID) AND id = \(live.id) AND state = 'created'
                  AND (NOT \(fits) OR (action IS NULL AND created_at < now() - interval '30 seconds'))
                RETURNING 1
                """, (Int.self), logger: logger) != nil
            if given {
                try await audit(centerID, "payment.start_failed", live.reference,
                                fits ? "the start was interrupted before the bank answered"
                                     : "given up: the invoice lacks \(open?.lacks ?? .zero) now, not \(Money(cents: live.amount.cents + counted))",
                                c, logger: logger)
            } else {
                return .resumed(live)
            }
        }
        guard let open else { return nil }
        // The family's credit (money not allocated yet) is used first, as for a cart.
        let credit = try await LedgerRepository.availableCredit(c, center: centerID, family: family, logger: logger).reduce(0) { $0 + $1.left.cents }
        if credit >= open.lacks.cents {
            let used = try await LedgerRepository.useCredit(upTo: open.lacks, invoice: open.id, center: centerID, family: family, c, logger: logger)
            try await audit(centerID, "payment.credit_used", number, "invoice settled with the family's credit (\(used))", c, logger: logger)
            return .paidWithCredit(invoice: number, amount: used)
        }
        let count = try await c.first("""
            SELECT count(*)::int FROM payment_attempts WHERE center_id = \(centerID) AND invoice_id = \(invoice.id)
            """, (Int.self), logger: logger) ?? 0
        // "OPI-F12-1": the F keeps an invoice's attempts apart from a cart's ("OPI-12-1").
        let reference = "\(center.invoicePrefix)-F\(invoice.id)-\(count + 1)"
        let amount = open.lacks.cents - credit
        guard let (id, createdAt) = try await c.first("""
            INSERT INTO payment_attempts (center_id, reference, invoice_id, family_id, provider, amount_cents, currency, state,
                                          credit_cents, live_until)
            VALUES (\(centerID), \(reference), \(invoice.id), \(family), \(provider), \(amount), 'EUR', 'created',
                    \(credit), now() + make_interval(secs => \(sessionLimit)))
            RETURNING id, created_at
            """, (Int64, Date).self, logger: logger) else { return nil }
        return .new(AttemptRecord(id: id, reference: reference, cartID: nil, invoiceID: invoice.id, familyID: family,
                                  amount: Money(cents: amount), credit: Money(cents: credit), state: "created", flag: nil, action: nil, form: [],
                                  createdAt: createdAt, providerReference: nil))
    }

    /// The paid path of an invoice's attempt: the credit it counted, then the payment, go to the invoice up
    /// to what it lacks now; the rest (the invoice was paid or cancelled meanwhile) is the family's credit,
    /// flagged for a refund.
    static func fulfilInvoice(
        _ attempt: AttemptRecord, invoice invoiceID: Int64, _ n: NotificationInput, center: Center, centerID: Int64,
        _ c: PostgresConnection, logger: Logger
    ) async throws -> String {
        try await c.run("""
            UPDATE payment_attempts SET state = 'paid', paid_at = now(), updated_at = now()
            WHERE center_id = \(centerID) AND id = \(attempt.id)
            """, logger: logger)
        try await c.run("SELECT 1 FROM families WHERE center_id = \(centerID) AND id = \(attempt.familyID) FOR UPDATE", logger: logger)
        let number = try await c.first("SELECT number FROM invoices WHERE center_id = \(centerID) AND id = \(invoiceID)",
                                        (String.self), logger: logger) ?? "?"
        var due = try await OfficePayments.openInvoices(c, center: centerID, family: attempt.familyID, logger: logger)
            .first { $0.id == invoiceID }?.lacks ?? .zero
        // The credit counted at the start, before this payment exists (so that it cannot take from it).
        let counted = attempt.credit.cents
        if counted > 0, due.cents > 0 {
            let wanted = Money(cents: min(counted, due.cents))
            let used = try await LedgerRepository.useCredit(upTo: wanted, invoice: invoiceID, center: centerID,
                                                            family: attempt.familyID, c, logger: logger)
            due = due - used
            if used < wanted {
                // The credit counted at the start is gone (the attempt outlived its session and the credit was
                // spent or refunded meanwhile): the invoice stays short, a person looks at it.
                try await c.run("UPDATE payment_attempts SET flag = coalesce(flag, 'review') WHERE center_id = \(centerID) AND id = \(attempt.id)",
                                logger: logger)
                try await audit(centerID, "payment.credit_short", attempt.reference,
                                "\(wanted) of credit counted at the start, \(used) left: invoice \(number) is \(wanted - used) short", c, logger: logger)
            }
        }
        let received = max(attempt.amount, Money(cents: n.amountCents ?? attempt.amount.cents))
        if received > attempt.amount {
            try await audit(centerID, "payment.amount_mismatch", attempt.reference,
                            "\(received) received for an attempt of \(attempt.amount): the excess is the family's credit", c, logger: logger)
        }
        let payment = try await LedgerRepository.recordPayment(
            center: center, centerID: centerID, family: attempt.familyID, amount: received, method: "online",
            provider: n.providerName, label: "Paiement n° \(n.providerTransaction) (par \(n.providerName))",
            attempt: attempt.id, providerTransaction: n.providerTransaction, c, logger: logger
        )
        let allocated = min(due, received)
        try await LedgerRepository.allocate(payment: payment.id, invoice: invoiceID, amount: allocated, center: centerID, c, logger: logger)
        let credit = received - allocated
        let stillDue = due - allocated
        if credit > .zero {
            try await c.run("UPDATE payment_attempts SET flag = 'refund_due' WHERE center_id = \(centerID) AND id = \(attempt.id)", logger: logger)
            try await audit(centerID, "payment.credit", attempt.reference,
                            "\(credit) of the payment was not due on invoice \(number) any more and is the family's credit", c, logger: logger)
        }
        try await audit(centerID, "payment.paid", attempt.reference,
                        "\(received) paid by \(n.providerName) for invoice \(number); \(allocated) allocated", c, logger: logger)
        if let email = try await People.billingAddress(c, center: centerID, family: attempt.familyID, logger: logger) {
            let outcome = credit > .zero
                ? "\(credit) n'était plus dû sur la facture n° \(number) (réglée entre-temps, ou montant débité plus élevé que demandé) : "
                    + "cette somme est portée au crédit de votre compte famille ; l'accueil de loisirs vous contactera pour la rembourser."
                : stillDue > .zero ? "Il reste \(stillDue) à régler sur la facture n° \(number)."
                : "La facture n° \(number) est réglée."
            try await Outbox.enqueue(c, center: centerID, to: email, subject: "\(center.name) – paiement reçu",
                                     body: "Bonjour,\n\nVotre paiement de \(received) est reçu. \(outcome)\n\n\(center.coordinates.name)", logger: logger)
        }
        return credit > .zero ? "paid, \(credit) kept as credit (invoice \(number) settled meanwhile)" : "paid invoice \(number)"
    }
}
