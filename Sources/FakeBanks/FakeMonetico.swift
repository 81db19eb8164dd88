import Foundation
import Hummingbird
import Monetico
import PaymentKit
import Synchronization

/// Monetico's payment page (CIC, Crédit Mutuel), protocol 3.0: receives the MAC-sealed form at
/// `/test/paiement.cgi` (or `/paiement.cgi`), lets the payer choose, posts the sealed result to the TPE's
/// "CGI2" address (set per TPE, as the bank's back office does: `setCGI2URL(_:for:)`), checks the portal's
/// receipt is `version=2` / `cdr=0`, and sends the browser to `url_retour_ok` or `url_retour_err`.
/// Pay sends `payetest` (`paiement` on `/paiement.cgi`), Refuse sends `Annulation`, Abandon sends nothing
/// (the payer left the page) [inferred].
public final class FakeMonetico: Sendable {
    public let server: FakeBankServer
    /// TPE -> its 40-character key, as the back office shows it.
    let terminals: [String: String]
    let cgi2 = Mutex<[String: String]>([:])
    let sentLog = Mutex<[SentNotification]>([])
    let receipts = Mutex<[String]>([])
    let forms = Mutex<[[String: String]]>([])

    /// The address to give a center as `url:` (the test server's page).
    public var paymentURL: String { server.baseURL + "/test/paiement.cgi" }
    /// The production page's address (a payment there is `paiement`, not `payetest`).
    public var productionURL: String { server.baseURL + "/paiement.cgi" }
    public var sent: [SentNotification] { sentLog.withLock { $0 } }
    /// The bodies the portal answered to each notification, in order.
    public var answers: [String] { receipts.withLock { $0 } }
    /// Whether every notification was acknowledged with `cdr=0`.
    public var allAcknowledged: Bool { answers.allSatisfy(Self.acknowledged) }
    /// The forms the payers' browsers posted (sealed correctly or not).
    public var receivedForms: [[String: String]] { forms.withLock { $0 } }

    public static func start(terminals: [String: String], port: Int = 0) async throws -> FakeMonetico {
        let holder = Holder<FakeMonetico>()
        let server = try await FakeBankServer.start(port: port) { router in
            for (path, test) in [("/test/paiement.cgi", true), ("/paiement.cgi", false)] {
                router.post(RouterPath(stringLiteral: path)) { request, _ in
                    var request = request
                    return holder.value!.page(try await request.form(), test: test)
                }
                router.post(RouterPath(stringLiteral: path + "/choice")) { request, _ in
                    var request = request
                    return try await holder.value!.choose(try await request.form(), test: test)
                }
            }
        }
        let bank = FakeMonetico(server: server, terminals: terminals)
        holder.value = bank
        return bank
    }

    private init(server: FakeBankServer, terminals: [String: String]) {
        self.server = server
        self.terminals = terminals
    }

    public func stop() async { await server.stop() }

    /// Where the TPE's results go (the "URL CGI2" the bank's back office holds).
    public func setCGI2URL(_ url: String, for tpe: String) {
        cgi2.withLock { $0[tpe] = url }
    }

    /// The receipt the bank expects: `version=2`, then `cdr=0` (a trailing newline allowed).
    public static func acknowledged(_ body: String) -> Bool {
        body.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) } == ["version=2", "cdr=0"]
    }

    /// Why the form is refused, or nil with its values when it is sealed right and complete.
    func check(_ fields: [(name: String, value: String)]) -> Result<[String: String], FakeRefusal> {
        let values = Dictionary(fields.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
        guard let tpe = values["TPE"], let hex = terminals[tpe], let key = MoneticoTerminal.usableKey(hex) else {
            return .failure(FakeRefusal("TPE inconnu"))
        }
        guard let mac = values["MAC"], constantTimeEquals(mac.uppercased(), MoneticoTerminal.mac(fields, key: key)) else {
            return .failure(FakeRefusal("Le sceau (MAC) est invalide"))
        }
        guard values["version"] == "3.0" else { return .failure(FakeRefusal("version doit valoir 3.0")) }
        for name in ["date", "montant", "reference", "lgue", "societe", "url_retour_ok", "url_retour_err", "contexte_commande"]
        where (values[name] ?? "").isEmpty {
            return .failure(FakeRefusal("champ \(name) manquant"))
        }
        guard values["date"]!.wholeMatch(of: /\d\d\/\d\d\/\d{4}:\d\d:\d\d:\d\d/) != nil else { return .failure(FakeRefusal("date invalide")) }
        guard let amount = MoneticoTerminal.parseMontant(values["montant"]!), amount.cents > 0 else { return .failure(FakeRefusal("montant invalide")) }
        let reference = values["reference"]!
        guard reference.count <= 12, reference.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else {
            return .failure(FakeRefusal("reference : 12 caractères alphanumériques au plus"))
        }
        guard let context = Data(base64Encoded: values["contexte_commande"]!),
              (try? JSONSerialization.jsonObject(with: context)) is [String: Any] else {
            return .failure(FakeRefusal("contexte_commande doit être un JSON en base64"))
        }
        return .success(values)
    }

    func page(_ fields: [(name: String, value: String)], test: Bool) -> Response {
        forms.withLock { $0.append(Dictionary(fields.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })) }
        switch check(fields) {
        case .failure(let refusal): return .text("Erreur : \(refusal.message)", status: .badRequest)
        case .success(let values):
            let amount = MoneticoTerminal.parseMontant(values["montant"]!)!
            return .text(FakeBankPage.html(bank: "MONETICO", amountCents: amount.cents, reference: values["reference"]!,
                                           action: (test ? "/test" : "") + "/paiement.cgi/choice", hidden: fields.map { ($0.name, $0.value) }),
                         contentType: "text/html; charset=utf-8")
        }
    }

    func choose(_ fields: [(name: String, value: String)], test: Bool) async throws -> Response {
        let form = fields.filter { $0.name != "outcome" && $0.name != "delivery" }
        guard case .success(let values) = check(form) else { return .text("Erreur : sceau invalide", status: .badRequest) }
        let outcome = FakeOutcome(rawValue: fields.first { $0.name == "outcome" }?.value ?? "") ?? .abandon
        let delivery = FakeDelivery(rawValue: fields.first { $0.name == "delivery" }?.value ?? "") ?? .once
        let tpe = values["TPE"]!
        if outcome != .abandon, let url = cgi2.withLock({ $0[tpe] }) {
            let code = outcome == .pay ? (test ? "payetest" : "paiement") : "Annulation"
            let body = Self.notification(values, code: code, key: terminals[tpe]!)
            await FakeBankServer.notify(delivery) { try await self.post(body, to: url) }
        }
        return .seeOther(outcome == .pay ? values["url_retour_ok"]! : values["url_retour_err"]!)
    }

    static let notificationDate: DateFormatter = {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "Europe/Paris")
        formatter.dateFormat = "dd/MM/yyyy'_a_'HH:mm:ss"
        return formatter
    }()

    /// A sealed CGI2 result for the form's payment (payments.md §5.1), with the fields a card payment carries.
    public static func notification(_ form: [String: String], code: String, key: String, montant: String? = nil) -> String {
        let paid = code == "payetest" || code == "paiement"
        var fields: [(name: String, value: String)] = [
            ("TPE", form["TPE"] ?? ""),
            ("date", notificationDate.string(from: Date())),
            ("montant", montant ?? form["montant"] ?? ""),
            ("reference", form["reference"] ?? ""),
            ("texte-libre", form["texte-libre"] ?? ""),
            ("code-retour", code),
            ("cvx", "oui"),
            ("vld", "1230"),
            ("brand", "CB"),
            ("status3ds", "1"),
            ("originecb", "FRA"),
            ("bincb", "000003"),
            ("hpancb", "6FF1313F3B6FE9B053B21CBDEE516603CB8CF01E"),
            ("ipclient", "127.0.0.1"),
            ("originetr", "FRA"),
            ("modepaiement", "CB"),
            ("authentification", Data(#"{"protocol":"3DSecure","status":"authenticated","version":"2.1.0"}"#.utf8).base64EncodedString()),
            ("usage", "debit"),
            ("typecompte", "particulier"),
            ("ecard", "non"),
        ]
        fields += paid ? [("numauto", "000000")] : [("motifrefus", "Refus"), ("motifrefusautorisation", "-")]
        fields.append(("MAC", MoneticoTerminal.mac(fields, key: MoneticoTerminal.usableKey(key) ?? [])))
        return FormURLEncoding.encode(fields)
    }

    /// Posts a result to the CGI2 address, keeps it in `sent` and the portal's receipt in `answers`.
    @discardableResult
    public func post(_ body: String, to url: String) async throws -> Int {
        let contentType = "application/x-www-form-urlencoded"
        let answer = try? await LocalHTTP.send(method: "POST", url: url, headers: [("Content-Type", contentType)], body: body)
        sentLog.withLock { $0.append(SentNotification(url: url, contentType: contentType, headers: [], body: body, status: answer?.status ?? 0)) }
        receipts.withLock { $0.append(answer?.body ?? "") }
        return answer?.status ?? 0
    }
}
