import Foundation
import Logging
import PortailDomain
import PostgresNIO

/// A payment attempt the bank's notifications flagged for the staff: a wrong amount, money that bought
/// nothing (refund due: places gone, reservations removed or paid by another attempt), a second payment
/// of the same attempt, an unknown status.
public struct FlaggedAttempt: Sendable, Codable {
    public var reference: String
    public var familyId: Int64
    public var family: String
    public var provider: String
    public var amountCents: Int
    /// What the bank took for it, all transactions together.
    public var receivedCents: Int
    public var state: String
    public var flag: String
    public var providerTransactionId: String?
    public var createdAt: Date
    public var updatedAt: Date
    public var resolvedAt: Date?
    public var resolution: String?
}

/// An authentic notification of money taken for no attempt of the portal (another site on the same shop,
/// an attempt lost in a restore ...): the money is at the bank, not in the ledger, until a person acts.
public struct UnmatchedNotification: Sendable, Codable {
    /// The reference the bank echoed.
    public var reference: String
    public var providerStatus: String
    public var amountCents: Int?
    public var providerTransactionId: String?
    public var receivedAt: Date
    public var resolvedAt: Date?
    public var resolution: String?
}

public enum PaymentReview {
    /// The center's unmatched notifications of money taken (one per bank event), unresolved first, newest first.
    public static func unmatched(_ c: PostgresConnection, center: Int64, includeResolved: Bool, logger: Logger) async throws -> [UnmatchedNotification] {
        try await c.all("""
            SELECT n.attempt_reference, n.provider_status, n.amount_cents::int, n.provider_transaction, n.received_at, r.resolved_at, r.resolution
            FROM (SELECT DISTINCT ON (coalesce(idempotency_key, id::text)) *
                  FROM payment_notifications
                  WHERE center_id = \(center) AND outcome = 'unknown_attempt' AND status = 'paid'
                  ORDER BY coalesce(idempotency_key, id::text), received_at) n
            LEFT JOIN unmatched_payment_resolutions r ON r.center_id = n.center_id AND r.attempt_reference = n.attempt_reference
            WHERE \(includeResolved) OR r.resolved_at IS NULL
            ORDER BY r.resolved_at IS NOT NULL, n.received_at DESC
            """, (String?, String?, Int?, String?, Date, Date?, String?).self, logger: logger).map {
            UnmatchedNotification(reference: $0.0 ?? "", providerStatus: $0.1 ?? "", amountCents: $0.2, providerTransactionId: $0.3,
                                  receivedAt: $0.4, resolvedAt: $0.5, resolution: $0.6)
        }
    }

    /// The flagged attempts of a center, unresolved first, newest first.
    public static func flagged(_ c: PostgresConnection, center: Int64, includeResolved: Bool, logger: Logger) async throws -> [FlaggedAttempt] {
        try await c.all("""
            SELECT a.reference, a.family_id, f.name, a.provider, a.amount_cents::int,
                   coalesce((SELECT sum(p.amount_cents) FROM payments p WHERE p.center_id = a.center_id AND p.attempt_id = a.id), 0)::int,
                   a.state, a.flag,
                   coalesce((SELECT min(p.provider_transaction) FROM payments p WHERE p.center_id = a.center_id AND p.attempt_id = a.id),
                            a.provider_transaction_id, a.provider_reference),
                   a.created_at, a.updated_at, a.resolved_at, a.resolution
            FROM payment_attempts a JOIN families f ON f.center_id = a.center_id AND f.id = a.family_id
            WHERE a.center_id = \(center) AND a.flag IS NOT NULL AND (\(includeResolved) OR a.resolved_at IS NULL)
            ORDER BY a.resolved_at IS NOT NULL, a.updated_at DESC, a.id DESC
            """, (String, Int64, String, String, Int, Int, String, String, String?, Date, Date, Date?, String?).self, logger: logger).map {
            FlaggedAttempt(reference: $0.0, familyId: $0.1, family: $0.2, provider: $0.3, amountCents: $0.4, receivedCents: $0.5, state: $0.6,
                           flag: $0.7, providerTransactionId: $0.8, createdAt: $0.9, updatedAt: $0.10, resolvedAt: $0.11, resolution: $0.12)
        }
    }

    /// Marks a flagged attempt, or else the unmatched notifications of that reference, as dealt with; false
    /// when there is neither, unresolved.
    public static func resolve(_ c: PostgresConnection, center: Int64, reference: String, resolution: String, actor: String, logger: Logger) async throws -> Bool {
        if let flag = try await c.first("""
            UPDATE payment_attempts SET resolved_at = now(), resolution = \(resolution)
            WHERE center_id = \(center) AND reference = \(reference) AND flag IS NOT NULL AND resolved_at IS NULL
            RETURNING flag
            """, (String.self), logger: logger) {
            try await AuditLog.record(c, center: center, actor: actor, action: "payment.resolve", subject: reference,
                                      before: ["flag": flag], after: ["resolution": resolution], logger: logger)
            return true
        }
        let resolved = try await c.all("""
            INSERT INTO unmatched_payment_resolutions (center_id, attempt_reference, resolution, actor)
            SELECT \(center), \(reference), \(resolution), \(actor)
            WHERE EXISTS (SELECT 1 FROM payment_notifications WHERE center_id = \(center) AND attempt_reference = \(reference)
                                                           AND outcome = 'unknown_attempt' AND status = 'paid')
            ON CONFLICT DO NOTHING
            RETURNING 1
            """, (Int.self), logger: logger)
        guard !resolved.isEmpty else { return false }
        try await AuditLog.record(c, center: center, actor: actor, action: "payment.resolve", subject: reference,
                                  before: ["flag": "unmatched"], after: ["resolution": resolution], logger: logger)
        return true
    }
}
