import FakeBanks
import Foundation
import Testing
@testable import Monetico
@testable import PaymentKit

/// dansmaculotte/monetico-php's test key and TPE (payments.md §5.1).
let moneticoKey = "1036DEFD9175F29EE9337A1F284BDF781D5A4048"
let moneticoAuthentification = "ewogICAiZGV0YWlscyIgOiB7CiAgICAgICJBUmVzIiA6ICJZIiwKICAgICAgImF1dGhlbnRpY2F0aW9uVmFsdWUiIDogIlFVRkNRa05EUkVSRlJVWkdRVUZDUWtORFJFUT0iLAogICAgICAibGlhYmlsaXR5U2hpZnQiIDogIlkiLAogICAgICAibWVyY2hhbnRQcmVmZXJlbmNlIiA6ICJub19wcmVmZXJlbmNlIiwKICAgICAgInRyYW5zYWN0aW9uSUQiIDogIjdjOTgyNTVhLWE5YzctNDYxYy1hZDEyLWM3NjM5MzczZDljYiIKICAgfSwKICAgInByb3RvY29sIiA6ICIzRFNlY3VyZSIsCiAgICJzdGF0dXMiIDogImF1dGhlbnRpY2F0ZWQiLAogICAidmVyc2lvbiIgOiAiMi4xLjAiCn0K"

/// MO-1: `testSealIsValid`, verbatim (27 fields and the MAC).
let mo1Fields: [(name: String, value: String)] = [
    ("authentification", moneticoAuthentification), ("bincb", "000003"), ("brand", "MC"), ("code-retour", "payetest"), ("cvx", "oui"),
    ("hpancb", "6FF1313F3B6FE9B053B21CBDEE516603CB8CF01E"), ("ipclient", "80.15.24.220"), ("modepaiement", "CB"), ("numauto", "000000"),
    ("originecb", "FRA"), ("originetr", "FRA"), ("vld", "1221"), ("date", "23/07/2019_a_11:55:47"), ("montant", "42.42EUR"),
    ("reference", "12345678"), ("texte-libre", "PHPUnit"), ("TPE", "9344512"), ("montantech", "50EUR"), ("filtragevaleur", "foobar"),
    ("filtrage_etat", "test"), ("cbenregistree", "1"), ("cbmasquee", "1234XXXXXXXXXXX1234"), ("motifrefus", "Interdit"),
    ("filtragecause", "1"), ("usage", "credit"), ("typecompte", "particulier"), ("ecard", "non"),
    ("MAC", "2D77EAC00BA7322FFDC3E3261E49614B252F3097"),
]

/// MO-2: `testSealIsValidForCancelledPayment`, verbatim.
let mo2Fields: [(name: String, value: String)] = [
    ("TPE", "9344512"), ("date", "10/06/2022_a_23:22:55"), ("montant", "191.52EUR"), ("reference", "4KKHUGNUNOGG"),
    ("texte-libre", "PHP Unit"), ("code-retour", "Annulation"), ("cvx", "oui"), ("vld", "0924"), ("brand", "CB"), ("motifrefus", "3DSecure"),
    ("motifrefusautorisation", "-"), ("usage", "debit"), ("typecompte", "particulier"), ("ecard", "non"), ("originecb", "FRA"),
    ("bincb", "000003"), ("hpancb", "6FF1313F3B6FE9B053B21CBDEE516603CB8CF01E"), ("ipclient", "127.0.0.1"), ("originetr", "FRA"),
    ("modepaiement", "CB"), ("authentification", moneticoAuthentification), ("MAC", "D258E699FE4C52199557336C89B02C81D09244F6"),
]

@Suite struct MoneticoSealTests {
    let key = MoneticoTerminal.usableKey(moneticoKey)!
    /// The vectors' terminal, in TEST (MO-1 is a test-server payment).
    let terminal = MoneticoTerminal(tpe: "9344512", societe: "monsite", mode: "TEST", key: MoneticoTerminal.usableKey(moneticoKey)!,
                                    paymentURL: MoneticoProvider.testURL)

    @Test func mo1() throws {
        #expect(MoneticoTerminal.mac(mo1Fields, key: key) == "2D77EAC00BA7322FFDC3E3261E49614B252F3097")
        let verified = try terminal.verify(notification: FormURLEncoding.encode(mo1Fields))
        #expect(verified.status == .paid)
        #expect(verified.amountCents == 4242 && verified.currency == "EUR")
        #expect(verified.idempotencyKey == "12345678|payetest")
        #expect(verified.providerTransaction == "12345678" && verified.providerStatus == "payetest")
        #expect(verified.attemptReference == "PHPUnit")  // texte-libre
    }

    @Test func mo2() throws {
        #expect(MoneticoTerminal.mac(mo2Fields, key: key) == "D258E699FE4C52199557336C89B02C81D09244F6")
        // As posted: "PHP Unit" travels as PHP+Unit and is sealed decoded.
        let body = FormURLEncoding.encode(mo2Fields)
        #expect(body.contains("texte-libre=PHP+Unit"))
        let verified = try terminal.verify(notification: body)
        #expect(verified.status == .refused)
        #expect(verified.amountCents == 19152)
        #expect(verified.idempotencyKey == "4KKHUGNUNOGG|Annulation")
    }

    /// The signed string starts with "TPE=9344512*authentification=", uppercase sorting first (byte order).
    @Test func byteOrderAndTheMACLeftOut() {
        let fields: [(name: String, value: String)] = [("b", "2"), ("TPE", "1"), ("a", "x"), ("MAC", "ignored")]
        #expect(MoneticoTerminal.mac(fields, key: key) == Digests.hmacSHA1Hex("TPE=1*a=x*b=2", key: key).uppercased())
    }

    @Test func negativeCases() throws {
        let good = FormURLEncoding.encode(mo1Fields)
        // One character changed in a value, in the MAC.
        #expect(throws: NotificationRejected.self) { try terminal.verify(notification: good.replacingOccurrences(of: "42.42EUR", with: "42.43EUR")) }
        #expect(throws: NotificationRejected.self) {
            try terminal.verify(notification: good.replacingOccurrences(of: "2D77EAC00BA7322FFDC3E3261E49614B252F3097", with: "2D77EAC00BA7322FFDC3E3261E49614B252F3098"))
        }
        // A field dropped, a field added.
        #expect(throws: NotificationRejected.self) { try terminal.verify(notification: good.replacingOccurrences(of: "&ecard=non", with: "")) }
        #expect(throws: NotificationRejected.self) { try terminal.verify(notification: good + "&extra=1") }
        // "+" left as %2B: not the value that was sealed.
        #expect(throws: NotificationRejected.self) {
            try terminal.verify(notification: FormURLEncoding.encode(mo2Fields).replacingOccurrences(of: "PHP+Unit", with: "PHP%2BUnit"))
        }
        // The wrong key.
        let other = MoneticoTerminal(tpe: "9344512", societe: "monsite", mode: "TEST", key: MoneticoTerminal.usableKey(String(repeating: "AB", count: 20))!,
                                     paymentURL: "")
        #expect(throws: NotificationRejected.self) { try other.verify(notification: good) }
        // Another center's TPE with the same key, correctly sealed: not ours.
        let elsewhere = MoneticoTerminal(tpe: "1234567", societe: "monsite", mode: "TEST", key: key, paymentURL: "")
        #expect(throws: NotificationRejected.self) { try elsewhere.verify(notification: good) }
        // A test-server payment for a PRODUCTION terminal.
        let production = MoneticoTerminal(tpe: "9344512", societe: "monsite", mode: "PRODUCTION", key: key, paymentURL: "")
        #expect(throws: NotificationRejected.self) { try production.verify(notification: good) }
        // No MAC; not a form.
        #expect(throws: NotificationRejected.self) { try terminal.verify(notification: "TPE=9344512&code-retour=paiement") }
        #expect(throws: NotificationRejected.self) { try terminal.verify(notification: "%zz") }
        // The MAC's case does not matter.
        #expect(try terminal.verify(notification: good.replacingOccurrences(of: "MAC=2D77EAC", with: "MAC=2d77eac")).status == .paid)
    }

    @Test func everyCodeIsMappedAndUnknownOnesAreNeverPaid() throws {
        #expect(MoneticoTerminal.normalise("payetest") == .paid)
        #expect(MoneticoTerminal.normalise("paiement") == .paid)
        #expect(MoneticoTerminal.normalise("Annulation") == .refused)
        for code in ["paiement_pf2", "paiement_pf3", "Annulation_pf2", "Annulation_pf4", "PAIEMENT", "autre"] {
            #expect(MoneticoTerminal.normalise(code) == .review)
        }
        // Real money ("paiement") announced to a TEST terminal goes to a person.
        var production = mo1Fields.filter { $0.name != "MAC" }.map { $0.name == "code-retour" ? ($0.name, "paiement") : $0 }
        production.append(("MAC", MoneticoTerminal.mac(production, key: key)))
        #expect(try terminal.verify(notification: FormURLEncoding.encode(production)).status == .review)
        let live = MoneticoTerminal(tpe: "9344512", societe: "monsite", mode: "PRODUCTION", key: key, paymentURL: "")
        #expect(try live.verify(notification: FormURLEncoding.encode(production)).status == .paid)
    }

    @Test func amounts() {
        #expect(MoneticoTerminal.parseMontant("191.52EUR")! == (19152, "EUR"))
        #expect(MoneticoTerminal.parseMontant("50EUR")! == (5000, "EUR"))
        #expect(MoneticoTerminal.parseMontant("0.5EUR")! == (50, "EUR"))
        #expect(MoneticoTerminal.parseMontant("12.50USD")! == (1250, "USD"))
        for bad in ["", "EUR", "12,50EUR", "12.505EUR", "-1EUR", "12.50", "12.50eur", "1.2.3EUR", " 12EUR", ".5EUR"] {
            #expect(MoneticoTerminal.parseMontant(bad) == nil, "\(bad)")
        }
        #expect(MoneticoTerminal.montant(cents: 1250, currency: "EUR") == "12.50EUR")
        #expect(MoneticoTerminal.montant(cents: 7, currency: "EUR") == "0.07EUR")
        #expect(MoneticoTerminal.montant(cents: 200000, currency: "EUR") == "2000.00EUR")
    }

    /// The kit's `_getUsableKey` adjustment of the last two characters.
    @Test func usableKey() {
        #expect(MoneticoTerminal.usableKey(moneticoKey) == Digests.bytes(hex: moneticoKey))
        // key[38] between 'F' and 'a' exclusive: minus 23 ('G' → '0', 'P' → '9').
        #expect(MoneticoTerminal.usableKey(String(repeating: "0", count: 38) + "G7") == Digests.bytes(hex: String(repeating: "0", count: 38) + "07"))
        #expect(MoneticoTerminal.usableKey(String(repeating: "0", count: 38) + "P1") == Digests.bytes(hex: String(repeating: "0", count: 38) + "91"))
        // key[39] == 'M': the last character becomes '0'.
        #expect(MoneticoTerminal.usableKey(String(repeating: "0", count: 38) + "3M") == Digests.bytes(hex: String(repeating: "0", count: 38) + "30"))
        #expect(MoneticoTerminal.usableKey(String(repeating: "0", count: 39)) == nil)
        #expect(MoneticoTerminal.usableKey(String(repeating: "Z", count: 40)) == nil)
    }

    @Test func acknowledgementsAreTheKitsBytes() {
        #expect(terminal.acknowledgement(.handled).body == "version=2\ncdr=0")
        #expect(terminal.acknowledgement(.handled).status == 200)
        #expect(terminal.acknowledgement(.rejected).body == "version=2\ncdr=1\n")
        #expect(terminal.acknowledgement(.failed).body == "version=2\ncdr=1\n")
        #expect(terminal.acknowledgement(.failed).status == 503)
        #expect(FakeMonetico.acknowledged(terminal.acknowledgement(.handled).body))
        #expect(FakeMonetico.acknowledged("version=2\ncdr=0\n"))
        #expect(!FakeMonetico.acknowledged(terminal.acknowledgement(.rejected).body))
    }
}

@Suite struct MoneticoConfigurationTests {
    let good = ["tpe": "9344512", "societe": "petitsloups", "key_env": "MONETICO_KEY", "mode": "TEST"]
    let environment = ["MONETICO_KEY": moneticoKey]

    @Test func parametersAreCheckedWithClearMessages() throws {
        #expect(MoneticoProvider.validate(parameters: good, environment: environment).isEmpty)
        #expect(Set(MoneticoProvider.validate(parameters: [:], environment: [:]).map(\.parameter)) == ["tpe", "societe", "key_env"])
        let unset = MoneticoProvider.validate(parameters: good, environment: [:])
        #expect(unset.map(\.parameter) == ["key_env"] && unset[0].isMissingSecret)
        #expect(MoneticoProvider.validate(parameters: good, environment: ["MONETICO_KEY": "not-a-key"]).map(\.parameter) == ["key_env"])
        let problems = MoneticoProvider.validate(parameters: ["tpe": "12345", "societe": "petits loups", "key_env": "MONETICO_KEY",
                                                              "mode": "LIVE", "url": "http://p.monetico-services.com/", "colour": "x"],
                                                 environment: environment)
        #expect(Set(problems.map(\.parameter)) == ["tpe", "societe", "mode", "url", "colour"])
        #expect(throws: ProviderConfigurationError.self) { try MoneticoProvider.make(parameters: good, environment: [:]) }
    }

    @Test func eachModeHasItsPageAndTESTIsATestBank() throws {
        #expect(MoneticoProvider.testBank(parameters: good) != nil)
        var production = good
        production["mode"] = "PRODUCTION"
        #expect(MoneticoProvider.testBank(parameters: production) == nil)
        let test = try #require(try MoneticoProvider.make(parameters: good, environment: environment) as? MoneticoTerminal)
        #expect(test.paymentURL == "https://p.monetico-services.com/test/paiement.cgi")
        let live = try #require(try MoneticoProvider.make(parameters: production, environment: environment) as? MoneticoTerminal)
        #expect(live.paymentURL == "https://p.monetico-services.com/paiement.cgi")
        #expect(live.capabilities.isEmpty)  // no status query, no refund in our reference
        var local = good
        local["url"] = "http://127.0.0.1:8999/test/paiement.cgi"
        #expect(MoneticoProvider.validate(parameters: local, environment: environment).isEmpty)
        local["mode"] = "PRODUCTION"
        #expect(MoneticoProvider.validate(parameters: local, environment: environment).map(\.parameter) == ["url"])
    }
}

@Suite struct MoneticoFormTests {
    let terminal = MoneticoTerminal(tpe: "9344512", societe: "petitsloups", mode: "TEST", key: MoneticoTerminal.usableKey(moneticoKey)!,
                                    paymentURL: MoneticoProvider.testURL)

    func attempt(_ reference: String = "OPI-7-1", returnURL: String = "https://p.example.org/paiement/retour?ref=OPI-7-1") -> PaymentAttempt {
        PaymentAttempt(reference: reference, amountCents: 2450, currency: "EUR", label: "Réservations",
                       createdAt: Date(timeIntervalSince1970: 1_798_110_000), customerEmail: "parent@example.org",
                       notificationURL: "https://p.example.org/paiement/notification", returnURL: returnURL, portalURL: "https://p.example.org")
    }

    @Test func theFormIsSealedAndCarriesWhatTheBankNeeds() async throws {
        let references = InMemoryReferences()
        let start = try await terminal.start(attempt(), services: ProviderServices(http: NoNetwork(), references: references))
        guard case .autoPostForm(let action, let form) = start.step else { Issue.record("not a form"); return }
        #expect(action == "https://p.monetico-services.com/test/paiement.cgi")
        let values = Dictionary(form.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a })
        #expect(values["version"] == "3.0" && values["TPE"] == "9344512" && values["societe"] == "petitsloups" && values["lgue"] == "FR")
        #expect(values["montant"] == "24.50EUR")
        #expect(values["date"] == "24/12/2026:12:00:00")  // 11:00 UTC, Paris time
        #expect(values["reference"] == "OPI000000001" && start.providerReference == "OPI000000001")
        #expect(values["texte-libre"] == "OPI-7-1" && values["mail"] == "parent@example.org")
        #expect(values["url_retour_ok"] == "https://p.example.org/paiement/retour?ref=OPI-7-1" && values["url_retour_err"] == values["url_retour_ok"])
        let context = try #require(Data(base64Encoded: values["contexte_commande"] ?? ""))
        let json = try #require(try JSONSerialization.jsonObject(with: context) as? [String: Any])
        #expect((json["billing"] as? [String: Any])?["country"] as? String == "FR")
        let mac = try #require(values["MAC"])
        #expect(mac == MoneticoTerminal.mac(form.map { ($0.name, $0.value) }, key: terminal.key))
        #expect(try await references.value(for: "reference:OPI000000001") == "OPI-7-1")
    }

    /// At most 12 letters and digits, new for each attempt, the same for an attempt asked again.
    @Test func referencesAreShortUniqueAndStable() async throws {
        let references = InMemoryReferences()
        let a = try await MoneticoTerminal.reference(for: "OPI-7-1", references: references)
        let b = try await MoneticoTerminal.reference(for: "OPI-7-2", references: references)
        let again = try await MoneticoTerminal.reference(for: "OPI-7-1", references: references)
        let odd = try await MoneticoTerminal.reference(for: "é-1", references: references)
        #expect(a == "OPI000000001" && b == "OPI000000002" && again == a)
        #expect(odd == "000000000003")
        for reference in [a, b, odd] {
            #expect(reference.count <= 12 && reference.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) })
        }
    }

    /// The notification names the attempt through the mapping kept at start.
    @Test func theNotificationFindsItsAttempt() async throws {
        let references = InMemoryReferences()
        let services = ProviderServices(http: NoNetwork(), references: references)
        let start = try await terminal.start(attempt(), services: services)
        guard case .autoPostForm(_, let form) = start.step else { return }
        let values = Dictionary(form.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a })
        // The mapping wins even if texte-libre were empty.
        var stripped = values
        stripped["texte-libre"] = ""
        let body = FakeMonetico.notification(stripped, code: "payetest", key: moneticoKey)
        let verified = try await terminal.verify(IncomingNotification(body: body), services: services)
        #expect(verified.attemptReference == "OPI-7-1" && verified.status == .paid && verified.amountCents == 2450)
        #expect(verified.idempotencyKey == "OPI000000001|payetest")
    }

    /// The form posted to the fake over real HTTP: the fake checks the MAC, shows its page, posts the sealed
    /// result to the CGI2 address, and the terminal verifies it.
    @Test func againstTheFakeBankOverHTTP() async throws {
        let bank = try await FakeMonetico.start(terminals: ["9344512": moneticoKey])
        let inbox = try await NotificationInbox.start(answer: "version=2\ncdr=0")
        do {
            bank.setCGI2URL(inbox.url, for: "9344512")
            let local = MoneticoTerminal(tpe: "9344512", societe: "petitsloups", mode: "TEST", key: terminal.key, paymentURL: bank.paymentURL)
            let references = InMemoryReferences()
            let services = ProviderServices(http: NoNetwork(), references: references)
            let start = try await local.start(attempt(returnURL: "http://127.0.0.1:9/paiement/retour?ref=OPI-7-1"), services: services)
            guard case .autoPostForm(let action, let form) = start.step else { Issue.record("not a form"); return }
            let fields = form.map { (name: $0.name, value: $0.value) }
            let page = try await LocalBankHTTPClient.browse("POST", action, form: fields)
            #expect(page.status == 200 && page.body.contains("24,50 €"))
            // A form with its amount lowered is refused by the bank.
            let forged = fields.map { $0.name == "montant" ? (name: "montant", value: "0.01EUR") : $0 }
            #expect(try await LocalBankHTTPClient.browse("POST", action, form: forged).status == 400)
            // Pay.
            let back = try await LocalBankHTTPClient.browse("POST", action + "/choice", form: fields + [("outcome", "pay"), ("delivery", "once")])
            #expect(back.status == 303 && back.location == "http://127.0.0.1:9/paiement/retour?ref=OPI-7-1")
            let notification = try #require(inbox.all.first)
            let verified = try await local.verify(notification, services: services)
            #expect(verified.status == .paid && verified.attemptReference == "OPI-7-1" && verified.amountCents == 2450)
            #expect(bank.allAcknowledged)
            // Refuse: Annulation; abandon: nothing.
            _ = try await LocalBankHTTPClient.browse("POST", action + "/choice", form: fields + [("outcome", "refuse"), ("delivery", "once")])
            #expect(try await local.verify(try #require(inbox.all.last), services: services).status == .refused)
            _ = try await LocalBankHTTPClient.browse("POST", action + "/choice", form: fields + [("outcome", "abandon"), ("delivery", "once")])
            #expect(inbox.all.count == 2)
        } catch {
            await bank.stop(); await inbox.stop()
            throw error
        }
        await bank.stop()
        await inbox.stop()
    }
}
