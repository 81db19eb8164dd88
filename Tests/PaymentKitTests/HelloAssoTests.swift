import FakeBanks
import Foundation
import Testing
@testable import HelloAsso
@testable import PaymentKit

@Suite struct HelloAssoSignatureTests {
    /// HA-1 (payments.md §3.4), verbatim.
    @Test func ha1() {
        let key = "AyCM0yTeQd8In2OzdP3R2HGTrYiCA818UCFLhrD9BCnNhTriWLipxEDpsaTbdfec"
        let body = #"{"eventType":"Payment","data":{"id":1}}"#
        #expect(Digests.hmacSHA256Hex(body, key: key) == "b7f16b39e8ca635b35fbc3d2863b4b02a2d82f249eed062cf03c9cd3328686a3")
    }

    @Test func everyStateIsMappedAndOnlyAuthorizedIsPaid() {
        #expect(HelloAssoAccount.normalise("Authorized") == .paid)
        #expect(HelloAssoAccount.normalise("AuthorizedPreprod") == .review)
        for state in ["Refused", "Error"] { #expect(HelloAssoAccount.normalise(state) == .refused) }
        for state in ["Canceled", "Abandoned"] { #expect(HelloAssoAccount.normalise(state) == .cancelled) }
        for state in ["Pending", "Init", "Waiting", "WaitingBankValidation", "WaitingBankWithdraw", "WaitingAuthentication"] {
            #expect(HelloAssoAccount.normalise(state) == .pending)
        }
        for state in ["Refunded", "Refunding", "Contested", "Registered", "Unknown", "SomethingNew"] {
            #expect(HelloAssoAccount.normalise(state) == .review)
        }
    }
}

@Suite struct HelloAssoConfigurationTests {
    let good = ["organization_slug": "les-petits-loups", "client_id": "abc123", "client_secret_env": "HA_SECRET", "environment": "sandbox"]

    @Test func parametersAreCheckedWithClearMessages() {
        #expect(HelloAssoProvider.validate(parameters: good, environment: ["HA_SECRET": "s"]).isEmpty)
        var full = good
        full["signature_key_env"] = "HA_SIGN"
        full["api_url"] = "http://127.0.0.1:8/v5"
        full["oauth_url"] = "https://auth.example/oauth2"
        #expect(HelloAssoProvider.validate(parameters: full, environment: ["HA_SECRET": "s", "HA_SIGN": "k"]).isEmpty)
        let missingSigning = HelloAssoProvider.validate(parameters: full, environment: ["HA_SECRET": "s"])
        #expect(missingSigning.map(\.parameter) == ["signature_key_env"] && missingSigning[0].isMissingSecret)
        let problems = HelloAssoProvider.validate(parameters: ["organization_slug": "les petits/loups", "client_id": "",
                                                               "environment": "live", "api_url": "http://api.example", "colour": "x"],
                                                  environment: [:])
        #expect(Set(problems.map(\.parameter)) == ["organization_slug", "client_id", "client_secret_env", "environment", "api_url", "colour"])
        #expect(Set(HelloAssoProvider.validate(parameters: [:], environment: [:]).map(\.parameter))
                == ["organization_slug", "client_id", "client_secret_env", "environment"])
        #expect(throws: ProviderConfigurationError.self) { try HelloAssoProvider.make(parameters: good, environment: [:]) }
    }

    /// Bank addresses are parsed, not compared by prefix: http only to this machine's loopback, and only in the sandbox.
    @Test func bankAddressesAreCheckedByHostNotByPrefix() {
        func problems(_ extra: [String: String]) -> [String] {
            HelloAssoProvider.validate(parameters: good.merging(extra) { _, new in new }, environment: ["HA_SECRET": "s"]).map(\.parameter)
        }
        #expect(problems(["api_url": "http://localhost.evil.example/v5"]) == ["api_url"])
        #expect(problems(["oauth_url": "http://127.0.0.1.evil.example/oauth2"]) == ["oauth_url"])
        #expect(problems(["api_url": "https:///v5"]) == ["api_url"])
        #expect(problems(["api_url": "http://localhost:8080/v5", "oauth_url": "http://[::1]:8080/oauth2"]).isEmpty)
        // Production: a local fake bank is refused, and so is any host other than HelloAsso's production one,
        // so that `testBank` (which trusts `environment`) never calls the sandbox a real bank.
        #expect(problems(["environment": "production", "api_url": "http://127.0.0.1:8/v5"]) == ["api_url"])
        let sandbox = HelloAssoProvider.validate(parameters: good.merging(["environment": "production", "api_url": "https://api.helloasso-sandbox.com/v5",
                                                                           "oauth_url": "https://api.helloasso-sandbox.com/oauth2"]) { _, new in new },
                                                 environment: ["HA_SECRET": "s"])
        #expect(sandbox.map(\.parameter) == ["api_url", "oauth_url"])
        #expect(sandbox.first?.message.contains("api.helloasso.com") == true)
        #expect(problems(["environment": "production", "api_url": "https://api.helloasso.com/v5/", "oauth_url": "https://API.helloasso.com/oauth2"]).isEmpty)
    }

    @Test func sandboxIsATestBankAndEachEnvironmentHasItsHosts() throws {
        #expect(HelloAssoProvider.testBank(parameters: good) != nil)
        var production = good
        production["environment"] = "production"
        #expect(HelloAssoProvider.testBank(parameters: production) == nil)
        let sandbox = try #require(try HelloAssoProvider.make(parameters: good, environment: ["HA_SECRET": "s"]) as? HelloAssoAccount)
        #expect(sandbox.apiURL == "https://api.helloasso-sandbox.com/v5" && sandbox.oauthURL == "https://api.helloasso-sandbox.com/oauth2")
        let live = try #require(try HelloAssoProvider.make(parameters: production, environment: ["HA_SECRET": "s"]) as? HelloAssoAccount)
        #expect(live.apiURL == "https://api.helloasso.com/v5" && live.oauthURL == "https://api.helloasso.com/oauth2")
        #expect(live.sessionLimit == 15 * 60)
        #expect(live.capabilities.contains(.status))
        #expect(live.acknowledgement(.handled).status == 200 && live.acknowledgement(.rejected).status == 400
                && live.acknowledgement(.failed).status == 503)
    }
}

/// OAuth, start and verify against the fake HelloAsso over real HTTP.
@Suite(.serialized) struct HelloAssoAgainstTheFakeTests {
    static let slug = "les-petits-loups"
    static let createdAt = ISO8601DateFormatter().date(from: "2026-07-10T09:00:00Z")!
    static let signingKey = "AyCM0yTeQd8In2OzdP3R2HGTrYiCA818UCFLhrD9BCnNhTriWLipxEDpsaTbdfec"

    func attempt(_ reference: String = "OPI-12-3", amount: Int = 2450) -> PaymentAttempt {
        PaymentAttempt(reference: reference, amountCents: amount, currency: "EUR", label: "Réservations – Les Petits Loups",
                       createdAt: Self.createdAt, customerEmail: "parent@example.org", notificationURL: "http://127.0.0.1:9/opio/paiement/notification",
                       returnURL: "http://127.0.0.1:9/opio/paiement/retour?ref=\(reference)", portalURL: "http://127.0.0.1:9/opio")
    }

    func withBank(signatureKey: String? = nil, secret: String = "the-secret",
                  _ body: (FakeHelloAsso, HelloAssoAccount, ProviderServices, TestClock) async throws -> Void) async throws {
        let bank = try await FakeHelloAsso.start(organizationSlug: Self.slug, clientID: "client-1", clientSecret: "the-secret",
                                                 signatureKey: signatureKey)
        var parameters = ["organization_slug": Self.slug, "client_id": "client-1", "client_secret_env": "HA_SECRET",
                          "environment": "sandbox", "api_url": bank.apiURL, "oauth_url": bank.oauthURL]
        var environment = ["HA_SECRET": secret]
        if signatureKey != nil {
            parameters["signature_key_env"] = "HA_SIGN"
            environment["HA_SIGN"] = signatureKey
        }
        let account = try #require(try HelloAssoProvider.make(parameters: parameters, environment: environment) as? HelloAssoAccount)
        let clock = TestClock(Self.createdAt)
        let services = ProviderServices(http: LocalBankHTTPClient(), references: InMemoryReferences(), now: { clock.now })
        do {
            try await body(bank, account, services, clock)
        } catch {
            await bank.stop()
            throw error
        }
        await bank.stop()
    }

    func incoming(_ body: String, signature: String? = nil) -> IncomingNotification {
        var headers: [(name: String, value: String)] = [("Content-Type", "application/json")]
        if let signature { headers.append(("X-Ha-Signature", signature)) }
        return IncomingNotification(headers: headers, body: body)
    }

    @Test func startOpensACheckoutIntent() async throws {
        try await withBank { bank, account, services, _ in
            let start = try await account.start(attempt(), services: services)
            let intent = try #require(bank.intents.first)
            #expect(start.providerReference == String(intent.id))
            #expect(start.step == .redirect(bank.server.baseURL + "/associations/\(Self.slug)/checkout/\(intent.id)"))
            #expect(intent.totalAmount == 2450)
            #expect(intent.itemName == "Réservations – Les Petits Loups")
            #expect(intent.returnUrl == "http://127.0.0.1:9/opio/paiement/retour?ref=OPI-12-3")
            #expect(intent.backUrl == intent.returnUrl && intent.errorUrl == intent.returnUrl)
            #expect(intent.payerEmail == "parent@example.org")
            #expect(intent.metadataJSON == #"{"reference":"OPI-12-3"}"#)
            #expect(try await services.references.value(for: "attempt:OPI-12-3") == String(intent.id))
            // The hosted page shows the amount.
            guard case .redirect(let url) = start.step else { return }
            let page = try await LocalBankHTTPClient.browse("GET", url)
            #expect(page.status == 200 && page.body.contains("24,50 €"))
        }
    }

    @Test func theTokenIsCachedRefreshedBeforeExpiryAndRenewedWhenRefused() async throws {
        try await withBank { bank, account, services, clock in
            _ = try await account.start(attempt("OPI-1-1"), services: services)
            _ = try await account.start(attempt("OPI-1-2"), services: services)
            #expect(bank.grants == ["client_credentials"])  // one token for both
            clock.advance(29 * 60 + 30)  // 30 s left of 30 min: refreshed before it runs out
            _ = try await account.start(attempt("OPI-1-3"), services: services)
            #expect(bank.grants == ["client_credentials", "refresh_token"])
            _ = try await account.start(attempt("OPI-1-4"), services: services)
            #expect(bank.grants.count == 2)
            // A refresh token refused: client credentials again.
            var token = try JSONDecoder().decode(HelloAssoAccount.Token.self, from: Data(try await services.references.value(for: "oauth:token")!.utf8))
            token.refreshToken = "revoked"
            token.expiresAt = clock.now
            try await services.references.set(String(decoding: try JSONEncoder().encode(token), as: UTF8.self), for: "oauth:token")
            _ = try await account.start(attempt("OPI-1-5"), services: services)
            #expect(bank.grants == ["client_credentials", "refresh_token", "refresh_token", "client_credentials"])
            // The API refuses a token the portal still thinks valid (revoked, clocks apart): one new token, one retry.
            bank.expireAccessTokens()
            _ = try await account.start(attempt("OPI-1-6"), services: services)
            #expect(bank.grants.last == "client_credentials" && bank.grants.count == 5)
            #expect(bank.intents.count == 6)
        }
    }

    @Test func wrongCredentialsAreACallFailure() async throws {
        try await withBank(secret: "not-the-secret") { _, account, services, _ in
            let error = await #expect(throws: ProviderCallFailed.self) { try await account.start(attempt(), services: services) }
            #expect(error?.description.contains("client_credentials") == true)
        }
    }

    @Test func aPaymentIsTrustedOnlyThroughTheIntentReadBack() async throws {
        try await withBank { bank, account, services, _ in
            let start = try await account.start(attempt(), services: services)
            let id = try #require(start.providerReference.flatMap(Int.init))
            // The payer pays; no notification sent by the page here (delivery never), the browser goes back.
            let back = try await LocalBankHTTPClient.browse("POST", bank.server.baseURL + "/associations/\(Self.slug)/checkout/\(id)/choix",
                                                            form: [("checkoutIntentId", String(id)), ("outcome", "pay"), ("delivery", "never")])
            #expect(back.status == 303)
            #expect(back.location?.hasPrefix("http://127.0.0.1:9/opio/paiement/retour?ref=OPI-12-3&checkoutIntentId=\(id)&code=succeeded") == true)
            let intent = try #require(bank.intent(id))
            let payment = try await account.verify(incoming(bank.paymentNotification(id)!), services: services)
            #expect(payment.status == .paid && payment.attemptReference == "OPI-12-3")
            #expect(payment.amountCents == 2450 && payment.currency == "EUR")
            // Keyed from the read-back: the Payment and the Order notification of one order are one event.
            #expect(payment.idempotencyKey == "Order|\(intent.orderID!)|Authorized")
            #expect(payment.providerTransaction == String(intent.paymentID!))
            let order = try await account.verify(incoming(bank.orderNotification(id)!), services: services)
            #expect(order.status == .paid && order.idempotencyKey == "Order|\(intent.orderID!)|Authorized")
            #expect(order.providerTransaction == payment.providerTransaction)  // the same money, recorded once
        }
    }

    /// Anyone can post a notification: its eventType and ids make no key. Forged bodies naming a paid intent
    /// all give the key of that intent's order, and a body claiming another order's id cannot take that key.
    @Test func theKeyComesFromTheReadBackNeverFromTheBody() async throws {
        try await withBank { bank, account, services, _ in
            let mine = try #require(try await account.start(attempt("OPI-12-3"), services: services).providerReference.flatMap(Int.init))
            let victim = try #require(try await account.start(attempt("OPI-12-4"), services: services).providerReference.flatMap(Int.init))
            bank.settle(mine, state: "Authorized")
            bank.settle(victim, state: "Authorized")
            let myOrder = try #require(bank.intent(mine)?.orderID), victimOrder = try #require(bank.intent(victim)?.orderID)
            let myPayment = try #require(bank.intent(mine)?.paymentID)
            // Many forged bodies about my paid intent: one key, one transaction.
            var keys: Set<String> = [], transactions: Set<String> = []
            for (eventType, id) in [("Payment", 1), ("Payment", 2), ("Order", 3), ("Order", victimOrder), ("Payment", bank.intent(victim)!.paymentID!)] {
                let forged = #"{"eventType":"\#(eventType)","data":{"id":\#(id),"checkoutIntentId":\#(mine),"state":"Authorized"}}"#
                let verified = try await account.verify(incoming(forged), services: services)
                keys.insert(verified.idempotencyKey)
                transactions.insert(verified.providerTransaction)
            }
            #expect(keys == ["Order|\(myOrder)|Authorized"])
            #expect(transactions == [String(myPayment)])
            // The victim's genuine notifications still have their own key, which no forged body took.
            let genuine = try await account.verify(incoming(bank.paymentNotification(victim)!), services: services)
            #expect(genuine.idempotencyKey == "Order|\(victimOrder)|Authorized" && !keys.contains(genuine.idempotencyKey))
            #expect(genuine.attemptReference == "OPI-12-4")
        }
    }

    @Test func whatTheNotificationClaimsCountsForNothing() async throws {
        try await withBank { bank, account, services, _ in
            let id = try #require(try await account.start(attempt(), services: services).providerReference)
            // A forged "Authorized" for an intent nobody paid: the read-back shows no order; HelloAsso would be asked
            // to send again (503), nothing is recorded.
            let forged = #"{"eventType":"Payment","data":{"id":1,"state":"Authorized","amount":2450},"metadata":{"reference":"OPI-12-3"}}"#
            await #expect(throws: ProviderCallFailed.self) { try await account.verify(incoming(forged), services: services) }
            // A refusal: the intent has no order, nothing to record.
            bank.settle(Int(id)!, state: "Refused")
            await #expect(throws: NotificationNotApplicable.self) {
                try await account.verify(incoming(bank.paymentNotification(Int(id)!)!), services: services)
            }
            // The amount comes from the order read back, not from the notification.
            bank.settle(Int(id)!, state: "Authorized", amount: 1000)
            let lying = #"{"eventType":"Payment","data":{"id":7,"state":"Authorized","amount":2450},"metadata":{"reference":"OPI-12-3"}}"#
            #expect(try await account.verify(incoming(lying), services: services).amountCents == 1000)
        }
    }

    @Test func otherEventsOtherFormsAndOtherAssociations() async throws {
        try await withBank { bank, account, services, _ in
            let id = try #require(try await account.start(attempt(), services: services).providerReference)
            bank.settle(Int(id)!, state: "Authorized")
            await #expect(throws: NotificationNotApplicable.self) {
                try await account.verify(incoming(#"{"eventType":"Form","data":{"id":3},"metadata":null}"#), services: services)
            }
            // A membership form of the same association: not a checkout of the portal.
            let membership = #"{"eventType":"Order","data":{"id":99,"formType":"Membership","organizationSlug":"les-petits-loups"}}"#
            await #expect(throws: NotificationNotApplicable.self) { try await account.verify(incoming(membership), services: services) }
            // Another association's order naming our intent.
            let foreign = #"{"eventType":"Order","data":{"id":99,"checkoutIntentId":\#(id),"organizationSlug":"autre-asso"}}"#
            await #expect(throws: NotificationRejected.self) { try await account.verify(incoming(foreign), services: services) }
            await #expect(throws: NotificationRejected.self) { try await account.verify(incoming("eventType=Order"), services: services) }
        }
    }

    @Test func theSignatureIsCheckedWhenAKeyIsConfigured() async throws {
        try await withBank(signatureKey: Self.signingKey) { bank, account, services, _ in
            let id = try #require(try await account.start(attempt(), services: services).providerReference.flatMap(Int.init))
            bank.settle(id, state: "Authorized")
            let body = bank.orderNotification(id)!
            let signature = Digests.hmacSHA256Hex(body, key: Self.signingKey)
            #expect(try await account.verify(incoming(body, signature: signature), services: services).status == .paid)
            #expect(try await account.verify(incoming(body, signature: signature.uppercased()), services: services).status == .paid)
            await #expect(throws: NotificationRejected.self) { try await account.verify(incoming(body), services: services) }
            await #expect(throws: NotificationRejected.self) {
                try await account.verify(incoming(body + " ", signature: signature), services: services)
            }
            await #expect(throws: NotificationRejected.self) {
                try await account.verify(incoming(body, signature: Digests.hmacSHA256Hex(body, key: "another key")), services: services)
            }
        }
    }

    @Test func statusNeverExpiresAnOrderAndExpiresAnIntentLeftAlone() async throws {
        try await withBank { bank, account, services, clock in
            let start = try await account.start(attempt(), services: services)
            let id = try #require(start.providerReference)
            let identity = AttemptIdentity(reference: "OPI-12-3", amountCents: 2450, currency: "EUR", createdAt: Self.createdAt,
                                           providerReference: id)
            #expect(try await account.status(of: identity, services: services)?.status == nil)
            clock.advance(29 * 60)
            #expect(try await account.status(of: identity, services: services)?.status == nil)
            clock.advance(2 * 60)
            let expired = try #require(try await account.status(of: identity, services: services))
            #expect(expired.status == .expired && expired.idempotencyKey == "\(id)|expired")
            // Paid late: the order wins over the clock, keyed like the Order notification.
            bank.settle(Int(id)!, state: "Authorized")
            let paid = try #require(try await account.status(of: identity, services: services))
            let intent = try #require(bank.intent(Int(id)!))
            #expect(paid.status == .paid && paid.amountCents == 2450)
            #expect(paid.idempotencyKey == "Order|\(intent.orderID!)|Authorized")
            #expect(paid.providerTransaction == String(intent.paymentID!))
            // Found through the references when the attempt does not carry it.
            let bare = AttemptIdentity(reference: "OPI-12-3", amountCents: 2450, currency: "EUR", createdAt: Self.createdAt, providerReference: nil)
            #expect(try await account.status(of: bare, services: services)?.status == .paid)
        }
    }
}
