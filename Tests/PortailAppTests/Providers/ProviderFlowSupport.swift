import AsyncHTTPClient
import FakeBanks
import Foundation
import NIOCore
import NIOHTTP1
import PaymentKit
import PortailConfig
import PortailDomain
import PortailTestSupport
import Testing
@testable import PortailApp

// What every provider's flow test shares: the parent's browser going from the portal to a fake bank
// over real HTTP, choosing an outcome on the bank's page, and coming back.

/// Where "Accéder au paiement" sends the browser.
enum BankStart: Sendable {
    /// A form posted to the bank (SystemPay, Monetico).
    case form(action: String, fields: [(String, String)])
    /// A redirect to a session the portal opened at the bank (Stripe, HelloAsso, PayFiP).
    case redirect(String)
}

/// A provider made from a center's `payment:` block, with `environment` for its `*_env` secrets.
func providers(_ type: any PaymentProviderType.Type, environment: [String: String]) -> @Sendable (Center) -> (any PaymentProvider)? {
    { center in
        guard let settings = center.payment else { return nil }
        return try? type.make(parameters: settings.parameters, environment: environment)
    }
}

/// The portal whose centers pay through the providers of `registry`, made from each center's block with
/// `environment` for its `*_env` secrets (the center files checked by the providers' own rules with those
/// secrets, as `serve` does), with a reconciliation over them; `stop` ends the fake bank afterwards.
/// `checkingAccounts: false` when the fake knows a single account that both test centers use.
func withProviderPortal(
    payment: String, registry: PaymentProviderRegistry, environment: [String: String], checkingAccounts: Bool = true,
    stop: @Sendable () async -> Void, _ body: @Sendable (Browser, PortalFixture, PaymentReconciliation) async throws -> Void
) async throws {
    let provider: @Sendable (Center) -> (any PaymentProvider)? = { center in
        registry.provider(for: center, environment: environment, logger: TestCluster.logger)
    }
    var rules: [PaymentTypeRule] = []
    for rule in registry.rules {
        let validate = rule.validate
        let account = rule.account
        rules.append(PaymentTypeRule(type: rule.type, account: { checkingAccounts ? account($0) : nil }) { parameters, _ in
            validate(parameters, environment)
        })
    }
    do {
        try await withPortal(payment: payment, provider: provider, paymentRules: rules) { client, fixture in
            let reconciliation = PaymentReconciliation(database: fixture.database, paymentProvider: provider, logger: TestCluster.logger)
            try await body(Browser(client), fixture, reconciliation)
        }
    } catch {
        await stop()
        throw error
    }
    await stop()
}

/// Logs in as the parent of "petit" (unless told not to), books `days` journées and presses "Accéder au paiement".
func goToBank(_ browser: Browser, fixture: PortalFixture, days: Int = 2, login: Bool = true) async throws -> BankStart {
    if login { _ = try await browser.login("/petit", email: "parent@example.org", password: PortalFixture.password) }
    try await bookDays(browser, fixture: fixture, Array(0..<days))
    return try await pressPay(browser)
}

/// "Accéder au paiement" from the cart.
func pressPay(_ browser: Browser) async throws -> BankStart {
    _ = try await browser.get("/petit/panier")
    let pay = try await browser.post("/petit/panier/paiement", [])
    if pay.status == .seeOther, let location = pay.location { return .redirect(location) }
    try #require(pay.status == .ok, "Accéder au paiement answered \(pay.status): \(pay.text.prefix(300))")
    let form = try #require(pay.body.firstMatch(of: /<form method="post" action="([^"]+)" id="vers-la-banque"[^>]*>(?s)(.*?)<\/form>/))
    // Only the bank form's fields: the page's other forms (the layout's logout, with its csrf) are not the bank's.
    return .form(action: unescapeHTML(String(form.1)), fields: hiddenFields(String(form.2)))
}

/// The payer on the fake bank's page: opens it, presses `outcome` with the notification sent as `delivery`.
/// Returns where the bank sends the browser back (a portal address).
@discardableResult
func payAtBank(_ start: BankStart, _ outcome: FakeOutcome, delivery: FakeDelivery = .once) async throws -> String {
    let (pageURL, page) = switch start {
    case .form(let action, let fields): (action, try await BankHTTP.send("POST", action, form: fields))
    case .redirect(let url): (url, try await BankHTTP.send("GET", url))
    }
    try #require(page.status == 200, "the bank's page answered \(page.status): \(page.body.prefix(300))")
    let action = try #require(page.body.firstMatch(of: /<form method="post" action="([^"]+)"/)?.1)
    let target = URL(string: unescapeHTML(String(action)), relativeTo: URL(string: pageURL))!.absoluteString
    let fields = hiddenFields(page.body) + [("outcome", outcome.rawValue), ("delivery", delivery.rawValue)]
    let back = try await BankHTTP.send("POST", target, form: fields)
    return try #require(back.location, "the bank did not send the browser back (\(back.status)): \(back.body.prefix(300))")
}

/// The path and query of a portal address, for `Browser.get`.
func portalPath(_ address: String) -> String {
    guard let url = URL(string: address), url.host != nil else { return address }
    return url.path + (url.query.map { "?\($0)" } ?? "")
}

/// Waits (up to 10 s) until `condition` holds: a late notification is on its way.
func eventually(_ condition: @Sendable () async throws -> Bool) async throws -> Bool {
    for _ in 0..<100 {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(100))
    }
    return false
}

func hiddenFields(_ html: String) -> [(String, String)] {
    html.matches(of: /<input type="hidden" name="([^"]+)" value="([^"]*)">/).map { (unescapeHTML(String($0.1)), unescapeHTML(String($0.2))) }
}

func unescapeHTML(_ text: String) -> String {
    var result = text
    for (entity, character) in [("&quot;", "\""), ("&#39;", "'"), ("&#x27;", "'"), ("&lt;", "<"), ("&gt;", ">"),
                                ("&#x3D;", "="), ("&#x2F;", "/"), ("&#x60;", "`"), ("&amp;", "&")] {
        result = result.replacingOccurrences(of: entity, with: character)
    }
    return result
}

/// The browser's side of the bank: plain HTTP to the fake, no redirects followed.
enum BankHTTP {
    struct Answer {
        let status: Int
        let location: String?
        let body: String
    }

    static let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))

    static func send(_ method: String, _ url: String, form: [(String, String)]? = nil) async throws -> Answer {
        var request = HTTPClientRequest(url: url)
        request.method = HTTPMethod(rawValue: method)
        if let form {
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.body = .bytes(ByteBuffer(string: FormURLEncoding.encode(form.map { (name: $0.0, value: $0.1) })))
        }
        let response = try await client.execute(request, timeout: .seconds(15))
        let body = try await response.body.collect(upTo: 1 << 20)
        return Answer(status: Int(response.status.code), location: response.headers.first(name: "Location"), body: String(buffer: body))
    }

    /// Posts a body to an address as a bank would (a replayed or altered notification); returns the status.
    static func post(_ url: String, contentType: String, headers: [(String, String)] = [], body: String) async throws -> Int {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: contentType)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await client.execute(request, timeout: .seconds(15))
        _ = try await response.body.collect(upTo: 1 << 20)
        return Int(response.status.code)
    }
}
