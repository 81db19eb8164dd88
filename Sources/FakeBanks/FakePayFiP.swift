import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Hummingbird
import PaymentKit
import Synchronization

/// PayFiP's régie web service (payments.md §2): the SOAP endpoint (`creerPaiementSecurise`,
/// `recupererDetailPaiementSecurise`), the payment page `paiementws.web?idop=`, and the unsigned notification
/// carrying only `idOp`, posted to `urlnotif`. Its SOAP reader is its own, not the plugin's, so that a
/// parsing mistake of the plugin cannot agree with itself.
public final class FakePayFiP: Sendable {
    /// One payment opened by `creerPaiementSecurise`, and what became of it.
    public struct Operation: Sendable {
        public var idOp: String
        public var exer: String
        public var mel: String
        public var montant: Int
        public var numcli: String
        public var objet: String
        public var refdet: String
        public var saisie: String
        public var urlnotif: String
        public var urlredirect: String
        /// nil while the payer has not chosen (the service answers P5).
        public var resultrans: String?
        public var numauto: String
        public var dattrans: String
        public var heurtrans: String
    }

    public let server: FakeBankServer
    /// The numcli of the régies this PayFiP knows.
    let clients: Set<String>
    let operations = Mutex<[String: Operation]>([:])
    let sentLog = Mutex<[SentNotification]>([])
    let down = Mutex(false)
    let soapLog = Mutex<[String]>([])

    /// `service_url` and `payment_url` for a center's `payment:` block.
    public var serviceURL: String { server.baseURL + "/tpa/services/securite" }
    public var paymentURL: String { server.baseURL + "/tpa/paiementws.web" }
    public var sent: [SentNotification] { sentLog.withLock { $0 } }
    /// The SOAP envelopes received, in order.
    public var soapRequests: [String] { soapLog.withLock { $0 } }

    public static func start(clients: Set<String>, port: Int = 0) async throws -> FakePayFiP {
        let holder = Holder<FakePayFiP>()
        let server = try await FakeBankServer.start(port: port) { router in
            router.post("/tpa/services/securite") { request, _ in
                var request = request
                return holder.value!.soap(try await request.text())
            }
            router.get("/tpa/paiementws.web") { request, _ in
                holder.value!.page(idOp: request.uri.queryParameters["idop"].map(String.init) ?? "")
            }
            router.post("/tpa/choix") { request, _ in
                var request = request
                return try await holder.value!.choose(try await request.form())
            }
        }
        let bank = FakePayFiP(server: server, clients: clients)
        holder.value = bank
        return bank
    }

    private init(server: FakeBankServer, clients: Set<String>) {
        self.server = server
        self.clients = clients
    }

    public func stop() async { await server.stop() }

    public func operation(_ idOp: String) -> Operation? { operations.withLock { $0[idOp] } }

    /// Every operation, oldest first.
    public var allOperations: [Operation] { operations.withLock { Array($0.values) }.sorted { $0.idOp < $1.idOp } }

    /// Sets what the service says of an operation (a test's shortcut past the page, or a tampered amount).
    public func settle(_ idOp: String, resultrans: String?, montant: Int? = nil) {
        operations.withLock {
            $0[idOp]?.resultrans = resultrans
            if let montant { $0[idOp]?.montant = montant }
            if resultrans == "P" || resultrans == "V" { $0[idOp]?.numauto = Self.authorisationNumber() }
        }
    }

    /// While down, the SOAP service answers a technical fault (TechIndisponibiliteErreur) with HTTP 503.
    public func setDown(_ isDown: Bool) { down.withLock { $0 = isDown } }

    // MARK: SOAP

    func soap(_ body: String) -> Response {
        soapLog.withLock { $0.append(body) }
        if down.withLock({ $0 }) {
            return Self.fault("TechIndisponibiliteErreur", code: "T1", libelle: "Service indisponible", status: .serviceUnavailable)
        }
        guard let (operation, fields) = SOAPRequestReader.read(body) else {
            return Self.fault("TechProtocolaireErreur", code: "T2", libelle: "Requête SOAP illisible")
        }
        switch operation {
        case "creerPaiementSecurise": return create(fields)
        case "recupererDetailPaiementSecurise": return details(fields["idOp"] ?? fields["idop"] ?? "")
        default: return Self.fault("TechProtocolaireErreur", code: "T3", libelle: "Opération inconnue \(operation)")
        }
    }

    /// The checks of `creerPaiementSecurise` (payments.md §2.2). R3 and A2 are PayFiP's documented codes;
    /// the others' codes are this fake's own (the reference gives none).
    func create(_ fields: [String: String]) -> Response {
        let numcli = fields["numcli"] ?? "", refdet = fields["refdet"] ?? "", mel = fields["mel"] ?? ""
        let objet = fields["objet"] ?? "", saisie = fields["saisie"] ?? "", exer = fields["exer"] ?? ""
        guard clients.contains(numcli) else { return Self.functional("P4", "Le numéro de client n'est pas valide") }
        guard refdet.range(of: "^[A-Za-z0-9]{6,30}$", options: .regularExpression) != nil else {
            return Self.functional("R3", "Le format du paramètre REFDET n'est pas conforme")
        }
        guard (6...80).contains(mel.count), mel.contains("@") else { return Self.functional("A2", "Adresse mel incorrecte") }
        guard let montant = Int(fields["montant"] ?? ""), (100...10_000_000).contains(montant) else {
            return Self.functional("R4", "Le montant n'est pas conforme")
        }
        guard objet.range(of: "^[A-Za-z0-9 ]{0,100}$", options: .regularExpression) != nil else {
            return Self.functional("R5", "Le format du paramètre OBJET n'est pas conforme")
        }
        guard ["T", "X", "W"].contains(saisie) else { return Self.functional("R6", "Le mode de saisie n'est pas conforme") }
        guard exer.range(of: "^[0-9]{4}$", options: .regularExpression) != nil else {
            return Self.functional("R7", "L'exercice n'est pas conforme")
        }
        let idOp = UUID().uuidString.lowercased()
        operations.withLock {
            $0[idOp] = Operation(idOp: idOp, exer: exer, mel: mel, montant: montant, numcli: numcli, objet: objet, refdet: refdet,
                                 saisie: saisie, urlnotif: fields["urlnotif"] ?? "", urlredirect: fields["urlredirect"] ?? "",
                                 resultrans: nil, numauto: "", dattrans: "", heurtrans: "")
        }
        return Self.envelope("""
            <ns2:creerPaiementSecuriseResponse xmlns:ns2="\(Self.serviceNamespace)">\
            <return><idOp xmlns="\(Self.responseNamespace)">\(idOp)</idOp></return></ns2:creerPaiementSecuriseResponse>
            """)
    }

    func details(_ idOp: String) -> Response {
        guard let operation = operation(idOp) else { return Self.functional("P1", "IdOp incorrect") }
        guard let resultrans = operation.resultrans else { return Self.functional("P5", "Résultat de la transaction non connu") }
        let fields = [
            ("dattrans", operation.dattrans), ("exer", operation.exer), ("heurtrans", operation.heurtrans), ("idOp", operation.idOp),
            ("mel", operation.mel), ("montant", String(operation.montant)), ("numauto", operation.numauto), ("numcli", operation.numcli),
            ("objet", operation.objet), ("refdet", operation.refdet), ("resultrans", resultrans), ("saisie", operation.saisie),
        ]
        let xml = fields.map { "<r:\($0.0)>\(Self.escape($0.1))</r:\($0.0)>" }.joined()
        return Self.envelope("""
            <ns2:recupererDetailPaiementSecuriseResponse xmlns:ns2="\(Self.serviceNamespace)">\
            <return xmlns:r="\(Self.responseNamespace)">\(xml)</return></ns2:recupererDetailPaiementSecuriseResponse>
            """)
    }

    static let serviceNamespace =
        "http://securite.service.tpa.cp.finances.gouv.fr/services/mas_securite/contrat_paiement_securise/PaiementSecuriseService"
    static let responseNamespace = "http://securite.service.tpa.cp.finances.gouv.fr/reponse"

    static func envelope(_ body: String, status: HTTPResponse.Status = .ok) -> Response {
        .text("""
            <?xml version="1.0" encoding="UTF-8"?><S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/">\
            <S:Body>\(body)</S:Body></S:Envelope>
            """, status: status, contentType: "text/xml; charset=utf-8")
    }

    static func functional(_ code: String, _ libelle: String) -> Response {
        fault("FonctionnelleErreur", code: code, libelle: libelle)
    }

    /// A SOAP 1.1 fault, HTTP 500, its detail as PayFiP words it.
    static func fault(_ kind: String, code: String, libelle: String, status: HTTPResponse.Status = .internalServerError) -> Response {
        envelope("""
            <S:Fault><faultcode>S:Server</faultcode><faultstring>\(escape(libelle))</faultstring><detail>\
            <ns2:\(kind) xmlns:ns2="\(responseNamespace)"><code>\(code)</code><descriptif></descriptif>\
            <libelle>\(escape(libelle))</libelle><severite>2</severite></ns2:\(kind)></detail></S:Fault>
            """, status: status)
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }

    static func authorisationNumber() -> String {
        String((0..<12).map { _ in "0123456789".randomElement()! }) + "-tip"
    }

    // MARK: the payer

    func page(idOp: String) -> Response {
        guard let operation = operation(idOp) else { return .text("Erreur P1 : IdOp incorrect", status: .badRequest) }
        return .text(FakeBankPage.html(bank: "PAYFIP", amountCents: operation.montant, reference: operation.refdet, action: "choix",
                                       hidden: [("idop", idOp)]),
                     contentType: "text/html; charset=utf-8")
    }

    func choose(_ fields: [(name: String, value: String)]) async throws -> Response {
        let idOp = fields.first { $0.name == "idop" }?.value ?? ""
        guard let current = operation(idOp) else { return .text("Erreur P1 : IdOp incorrect", status: .badRequest) }
        guard current.resultrans != "P" && current.resultrans != "V" else { return .text("Paiement déjà effectué", status: .conflict) }
        let outcome = FakeOutcome(rawValue: fields.first { $0.name == "outcome" }?.value ?? "") ?? .abandon
        let delivery = FakeDelivery(rawValue: fields.first { $0.name == "delivery" }?.value ?? "") ?? .once
        let now = Date()
        let day = DateFormatter(), hour = DateFormatter()
        for formatter in [day, hour] {
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "Europe/Paris")
        }
        day.dateFormat = "ddMMyyyy"
        hour.dateFormat = "HHmm"
        operations.withLock {
            $0[idOp]?.resultrans = switch outcome {
            case .pay: "P"
            case .refuse: "R"
            case .abandon: "A"
            }
            $0[idOp]?.numauto = outcome == .pay ? Self.authorisationNumber() : ""
            $0[idOp]?.dattrans = day.string(from: now)
            $0[idOp]?.heurtrans = hour.string(from: now)
        }
        if !current.urlnotif.isEmpty {
            await FakeBankServer.notify(delivery) { try await self.notify(idOp: idOp, to: current.urlnotif) }
        }
        return .seeOther(current.urlredirect)
    }

    /// Posts PayFiP's notification (a form carrying only `idOp`) and keeps it in `sent`.
    @discardableResult
    public func notify(idOp: String, to url: String, name: String = "idOp") async throws -> Int {
        try await post(FormURLEncoding.encode([(name: name, value: idOp)]), to: url)
    }

    @discardableResult
    public func post(_ body: String, to url: String) async throws -> Int {
        let contentType = "application/x-www-form-urlencoded"
        let status = (try? await FakeBankServer.deliver(to: url, contentType: contentType, body: body)) ?? 0
        sentLog.withLock { $0.append(SentNotification(url: url, contentType: contentType, headers: [], body: body, status: status)) }
        return status
    }
}

/// Reads a SOAP request: the operation (the Body's first element, local name) and its `arg0` fields.
enum SOAPRequestReader {
    static func read(_ xml: String) -> (operation: String, fields: [String: String])? {
        let parser = XMLParser(data: Data(xml.utf8))
        parser.shouldProcessNamespaces = true
        let reader = Reader()
        parser.delegate = reader
        guard parser.parse(), let operation = reader.operation else { return nil }
        return (operation, reader.fields)
    }

    private final class Reader: NSObject, XMLParserDelegate {
        var path: [String] = []
        var text = ""
        var operation: String?
        var fields: [String: String] = [:]

        func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?, qualifiedName: String?,
                    attributes: [String: String] = [:]) {
            let name = elementName.split(separator: ":").last.map(String.init) ?? elementName
            if path.last == "Body", operation == nil { operation = name }
            path.append(name)
            text = ""
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }

        func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName: String?) {
            let name = path.popLast() ?? ""
            if path.count >= 2, path[path.count - 1] == "arg0" { fields[name] = text }
            text = ""
        }
    }
}
