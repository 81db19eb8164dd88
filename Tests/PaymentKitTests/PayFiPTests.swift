import AsyncHTTPClient
import FakeBanks
import Foundation
import NIOCore
import NIOHTTP1
import Testing
@testable import PayFiP
@testable import PaymentKit

/// A clock a test moves.
final class TestClock: @unchecked Sendable {
    private let lock = NSLock()
    private var current: Date
    init(_ start: Date) { current = start }
    var now: Date { lock.withLock { current } }
    func advance(_ seconds: TimeInterval) { lock.withLock { current += seconds } }
}

@Suite struct PayFiPRulesTests {
    /// payments.md §2.2, eopayment's test, verbatim.
    @Test func objetIsNormalisedLikeEopayment() {
        #expect(PayFiPProvider.normaliseObjet("18/09/2020  Établissement attestation hors-sol n#1234")
                == "18092020 Etablissement attestation hors sol n1234")
        #expect(PayFiPProvider.normaliseObjet("Réservations – Les Petits Loups") == "Reservations Les Petits Loups")
        #expect(PayFiPProvider.normaliseObjet("L'été d'Opio") == "L ete d Opio")
        #expect(PayFiPProvider.normaliseObjet(String(repeating: "a", count: 150)).count == 100)
        #expect(PayFiPProvider.normaliseObjet(String(repeating: "a", count: 99) + " b").count == 99)  // no trailing space
    }

    @Test func refdetIsSixToThirtyAlphanumericAndKeepsReferencesApart() {
        #expect(PayFiPProvider.refdet(for: "OPI-12-3") == "OPIX12X3")
        #expect(PayFiPProvider.refdet(for: "OPI-1-23") == "OPIX1X23")
        #expect(PayFiPProvider.refdet(for: "A-1") == "AX1XXX")
        let long = PayFiPProvider.refdet(for: "OPIO-LES-PETITS-LOUPS-1234567890-12")
        #expect(long.count == 30)
        #expect(long != PayFiPProvider.refdet(for: "OPIO-LES-PETITS-LOUPX-1234567890-12"))
        for reference in ["OPI-12-3", "A-1", "é-1-1", "OPIO-LES-PETITS-LOUPS-1234567890-12", "X"] {
            #expect(PayFiPProvider.isValidRefdet(PayFiPProvider.refdet(for: reference)), "\(reference)")
        }
        #expect(!PayFiPProvider.isValidRefdet("ABCD"))  // R3 at PayFiP
        #expect(!PayFiPProvider.isValidRefdet("ABC-DEF"))
    }

    @Test func aRefdetAlreadyTakenByAnotherReferenceGetsACounter() async throws {
        let references = InMemoryReferences()
        let regie = PayFiPRegie(numcli: "123456", saisie: "T")
        try await references.set("SOMETHING-ELSE", for: "refdet:OPIX12X3")
        let refdet = try await regie.refdet(for: "OPI-12-3", references: references)
        #expect(refdet == "OPIX12X3N1")
        #expect(try await regie.refdet(for: "OPI-12-3", references: references) == "OPIX12X3N1")
        // The same reference asked again keeps its refdet.
        let again = try await regie.refdet(for: "OPI-7-1", references: references)
        #expect(try await regie.refdet(for: "OPI-7-1", references: references) == again)
    }

    @Test func exerciceIsTheYearInParis() {
        let newYearsEve = ISO8601DateFormatter().date(from: "2026-12-31T23:30:00Z")!  // 00:30 on 1 January in Paris
        #expect(PayFiPRegie.year(of: newYearsEve) == "2027")
        #expect(PayFiPRegie.year(of: ISO8601DateFormatter().date(from: "2026-12-31T22:30:00Z")!) == "2026")
    }

    @Test func everyResultIsMappedAndUnknownOnesGoToAPerson() {
        #expect(PayFiPRegie.normalise("P") == .paid)
        #expect(PayFiPRegie.normalise("V") == .paid)
        #expect(PayFiPRegie.normalise("R") == .refused)
        #expect(PayFiPRegie.normalise("Z") == .refused)
        #expect(PayFiPRegie.normalise("A") == .cancelled)
        #expect(PayFiPRegie.normalise("Q") == .review)
        #expect(PayFiPRegie.normalise("") == .review)
    }
}

@Suite struct PayFiPSOAPTests {
    @Test func aResponseIsReadWhateverItsNamespacePrefixes() throws {
        let xml = """
            <?xml version="1.0" encoding="UTF-8"?>
            <soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">
             <soapenv:Body>
              <ns:creerPaiementSecuriseResponse xmlns:ns="\(PayFiPEnvelope.serviceNamespace)">
               <return><idOp xmlns="http://securite.service.tpa.cp.finances.gouv.fr/reponse">cc0cb210-1cd4-11ea-8cca-0213ad91a103</idOp></return>
              </ns:creerPaiementSecuriseResponse>
             </soapenv:Body>
            </soapenv:Envelope>
            """
        #expect(try PayFiPAnswer.parse(xml) == .result(["idop": "cc0cb210-1cd4-11ea-8cca-0213ad91a103"]))
        let details = """
            <S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body>
            <ns2:recupererDetailPaiementSecuriseResponse xmlns:ns2="urn:x"><return xmlns:r="urn:r">
            <r:dattrans>12122019</r:dattrans><r:heurtrans>1311</r:heurtrans><r:exer>2019</r:exer>
            <r:idOp>cc0cb210-1cd4-11ea-8cca-0213ad91a103</r:idOp><r:mel>john.doe@example.com</r:mel><r:montant>1000</r:montant>
            <r:numauto>112233445566-tip</r:numauto><r:numcli>090909</r:numcli><r:objet>coucou</r:objet>
            <r:refdet>EFEFAEFG</r:refdet><r:resultrans>V</r:resultrans><r:saisie>T</r:saisie></return>
            </ns2:recupererDetailPaiementSecuriseResponse></S:Body></S:Envelope>
            """
        guard case .result(let values) = try PayFiPAnswer.parse(details) else { Issue.record("not a result"); return }
        #expect(values["montant"] == "1000")
        #expect(values["numauto"] == "112233445566-tip")
        #expect(values["resultrans"] == "V")
        #expect(values["idop"] == "cc0cb210-1cd4-11ea-8cca-0213ad91a103")
    }

    @Test func aFaultGivesItsCodeAndLibelle() throws {
        let xml = """
            <?xml version='1.0' encoding='UTF-8'?><S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body>
            <S:Fault xmlns:ns4="http://www.w3.org/2003/05/soap-envelope"><faultcode>S:Server</faultcode><faultstring>fault</faultstring>
            <detail><ns2:FonctionnelleErreur xmlns:ns2="http://securite.service.tpa.cp.finances.gouv.fr/reponse"><code>R3</code>
            <descriptif/><libelle>Le format du paramètre REFDET n'est pas conforme</libelle><severite>2</severite>
            </ns2:FonctionnelleErreur></detail></S:Fault></S:Body></S:Envelope>
            """
        #expect(try PayFiPAnswer.parse(xml) == .fault(code: "R3", message: "Le format du paramètre REFDET n'est pas conforme"))
        let bare = """
            <soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault>
            <faultcode>soap:Client</faultcode><faultstring>Unmarshalling Error</faultstring></soap:Fault></soap:Body></soap:Envelope>
            """
        #expect(try PayFiPAnswer.parse(bare) == .fault(code: "soap:Client", message: "Unmarshalling Error"))
    }

    @Test func anythingElseIsACallFailure() {
        #expect(throws: ProviderCallFailed.self) { try PayFiPAnswer.parse("<html><body>502 Bad Gateway</body></html>") }
        #expect(throws: ProviderCallFailed.self) { try PayFiPAnswer.parse("not xml at all") }
    }

    @Test func theEnvelopeEscapesItsValues() throws {
        let envelope = PayFiPEnvelope.make("creerPaiementSecurise", [("mel", "a&b<c>@example.org"), ("exer", "2026")])
        #expect(envelope.contains("<mel>a&amp;b&lt;c&gt;@example.org</mel>"))
        #expect(envelope.contains("<pai:creerPaiementSecurise><arg0>"))
        let parsed = try #require(XMLNode.parse(envelope))
        #expect(parsed.first("mel")?.text == "a&b<c>@example.org")
    }
}

@Suite struct PayFiPConfigurationTests {
    @Test func parametersAreCheckedWithClearMessages() {
        #expect(PayFiPProvider.validate(parameters: ["numcli": "123456", "saisie": "T"], environment: [:]).isEmpty)
        #expect(PayFiPProvider.validate(parameters: ["numcli": "123456", "saisie": "T", "exercice": "2026",
                                                     "service_url": "https://example.org/s", "payment_url": "http://127.0.0.1:9/p"],
                                        environment: [:]).isEmpty)
        let problems = PayFiPProvider.validate(parameters: ["numcli": "12345", "saisie": "M", "exercice": "26",
                                                            "service_url": "http://payfip.example/", "colour": "x"], environment: [:])
        #expect(Set(problems.map(\.parameter)) == ["numcli", "saisie", "exercice", "service_url", "colour"])
        #expect(problems.first { $0.parameter == "numcli" }!.message.contains("6-digit"))
        let missing = PayFiPProvider.validate(parameters: [:], environment: [:])
        #expect(Set(missing.map(\.parameter)) == ["numcli", "saisie"])
        #expect(throws: ProviderConfigurationError.self) { try PayFiPProvider.make(parameters: ["numcli": "1"], environment: [:]) }
    }

    /// Bank addresses are parsed, not compared by prefix: http only to this machine's loopback, and only in test
    /// (T) or activation (X) mode; production (W) talks https.
    @Test func bankAddressesAreCheckedByHostNotByPrefix() {
        func problems(_ saisie: String, _ extra: [String: String]) -> [String] {
            PayFiPProvider.validate(parameters: ["numcli": "123456", "saisie": saisie].merging(extra) { _, new in new }, environment: [:]).map(\.parameter)
        }
        #expect(problems("T", ["service_url": "http://localhost.evil.example/tpa/services/securite"]) == ["service_url"])
        #expect(problems("X", ["payment_url": "http://127.0.0.1.evil.example/p"]) == ["payment_url"])
        #expect(problems("T", ["service_url": "http://127.0.0.1:9/s", "payment_url": "http://localhost:9/p"]).isEmpty)
        #expect(problems("X", ["service_url": "http://[::1]:9/s"]).isEmpty)
        #expect(problems("W", ["service_url": "http://127.0.0.1:9/s", "payment_url": "http://localhost:9/p"]) == ["service_url", "payment_url"])
        #expect(problems("W", ["service_url": "https://www.payfip.gouv.fr/tpa/services/securite"]).isEmpty)
    }

    @Test func testAndActivationAreTestBanks() {
        #expect(PayFiPProvider.testBank(parameters: ["saisie": "T"]) != nil)
        #expect(PayFiPProvider.testBank(parameters: ["saisie": "X"]) != nil)
        #expect(PayFiPProvider.testBank(parameters: ["saisie": "W"]) == nil)
        let regie = try? PayFiPProvider.make(parameters: ["numcli": "123456", "saisie": "W"], environment: [:]) as? PayFiPRegie
        #expect(regie?.serviceURL == "https://www.payfip.gouv.fr/tpa/services/securite")
        #expect(regie?.paymentURL == "https://www.payfip.gouv.fr/tpa/paiementws.web")
        #expect(regie.map { $0.sessionLimit == 15 * 60 } == true)
        #expect(regie?.capabilities.contains(.status) == true)
    }
}

/// start and verify against the fake PayFiP over real HTTP.
@Suite(.serialized) struct PayFiPAgainstTheFakeTests {
    static let numcli = "123456"
    static let createdAt = ISO8601DateFormatter().date(from: "2026-12-31T23:30:00Z")!

    func attempt(_ reference: String = "OPI-12-3", amount: Int = 2450, email: String = "parent@example.org") -> PaymentAttempt {
        PaymentAttempt(reference: reference, amountCents: amount, currency: "EUR", label: "Réservations – Les Petits Loups",
                       createdAt: Self.createdAt, customerEmail: email, notificationURL: "http://127.0.0.1:9/opio/paiement/notification",
                       returnURL: "http://127.0.0.1:9/opio/paiement/retour?ref=\(reference)", portalURL: "http://127.0.0.1:9/opio")
    }

    func withBank(_ body: (FakePayFiP, PayFiPRegie, ProviderServices, TestClock) async throws -> Void) async throws {
        let bank = try await FakePayFiP.start(clients: [Self.numcli, "654321"])
        let regie = try #require(try PayFiPProvider.make(
            parameters: ["numcli": Self.numcli, "saisie": "T", "service_url": bank.serviceURL, "payment_url": bank.paymentURL],
            environment: [:]
        ) as? PayFiPRegie)
        let clock = TestClock(Self.createdAt)
        let services = ProviderServices(http: LocalBankHTTPClient(), references: InMemoryReferences(), now: { clock.now })
        do {
            try await body(bank, regie, services, clock)
        } catch {
            await bank.stop()
            throw error
        }
        await bank.stop()
    }

    func notification(_ idOp: String, name: String = "idOp") -> IncomingNotification {
        IncomingNotification(headers: [("Content-Type", "application/x-www-form-urlencoded")], body: "\(name)=\(idOp)")
    }

    @Test func startOpensThePaymentAndRedirectsToItsPage() async throws {
        try await withBank { bank, regie, services, _ in
            let start = try await regie.start(attempt(), services: services)
            let idOp = try #require(start.providerReference)
            #expect(idOp.count == 36)
            #expect(start.step == .redirect(bank.paymentURL + "?idop=" + idOp))
            let operation = try #require(bank.operation(idOp))
            #expect(operation.numcli == Self.numcli)
            #expect(operation.exer == "2027")  // 00:30 on 1 January 2027 in Paris
            #expect(operation.montant == 2450)
            #expect(operation.refdet == "OPIX12X3")
            #expect(operation.objet == "Reservations Les Petits Loups")
            #expect(operation.mel == "parent@example.org")
            #expect(operation.saisie == "T")
            #expect(operation.urlnotif == "http://127.0.0.1:9/opio/paiement/notification")
            #expect(operation.urlredirect == "http://127.0.0.1:9/opio/paiement/retour?ref=OPI-12-3")
            #expect(bank.soapRequests.first?.contains("<pai:creerPaiementSecurise>") == true)
            // What was asked is kept for the notification.
            #expect(try await services.references.value(for: "refdet:OPIX12X3") == "OPI-12-3")
            #expect(try await services.references.value(for: "attempt:OPI-12-3") == idOp)
            // The page shows the amount and offers the choices.
            let page = try await LocalBankHTTPClient.browse("GET", bank.paymentURL + "?idop=" + idOp)
            #expect(page.status == 200 && page.body.contains("24,50 €") && page.body.contains("Payer"))
        }
    }

    @Test func theExerciceGivenIsSent() async throws {
        try await withBank { bank, _, services, _ in
            let regie = PayFiPRegie(numcli: Self.numcli, saisie: "T", exercice: "2026", serviceURL: bank.serviceURL, paymentURL: bank.paymentURL)
            let idOp = try #require(try await regie.start(attempt(), services: services).providerReference)
            #expect(bank.operation(idOp)?.exer == "2026")
        }
    }

    @Test func aFaultBecomesACallFailureWithItsMessage() async throws {
        try await withBank { bank, regie, services, _ in
            let mel = await #expect(throws: ProviderCallFailed.self) { try await regie.start(attempt(email: "nope"), services: services) }
            #expect(mel?.description.contains("A2 Adresse mel incorrecte") == true)
            let amount = await #expect(throws: ProviderCallFailed.self) { try await regie.start(attempt(amount: 50), services: services) }
            #expect(amount?.description.contains("R4") == true)
            let stranger = PayFiPRegie(numcli: "999999", saisie: "T", serviceURL: bank.serviceURL, paymentURL: bank.paymentURL)
            await #expect(throws: ProviderCallFailed.self) { try await stranger.start(attempt(), services: services) }
            bank.setDown(true)
            await #expect(throws: ProviderCallFailed.self) { try await regie.start(attempt(), services: services) }
            let unreachable = PayFiPRegie(numcli: Self.numcli, saisie: "T", serviceURL: "http://127.0.0.1:1/tpa", paymentURL: bank.paymentURL)
            await #expect(throws: ProviderCallFailed.self) { try await unreachable.start(attempt(), services: services) }
        }
    }

    @Test func theNotificationIsTrustedOnlyThroughPayFiPsAnswer() async throws {
        try await withBank { bank, regie, services, _ in
            let idOp = try #require(try await regie.start(attempt(), services: services).providerReference)
            // The payer has not chosen: P5, not final, the bank is asked to call again.
            await #expect(throws: ProviderCallFailed.self) { try await regie.verify(notification(idOp), services: services) }
            // The payer pays on the page; no notification here (delivery never), the browser goes back.
            let back = try await LocalBankHTTPClient.browse("POST", bank.server.baseURL + "/tpa/choix",
                                                            form: [("idop", idOp), ("outcome", "pay"), ("delivery", "never")])
            #expect(back.status == 303 && back.location == "http://127.0.0.1:9/opio/paiement/retour?ref=OPI-12-3")
            let verified = try await regie.verify(notification(idOp), services: services)
            #expect(verified.status == .paid)
            #expect(verified.attemptReference == "OPI-12-3")
            #expect(verified.amountCents == 2450 && verified.currency == "EUR")
            #expect(verified.idempotencyKey == "\(idOp)|P")
            #expect(verified.providerStatus == "P")
            // The transaction is the idOp, not numauto (which comes with some answers only).
            #expect(!bank.operation(idOp)!.numauto.isEmpty && verified.providerTransaction == idOp)
            // `idop` in the query, whatever its case, is the same notification.
            let query = IncomingNotification(method: "GET", query: [("IDOP", idOp)], body: "")
            #expect(try await regie.verify(query, services: services).idempotencyKey == verified.idempotencyKey)
            #expect(try await regie.verify(notification(idOp, name: "idop"), services: services).status == .paid)
        }
    }

    @Test func refusalsAbandonsAndOddResults() async throws {
        try await withBank { bank, regie, services, clock in
            clock.advance(21 * 60)  // an abandon older than 20 minutes is final
            for (resultrans, status) in [("R", PaymentStatus.refused), ("Z", .refused), ("A", .cancelled), ("V", .paid), ("Q", .review)] {
                let idOp = try #require(try await regie.start(attempt("OPI-5-\(resultrans.unicodeScalars.first!.value)"), services: services).providerReference)
                bank.settle(idOp, resultrans: resultrans)
                let verified = try await regie.verify(notification(idOp), services: services)
                #expect(verified.status == status, "\(resultrans)")
                #expect(verified.idempotencyKey == "\(idOp)|\(resultrans)")
                #expect(verified.providerTransaction == idOp)
            }
        }
    }

    /// A notification and a reconciliation of one payment name the same money: the idOp, whether PayFiP's
    /// answer carries numauto or not.
    @Test func theTransactionIsTheIdOpWhateverTheAnswerCarries() async throws {
        try await withBank { bank, regie, services, clock in
            let start = try await regie.start(attempt(), services: services)
            let idOp = try #require(start.providerReference)
            bank.settle(idOp, resultrans: "P")
            let notified = try await regie.verify(notification(idOp), services: services)
            clock.advance(25 * 60)
            let identity = AttemptIdentity(reference: "OPI-12-3", amountCents: 2450, currency: "EUR", createdAt: Self.createdAt,
                                           providerReference: idOp)
            let reconciled = try #require(try await regie.status(of: identity, services: services))
            #expect(notified.providerTransaction == idOp && reconciled.providerTransaction == idOp)
            #expect(notified.idempotencyKey == reconciled.idempotencyKey)
        }
    }

    /// An abandon notified within 20 minutes of the attempt may still be followed by a payment on the same idOp:
    /// pending, like `status(of:)` says; after 20 minutes it is a cancellation, under another key.
    @Test func aYoungAbandonIsPendingInTheNotificationToo() async throws {
        try await withBank { bank, regie, services, clock in
            let idOp = try #require(try await regie.start(attempt(), services: services).providerReference)
            let other = try #require(try await regie.start(attempt("OPI-12-4"), services: services).providerReference)
            clock.advance(5 * 60)
            bank.settle(idOp, resultrans: "A")
            let young = try await regie.verify(notification(idOp), services: services)
            #expect(young.status == .pending && young.providerStatus == "A" && young.providerTransaction == idOp)
            // The payer came back within the 20 minutes and paid: paid.
            bank.settle(other, resultrans: "A")
            #expect(try await regie.verify(notification(other), services: services).status == .pending)
            bank.settle(other, resultrans: "P")
            #expect(try await regie.verify(notification(other), services: services).status == .paid)
            // 21 minutes after the attempt, the abandon is final: cancelled, under the key the final word has.
            clock.advance(16 * 60)
            let old = try await regie.verify(notification(idOp), services: services)
            #expect(old.status == .cancelled && old.idempotencyKey == "\(idOp)|A")
            #expect(old.idempotencyKey != young.idempotencyKey)
        }
    }

    @Test func unknownForeignOrAlteredNotificationsAreRejected() async throws {
        try await withBank { bank, regie, services, _ in
            // No idOp, a malformed one, one this center never opened.
            await #expect(throws: NotificationRejected.self) { try await regie.verify(IncomingNotification(body: "foo=bar"), services: services) }
            await #expect(throws: NotificationRejected.self) { try await regie.verify(notification("abc%27%3B--"), services: services) }
            await #expect(throws: NotificationRejected.self) {
                try await regie.verify(notification("cc0cb210-1cd4-11ea-8cca-0213ad91a103"), services: services)
            }
            // Opened by another régie (another numcli) that shares nothing but the references: PayFiP's answer names it.
            let other = PayFiPRegie(numcli: "654321", saisie: "T", serviceURL: bank.serviceURL, paymentURL: bank.paymentURL)
            let foreign = try #require(try await other.start(attempt("OPI-9-1"), services: services).providerReference)
            bank.settle(foreign, resultrans: "P")
            await #expect(throws: NotificationRejected.self) { try await regie.verify(notification(foreign), services: services) }
            // An idOp PayFiP purged (P1): not PayFiP's, refused.
            let idOp = try #require(try await regie.start(attempt(), services: services).providerReference)
            try await services.references.set(try await services.references.value(for: "idop:" + idOp)!, for: "idop:0000-gone")
            await #expect(throws: NotificationRejected.self) { try await regie.verify(notification("0000-gone"), services: services) }
        }
    }

    @Test func theAmountPayFiPTookIsReportedEvenWhenItDiffers() async throws {
        try await withBank { bank, regie, services, _ in
            let idOp = try #require(try await regie.start(attempt(), services: services).providerReference)
            bank.settle(idOp, resultrans: "P", montant: 1000)
            let verified = try await regie.verify(notification(idOp), services: services)
            // The core compares it with the attempt and flags the difference; it is never confirmed as 24,50 €.
            #expect(verified.amountCents == 1000)
        }
    }

    @Test func aBankThatCannotAnswerIsACallFailure() async throws {
        try await withBank { bank, regie, services, _ in
            let idOp = try #require(try await regie.start(attempt(), services: services).providerReference)
            bank.settle(idOp, resultrans: "P")
            bank.setDown(true)
            await #expect(throws: ProviderCallFailed.self) { try await regie.verify(notification(idOp), services: services) }
            bank.setDown(false)
            #expect(try await regie.verify(notification(idOp), services: services).status == .paid)
        }
    }

    /// eopayment's 20-minute rule (payments.md §2.3).
    @Test func statusFollowsTheTwentyMinuteRule() async throws {
        try await withBank { bank, regie, services, clock in
            let start = try await regie.start(attempt(), services: services)
            let identity = AttemptIdentity(reference: "OPI-12-3", amountCents: 2450, currency: "EUR", createdAt: Self.createdAt,
                                           providerReference: start.providerReference)
            let idOp = start.providerReference!
            clock.advance(19 * 60)
            #expect(try await regie.status(of: identity, services: services)?.status == nil)  // P5 before 20 min
            bank.settle(idOp, resultrans: "A")
            #expect(try await regie.status(of: identity, services: services)?.status == nil)  // A before 20 min: may still pay
            bank.settle(idOp, resultrans: nil)
            clock.advance(2 * 60)
            let expired = try #require(try await regie.status(of: identity, services: services))  // P5 after 20 min
            #expect(expired.status == .expired && expired.idempotencyKey == "\(idOp)|P5")
            bank.settle(idOp, resultrans: "A")
            #expect(try await regie.status(of: identity, services: services)?.status == .cancelled)
            bank.settle(idOp, resultrans: "P")
            let paid = try #require(try await regie.status(of: identity, services: services))
            #expect(paid.status == .paid && paid.amountCents == 2450 && paid.idempotencyKey == "\(idOp)|P")
            // Found through the references when the attempt does not carry it.
            let bare = AttemptIdentity(reference: "OPI-12-3", amountCents: 2450, currency: "EUR", createdAt: Self.createdAt, providerReference: nil)
            #expect(try await regie.status(of: bare, services: services)?.status == .paid)
            // P1 (purged overnight): expired.
            let purged = AttemptIdentity(reference: "OPI-12-3", amountCents: 2450, currency: "EUR", createdAt: Self.createdAt,
                                         providerReference: "0000-gone")
            #expect(try await regie.status(of: purged, services: services)?.status == .expired)
            // Never opened at PayFiP: nothing before 20 minutes, expired after.
            let never = AttemptIdentity(reference: "OPI-99-1", amountCents: 2450, currency: "EUR", createdAt: clock.now, providerReference: nil)
            #expect(try await regie.status(of: never, services: services)?.status == nil)
            clock.advance(21 * 60)
            #expect(try await regie.status(of: never, services: services)?.status == .expired)
        }
    }

    @Test func acknowledgements() {
        let regie = PayFiPRegie(numcli: "123456", saisie: "T")
        #expect(regie.acknowledgement(.handled).status == 200)
        #expect(regie.acknowledgement(.rejected).status == 400)
        #expect(regie.acknowledgement(.failed).status == 503)
    }
}
