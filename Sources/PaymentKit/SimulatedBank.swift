import Foundation

/// A provider that is also its own bank: the portal serves its payment page (demo and tests only).
public protocol SimulatedBank: PaymentProvider {
    /// Checks a posted payment form (it must be this shop's, untampered) and reads what it asks.
    func acceptForm(_ fields: [(name: String, value: String)]) throws -> SimulatedPayment
    /// The signed server notification the bank sends for a payment and its outcome.
    func notification(for payment: SimulatedPayment, outcome: PaymentStatus) -> String
}

/// A payment as the simulated bank received it.
public struct SimulatedPayment: Sendable {
    public var reference: String
    public var amountCents: Int
    public var transactionID: String
    public var notificationURL: String
    public var returnURL: String

    public init(reference: String, amountCents: Int, transactionID: String, notificationURL: String, returnURL: String) {
        self.reference = reference
        self.amountCents = amountCents
        self.transactionID = transactionID
        self.notificationURL = notificationURL
        self.returnURL = returnURL
    }
}
