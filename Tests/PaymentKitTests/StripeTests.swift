import AsyncHTTPClient
import FakeBanks
import Foundation
import Hummingbird
import NIOCore
import NIOHTTP1
import Synchronization
import Testing
@testable import PaymentKit
@testable import Stripe

/// A notification endpoint for unit tests: keeps what a fake bank posts, answers with `answer`.
final class NotificationInbox: Sendable {
    final class Received: Sendable {
        let list = Mutex<[IncomingNotification]>([])
    }

    let server: FakeBankServer
    let received: Received
    var url: String { server.baseURL + "/notification" }
    var all: [IncomingNotification] { received.list.withLock { $0 } }

    private init(server: FakeBankServer, received: Received) {
        self.server = server
        self.received = received
    }

    static func start(answer: String = "ok") async throws -> NotificationInbox {
        let received = Received()
        let server = try await FakeBankServer.start { router in
            router.post("/notification") { request, _ in
                var request = request
                let body = String(buffer: try await request.collectBody(upTo: 1 << 20))
                let incoming = IncomingNotification(method: "POST", headers: request.headers.map { ($0.name.rawName, $0.value) }, body: body)
                received.list.withLock { $0.append(incoming) }
                return answer
            }
        }
        return NotificationInbox(server: server, received: received)
    }

    func stop() async { await server.stop() }
}

let st1Secret = "whsec_test_secret"
let st1Body = #"{"id":"evt_test_webhook","object":"event","type":"checkout.session.completed"}"#
let st1V1 = "1fa73ff7286785daa8168695a709e92ce31d02a9202648cb27a1c5f2e233f517"

@Suite struct StripeSignatureTests {
    let now = Date(timeIntervalSince1970: 1_700_000_100)

    /// ST-1 (payments.md §4), verbatim, with "now" 100 s after its timestamp.
    @Test func st1() throws {
        #expect(Digests.hmacSHA256Hex("1700000000." + st1Body, key: st1Secret) == st1V1)
        #expect(StripeAccount.signatureHeader(body: st1Body, secret: st1Secret, timestamp: 1_700_000_000) == "t=1700000000,v1=\(st1V1)")
        try StripeAccount.checkSignature("t=1700000000,v1=\(st1V1)", body: st1Body, secret: st1Secret, now: now)
        // v0 and unknown schemes beside it are ignored; spaces after commas are tolerated.
        try StripeAccount.checkSignature("t=1700000000, v1=\(st1V1), v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39",
                                         body: st1Body, secret: st1Secret, now: now)
    }

    @Test func negativeCases() {
        let header = "t=1700000000,v1=\(st1V1)"
        // One character changed in the body, in the signature, in the timestamp.
        #expect(throws: NotificationRejected.self) {
            try StripeAccount.checkSignature(header, body: st1Body.replacingOccurrences(of: "evt_test_webhook", with: "evt_test_webhoop"), secret: st1Secret, now: now)
        }
        #expect(throws: NotificationRejected.self) {
            try StripeAccount.checkSignature("t=1700000000,v1=" + st1V1.dropLast() + "8", body: st1Body, secret: st1Secret, now: now)
        }
        #expect(throws: NotificationRejected.self) {
            try StripeAccount.checkSignature("t=1700000001,v1=\(st1V1)", body: st1Body, secret: st1Secret, now: now)
        }
        // The wrong secret (the API key instead of whsec_, the commonest mistake).
        #expect(throws: NotificationRejected.self) { try StripeAccount.checkSignature(header, body: st1Body, secret: "sk_test_123", now: now) }
        // Older than 300 s (a replay), or as far in the future; 300 s exactly still passes.
        #expect(throws: NotificationRejected.self) {
            try StripeAccount.checkSignature(header, body: st1Body, secret: st1Secret, now: Date(timeIntervalSince1970: 1_700_000_301))
        }
        #expect(throws: NotificationRejected.self) {
            try StripeAccount.checkSignature(header, body: st1Body, secret: st1Secret, now: Date(timeIntervalSince1970: 1_699_999_699))
        }
        #expect(throws: Never.self) {
            try StripeAccount.checkSignature(header, body: st1Body, secret: st1Secret, now: Date(timeIntervalSince1970: 1_700_000_300))
        }
        // Only v0 (the downgrade Stripe's libraries refuse), no header, no timestamp, garbage.
        #expect(throws: NotificationRejected.self) { try StripeAccount.checkSignature("t=1700000000,v0=\(st1V1)", body: st1Body, secret: st1Secret, now: now) }
        #expect(throws: NotificationRejected.self) { try StripeAccount.checkSignature(nil, body: st1Body, secret: st1Secret, now: now) }
        #expect(throws: NotificationRejected.self) { try StripeAccount.checkSignature("v1=\(st1V1)", body: st1Body, secret: st1Secret, now: now) }
        #expect(throws: NotificationRejected.self) { try StripeAccount.checkSignature("t=abc,v1=\(st1V1)", body: st1Body, secret: st1Secret, now: now) }
    }

    /// During a secret roll Stripe signs with both secrets: any v1 that matches is enough, in any position.
    @Test func aSecondV1DuringRotation() throws {
        let old = Digests.hmacSHA256Hex("1700000000." + st1Body, key: "whsec_old_secret")
        try StripeAccount.checkSignature("t=1700000000,v1=\(old),v1=\(st1V1)", body: st1Body, secret: st1Secret, now: now)
        try StripeAccount.checkSignature("t=1700000000,v1=\(st1V1),v1=\(old)", body: st1Body, secret: st1Secret, now: now)
        try StripeAccount.checkSignature("t=1700000000,v1=\(old),v1=\(st1V1)", body: st1Body, secret: "whsec_old_secret", now: now)
        #expect(throws: NotificationRejected.self) {
            try StripeAccount.checkSignature("t=1700000000,v1=\(old),v1=\(old)", body: st1Body, secret: st1Secret, now: now)
        }
    }
}

@Suite struct StripeEventTests {
    static let secret = "whsec_portail_test"
    let account = StripeAccount(mode: "TEST", secretKey: "sk_test_abc", webhookSecret: StripeEventTests.secret)
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func services(_ references: InMemoryReferences = InMemoryReferences()) -> ProviderServices {
        ProviderServices(http: NoNetwork(), references: references, now: { [now] in now })
    }

    static func session(_ changes: [String: Any] = [:]) -> [String: Any] {
        var session: [String: Any] = [
            "id": "cs_test_a1", "object": "checkout.session", "amount_total": 2450, "currency": "eur", "client_reference_id": "OPI-7-1",
            "metadata": ["reference": "OPI-7-1"], "payment_status": "paid", "status": "complete", "payment_intent": "pi_test_1",
        ]
        for (key, value) in changes { session[key] = value }
        return session
    }

    /// A signed webhook delivery of an event.
    func delivery(_ type: String, id: String = "evt_1", session: [String: Any] = StripeEventTests.session(), livemode: Bool = false,
                  secret: String = StripeEventTests.secret, at timestamp: Int = 1_800_000_000) -> IncomingNotification {
        let event: [String: Any] = ["id": id, "object": "event", "type": type, "livemode": livemode, "created": timestamp,
                                    "data": ["object": session]]
        let body = String(decoding: try! JSONSerialization.data(withJSONObject: event, options: [.sortedKeys]), as: UTF8.self)
        return IncomingNotification(headers: [("content-type", "application/json"),
                                              ("stripe-signature", StripeAccount.signatureHeader(body: body, secret: secret, timestamp: timestamp))],
                                    body: body)
    }

    @Test func aPaidCompletedSessionIsPaid() async throws {
        let verified = try await account.verify(delivery("checkout.session.completed"), services: services())
        #expect(verified.status == .paid)
        #expect(verified.attemptReference == "OPI-7-1")
        #expect(verified.idempotencyKey == "evt_1")
        #expect(verified.amountCents == 2450 && verified.currency == "EUR")
        #expect(verified.providerTransaction == "pi_test_1")
        #expect(verified.providerStatus == "checkout.session.completed (paid)")
    }

    /// A delayed method: completed unpaid is pending, then succeeded (the same transaction: one payment) or failed.
    @Test func delayedPaymentsSettleLater() async throws {
        let unpaid = Self.session(["payment_status": "unpaid"])
        let pending = try await account.verify(delivery("checkout.session.completed", id: "evt_1", session: unpaid), services: services())
        #expect(pending.status == .pending)
        let succeeded = try await account.verify(delivery("checkout.session.async_payment_succeeded", id: "evt_2"), services: services())
        #expect(succeeded.status == .paid && succeeded.idempotencyKey == "evt_2")
        #expect(succeeded.providerTransaction == pending.providerTransaction)
        let failed = try await account.verify(delivery("checkout.session.async_payment_failed", id: "evt_3", session: unpaid), services: services())
        #expect(failed.status == .refused)
        let noPayment = try await account.verify(delivery("checkout.session.completed", session: Self.session(["payment_status": "no_payment_required"])),
                                                 services: services())
        #expect(noPayment.status == .review)
    }

    @Test func anExpiredSessionIsExpiredAndNamedByItsSession() async throws {
        let expired = Self.session(["status": "expired", "payment_status": "unpaid", "payment_intent": NSNull()])
        let verified = try await account.verify(delivery("checkout.session.expired", session: expired), services: services())
        #expect(verified.status == .expired && verified.providerTransaction == "cs_test_a1")
    }

    @Test func otherEventsAreNotApplicableButStillAuthenticated() async throws {
        await #expect(throws: NotificationNotApplicable.self) {
            try await account.verify(delivery("payment_intent.succeeded"), services: services())
        }
        await #expect(throws: NotificationNotApplicable.self) {
            try await account.verify(delivery("charge.refunded"), services: services())
        }
        // An unknown type with a bad signature is rejected, not skipped.
        await #expect(throws: NotificationRejected.self) {
            try await account.verify(delivery("payment_intent.succeeded", secret: "whsec_other"), services: services())
        }
        // A session of the same account the portal did not open (a payment link).
        let foreign = Self.session(["client_reference_id": NSNull(), "metadata": [String: String](), "id": "cs_test_other"])
        await #expect(throws: NotificationNotApplicable.self) {
            try await account.verify(delivery("checkout.session.completed", session: foreign), services: services())
        }
    }

    @Test func theReferenceKeptAtStartNamesASessionWithoutOne() async throws {
        let references = InMemoryReferences()
        try await references.set("OPI-9-2", for: "session:cs_test_other")
        let bare = Self.session(["client_reference_id": NSNull(), "metadata": [String: String](), "id": "cs_test_other"])
        let verified = try await account.verify(delivery("checkout.session.completed", session: bare), services: services(references))
        #expect(verified.attemptReference == "OPI-9-2")
    }

    @Test func forgedOrForeignEventsAreRejected() async throws {
        let good = delivery("checkout.session.completed")
        // One character of the body changed after signing.
        var altered = good
        altered.body = good.body.replacingOccurrences(of: "2450", with: "2451")
        await #expect(throws: NotificationRejected.self) { try await account.verify(altered, services: services()) }
        // Another center's endpoint secret.
        await #expect(throws: NotificationRejected.self) {
            try await account.verify(delivery("checkout.session.completed", secret: "whsec_another_center"), services: services())
        }
        // Signed 301 s ago: a replay.
        await #expect(throws: NotificationRejected.self) {
            try await account.verify(delivery("checkout.session.completed", at: 1_800_000_000 - 301), services: services())
        }
        // A live event for a TEST account.
        await #expect(throws: NotificationRejected.self) {
            try await account.verify(delivery("checkout.session.completed", livemode: true), services: services())
        }
        // No signature header at all.
        await #expect(throws: NotificationRejected.self) {
            try await account.verify(IncomingNotification(body: good.body), services: services())
        }
        #expect(account.acknowledgement(.handled).status == 200)
        #expect(account.acknowledgement(.rejected).status == 400)
        #expect(account.acknowledgement(.failed).status == 503)
    }
}

@Suite struct StripeConfigurationTests {
    let good = ["mode": "TEST", "secret_key_env": "STRIPE_KEY", "webhook_secret_env": "STRIPE_WHSEC"]
    let environment = ["STRIPE_KEY": "sk_test_abc", "STRIPE_WHSEC": "whsec_abc"]

    @Test func parametersAreCheckedWithClearMessages() throws {
        #expect(StripeProvider.validate(parameters: good, environment: environment).isEmpty)
        var local = good
        local["api_url"] = "http://127.0.0.1:4242"
        #expect(StripeProvider.validate(parameters: local, environment: environment).isEmpty)
        // Missing everything.
        #expect(Set(StripeProvider.validate(parameters: [:], environment: [:]).map(\.parameter)) == ["secret_key_env", "webhook_secret_env"])
        // Named but not exported: missing secrets, a warning where the file is only checked.
        let unset = StripeProvider.validate(parameters: good, environment: [:])
        #expect(unset.count == 2 && unset.allSatisfy(\.isMissingSecret))
        // A live key under TEST, a test key under PRODUCTION, an API key as the webhook secret.
        #expect(StripeProvider.validate(parameters: good, environment: ["STRIPE_KEY": "sk_live_x", "STRIPE_WHSEC": "whsec_abc"]).map(\.parameter)
                == ["secret_key_env"])
        var production = good
        production["mode"] = "PRODUCTION"
        #expect(StripeProvider.validate(parameters: production, environment: environment).map(\.parameter) == ["secret_key_env"])
        #expect(StripeProvider.validate(parameters: production, environment: ["STRIPE_KEY": "sk_live_x", "STRIPE_WHSEC": "whsec_abc"]).isEmpty)
        #expect(StripeProvider.validate(parameters: good, environment: ["STRIPE_KEY": "sk_test_abc", "STRIPE_WHSEC": "sk_test_abc"]).map(\.parameter)
                == ["webhook_secret_env"])
        // A plain-http API outside the loopback, a local one in PRODUCTION, an unknown mode or parameter.
        var bad = good
        bad["api_url"] = "http://api.stripe.com"
        bad["mode"] = "LIVE"
        bad["colour"] = "blue"
        #expect(Set(StripeProvider.validate(parameters: bad, environment: environment).map(\.parameter)) == ["api_url", "mode", "colour"])
        production["api_url"] = "http://127.0.0.1:4242"
        #expect(StripeProvider.validate(parameters: production, environment: ["STRIPE_KEY": "sk_live_x", "STRIPE_WHSEC": "whsec_abc"]).map(\.parameter)
                == ["api_url"])
        #expect(throws: ProviderConfigurationError.self) { try StripeProvider.make(parameters: good, environment: [:]) }
    }

    @Test func testModeIsATestBank() throws {
        #expect(StripeProvider.testBank(parameters: good) != nil)
        #expect(StripeProvider.testBank(parameters: ["mode": "PRODUCTION"]) == nil)
        let account = try #require(try StripeProvider.make(parameters: good, environment: environment) as? StripeAccount)
        #expect(account.apiURL == "https://api.stripe.com")
        #expect(account.sessionLimit >= 30 * 60)
        #expect(account.capabilities == [.status, .refund])
        var registry = PaymentProviderRegistry()
        registry.register(StripeProvider.self)
        #expect(registry["stripe"] != nil)
    }
}

/// The provider against the fake Stripe, over real HTTP: the session, the hosted page, the webhook, status, refund.
@Suite struct StripeAgainstTheFakeTests {
    static let key = "sk_test_fake_account"
    static let secret = "whsec_fake_endpoint"

    func attempt(_ reference: String = "OPI-7-1", amount: Int = 2450) -> PaymentAttempt {
        PaymentAttempt(reference: reference, amountCents: amount, currency: "EUR", label: "Réservations – Les Petits Loups", createdAt: Date(),
                       customerEmail: "parent@example.org", notificationURL: "http://127.0.0.1:9/paiement/notification",
                       returnURL: "http://127.0.0.1:9/paiement/retour?ref=\(reference)", portalURL: "http://127.0.0.1:9")
    }

    func withFake(_ body: (FakeStripe, StripeAccount, NotificationInbox) async throws -> Void) async throws {
        let bank = try await FakeStripe.start(accounts: [.init(secretKey: Self.key, webhookSecret: Self.secret)])
        let inbox = try await NotificationInbox.start()
        bank.setWebhookURL(inbox.url, for: Self.key)
        let account = try #require(try StripeProvider.make(
            parameters: ["secret_key_env": "K", "webhook_secret_env": "W", "api_url": bank.apiURL + "/"],
            environment: ["K": Self.key, "W": Self.secret]) as? StripeAccount)
        do { try await body(bank, account, inbox) } catch {
            await bank.stop(); await inbox.stop()
            throw error
        }
        await bank.stop()
        await inbox.stop()
    }

    @Test func aSessionIsOpenedPaidAndTheSignedWebhookVerifies() async throws {
        try await withFake { bank, account, inbox in
            let references = InMemoryReferences()
            let services = ProviderServices(http: LocalBankHTTPClient(), references: references)
            let start = try await account.start(attempt(), services: services)
            guard case .redirect(let url) = start.step else { Issue.record("Stripe redirects"); return }
            let id = try #require(start.providerReference)
            #expect(url == bank.apiURL + "/c/pay/" + id)
            #expect(try await references.value(for: "session:\(id)") == "OPI-7-1")
            let sent = try #require(bank.sessionRequests.first)
            #expect(sent["mode"] == "payment")
            #expect(sent["line_items[0][price_data][unit_amount]"] == "2450")
            #expect(sent["line_items[0][price_data][currency]"] == "eur")
            #expect(sent["line_items[0][price_data][product_data][name]"] == "Réservations – Les Petits Loups")
            #expect(sent["client_reference_id"] == "OPI-7-1" && sent["metadata[reference]"] == "OPI-7-1")
            #expect(sent["success_url"] == "http://127.0.0.1:9/paiement/retour?ref=OPI-7-1")
            #expect(sent["customer_email"] == "parent@example.org")
            let expires = try #require(Int(sent["expires_at"] ?? ""))
            #expect(abs(Double(expires) - Date().timeIntervalSince1970 - account.sessionLimit) < 60)

            // Open at the bank: no word yet.
            let identity = AttemptIdentity(reference: "OPI-7-1", amountCents: 2450, currency: "EUR", createdAt: Date(), providerReference: id)
            #expect(try await account.status(of: identity, services: services) == nil)

            // The payer pays on the hosted page; the fake posts its signed webhook and sends the browser back.
            let page = try await LocalBankHTTPClient.browse("GET", url)
            #expect(page.status == 200 && page.body.contains("24,50 €"))
            let back = try await LocalBankHTTPClient.browse("POST", bank.apiURL + "/c/pay/\(id)/choice",
                                                           form: [("outcome", "pay"), ("delivery", "once")])
            #expect(back.status == 303 && back.location == "http://127.0.0.1:9/paiement/retour?ref=OPI-7-1")
            let webhook = try #require(inbox.all.first)
            let verified = try await account.verify(webhook, services: services)
            #expect(verified.status == .paid && verified.attemptReference == "OPI-7-1" && verified.amountCents == 2450)
            #expect(verified.providerTransaction.hasPrefix("pi_"))

            // The status query says the same, with the same transaction (the core sees one payment).
            let status = try #require(try await account.status(of: identity, services: services))
            #expect(status.status == .paid && status.providerTransaction == verified.providerTransaction)
            // And without the session id, the reference kept at start finds it.
            var bare = identity
            bare.providerReference = nil
            #expect(try await account.status(of: bare, services: services)?.status == .paid)

            // A refund of part of it.
            let refund = try await account.refund(RefundRequest(attempt: identity, providerTransaction: verified.providerTransaction, amountCents: 1000,
                                                                refundReference: "OPI-R00001"),
                                                  services: services)
            #expect(refund.completed && refund.providerRefund.hasPrefix("re_"))
            #expect(bank.refunds.first?["amount"] == "1000")
            #expect(bank.refunds.first?["metadata[portail_refund]"] == "OPI-R00001")
            #expect(bank.refunds.first?["idempotency_key"] == "portail-refund-OPI-R00001")
        }
    }

    /// The idempotency key is the portal's refund number: two refunds of the same amount on the same payment
    /// are two refunds at Stripe, and the same refund asked twice (a retry after a timeout) is one.
    @Test func refundsAreKeyedByThePortalsRefundNumber() async throws {
        try await withFake { bank, account, inbox in
            let services = ProviderServices(http: LocalBankHTTPClient(), references: InMemoryReferences())
            let start = try await account.start(attempt("OPI-9-1", amount: 3000), services: services)
            let id = try #require(start.providerReference)
            _ = try await LocalBankHTTPClient.browse("POST", bank.apiURL + "/c/pay/\(id)/choice", form: [("outcome", "pay"), ("delivery", "once")])
            let verified = try await account.verify(try #require(inbox.all.first), services: services)
            let identity = AttemptIdentity(reference: "OPI-9-1", amountCents: 3000, currency: "EUR", createdAt: Date(), providerReference: id)
            func refund(_ number: String) async throws -> RefundResult {
                try await account.refund(RefundRequest(attempt: identity, providerTransaction: verified.providerTransaction, amountCents: 1000,
                                                       refundReference: number), services: services)
            }
            // Two refunds of 10 € on the same payment: two refunds.
            let first = try await refund("OPI-R00003")
            let second = try await refund("OPI-R00004")
            #expect(first.providerRefund != second.providerRefund)
            #expect(bank.refunds.count == 2)
            #expect(bank.refunds.map { $0["metadata[portail_refund]"] } == ["OPI-R00003", "OPI-R00004"])
            #expect(bank.session(id)?.refundedCents == 2000)
            // The first one asked again: Stripe replays it, no money moves.
            let again = try await refund("OPI-R00003")
            #expect(again == first)
            #expect(bank.refunds.count == 2)
            #expect(bank.session(id)?.refundedCents == 2000)
        }
    }

    @Test func refusedThenExpiredSessions() async throws {
        try await withFake { bank, account, inbox in
            let services = ProviderServices(http: LocalBankHTTPClient(), references: InMemoryReferences())
            let refused = try await account.start(attempt("OPI-7-2"), services: services)
            _ = try await LocalBankHTTPClient.browse("POST", bank.apiURL + "/c/pay/\(refused.providerReference!)/choice",
                                                    form: [("outcome", "refuse"), ("delivery", "once")])
            var statuses: [PaymentStatus] = []
            for webhook in inbox.all { statuses.append(try await account.verify(webhook, services: services).status) }
            #expect(statuses == [.pending, .refused])

            let abandoned = try await account.start(attempt("OPI-7-3"), services: services)
            let back = try await LocalBankHTTPClient.browse("POST", bank.apiURL + "/c/pay/\(abandoned.providerReference!)/choice",
                                                           form: [("outcome", "abandon"), ("delivery", "once")])
            #expect(back.location == "http://127.0.0.1:9/paiement/retour?ref=OPI-7-3")
            #expect(inbox.all.count == 2)
            await bank.expire(abandoned.providerReference!)
            let expired = try await account.verify(try #require(inbox.all.last), services: services)
            #expect(expired.status == .expired && expired.attemptReference == "OPI-7-3")
            let identity = AttemptIdentity(reference: "OPI-7-3", amountCents: 2450, currency: "EUR", createdAt: Date(),
                                           providerReference: abandoned.providerReference)
            #expect(try await account.status(of: identity, services: services)?.status == .expired)
        }
    }

    @Test func aWrongKeyOrAnUnreachableStripeIsAFailedCall() async throws {
        try await withFake { bank, _, _ in
            let wrong = StripeAccount(mode: "TEST", secretKey: "sk_test_unknown", webhookSecret: Self.secret, apiURL: bank.apiURL)
            let services = ProviderServices(http: LocalBankHTTPClient(), references: InMemoryReferences())
            await #expect(throws: ProviderCallFailed.self) { try await wrong.start(attempt(), services: services) }
            // Whatever the client throws reaches the core as a failed call (the parent is told to retry later).
            struct Unreachable: ProviderHTTPClient {
                func send(_ request: ProviderHTTPRequest) async throws -> ProviderHTTPResponse { throw CancellationError() }
            }
            let account = StripeAccount(mode: "TEST", secretKey: Self.key, webhookSecret: Self.secret, apiURL: bank.apiURL)
            await #expect(throws: ProviderCallFailed.self) {
                try await account.start(attempt(), services: ProviderServices(http: Unreachable(), references: InMemoryReferences()))
            }
            // Stripe refuses an expiry under 30 minutes: the fake checks it as Stripe does.
            let early = ProviderServices(http: LocalBankHTTPClient(), references: InMemoryReferences(), now: { Date().addingTimeInterval(-120) })
            await #expect(throws: ProviderCallFailed.self) { try await StripeAccount(mode: "TEST", secretKey: Self.key, webhookSecret: Self.secret,
                                                                                   apiURL: bank.apiURL).start(attempt("OPI-8-1"), services: early) }
        }
    }
}
