import Foundation
import Logging
import PortailDomain
import PostgresNIO

/// A payment attempt as the pages and the notification handler need it.
public struct AttemptRecord: Sendable {
    public var id: Int64
    public var reference: String
    /// What the attempt pays: a cart's reservations, or an invoice left unpaid (exactly one of the two).
    public var cartID: Int64?
    public var invoiceID: Int64?
    public var familyID: Int64
    public var amount: Money
    /// The family's credit the attempt counted when it started (it asked the bank for the rest).
    public var credit: Money
    public var state: String
    public var flag: String?
    /// Where the browser goes: the bank's form action or redirect address; nil while the provider has
    /// not answered yet (the attempt was created a moment ago by another request of the family).
    public var action: String?
    public var form: [[String]]
    public var createdAt: Date
    public var providerReference: String?
}

/// Why a payment cannot start.
public enum PaymentRefusal: Error, Sendable, Equatable {
    case emptyCart
}

/// What "Accéder au paiement" leads to.
public enum PaymentStartResult: Sendable {
    /// A new attempt: the provider is to be asked now for the browser's way to the bank (`recordStart`).
    case new(AttemptRecord)
    /// The live attempt of the cart, asked for again (its form may still be on its way: `action` nil).
    case resumed(AttemptRecord)
    /// The family's credit paid the whole cart: its reservations are confirmed, nothing goes to the bank.
    case paidWithCredit(invoice: String, amount: Money)
}

/// What the portal did with a verified notification.
public enum NotificationResult: Sendable, Equatable {
    case applied(String)
    case duplicate
    case unknownAttempt
    case ignored(String)
}

/// Payment attempts, verified notifications and what a paid notification does: in one transaction the
/// attempt becomes paid, its reservations confirmed, an invoice issued, the payment recorded and
/// allocated, the audit log written, the family's mail queued.
public enum PaymentRepository {
    /// 100 000,00 €: no family pays more online at once; a bank "paying" more is a broken or forged
    /// notification, kept for a person, never summed into the ledger.
    public static let largestPlausiblePayment = 10_000_000

    // MARK: starting

    /// First step of "Accéder au paiement", in one short transaction: the live attempt of the family's
    /// cart, or a new one for what the cart holds now, frozen (`AttemptReservations`), live for the bank's
    /// `sessionLimit`. The provider is asked afterwards, outside any transaction (it may call the bank),
    /// and its answer recorded by `recordStart` (or the attempt given up by `abandonStart`).
    public static func begin(
        _ c: PostgresConnection, center: Center, centerID: Int64, family: Int64, provider: String,
        sessionLimit: TimeInterval, logger: Logger
    ) async throws -> PaymentStartResult {
        try await BookingRepository.expireDueCarts(c, center: centerID, logger: logger)
        // An open cart whose hold is over (the expiry pass skipped it while it was locked) is not paid.
        guard let (cartID, state) = try await c.first("""
            SELECT id, state FROM carts WHERE center_id = \(centerID) AND family_id = \(family)
              AND (state = 'paying' OR (state = 'open' AND expires_at > now()))
            ORDER BY id DESC LIMIT 1 FOR UPDATE
            """, (Int64, String).self, logger: logger) else { throw PaymentRefusal.emptyCart }
        // An attempt whose start was interrupted (the request died between creating it and recording the
        // bank's answer) never reached the bank: it is given up rather than blocking the cart.
        if state == "paying", let stale = try await c.first("""
            UPDATE payment_attempts SET state = 'cancelled', updated_at = now()
            WHERE center_id = \(centerID) AND cart_id = \(cartID) AND state = 'created' AND action IS NULL
              AND created_at < now() - interval '30 seconds'
            RETURNING reference
            """, (String.self), logger: logger) {
            try await audit(centerID, "payment.start_failed", stale, "the start was interrupted before the bank answered", c, logger: logger)
            try await reopenCart(c, center: centerID, cart: cartID, logger: logger)
        }
        if state == "paying", let live = try await liveAttempt(c, center: centerID, cart: cartID, logger: logger) {
            return .resumed(live)
        }
        // What this payment is for: the cart's reservations waiting for payment now, locked so that what is
        // priced is what is recorded. The attempt pays for these only, whatever the cart holds later.
        let pending = try await c.all("""
            SELECT id, total_cents::bigint FROM reservations
            WHERE center_id = \(centerID) AND cart_id = \(cartID) AND state = 'pending_payment'
            ORDER BY id FOR UPDATE
            """, (Int64, Int).self, logger: logger).map { (id: $0.0, amount: Money(cents: $0.1)) }
        let total = pending.reduce(0) { $0 + $1.amount.cents }
        guard total > 0 else { throw PaymentRefusal.emptyCart }
        // The family's credit (money not allocated yet) is used first.
        let credit = try await LedgerRepository.availableCredit(c, center: centerID, family: family, logger: logger).reduce(0) { $0 + $1.left.cents }
        if credit >= total {
            let reservations = pending.map(\.id)
            try await BookingRepository.confirm(c, center: centerID, reservations: reservations, logger: logger)
            try await c.run("UPDATE carts SET state = 'paid' WHERE center_id = \(centerID) AND id = \(cartID)", logger: logger)
            let invoice = try await LedgerRepository.issueInvoice(for: reservations, center: center, centerID: centerID, family: family, c, logger: logger)!
            try await LedgerRepository.useCredit(upTo: invoice.total, invoice: invoice.id, center: centerID, family: family, c, logger: logger)
            try await audit(centerID, "payment.credit_used", invoice.number, "cart paid with the family's credit (\(invoice.total))", c, logger: logger)
            return .paidWithCredit(invoice: invoice.number, amount: invoice.total)
        }
        let count = try await c.first("SELECT count(*)::int FROM payment_attempts WHERE center_id = \(centerID) AND cart_id = \(cartID)", (Int.self), logger: logger) ?? 0
        let reference = "\(center.invoicePrefix)-\(cartID)-\(count + 1)"
        guard let (id, createdAt) = try await c.first("""
            INSERT INTO payment_attempts (center_id, reference, cart_id, family_id, provider, amount_cents, currency, state,
                                          credit_cents, live_until)
            VALUES (\(centerID), \(reference), \(cartID), \(family), \(provider), \(total - credit), 'EUR', 'created',
                    \(credit), now() + make_interval(secs => \(sessionLimit)))
            RETURNING id, created_at
            """, (Int64, Date).self, logger: logger) else { throw PaymentRefusal.emptyCart }
        try await AttemptReservations.freeze(pending, attempt: id, center: centerID, c, logger: logger)
        try await c.run("UPDATE carts SET state = 'paying' WHERE center_id = \(centerID) AND id = \(cartID)", logger: logger)
        return .new(AttemptRecord(id: id, reference: reference, cartID: cartID, invoiceID: nil, familyID: family, amount: Money(cents: total - credit), credit: Money(cents: credit),
                                  state: "created", flag: nil, action: nil, form: [], createdAt: createdAt,
                                  providerReference: nil))
    }

    /// Records the provider's answer to a new attempt: where the browser goes, and the provider's reference.
    public static func recordStart(
        _ c: PostgresConnection, centerID: Int64, attempt: Int64, action: String, form: [[String]], providerReference: String?,
        logger: Logger
    ) async throws {
        let formJSON = String(decoding: try JSONEncoder().encode(form), as: UTF8.self)
        try await c.run("""
            UPDATE payment_attempts SET action = \(action), form = \(formJSON)::jsonb, provider_reference = \(providerReference),
                   updated_at = now()
            WHERE center_id = \(centerID) AND id = \(attempt)
            """, logger: logger)
    }

    /// The provider could not start the attempt (its bank did not answer, or refused): the attempt is
    /// cancelled and its cart payable again; nothing was asked of the family's card.
    public static func abandonStart(_ c: PostgresConnection, centerID: Int64, attempt: Int64, reason: String, logger: Logger) async throws {
        guard let (reference, cart) = try await c.first("""
            UPDATE payment_attempts SET state = 'cancelled', updated_at = now()
            WHERE center_id = \(centerID) AND id = \(attempt) AND state = 'created' AND action IS NULL
            RETURNING reference, cart_id
            """, (String, Int64?).self, logger: logger) else { return }
        try await reopenCart(c, center: centerID, cart: cart, logger: logger)
        try await audit(centerID, "payment.start_failed", reference, reason, c, logger: logger)
    }

    /// A cart waiting for a payment that will not come is payable again (and expires at its hold time),
    /// unless another attempt of it is still live.
    static func reopenCart(_ c: PostgresConnection, center: Int64, cart: Int64?, logger: Logger) async throws {
        guard let cart else { return }  // an invoice's attempt: no cart waits for it
        try await c.run("""
            UPDATE carts SET state = 'open' WHERE center_id = \(center) AND id = \(cart) AND state = 'paying'
              AND NOT EXISTS (SELECT 1 FROM payment_attempts a WHERE a.center_id = carts.center_id AND a.cart_id = carts.id
                              AND a.state IN ('created', 'pending') AND a.live_until > now())
            """, logger: logger)
    }

    static func liveAttempt(_ c: PostgresConnection, center: Int64, cart: Int64, logger: Logger) async throws -> AttemptRecord? {
        try await attempts(c, center: center, where: "cart_id = $2 AND state IN ('created', 'pending') AND live_until > now()",
                           binds: [cart], lock: false, logger: logger).first
    }

    public static func attempt(_ c: PostgresConnection, center: Int64, reference: String, lock: Bool = false, logger: Logger) async throws -> AttemptRecord? {
        try await attempts(c, center: center, where: "reference = $2", binds: [reference], lock: lock, logger: logger).first
    }

    static func attempts(_ c: PostgresConnection, center: Int64, where condition: String, binds: [any PostgresEncodable & Sendable], lock: Bool,
                         limit: Int? = nil, logger: Logger) async throws -> [AttemptRecord] {
        var query = PostgresQuery(unsafeSQL: """
            SELECT id, reference, cart_id, invoice_id, family_id, amount_cents, credit_cents, state, flag, action, coalesce(form::text, '[]'),
                   created_at, provider_reference
            FROM payment_attempts WHERE center_id = $1 AND \(condition) ORDER BY id DESC\(limit.map { " LIMIT \($0)" } ?? "")\(lock ? " FOR UPDATE" : "")
            """)
        try query.binds.append(center, context: .default)
        for bind in binds { try query.binds.append(bind, context: .default) }
        return try await c.all(query, (Int64, String, Int64?, Int64?, Int64, Int, Int, String, String?, String?, String, Date, String?).self,
                               logger: logger).map {
            AttemptRecord(id: $0.0, reference: $0.1, cartID: $0.2, invoiceID: $0.3, familyID: $0.4, amount: Money(cents: $0.5),
                          credit: Money(cents: $0.6), state: $0.7, flag: $0.8, action: $0.9,
                          form: (try? JSONDecoder().decode([[String]].self, from: Data($0.10.utf8))) ?? [],
                          createdAt: $0.11, providerReference: $0.12)
        }
    }
}

// MARK: reconciliation

extension PaymentRepository {
    /// Claims attempts the bank has said nothing final about, to ask it: started (the browser went to the
    /// bank), quiet for `quietFor` seconds, created since `since`, not asked since `quietFor` either; the
    /// longest unasked first. Claiming notes them as asked now (`checked_at`), so that another instance
    /// skips them and a bank that does not answer is asked again only after `quietFor`. Expired ones are
    /// included: the payer may have paid after the session limit, and only the bank knows.
    public static func claimUnanswered(
        _ c: PostgresConnection, center: Int64, provider: String, quietFor: TimeInterval, since: Date, limit: Int = 50, logger: Logger
    ) async throws -> [AttemptRecord] {
        let ids = try await c.all("""
            UPDATE payment_attempts SET checked_at = now()
            WHERE center_id = \(center) AND id IN (
                SELECT id FROM payment_attempts
                WHERE center_id = \(center) AND provider = \(provider) AND state IN ('created', 'pending', 'expired') AND action IS NOT NULL
                  AND created_at <= now() - make_interval(secs => \(quietFor)) AND created_at >= \(since)
                  AND (checked_at IS NULL OR checked_at <= now() - make_interval(secs => \(quietFor)))
                ORDER BY checked_at NULLS FIRST, id LIMIT \(limit) FOR UPDATE SKIP LOCKED)
            RETURNING id
            """, (Int64.self), logger: logger)
        guard !ids.isEmpty else { return [] }
        return try await attempts(c, center: center, where: "id = ANY($2)", binds: [ids], lock: false, logger: logger)
    }

    /// Notes that the bank was asked about an attempt; `final` when its answer settled it (never asked again).
    public static func markChecked(_ c: PostgresConnection, center: Int64, attempt: Int64, final: Bool, logger: Logger) async throws {
        try await c.run("""
            UPDATE payment_attempts SET checked_at = CASE WHEN \(final) THEN 'infinity'::timestamptz ELSE now() END
            WHERE center_id = \(center) AND id = \(attempt)
            """, logger: logger)
    }
}

// MARK: refunds through the bank

extension PaymentRepository {
    /// An online payment of the family, with the attempt it paid and the bank's transaction: what a
    /// provider needs to give the money back to the card.
    public static func onlinePayment(
        _ c: PostgresConnection, center: Int64, family: Int64, number: String, logger: Logger
    ) async throws -> (payment: Int64, transaction: String, attempt: AttemptRecord)? {
        guard let (payment, transaction, attemptID) = try await c.first("""
            SELECT p.id, p.provider_transaction, p.attempt_id FROM payments p
            WHERE p.center_id = \(center) AND p.family_id = \(family) AND p.number = \(number) AND p.method = 'online' AND p.attempt_id IS NOT NULL
            """, (Int64, String, Int64).self, logger: logger),
              let attempt = try await attempts(c, center: center, where: "id = $2", binds: [attemptID], lock: false, logger: logger).first
        else { return nil }
        return (payment, transaction, attempt)
    }
}

// MARK: the return page

extension PaymentRepository {
    /// What the browser's return page says beside the attempt's state: the cart's hold (open and until
    /// when) and the invoice the payment settled.
    public static func returnDetails(
        _ c: PostgresConnection, center: Int64, attempt: AttemptRecord, logger: Logger
    ) async throws -> (holdUntil: Date?, invoice: String?, bankPending: Bool) {
        var hold: Date?
        if let cart = attempt.cartID {
            hold = try await c.first("""
                SELECT expires_at FROM carts WHERE center_id = \(center) AND id = \(cart)
                  AND state IN ('open', 'paying') AND expires_at > now()
                """, (Date.self), logger: logger)
        }
        // An invoice's attempt names its invoice whatever the payment went to; a cart's, the invoice it settled.
        let invoice = try await c.first("""
            SELECT i.number FROM invoices i
            WHERE i.center_id = \(center) AND i.id = (SELECT invoice_id FROM payment_attempts WHERE center_id = \(center) AND id = \(attempt.id))
            UNION ALL
            (SELECT i.number FROM payments p
             JOIN allocations a ON a.center_id = p.center_id AND a.payment_id = p.id AND a.amount_cents > 0
             JOIN invoices i ON i.center_id = a.center_id AND i.id = a.invoice_id AND i.kind = 'invoice'
             WHERE p.center_id = \(center) AND p.attempt_id = \(attempt.id)
             ORDER BY i.id LIMIT 1)
            LIMIT 1
            """, (String.self), logger: logger)
        // The bank said "pending" (a transfer, a SEPA debit on its way): the money may still come.
        let pending = try await c.first("""
            SELECT 1 FROM payment_notifications
            WHERE center_id = \(center) AND attempt_id = \(attempt.id) AND status = 'pending' AND outcome = 'applied' LIMIT 1
            """, (Int.self), logger: logger) != nil
        return (hold, invoice, pending)
    }
}
