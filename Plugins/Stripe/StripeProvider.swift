import Foundation
import PaymentKit

/// Stripe Checkout: the portal opens a Checkout Session through Stripe's API and redirects the browser to
/// it; Stripe's signed webhook events say what became of it (payments.md §4).
public enum StripeProvider: PaymentProviderType {
    public static let type = "stripe"
    public static let displayName = "STRIPE"
    public static let apiURL = "https://api.stripe.com"

    static let allowed: Set<String> = ["mode", "secret_key_env", "webhook_secret_env", "api_url"]

    public static func validate(parameters: [String: String], environment: [String: String]) -> [ParameterProblem] {
        var problems = ParameterProblem.unknown(in: parameters, allowed: allowed)
        let mode = parameters["mode"] ?? "TEST"
        if mode != "TEST" && mode != "PRODUCTION" {
            problems.append(ParameterProblem("mode", "mode must be TEST (sk_test_ keys) or PRODUCTION (sk_live_ keys), found \"\(mode)\""))
        }
        if let problem = ParameterProblem.secret("secret_key_env", in: parameters, environment: environment) {
            problems.append(problem)
        } else if let key = environment[parameters["secret_key_env"]!] {
            // The key says which Stripe mode it belongs to: a live key under mode TEST would take real money
            // while `portail serve` believes it is a test bank, and the reverse would never be paid.
            let prefixes = mode == "PRODUCTION" ? ["sk_live_", "rk_live_"] : ["sk_test_", "rk_test_"]
            if !prefixes.contains(where: key.hasPrefix) {
                problems.append(ParameterProblem("secret_key_env", mode == "PRODUCTION"
                    ? "mode PRODUCTION needs a live secret key (sk_live_…) in \(parameters["secret_key_env"]!)"
                    : "mode TEST needs a test secret key (sk_test_…) in \(parameters["secret_key_env"]!)"))
            }
        }
        if let problem = ParameterProblem.secret("webhook_secret_env", in: parameters, environment: environment) {
            problems.append(problem)
        } else if let secret = environment[parameters["webhook_secret_env"]!], !secret.hasPrefix("whsec_") {
            // The commonest cause of "no signatures found" (payments.md §6.2): the API key given as the webhook secret.
            problems.append(ParameterProblem("webhook_secret_env",
                "\(parameters["webhook_secret_env"]!) must hold the webhook endpoint's signing secret (whsec_…), not an API key"))
        }
        if let problem = ParameterProblem.bankURL("api_url", in: parameters, testMode: mode == "TEST") { problems.append(problem) }
        return problems
    }

    public static func testBank(parameters: [String: String]) -> String? {
        (parameters["mode"] ?? "TEST") == "TEST" ? "mode TEST: Stripe's test mode (sk_test_ key), no real payment" : nil
    }

    public static func make(parameters: [String: String], environment: [String: String]) throws -> any PaymentProvider {
        if let problem = validate(parameters: parameters, environment: environment).first {
            throw ProviderConfigurationError("\(problem.parameter): \(problem.message)")
        }
        var api = parameters["api_url"] ?? apiURL
        while api.hasSuffix("/") { api.removeLast() }
        return StripeAccount(
            mode: parameters["mode"] ?? "TEST", secretKey: environment[parameters["secret_key_env"]!]!,
            webhookSecret: environment[parameters["webhook_secret_env"]!]!, apiURL: api
        )
    }
}

/// One center's Stripe account (its own secret key and webhook endpoint secret).
public struct StripeAccount: PaymentProvider, StatusQueryingProvider, RefundingProvider {
    public let mode: String
    let secretKey: String
    let webhookSecret: String
    public let apiURL: String
    public var displayName: String { StripeProvider.displayName }

    /// A session opened now expires after this (Stripe's minimum is 30 minutes after its creation; the
    /// extra minute keeps a slow call or a clock a little ahead from making Stripe refuse it).
    public static let sessionLifetime: TimeInterval = 31 * 60
    /// Stripe's signature tolerance (its libraries' default).
    public static let tolerance: TimeInterval = 300

    /// The attempt lives as long as its session: until then the payer may still pay on Stripe's page.
    public var sessionLimit: TimeInterval { Self.sessionLifetime }

    public init(mode: String, secretKey: String, webhookSecret: String, apiURL: String = StripeProvider.apiURL) {
        self.mode = mode
        self.secretKey = secretKey
        self.webhookSecret = webhookSecret
        self.apiURL = apiURL
    }

    var authorization: (name: String, value: String) { ("Authorization", "Bearer \(secretKey)") }

    // MARK: Start

    /// The fields of the Checkout Session for an attempt (form-encoded, Stripe's bracket notation).
    public func sessionFields(_ attempt: PaymentAttempt, expiresAt: Date) -> [(name: String, value: String)] {
        [
            ("mode", "payment"),
            ("line_items[0][price_data][currency]", attempt.currency.lowercased()),
            ("line_items[0][price_data][unit_amount]", String(attempt.amountCents)),
            ("line_items[0][price_data][product_data][name]", attempt.label),
            ("line_items[0][quantity]", "1"),
            ("success_url", attempt.returnURL),
            ("cancel_url", attempt.returnURL),
            ("client_reference_id", attempt.reference),
            ("customer_email", attempt.customerEmail),
            ("metadata[reference]", attempt.reference),
            ("payment_intent_data[metadata][reference]", attempt.reference),
            ("locale", "fr"),
            ("expires_at", String(Int(expiresAt.timeIntervalSince1970))),
        ].filter { !($0.0 == "customer_email" && $0.1.isEmpty) }
    }

    public func start(_ attempt: PaymentAttempt, services: ProviderServices) async throws -> PaymentStart {
        guard attempt.amountCents > 0 else { throw ProviderConfigurationError("Stripe cannot collect \(attempt.amountCents) cents") }
        let fields = sessionFields(attempt, expiresAt: services.now().addingTimeInterval(Self.sessionLifetime))
        // The attempt's reference as idempotency key: a call repeated for the same attempt opens no second session.
        let request = ProviderHTTPRequest.form(apiURL + "/v1/checkout/sessions", fields,
                                               headers: [authorization, ("Idempotency-Key", "portail-\(attempt.reference)")])
        let session = try await call(request, services: services)
        guard let id = session["id"] as? String, let url = session["url"] as? String, !id.isEmpty, !url.isEmpty else {
            throw ProviderCallFailed("Stripe opened a session without id or url")
        }
        try await services.references.set(attempt.reference, for: "session:\(id)")
        try await services.references.set(id, for: "attempt:\(attempt.reference)")
        return .redirect(url, providerReference: id)
    }

    // MARK: Webhooks

    /// The `Stripe-Signature` value for a body: `t=…,v1=…` (for the fake bank and tests).
    public static func signatureHeader(body: String, secret: String, timestamp: Int) -> String {
        "t=\(timestamp),v1=\(Digests.hmacSHA256Hex("\(timestamp).\(body)", key: secret))"
    }

    /// Checks `Stripe-Signature` against the raw body: any `v1` (several during a secret roll) must be the
    /// hex HMAC-SHA-256 of "t.body" with the endpoint secret as is, and t within 300 s of now. `v0` and
    /// other schemes are ignored (downgrade protection).
    public static func checkSignature(_ header: String?, body: String, secret: String, now: Date) throws {
        guard let header, !header.isEmpty else { throw NotificationRejected("no Stripe-Signature header") }
        var timestamp: Int?
        var signatures: [String] = []
        for item in header.split(separator: ",") {
            let pair = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard pair.count == 2 else { continue }
            let name = pair[0].trimmingCharacters(in: .whitespaces), value = pair[1].trimmingCharacters(in: .whitespaces)
            if name == "t", timestamp == nil { timestamp = Int(value) }
            if name == "v1" { signatures.append(value) }
        }
        guard let timestamp else { throw NotificationRejected("Stripe-Signature has no timestamp") }
        guard !signatures.isEmpty else { throw NotificationRejected("Stripe-Signature has no v1 signature") }
        let expected = Digests.hmacSHA256Hex("\(timestamp).\(body)", key: secret)
        // Every candidate is compared, so that the time taken does not tell which one matched.
        var matched = false
        for signature in signatures where constantTimeEquals(signature.lowercased(), expected) { matched = true }
        guard matched else { throw NotificationRejected("no Stripe signature matches the body") }
        guard abs(now.timeIntervalSince1970 - Double(timestamp)) <= tolerance else {
            throw NotificationRejected("Stripe signature timestamp \(timestamp) is more than \(Int(tolerance)) s from now (a replay?)")
        }
    }

    public func verify(_ notification: IncomingNotification, services: ProviderServices) async throws -> VerifiedNotification {
        try Self.checkSignature(notification.header("Stripe-Signature"), body: notification.body, secret: webhookSecret, now: services.now())
        guard let event = (try? JSONSerialization.jsonObject(with: Data(notification.body.utf8))) as? [String: Any],
              let id = event["id"] as? String, let type = event["type"] as? String else {
            throw NotificationRejected("the signed body is not a Stripe event")
        }
        // A test-mode event for a live account (or the reverse) is never this center's money.
        if let live = event["livemode"] as? Bool, live != (mode == "PRODUCTION") {
            throw NotificationRejected("a \(live ? "live" : "test") mode event for an account in mode \(mode)")
        }
        let status: PaymentStatus
        let session = (event["data"] as? [String: Any])?["object"] as? [String: Any] ?? [:]
        switch type {
        case "checkout.session.completed":
            // Only a paid session is fulfilled; a delayed method (SEPA debit) completes unpaid and is
            // settled by async_payment_succeeded or _failed (payments.md §4).
            status = switch session["payment_status"] as? String {
            case "paid": .paid
            case "unpaid": .pending
            default: .review  // no_payment_required, or anything new: a person looks
            }
        case "checkout.session.async_payment_succeeded": status = .paid
        case "checkout.session.async_payment_failed": status = .refused
        case "checkout.session.expired": status = .expired
        default: throw NotificationNotApplicable("Stripe event \(type) is not one the portal follows")
        }
        guard session["object"] as? String == "checkout.session", let sessionID = session["id"] as? String else {
            throw NotificationRejected("Stripe event \(type) carries no checkout session")
        }
        guard let reference = try await reference(of: session, services: services) else {
            // A session opened by something else on the same Stripe account (a payment link): not ours.
            throw NotificationNotApplicable("Stripe session \(sessionID) names no attempt of the portal")
        }
        return Self.normalised(session, reference: reference, status: status, providerStatus: type, key: id)
    }

    /// Our reference: the one the session carries, else the one recorded when it was opened.
    func reference(of session: [String: Any], services: ProviderServices) async throws -> String? {
        if let reference = session["client_reference_id"] as? String, !reference.isEmpty { return reference }
        if let reference = (session["metadata"] as? [String: Any])?["reference"] as? String, !reference.isEmpty { return reference }
        guard let id = session["id"] as? String else { return nil }
        return try await services.references.value(for: "session:\(id)")
    }

    /// A session normalised. The transaction is the payment intent (what Stripe's dashboard shows and a
    /// refund names), the same in `completed` and `async_payment_succeeded`, so the core sees one payment;
    /// the session id when there is none (an expired session).
    static func normalised(_ session: [String: Any], reference: String, status: PaymentStatus, providerStatus: String, key: String) -> VerifiedNotification {
        let paymentStatus = session["payment_status"] as? String
        let transaction = paymentIntentID(session) ?? (session["id"] as? String ?? "")
        return VerifiedNotification(
            idempotencyKey: key, attemptReference: reference, status: status,
            amountCents: (session["amount_total"] as? NSNumber).map { $0.intValue },
            currency: (session["currency"] as? String)?.uppercased(),
            providerStatus: providerStatus + (paymentStatus.map { " (\($0))" } ?? ""),
            providerTransaction: transaction
        )
    }

    /// `payment_intent` is an id, or the object itself when the API was asked to expand it.
    static func paymentIntentID(_ session: [String: Any]) -> String? {
        if let id = session["payment_intent"] as? String, !id.isEmpty { return id }
        return (session["payment_intent"] as? [String: Any])?["id"] as? String
    }

    public func acknowledgement(_ outcome: NotificationOutcome) -> (status: Int, body: String) {
        switch outcome {
        case .handled: (200, "{\"received\": true}\n")
        case .rejected: (400, "rejected\n")
        case .failed: (503, "temporary failure, please retry\n")
        }
    }

    // MARK: Status

    /// Asks Stripe for the attempt's session: paid, pending (a delayed method), expired, or nil while open.
    public func status(of attempt: AttemptIdentity, services: ProviderServices) async throws -> VerifiedNotification? {
        var sessionID = attempt.providerReference
        if sessionID == nil { sessionID = try await services.references.value(for: "attempt:\(attempt.reference)") }
        guard let sessionID, !sessionID.isEmpty else { return nil }  // Stripe never opened a session for it
        let session = try await call(ProviderHTTPRequest(method: "GET", url: apiURL + "/v1/checkout/sessions/" + escapePath(sessionID),
                                                         headers: [authorization]), services: services)
        let reference = try await reference(of: session, services: services) ?? attempt.reference
        guard reference == attempt.reference else {
            throw ProviderCallFailed("Stripe session \(sessionID) belongs to \(reference), not \(attempt.reference)")
        }
        let status: PaymentStatus
        switch (session["status"] as? String, session["payment_status"] as? String) {
        case (_, "paid"): status = .paid
        case ("complete", "unpaid"): status = .pending
        case ("expired", _): status = .expired
        case ("open", _): return nil
        default: status = .review
        }
        let word = "session \(session["status"] as? String ?? "-")"
        return Self.normalised(session, reference: reference, status: status, providerStatus: word,
                               key: "\(sessionID)|\(session["status"] as? String ?? "-")|\(session["payment_status"] as? String ?? "-")")
    }

    // MARK: Refund

    public func refund(_ request: RefundRequest, services: ProviderServices) async throws -> RefundResult {
        guard request.amountCents > 0 else { throw ProviderConfigurationError("a refund must be of a positive amount") }
        var intent = request.providerTransaction
        if intent.hasPrefix("cs_") {
            // The payment was recorded under its session (no intent was known): ask Stripe for the intent.
            let session = try await call(ProviderHTTPRequest(method: "GET", url: apiURL + "/v1/checkout/sessions/" + escapePath(intent),
                                                             headers: [authorization]), services: services)
            guard let id = Self.paymentIntentID(session) else { throw ProviderCallFailed("Stripe session \(intent) has no payment to refund") }
            intent = id
        }
        // The portal's refund number as idempotency key: asking again for the same refund (a timeout, a
        // retry) gets Stripe's first answer back, while a second refund of the same amount on the same
        // payment, a refund of its own, is a new refund (a key made of the intent and the amount would
        // have Stripe replay the first one, and the parent would never get the second).
        guard !request.refundReference.isEmpty else { throw ProviderConfigurationError("a refund needs the portal's refund number") }
        let form = ProviderHTTPRequest.form(apiURL + "/v1/refunds", [("payment_intent", intent), ("amount", String(request.amountCents)),
                                                                    ("metadata[reference]", request.attempt.reference),
                                                                    ("metadata[portail_refund]", request.refundReference)],
                                            headers: [authorization, ("Idempotency-Key", "portail-refund-\(request.refundReference)")])
        let refund: [String: Any]
        do {
            refund = try await call(form, services: services)
        } catch let failed as ProviderCallFailed where failed.status.map({ (400..<500).contains($0) && $0 != 409 && $0 != 429 }) == true {
            // Stripe said no (an amount above what is left, a disputed charge ...): nothing was refunded.
            throw RefundRefused(failed.description)
        }
        guard let id = refund["id"] as? String else { throw ProviderCallFailed("Stripe's refund answer has no id") }
        switch refund["status"] as? String {
        case "succeeded": return RefundResult(providerRefund: id, completed: true)
        case "failed", "canceled": throw RefundRefused("Stripe refund \(id) \(refund["status"] as? String ?? "")")
        default: return RefundResult(providerRefund: id, completed: false)  // pending, requires_action
        }
    }

    // MARK: Calls

    /// One call to Stripe's API: the JSON object it answers, or `ProviderCallFailed` with Stripe's message.
    func call(_ request: ProviderHTTPRequest, services: ProviderServices) async throws -> [String: Any] {
        let response: ProviderHTTPResponse
        do {
            response = try await services.http.send(request)
        } catch let error as ProviderCallFailed {
            throw error
        } catch {
            throw ProviderCallFailed("Stripe could not be reached: \(error)")
        }
        let object = (try? JSONSerialization.jsonObject(with: Data(response.body.utf8))) as? [String: Any]
        guard response.isSuccess, let object else {
            let message = ((object?["error"] as? [String: Any])?["message"] as? String) ?? String(response.body.prefix(200))
            throw ProviderCallFailed("Stripe answered \(response.status) to \(request.method) \(request.url): \(message)",
                                     status: response.isSuccess ? nil : response.status)
        }
        return object
    }

    func escapePath(_ id: String) -> String {
        id.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "_-"))) ?? id
    }
}
