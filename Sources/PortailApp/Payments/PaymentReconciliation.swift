import Foundation
import Logging
import PaymentKit
import PortailDomain
import PortailStore

/// Asks the bank what became of attempts it said nothing about, for providers that can be asked
/// (`StatusQueryingProvider`), and applies each answer through the same path as a notification: a payment
/// the bank never notified is found, confirmed (or kept as credit) exactly as if it had been.
public struct PaymentReconciliation: Sendable {
    let database: Database
    let paymentProvider: @Sendable (Center) -> (any PaymentProvider)?
    let http: any ProviderHTTPClient
    let now: @Sendable () -> Date
    let logger: Logger

    public init(
        database: Database, paymentProvider: @escaping @Sendable (Center) -> (any PaymentProvider)?,
        http: any ProviderHTTPClient = LiveProviderHTTPClient(), now: @escaping @Sendable () -> Date = { Date() }, logger: Logger
    ) {
        self.database = database
        self.paymentProvider = paymentProvider
        self.http = http
        self.now = now
        self.logger = logger
    }

    /// What one question to the bank changed.
    public struct Change: Sendable, CustomStringConvertible {
        public var reference: String
        /// The bank's own word ("AUTHORISED", "P", "Authorized").
        public var bankStatus: String
        public var result: NotificationResult
        public var description: String { "\(reference): \(bankStatus) -> \(result)" }
    }

    /// Why a center cannot be reconciled.
    public struct Unavailable: Error, CustomStringConvertible {
        public var description: String
    }

    /// Whether the center's bank can be asked at all.
    public func canAsk(_ center: Center) -> Bool { paymentProvider(center)?.capabilities.contains(.status) == true }

    /// Asks about the center's attempts quiet for `quietFor` seconds and created since `since` (at most 50
    /// a call, the longest unasked first; none after `deadline`); returns what the bank's answers changed
    /// (an attempt still open at the bank changes nothing).
    public func reconcile(_ record: CenterRecord, quietFor: TimeInterval, since: Date, deadline: Date = .distantFuture) async throws -> [Change] {
        guard let provider = paymentProvider(record.center) else {
            throw Unavailable(description: "center \(record.center.code) has no usable online payment here: no payment block, a test bank "
                                  + "not allowed (PORTAIL_ALLOW_TEST_PAYMENTS), or a secret missing from the environment (the log says which)")
        }
        guard let asking = provider as? any StatusQueryingProvider else {
            throw Unavailable(description: "\(provider.displayName) cannot be asked about a payment: only its notifications tell")
        }
        let services = ProviderServices.portal(database: database, center: record, provider: provider, http: http, now: now)
        let attempts = try await database.withCenter(record.id) { c in
            try await PaymentRepository.claimUnanswered(c, center: record.id, provider: provider.displayName, quietFor: quietFor,
                                                        since: since, logger: logger)
        }
        var changes: [Change] = []
        for attempt in attempts where Date() < deadline {
            let identity = AttemptIdentity(reference: attempt.reference, amountCents: attempt.amount.cents, currency: "EUR",
                                           createdAt: attempt.createdAt, providerReference: attempt.providerReference)
            let answer: VerifiedNotification?
            do {
                answer = try await asking.status(of: identity, services: services)
            } catch {
                logger.warning("center \(record.center.code): \(provider.displayName) could not say what became of \(attempt.reference): \(error)")
                continue
            }
            let result: NotificationResult? = try await database.withCenter(record.id) { c in
                guard let answer else {
                    try await PaymentRepository.markChecked(c, center: record.id, attempt: attempt.id, final: false, logger: logger)
                    return nil
                }
                let input = NotificationInput(
                    idempotencyKey: answer.idempotencyKey, attemptReference: attempt.reference, status: answer.status.rawValue,
                    amountCents: answer.amountCents, currency: answer.currency, providerStatus: answer.providerStatus,
                    providerTransaction: answer.providerTransaction, providerName: provider.displayName,
                    raw: "status of \(attempt.reference): \(answer.providerStatus)", source: "reconciliation"
                )
                let result = try await PaymentRepository.apply(input, center: record.center, centerID: record.id, c, logger: logger)
                try await PaymentRepository.markChecked(c, center: record.id, attempt: attempt.id, final: answer.status != .pending, logger: logger)
                return result
            }
            if let result, let answer {
                logger.info("center \(record.center.code): reconciliation of \(attempt.reference): \(answer.providerStatus) -> \(result)")
                changes.append(Change(reference: attempt.reference, bankStatus: answer.providerStatus, result: result))
            }
        }
        return changes
    }
}
