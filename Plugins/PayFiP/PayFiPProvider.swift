import Foundation
import PaymentKit

/// PayFiP (DGFiP), régie "web service" flavour (payments.md §2): a SOAP call opens the payment (`idOp`),
/// the browser goes to PayFiP's page, and PayFiP's unsigned notification is checked by asking PayFiP back.
public enum PayFiPProvider: PaymentProviderType {
    public static let type = "payfip"
    public static let displayName = "PAYFIP"
    public static let defaultServiceURL = "https://www.payfip.gouv.fr/tpa/services/securite"
    public static let defaultPaymentURL = "https://www.payfip.gouv.fr/tpa/paiementws.web"
    static let allowed: Set<String> = ["numcli", "saisie", "exercice", "service_url", "payment_url"]

    public static func validate(parameters: [String: String], environment: [String: String]) -> [ParameterProblem] {
        var problems = ParameterProblem.unknown(in: parameters, allowed: allowed)
        if let numcli = parameters["numcli"] {
            if numcli.count != 6 || !numcli.allSatisfy({ $0.isASCII && $0.isNumber }) {
                problems.append(ParameterProblem("numcli", "numcli must be the 6-digit client number given by the DGFiP, found \"\(numcli)\""))
            }
        } else {
            problems.append(ParameterProblem("numcli", "missing \"numcli\": the 6-digit client number given by the DGFiP"))
        }
        if let saisie = parameters["saisie"] {
            if !["T", "X", "W"].contains(saisie) {
                problems.append(ParameterProblem("saisie", "saisie must be T (test), X (activation) or W (production), found \"\(saisie)\""))
            }
        } else {
            problems.append(ParameterProblem("saisie", "missing \"saisie\": T (test), X (activation) or W (production)"))
        }
        if let exercice = parameters["exercice"], exercice.count != 4 || !exercice.allSatisfy({ $0.isASCII && $0.isNumber }) {
            problems.append(ParameterProblem("exercice", "exercice must be a year of 4 digits (or left out: the year of the payment), found \"\(exercice)\""))
        }
        // https with a host; plain http only to this machine's loopback, and only in test or activation mode.
        let testMode = parameters["saisie"] == "T" || parameters["saisie"] == "X"
        for name in ["service_url", "payment_url"] {
            if let problem = ParameterProblem.bankURL(name, in: parameters, testMode: testMode) { problems.append(problem) }
        }
        return problems
    }

    /// The régie (numcli): one center per account.
    public static func accountIdentity(parameters: [String: String]) -> String? { parameters["numcli"].map { "\(type) numcli \($0)" } }

    public static func testBank(parameters: [String: String]) -> String? {
        switch parameters["saisie"] {
        case "T": "saisie T: PayFiP's test mode, no real payment"
        case "X": "saisie X: PayFiP's activation mode, to validate the set-up with the DGFiP, not for parents"
        default: nil
        }
    }

    public static func make(parameters: [String: String], environment: [String: String]) throws -> any PaymentProvider {
        if let problem = validate(parameters: parameters, environment: environment).first {
            throw ProviderConfigurationError("\(problem.parameter): \(problem.message)")
        }
        return PayFiPRegie(numcli: parameters["numcli"]!, saisie: parameters["saisie"]!, exercice: parameters["exercice"],
                           serviceURL: parameters["service_url"] ?? defaultServiceURL,
                           paymentURL: parameters["payment_url"] ?? defaultPaymentURL)
    }

    /// `objet` as PayFiP takes it: `[A-Za-z0-9 ]`, at most 100 characters (eopayment's `normalize_objet`):
    /// accents stripped, `'` and `-` become spaces, anything else outside the alphabet dropped, spaces collapsed.
    public static func normaliseObjet(_ text: String) -> String {
        let decomposed = text.decomposedStringWithCompatibilityMapping
        var kept = ""
        for scalar in decomposed.unicodeScalars {
            switch scalar {
            case "a"..."z", "A"..."Z", "0"..."9": kept.unicodeScalars.append(scalar)
            case " ", "'", "-", "\t", "\n": kept.append(" ")
            default: continue  // combining accents, punctuation, symbols
            }
        }
        let collapsed = kept.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
        return String(collapsed.prefix(100)).trimmingCharacters(in: .whitespaces)
    }

    /// `refdet` for an attempt reference: 6 to 30 letters and digits [inferred, payments.md §2.2: `ABCD` is
    /// refused with R3, `ABCDEF` passes]. Letters and digits are kept and every other character becomes "X",
    /// so that "OPI-1-23" and "OPI-12-3" stay apart ("OPIX1X23", "OPIX12X3"); short ones are padded with "X",
    /// long ones keep their start and end with a digest of the whole between.
    public static func refdet(for reference: String) -> String {
        var out = ""
        for scalar in reference.unicodeScalars {
            switch scalar {
            case "a"..."z", "A"..."Z", "0"..."9": out.unicodeScalars.append(scalar)
            default: out.append("X")
            }
        }
        while out.count < 6 { out.append("X") }
        if out.count > 30 {
            out = String(out.prefix(14)) + String(Digests.sha1Hex(reference).prefix(8)).uppercased() + String(out.suffix(8))
        }
        return out
    }

    /// Whether `refdet` is one PayFiP accepts (6 to 30 ASCII letters and digits).
    public static func isValidRefdet(_ refdet: String) -> Bool {
        (6...30).contains(refdet.count) && refdet.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0)
        }
    }
}

/// One center's régie at PayFiP.
public struct PayFiPRegie: StatusQueryingProvider {
    public let numcli: String
    public let saisie: String
    /// The `exer` sent, or nil for the year of each attempt in Europe/Paris.
    public let exercice: String?
    public let serviceURL: String
    public let paymentURL: String
    public var displayName: String { PayFiPProvider.displayName }
    /// "idop are valid for 15 minutes after their generation" (eopayment, payments.md §2.3).
    public var sessionLimit: TimeInterval { 15 * 60 }
    /// eopayment's rule: P5 (no result yet) before 20 minutes is still waiting, after it the payment never happened.
    public static let expiryThreshold: TimeInterval = 20 * 60

    public init(numcli: String, saisie: String, exercice: String? = nil,
                serviceURL: String = PayFiPProvider.defaultServiceURL, paymentURL: String = PayFiPProvider.defaultPaymentURL) {
        self.numcli = numcli
        self.saisie = saisie
        self.exercice = exercice
        self.serviceURL = serviceURL
        self.paymentURL = paymentURL
    }

    /// What is kept for each idOp: what was asked, to check PayFiP's answer against.
    struct Operation: Codable, Sendable {
        var reference: String
        var refdet: String
        var montant: Int
        var exer: String
        /// When the attempt was made (nil for operations kept before it was recorded): an abandon younger
        /// than `expiryThreshold` is not final.
        var createdAt: Date?
    }

    static func operationKey(_ idOp: String) -> String { "idop:" + idOp }
    static func refdetKey(_ refdet: String) -> String { "refdet:" + refdet }
    static func attemptKey(_ reference: String) -> String { "attempt:" + reference }
    static func referenceRefdetKey(_ reference: String) -> String { "refdet-of:" + reference }

    /// The year of `date` in Europe/Paris (a payment at 00:30 on 1 January belongs to the new year).
    public static func year(of date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "Europe/Paris")!
        return String(calendar.component(.year, from: date))
    }

    // MARK: start

    public func start(_ attempt: PaymentAttempt, services: ProviderServices) async throws -> PaymentStart {
        guard attempt.currency == "EUR" else { throw ProviderConfigurationError("PayFiP takes euros only") }
        let refdet = try await refdet(for: attempt.reference, references: services.references)
        let exer = exercice ?? Self.year(of: attempt.createdAt)
        let envelope = PayFiPEnvelope.make("creerPaiementSecurise", [
            ("exer", exer),
            ("mel", attempt.customerEmail),
            ("montant", String(attempt.amountCents)),
            ("numcli", numcli),
            ("objet", PayFiPProvider.normaliseObjet(attempt.label)),
            ("refdet", refdet),
            ("saisie", saisie),
            ("urlnotif", attempt.notificationURL),
            ("urlredirect", attempt.returnURL),
        ])
        switch try await call(envelope, services: services) {
        case .fault(let code, let message):
            throw ProviderCallFailed("PayFiP refused to open the payment \(attempt.reference): \(code) \(message)")
        case .result(let values):
            guard let idOp = values["idop"], Self.isPlausibleIdOp(idOp) else {
                throw ProviderCallFailed("PayFiP's answer to creerPaiementSecurise has no idOp")
            }
            let operation = Operation(reference: attempt.reference, refdet: refdet, montant: attempt.amountCents, exer: exer,
                                      createdAt: attempt.createdAt)
            let json = String(decoding: try JSONEncoder().encode(operation), as: UTF8.self)
            try await services.references.set(json, for: Self.operationKey(idOp))
            try await services.references.set(idOp, for: Self.attemptKey(attempt.reference))
            return .redirect(paymentURL + "?idop=" + idOp, providerReference: idOp)
        }
    }

    /// The attempt's refdet, kept with its reference; should two references ever derive the same one, the
    /// later gets a counter instead, so that a refdet always names one attempt.
    func refdet(for reference: String, references: any ProviderReferences) async throws -> String {
        if let known = try await references.value(for: Self.referenceRefdetKey(reference)) { return known }
        var candidate = PayFiPProvider.refdet(for: reference)
        if let owner = try await references.value(for: Self.refdetKey(candidate)), owner != reference {
            let number = try await references.next("refdet")
            candidate = String(candidate.prefix(20)) + "N" + String(number)
        }
        try await references.set(reference, for: Self.refdetKey(candidate))
        try await references.set(candidate, for: Self.referenceRefdetKey(reference))
        return candidate
    }

    /// idOp is a 36-character UUID; accept any short token of letters, digits and dashes rather than
    /// guess its exact form (a peer once refused every valid idOp with an inverted check, §2.3).
    static func isPlausibleIdOp(_ idOp: String) -> Bool {
        (1...64).contains(idOp.count) && idOp.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "-"
        }
    }

    /// Posts an envelope to the SOAP service. A Fault comes with HTTP 500: the envelope is read whatever the status.
    func call(_ envelope: String, services: ProviderServices) async throws -> PayFiPAnswer {
        let response: ProviderHTTPResponse
        do {
            response = try await services.http.send(ProviderHTTPRequest(
                method: "POST", url: serviceURL,
                headers: [("Content-Type", "text/xml; charset=utf-8"), ("SOAPAction", "\"\"")], body: envelope
            ))
        } catch let error as ProviderCallFailed {
            throw error
        } catch {
            throw ProviderCallFailed("PayFiP could not be reached: \(error)")
        }
        do {
            return try PayFiPAnswer.parse(response.body)
        } catch {
            throw ProviderCallFailed("PayFiP answered HTTP \(response.status) without a readable envelope: \(response.body.prefix(200))")
        }
    }

    /// PayFiP's own word on an idOp.
    func details(_ idOp: String, services: ProviderServices) async throws -> PayFiPAnswer {
        try await call(PayFiPEnvelope.make("recupererDetailPaiementSecurise", [("idOp", idOp)]), services: services)
    }

    // MARK: notification

    /// The notification carries only the idOp, unsigned: it must be one we opened, and only PayFiP's answer
    /// to `recupererDetailPaiementSecurise` counts.
    public func verify(_ notification: IncomingNotification, services: ProviderServices) async throws -> VerifiedNotification {
        let fromBody = FormURLEncoding.decode(notification.body)?.first { $0.name.lowercased() == "idop" }?.value
        guard let idOp = fromBody ?? notification.queryValue("idop"), !idOp.isEmpty else {
            throw NotificationRejected("no idOp in the notification")
        }
        guard Self.isPlausibleIdOp(idOp) else { throw NotificationRejected("the idOp is malformed") }
        guard let stored = try await services.references.value(for: Self.operationKey(idOp)),
              let operation = try? JSONDecoder().decode(Operation.self, from: Data(stored.utf8)) else {
            throw NotificationRejected("idOp \(idOp) was not opened by this center")
        }
        // The notification proves nothing by itself: PayFiP's answer does. One question about an idOp every
        // 2 seconds at most, and none once PayFiP gave its final word (a replay gets that word again).
        return try await services.believedOnTheBanksWord("details:\(idOp)") {
            switch try await details(idOp, services: services) {
            case .fault(let code, let message) where code == "P5":
                // The payer has not finished (or never will): not a final word; PayFiP or reconciliation asks again.
                throw ProviderCallFailed("PayFiP has no result yet for idOp \(idOp): P5 \(message)")
            case .fault(let code, let message) where code == "P1":
                throw NotificationRejected("PayFiP does not know idOp \(idOp): P1 \(message)")
            case .fault(let code, let message):
                throw ProviderCallFailed("PayFiP could not give the details of idOp \(idOp): \(code) \(message)")
            case .result(let values):
                let verified = try normalise(values, idOp: idOp, operation: operation)
                if values["resultrans"] == "A", let createdAt = operation.createdAt,
                   services.now().timeIntervalSince(createdAt) < Self.expiryThreshold {
                    // An abandon within 20 minutes may still be followed by a payment on the same idOp (the rule
                    // `status(of:)` follows): not final yet. Its own key, so that the final A later is no duplicate.
                    var pending = verified
                    pending.status = .pending
                    pending.idempotencyKey = "\(idOp)|A|pending"
                    return (pending, false)
                }
                return (verified, verified.status != .pending)
            }
        }
    }

    /// PayFiP's details, checked against what this régie asked.
    func normalise(_ values: [String: String], idOp: String, operation: Operation) throws -> VerifiedNotification {
        if let answered = values["idop"], answered.lowercased() != idOp.lowercased() {
            throw NotificationRejected("PayFiP answered about idOp \(answered), not \(idOp)")
        }
        guard values["numcli"] == numcli else {
            throw NotificationRejected("numcli \(values["numcli"] ?? "-") is not this center's \(numcli)")
        }
        guard values["refdet"] == operation.refdet else {
            throw NotificationRejected("refdet \(values["refdet"] ?? "-") is not \(operation.refdet), the one of \(operation.reference)")
        }
        if let exer = values["exer"], !exer.isEmpty, exer != operation.exer {
            throw NotificationRejected("exer \(exer) is not \(operation.exer), the one asked for \(operation.reference)")
        }
        guard let resultrans = values["resultrans"], !resultrans.isEmpty else {
            throw ProviderCallFailed("PayFiP's details of idOp \(idOp) have no resultrans")
        }
        // The amount PayFiP took, even when it differs from the one asked: the core records money taken and
        // flags the difference (amount_mismatch); it is never confirmed as asked.
        let montant = values["montant"].flatMap { Int($0) }
        // The transaction is the idOp, always: numauto (the card authorisation number) comes with some answers
        // and not others, and a notification and a later reconciliation of one payment must name the same money.
        return VerifiedNotification(
            idempotencyKey: "\(idOp)|\(resultrans)", attemptReference: operation.reference,
            status: Self.normalise(resultrans), amountCents: montant, currency: "EUR",
            providerStatus: resultrans, providerTransaction: idOp
        )
    }

    /// resultrans → our status (payments.md §2.3): every value explicit, unknown ones to a person.
    public static func normalise(_ resultrans: String) -> PaymentStatus {
        switch resultrans {
        case "P", "V": .paid
        case "R", "Z": .refused
        case "A": .cancelled
        default: .review
        }
    }

    // MARK: status

    /// eopayment's 20-minute rule (payments.md §2.3): P5 before 20 minutes is no answer yet, after it (or
    /// P1, the idOp purged) the payment expired; an abandon (A) before 20 minutes may still be followed by
    /// a payment on the same idOp, so it is not final yet either.
    public func status(of attempt: AttemptIdentity, services: ProviderServices) async throws -> VerifiedNotification? {
        let age = services.now().timeIntervalSince(attempt.createdAt)
        let known: String? = if let reference = attempt.providerReference { reference }
            else { try await services.references.value(for: Self.attemptKey(attempt.reference)) }
        guard let idOp = known else {
            // PayFiP never gave an idOp: nothing can be paid there.
            guard age >= Self.expiryThreshold else { return nil }
            return expired(attempt, idOp: nil, code: "NOIDOP")
        }
        let operation: Operation
        if let stored = try await services.references.value(for: Self.operationKey(idOp)),
           let decoded = try? JSONDecoder().decode(Operation.self, from: Data(stored.utf8)) {
            operation = decoded
        } else {
            operation = Operation(reference: attempt.reference, refdet: PayFiPProvider.refdet(for: attempt.reference),
                                  montant: attempt.amountCents, exer: exercice ?? Self.year(of: attempt.createdAt))
        }
        switch try await details(idOp, services: services) {
        case .fault(let code, _) where code == "P5":
            return age < Self.expiryThreshold ? nil : expired(attempt, idOp: idOp, code: "P5")
        case .fault(let code, _) where code == "P1":
            return expired(attempt, idOp: idOp, code: "P1")
        case .fault(let code, let message):
            throw ProviderCallFailed("PayFiP could not give the details of idOp \(idOp): \(code) \(message)")
        case .result(let values):
            if values["resultrans"] == "A", age < Self.expiryThreshold { return nil }
            do {
                return try normalise(values, idOp: idOp, operation: operation)
            } catch let rejected as NotificationRejected {
                throw ProviderCallFailed("PayFiP's details of idOp \(idOp) do not match the attempt: \(rejected.reason)")
            }
        }
    }

    func expired(_ attempt: AttemptIdentity, idOp: String?, code: String) -> VerifiedNotification {
        VerifiedNotification(
            idempotencyKey: "\(idOp ?? attempt.reference)|\(code)", attemptReference: attempt.reference, status: .expired,
            amountCents: nil, currency: nil, providerStatus: code, providerTransaction: idOp ?? attempt.reference
        )
    }

    /// PayFiP documents no answer body; any 200 is taken as received [inferred, payments.md §0].
    public func acknowledgement(_ outcome: NotificationOutcome) -> (status: Int, body: String) {
        switch outcome {
        case .handled: (200, "OK\n")
        case .rejected: (400, "KO\n")
        case .failed: (503, "RETRY\n")
        }
    }
}
