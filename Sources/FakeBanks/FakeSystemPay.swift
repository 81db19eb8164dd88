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

    public static func start(shops: [String: String], port: Int = 0) async throws -> FakeSystemPay {
        let holder = Holder<FakeSystemPay>()
        let server = try await FakeBankServer.start(port: port) { router in
            router.post("/vads-payment/") { request, _ in
                var request = request
                return try await holder.value!.page(try await request.form())
            }
            router.post("/vads-payment/choice") { request, _ in
                var request = request
                return try await holder.value!.choose(try await request.form())
            }
        }
        let bank = FakeSystemPay(server: server, shops: shops)
        holder.value = bank
        return bank
    }

    private init(server: FakeBankServer, shops: [String: String]) {
        self.server = server
        self.shops = shops
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
        let ipn = Self.notification(values, status: status, uuid: UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased(), key: key)
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

