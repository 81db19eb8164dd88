import Foundation
import Logging
import PortailDomain
import PostgresNIO

/// A notification already authenticated by its provider, as the store records it.
public struct NotificationInput: Sendable {
    public var idempotencyKey: String
    public var attemptReference: String
    /// paid, pending, refused, cancelled, expired, review
    public var status: String
    public var amountCents: Int?
    public var currency: String?
    public var providerStatus: String
    public var providerTransaction: String
    /// The provider's name for the payment label: "SYSTEMPAY".
    public var providerName: String
    public var raw: String

    public init(idempotencyKey: String, attemptReference: String, status: String, amountCents: Int?, currency: String?,
                providerStatus: String, providerTransaction: String, providerName: String, raw: String) {
        self.idempotencyKey = idempotencyKey
        self.attemptReference = attemptReference
        self.status = status
        self.amountCents = amountCents
        self.currency = currency
        self.providerStatus = providerStatus
        self.providerTransaction = providerTransaction
        self.providerName = providerName
        self.raw = raw
    }
}

extension PaymentRepository {
    /// Applies a verified notification, idempotently, in the caller's transaction. A paid attempt never
    /// goes backwards; money that cannot buy its places any more becomes a credit and is flagged.
    public static func apply(_ n: NotificationInput, center: Center, centerID: Int64, _ c: PostgresConnection, logger: Logger) async throws -> NotificationResult {
        // Every notification is recorded verbatim; the same event twice is applied once.
        if try await c.first("""
            SELECT 1 FROM payment_notifications WHERE center_id = \(centerID) AND idempotency_key = \(n.idempotencyKey) AND outcome = 'applied'
            """, (Int.self), logger: logger) != nil {
            try await record(n, attempt: nil, outcome: "duplicate", center: centerID, c, logger: logger)
            return .duplicate
        }
        guard let attempt = try await attempt(c, center: centerID, reference: n.attemptReference, lock: true, logger: logger) else {
            try await record(n, attempt: nil, outcome: "unknown_attempt", center: centerID, c, logger: logger)
            return .unknownAttempt
        }
        if attempt.state == "paid" {
            // A refusal or an abandon of another transaction of the same order never undoes a payment.
            if n.status == "paid" {
                try await c.run("UPDATE payment_attempts SET flag = 'double_payment', updated_at = now() WHERE center_id = \(centerID) AND id = \(attempt.id)", logger: logger)
                try await record(n, attempt: attempt.id, outcome: "applied", center: centerID, c, logger: logger)
                try await audit(centerID, "payment.double", attempt.reference, "a second payment was notified for a paid attempt", c, logger: logger)
                return .ignored("second payment for a paid attempt, flagged")
            }
            try await record(n, attempt: attempt.id, outcome: "ignored", center: centerID, c, logger: logger)
            return .ignored("attempt already paid")
        }
        switch n.status {
        case "paid":
            guard n.amountCents == attempt.amount.cents, n.currency == "EUR" else {
                try await c.run("""
                    UPDATE payment_attempts SET state = 'review', flag = 'amount_mismatch', updated_at = now() WHERE center_id = \(centerID) AND id = \(attempt.id)
                    """, logger: logger)
                try await record(n, attempt: attempt.id, outcome: "applied", center: centerID, c, logger: logger)
                try await audit(centerID, "payment.amount_mismatch", attempt.reference,
                                "notified \(n.amountCents.map(String.init) ?? "-") \(n.currency ?? "-") for \(attempt.amount.cents) EUR", c, logger: logger)
                return .ignored("amount mismatch, flagged for review")
            }
            let summary = try await fulfil(attempt, n, center: center, centerID: centerID, c, logger: logger)
            try await record(n, attempt: attempt.id, outcome: "applied", center: centerID, c, logger: logger)
            return .applied(summary)
        case "refused", "cancelled", "expired":
            try await c.run("""
                UPDATE payment_attempts SET state = \(n.status), updated_at = now()
                WHERE center_id = \(centerID) AND id = \(attempt.id) AND state IN ('created', 'pending')
                """, logger: logger)
            // The cart is payable again, by a new attempt, until its hold runs out.
            try await c.run("UPDATE carts SET state = 'open' WHERE center_id = \(centerID) AND id = \(attempt.cartID) AND state = 'paying'", logger: logger)
            try await record(n, attempt: attempt.id, outcome: "applied", center: centerID, c, logger: logger)
            return .applied(n.status)
        case "pending":
            try await c.run("UPDATE payment_attempts SET state = 'pending', updated_at = now() WHERE center_id = \(centerID) AND id = \(attempt.id) AND state = 'created'", logger: logger)
            try await record(n, attempt: attempt.id, outcome: "applied", center: centerID, c, logger: logger)
            return .applied("pending")
        default:
            try await c.run("UPDATE payment_attempts SET flag = 'review', updated_at = now() WHERE center_id = \(centerID) AND id = \(attempt.id)", logger: logger)
            try await record(n, attempt: attempt.id, outcome: "applied", center: centerID, c, logger: logger)
            return .ignored("status \(n.providerStatus) needs a person")
        }
    }

    static func record(_ n: NotificationInput, attempt: Int64?, outcome: String, center: Int64, _ c: PostgresConnection, logger: Logger) async throws {
        try await c.run("""
            INSERT INTO payment_notifications (center_id, attempt_id, idempotency_key, raw, outcome)
            VALUES (\(center), \(attempt), \(n.idempotencyKey), \(n.raw), \(outcome))
            """, logger: logger)
    }

    /// What the bank's notifications did, in the audit log.
    static func audit(_ center: Int64, _ action: String, _ subject: String, _ detail: String, _ c: PostgresConnection, logger: Logger) async throws {
        try await AuditLog.record(c, center: center, actor: "bank", action: action, subject: subject, after: ["detail": detail], logger: logger)
    }

    /// The paid path: confirm what can be confirmed, invoice it, record and allocate the payment.
    static func fulfil(_ attempt: AttemptRecord, _ n: NotificationInput, center: Center, centerID: Int64, _ c: PostgresConnection, logger: Logger) async throws -> String {
        try await c.run("""
            UPDATE payment_attempts SET state = 'paid', paid_at = now(), updated_at = now() WHERE center_id = \(centerID) AND id = \(attempt.id)
            """, logger: logger)
        // The reservations this attempt paid for: still waiting, or expired while the bank took its time.
        let reservations = try await c.all("""
            SELECT id, state FROM reservations WHERE center_id = \(centerID) AND cart_id = \(attempt.cartID)
              AND state IN ('pending_payment', 'expired') ORDER BY id FOR UPDATE
            """, (Int64, String).self, logger: logger)
        var confirmed: [Int64] = []
        var lost: [Int64] = []
        for (id, state) in reservations {
            if state == "pending_payment" {
                confirmed.append(id)
            } else if try await retake(reservation: id, center: centerID, c, logger: logger) {
                try await c.run("UPDATE reservations SET state = 'pending_payment' WHERE center_id = \(centerID) AND id = \(id)", logger: logger)
                confirmed.append(id)
            } else {
                lost.append(id)
            }
        }
        try await BookingRepository.confirm(c, center: centerID, reservations: confirmed, logger: logger)
        try await c.run("UPDATE carts SET state = 'paid' WHERE center_id = \(centerID) AND id = \(attempt.cartID)", logger: logger)

        let invoice = try await LedgerRepository.issueInvoice(for: confirmed, center: center, centerID: centerID, family: attempt.familyID, c, logger: logger)
        // The family's credit counted when the attempt started goes to the invoice first (before this
        // payment exists, so that it cannot take from it), then this payment.
        var usedCredit = Money.zero
        if let invoice {
            let credit = try await c.first("SELECT credit_cents::bigint FROM payment_attempts WHERE center_id = \(centerID) AND id = \(attempt.id)", (Int.self), logger: logger) ?? 0
            if credit > 0 {
                usedCredit = try await LedgerRepository.useCredit(upTo: Money(cents: min(credit, invoice.total.cents)), invoice: invoice.id, center: centerID,
                                                                 family: attempt.familyID, c, logger: logger)
            }
        }
        let payment = try await LedgerRepository.recordPayment(
            center: center, centerID: centerID, family: attempt.familyID, amount: attempt.amount, method: "online",
            provider: n.providerName, label: "Paiement n° \(n.providerTransaction) (par \(n.providerName))", attempt: attempt.id, c, logger: logger
        )
        if let invoice {
            try await LedgerRepository.allocate(payment: payment.id, invoice: invoice.id, amount: min(invoice.total - usedCredit, attempt.amount),
                                                center: centerID, c, logger: logger)
        }
        if !lost.isEmpty || confirmed.isEmpty {
            // The money is kept as a credit on the family's account (nothing left to buy, or places gone);
            // staff refund it or use it.
            try await c.run("UPDATE payment_attempts SET flag = 'refund_due' WHERE center_id = \(centerID) AND id = \(attempt.id)", logger: logger)
            try await audit(centerID, "payment.credit", attempt.reference,
                            "\(lost.count) reservation(s) could not be confirmed (places taken) and \(confirmed.count) were; the unallocated money is a credit", c, logger: logger)
        }
        try await audit(centerID, "payment.paid", attempt.reference,
                        "\(attempt.amount) paid by \(n.providerName); invoice \(invoice?.number ?? "none"); \(confirmed.count) reservation(s) confirmed", c, logger: logger)
        if let email = try await c.first("SELECT email FROM families WHERE center_id = \(centerID) AND id = \(attempt.familyID)", (String.self), logger: logger) {
            let body = lost.isEmpty && !confirmed.isEmpty
                ? "Bonjour,\n\nVotre paiement de \(attempt.amount) est reçu : vos réservations sont confirmées.\(invoice.map { "\nFacture n° \($0.number)." } ?? "")\n\n\(center.coordinates.name)"
                : "Bonjour,\n\nVotre paiement de \(attempt.amount) est reçu, mais il est arrivé après l'expiration de votre panier et certaines places ont été prises entre-temps. Le montant correspondant est porté au crédit de votre compte famille ; l'accueil de loisirs vous contactera pour le rembourser.\n\n\(center.coordinates.name)"
            try await Outbox.enqueue(c, center: centerID, to: email, subject: "\(center.name) – paiement reçu", body: body, logger: logger)
        }
        return lost.isEmpty && !confirmed.isEmpty ? "paid" : "paid, kept as credit (\(lost.count) reservation(s) lost their places)"
    }

    /// Takes back the places of an expired reservation if they are all still free.
    static func retake(reservation: Int64, center: Int64, _ c: PostgresConnection, logger: Logger) async throws -> Bool {
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
            let ok = try await c.first("""
                UPDATE day_capacities SET taken = taken + \(count)
                WHERE center_id = \(center) AND period_id = \(period) AND day = \(day)::date AND unit = \(unit) AND taken + \(count) <= places
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
