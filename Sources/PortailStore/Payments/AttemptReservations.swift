import Foundation
import Logging
import PortailDomain
import PostgresNIO

/// A reservation as a payment attempt priced it when it started, with its state now.
struct FrozenReservation: Sendable {
    enum State: String, Sendable {
        case pendingPayment = "pending_payment"
        case confirmed
        case expired
        case cancelled
    }

    var id: Int64
    var number: Int
    /// What the attempt counted for it.
    var amount: Money
    /// nil for a state this code does not know, which is never confirmed.
    var state: State?
}

/// The reservations a payment attempt pays for, recorded when it starts (`payment_attempt_reservations`).
/// The bank's answer confirms these and nothing else: a cart reopens when an attempt dies, and the old
/// form can still be paid at the bank after days were added to the cart.
enum AttemptReservations {
    /// Records what `attempt` pays for: the reservations and amounts it was priced from.
    static func freeze(
        _ reservations: [(id: Int64, amount: Money)], attempt: Int64, center: Int64,
        _ c: PostgresConnection, logger: Logger
    ) async throws {
        try await c.run("""
            INSERT INTO payment_attempt_reservations (center_id, attempt_id, reservation_id, amount_cents)
            SELECT \(center), \(attempt), f.reservation_id, f.amount_cents
            FROM unnest(\(reservations.map(\.id)), \(reservations.map(\.amount.cents)))
                 AS f (reservation_id, amount_cents)
            """, logger: logger)
    }

    /// What `attempt` pays for, with the reservations' states now, locked for the payment's transaction.
    static func load(
        attempt: Int64, center: Int64, _ c: PostgresConnection, logger: Logger
    ) async throws -> [FrozenReservation] {
        try await c.all("""
            SELECT r.id, r.number, f.amount_cents::bigint, r.state
            FROM payment_attempt_reservations f
            JOIN reservations r ON r.center_id = f.center_id AND r.id = f.reservation_id
            WHERE f.center_id = \(center) AND f.attempt_id = \(attempt)
            ORDER BY r.id FOR UPDATE OF r
            """, (Int64, Int, Int, String).self, logger: logger).map {
            FrozenReservation(id: $0.0, number: $0.1, amount: Money(cents: $0.2), state: .init(rawValue: $0.3))
        }
    }

    /// Of these expired reservations, those whose child holds one of their places again (booked again in
    /// another reservation, waiting or confirmed): taking them back would give the child the day twice.
    /// Locks the children first, as booking does, so that no booking of theirs can slip in meanwhile.
    static func heldAgain(
        _ expired: [Int64], center: Int64, _ c: PostgresConnection, logger: Logger
    ) async throws -> Set<Int64> {
        guard !expired.isEmpty else { return [] }
        try await c.run("""
            SELECT 1 FROM children WHERE center_id = \(center)
              AND id IN (SELECT child_id FROM reservations WHERE center_id = \(center) AND id = ANY(\(expired)))
            ORDER BY id FOR UPDATE
            """, logger: logger)
        return Set(try await c.all("""
            SELECT DISTINCT r.id
            FROM reservations r
            JOIN reservation_lines l ON l.center_id = r.center_id AND l.reservation_id = r.id
            JOIN reservations o ON o.center_id = r.center_id AND o.child_id = r.child_id AND o.period_id = r.period_id
                               AND o.id <> r.id AND o.state IN ('pending_payment', 'confirmed')
            JOIN reservation_lines ol ON ol.center_id = o.center_id AND ol.reservation_id = o.id
                                     AND ol.day = l.day AND ol.capacity_units && l.capacity_units
            WHERE r.center_id = \(center) AND r.id = ANY(\(expired))
            """, (Int64.self), logger: logger))
    }
}
