import Foundation
import Hummingbird
import PaymentKit
import Synchronization

/// HelloAsso's API v5 as a checkout needs it (payments.md §3): OAuth2 tokens (client credentials and refresh,
/// lifetimes enforced), checkout intents (create, read back with an order once paid), the hosted page, and
/// the Order and Payment notifications, signed with `x-ha-signature` when a signature key is set, posted to
/// the notification URL set on the fake: HelloAsso sends them to the URL of the association's back office,
/// not to one given per intent.
public final class FakeHelloAsso: Sendable {
    /// A checkout intent and what became of it.
    public struct Intent: Sendable {
        public var id: Int
        public var organizationSlug: String
        public var totalAmount: Int
        public var itemName: String
        public var backUrl: String
        public var errorUrl: String
        public var returnUrl: String
        public var payerEmail: String?
        /// The metadata as sent, JSON text.
        public var metadataJSON: String
        /// Set once paid: the order and its payment.
        public var orderID: Int?
        public var paymentID: Int?
        public var paymentState: String?
        /// The amount of the order (a test may make it differ from the intent's).
        public var paidAmount: Int?
    }

    public let server: FakeBankServer
    public let organizationSlug: String
    public let clientID: String
    let clientSecret: String
    let signatureKey: String?
    let state = Mutex(State())

    struct State {
        var accessTokens: [String: Date] = [:]
        var refreshTokens: Set<String> = []
        var intents: [Int: Intent] = [:]
        var nextID = 75_698_000
        var grants: [String] = []
        var notificationURL: String?
        var tokenLifetime: TimeInterval = 1800
        var sent: [SentNotification] = []
        var paymentFirst = true
    }

    /// `api_url` and `oauth_url` for a center's `payment:` block.
    public var apiURL: String { server.baseURL + "/v5" }
    public var oauthURL: String { server.baseURL + "/oauth2" }
    public var sent: [SentNotification] { state.withLock { $0.sent } }
    /// The grant types asked for, in order ("client_credentials", "refresh_token").
    public var grants: [String] { state.withLock { $0.grants } }

    public static func start(organizationSlug: String, clientID: String, clientSecret: String, signatureKey: String? = nil,
                             port: Int = 0) async throws -> FakeHelloAsso {
        let holder = Holder<FakeHelloAsso>()
        let server = try await FakeBankServer.start(port: port) { router in
            router.post("/oauth2/token") { request, _ in
                var request = request
                return holder.value!.token(try await request.form())
            }
            router.post("/v5/organizations/:slug/checkout-intents") { request, context in
                var request = request
                let body = try await request.text()
                return holder.value!.create(slug: context.parameters.get("slug") ?? "", authorization: request.headers[.authorization], body: body)
            }
            router.get("/v5/organizations/:slug/checkout-intents/:id") { request, context in
                holder.value!.read(slug: context.parameters.get("slug") ?? "", id: context.parameters.get("id") ?? "",
                                   authorization: request.headers[.authorization])
            }
            router.get("/associations/:slug/checkout/:id") { _, context in
                holder.value!.page(id: context.parameters.get("id") ?? "")
            }
            router.post("/associations/:slug/checkout/:id/choix") { request, context in
                var request = request
                return try await holder.value!.choose(id: context.parameters.get("id") ?? "", try await request.form())
            }
        }
        let bank = FakeHelloAsso(server: server, organizationSlug: organizationSlug, clientID: clientID, clientSecret: clientSecret,
                                 signatureKey: signatureKey)
        holder.value = bank
        return bank
    }

    private init(server: FakeBankServer, organizationSlug: String, clientID: String, clientSecret: String, signatureKey: String?) {
        self.server = server
        self.organizationSlug = organizationSlug
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.signatureKey = signatureKey
    }

    public func stop() async { await server.stop() }

    /// The URL set in the association's back office ("Mon Compte > Intégrations et API").
    public func setNotificationURL(_ url: String?) { state.withLock { $0.notificationURL = url } }
    /// How long the access tokens given from now on live (HelloAsso: 30 minutes).
    public func setTokenLifetime(_ seconds: TimeInterval) { state.withLock { $0.tokenLifetime = seconds } }
    /// Whether the Payment notification goes before the Order one (the default) or after.
    public func setPaymentFirst(_ first: Bool) { state.withLock { $0.paymentFirst = first } }
    /// Makes every access token given so far expired (refresh tokens stay valid).
    public func expireAccessTokens() { state.withLock { $0.accessTokens = $0.accessTokens.mapValues { _ in .distantPast } } }

    public func intent(_ id: Int) -> Intent? { state.withLock { $0.intents[id] } }
    public var intents: [Intent] { state.withLock { $0.intents.values.sorted { $0.id < $1.id } } }

    // MARK: OAuth2

    func token(_ fields: [(name: String, value: String)]) -> Response {
        let values = Dictionary(fields.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
        let grant = values["grant_type"] ?? ""
        let allowed: Bool = state.withLock { state in
            state.grants.append(grant)
            switch grant {
            case "client_credentials":
                return values["client_id"] == clientID && values["client_secret"].map { constantTimeEquals($0, clientSecret) } == true
            case "refresh_token":
                guard values["client_id"] == clientID, let refresh = values["refresh_token"], state.refreshTokens.contains(refresh) else { return false }
                state.refreshTokens.remove(refresh)  // a refresh token is used once
                return true
            default:
                return false
            }
        }
        guard allowed else {
            return .json(["error": grant == "refresh_token" ? "invalid_grant" : "invalid_client",
                          "error_description": "The client credentials or the refresh token are invalid"], status: .badRequest)
        }
        let access = "ha-access-" + UUID().uuidString, refresh = "ha-refresh-" + UUID().uuidString
        let lifetime = state.withLock { state in
            state.accessTokens[access] = Date().addingTimeInterval(state.tokenLifetime)
            state.refreshTokens.insert(refresh)
            return state.tokenLifetime
        }
        return .json(["access_token": access, "refresh_token": refresh, "token_type": "bearer", "expires_in": Int(lifetime)])
    }

    /// nil when the bearer token is valid, else the 401 to answer.
    func unauthorized(_ authorization: String?) -> Response? {
        guard let authorization, authorization.hasPrefix("Bearer ") else {
            return .json(["message": "Authorization has been denied for this request."], status: .unauthorized)
        }
        let token = String(authorization.dropFirst("Bearer ".count))
        let valid = state.withLock { ($0.accessTokens[token] ?? .distantPast) > Date() }
        return valid ? nil : .json(["message": "The access token is expired or invalid."], status: .unauthorized)
    }

    // MARK: checkout intents

    func create(slug: String, authorization: String?, body: String) -> Response {
        if let denied = unauthorized(authorization) { return denied }
        guard slug == organizationSlug else { return .json(["message": "Organization not found or not allowed"], status: .forbidden) }
        guard let json = (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] else {
            return Self.badRequest("Body", "The body is not a JSON object")
        }
        guard let total = json["totalAmount"] as? Int, total > 0 else { return Self.badRequest("TotalAmount", "totalAmount must be a positive integer of cents") }
        guard let initial = json["initialAmount"] as? Int, initial == total else {
            return Self.badRequest("InitialAmount", "totalAmount must be equal to the sum of the initial amount and subsequent terms")
        }
        guard let item = json["itemName"] as? String, !item.isEmpty else { return Self.badRequest("ItemName", "itemName is required") }
        guard let back = json["backUrl"] as? String, let error = json["errorUrl"] as? String, let ret = json["returnUrl"] as? String else {
            return Self.badRequest("Urls", "backUrl, errorUrl and returnUrl are required")
        }
        guard json["containsDonation"] is Bool else { return Self.badRequest("ContainsDonation", "containsDonation is required") }
        let metadata = json["metadata"] ?? [String: Any]()
        let metadataJSON = String(decoding: (try? JSONSerialization.data(withJSONObject: metadata, options: [.sortedKeys])) ?? Data("{}".utf8),
                                  as: UTF8.self)
        let email = (json["payer"] as? [String: Any])?["email"] as? String
        let id = state.withLock { state in
            state.nextID += 1
            state.intents[state.nextID] = Intent(id: state.nextID, organizationSlug: slug, totalAmount: total, itemName: item,
                                                 backUrl: back, errorUrl: error, returnUrl: ret, payerEmail: email, metadataJSON: metadataJSON)
            return state.nextID
        }
        return .json(["id": id, "redirectUrl": redirectURL(id)])
    }

    func redirectURL(_ id: Int) -> String { server.baseURL + "/associations/\(organizationSlug)/checkout/\(id)" }

    static func badRequest(_ field: String, _ message: String) -> Response {
        .json(["errors": [["code": "ArgumentInvalid", "message": message, "field": field]]], status: .badRequest)
    }

    /// The intent; its `order` only once a payment is authorized ("ne renvoie une commande QUE si le paiement
    /// est autorisé", payments.md §3.2).
    func read(slug: String, id: String, authorization: String?) -> Response {
        if let denied = unauthorized(authorization) { return denied }
        guard slug == organizationSlug, let number = Int(id), let intent = intent(number) else {
            return .json(["message": "Checkout intent not found"], status: .notFound)
        }
        var answer: [String: Any] = ["id": intent.id, "redirectUrl": redirectURL(intent.id), "metadata": metadata(intent)]
        if intent.paymentState == "Authorized" { answer["order"] = order(intent) }
        return .json(answer)
    }

    func metadata(_ intent: Intent) -> Any {
        (try? JSONSerialization.jsonObject(with: Data(intent.metadataJSON.utf8))) ?? [String: Any]()
    }

    func payment(_ intent: Intent) -> [String: Any] {
        ["id": intent.paymentID ?? 0, "amount": intent.paidAmount ?? intent.totalAmount, "state": intent.paymentState ?? "Unknown",
         "paymentMeans": "Card", "installmentNumber": 1, "date": "2026-07-10T11:50:48.8859116+02:00", "refundOperations": [Any]()]
    }

    func order(_ intent: Intent) -> [String: Any] {
        ["id": intent.orderID ?? 0, "formSlug": "default", "formType": "Checkout", "organizationSlug": intent.organizationSlug,
         "checkoutIntentId": intent.id, "amount": ["total": intent.paidAmount ?? intent.totalAmount, "vat": 0, "discount": 0],
         "payments": [payment(intent)], "payer": ["email": intent.payerEmail ?? ""], "metadata": metadata(intent),
         "items": [["id": intent.orderID ?? 0, "amount": intent.paidAmount ?? intent.totalAmount, "type": "Payment",
                    "state": "Processed", "name": intent.itemName]]]
    }

    /// Marks an intent paid (or in another payment state) without the page: a test's shortcut.
    public func settle(_ id: Int, state paymentState: String, amount: Int? = nil) {
        state.withLock { state in
            guard var intent = state.intents[id] else { return }
            if intent.orderID == nil {
                state.nextID += 1
                intent.orderID = state.nextID
                state.nextID += 1
                intent.paymentID = state.nextID
            }
            intent.paymentState = paymentState
            intent.paidAmount = amount ?? intent.totalAmount
            state.intents[id] = intent
        }
    }

    // MARK: notifications

    /// The Payment notification of an intent's payment (payments.md §3.3).
    public func paymentNotification(_ id: Int) -> String? {
        guard let intent = intent(id), intent.paymentID != nil else { return nil }
        var data = payment(intent)
        data["order"] = ["id": intent.orderID ?? 0, "formSlug": "default", "formType": "Checkout", "organizationSlug": intent.organizationSlug]
        data["payer"] = ["email": intent.payerEmail ?? ""]
        return Self.encode(["eventType": "Payment", "data": data, "metadata": metadata(intent)])
    }

    /// The Order notification: the order with its payments, the checkoutIntentId and the intent's metadata.
    public func orderNotification(_ id: Int) -> String? {
        guard let intent = intent(id), intent.orderID != nil else { return nil }
        return Self.encode(["eventType": "Order", "data": order(intent), "metadata": metadata(intent)])
    }

    static func encode(_ object: [String: Any]) -> String {
        String(decoding: (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8), as: UTF8.self)
    }

    /// Posts a notification body to the configured URL, signed when a signature key is set; kept in `sent`.
    @discardableResult
    public func post(_ body: String, to url: String? = nil, signature: String? = nil) async throws -> Int {
        guard let url = url ?? state.withLock({ $0.notificationURL }) else { return 0 }
        var headers: [(String, String)] = []
        if let signature = signature ?? signatureKey.map({ Digests.hmacSHA256Hex(body, key: $0) }) {
            headers.append(("x-ha-signature", signature))
        }
        let contentType = "application/json"
        let status = (try? await FakeBankServer.deliver(to: url, contentType: contentType, headers: headers, body: body)) ?? 0
        state.withLock { $0.sent.append(SentNotification(url: url, contentType: contentType, headers: headers, body: body, status: status)) }
        return status
    }

    // MARK: the payer

    func page(id: String) -> Response {
        guard let number = Int(id), let intent = intent(number) else { return .text("Ce paiement n'existe pas", status: .notFound) }
        return .text(FakeBankPage.html(bank: "HELLOASSO", amountCents: intent.totalAmount, reference: intent.itemName,
                                       action: "\(intent.id)/choix", hidden: [("checkoutIntentId", String(intent.id))]),
                     contentType: "text/html; charset=utf-8")
    }

    /// Pay: the order is created, Payment and Order notifications sent, the browser sent to returnUrl. Refuse:
    /// a Payment notification in state Refused, the browser to errorUrl. Abandon: nothing sent, back to backUrl.
    func choose(id: String, _ fields: [(name: String, value: String)]) async throws -> Response {
        guard let number = Int(id), let current = intent(number) else { return .text("Ce paiement n'existe pas", status: .notFound) }
        guard current.paymentState != "Authorized" else { return .text("Déjà payé", status: .conflict) }
        let outcome = FakeOutcome(rawValue: fields.first { $0.name == "outcome" }?.value ?? "") ?? .abandon
        let delivery = FakeDelivery(rawValue: fields.first { $0.name == "delivery" }?.value ?? "") ?? .once
        func appending(_ url: String, _ query: String) -> String { url + (url.contains("?") ? "&" : "?") + query }
        switch outcome {
        case .pay:
            settle(number, state: "Authorized")
            let paid = intent(number)!
            let bodies = [paymentNotification(number)!, orderNotification(number)!]
            let ordered = state.withLock { $0.paymentFirst } ? bodies : bodies.reversed()
            await FakeBankServer.notify(delivery) { for body in ordered { try await self.post(body) } }
            return .seeOther(appending(current.returnUrl, "checkoutIntentId=\(number)&code=succeeded&orderId=\(paid.orderID!)"))
        case .refuse:
            settle(number, state: "Refused")
            let body = paymentNotification(number)!
            await FakeBankServer.notify(delivery) { try await self.post(body) }
            return .seeOther(appending(current.errorUrl, "checkoutIntentId=\(number)&error=refused"))
        case .abandon:
            return .seeOther(current.backUrl)
        }
    }
}
