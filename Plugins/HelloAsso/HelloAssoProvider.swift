import Foundation
import PaymentKit

/// HelloAsso Checkout, API v5 (payments.md §3): an OAuth2 client opens a checkout intent, the browser goes to
/// HelloAsso's page, and a notification is only a trigger: the intent read back with our own token is what counts.
public enum HelloAssoProvider: PaymentProviderType {
    public static let type = "helloasso"
    public static let displayName = "HELLOASSO"
    /// API base and OAuth2 base of each environment (payments.md §3.1).
    public static let environments = [
        "sandbox": (api: "https://api.helloasso-sandbox.com/v5", oauth: "https://api.helloasso-sandbox.com/oauth2"),
        "production": (api: "https://api.helloasso.com/v5", oauth: "https://api.helloasso.com/oauth2"),
    ]
    static let allowed: Set<String> = [
        "organization_slug", "client_id", "client_secret_env", "signature_key_env", "environment", "api_url", "oauth_url",
    ]

    public static func validate(parameters: [String: String], environment: [String: String]) -> [ParameterProblem] {
        var problems = ParameterProblem.unknown(in: parameters, allowed: allowed)
        if let slug = parameters["organization_slug"] {
            if slug.isEmpty || !slug.unicodeScalars.allSatisfy({ isSlugCharacter($0) }) {
                problems.append(ParameterProblem("organization_slug", """
                    organization_slug must be the association's slug as in its HelloAsso address \
                    (letters, digits and dashes), found "\(slug)"
                    """))
            }
        } else {
            problems.append(ParameterProblem("organization_slug", "missing \"organization_slug\": the association's slug, as in https://www.helloasso.com/associations/<slug>"))
        }
        if let client = parameters["client_id"] {
            if client.isEmpty || client.contains(where: \.isWhitespace) {
                problems.append(ParameterProblem("client_id", "client_id must be the API client id of the association (HelloAsso back office > Intégrations et API), found \"\(client)\""))
            }
        } else {
            problems.append(ParameterProblem("client_id", "missing \"client_id\": the API client id of the association (HelloAsso back office > Intégrations et API)"))
        }
        if let problem = ParameterProblem.secret("client_secret_env", in: parameters, environment: environment) { problems.append(problem) }
        if parameters["signature_key_env"] != nil,
           let problem = ParameterProblem.secret("signature_key_env", in: parameters, environment: environment) {
            problems.append(problem)
        }
        if let name = parameters["environment"] {
            if environments[name] == nil {
                problems.append(ParameterProblem("environment", "environment must be sandbox or production, found \"\(name)\""))
            }
        } else {
            problems.append(ParameterProblem("environment", "missing \"environment\": sandbox (HelloAsso's test platform) or production"))
        }
        let production = parameters["environment"] == "production"
        for name in ["api_url", "oauth_url"] {
            // https with a host; plain http only to this machine's loopback, and only for the sandbox.
            if let problem = ParameterProblem.bankURL(name, in: parameters, testMode: !production) {
                problems.append(problem)
            } else if production, let url = parameters[name], URL(string: url)?.host?.lowercased() != productionHost {
                // `testBank` trusts `environment`: a production center sent to another host (the sandbox, a
                // fake bank) would have parents pay a pretend bank while the portal believes it takes money.
                problems.append(ParameterProblem(name, """
                    environment production talks to HelloAsso's production host \(productionHost) only, found \"\(url)\": \
                    remove \(name) (or use environment sandbox for a test platform)
                    """))
            }
        }
        return problems
    }

    /// The host of HelloAsso's production API and OAuth2 server, the only one an `environment: production` may name.
    static let productionHost = "api.helloasso.com"

    static func isSlugCharacter(_ scalar: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar) || scalar == "-" || scalar == "_"
    }

    /// The association (organization_slug): one center per account.
    public static func accountIdentity(parameters: [String: String]) -> String? { parameters["organization_slug"].map { "\(type) organization_slug \($0)" } }

    public static func testBank(parameters: [String: String]) -> String? {
        parameters["environment"] == "production" ? nil : "environment sandbox: HelloAsso's test platform, no real payment"
    }

    public static func make(parameters: [String: String], environment: [String: String]) throws -> any PaymentProvider {
        if let problem = validate(parameters: parameters, environment: environment).first {
            throw ProviderConfigurationError("\(problem.parameter): \(problem.message)")
        }
        let hosts = environments[parameters["environment"]!]!
        return HelloAssoAccount(
            organizationSlug: parameters["organization_slug"]!, clientID: parameters["client_id"]!,
            clientSecret: environment[parameters["client_secret_env"]!]!,
            signatureKey: parameters["signature_key_env"].flatMap { environment[$0] },
            apiURL: trimmed(parameters["api_url"] ?? hosts.api), oauthURL: trimmed(parameters["oauth_url"] ?? hosts.oauth)
        )
    }

    static func trimmed(_ url: String) -> String { url.hasSuffix("/") ? String(url.dropLast()) : url }
}

/// One center's association at HelloAsso.
public struct HelloAssoAccount: StatusQueryingProvider {
    public let organizationSlug: String
    public let clientID: String
    let clientSecret: String
    /// The notification URL's signature key (HelloAsso gives it to partners); without it, authenticity rests
    /// on reading the intent back, which is done in every case.
    let signatureKey: String?
    /// ".../v5" and ".../oauth2", without a trailing slash.
    public let apiURL: String
    public let oauthURL: String
    public var displayName: String { HelloAssoProvider.displayName }
    /// The intent's redirectUrl is valid for 15 minutes [code: schassande/moodle-paygw_helloasso README, payments.md §3.2].
    public var sessionLimit: TimeInterval { 15 * 60 }
    /// An intent without an order is taken as dead after 30 minutes: the page's 15 minutes plus time for a
    /// payment begun at its last minute to show [inferred: payments.md §6.5 tests "no order after 30 min"].
    public static let expiryAfter: TimeInterval = 30 * 60
    /// A cached access token is renewed when it has less than this left.
    static let tokenMargin: TimeInterval = 60

    public init(organizationSlug: String, clientID: String, clientSecret: String, signatureKey: String?,
                apiURL: String = HelloAssoProvider.environments["sandbox"]!.api,
                oauthURL: String = HelloAssoProvider.environments["sandbox"]!.oauth) {
        self.organizationSlug = organizationSlug
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.signatureKey = signatureKey
        self.apiURL = apiURL
        self.oauthURL = oauthURL
    }

    static let tokenKey = "oauth:token"
    static func intentKey(_ id: String) -> String { "intent:" + id }
    static func attemptKey(_ reference: String) -> String { "attempt:" + reference }

    /// What is kept for each checkout intent.
    struct Intent: Codable, Sendable {
        var reference: String
        var amountCents: Int
    }

    // MARK: OAuth2

    /// The access token, as kept in the provider's references (shared by every instance of the portal).
    public struct Token: Codable, Sendable, Equatable {
        public var accessToken: String
        public var refreshToken: String?
        public var expiresAt: Date
    }

    /// A valid access token: the cached one while it has more than a minute left, else a refreshed one
    /// (refresh_token grant), else a new one (client_credentials). `renew` skips the cache and the refresh
    /// (the API refused the cached token).
    public func accessToken(services: ProviderServices, renew: Bool = false) async throws -> String {
        let now = services.now()
        let cached = try await services.references.value(for: Self.tokenKey)
            .flatMap { try? JSONDecoder().decode(Token.self, from: Data($0.utf8)) }
        if !renew, let cached, cached.expiresAt.timeIntervalSince(now) > Self.tokenMargin { return cached.accessToken }
        var token: Token?
        if !renew, let refresh = cached?.refreshToken {
            // A refresh token refused (expired after its 30 days, revoked) is no failure: client credentials follow.
            token = try? await requestToken([("grant_type", "refresh_token"), ("client_id", clientID), ("refresh_token", refresh)],
                                            services: services, now: now)
        }
        if token == nil {
            token = try await requestToken([("grant_type", "client_credentials"), ("client_id", clientID), ("client_secret", clientSecret)],
                                           services: services, now: now)
        }
        let fresh = token!
        try await services.references.set(String(decoding: try JSONEncoder().encode(fresh), as: UTF8.self), for: Self.tokenKey)
        return fresh.accessToken
    }

    func requestToken(_ fields: [(name: String, value: String)], services: ProviderServices, now: Date) async throws -> Token {
        let response = try await send(.form(oauthURL + "/token", fields), services: services)
        guard response.isSuccess else {
            let grant = fields.first?.value ?? ""
            throw ProviderCallFailed("HelloAsso refused the \(grant) grant (HTTP \(response.status)): check client_id and its secret. \(response.body.prefix(200))")
        }
        guard let json = Self.object(response.body), let access = json["access_token"] as? String, !access.isEmpty else {
            throw ProviderCallFailed("HelloAsso's token answer has no access_token")
        }
        let lifetime = Self.number(json["expires_in"]) ?? 1800
        return Token(accessToken: access, refreshToken: json["refresh_token"] as? String,
                     expiresAt: now.addingTimeInterval(TimeInterval(lifetime)))
    }

    func send(_ request: ProviderHTTPRequest, services: ProviderServices) async throws -> ProviderHTTPResponse {
        do {
            return try await services.http.send(request)
        } catch let error as ProviderCallFailed {
            throw error
        } catch {
            throw ProviderCallFailed("HelloAsso could not be reached: \(error)")
        }
    }

    /// A call to the API with the bearer token; a 401 (token revoked, clock drift) is retried once with a new token.
    func api(_ method: String, _ path: String, json: String = "", services: ProviderServices) async throws -> ProviderHTTPResponse {
        func request(_ token: String) -> ProviderHTTPRequest {
            var headers: [(name: String, value: String)] = [("Authorization", "Bearer " + token), ("Accept", "application/json")]
            if !json.isEmpty { headers.append(("Content-Type", "application/json")) }
            return ProviderHTTPRequest(method: method, url: apiURL + path, headers: headers, body: json)
        }
        let response = try await send(request(try await accessToken(services: services)), services: services)
        guard response.status == 401 else { return response }
        return try await send(request(try await accessToken(services: services, renew: true)), services: services)
    }

    var intentsPath: String { "/organizations/\(organizationSlug)/checkout-intents" }

    // MARK: start

    public func start(_ attempt: PaymentAttempt, services: ProviderServices) async throws -> PaymentStart {
        guard attempt.currency == "EUR" else { throw ProviderConfigurationError("HelloAsso takes euros only") }
        let body: [String: Any] = [
            "totalAmount": attempt.amountCents,
            "initialAmount": attempt.amountCents,
            "itemName": attempt.label,
            "backUrl": attempt.returnURL,
            "errorUrl": attempt.returnURL,
            "returnUrl": attempt.returnURL,
            "containsDonation": false,
            "payer": ["email": attempt.customerEmail],
            "metadata": ["reference": attempt.reference],
        ]
        let json = String(decoding: try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys]), as: UTF8.self)
        let response = try await api("POST", intentsPath, json: json, services: services)
        guard response.isSuccess else {
            throw ProviderCallFailed("HelloAsso refused the checkout intent for \(attempt.reference) (HTTP \(response.status)): \(response.body.prefix(300))")
        }
        guard let answer = Self.object(response.body), let id = Self.identifier(answer["id"]),
              let redirect = answer["redirectUrl"] as? String, !redirect.isEmpty else {
            throw ProviderCallFailed("HelloAsso's checkout intent answer has no id or redirectUrl")
        }
        let intent = Intent(reference: attempt.reference, amountCents: attempt.amountCents)
        try await services.references.set(String(decoding: try JSONEncoder().encode(intent), as: UTF8.self), for: Self.intentKey(id))
        try await services.references.set(id, for: Self.attemptKey(attempt.reference))
        return .redirect(redirect, providerReference: id)
    }

    // MARK: notification

    /// The signature when a key is configured (vector HA-1), then the intent read back: only HelloAsso's
    /// answer to our own GET says what was paid.
    public func verify(_ notification: IncomingNotification, services: ProviderServices) async throws -> VerifiedNotification {
        if let signatureKey {
            guard let received = notification.header("x-ha-signature") else { throw NotificationRejected("no x-ha-signature") }
            guard constantTimeEquals(received.lowercased(), Digests.hmacSHA256Hex(notification.body, key: signatureKey)) else {
                throw NotificationRejected("x-ha-signature mismatch")
            }
        }
        guard let payload = Self.object(notification.body), let eventType = payload["eventType"] as? String else {
            throw NotificationRejected("the body is not a HelloAsso notification (JSON with eventType)")
        }
        guard eventType == "Order" || eventType == "Payment" else {
            throw NotificationNotApplicable("HelloAsso \(eventType) event")
        }
        guard let data = payload["data"] as? [String: Any] else { throw NotificationRejected("the notification has no data") }
        let order = data["order"] as? [String: Any]
        if let organization = (data["organizationSlug"] ?? order?["organizationSlug"]) as? String,
           organization.lowercased() != organizationSlug.lowercased() {
            throw NotificationRejected("organisation \(organization) is not this center's \(organizationSlug)")
        }
        let metadata = (payload["metadata"] as? [String: Any]) ?? (order?["metadata"] as? [String: Any])
        var intentID = Self.identifier(data["checkoutIntentId"]) ?? Self.identifier(order?["checkoutIntentId"])
            ?? Self.identifier(metadata?["checkoutIntentId"])
        if intentID == nil, let reference = metadata?["reference"] as? String {
            intentID = try await services.references.value(for: Self.attemptKey(reference))
        }
        // The association's other forms (memberships, donations) notify the same URL: acknowledged, not ours.
        guard let intentID, let intent = try await storedIntent(intentID, services: services) else {
            throw NotificationNotApplicable("HelloAsso \(eventType) about no checkout this portal opened")
        }
        // What HelloAsso answers is what counts: one read-back of an intent every 2 seconds at most, whatever
        // is posted, and none once HelloAsso gave its final word (a replay gets that word again).
        return try await services.believedOnTheBanksWord("intent:\(intentID)") {
            guard let readBack = try await readIntent(intentID, intent: intent, services: services) else {
                throw ProviderCallFailed("HelloAsso does not know checkout intent \(intentID) it notified about")
            }
            guard let outcome = readBack.outcome else {
                // No order yet: a payment announced as authorized shows on the intent a moment later, so HelloAsso
                // is asked to send again; anything else is not applicable.
                if Self.announcesAuthorized(data) {
                    throw ProviderCallFailed("HelloAsso's intent \(intentID) shows no order yet for an authorized payment: retry")
                }
                throw NotificationNotApplicable("HelloAsso \(eventType): intent \(intentID) has no order")
            }
            // Keyed by what HelloAsso's own answer says, never by the body's eventType or ids (anyone may post a
            // body): a forged body makes no new key, nor takes the key a genuine notification will have. The
            // Payment and Order notifications and the status query of one order are one event.
            return (outcome.notification(reference: intent.reference), outcome.status != .pending)
        }
    }

    func storedIntent(_ id: String, services: ProviderServices) async throws -> Intent? {
        try await services.references.value(for: Self.intentKey(id)).flatMap { try? JSONDecoder().decode(Intent.self, from: Data($0.utf8)) }
    }

    static func announcesAuthorized(_ data: [String: Any]) -> Bool {
        if data["state"] as? String == "Authorized" { return true }
        return (data["payments"] as? [[String: Any]] ?? []).contains { $0["state"] as? String == "Authorized" }
    }

    /// What the intent read back says.
    struct ReadBack {
        struct Outcome {
            var status: PaymentStatus
            var state: String
            var amountCents: Int?
            var paymentID: String
            var orderID: String

            /// The outcome as an event, keyed from the read-back only.
            func notification(reference: String) -> VerifiedNotification {
                VerifiedNotification(
                    idempotencyKey: "Order|\(orderID)|\(state)", attemptReference: reference,
                    status: status, amountCents: amountCents, currency: "EUR",
                    providerStatus: state, providerTransaction: paymentID
                )
            }
        }
        /// nil while the intent has no order with a payment.
        var outcome: Outcome?
    }

    /// GET the intent (nil when HelloAsso does not know it); its metadata must name the attempt it was opened for.
    func readIntent(_ id: String, intent: Intent, services: ProviderServices) async throws -> ReadBack? {
        let response = try await api("GET", intentsPath + "/" + id, services: services)
        if response.status == 404 { return nil }
        guard response.isSuccess, let json = Self.object(response.body) else {
            throw ProviderCallFailed("HelloAsso could not give checkout intent \(id) (HTTP \(response.status)): \(response.body.prefix(200))")
        }
        let metadata = json["metadata"] as? [String: Any]
        guard metadata?["reference"] as? String == intent.reference else {
            throw NotificationRejected("checkout intent \(id) does not carry the reference \(intent.reference) it was opened with")
        }
        guard let order = json["order"] as? [String: Any],
              let payments = order["payments"] as? [[String: Any]], !payments.isEmpty else { return ReadBack(outcome: nil) }
        let orderID = Self.identifier(order["id"]) ?? id
        let total = Self.number((order["amount"] as? [String: Any])?["total"])
        let chosen = payments.first { $0["state"] as? String == "Authorized" } ?? payments[0]
        let state = chosen["state"] as? String ?? "Unknown"
        let status = Self.normalise(state)
        return ReadBack(outcome: .init(
            status: status, state: state, amountCents: status == .paid ? (total ?? Self.number(chosen["amount"])) : Self.number(chosen["amount"]),
            paymentID: Self.identifier(chosen["id"]) ?? orderID, orderID: orderID
        ))
    }

    /// Payment states → our status (payments.md §3.3, §6.4): only Authorized is paid; unknown ones to a person.
    public static func normalise(_ state: String) -> PaymentStatus {
        switch state {
        case "Authorized": .paid
        case "Refused", "Error": .refused
        case "Canceled", "Abandoned": .cancelled
        case "Pending", "Init", "Waiting", "WaitingBankValidation", "WaitingBankWithdraw", "WaitingAuthentication": .pending
        default: .review  // Refunded, Refunding, Contested, Registered, Unknown, anything new
        }
    }

    // MARK: status

    /// The intent read back: an order with an authorized payment is paid; an order that is not (or not yet) is
    /// never expired (payments.md §6.1 rule 8: the money may be on its way); no order after `expiryAfter`, expired.
    public func status(of attempt: AttemptIdentity, services: ProviderServices) async throws -> VerifiedNotification? {
        let age = services.now().timeIntervalSince(attempt.createdAt)
        let known: String? = if let reference = attempt.providerReference { reference }
            else { try await services.references.value(for: Self.attemptKey(attempt.reference)) }
        guard let id = known else { return age >= Self.expiryAfter ? expired(attempt, intent: nil) : nil }
        let intent = try await storedIntent(id, services: services) ?? Intent(reference: attempt.reference, amountCents: attempt.amountCents)
        let readBack: ReadBack?
        do {
            readBack = try await readIntent(id, intent: intent, services: services)
        } catch let rejected as NotificationRejected {
            throw ProviderCallFailed("HelloAsso's intent \(id) does not match the attempt: \(rejected.reason)")
        }
        guard let readBack else { return age >= Self.expiryAfter ? expired(attempt, intent: id) : nil }
        guard let outcome = readBack.outcome else { return age >= Self.expiryAfter ? expired(attempt, intent: id) : nil }
        switch outcome.status {
        case .paid, .refused, .cancelled:
            // Keyed like the notifications, so that one arriving later is a duplicate.
            return outcome.notification(reference: attempt.reference)
        default:
            return nil
        }
    }

    func expired(_ attempt: AttemptIdentity, intent: String?) -> VerifiedNotification {
        VerifiedNotification(
            idempotencyKey: "\(intent ?? attempt.reference)|expired", attemptReference: attempt.reference, status: .expired,
            amountCents: nil, currency: nil, providerStatus: "NoOrder", providerTransaction: intent ?? attempt.reference
        )
    }

    /// HelloAsso sends again until it gets a 200.
    public func acknowledgement(_ outcome: NotificationOutcome) -> (status: Int, body: String) {
        switch outcome {
        case .handled: (200, "OK\n")
        case .rejected: (400, "KO\n")
        case .failed: (503, "RETRY\n")
        }
    }

    // MARK: JSON

    static func object(_ text: String) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]
    }

    /// An integer however JSON carried it.
    static func number(_ value: Any?) -> Int? {
        switch value {
        case let int as Int: int
        case let double as Double where double == double.rounded(): Int(double)
        case let string as String: Int(string)
        default: nil
        }
    }

    /// An identifier (HelloAsso's are integers) as text.
    static func identifier(_ value: Any?) -> String? {
        if let int = number(value) { return String(int) }
        if let string = value as? String, !string.isEmpty { return string }
        return nil
    }
}
