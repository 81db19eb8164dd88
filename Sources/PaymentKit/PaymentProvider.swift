import Foundation

/// A payment provider type (one bank protocol), as a center's YAML names it under `payment.type`.
public protocol PaymentProviderType: Sendable {
    /// The `type` written in a center's YAML: "systempay", "simulator".
    static var type: String { get }
    /// Human name for pages and payments: "SYSTEMPAY".
    static var displayName: String { get }
    /// Checks the parameters of a center's `payment:` block; `environment` resolves the `*_env` secrets.
    static func validate(parameters: [String: String], environment: [String: String]) -> [ParameterProblem]
    /// A provider configured for one center (its shop, its keys).
    static func make(parameters: [String: String], environment: [String: String]) throws -> any PaymentProvider
    /// Why these parameters take no real money (a simulator, a bank's test platform), or nil: `portail serve`
    /// refuses test banks unless the operator allows them, so that parents never pay a pretend bank.
    static func testBank(parameters: [String: String]) -> String?
    /// The bank account these parameters name (a shop, a terminal, a régie, an association), or nil when
    /// the parameters do not show it. Two centers never share one: the bank notifies one address per
    /// account, so the other center would never hear of its payments.
    static func accountIdentity(parameters: [String: String]) -> String?
}

extension PaymentProviderType {
    public static func accountIdentity(parameters: [String: String]) -> String? { nil }
}

/// One center's payment provider: starts payments and authenticates the bank's notifications.
///
/// A provider never opens sockets nor keeps state of its own: the core hands it `ProviderServices`, an HTTP
/// client (pointed at a fake bank in tests) and a small key-value store for its own references (transaction
/// numbers, session ids, tokens), kept per center and provider in PostgreSQL.
public protocol PaymentProvider: Sendable {
    var displayName: String { get }
    /// How long the bank keeps a started payment open (SystemPay's payment page: 10 minutes). An attempt
    /// without news for that long is dead: its cart is payable again, and expires at its hold time, so no
    /// started payment holds places past the center's hold time by more than this.
    var sessionLimit: TimeInterval { get }
    /// What the browser must do to pay `attempt`: post a form to the bank, or follow a redirect. May call
    /// the bank (to open a session) through `services.http`; runs outside any database transaction.
    func start(_ attempt: PaymentAttempt, services: ProviderServices) async throws -> PaymentStart
    /// Authenticates a server notification and normalises it; throws `NotificationRejected` before any side
    /// effect when it is not authentic or not for this center's account, `NotificationNotApplicable` when it
    /// is authentic but about nothing the portal tracks (another event type). May ask the bank (PayFiP's
    /// notification carries no signature: the answer to a call back is what counts).
    func verify(_ notification: IncomingNotification, services: ProviderServices) async throws -> VerifiedNotification
    /// The exact answer the bank expects for a notification that was handled (or not).
    func acknowledgement(_ outcome: NotificationOutcome) -> (status: Int, body: String)
}

/// A provider that can be asked what became of an attempt (reconciliation, when no notification came).
public protocol StatusQueryingProvider: PaymentProvider {
    /// The bank's final word on `attempt`, normalised like a notification, or nil while it has none yet
    /// (the payment page is still open, or the bank never saw the attempt and it is not dead yet).
    func status(of attempt: AttemptIdentity, services: ProviderServices) async throws -> VerifiedNotification?
}

/// A provider that can give money back through the bank.
public protocol RefundingProvider: PaymentProvider {
    func refund(_ request: RefundRequest, services: ProviderServices) async throws -> RefundResult
}

/// What a provider can do beyond starting and verifying: asked by the reconciliation (status) and the
/// staff's refunds (refund).
public struct ProviderCapabilities: OptionSet, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    public static let status = ProviderCapabilities(rawValue: 1)
    public static let refund = ProviderCapabilities(rawValue: 2)
}

extension PaymentProvider {
    public var capabilities: ProviderCapabilities {
        var capabilities: ProviderCapabilities = []
        if self is any StatusQueryingProvider { capabilities.insert(.status) }
        if self is any RefundingProvider { capabilities.insert(.refund) }
        return capabilities
    }
}

/// An attempt as a status query or a refund names it.
public struct AttemptIdentity: Sendable {
    public var reference: String
    public var amountCents: Int
    public var currency: String
    public var createdAt: Date
    /// What `PaymentStart.providerReference` was (a session id, a transaction number), if anything.
    public var providerReference: String?

    public init(reference: String, amountCents: Int, currency: String, createdAt: Date, providerReference: String?) {
        self.reference = reference
        self.amountCents = amountCents
        self.currency = currency
        self.createdAt = createdAt
        self.providerReference = providerReference
    }
}

public struct RefundRequest: Sendable {
    public var attempt: AttemptIdentity
    /// The bank's identifier of the payment to refund (`VerifiedNotification.providerTransaction`).
    public var providerTransaction: String
    public var amountCents: Int
    /// The portal's own number for this refund ("OPI-R00007"), recorded before the bank is asked: the
    /// idempotency key to give the bank, so that asking again for the same refund never refunds twice,
    /// and two refunds of the same amount are two refunds.
    public var refundReference: String
    public init(attempt: AttemptIdentity, providerTransaction: String, amountCents: Int, refundReference: String) {
        self.attempt = attempt
        self.providerTransaction = providerTransaction
        self.amountCents = amountCents
        self.refundReference = refundReference
    }
}

public struct RefundResult: Sendable, Equatable {
    /// The bank's identifier of the refund.
    public var providerRefund: String
    /// Whether the bank says the money is on its way back (false: accepted, still processing).
    public var completed: Bool
    public init(providerRefund: String, completed: Bool) {
        self.providerRefund = providerRefund
        self.completed = completed
    }
}

/// What the portal asks a provider to collect.
public struct PaymentAttempt: Sendable {
    /// Our reference, echoed back by the bank ("OPI-12-3").
    public var reference: String
    public var amountCents: Int
    /// ISO 4217 code: "EUR".
    public var currency: String
    /// What is paid for, for the bank's page and statement: "Réservations – Les Petits Loups".
    public var label: String
    /// When the form is rendered, in UTC.
    public var createdAt: Date
    public var customerEmail: String
    /// Where the bank posts its server notification.
    public var notificationURL: String
    /// Where the browser comes back.
    public var returnURL: String
    /// The center's portal address ("https://portail.example.org" or "http://127.0.0.1:8080/opio").
    public var portalURL: String

    public init(reference: String, amountCents: Int, currency: String, label: String, createdAt: Date,
                customerEmail: String, notificationURL: String, returnURL: String, portalURL: String) {
        self.portalURL = portalURL
        self.reference = reference
        self.amountCents = amountCents
        self.currency = currency
        self.label = label
        self.createdAt = createdAt
        self.customerEmail = customerEmail
        self.notificationURL = notificationURL
        self.returnURL = returnURL
    }
}

/// How the browser goes to the bank, and the bank's own reference for the payment when it gave one.
public struct PaymentStart: Sendable, Equatable {
    public var step: BrowserStep
    /// The provider's identifier of this payment (a Stripe session, a PayFiP idOp, a SystemPay
    /// transaction number), kept on the attempt for support and status queries.
    public var providerReference: String?

    public init(_ step: BrowserStep, providerReference: String? = nil) {
        self.step = step
        self.providerReference = providerReference
    }

    public static func autoPostForm(action: String, fields: [Field], providerReference: String? = nil) -> PaymentStart {
        PaymentStart(.autoPostForm(action: action, fields: fields), providerReference: providerReference)
    }

    public static func redirect(_ url: String, providerReference: String? = nil) -> PaymentStart {
        PaymentStart(.redirect(url), providerReference: providerReference)
    }

    public typealias Field = BrowserStep.Field
}

public enum BrowserStep: Sendable, Equatable {
    /// An HTML form posted to the bank, with its fields in order.
    case autoPostForm(action: String, fields: [Field])
    case redirect(String)

    public struct Field: Sendable, Equatable {
        public var name: String
        public var value: String
        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }
}

/// The outcome a notification reports, normalised across banks.
public enum PaymentStatus: String, Sendable, Codable {
    case paid, pending, refused, cancelled, expired
    /// Anything the portal cannot act on automatically (partial authorisation, capture failure ...).
    case review
}

/// An authenticated notification.
public struct VerifiedNotification: Sendable, Codable {
    /// Unique per bank event: the same event delivered twice has the same key.
    public var idempotencyKey: String
    /// Our attempt reference, as the bank echoed it.
    public var attemptReference: String
    public var status: PaymentStatus
    public var amountCents: Int?
    public var currency: String?
    /// The bank's own words for the status ("AUTHORISED").
    public var providerStatus: String
    /// The bank's transaction identifier, for support.
    public var providerTransaction: String

    public init(idempotencyKey: String, attemptReference: String, status: PaymentStatus, amountCents: Int?, currency: String?,
                providerStatus: String, providerTransaction: String) {
        self.idempotencyKey = idempotencyKey
        self.attemptReference = attemptReference
        self.status = status
        self.amountCents = amountCents
        self.currency = currency
        self.providerStatus = providerStatus
        self.providerTransaction = providerTransaction
    }
}

/// An authentic notification about nothing the portal tracks (another kind of event): acknowledged, not applied.
public struct NotificationNotApplicable: Error, Sendable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// Why a notification was refused before anything was done.
public struct NotificationRejected: Error, Sendable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// What the portal did with a notification, for the acknowledgement.
public enum NotificationOutcome: Sendable {
    /// Stored (and acted upon), or recognised as a duplicate: the bank must not retry.
    case handled
    /// Not authentic, or not for this shop.
    case rejected
    /// Could not be stored now (database down): the bank should retry.
    case failed
}

/// A problem with one parameter of a center's payment configuration.
public struct ParameterProblem: Sendable, Hashable {
    public var parameter: String
    public var message: String
    /// The file is right but the environment lacks the secret it names: fatal where the center is
    /// served, a warning when a file is only checked.
    public var isMissingSecret: Bool
    public init(_ parameter: String, _ message: String, isMissingSecret: Bool = false) {
        self.parameter = parameter
        self.message = message
        self.isMissingSecret = isMissingSecret
    }
}

/// The configuration could not make a provider (it is validated first, so this names what changed).
public struct ProviderConfigurationError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The provider types this build knows, keyed by their YAML `type`.
public struct PaymentProviderRegistry: Sendable {
    public private(set) var types: [String: any PaymentProviderType.Type] = [:]

    public init() {}

    public mutating func register(_ provider: any PaymentProviderType.Type) {
        types[provider.type] = provider
    }

    public subscript(type: String) -> (any PaymentProviderType.Type)? { types[type] }

    /// Why a center's `payment:` block takes no real money, or nil (a real bank, or a type this build lacks).
    public func testBank(type: String, parameters: [String: String]) -> String? {
        types[type]?.testBank(parameters: parameters)
    }
}

extension ParameterProblem {
    /// Checks that the parameter names an environment variable that is set and not empty.
    public static func secret(_ parameter: String, in parameters: [String: String], environment: [String: String]) -> ParameterProblem? {
        guard let name = parameters[parameter] else {
            return ParameterProblem(parameter, "missing \"\(parameter)\": name the environment variable that holds this secret")
        }
        if let problem = secretName(name, parameter: parameter) { return problem }
        guard let value = environment[name], !value.isEmpty else {
            return ParameterProblem(parameter, "the environment variable \(name) is not set: export it before starting the portal", isMissingSecret: true)
        }
        return nil
    }

    /// Checks the name a `*_env` parameter gives: capitals, digits and underscores, and never one of the
    /// portal's own variables (`PORTAIL_*`, PostgreSQL's `PG*`) nor the system's: a center file names a bank
    /// secret, and the provider sends it to the bank's address, which the file also gives.
    public static func secretName(_ name: String, parameter: String) -> ParameterProblem? {
        let allowed = name.utf8.allSatisfy { (65...90).contains($0) || (48...57).contains($0) || $0 == 95 }
        guard allowed, let first = name.utf8.first, (65...90).contains(first), name.count <= 100 else {
            return ParameterProblem(parameter, "\(parameter) must name an environment variable in capitals, digits and underscores (like OPIO_STRIPE_SECRET_KEY), found \"\(name.prefix(100))\"")
        }
        let reserved = ["PORTAIL_", "PG"]
        let system: Set<String> = ["PATH", "HOME", "USER", "SHELL", "PWD", "HOSTNAME", "DATABASE_URL", "LD_LIBRARY_PATH", "LD_PRELOAD"]
        if reserved.contains(where: { name.hasPrefix($0) }) || system.contains(name) {
            return ParameterProblem(parameter, "\(parameter) names \(name), a variable of the portal or the system, not a bank secret: give the secret a name of its own (like OPIO_STRIPE_SECRET_KEY)")
        }
        return nil
    }

    /// Checks a bank address given in the configuration (`url`, `api_url` ...): https, or plain http to this
    /// machine's loopback when the bank is a test one (a fake bank on a local port, for tests and the demo).
    public static func bankURL(_ parameter: String, in parameters: [String: String], testMode: Bool) -> ParameterProblem? {
        guard let value = parameters[parameter] else { return nil }
        if value.hasPrefix("https://"), URL(string: value)?.host != nil { return nil }
        if testMode, let url = URL(string: value), url.scheme == "http", ["127.0.0.1", "localhost", "::1"].contains(url.host ?? "") { return nil }
        return ParameterProblem(parameter, testMode
            ? "\(parameter) must be an https:// address (or http://127.0.0.1 for a local test bank), found \"\(value)\""
            : "\(parameter) must be an https:// address, found \"\(value)\"")
    }

    /// Reports the parameters that the provider does not know.
    public static func unknown(in parameters: [String: String], allowed: Set<String>) -> [ParameterProblem] {
        parameters.keys.filter { !allowed.contains($0) }.sorted().map {
            ParameterProblem($0, "unknown parameter \"\($0)\"; allowed: \(allowed.sorted().joined(separator: ", "))")
        }
    }
}


/// The bank answered that it will not make this refund (nothing was refunded), as opposed to a call that
/// failed or timed out, after which the bank may or may not have refunded.
public struct RefundRefused: Error, Sendable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}
