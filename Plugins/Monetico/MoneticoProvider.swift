import Foundation
import PaymentKit

/// Monetico Paiement (CIC, Crédit Mutuel), form protocol 3.0: the browser posts a MAC-sealed form to the
/// bank's payment page; the bank posts the sealed result to the TPE's "CGI2" address (payments.md §5.1).
public enum MoneticoProvider: PaymentProviderType {
    public static let type = "monetico"
    public static let displayName = "MONETICO"

    public static let productionURL = "https://p.monetico-services.com/paiement.cgi"
    public static let testURL = "https://p.monetico-services.com/test/paiement.cgi"

    static let allowed: Set<String> = ["tpe", "societe", "key_env", "mode", "url"]

    public static func validate(parameters: [String: String], environment: [String: String]) -> [ParameterProblem] {
        var problems = ParameterProblem.unknown(in: parameters, allowed: allowed)
        if let tpe = parameters["tpe"] {
            if tpe.count != 7 || !tpe.allSatisfy(\.isASCII) || !tpe.allSatisfy(\.isNumber) {
                problems.append(ParameterProblem("tpe", "tpe must be the 7-digit terminal number (TPE) given by the bank, found \"\(tpe)\""))
            }
        } else {
            problems.append(ParameterProblem("tpe", "missing \"tpe\": the 7-digit terminal number (TPE) given by the bank"))
        }
        if let societe = parameters["societe"] {
            if societe.isEmpty || !societe.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) {
                problems.append(ParameterProblem("societe", "societe must be the company code given by the bank (letters, digits, - or _), found \"\(societe)\""))
            }
        } else {
            problems.append(ParameterProblem("societe", "missing \"societe\": the company code (code société) given by the bank"))
        }
        let mode = parameters["mode"] ?? "TEST"
        if mode != "TEST" && mode != "PRODUCTION" {
            problems.append(ParameterProblem("mode", "mode must be TEST or PRODUCTION, found \"\(mode)\""))
        }
        if let problem = ParameterProblem.secret("key_env", in: parameters, environment: environment) {
            problems.append(problem)
        } else if MoneticoTerminal.usableKey(environment[parameters["key_env"]!]!) == nil {
            problems.append(ParameterProblem("key_env", "\(parameters["key_env"]!) must hold the 40-character security key of the TPE "
                + "(hexadecimal, as the bank's back office exports it)"))
        }
        if let problem = ParameterProblem.bankURL("url", in: parameters, testMode: mode == "TEST") { problems.append(problem) }
        return problems
    }

    /// The terminal (tpe): one center per account.
    public static func accountIdentity(parameters: [String: String]) -> String? { parameters["tpe"].map { "\(type) tpe \($0)" } }

    public static func testBank(parameters: [String: String]) -> String? {
        (parameters["mode"] ?? "TEST") == "TEST" ? "mode TEST: Monetico's test server, no real payment" : nil
    }

    public static func make(parameters: [String: String], environment: [String: String]) throws -> any PaymentProvider {
        if let problem = validate(parameters: parameters, environment: environment).first {
            throw ProviderConfigurationError("\(problem.parameter): \(problem.message)")
        }
        let mode = parameters["mode"] ?? "TEST"
        return MoneticoTerminal(
            tpe: parameters["tpe"]!, societe: parameters["societe"]!, mode: mode,
            key: MoneticoTerminal.usableKey(environment[parameters["key_env"]!]!)!,
            paymentURL: parameters["url"] ?? (mode == "TEST" ? testURL : productionURL)
        )
    }
}

/// One center's Monetico terminal (TPE).
public struct MoneticoTerminal: PaymentProvider {
    public let tpe: String
    public let societe: String
    public let mode: String
    /// The usable key: the bytes of the 40-character key, after the kit's adjustment.
    let key: [UInt8]
    public let paymentURL: String
    public var displayName: String { MoneticoProvider.displayName }

    /// How long the payment page is open is not stated in our reference [inferred]: 20 minutes, as the
    /// reference advises for banks that do not say (payments.md §6.1, point 8).
    public var sessionLimit: TimeInterval { 20 * 60 }

    public init(tpe: String, societe: String, mode: String, key: [UInt8], paymentURL: String) {
        self.tpe = tpe
        self.societe = societe
        self.mode = mode
        self.key = key
        self.paymentURL = paymentURL
    }

    /// The key as the MAC uses it (the official kit's `_getUsableKey`): hex-decoded, after a legacy
    /// adjustment of the last two characters. Nil when it is not a 40-character key.
    public static func usableKey(_ key: String) -> [UInt8]? {
        let chars = Array(key.trimmingCharacters(in: .whitespacesAndNewlines).utf8)
        guard chars.count == 40 else { return nil }
        var head = Array(chars[0..<38])
        let c38 = chars[38], c39 = chars[39]
        if c38 > 70 && c38 < 97 {
            head += [c38 - 23, c39]
        } else if c39 == UInt8(ascii: "M") {
            head += [c38, UInt8(ascii: "0")]
        } else {
            head += [c38, c39]
        }
        return Digests.bytes(hex: String(decoding: head, as: UTF8.self))
    }

    /// The MAC (sceau) of a set of fields: every field but `MAC`, sorted by name in byte order, as
    /// `name=value` joined by `*`; HMAC-SHA-1 with the usable key, uppercase hex. The sorted name=value form
    /// is the one the published vectors (MO-1, MO-2) match; older kits seal a fixed list of values instead
    /// [inferred: the reference notes the two variants conflict].
    public static func mac(_ fields: [(name: String, value: String)], key: [UInt8]) -> String {
        let text = fields.filter { $0.name != "MAC" }
            .sorted { Array($0.name.utf8).lexicographicallyPrecedes(Array($1.name.utf8)) }
            .map { "\($0.name)=\($0.value)" }
            .joined(separator: "*")
        return Digests.hmacSHA1Hex(text, key: key).uppercased()
    }

    /// "12.50EUR": the decimal amount then the ISO currency, no space.
    public static func montant(cents: Int, currency: String) -> String {
        String(format: "%d.%02d", cents / 100, cents % 100) + currency.uppercased()
    }

    /// "191.52EUR" → (19152, "EUR"); "50EUR" → (5000, "EUR"); nil for anything else.
    public static func parseMontant(_ text: String) -> (cents: Int, currency: String)? {
        let bytes = Array(text.utf8)
        guard bytes.count > 3 else { return nil }
        let currency = String(decoding: bytes.suffix(3), as: UTF8.self)
        guard currency.allSatisfy({ $0.isASCII && $0.isUppercase }) else { return nil }
        let number = String(decoding: bytes.dropLast(3), as: UTF8.self)
        let parts = number.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        func digits(_ s: Substring) -> Bool { !s.isEmpty && s.allSatisfy { $0.isASCII && $0.isNumber } }
        guard digits(parts[0]), parts[0].count <= 9, let units = Int(parts[0]) else { return nil }
        var cents = units * 100
        if parts.count == 2 {
            guard digits(parts[1]), parts[1].count <= 2, let fraction = Int(parts[1]) else { return nil }
            cents += parts[1].count == 1 ? fraction * 10 : fraction
        }
        return (cents, currency)
    }

    /// The form's date, "dd/MM/yyyy:HH:mm:ss", in French time: the kit writes the shop's local time
    /// [inferred: the reference gives the format, not the zone].
    static let formDate: DateFormatter = {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "Europe/Paris")
        formatter.dateFormat = "dd/MM/yyyy:HH:mm:ss"
        return formatter
    }()

    // MARK: Start

    /// The bank's `reference` for an attempt: unique per TPE, at most 12 letters and digits (ours,
    /// "OPI-12-3", has dashes and can grow): the center's prefix, then a number from a counter kept in the
    /// provider's references, with the mapping both ways. The same attempt asked again keeps its reference.
    public static func reference(for attempt: String, references: any ProviderReferences) async throws -> String {
        if let known = try await references.value(for: "attempt:\(attempt)") { return known }
        let prefix = String(attempt.prefix { $0 != "-" }.filter { $0.isASCII && ($0.isLetter || $0.isNumber) }.uppercased().prefix(3))
        let number = try await references.next("reference")
        let digits = 12 - prefix.count
        let reference = prefix + String(format: "%0\(digits)d", number % Int(pow(10.0, Double(digits))))
        try await references.set(attempt, for: "reference:\(reference)")
        try await references.set(reference, for: "attempt:\(attempt)")
        return reference
    }

    public func start(_ attempt: PaymentAttempt, services: ProviderServices) async throws -> PaymentStart {
        guard attempt.currency == "EUR" else { throw ProviderConfigurationError("Monetico is configured for euros only") }
        let reference = try await Self.reference(for: attempt.reference, references: services.references)
        return start(attempt, reference: reference)
    }

    /// The sealed form for an attempt and its bank reference.
    public func start(_ attempt: PaymentAttempt, reference: String) -> PaymentStart {
        var fields: [(name: String, value: String)] = [
            ("TPE", tpe),
            ("contexte_commande", Self.orderContext(attempt)),
            ("date", Self.formDate.string(from: attempt.createdAt)),
            ("lgue", "FR"),
            ("mail", attempt.customerEmail),
            ("montant", Self.montant(cents: attempt.amountCents, currency: attempt.currency)),
            ("reference", reference),
            ("societe", societe),
            // Our own reference, sealed and echoed in the notification: the attempt is found even if the
            // mapping kept in the provider's references were lost.
            ("texte-libre", attempt.reference),
            ("url_retour_err", attempt.returnURL),
            ("url_retour_ok", attempt.returnURL),
            ("version", "3.0"),
        ]
        fields.append(("MAC", Self.mac(fields, key: key)))
        return .autoPostForm(action: paymentURL, fields: fields.map { .init($0.name, $0.value) }, providerReference: reference)
    }

    /// `contexte_commande`: base64 of a UTF-8 JSON order context, needed by 3-D Secure 2 in version 3.0.
    /// The portal knows the payer's e-mail but not a postal address, so the billing block carries the
    /// e-mail and the country only [inferred: the bank may ask for the address lines; PaymentAttempt would
    /// then need them].
    static func orderContext(_ attempt: PaymentAttempt) -> String {
        var billing: [String: Any] = ["country": "FR"]
        if !attempt.customerEmail.isEmpty { billing["email"] = attempt.customerEmail }
        let context: [String: Any] = ["billing": billing]
        let data = (try? JSONSerialization.data(withJSONObject: context, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return data.base64EncodedString()
    }

    // MARK: Notification

    public func verify(_ notification: IncomingNotification, services: ProviderServices) async throws -> VerifiedNotification {
        let verified = try verify(notification: notification.body.isEmpty && notification.method == "GET"
                                      ? FormURLEncoding.encode(notification.query) : notification.body)
        // The attempt: from the mapping kept when the form was made, else the sealed texte-libre.
        if let attempt = try await services.references.value(for: "reference:\(verified.providerTransaction)") {
            var mapped = verified
            mapped.attemptReference = attempt
            return mapped
        }
        return verified
    }

    /// The CGI2 body, verified: MAC over the fields as received, then the TPE, then the status.
    /// `attemptReference` is texte-libre (or the bank's reference when empty).
    public func verify(notification body: String) throws -> VerifiedNotification {
        guard let fields = FormURLEncoding.decode(body) else { throw NotificationRejected("the body is not form-urlencoded") }
        var values: [String: String] = [:]
        var unique: [(name: String, value: String)] = []
        for field in fields where values[field.name] == nil {  // repeated names: the first occurrence wins
            values[field.name] = field.value
            unique.append(field)
        }
        guard let received = values["MAC"] else { throw NotificationRejected("no MAC") }
        guard constantTimeEquals(received.uppercased(), Self.mac(unique, key: key)) else { throw NotificationRejected("MAC mismatch") }
        guard values["TPE"] == tpe else { throw NotificationRejected("TPE \(values["TPE"] ?? "-") is not this center's \(tpe)") }
        guard let code = values["code-retour"], let reference = values["reference"], !reference.isEmpty else {
            throw NotificationRejected("code-retour or reference missing")
        }
        var status = Self.normalise(code)
        // A test server's payment never pays a production shop (the key may be the same on both servers);
        // real money announced to a shop in TEST goes to a person.
        if code == "payetest" && mode == "PRODUCTION" { throw NotificationRejected("a test-server payment (payetest) for a PRODUCTION terminal") }
        if code == "paiement" && mode == "TEST" { status = .review }
        let amount = values["montant"].flatMap(Self.parseMontant)
        if status == .paid && amount == nil { status = .review }
        let free = values["texte-libre"] ?? ""
        return VerifiedNotification(
            idempotencyKey: "\(reference)|\(code)", attemptReference: free.isEmpty ? reference : free, status: status,
            amountCents: amount?.cents, currency: amount?.currency, providerStatus: code, providerTransaction: reference
        )
    }

    /// code-retour → our status, every value explicit, unknown ones never paid.
    public static func normalise(_ code: String) -> PaymentStatus {
        switch code {
        case "payetest", "paiement": .paid
        // The bank's one word for a refused or cancelled payment.
        case "Annulation": .refused
        // Instalments (paiement_pf2..4, Annulation_pf2..4): the portal never asks for them.
        default: .review
        }
    }

    /// The receipt the bank reads (kit constants `version=2\ncdr=%s` with "0", or "1\n"): without
    /// `cdr=0` it retries, and reports the CGI2 address as failing.
    public func acknowledgement(_ outcome: NotificationOutcome) -> (status: Int, body: String) {
        switch outcome {
        case .handled: (200, "version=2\ncdr=0")
        case .rejected: (400, "version=2\ncdr=1\n")
        case .failed: (503, "version=2\ncdr=1\n")
        }
    }
}
