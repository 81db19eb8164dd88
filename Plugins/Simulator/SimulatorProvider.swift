import Foundation
import PaymentKit

/// A stand-in bank served by the portal itself, so that the whole payment flow runs offline in the demo
/// and the tests. It signs like a real bank (HMAC-SHA-256 over its `sim_` fields) and is refused for
/// a center in production mode.
public enum SimulatorProvider: PaymentProviderType {
    public static let type = "simulator"
    public static let displayName = "SIMULATEUR"
    /// The key when `signing_key_env` is not given: the simulator guards nothing real.
    static let defaultKey = "simulator-test-key"

    /// `mode: TEST` only; the optional `signing_key_env` names the key its messages are signed with.
    public static func validate(parameters: [String: String], environment: [String: String]) -> [ParameterProblem] {
        var problems = ParameterProblem.unknown(in: parameters, allowed: ["mode", "signing_key_env"])
        if let mode = parameters["mode"], mode != "TEST" {
            problems.append(ParameterProblem("mode", "the simulator is a stand-in bank: it runs in TEST mode only, found \"\(mode)\""))
        }
        if parameters["signing_key_env"] != nil,
           let problem = ParameterProblem.secret("signing_key_env", in: parameters, environment: environment) {
            problems.append(problem)
        }
        return problems
    }

    public static func testBank(parameters: [String: String]) -> String? {
        "the simulator is a stand-in bank served by the portal itself"
    }

    public static func make(parameters: [String: String], environment: [String: String]) throws -> any PaymentProvider {
        if let problem = validate(parameters: parameters, environment: environment).first {
            throw ProviderConfigurationError("\(problem.parameter): \(problem.message)")
        }
        return SimulatorBank(key: parameters["signing_key_env"].flatMap { environment[$0] } ?? defaultKey)
    }
}

/// The simulated bank of one center.
public struct SimulatorBank: SimulatedBank {
    let key: String
    public var displayName: String { SimulatorProvider.displayName }
    public var sessionLimit: TimeInterval { 10 * 60 }

    public init(key: String) { self.key = key }

    /// HMAC-SHA-256 (base64) of the `sim_` values sorted by name, joined with "+".
    static func signature(_ fields: [(name: String, value: String)], key: String) -> String {
        let values = fields.filter { $0.name.hasPrefix("sim_") }
            .sorted { Array($0.name.utf8).lexicographicallyPrecedes(Array($1.name.utf8)) }
            .map(\.value)
        return Digests.hmacSHA256Base64(values.joined(separator: "+"), key: key)
    }

    public func start(_ attempt: PaymentAttempt, services: ProviderServices) async throws -> PaymentStart {
        let transactionID = String(format: "%06d", try await services.references.next("trans"))
        var fields: [(name: String, value: String)] = [
            ("sim_amount", String(attempt.amountCents)),
            ("sim_currency", attempt.currency),
            ("sim_notify_url", attempt.notificationURL),
            ("sim_reference", attempt.reference),
            ("sim_return_url", attempt.returnURL),
            ("sim_trans_id", transactionID),
        ]
        fields.append(("signature", Self.signature(fields, key: key)))
        return .autoPostForm(action: attempt.portalURL + "/simulateur/paiement", fields: fields.map { .init($0.name, $0.value) },
                             providerReference: transactionID)
    }

    public func acceptForm(_ fields: [(name: String, value: String)]) throws -> SimulatedPayment {
        let values = Dictionary(fields.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
        guard let signature = values["signature"], constantTimeEquals(signature, Self.signature(fields, key: key)) else {
            throw NotificationRejected("the payment form is not signed by this shop")
        }
        guard let reference = values["sim_reference"], let amount = values["sim_amount"].flatMap(Int.init), amount > 0,
              let transaction = values["sim_trans_id"], let notify = values["sim_notify_url"], let back = values["sim_return_url"]
        else { throw NotificationRejected("the payment form is incomplete") }
        return SimulatedPayment(reference: reference, amountCents: amount, transactionID: transaction, notificationURL: notify, returnURL: back)
    }

    public func notification(for payment: SimulatedPayment, outcome: PaymentStatus) -> String {
        var fields: [(name: String, value: String)] = [
            ("sim_amount", String(payment.amountCents)),
            ("sim_currency", "EUR"),
            ("sim_reference", payment.reference),
            ("sim_status", outcome.rawValue),
            ("sim_trans_id", payment.transactionID),
        ]
        fields.append(("signature", Self.signature(fields, key: key)))
        return FormURLEncoding.encode(fields)
    }

    public func verify(_ notification: IncomingNotification, services: ProviderServices) async throws -> VerifiedNotification {
        try verify(notification: notification.body)
    }

    public func verify(notification body: String) throws -> VerifiedNotification {
        guard let fields = FormURLEncoding.decode(body) else { throw NotificationRejected("the body is not form-urlencoded") }
        let values = Dictionary(fields.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
        guard let signature = values["signature"], constantTimeEquals(signature, Self.signature(fields, key: key)) else {
            throw NotificationRejected("signature mismatch")
        }
        guard let reference = values["sim_reference"], let raw = values["sim_status"], let status = PaymentStatus(rawValue: raw),
              let transaction = values["sim_trans_id"] else { throw NotificationRejected("incomplete notification") }
        return VerifiedNotification(
            idempotencyKey: "\(transaction)|\(raw)", attemptReference: reference, status: status,
            amountCents: values["sim_amount"].flatMap(Int.init), currency: values["sim_currency"],
            providerStatus: raw.uppercased(), providerTransaction: transaction
        )
    }

    public func acknowledgement(_ outcome: NotificationOutcome) -> (status: Int, body: String) {
        switch outcome {
        case .handled: (200, "OK\n")
        case .rejected: (400, "KO\n")
        case .failed: (503, "RETRY\n")
        }
    }
}
