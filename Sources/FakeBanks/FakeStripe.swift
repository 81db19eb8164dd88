import Foundation
import Hummingbird
import PaymentKit
import Stripe
import Synchronization

/// Stripe's API (the Checkout subset the portal uses) and its hosted checkout page, on a local port.
///
/// Like Stripe, it sends webhook events to an endpoint registered per account (the dashboard's webhook
/// endpoint), not per session: a test sets it with `setWebhookURL(_:for:)` once the portal listens.
/// Pay sends `checkout.session.completed` (paid); Refuse is a delayed method that fails (`completed`
/// unpaid, then `async_payment_failed`), the way Stripe reports a refusal after the payer left its page
/// (a declined card on the page itself sends nothing: the payer tries again there); Abandon sends nothing
/// (Stripe says `checkout.session.expired` at `expires_at`, which `expire(_:)` brings forward).
public final class FakeStripe: Sendable {
    /// An account of the fake: its secret API key and its webhook endpoint's signing secret.
    public struct Account: Sendable {
        public var secretKey: String
        public var webhookSecret: String
        public init(secretKey: String, webhookSecret: String) {
            self.secretKey = secretKey
            self.webhookSecret = webhookSecret
        }
    }

    /// A Checkout Session as the fake keeps it.
    public struct Session: Sendable {
        public var id: String
        public var secretKey: String
        public var amountCents: Int
        public var currency: String
        public var name: String
        public var successURL: String
        public var cancelURL: String
        public var clientReferenceID: String?
        public var metadata: [String: String]
        public var customerEmail: String?
        public var expiresAt: Int
        public var created: Int
        /// open, complete, expired
        public var status: String
        /// unpaid, paid
        public var paymentStatus: String
        public var paymentIntent: String?
        public var refundedCents: Int
    }

    public let server: FakeBankServer
    let accounts: [String: Account]
    let state = Mutex<State>(State())
    let sentLog = Mutex<[SentNotification]>([])

    struct State {
        var sessions: [String: Session] = [:]
        var idempotency: [String: String] = [:]
        var webhooks: [String: String] = [:]
        var counter = 0
        var refunds: [[String: String]] = []
        /// Refunds by account and Idempotency-Key: the parameters first sent, and the refund made.
        var refundKeys: [String: (parameters: [String: String], refund: Int)] = [:]
        var requests: [[String: String]] = []
    }

    /// The address to give a center as `api_url:`.
    public var apiURL: String { server.baseURL }
    public var sent: [SentNotification] { sentLog.withLock { $0 } }
    /// The form fields of every session creation the fake received, for tests.
    public var sessionRequests: [[String: String]] { state.withLock { $0.requests } }
    public var refunds: [[String: String]] { state.withLock { $0.refunds } }
    public func session(_ id: String) -> Session? { state.withLock { $0.sessions[id] } }
    public var sessions: [Session] { state.withLock { Array($0.sessions.values) }.sorted { $0.created < $1.created || ($0.created == $1.created && $0.id < $1.id) } }

    public static func start(accounts: [Account], port: Int = 0) async throws -> FakeStripe {
        let holder = Holder<FakeStripe>()
        let server = try await FakeBankServer.start(port: port) { router in
            router.post("/v1/checkout/sessions") { request, _ in
                var request = request
                let key = Self.secretKey(request.headers[.authorization])
                let idempotency = request.headers.first { $0.name.canonicalName == "idempotency-key" }?.value
                return holder.value!.create(key: key, idempotencyKey: idempotency, try await request.form())
            }
            router.get("/v1/checkout/sessions/:id") { request, context in
                holder.value!.retrieve(key: Self.secretKey(request.headers[.authorization]), id: context.parameters.get("id") ?? "")
            }
            router.post("/v1/checkout/sessions/:id/expire") { request, context in
                let bank = holder.value!
                let id = context.parameters.get("id") ?? ""
                guard let key = Self.secretKey(request.headers[.authorization]), bank.accounts[key] != nil else { return Self.unauthorized() }
                guard let session = bank.session(id), session.secretKey == key else { return Self.missing(id) }
                guard session.status == "open" else {
                    return Self.error("Only Checkout Sessions with a status of `open` can be expired.", status: .badRequest)
                }
                return .json(bank.object(await bank.expire(id) ?? session))
            }
            router.post("/v1/refunds") { request, _ in
                var request = request
                let idempotency = request.headers.first { $0.name.canonicalName == "idempotency-key" }?.value
                return holder.value!.refund(key: Self.secretKey(request.headers[.authorization]), idempotencyKey: idempotency, try await request.form())
            }
            router.get("/c/pay/:id") { _, context in
                holder.value!.page(context.parameters.get("id") ?? "")
            }
            router.post("/c/pay/:id/choice") { request, context in
                var request = request
                return try await holder.value!.choose(context.parameters.get("id") ?? "", try await request.form())
            }
        }
        let bank = FakeStripe(server: server, accounts: Dictionary(accounts.map { ($0.secretKey, $0) }, uniquingKeysWith: { a, _ in a }))
        holder.value = bank
        return bank
    }

    private init(server: FakeBankServer, accounts: [String: Account]) {
        self.server = server
        self.accounts = accounts
    }

    public func stop() async { await server.stop() }

    /// Where the account's webhook events go (the endpoint registered in Stripe's dashboard).
    public func setWebhookURL(_ url: String, for secretKey: String) {
        state.withLock { $0.webhooks[secretKey] = url }
    }

    // MARK: API

    /// `Authorization: Bearer sk_…` or HTTP Basic with the key as user, as Stripe accepts both.
    static func secretKey(_ header: String?) -> String? {
        guard let header else { return nil }
        if header.hasPrefix("Bearer ") { return String(header.dropFirst(7)) }
        if header.hasPrefix("Basic "), let data = Data(base64Encoded: String(header.dropFirst(6))) {
            return String(decoding: data, as: UTF8.self).split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init)
        }
        return nil
    }

    static func error(_ message: String, status: HTTPResponse.Status, param: String? = nil) -> Response {
        var error: [String: Any] = ["type": "invalid_request_error", "message": message]
        if let param { error["param"] = param }
        return .json(["error": error], status: status)
    }

    static func unauthorized() -> Response { error("Invalid API Key provided", status: .unauthorized) }
    static func missing(_ id: String) -> Response { error("No such checkout.session: '\(id)'", status: .notFound, param: "id") }

    func create(key: String?, idempotencyKey: String?, _ fields: [(name: String, value: String)]) -> Response {
        guard let key, accounts[key] != nil else { return Self.unauthorized() }
        let form = Dictionary(fields.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a })
        if let idempotencyKey, let existing = state.withLock({ $0.idempotency[key + "|" + idempotencyKey] }), let session = session(existing) {
            return .json(object(session))
        }
        guard form["mode"] == "payment" else { return Self.error("mode must be payment", status: .badRequest, param: "mode") }
        guard let currency = form["line_items[0][price_data][currency]"], currency == currency.lowercased(), currency.count == 3 else {
            return Self.error("Missing or invalid currency", status: .badRequest, param: "line_items[0][price_data][currency]")
        }
        guard let amountText = form["line_items[0][price_data][unit_amount]"], let amount = Int(amountText), amount > 0 else {
            return Self.error("Invalid integer: unit_amount (in cents)", status: .badRequest, param: "line_items[0][price_data][unit_amount]")
        }
        guard let name = form["line_items[0][price_data][product_data][name]"], !name.isEmpty else {
            return Self.error("Missing product name", status: .badRequest, param: "line_items[0][price_data][product_data][name]")
        }
        guard let quantity = Int(form["line_items[0][quantity]"] ?? ""), quantity > 0 else {
            return Self.error("Missing quantity", status: .badRequest, param: "line_items[0][quantity]")
        }
        guard let success = form["success_url"], success.hasPrefix("http"), let cancel = form["cancel_url"], cancel.hasPrefix("http") else {
            return Self.error("success_url and cancel_url must be absolute URLs", status: .badRequest, param: "success_url")
        }
        let now = Int(Date().timeIntervalSince1970)
        var expiresAt = now + 24 * 3600
        if let text = form["expires_at"] {
            guard let value = Int(text), value >= now + 30 * 60, value <= now + 24 * 3600 else {
                return Self.error("The `expires_at` timestamp must be between 30 minutes and 24 hours after the Checkout Session is created.",
                                  status: .badRequest, param: "expires_at")
            }
            expiresAt = value
        }
        var metadata: [String: String] = [:]
        for field in fields where field.name.hasPrefix("metadata[") && field.name.hasSuffix("]") {
            metadata[String(field.name.dropFirst(9).dropLast())] = field.value
        }
        let session = state.withLock { state -> Session in
            state.counter += 1
            let id = "cs_test_\(String(format: "%06d", state.counter))\(UUID().uuidString.prefix(8).lowercased())"
            let session = Session(
                id: id, secretKey: key, amountCents: amount * quantity, currency: currency, name: name, successURL: success, cancelURL: cancel,
                clientReferenceID: form["client_reference_id"], metadata: metadata, customerEmail: form["customer_email"],
                expiresAt: expiresAt, created: now, status: "open", paymentStatus: "unpaid", paymentIntent: nil, refundedCents: 0
            )
            state.sessions[id] = session
            state.requests.append(form)
            if let idempotencyKey { state.idempotency[key + "|" + idempotencyKey] = id }
            return session
        }
        return .json(object(session))
    }

    func retrieve(key: String?, id: String) -> Response {
        guard let key, accounts[key] != nil else { return Self.unauthorized() }
        guard let session = session(id), session.secretKey == key else { return Self.missing(id) }
        return .json(object(session))
    }

    /// Like Stripe, an `Idempotency-Key` already used on this account with the same parameters replays the
    /// refund first made (no new refund), and with other parameters is refused.
    func refund(key: String?, idempotencyKey: String? = nil, _ fields: [(name: String, value: String)]) -> Response {
        guard let key, accounts[key] != nil else { return Self.unauthorized() }
        let form = Dictionary(fields.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a })
        guard let intent = form["payment_intent"] else { return Self.error("Missing payment_intent", status: .badRequest, param: "payment_intent") }
        let result: Result<[String: Any], FakeRefusal> = state.withLock { state in
            let scopedKey = idempotencyKey.map { key + "|" + $0 }
            if let scopedKey, let earlier = state.refundKeys[scopedKey] {
                guard earlier.parameters == form else {
                    return .failure(FakeRefusal("Keys for idempotent requests can only be used with the same parameters they were first used with."))
                }
                let refund = state.refunds[earlier.refund]
                return .success(["id": refund["id"]!, "object": "refund", "amount": Int(refund["amount"]!)!, "currency": refund["currency"]!,
                                 "payment_intent": refund["payment_intent"]!, "status": "succeeded"])
            }
            guard let (id, session) = state.sessions.first(where: { $0.value.paymentIntent == intent && $0.value.secretKey == key }),
                  session.paymentStatus == "paid" else { return .failure(FakeRefusal("No such payment_intent: '\(intent)'")) }
            let amount = form["amount"].flatMap(Int.init) ?? (session.amountCents - session.refundedCents)
            guard amount > 0, amount <= session.amountCents - session.refundedCents else {
                return .failure(FakeRefusal("Refund amount (\(amount)) is greater than unrefunded amount on charge"))
            }
            state.sessions[id]?.refundedCents += amount
            state.counter += 1
            var refund = ["id": "re_test_\(state.counter)", "payment_intent": intent, "amount": String(amount), "currency": session.currency]
            for (name, value) in form where name.hasPrefix("metadata[") { refund[name] = value }
            if let idempotencyKey { refund["idempotency_key"] = idempotencyKey }
            state.refunds.append(refund)
            if let scopedKey { state.refundKeys[scopedKey] = (form, state.refunds.count - 1) }
            return .success(["id": refund["id"]!, "object": "refund", "amount": amount, "currency": session.currency,
                             "payment_intent": intent, "status": "succeeded"])
        }
        switch result {
        case .success(let object): return .json(object)
        case .failure(let refusal): return Self.error(refusal.message, status: .badRequest, param: "payment_intent")
        }
    }

    /// The session as Stripe's API shows it.
    func object(_ session: Session) -> [String: Any] {
        [
            "id": session.id, "object": "checkout.session", "mode": "payment", "livemode": false,
            "amount_total": session.amountCents, "amount_subtotal": session.amountCents, "currency": session.currency,
            "client_reference_id": session.clientReferenceID ?? NSNull(), "metadata": session.metadata,
            "customer_email": session.customerEmail ?? NSNull(), "created": session.created, "expires_at": session.expiresAt,
            "status": session.status, "payment_status": session.paymentStatus,
            "payment_intent": session.paymentIntent ?? NSNull(),
            "success_url": session.successURL, "cancel_url": session.cancelURL,
            "url": session.status == "open" ? "\(server.baseURL)/c/pay/\(session.id)" : NSNull(),
        ]
    }

    // MARK: The hosted page

    func page(_ id: String) -> Response {
        guard let session = session(id) else { return .text("Session inconnue", status: .notFound) }
        guard session.status == "open" else { return .text("Cette session de paiement n'est plus ouverte (\(session.status)).", status: .gone) }
        return .text(FakeBankPage.html(bank: "STRIPE", amountCents: session.amountCents,
                                       reference: session.clientReferenceID ?? session.id, action: "/c/pay/\(id)/choice", hidden: []),
                     contentType: "text/html; charset=utf-8")
    }

    func choose(_ id: String, _ fields: [(name: String, value: String)]) async throws -> Response {
        guard let session = session(id), session.status == "open" else { return .text("Session inconnue ou close", status: .gone) }
        let outcome = FakeOutcome(rawValue: fields.first { $0.name == "outcome" }?.value ?? "") ?? .abandon
        let delivery = FakeDelivery(rawValue: fields.first { $0.name == "delivery" }?.value ?? "") ?? .once
        let back = session.successURL.replacingOccurrences(of: "{CHECKOUT_SESSION_ID}", with: id)
        switch outcome {
        case .pay:
            let paid = complete(id, paid: true)
            let event = event("checkout.session.completed", paid)
            await FakeBankServer.notify(delivery) { _ = await self.send(event, secretKey: session.secretKey) }
            return .seeOther(back)
        case .refuse:
            let unpaid = complete(id, paid: false)
            let completed = event("checkout.session.completed", unpaid)
            let failed = event("checkout.session.async_payment_failed", unpaid)
            await FakeBankServer.notify(delivery) {
                _ = await self.send(completed, secretKey: session.secretKey)
                _ = await self.send(failed, secretKey: session.secretKey)
            }
            return .seeOther(back)
        case .abandon:
            return .seeOther(session.cancelURL.replacingOccurrences(of: "{CHECKOUT_SESSION_ID}", with: id))
        }
    }

    /// The payer finished on the page: paid (card) or unpaid (a delayed method still to settle).
    @discardableResult
    public func complete(_ id: String, paid: Bool) -> Session {
        state.withLock { state in
            state.counter += 1
            state.sessions[id]?.status = "complete"
            state.sessions[id]?.paymentStatus = paid ? "paid" : "unpaid"
            if state.sessions[id]?.paymentIntent == nil { state.sessions[id]?.paymentIntent = "pi_test_\(String(format: "%06d", state.counter))" }
            return state.sessions[id]!
        }
    }

    /// A delayed payment settles: the session becomes paid and `async_payment_succeeded` is sent.
    @discardableResult
    public func settle(_ id: String) async -> SentNotification? {
        guard let session = state.withLock({ state -> Session? in
            state.sessions[id]?.paymentStatus = "paid"
            return state.sessions[id]
        }) else { return nil }
        return await send(event("checkout.session.async_payment_succeeded", session), secretKey: session.secretKey)
    }

    /// The session reaches `expires_at` now: it expires and `checkout.session.expired` is sent.
    @discardableResult
    public func expire(_ id: String) async -> Session? {
        guard let session = state.withLock({ state -> Session? in
            guard state.sessions[id]?.status == "open" else { return nil }
            state.sessions[id]?.status = "expired"
            return state.sessions[id]
        }) else { return nil }
        await send(event("checkout.session.expired", session), secretKey: session.secretKey)
        return session
    }

    // MARK: Webhooks

    /// An event about a session, as Stripe's webhook posts it (one JSON line, its own id).
    public func event(_ type: String, _ session: Session, id: String? = nil) -> String {
        let sessionObject = self.object(session)
        let event: [String: Any] = [
            "id": id ?? "evt_test_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(24).lowercased())",
            "object": "event", "api_version": "2024-06-20", "type": type, "livemode": false,
            "created": Int(Date().timeIntervalSince1970), "data": ["object": sessionObject],
        ]
        let data = (try? JSONSerialization.data(withJSONObject: event, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    /// Posts an event to the account's webhook endpoint, signed now (each delivery, retries too, is signed
    /// afresh as Stripe does), and keeps it in `sent`.
    @discardableResult
    public func send(_ body: String, secretKey: String, timestamp: Int? = nil) async -> SentNotification? {
        guard let account = accounts[secretKey], let url = state.withLock({ $0.webhooks[secretKey] }) else { return nil }
        let signature = StripeAccount.signatureHeader(body: body, secret: account.webhookSecret,
                                                      timestamp: timestamp ?? Int(Date().timeIntervalSince1970))
        let headers = [("Stripe-Signature", signature)]
        let contentType = "application/json; charset=utf-8"
        let status = (try? await FakeBankServer.deliver(to: url, contentType: contentType, headers: headers, body: body)) ?? 0
        let sent = SentNotification(url: url, contentType: contentType, headers: headers, body: body, status: status)
        sentLog.withLock { $0.append(sent) }
        return sent
    }
}

/// Why a fake bank refuses a request, in its own words.
struct FakeRefusal: Error {
    let message: String
    init(_ message: String) { self.message = message }
}
