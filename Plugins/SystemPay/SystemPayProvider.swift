import Foundation
import PaymentKit

/// Lyra's "vads" form protocol, spoken by SystemPay, PayZen, Sogecommerce and Scellius (payments.md §1).
public enum SystemPayProvider: PaymentProviderType {
    public static let type = "systempay"
    public static let displayName = "SYSTEMPAY"

    /// Payment page of each platform; `url` overrides them. TEST and PRODUCTION share the address.
    public static let platforms = [
        "systempay": "https://paiement.systempay.fr/vads-payment/",
        "payzen": "https://secure.payzen.eu/vads-payment/",
        "sogecommerce": "https://sogecommerce.societegenerale.eu/vads-payment/",
        "scellius": "https://scelliuspaiement.labanquepostale.fr/vads-payment/",
    ]

    public static func validate(parameters: [String: String], environment: [String: String]) -> [ParameterProblem] {
        var problems = ParameterProblem.unknown(
            in: parameters,
            allowed: ["site_id", "mode", "test_key_env", "production_key_env", "algorithm", "platform", "url", "rest_password_env", "api_url"]
        )
        if let site = parameters["site_id"] {
            if site.count != 8 || !site.allSatisfy(\.isNumber) {
                problems.append(ParameterProblem("site_id", "site_id must be the 8-digit shop identifier given by the bank, found \"\(site)\""))
            }
        } else {
            problems.append(ParameterProblem("site_id", "missing \"site_id\": the 8-digit shop identifier given by the bank"))
        }
        let mode = parameters["mode"] ?? "TEST"
        switch mode {
        case "TEST":
            if let p = ParameterProblem.secret("test_key_env", in: parameters, environment: environment) { problems.append(p) }
        case "PRODUCTION":
            if let p = ParameterProblem.secret("production_key_env", in: parameters, environment: environment) { problems.append(p) }
        default:
            problems.append(ParameterProblem("mode", "mode must be TEST or PRODUCTION, found \"\(mode)\""))
        }
        if let algorithm = parameters["algorithm"], SignatureAlgorithm(rawValue: algorithm) == nil {
            problems.append(ParameterProblem("algorithm", "algorithm must be HMAC-SHA-256 (or SHA-1 for old shops), found \"\(algorithm)\""))
        }
        if let platform = parameters["platform"], platforms[platform] == nil {
            problems.append(ParameterProblem("platform", "unknown platform \"\(platform)\": use \(platforms.keys.sorted().joined(separator: ", ")) or give url"))
        }
        if let problem = ParameterProblem.bankURL("url", in: parameters, testMode: mode == "TEST") { problems.append(problem) }
        // The REST API (optional): lets the portal ask what became of a payment whose IPN never came.
        if parameters["rest_password_env"] != nil {
            if let p = ParameterProblem.secret("rest_password_env", in: parameters, environment: environment) { problems.append(p) }
            if parameters["api_url"] == nil, apiPlatforms[parameters["platform"] ?? "systempay"] == nil {
                problems.append(ParameterProblem("api_url", "give api_url, the address of the platform's REST API (https://api…): it has no default for this platform"))
            }
        } else if parameters["api_url"] != nil {
            problems.append(ParameterProblem("api_url", "api_url is for the REST API: give rest_password_env too, or remove api_url"))
        }
        if let problem = ParameterProblem.bankURL("api_url", in: parameters, testMode: mode == "TEST") { problems.append(problem) }
        return problems
    }

    /// REST API of each platform (Lyra's V4 API: `/api-payment/V4/...`); `api_url` overrides them.
    public static let apiPlatforms = [
        "systempay": "https://api.systempay.fr",
        "payzen": "https://api.payzen.eu",
    ]

    /// TEST (the default) signs with the test key: the bank's test platform accepts test cards, pays nothing.
    /// The shop (site_id): one center per account.
    public static func accountIdentity(parameters: [String: String]) -> String? { parameters["site_id"].map { "\(type) site_id \($0)" } }

    public static func testBank(parameters: [String: String]) -> String? {
        (parameters["mode"] ?? "TEST") == "TEST" ? "mode TEST: the bank's test platform, no real payment" : nil
    }

    public static func make(parameters: [String: String], environment: [String: String]) throws -> any PaymentProvider {
        if let problem = validate(parameters: parameters, environment: environment).first {
            throw ProviderConfigurationError("\(problem.parameter): \(problem.message)")
        }
        let mode = parameters["mode"] ?? "TEST"
        let key = environment[parameters[mode == "TEST" ? "test_key_env" : "production_key_env"]!]!
        let shop = SystemPayShop(
            siteID: parameters["site_id"]!, mode: mode, key: key,
            algorithm: SignatureAlgorithm(rawValue: parameters["algorithm"] ?? "HMAC-SHA-256")!,
            paymentURL: parameters["url"] ?? platforms[parameters["platform"] ?? "systempay"]!
        )
        guard let passwordName = parameters["rest_password_env"] else { return shop }
        return SystemPayRESTShop(shop: shop, password: environment[passwordName]!,
                                 apiURL: parameters["api_url"] ?? apiPlatforms[parameters["platform"] ?? "systempay"]!)
    }
}

public enum SignatureAlgorithm: String, Sendable {
    case hmacSHA256 = "HMAC-SHA-256"
    case sha1 = "SHA-1"
}

/// One center's SystemPay shop.
public struct SystemPayShop: PaymentProvider {
    public let siteID: String
    public let mode: String
    let key: String
    public let algorithm: SignatureAlgorithm
    public let paymentURL: String
    public var displayName: String { SystemPayProvider.displayName }
    /// The payment page lets the buyer in for 10 minutes (payments.md §1.3).
    public var sessionLimit: TimeInterval { 10 * 60 }

    public init(siteID: String, mode: String, key: String, algorithm: SignatureAlgorithm, paymentURL: String) {
        self.siteID = siteID
        self.mode = mode
        self.key = key
        self.algorithm = algorithm
        self.paymentURL = paymentURL
    }

    /// The signature of a set of fields: the values of the `vads_` fields sorted by name (byte order),
    /// joined with "+", then "+" and the key; SHA-1 hex or HMAC-SHA-256 base64 (the key used twice).
    public static func signature(_ fields: [(name: String, value: String)], key: String, algorithm: SignatureAlgorithm) -> String {
        let values = fields.filter { $0.name.hasPrefix("vads_") }
            .sorted { Array($0.name.utf8).lexicographicallyPrecedes(Array($1.name.utf8)) }
            .map(\.value)
        let text = (values + [key]).joined(separator: "+")
        switch algorithm {
        case .sha1: return Digests.sha1Hex(text)
        case .hmacSHA256: return Digests.hmacSHA256Base64(text, key: key)
        }
    }

    static let transDate: DateFormatter = {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMddHHmmss"
        return formatter
    }()

    /// A new `vads_trans_id` for every attempt: 000000-899999 from a counter per shop and UTC day
    /// (payments.md §1.3, §6.3), kept in the provider's references so that every instance agrees.
    public static func transactionID(at date: Date, references: any ProviderReferences) async throws -> String {
        let day = String(transDate.string(from: date).prefix(8))
        let sequence = try await references.next("trans-\(day)")
        return String(format: "%06d", (sequence - 1) % 900_000)
    }

    public func start(_ attempt: PaymentAttempt, services: ProviderServices) async throws -> PaymentStart {
        guard attempt.currency == "EUR" else { throw ProviderConfigurationError("SystemPay is configured for euros only") }
        let transactionID = try await Self.transactionID(at: attempt.createdAt, references: services.references)
        return start(attempt, transactionID: transactionID)
    }

    /// The signed form for an attempt and its transaction number.
    public func start(_ attempt: PaymentAttempt, transactionID: String) -> PaymentStart {
        var fields: [(name: String, value: String)] = [
            ("vads_action_mode", "INTERACTIVE"),
            ("vads_amount", String(attempt.amountCents)),
            ("vads_ctx_mode", mode),
            ("vads_currency", "978"),
            ("vads_cust_email", attempt.customerEmail),
            ("vads_language", "fr"),
            ("vads_order_id", attempt.reference),
            ("vads_page_action", "PAYMENT"),
            ("vads_payment_config", "SINGLE"),
            ("vads_return_mode", "NONE"),
            ("vads_site_id", siteID),
            ("vads_trans_date", Self.transDate.string(from: attempt.createdAt)),
            ("vads_trans_id", transactionID),
            ("vads_url_cancel", attempt.returnURL),
            ("vads_url_check", attempt.notificationURL),
            ("vads_url_error", attempt.returnURL),
            ("vads_url_refused", attempt.returnURL),
            ("vads_url_return", attempt.returnURL),
            ("vads_url_success", attempt.returnURL),
            ("vads_validation_mode", "0"),
            ("vads_version", "V2"),
        ]
        fields.append(("signature", Self.signature(fields, key: key, algorithm: algorithm)))
        let day = String(Self.transDate.string(from: attempt.createdAt).prefix(8))
        return .autoPostForm(action: paymentURL, fields: fields.map { .init($0.name, $0.value) }, providerReference: day + transactionID)
    }

    /// Signature first, over the fields as received; then mode, shop, amount and status.
    public func verify(_ notification: IncomingNotification, services: ProviderServices) async throws -> VerifiedNotification {
        try verify(notification: notification.body)
    }

    /// The notification's form body, verified.
    public func verify(notification body: String) throws -> VerifiedNotification {
        guard let fields = FormURLEncoding.decode(body) else { throw NotificationRejected("the body is not form-urlencoded") }
        // Repeated names: the first occurrence wins.
        var values: [String: String] = [:]
        var unique: [(name: String, value: String)] = []
        for field in fields where values[field.name] == nil {
            values[field.name] = field.value
            unique.append(field)
        }
        guard let received = values["signature"] else { throw NotificationRejected("no signature") }
        let expected = Self.signature(unique, key: key, algorithm: algorithm)
        guard constantTimeEquals(received, expected) else { throw NotificationRejected("signature mismatch") }
        guard values["vads_ctx_mode"] == mode else {
            throw NotificationRejected("mode \(values["vads_ctx_mode"] ?? "-") does not match this shop's \(mode)")
        }
        guard values["vads_site_id"] == siteID else {
            throw NotificationRejected("shop \(values["vads_site_id"] ?? "-") is not this center's \(siteID)")
        }
        guard let status = values["vads_trans_status"], let reference = values["vads_order_id"], !reference.isEmpty else {
            throw NotificationRejected("vads_trans_status or vads_order_id missing")
        }
        // A refund made in Lyra's back office comes back as a notification of the same order, with
        // AUTHORISED or CAPTURED and the refunded amount: money leaving, never money received. The portal
        // records its refunds itself; DEBIT and the field's absence (older notifications) are payments.
        if values["vads_operation_type"] == "CREDIT" {
            throw NotificationNotApplicable("a refund (CREDIT) made at the bank: record it in the portal's refunds (order \(reference), \(values["vads_amount"] ?? "?") cents)")
        }
        let transID = values["vads_trans_id"] ?? ""
        let day = String((values["vads_trans_date"] ?? "").prefix(8))
        let uuid = values["vads_trans_uuid"].flatMap { $0.isEmpty ? nil : $0 }
        let event = uuid ?? "\(siteID)|\(day)|\(transID)"
        return VerifiedNotification(
            idempotencyKey: "\(event)|\(status)",
            attemptReference: reference,
            status: Self.normalise(status),
            amountCents: values["vads_amount"].flatMap(Int.init),
            currency: values["vads_currency"].map { $0 == "978" ? "EUR" : $0 },
            providerStatus: status,
            // The transaction's uuid, as the REST API names it too (older IPNs without one: its date and number).
            providerTransaction: uuid ?? "\(day)\(transID)"
        )
    }

    /// vads_trans_status → our status, every value explicit, unknown ones never paid (payments.md §1.6).
    public static func normalise(_ status: String) -> PaymentStatus {
        switch status {
        case "AUTHORISED", "CAPTURED": .paid
        case "AUTHORISED_TO_VALIDATE", "WAITING_AUTHORISATION", "WAITING_AUTHORISATION_TO_VALIDATE", "INITIAL",
             "UNDER_VERIFICATION", "PRE_AUTHORISED", "WAITING_FOR_PAYMENT", "SUSPENDED", "PENDING", "REFUND_TO_RETRY":
            .pending
        case "REFUSED": .refused
        case "ABANDONED", "NOT_CREATED", "CANCELLED": .cancelled
        case "EXPIRED": .expired
        default: .review  // ACCEPTED, PARTIALLY_AUTHORISED, CAPTURE_FAILED, anything new
        }
    }

    /// Only the status matters to Lyra; the text shows in its back-office logs.
    public func acknowledgement(_ outcome: NotificationOutcome) -> (status: Int, body: String) {
        switch outcome {
        case .handled: (200, "OK-notification handled\n")
        case .rejected: (400, "KO-notification rejected\n")
        case .failed: (503, "KO-temporary failure, please retry\n")
        }
    }
}
