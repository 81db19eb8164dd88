import Foundation
import Logging
import PortailDomain
import PostgresNIO

/// Why a reservation an attempt paid for was not confirmed by that payment.
enum UnboughtReason: String, Sendable {
    /// Expired while the bank took its time, and its places went to someone else.
    case placesTaken = "places taken"
    /// Expired, and the child holds those days again in another reservation.
    case bookedAgain = "booked again"
    /// Confirmed already, by another attempt, the family's credit or the staff.
    case alreadyConfirmed = "already confirmed"
    /// Removed from the cart or cancelled (or in a state unknown here).
    case cancelled = "cancelled"
}

extension PaymentRepository {
    /// The paid path: the attempt pays for what it froze when it started (`AttemptReservations`) and
    /// nothing else. Of those, what can still be had is confirmed and invoiced; money that buys nothing
    /// stays on the family's account as credit and the attempt is flagged for a refund.
    static func fulfil(
        _ attempt: AttemptRecord, _ n: NotificationInput, center: Center, centerID: Int64,
        _ c: PostgresConnection, logger: Logger
    ) async throws -> String {
        guard let cart = attempt.cartID else {
            return try await fulfilInvoice(attempt, invoice: attempt.invoiceID!, n, center: center, centerID: centerID, c, logger: logger)
        }
        try await c.run("""
            UPDATE payment_attempts SET state = 'paid', paid_at = now(), updated_at = now()
            WHERE center_id = \(centerID) AND id = \(attempt.id)
            """, logger: logger)
        // The cart first, as starting a payment does (cart, then its reservations), so that the two never
        // wait on each other; an expiry pass skips it meanwhile.
        let cartState = try await c.first("""
            SELECT state FROM carts WHERE center_id = \(centerID) AND id = \(cart) FOR UPDATE
            """, (String.self), logger: logger)
        let frozen = try await AttemptReservations.load(attempt: attempt.id, center: centerID, c, logger: logger)
        let expired = frozen.filter { $0.state == .expired }.map(\.id)
        let bookedAgain = try await AttemptReservations.heldAgain(expired, center: centerID, c, logger: logger)

        var confirmed: [FrozenReservation] = []
        var retaken: [Int64] = []
        var unbought: [(reservation: FrozenReservation, reason: UnboughtReason)] = []
        for reservation in frozen {
            switch reservation.state {
            case .pendingPayment:
                confirmed.append(reservation)
            case .expired where bookedAgain.contains(reservation.id):
                unbought.append((reservation, .bookedAgain))
            case .expired:
                if try await retake(reservation: reservation.id, center: centerID, c, logger: logger) {
                    retaken.append(reservation.id)
                    confirmed.append(reservation)
                } else {
                    unbought.append((reservation, .placesTaken))
                }
            case .confirmed:
                unbought.append((reservation, .alreadyConfirmed))
            case .cancelled, nil:
                unbought.append((reservation, .cancelled))
            }
        }
        if !retaken.isEmpty {
            try await c.run("""
                UPDATE reservations SET state = 'pending_payment' WHERE center_id = \(centerID) AND id = ANY(\(retaken))
                """, logger: logger)
        }
        let confirmedIDs = confirmed.map(\.id)
        try await BookingRepository.confirm(c, center: centerID, reservations: confirmedIDs, logger: logger)
        // Paid when nothing waits in it any more; days added after this attempt started keep the cart open
        // for a payment of their own (open even when a later attempt is live: that one asked the bank for
        // days this payment has just bought). An expired cart stays expired unless this paid some of it.
        if cartState == "open" || cartState == "paying" || (cartState == "expired" && !confirmed.isEmpty) {
            try await c.run("""
                UPDATE carts k SET state = CASE WHEN EXISTS (
                    SELECT 1 FROM reservations r
                    WHERE r.center_id = k.center_id AND r.cart_id = k.id AND r.state = 'pending_payment'
                ) THEN 'open' ELSE 'paid' END
                WHERE k.center_id = \(centerID) AND k.id = \(cart)
                """, logger: logger)
        }

        let invoice = try await LedgerRepository.issueInvoice(
            for: confirmedIDs, center: center, centerID: centerID, family: attempt.familyID, c, logger: logger
        )
        // The family's credit counted when the attempt started goes to the invoice first (before this
        // payment exists, so that it cannot take from it), then this payment.
        var usedCredit = Money.zero
        if let invoice {
            let credit = attempt.credit.cents
            if credit > 0 {
                let counted = Money(cents: min(credit, invoice.total.cents))
                usedCredit = try await LedgerRepository.useCredit(
                    upTo: counted, invoice: invoice.id, center: centerID, family: attempt.familyID, c, logger: logger
                )
                if usedCredit < counted {
                    // The credit counted when the attempt started is gone (the attempt outlived its session and
                    // the credit was spent or refunded meanwhile): the invoice is short, a person looks at it.
                    try await c.run("""
                        UPDATE payment_attempts SET flag = coalesce(flag, 'review') WHERE center_id = \(centerID) AND id = \(attempt.id)
                        """, logger: logger)
                    try await audit(centerID, "payment.credit_short", attempt.reference,
                                    "\(counted) of credit counted at the start, \(usedCredit) left: invoice \(invoice.number) is \(counted - usedCredit) short",
                                    c, logger: logger)
                }
            }
        }
        // What the bank took, which may be more than asked: all of it is the family's money.
        let received = max(attempt.amount, Money(cents: n.amountCents ?? attempt.amount.cents))
        let payment = try await LedgerRepository.recordPayment(
            center: center, centerID: centerID, family: attempt.familyID, amount: received, method: "online",
            provider: n.providerName, label: "Paiement n° \(n.providerTransaction) (par \(n.providerName))",
            attempt: attempt.id, providerTransaction: n.providerTransaction, c, logger: logger
        )
        var allocated = Money.zero
        if let invoice {
            allocated = max(.zero, min(invoice.total - usedCredit, received))
            try await LedgerRepository.allocate(payment: payment.id, invoice: invoice.id, amount: allocated,
                                                center: centerID, c, logger: logger)
        }
        if received > attempt.amount {
            try await audit(centerID, "payment.amount_mismatch", attempt.reference,
                            "\(received) received for an attempt of \(attempt.amount): the excess is the family's credit", c, logger: logger)
        }
        let credit = received - allocated
        let notConfirmed = unbought.map { String(format: "%05d", $0.reservation.number) + " (\($0.reason.rawValue))" }
        if credit > .zero {
            // Kept on the family's account (a payment not allocated): staff refund it or the next cart uses it.
            try await c.run("""
                UPDATE payment_attempts SET flag = 'refund_due' WHERE center_id = \(centerID) AND id = \(attempt.id)
                """, logger: logger)
        }
        if credit > .zero || !unbought.isEmpty {
            let detail = "\(credit) of the payment bought nothing and is the family's credit; not confirmed: "
                + (notConfirmed.isEmpty ? "none" : notConfirmed.joined(separator: ", "))
            try await audit(centerID, "payment.credit", attempt.reference, detail, c, logger: logger)
        }
        try await audit(centerID, "payment.paid", attempt.reference,
                        "\(received) paid by \(n.providerName); invoice \(invoice?.number ?? "none"); "
                            + "\(confirmed.count) of \(frozen.count) reservation(s) confirmed", c, logger: logger)
        let complete = unbought.isEmpty && credit == .zero
        try await mailReceipt(attempt, received: received, invoice: invoice, credit: credit, complete: complete,
                              center: center, centerID: centerID, c, logger: logger)
        return complete ? "paid" : "paid, \(credit) kept as credit (\(unbought.count) reservation(s) not confirmed)"
    }

    /// The family's receipt: confirmed, or what became credit and why.
    static func mailReceipt(
        _ attempt: AttemptRecord, received: Money, invoice: LedgerRepository.Issued?, credit: Money, complete: Bool,
        center: Center, centerID: Int64, _ c: PostgresConnection, logger: Logger
    ) async throws {
        guard let email = try await People.billingAddress(c, center: centerID, family: attempt.familyID, logger: logger) else { return }
        let invoiceLine = invoice.map { "\nFacture n° \($0.number)." } ?? ""
        let body = complete
            ? "Bonjour,\n\nVotre paiement de \(received) est reçu : vos réservations sont confirmées."
                + invoiceLine + "\n\n\(center.coordinates.name)"
            : "Bonjour,\n\nVotre paiement de \(received) est reçu, mais une partie des réservations "
                + "qu'il devait régler n'est plus disponible (places prises entre-temps, réservation annulée, "
                + "refaite ou déjà réglée)."
                + (invoice.map { " Les autres sont confirmées : facture n° \($0.number) (\($0.total))." } ?? "")
                + (credit > .zero ? " \(credit) est porté au crédit de votre compte famille ; "
                    + "l'accueil de loisirs vous contactera pour le rembourser." : "")
                + "\n\n\(center.coordinates.name)"
        let subject = "\(center.name) – paiement reçu"
        try await Outbox.enqueue(c, center: centerID, to: email, subject: subject, body: body, logger: logger)
    }

    /// Takes back the places of an expired reservation if they are all still free (and not held back for
    /// the waiting list).
    static func retake(
        reservation: Int64, center: Int64, _ c: PostgresConnection, logger: Logger
    ) async throws -> Bool {
        let rows = try await c.all("""
            SELECT r.period_id, l.day::text, cu, count(*)::int
            FROM reservations r
            JOIN reservation_lines l ON l.center_id = r.center_id AND l.reservation_id = r.id
            CROSS JOIN LATERAL unnest(l.capacity_units) AS cu
            WHERE r.center_id = \(center) AND r.id = \(reservation)
            GROUP BY 1, 2, 3 ORDER BY 2, 3, 1
            """, (Int64, String, String, Int).self, logger: logger)
        try await c.run("SAVEPOINT retake", logger: logger)
        for (period, day, unit, count) in rows {
            // Places children of the waiting list wait for are theirs, as for any booking: a late payment
            // does not take them before their offer.
            let ok = try await c.first("""
                UPDATE day_capacities d SET taken = d.taken + \(count)
                WHERE d.center_id = \(center) AND d.period_id = \(period) AND d.day = \(day)::date AND d.unit = \(unit)
                  AND d.taken + \(count) + (
                      SELECT count(*)::int FROM waiting_list w
                      WHERE w.center_id = d.center_id AND w.period_id = d.period_id AND w.day = d.day AND w.state = 'waiting'
                        AND d.unit = ANY(w.capacity_units) AND \(unescaped: WaitingList.holdsAPlaceBack)) <= d.places
                RETURNING 1
                """, (Int.self), logger: logger) != nil
            if !ok {
                try await c.run("ROLLBACK TO SAVEPOINT retake", logger: logger)
                return false
            }
        }
        try await c.run("RELEASE SAVEPOINT retake", logger: logger)
        return true
    }
}
