import Foundation
import Logging
import PortailDomain
import PostgresNIO

/// A payment attempt as the pages and the notification handler need it.
public struct AttemptRecord: Sendable {
    public var id: Int64
    public var reference: String
    public var cartID: Int64
    public var familyID: Int64
    public var amount: Money
    public var state: String
    public var flag: String?
    public var action: String?
    public var form: [[String]]
}

/// Why a payment cannot start.
public enum PaymentRefusal: Error, Sendable, Equatable {
    case emptyCart
}

/// What "Accéder au paiement" leads to.
public enum PaymentStartResult: Sendable {
    /// An attempt to send to the bank (new or resumed).
    case attempt(AttemptRecord)
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
    /// How long an attempt stays live without news from the bank (SystemPay sessions last 10 minutes).
    public static let attemptLifetime: TimeInterval = 20 * 60

    // MARK: starting

    /// The live attempt of the family's cart, or a new one for the cart's total. `form` builds the bank's
    /// form from the attempt's reference, amount and transaction number.
    public static func startOrResume(
        _ c: PostgresConnection, center: Center, centerID: Int64, family: Int64, provider: String,
        form: (_ reference: String, _ amountCents: Int, _ transactionID: String) throws -> (action: String, fields: [[String]]),
        logger: Logger
    ) async throws -> PaymentStartResult {
        try await BookingRepository.expireDueCarts(c, center: centerID, logger: logger)
        guard let (cartID, state) = try await c.first("""
            SELECT id, state FROM carts WHERE center_id = \(centerID) AND family_id = \(family) AND state IN ('open', 'paying')
            ORDER BY id DESC LIMIT 1 FOR UPDATE
            """, (Int64, String).self, logger: logger) else { throw PaymentRefusal.emptyCart }
        if state == "paying", let live = try await liveAttempt(c, center: centerID, cart: cartID, logger: logger) {
            return .attempt(live)
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
        // A new bank transaction number for every attempt, unique per shop and UTC day.
        let utcDay = LocalDate(Date(), in: TimeZone(identifier: "UTC")!)
        let sequence = try await BookingRepository.nextNumber(c, center: centerID, counter: "trans-\(utcDay.iso)", logger: logger)
        let transactionID = String(format: "%06d", (sequence - 1) % 900_000)
        let built = try form(reference, total - credit, transactionID)
        let formJSON = String(decoding: try JSONEncoder().encode(built.fields), as: UTF8.self)
        let id = try await c.first("""
            INSERT INTO payment_attempts (center_id, reference, cart_id, family_id, provider, amount_cents, currency, state,
                                          provider_transaction_id, provider_transaction_date, form, action, credit_cents)
            VALUES (\(centerID), \(reference), \(cartID), \(family), \(provider), \(total - credit), 'EUR', 'created',
                    \(transactionID), \(utcDay.iso), \(formJSON)::jsonb, \(built.action), \(credit))
            RETURNING id
            """, (Int64.self), logger: logger)!
        try await AttemptReservations.freeze(pending, attempt: id, center: centerID, c, logger: logger)
        try await c.run("UPDATE carts SET state = 'paying' WHERE center_id = \(centerID) AND id = \(cartID)", logger: logger)
        return .attempt(AttemptRecord(id: id, reference: reference, cartID: cartID, familyID: family, amount: Money(cents: total - credit),
                                      state: "created", flag: nil, action: built.action, form: built.fields))
    }

    static func liveAttempt(_ c: PostgresConnection, center: Int64, cart: Int64, logger: Logger) async throws -> AttemptRecord? {
        try await attempts(c, center: center, where: "cart_id = $2 AND state IN ('created', 'pending') AND created_at > now() - make_interval(secs => $3)",
                           binds: [cart, attemptLifetime], lock: false, logger: logger).first
    }

    public static func attempt(_ c: PostgresConnection, center: Int64, reference: String, lock: Bool = false, logger: Logger) async throws -> AttemptRecord? {
        try await attempts(c, center: center, where: "reference = $2", binds: [reference], lock: lock, logger: logger).first
    }

    static func attempts(_ c: PostgresConnection, center: Int64, where condition: String, binds: [any PostgresEncodable & Sendable], lock: Bool, logger: Logger) async throws -> [AttemptRecord] {
        var query = PostgresQuery(unsafeSQL: """
            SELECT id, reference, cart_id, family_id, amount_cents, state, flag, action, coalesce(form::text, '[]')
            FROM payment_attempts WHERE center_id = $1 AND \(condition) ORDER BY id DESC\(lock ? " FOR UPDATE" : "")
            """)
        try query.binds.append(center, context: .default)
        for bind in binds { try query.binds.append(bind, context: .default) }
        return try await c.all(query, (Int64, String, Int64, Int64, Int, String, String?, String?, String).self, logger: logger).map {
            AttemptRecord(id: $0.0, reference: $0.1, cartID: $0.2, familyID: $0.3, amount: Money(cents: $0.4), state: $0.5, flag: $0.6,
                          action: $0.7, form: (try? JSONDecoder().decode([[String]].self, from: Data($0.8.utf8))) ?? [])
        }
    }
}
