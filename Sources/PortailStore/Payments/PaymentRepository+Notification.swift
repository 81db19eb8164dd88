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
    /// The notification's headers as JSON (`[["name", "value"], ...]`), kept beside the body.
    public var headers: String?
    /// "notification" (the bank called) or "reconciliation" (the portal asked the bank).
    public var source: String

    /// Texts from the bank are stored as they came, but for NUL characters, which PostgreSQL text cannot
    /// hold: they become U+FFFD, so that even such a notification is recorded (and matches no attempt).
    public init(idempotencyKey: String, attemptReference: String, status: String, amountCents: Int?, currency: String?,
                providerStatus: String, providerTransaction: String, providerName: String, raw: String,
                headers: String? = nil, source: String = "notification") {
        func storable(_ text: String) -> String { text.contains("\u{0}") ? text.replacingOccurrences(of: "\u{0}", with: "\u{FFFD}") : text }
        self.idempotencyKey = storable(idempotencyKey)
        self.attemptReference = storable(attemptReference)
        self.status = status
        self.amountCents = amountCents
        self.currency = currency.map(storable)
        self.providerStatus = storable(providerStatus)
        self.providerTransaction = storable(providerTransaction)
        self.providerName = providerName
        self.raw = storable(raw)
        self.headers = headers.map(storable)
        self.source = source
    }
}

extension PaymentRepository {
    /// Applies a verified notification, idempotently, in the caller's transaction. A paid attempt never
    /// goes backwards. Money the bank took in euros always reaches the ledger (another currency, or no
    /// amount, goes to a person: the ledger counts euro cents), once per bank transaction: paid as
    /// asked, it confirms what the attempt froze; twice (another transaction), or a wrong amount, it is
    /// recorded and kept as the family's credit, and the attempt flagged for the staff.
    public static func apply(_ n: NotificationInput, center: Center, centerID: Int64, _ c: PostgresConnection, logger: Logger) async throws -> NotificationResult {
        // Every notification is recorded verbatim; the same event twice is applied once. Copies arriving
        // together wait for each other here, so that the later ones find the first applied (a duplicate,
        // acknowledged) instead of failing on the unique index.
        try await c.run("SELECT pg_advisory_xact_lock(hashtext(\("notification:\(centerID):" + n.idempotencyKey)))", logger: logger)
        if try await c.first("""
            SELECT 1 FROM payment_notifications WHERE center_id = \(centerID) AND idempotency_key = \(n.idempotencyKey) AND outcome = 'applied'
            """, (Int.self), logger: logger) != nil {
            try await record(n, attempt: nil, outcome: "duplicate", center: centerID, c, logger: logger)
            return .duplicate
        }
        guard let attempt = try await attempt(c, center: centerID, reference: n.attemptReference, lock: true, logger: logger) else {
            let seen = try await c.first("""
                SELECT 1 FROM payment_notifications WHERE center_id = \(centerID) AND idempotency_key = \(n.idempotencyKey) AND outcome = 'unknown_attempt'
                """, (Int.self), logger: logger) != nil
            try await record(n, attempt: nil, outcome: "unknown_attempt", center: centerID, c, logger: logger)
            if n.status == "paid", !seen {
                // Authentic, and money taken for nothing the portal knows: for the staff, beside the flagged attempts.
                try await audit(centerID, "payment.unmatched", n.attemptReference,
                                "\(n.providerName) \(n.providerStatus) \(n.amountCents.map(String.init) ?? "?") cents, transaction \(n.providerTransaction)", c, logger: logger)
            }
            return .unknownAttempt
        }
        if n.status == "paid", try await c.first("""
            SELECT 1 FROM payments WHERE center_id = \(centerID) AND attempt_id = \(attempt.id) AND provider_transaction = \(n.providerTransaction)
            """, (Int.self), logger: logger) != nil {
            // Another status of a transaction already recorded (AUTHORISED then CAPTURED): the same money.
            try await record(n, attempt: attempt.id, outcome: "ignored", center: centerID, c, logger: logger)
            return .ignored("transaction \(n.providerTransaction) already recorded")
        }
        switch n.status {
        case "paid" where n.currency != "EUR" || (n.amountCents ?? 0) <= 0 || (n.amountCents ?? 0) > Self.largestPlausiblePayment:
            // Nothing the ledger can count in euro cents (or an amount no family pays online, which would
            // overflow the ledger's sums): a person looks at the bank's back office.
            try await c.run("""
                UPDATE payment_attempts SET state = CASE WHEN state = 'paid' THEN state ELSE 'review' END, flag = 'amount_mismatch', updated_at = now()
                WHERE center_id = \(centerID) AND id = \(attempt.id)
                """, logger: logger)
            try await reopenCart(c, center: centerID, cart: attempt.cartID, logger: logger)
            try await record(n, attempt: attempt.id, outcome: "applied", center: centerID, c, logger: logger)
            try await audit(centerID, "payment.amount_mismatch", attempt.reference,
                            "notified \(n.amountCents.map(String.init) ?? "-") \(n.currency ?? "-") for \(attempt.amount.cents) EUR: not recorded, see the bank", c, logger: logger)
            return .ignored("unusable amount or currency, flagged for review")
        case "paid" where attempt.state == "paid" || attempt.state == "review" || n.amountCents! < attempt.amount.cents:
            // Money that buys nothing by itself: the attempt was paid already (money received twice) or the
            // bank took less than asked. It is recorded, and is the family's credit until staff refund it
            // or the next cart uses it; an underpaid attempt is given up and its cart payable again.
            let received = Money(cents: n.amountCents!)
            let flag = attempt.state == "paid" ? "double_payment" : "amount_mismatch"
            try await c.run("""
                UPDATE payment_attempts SET state = CASE WHEN state = 'paid' THEN state ELSE 'review' END, flag = \(flag), updated_at = now()
                WHERE center_id = \(centerID) AND id = \(attempt.id)
                """, logger: logger)
            try await reopenCart(c, center: centerID, cart: attempt.cartID, logger: logger)
            let payment = try await LedgerRepository.recordPayment(
                center: center, centerID: centerID, family: attempt.familyID, amount: received, method: "online",
                provider: n.providerName, label: "Paiement n° \(n.providerTransaction) (par \(n.providerName))",
                attempt: attempt.id, providerTransaction: n.providerTransaction, c, logger: logger
            )
            try await record(n, attempt: attempt.id, outcome: "applied", center: centerID, c, logger: logger)
            try await audit(centerID, flag == "double_payment" ? "payment.double" : "payment.amount_mismatch", attempt.reference,
                            "\(received) received (\(payment.number), transaction \(n.providerTransaction)) for an attempt of \(attempt.amount)"
                                + (flag == "double_payment" ? " already paid" : "") + ": kept as the family's credit", c, logger: logger)
            return .ignored(flag == "double_payment" ? "second payment for a paid attempt, kept as credit and flagged"
                                                     : "amount below the attempt's, kept as credit and flagged")
        case "paid":
            let summary = try await fulfil(attempt, n, center: center, centerID: centerID, c, logger: logger)
            try await record(n, attempt: attempt.id, outcome: "applied", center: centerID, c, logger: logger)
            return .applied(summary)
        case _ where attempt.state == "paid":
            // A refusal or an abandon of another transaction of the same order never undoes a payment.
            try await record(n, attempt: attempt.id, outcome: "ignored", center: centerID, c, logger: logger)
            return .ignored("attempt already paid")
        case "refused", "cancelled", "expired":
            try await c.run("""
                UPDATE payment_attempts SET state = \(n.status), updated_at = now()
                WHERE center_id = \(centerID) AND id = \(attempt.id) AND state IN ('created', 'pending')
                """, logger: logger)
            // The cart is payable again, by a new attempt, until its hold runs out.
            try await reopenCart(c, center: centerID, cart: attempt.cartID, logger: logger)
            try await record(n, attempt: attempt.id, outcome: "applied", center: centerID, c, logger: logger)
            return .applied(n.status)
        case "pending":
            try await c.run("UPDATE payment_attempts SET state = 'pending', updated_at = now() WHERE center_id = \(centerID) AND id = \(attempt.id) AND state = 'created'", logger: logger)
            try await record(n, attempt: attempt.id, outcome: "applied", center: centerID, c, logger: logger)
            return .applied("pending")
        default:
            try await c.run("UPDATE payment_attempts SET flag = coalesce(flag, 'review'), updated_at = now() WHERE center_id = \(centerID) AND id = \(attempt.id)", logger: logger)
            try await record(n, attempt: attempt.id, outcome: "applied", center: centerID, c, logger: logger)
            return .ignored("status \(n.providerStatus) needs a person")
        }
    }

    static func record(_ n: NotificationInput, attempt: Int64?, outcome: String, center: Int64, _ c: PostgresConnection, logger: Logger) async throws {
        BusinessMetrics.notified(outcome: outcome)
        try await c.run("""
            INSERT INTO payment_notifications (center_id, attempt_id, idempotency_key, raw, outcome, headers, source,
                                               attempt_reference, status, amount_cents, provider_status, provider_transaction)
            VALUES (\(center), \(attempt), \(n.idempotencyKey), \(n.raw), \(outcome), \(n.headers)::jsonb, \(n.source),
                    \(n.attemptReference), \(n.status), \(n.amountCents), \(n.providerStatus), \(n.providerTransaction))
            """, logger: logger)
    }

    /// What the bank's notifications did, in the audit log.
    static func audit(_ center: Int64, _ action: String, _ subject: String, _ detail: String, _ c: PostgresConnection, logger: Logger) async throws {
        try await AuditLog.record(c, center: center, actor: "bank", action: action, subject: subject, after: ["detail": detail], logger: logger)
    }
}
