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

    /// Texts from the bank are stored as they came, but for NUL characters, which PostgreSQL text cannot
    /// hold: they become U+FFFD, so that even such a notification is recorded (and matches no attempt).
    public init(idempotencyKey: String, attemptReference: String, status: String, amountCents: Int?, currency: String?,
                providerStatus: String, providerTransaction: String, providerName: String, raw: String) {
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
    }
}

extension PaymentRepository {
    /// Applies a verified notification, idempotently, in the caller's transaction. A paid attempt never
    /// goes backwards; money that cannot buy its places any more becomes a credit and is flagged.
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
}
