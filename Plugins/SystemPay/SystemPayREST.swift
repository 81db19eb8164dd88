import Foundation
import PaymentKit

/// A SystemPay shop whose REST API password is configured: the same form and IPN as `SystemPayShop`, and
/// the portal may also ask the platform what became of an order whose IPN never came (Lyra's V4 REST API,
/// `Order/Get`, authenticated with the shop id and the REST password of the shop's mode).
public struct SystemPayRESTShop: StatusQueryingProvider {
    public let shop: SystemPayShop
    let password: String
    /// "https://api.systempay.fr": the calls go to `<apiURL>/api-payment/V4/...`.
    public let apiURL: String

    public init(shop: SystemPayShop, password: String, apiURL: String) {
        self.shop = shop
        self.password = password
        self.apiURL = apiURL.hasSuffix("/") ? String(apiURL.dropLast()) : apiURL
    }

    public var displayName: String { shop.displayName }
    public var sessionLimit: TimeInterval { shop.sessionLimit }

    public func start(_ attempt: PaymentAttempt, services: ProviderServices) async throws -> PaymentStart {
        try await shop.start(attempt, services: services)
    }

    public func verify(_ notification: IncomingNotification, services: ProviderServices) async throws -> VerifiedNotification {
        try await shop.verify(notification, services: services)
    }

    public func acknowledgement(_ outcome: NotificationOutcome) -> (status: Int, body: String) { shop.acknowledgement(outcome) }

    // MARK: Status

    /// The order's transactions at the platform, the most telling first: a paid one (AUTHORISED, CAPTURED),
    /// then one still in progress, then one the bank could not settle, then a refusal, an abandon, an expiry.
    /// Nil while the platform knows no transaction of the order (the payer has not paid yet, or never will:
    /// the attempt dies at its session limit anyway). A refund (CREDIT) is never a payment.
    public func status(of attempt: AttemptIdentity, services: ProviderServices) async throws -> VerifiedNotification? {
        let answer = try await call("Order/Get", ["orderId": attempt.reference], services: services)
        guard let answer else { return nil }  // the platform does not know the order
        if let shopID = answer["shopId"] as? String, shopID != shop.siteID {
            throw ProviderCallFailed("SystemPay answered for shop \(shopID), not \(shop.siteID)")
        }
        if let details = answer["orderDetails"] as? [String: Any], let orderID = details["orderId"] as? String, orderID != attempt.reference {
            throw ProviderCallFailed("SystemPay answered about order \(orderID), not \(attempt.reference)")
        }
        let transactions = (answer["transactions"] as? [[String: Any]] ?? []).filter { ($0["operationType"] as? String ?? "DEBIT") != "CREDIT" }
        let ranked: [PaymentStatus] = [.paid, .pending, .review, .refused, .cancelled, .expired]
        let chosen = transactions.compactMap { transaction -> (rank: Int, transaction: [String: Any], detailed: String)? in
            guard let detailed = transaction["detailedStatus"] as? String, let uuid = transaction["uuid"] as? String, !uuid.isEmpty else { return nil }
            return (ranked.firstIndex(of: SystemPayShop.normalise(detailed)) ?? ranked.count, transaction, detailed)
        }.min { $0.rank < $1.rank }
        guard let chosen else { return nil }
        let uuid = chosen.transaction["uuid"] as! String
        let amount = (chosen.transaction["amount"] as? NSNumber)?.intValue
        return VerifiedNotification(
            idempotencyKey: "\(uuid)|\(chosen.detailed)", attemptReference: attempt.reference,
            status: SystemPayShop.normalise(chosen.detailed), amountCents: amount,
            currency: chosen.transaction["currency"] as? String, providerStatus: chosen.detailed, providerTransaction: uuid
        )
    }

    // MARK: Calls

    /// One call to the REST API: its `answer` object, nil when the platform says the order or transaction
    /// does not exist, `ProviderCallFailed` otherwise (unreachable, refused credentials, another error).
    func call(_ service: String, _ body: [String: Any], services: ProviderServices) async throws -> [String: Any]? {
        let json = String(decoding: try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys]), as: UTF8.self)
        let credentials = Data("\(shop.siteID):\(password)".utf8).base64EncodedString()
        let request = ProviderHTTPRequest(method: "POST", url: apiURL + "/api-payment/V4/" + service,
                                          headers: [("Content-Type", "application/json"), ("Authorization", "Basic " + credentials)],
                                          body: json)
        let response: ProviderHTTPResponse
        do {
            response = try await services.http.send(request)
        } catch let error as ProviderCallFailed {
            throw error
        } catch {
            throw ProviderCallFailed("SystemPay's REST API could not be reached: \(error)")
        }
        let object = (try? JSONSerialization.jsonObject(with: Data(response.body.utf8))) as? [String: Any]
        guard response.isSuccess, let object, let answer = object["answer"] as? [String: Any] else {
            throw ProviderCallFailed("SystemPay answered \(response.status) to \(service): \(response.body.prefix(200))",
                                     status: response.isSuccess ? nil : response.status)
        }
        guard object["status"] as? String == "SUCCESS" else {
            let code = answer["errorCode"] as? String ?? "-"
            // PSP_010: the platform knows no such transaction or order.
            if code == "PSP_010" { return nil }
            throw ProviderCallFailed("SystemPay refused \(service): \(code) \(answer["errorMessage"] as? String ?? "")")
        }
        return answer
    }
}
