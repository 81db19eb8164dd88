import Foundation
import Hummingbird
import PaymentKit
import Synchronization
import SystemPay

/// A notification a fake bank sent to the portal, kept so that a test can replay or alter it.
public struct SentNotification: Sendable {
    public var url: String
    public var contentType: String
    public var headers: [(String, String)]
    public var body: String
    /// What the portal answered (0 when it could not be reached).
    public var status: Int
}

/// Lyra's payment page (SystemPay, PayZen): receives the signed `vads_` form, lets the payer choose,
/// posts the signed IPN to `vads_url_check` and sends the browser back to `vads_url_return`.
public final class FakeSystemPay: Sendable {
    public let server: FakeBankServer
    /// site_id -> the key its forms and notifications are signed with (TEST mode, HMAC-SHA-256).
    let shops: [String: String]
    let sentLog = Mutex<[SentNotification]>([])

    /// The address to give a center as `url:`.
    public var paymentURL: String { server.baseURL + "/vads-payment/" }
    public var sent: [SentNotification] { sentLog.withLock { $0 } }

    /// A transaction as the REST API's `Order/Get` shows it.
    public struct Transaction: Sendable {
        public var uuid: String
        public var amountCents: Int
        /// PAID, UNPAID, RUNNING.
        public var status: String
        /// The vads_trans_status of the transaction: AUTHORISED, REFUSED, ABANDONED ...
        public var detailedStatus: String
        /// DEBIT (a payment) or CREDIT (a refund).
        public var operationType: String

        public init(uuid: String, amountCents: Int, status: String, detailedStatus: String, operationType: String = "DEBIT") {
            self.uuid = uuid
            self.amountCents = amountCents
            self.status = status
            self.detailedStatus = detailedStatus
            self.operationType = operationType
        }
    }

    /// site_id -> REST API password; a shop without one cannot use the REST API.
    let restPasswords: [String: String]
    /// "site_id|order" -> the order's transactions, as the payer's choices made them.
    let orders = Mutex<[String: [Transaction]]>([:])
    let restLog = Mutex<[String]>([])

    /// The REST API's address to give a center as `api_url:`.
    public var apiURL: String { server.baseURL }
    /// The orders asked about through the REST API, in order.
    public var restQueries: [String] { restLog.withLock { $0 } }

    public func transactions(site: String, order: String) -> [Transaction] { orders.withLock { $0["\(site)|\(order)"] ?? [] } }

    /// Adds (or, same uuid, replaces) a transaction of an order, as the bank's back office would show it.
    public func record(_ transaction: Transaction, site: String, order: String) {
        orders.withLock { orders in
            var list = orders["\(site)|\(order)", default: []].filter { $0.uuid != transaction.uuid }
            list.append(transaction)
            orders["\(site)|\(order)"] = list
        }
    }

    public static func start(shops: [String: String], restPasswords: [String: String] = [:], port: Int = 0) async throws -> FakeSystemPay {
        let holder = Holder<FakeSystemPay>()
        let server = try await FakeBankServer.start(port: port) { router in
            router.post("/api-payment/V4/Order/Get") { request, _ in
                var request = request
                let body = try await request.text()
                return holder.value!.orderGet(authorization: request.headers[.authorization], body: body)
            }
            router.post("/vads-payment/") { request, _ in
                var request = request
                return try await holder.value!.page(try await request.form())
            }
            router.post("/vads-payment/choice") { request, _ in
                var request = request
                return try await holder.value!.choose(try await request.form())
            }
        }
        let bank = FakeSystemPay(server: server, shops: shops, restPasswords: restPasswords)
        holder.value = bank
        return bank
    }

    private init(server: FakeBankServer, shops: [String: String], restPasswords: [String: String]) {
        self.server = server
        self.shops = shops
        self.restPasswords = restPasswords
    }

    /// `Order/Get`: Basic authentication with the shop id and its REST password; every answer is HTTP 200
    /// with `status` SUCCESS or ERROR, as Lyra's API answers (an unknown order: ERROR PSP_010).
    func orderGet(authorization: String?, body: String) -> Response {
        guard let authorization, authorization.hasPrefix("Basic "),
              let decoded = Data(base64Encoded: String(authorization.dropFirst(6))).map({ String(decoding: $0, as: UTF8.self) }),
              let colon = decoded.firstIndex(of: ":"),
              let password = restPasswords[String(decoded[..<colon])],
              constantTimeEquals(String(decoded[decoded.index(after: colon)...]), password) else {
            return .json(["status": "ERROR", "answer": ["errorCode": "INT_905", "errorMessage": "invalid credentials"]], status: .unauthorized)
        }
        let site = String(decoded[..<colon])
        guard let object = (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any], let order = object["orderId"] as? String else {
            return .json(["status": "ERROR", "answer": ["errorCode": "INT_009", "errorMessage": "invalid orderId"]])
        }
        restLog.withLock { $0.append(order) }
        let transactions = self.transactions(site: site, order: order)
        guard !transactions.isEmpty else {
            return .json(["status": "ERROR", "answer": ["errorCode": "PSP_010", "errorMessage": "transaction not found"]])
        }
        let paid = transactions.contains { $0.status == "PAID" }
        return .json(["status": "SUCCESS", "answer": [
            "shopId": site, "orderCycle": paid ? "CLOSED" : "OPEN", "orderStatus": paid ? "PAID" : "UNPAID",
            "orderDetails": ["orderId": order],
            "transactions": transactions.map { t -> [String: Any] in
                ["uuid": t.uuid, "amount": t.amountCents, "currency": "EUR", "status": t.status,
                 "detailedStatus": t.detailedStatus, "operationType": t.operationType]
            },
        ] as [String: Any]])
    }

    public func stop() async { await server.stop() }

    /// The form as the shop signed it, or nil when its signature or shop is wrong.
    func verified(_ fields: [(name: String, value: String)]) -> [String: String]? {
        let values = Dictionary(fields.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
        guard let site = values["vads_site_id"], let key = shops[site], let signature = values["signature"],
              constantTimeEquals(signature, SystemPayShop.signature(fields, key: key, algorithm: .hmacSHA256)) else { return nil }
        return values
    }

    func page(_ fields: [(name: String, value: String)]) -> Response {
        guard let values = verified(fields) else { return .text("Erreur 00 : signature invalide", status: .badRequest) }
        return .text(FakeBankPage.html(bank: "SYSTEMPAY", amountCents: Int(values["vads_amount"] ?? "") ?? 0,
                                       reference: values["vads_order_id"] ?? "", action: "choice",
                                       hidden: fields.map { ($0.name, $0.value) }),
                     contentType: "text/html; charset=utf-8")
    }

    func choose(_ fields: [(name: String, value: String)]) async throws -> Response {
        let form = fields.filter { $0.name != "outcome" && $0.name != "delivery" }
        guard let values = verified(form), let key = shops[values["vads_site_id"]!] else {
            return .text("Erreur 00 : signature invalide", status: .badRequest)
        }
        let outcome = FakeOutcome(rawValue: fields.first { $0.name == "outcome" }?.value ?? "") ?? .abandon
        let delivery = FakeDelivery(rawValue: fields.first { $0.name == "delivery" }?.value ?? "") ?? .once
        let status = switch outcome {
        case .pay: "AUTHORISED"
        case .refuse: "REFUSED"
        case .abandon: "ABANDONED"
        }
        let uuid = UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        record(Transaction(uuid: uuid, amountCents: Int(values["vads_amount"] ?? "") ?? 0, status: outcome == .pay ? "PAID" : "UNPAID",
                           detailedStatus: status), site: values["vads_site_id"]!, order: values["vads_order_id"] ?? "")
        let ipn = Self.notification(values, status: status, uuid: uuid, key: key)
        if let url = values["vads_url_check"] {
            await FakeBankServer.notify(delivery) { try await self.post(ipn, to: url) }
        }
        return .seeOther(values["vads_url_return"] ?? "/")
    }

    /// A signed IPN for the form's payment (payments.md §1.6).
    public static func notification(_ form: [String: String], status: String, uuid: String, key: String, amountCents: Int? = nil) -> String {
        var fields: [(name: String, value: String)] = [
            ("vads_amount", amountCents.map(String.init) ?? form["vads_amount"] ?? "0"),
            ("vads_ctx_mode", form["vads_ctx_mode"] ?? "TEST"),
            ("vads_currency", form["vads_currency"] ?? "978"),
            ("vads_order_id", form["vads_order_id"] ?? ""),
            ("vads_site_id", form["vads_site_id"] ?? ""),
            ("vads_trans_date", form["vads_trans_date"] ?? ""),
            ("vads_trans_id", form["vads_trans_id"] ?? ""),
            ("vads_trans_status", status),
            ("vads_trans_uuid", uuid),
            ("vads_url_check_src", "PAY"),
        ]
        fields.append(("signature", SystemPayShop.signature(fields, key: key, algorithm: .hmacSHA256)))
        return FormURLEncoding.encode(fields)
    }

    /// Posts an IPN and keeps it in `sent`.
    @discardableResult
    public func post(_ body: String, to url: String) async throws -> Int {
        let contentType = "application/x-www-form-urlencoded"
        let status = (try? await FakeBankServer.deliver(to: url, contentType: contentType, body: body)) ?? 0
        sentLog.withLock { $0.append(SentNotification(url: url, contentType: contentType, headers: [], body: body, status: status)) }
        return status
    }
}

