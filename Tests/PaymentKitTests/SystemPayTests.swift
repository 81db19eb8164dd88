import Foundation
import FakeBanks
import Testing
@testable import PaymentKit
@testable import SystemPay
@testable import Simulator

let documentationKey = "1122334455667788"

func fields(_ query: String) -> [(name: String, value: String)] { FormURLEncoding.decode(query)! }

@Suite struct SystemPaySignatureTests {
    let sp1 = "vads_version=V2&vads_page_action=PAYMENT&vads_action_mode=INTERACTIVE&vads_payment_config=SINGLE"
        + "&vads_site_id=12345678&vads_ctx_mode=TEST&vads_trans_id=654321&vads_trans_date=20090501193530"
        + "&vads_amount=1524&vads_currency=978"

    @Test func sp1DocumentationExample() {
        #expect(SystemPayShop.signature(fields(sp1), key: documentationKey, algorithm: .sha1) == "606b369759fac4f0864144c803c73676cbe470ff")
        #expect(SystemPayShop.signature(fields(sp1), key: documentationKey, algorithm: .hmacSHA256) == "O1ycab+xOkAmToSWeEE2hj39aAKCQ2IxGK+JxKv8iUI=")
    }

    @Test func sp2sp3AccentsInUTF8() {
        let query = sp1 + "&vads_cust_first_name=Jean+Mich%C3%A9l&vads_cust_last_name=Mihaï"
        #expect(SystemPayShop.signature(fields(query), key: documentationKey, algorithm: .sha1) == "cf1ccac335590a33d6c243345c4f4531a0316b7f")
        #expect(SystemPayShop.signature(fields(query), key: documentationKey, algorithm: .hmacSHA256) == "aHrJ7IzSGFa4pcYA8kh99+M/xBzoQ4Odnu3f4BUrpIA=")
    }

    let sp4 = "vads_amount=1042&vads_auth_mode=FULL&vads_auth_number=3feadf&vads_auth_result=00&vads_capture_delay=0"
        + "&vads_card_brand=CB&vads_result=00&vads_card_number=497010XXXXXX0000"
        + "&vads_payment_certificate=582ba2b725057618706d7a06e9e59acdbf69ff53&vads_ctx_mode=TEST&vads_currency=978"
        + "&vads_effective_amount=1042&vads_site_id=70168983&vads_trans_date=20161013101355&vads_trans_id=226787"
        + "&vads_trans_uuid=4b5053b3b1fe4b02a07753e7a&vads_effective_creation_date=20200330162530"

    @Test func sp4sp5ResponseVerification() {
        #expect(SystemPayShop.signature(fields(sp4), key: documentationKey, algorithm: .sha1) == "c17fab393f94dc027dc029510c85d5fc46c4710f")
        #expect(SystemPayShop.signature(fields(sp4), key: documentationKey, algorithm: .hmacSHA256) == "Wbz3bP6R6wDvAwb2HnSiH9/iUUoRVCxK7mdLtCMz8Xw=")
    }

    @Test func sp7OlderVector() {
        let query = sp1 + "&vads_cust_first_name=Serghe%C3%AF&vads_cust_last_name=Miha%C3%AF"
        #expect(SystemPayShop.signature(fields(query), key: documentationKey, algorithm: .sha1) == "4d2010d3b4566841ee0b0b2c74b6650bce65365e")
    }

    @Test func byteOrderSort() {
        // "vads_threeds_cavv" < "vads_threeds_cavvAlgorithm", and uppercase before "_" before lowercase.
        let a = SystemPayShop.signature([("vads_threeds_cavvAlgorithm", "B"), ("vads_threeds_cavv", "A")], key: "k", algorithm: .sha1)
        #expect(a == Digests.sha1Hex("A+B+k"))
        let b = SystemPayShop.signature([("vads_b", "2"), ("vads_B", "1"), ("vads__", "x")], key: "k", algorithm: .sha1)
        #expect(b == Digests.sha1Hex("1+x+2+k"))
    }
}

@Suite struct SystemPayNotificationTests {
    let shop = SystemPayShop(siteID: "70168983", mode: "TEST", key: documentationKey, algorithm: .hmacSHA256, paymentURL: "https://paiement.systempay.fr/vads-payment/")

    /// A notification as the bank posts it: the fields, then the signature, form-encoded.
    func notification(_ extra: [(String, String)] = [], status: String = "AUTHORISED", amount: String = "1042", site: String = "70168983",
                      mode: String = "TEST", key: String = documentationKey) -> String {
        var list: [(name: String, value: String)] = [
            ("vads_amount", amount), ("vads_ctx_mode", mode), ("vads_currency", "978"), ("vads_order_id", "OPI-1-1"),
            ("vads_site_id", site), ("vads_trans_date", "20261126101355"), ("vads_trans_id", "000042"),
            ("vads_trans_status", status), ("vads_trans_uuid", "4b5053b3b1fe4b02a07753e7a"), ("vads_cust_name", "Jean Michél"),
            ("vads_extra_result", ""),
        ] + extra.map { (name: $0.0, value: $0.1) }
        list.append(("signature", SystemPayShop.signature(list, key: key, algorithm: .hmacSHA256)))
        return FormURLEncoding.encode(list)
    }

    @Test func anAuthenticNotificationIsNormalised() throws {
        let verified = try shop.verify(notification: notification())
        #expect(verified.status == .paid)
        #expect(verified.attemptReference == "OPI-1-1")
        #expect(verified.amountCents == 1042)
        #expect(verified.currency == "EUR")
        #expect(verified.idempotencyKey == "4b5053b3b1fe4b02a07753e7a|AUTHORISED")
        #expect(shop.acknowledgement(.handled).status == 200)
        #expect(shop.acknowledgement(.rejected).status == 400)
        #expect(shop.acknowledgement(.failed).status == 503)
    }

    @Test func sp4AsReceivedWithItsURLEncodedSignatureVerifies() throws {
        let sp4Shop = SystemPayShop(siteID: "70168983", mode: "TEST", key: documentationKey, algorithm: .hmacSHA256, paymentURL: "")
        let body = SystemPaySignatureTests().sp4 + "&vads_order_id=X&vads_trans_status=CAPTURED&signature=x"
        // The vector's own fields verify (order and status added above change the signature, so recompute).
        var list = fields(body).filter { $0.name != "signature" }
        list.append(("signature", SystemPayShop.signature(list, key: documentationKey, algorithm: .hmacSHA256)))
        #expect(try sp4Shop.verify(notification: FormURLEncoding.encode(list)).status == .paid)
        // And the published signature travels URL-encoded (%2F, %3D) and decodes to the right value.
        let published = fields("signature=Wbz3bP6R6wDvAwb2HnSiH9%2FiUUoRVCxK7mdLtCMz8Xw%3D")[0].value
        #expect(published == SystemPayShop.signature(fields(SystemPaySignatureTests().sp4), key: documentationKey, algorithm: .hmacSHA256))
    }

    @Test func tamperedOrForeignNotificationsAreRejected() throws {
        let good = notification()
        // One character changed in a value.
        #expect(throws: NotificationRejected.self) { try shop.verify(notification: good.replacingOccurrences(of: "vads_amount=1042", with: "vads_amount=1043")) }
        // An empty field dropped.
        #expect(throws: NotificationRejected.self) { try shop.verify(notification: good.replacingOccurrences(of: "&vads_extra_result=", with: "")) }
        // "+" left undecoded: the value differs from what was signed.
        #expect(throws: NotificationRejected.self) { try shop.verify(notification: good.replacingOccurrences(of: "Jean+Mich", with: "Jean%2BMich")) }
        // The wrong key.
        #expect(throws: NotificationRejected.self) { try shop.verify(notification: notification(key: "another-key")) }
        // Another center's shop id, correctly signed with this key: still not ours.
        #expect(throws: NotificationRejected.self) { try shop.verify(notification: notification(site: "12345678")) }
        // A PRODUCTION notification for a TEST shop.
        #expect(throws: NotificationRejected.self) { try shop.verify(notification: notification(mode: "PRODUCTION")) }
        // No signature at all.
        #expect(throws: NotificationRejected.self) { try shop.verify(notification: "vads_amount=1042") }
    }

    /// A refund made in Lyra's back office notifies the order again, AUTHORISED, with vads_operation_type=CREDIT
    /// (payments.md §1.6): money going back to the parent, never a payment received.
    @Test func aBackOfficeRefundIsNeverAPayment() throws {
        for status in ["AUTHORISED", "CAPTURED"] {
            let credit = notification([("vads_operation_type", "CREDIT"), ("vads_url_check_src", "MERCH_BO")], status: status)
            do {
                let verified = try shop.verify(notification: credit)
                Issue.record("a CREDIT notification was accepted as \(verified.status)")
            } catch let error as NotificationNotApplicable {
                #expect(error.reason.contains("refund (CREDIT)"))
                #expect(error.reason.contains("portal's refunds"))
            }
        }
        // A payment (DEBIT) and an older notification without the field are payments as before.
        #expect(try shop.verify(notification: notification([("vads_operation_type", "DEBIT")])).status == .paid)
        #expect(try shop.verify(notification: notification()).status == .paid)
    }

    @Test func everyStatusIsMappedAndUnknownOnesAreNeverPaid() {
        #expect(SystemPayShop.normalise("AUTHORISED") == .paid)
        #expect(SystemPayShop.normalise("CAPTURED") == .paid)
        #expect(SystemPayShop.normalise("REFUSED") == .refused)
        #expect(SystemPayShop.normalise("ABANDONED") == .cancelled)
        #expect(SystemPayShop.normalise("EXPIRED") == .expired)
        #expect(SystemPayShop.normalise("AUTHORISED_TO_VALIDATE") == .pending)
        #expect(SystemPayShop.normalise("ACCEPTED") == .review)
        #expect(SystemPayShop.normalise("SOMETHING_NEW") == .review)
    }

    @Test func theFormIsSignedAndCarriesWhatTheBankNeeds() async throws {
        let attempt = PaymentAttempt(reference: "OPI-7-1", amountCents: 2450, currency: "EUR", label: "Réservations",
                                     createdAt: Date(timeIntervalSince1970: 1_798_110_000), customerEmail: "parent@example.org",
                                     notificationURL: "https://p.example.org/paiement/notification", returnURL: "https://p.example.org/paiement/retour?ref=OPI-7-1",
                                     portalURL: "https://p.example.org")
        let services = ProviderServices(http: NoNetwork(), references: InMemoryReferences())
        let start = try await shop.start(attempt, services: services)
        guard case .autoPostForm(let action, let form) = start.step else { Issue.record("not a form"); return }
        #expect(action == "https://paiement.systempay.fr/vads-payment/")
        let values = Dictionary(form.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a })
        #expect(values["vads_amount"] == "2450")
        #expect(values["vads_trans_date"] == "20261224110000")
        #expect(values["vads_trans_id"] == "000000")
        #expect(start.providerReference == "20261224000000")
        #expect(values["vads_validation_mode"] == "0")
        #expect(values["vads_url_check"] == "https://p.example.org/paiement/notification")
        #expect(values["vads_order_id"] == "OPI-7-1")
        let signature = try #require(values["signature"])
        #expect(signature == SystemPayShop.signature(form.filter { $0.name != "signature" }.map { ($0.name, $0.value) }, key: documentationKey, algorithm: .hmacSHA256))
    }

    /// vads_trans_id: a new number for every attempt, 000000-899999, counted per UTC day (payments.md §1.3).
    @Test func transactionNumbersAreNewEveryAttemptAndCountedPerUTCDay() async throws {
        let references = InMemoryReferences()
        let evening = Date(timeIntervalSince1970: 1_798_156_799)  // 2026-12-24 23:59:59 UTC
        #expect(try await SystemPayShop.transactionID(at: evening, references: references) == "000000")
        #expect(try await SystemPayShop.transactionID(at: evening, references: references) == "000001")
        #expect(try await SystemPayShop.transactionID(at: evening.addingTimeInterval(1), references: references) == "000000")
        for _ in 0..<(900_000 - 2) { _ = try await references.next("trans-20261224") }
        #expect(try await SystemPayShop.transactionID(at: evening, references: references) == "000000")
    }
}

/// Providers here never reach a network in unit tests.
struct NoNetwork: ProviderHTTPClient {
    func send(_ request: ProviderHTTPRequest) async throws -> ProviderHTTPResponse {
        throw ProviderCallFailed("no network in unit tests: \(request.url)")
    }
}

@Suite struct SimulatorTests {
    @Test func theSimulatedBankSignsBothWays() async throws {
        let bank = SimulatorBank(key: "k")
        let attempt = PaymentAttempt(reference: "R-1", amountCents: 1250, currency: "EUR", label: "Réservations", createdAt: Date(),
                                     customerEmail: "a@example.org", notificationURL: "http://127.0.0.1/opio/paiement/notification",
                                     returnURL: "http://127.0.0.1/opio/paiement/retour?ref=R-1", portalURL: "http://127.0.0.1/opio")
        let start = try await bank.start(attempt, services: ProviderServices(http: NoNetwork(), references: InMemoryReferences()))
        guard case .autoPostForm(let action, let form) = start.step else { Issue.record("not a form"); return }
        #expect(action == "http://127.0.0.1/opio/simulateur/paiement")
        let payment = try bank.acceptForm(form.map { ($0.name, $0.value) })
        #expect(payment.amountCents == 1250)
        // A form with its amount lowered is refused.
        let forged = form.map { $0.name == "sim_amount" ? ("sim_amount", "1") : ($0.name, $0.value) }
        #expect(throws: NotificationRejected.self) { try bank.acceptForm(forged) }
        let body = bank.notification(for: payment, outcome: .paid)
        let verified = try bank.verify(notification: body)
        #expect(verified.status == .paid && verified.attemptReference == "R-1" && verified.amountCents == 1250)
        #expect(throws: NotificationRejected.self) { try SimulatorBank(key: "other").verify(notification: body) }
    }
}

/// The REST API's `Order/Get`, asked of the fake platform over HTTP.
@Suite struct SystemPayStatusTests {
    static let password = "testpassword_fake"

    func withShop(_ body: (SystemPayRESTShop, FakeSystemPay, ProviderServices) async throws -> Void) async throws {
        let bank = try await FakeSystemPay.start(shops: ["12345678": documentationKey], restPasswords: ["12345678": Self.password])
        let parameters = ["site_id": "12345678", "test_key_env": "KEY", "rest_password_env": "REST", "api_url": bank.apiURL, "url": bank.paymentURL]
        let made = try SystemPayProvider.make(parameters: parameters, environment: ["KEY": documentationKey, "REST": Self.password])
        let shop = try #require(made as? SystemPayRESTShop)
        #expect(made.capabilities == [.status])
        do {
            try await body(shop, bank, ProviderServices(http: LocalBankHTTPClient(), references: InMemoryReferences()))
        } catch {
            await bank.stop()
            throw error
        }
        await bank.stop()
    }

    func identity(_ reference: String) -> AttemptIdentity {
        AttemptIdentity(reference: reference, amountCents: 1042, currency: "EUR", createdAt: Date(), providerReference: nil)
    }

    @Test func anOrderThePlatformDoesNotKnowHasNoNewsYet() async throws {
        try await withShop { shop, bank, services in
            let answer = try await shop.status(of: identity("OPI-1-1"), services: services)
            #expect(answer == nil)
            #expect(bank.restQueries == ["OPI-1-1"])
        }
    }

    @Test func aPaidTransactionWinsOverAnEarlierRefusalAndARefundIsNeverAPayment() async throws {
        try await withShop { shop, bank, services in
            bank.record(.init(uuid: "u-refused", amountCents: 1042, status: "UNPAID", detailedStatus: "REFUSED"), site: "12345678", order: "OPI-1-1")
            let refused = try #require(try await shop.status(of: identity("OPI-1-1"), services: services))
            #expect(refused.status == .refused && refused.providerTransaction == "u-refused")
            bank.record(.init(uuid: "u-paid", amountCents: 1042, status: "PAID", detailedStatus: "CAPTURED"), site: "12345678", order: "OPI-1-1")
            bank.record(.init(uuid: "u-refund", amountCents: 1042, status: "PAID", detailedStatus: "CAPTURED", operationType: "CREDIT"),
                        site: "12345678", order: "OPI-1-1")
            let paid = try #require(try await shop.status(of: identity("OPI-1-1"), services: services))
            #expect(paid.status == .paid && paid.providerTransaction == "u-paid" && paid.amountCents == 1042 && paid.currency == "EUR")
            // The IPN of the same transaction names it the same way: one payment whichever comes first.
            #expect(paid.idempotencyKey == "u-paid|CAPTURED")
            bank.record(.init(uuid: "u-wait", amountCents: 1042, status: "RUNNING", detailedStatus: "WAITING_AUTHORISATION"),
                        site: "12345678", order: "OPI-2-1")
            let waiting = try await shop.status(of: identity("OPI-2-1"), services: services)
            #expect(waiting?.status == .pending)
        }
    }

    @Test func wrongCredentialsAreAFailureNotAnAnswer() async throws {
        try await withShop { shop, bank, services in
            let wrong = SystemPayRESTShop(shop: shop.shop, password: "testpassword_wrong", apiURL: bank.apiURL)
            await #expect(throws: ProviderCallFailed.self) { try await wrong.status(of: identity("OPI-1-1"), services: services) }
        }
    }

    @Test func theRESTPasswordAndAddressAreChecked() throws {
        let base = ["site_id": "12345678", "test_key_env": "KEY"]
        let environment = ["KEY": "k", "REST": "p"]
        #expect(SystemPayProvider.validate(parameters: base.merging(["rest_password_env": "REST"]) { $1 }, environment: environment).isEmpty)
        let missing = SystemPayProvider.validate(parameters: base.merging(["rest_password_env": "NOPE"]) { $1 }, environment: environment)
        #expect(missing.map(\.parameter) == ["rest_password_env"] && missing[0].isMissingSecret)
        let alone = SystemPayProvider.validate(parameters: base.merging(["api_url": "https://api.example.org"]) { $1 }, environment: environment)
        #expect(alone.map(\.parameter) == ["api_url"])
        let noDefault = SystemPayProvider.validate(parameters: base.merging(["rest_password_env": "REST", "platform": "scellius"]) { $1 },
                                                   environment: environment)
        #expect(noDefault.map(\.parameter) == ["api_url"])
        let plain = SystemPayProvider.validate(parameters: base.merging(["rest_password_env": "REST", "api_url": "http://api.example.org"]) { $1 },
                                               environment: environment)
        #expect(plain.map(\.parameter) == ["api_url"])
        // Without a REST password the shop is the form-only one: it cannot be asked.
        #expect(try SystemPayProvider.make(parameters: base, environment: environment).capabilities == [])
    }
}
