import Foundation
import Hummingbird
import PaymentKit
import PortailDomain
import PortailStore

/// The page that sends the browser to the bank: the signed form, posted by script or by the button.
struct RedirectModel {
    struct Field {
        let name: String
        let value: String
    }
    let page: PageChrome
    let action: String
    let fields: [Field]
    let amount: String
    let bank: String
}

/// The return page: the attempt's state as the database knows it, refreshed while the bank has not answered.
struct ReturnModel {
    let page: PageChrome
    let title: String
    let message: String
    let waiting: Bool
    let paid: Bool
    /// Where to try again: the cart while its places are held, the invoice while it is unpaid.
    let retryLink: String?
    let retryLabel: String

    init(page: PageChrome, title: String, message: String, waiting: Bool, paid: Bool, retry: (link: String, label: String)?, invoice: String?) {
        self.page = page
        self.title = title
        self.message = message
        self.waiting = waiting
        self.paid = paid
        retryLink = retry?.link
        retryLabel = retry?.label ?? ""
        self.invoice = invoice
    }
    /// The invoice the payment settled, linked from the page.
    let invoice: String?
}

extension PortailRoutes {
    func addPaymentRoutes(to router: Router<AppRequestContext>) {
        // "Accéder au paiement": a new attempt for the cart's total, or the live one resumed. The attempt is
        // created in one short transaction; the provider (which may call its bank) is asked outside it.
        router.post("/panier/paiement") { _, context in
            let record = try context.requireCenter
            let family = try context.requireFamily
            guard let provider = paymentProvider(record.center) else {
                return try await cartPage(context, added: nil, notice: "Ce centre ne propose pas le paiement en ligne : réglez votre réservation à l'accueil de loisirs.")
            }
            let logger = context.logger
            let started: PaymentStartResult
            do {
                started = try await database.withCenter(record.id) { c in
                    try await PaymentRepository.begin(c, center: record.center, centerID: record.id, family: family,
                                                      provider: provider.displayName, sessionLimit: provider.sessionLimit, logger: logger)
                }
            } catch PaymentRefusal.emptyCart {
                return try await cartPage(context, added: nil, notice: "Votre panier est vide ou a expiré : il n'y a rien à payer.")
            }
            let refused = { (notice: String) in try await cartPage(context, added: nil, notice: notice) }
            switch started {
            case .paidWithCredit(let invoice, _):
                return Pages.redirect("\(context.basePath)/factures?avoir=\(invoice)")
            case .resumed(let live):
                return try await toBank(live, new: false, provider: provider, record: record, family: family,
                                        label: "Réservations – \(record.center.name)", context: context, refused: refused)
            case .new(let new):
                return try await toBank(new, new: true, provider: provider, record: record, family: family,
                                        label: "Réservations – \(record.center.name)", context: context, refused: refused)
            }
        }

        // "Payer en ligne" on an invoice left unpaid (booked at the office, paid in part): what it lacks, less
        // the family's credit, goes to the bank; the credit alone settles it when it is enough.
        router.post("/factures/:numero/paiement") { _, context in
            let record = try context.requireCenter
            let family = try context.requireInvoices
            let number = context.parameters.get("numero") ?? ""
            guard number.count <= 40 else { return Pages.notFound() }
            guard let provider = paymentProvider(record.center) else {
                return try await invoicePage(context, number: number, notice: "Ce centre ne propose pas le paiement en ligne : réglez cette facture à l'accueil de loisirs.")
            }
            let logger = context.logger
            let begun: PaymentStartResult?
            do {
                begun = try await database.withCenter(record.id) { c in
                    try await PaymentRepository.beginInvoice(c, center: record.center, centerID: record.id, family: family, number: number,
                                                             provider: provider.displayName, sessionLimit: provider.sessionLimit, logger: logger)
                }
            } catch InvoicePaymentRefusal.unknownInvoice {
                return Pages.notFound()
            }
            guard let started = begun else {
                return try await invoicePage(context, number: number, notice: "Cette facture est déjà réglée : il n'y a rien à payer.")
            }
            let refused = { (notice: String) in try await invoicePage(context, number: number, notice: notice) }
            let label = "Facture \(number) – \(record.center.name)"
            switch started {
            case .paidWithCredit(let invoice, _):
                return Pages.redirect("\(context.basePath)/factures/\(invoice)?reglee=avoir")
            case .resumed(let live):
                return try await toBank(live, new: false, provider: provider, record: record, family: family, label: label, context: context, refused: refused)
            case .new(let new):
                return try await toBank(new, new: true, provider: provider, record: record, family: family, label: label, context: context, refused: refused)
            }
        }

        // The bank's server notification: authenticated by the provider before anything else. A suspended
        // center's notifications are verified and recorded too: money taken is never left at the bank.
        for method in [HTTPRequest.Method.post, .get] {
            router.on("/paiement/notification", method: method) { request, context in
                let record = try context.requireCenter
                guard let provider = paymentProvider(record.center) else { return Pages.notFound() }
                var request = request
                let body = String(buffer: try await request.collectBody(upTo: 64 * 1024))
                let acknowledge = { (outcome: NotificationOutcome) -> Response in
                    let ack = provider.acknowledgement(outcome)
                    return Response(status: .init(code: ack.status), headers: [.contentType: "text/plain; charset=utf-8"],
                                    body: .init(byteBuffer: ByteBuffer(string: ack.body)))
                }
                let headers = request.headers.map { (name: $0.name.rawName, value: $0.value) }
                let query = request.uri.queryParameters.map { (name: String($0.key), value: String($0.value)) }
                let incoming = IncomingNotification(method: method.rawValue, headers: headers, query: query, body: body)
                let verified: VerifiedNotification
                do {
                    verified = try await provider.verify(incoming, services: providerServices(record, provider))
                } catch let skipped as NotificationNotApplicable {
                    context.logger.info("center \(record.center.code): payment notification not applicable (\(LogText.clip("\(skipped)"))); acknowledged")
                    return acknowledge(.handled)
                } catch let rejected as NotificationRejected {
                    context.logger.warning("center \(record.center.code): payment notification rejected (\(LogText.clip("\(rejected)"))); nothing done")
                    return acknowledge(.rejected)
                } catch {
                    // The bank could not be asked (PayFiP, HelloAsso): it calls again later.
                    context.logger.error("center \(record.center.code): payment notification not verified now: \(LogText.clip("\(error)"))")
                    return acknowledge(.failed)
                }
                let headerJSON = String(decoding: (try? JSONEncoder().encode(headers.map { [$0.name, $0.value] })) ?? Data("[]".utf8), as: UTF8.self)
                let input = NotificationInput(
                    idempotencyKey: verified.idempotencyKey, attemptReference: verified.attemptReference, status: verified.status.rawValue,
                    amountCents: verified.amountCents, currency: verified.currency, providerStatus: verified.providerStatus,
                    providerTransaction: verified.providerTransaction, providerName: provider.displayName,
                    raw: body.isEmpty ? (request.uri.query ?? "") : body, headers: headerJSON
                )
                do {
                    let result = try await database.withCenter(record.id) { c in
                        try await PaymentRepository.apply(input, center: record.center, centerID: record.id, c, logger: context.logger)
                    }
                    context.logger.info("center \(record.center.code): notification \(verified.attemptReference) \(verified.providerStatus): \(result)")
                    return acknowledge(.handled)
                } catch {
                    context.logger.error("center \(record.center.code): notification \(verified.attemptReference) not stored: \(String(reflecting: error))")
                    return acknowledge(.failed)
                }
            }
        }

        // The browser's return: it only shows what the database knows.
        router.get("/paiement/retour") { request, context in
            let record = try context.requireCenter
            let family = try context.requireFamily
            let reference = request.uri.queryParameters["ref"].map(String.init) ?? ""
            let found = try await database.withCenter(record.id) { c -> (AttemptRecord, Date?, String?, Bool, Money)? in
                guard let attempt = try await PaymentRepository.attempt(c, center: record.id, reference: reference, logger: context.logger),
                      attempt.familyID == family else { return nil }
                let details = try await PaymentRepository.returnDetails(c, center: record.id, attempt: attempt, logger: context.logger)
                // What an invoice paid online still lacks (the credit counted at the start may have gone meanwhile).
                var lacks = Money.zero
                if attempt.invoiceID != nil, let number = details.invoice {
                    lacks = try await LedgerQueries.invoice(c, center: record.id, family: family, number: number, logger: context.logger)?.remaining ?? .zero
                }
                return (attempt, details.holdUntil, details.invoice, details.bankPending, lacks)
            }
            guard let (attempt, holdUntil, invoice, bankPending, lacks) = found else { return Pages.notFound() }
            let zone = record.center.zone
            // What a failed payment leaves: an invoice still to pay, or the places held until when (or let go).
            let forInvoice = attempt.invoiceID != nil
            // An invoice's payment is its billing contact's to follow when the family keeps its invoices to them.
            if forInvoice { _ = try context.requireInvoices }
            let hold = forInvoice
                ? "La facture n° \(invoice ?? "") reste à régler : vous pouvez réessayer."
                : holdUntil.map { "Vos places restent réservées jusqu'au \(French.dateTime($0, in: zone)) : vous pouvez réessayer." }
                    ?? "Le délai de réservation est passé : vos places ont été libérées, refaites votre réservation si vous le souhaitez."
            let retry: (link: String, label: String)? = forInvoice
                ? ("\(context.basePath)/factures/\(invoice ?? "")#payer", "Retour à la facture")
                : holdUntil == nil ? nil : ("\(context.basePath)/panier", "Retour au panier")
            let page = PageChrome(context)
            let model: ReturnModel
            switch attempt.state {
            case "paid":
                let message = switch (forInvoice, attempt.flag == "refund_due") {
                case (false, true): "Votre paiement de \(attempt.amount) est reçu, mais des places ont été prises pendant qu'il arrivait : le montant non utilisé est porté au crédit de votre compte."
                case (false, false): "Votre paiement de \(attempt.amount) est enregistré : vos réservations sont confirmées."
                case (true, true): "Votre paiement est reçu, mais une partie n'était plus due (facture réglée entre-temps, ou montant débité plus élevé que demandé) : elle est portée au crédit de votre compte."
                case (true, false) where lacks > .zero: "Votre paiement de \(attempt.amount) est enregistré : il reste \(lacks) à régler sur la facture n° \(invoice ?? "")."
                case (true, false): "Votre paiement de \(attempt.amount) est enregistré : la facture n° \(invoice ?? "") est réglée."
                }
                // The invoice's link only for whoever sees the family's invoices.
                model = ReturnModel(page: page, title: "Paiement accepté", message: message, waiting: false, paid: true,
                                    retry: forInvoice && lacks > .zero ? retry : nil, invoice: context.session?.seesInvoices == false ? nil : invoice)
            case "expired" where bankPending:
                // The bank said the payment was on its way (a transfer, a SEPA debit) and never said more before
                // the attempt's time ran out: nothing is known to be debited, nor known not to be.
                model = ReturnModel(page: page, title: "Paiement en attente à la banque",
                                    message: "Votre banque n'a pas encore confirmé ce paiement (un prélèvement peut prendre plusieurs jours). "
                                        + (forInvoice ? "S'il aboutit, il réglera la facture n° \(invoice ?? "") ; "
                                           : "S'il aboutit, vos réservations seront confirmées si les places sont encore libres, sinon son montant sera porté au crédit de votre compte ; ")
                                        + "s'il n'aboutit pas, rien ne sera débité.",
                                    waiting: false, paid: false, retry: nil, invoice: nil)
            case "refused", "cancelled", "expired":
                model = ReturnModel(page: page, title: attempt.state == "refused" ? "Paiement refusé" : "Paiement non effectué",
                                    message: "Aucun montant n'a été débité. " + hold, waiting: false, paid: false, retry: retry, invoice: nil)
            case "review":
                model = ReturnModel(page: page, title: "Paiement à vérifier",
                                    message: "La banque a débité un autre montant que celui demandé : il est porté au crédit de votre compte, "
                                        + "et l'accueil de loisirs va vérifier. " + (retry == nil ? "" : hold),
                                    waiting: false, paid: false, retry: retry, invoice: nil)
            default:
                model = ReturnModel(page: page, title: "Paiement en cours de confirmation",
                                    message: "Nous attendons la confirmation de la banque. Cette page se met à jour toute seule.",
                                    waiting: true, paid: false, retry: nil, invoice: nil)
            }
            return templates.page("payment-return", model)
        }

        if developmentPages { addSimulatedBankRoutes(to: router) }
    }

    /// Sends the browser to the bank for an attempt: a new one is first opened at the provider (outside any
    /// transaction); a resumed one whose form another request (a double click) is still asking for is waited
    /// for a moment. `refused` is the page that says why the browser stays here.
    func toBank(
        _ attempt: AttemptRecord, new: Bool, provider: any PaymentProvider, record: CenterRecord, family: Int64, label: String,
        context: AppRequestContext, refused: (String) async throws -> Response
    ) async throws -> Response {
        var attempt = attempt
        let logger = context.logger
        if new {
            do {
                let start = try await startWithProvider(provider, attempt: attempt, record: record, family: family, label: label, context: context)
                attempt.action = start.action
                attempt.form = start.form
            } catch {
                logger.error("center \(record.center.code): payment \(attempt.reference) could not start at \(provider.displayName): \(error)")
                try await database.withCenter(record.id) { c in
                    try await PaymentRepository.abandonStart(c, centerID: record.id, attempt: attempt.id, reason: "\(error)", logger: logger)
                }
                return try await refused("La banque ne répond pas pour le moment : rien n'a été débité. Réessayez dans quelques minutes.")
            }
        } else {
            // Another request of the family (a double click) is asking the bank right now: its answer is a moment away.
            let reference = attempt.reference
            for _ in 0..<40 where attempt.action == nil && attempt.state == "created" {
                try await Task.sleep(for: .milliseconds(250))
                guard let again = try await database.withCenter(record.id, { c in
                    try await PaymentRepository.attempt(c, center: record.id, reference: reference, logger: logger)
                }) else { break }
                attempt = again
            }
            guard attempt.action != nil else {
                return try await refused("Le paiement est en cours de préparation : réessayez dans un instant.")
            }
        }
        // A provider that opened a session at its bank sends the browser there; a form goes by the page.
        if attempt.form.isEmpty, let url = attempt.action {
            return Response(status: .seeOther, headers: [.location: url])
        }
        return templates.page("payment-redirect", RedirectModel(
            page: PageChrome(context), action: attempt.action ?? "",
            fields: attempt.form.compactMap { $0.count == 2 ? .init(name: $0[0], value: $0[1]) : nil },
            amount: attempt.amount.description, bank: provider.displayName
        ))
    }

    /// Asks the provider for the browser's way to its bank, and records it on the attempt.
    func startWithProvider(
        _ provider: any PaymentProvider, attempt: AttemptRecord, record: CenterRecord, family: Int64, label: String, context: AppRequestContext
    ) async throws -> (action: String, form: [[String]]) {
        let base = publicAddress.base(of: record.center)
        let email = try await database.withCenter(record.id) { c in
            try await AccountRepository.family(c, center: record.id, id: family, logger: context.logger)?.email ?? ""
        }
        let start = try await provider.start(PaymentAttempt(
            reference: attempt.reference, amountCents: attempt.amount.cents, currency: "EUR",
            label: label, createdAt: attempt.createdAt,
            customerEmail: email, notificationURL: base + "/paiement/notification",
            returnURL: base + "/paiement/retour?ref=" + attempt.reference, portalURL: base
        ), services: providerServices(record, provider))
        let (action, form): (String, [[String]]) = switch start.step {
        case .autoPostForm(let action, let fields): (action, fields.map { [$0.name, $0.value] })
        case .redirect(let url): (url, [])
        }
        try await database.withCenter(record.id) { c in
            try await PaymentRepository.recordStart(c, centerID: record.id, attempt: attempt.id, action: action, form: form,
                                                    providerReference: start.providerReference, logger: context.logger)
        }
        return (action, form)
    }

    /// The simulated bank's pages (demo and tests only): the payment form it receives, and the choice.
    func addSimulatedBankRoutes(to router: Router<AppRequestContext>) {
        struct BankModel {
            struct Field { let name: String; let value: String }
            let page: PageChrome
            let amount: String
            let reference: String
            let fields: [Field]
        }
        router.post("/simulateur/paiement") { request, context in
            let record = try context.requireCenter
            guard let bank = paymentProvider(record.center) as? any SimulatedBank else { return Pages.notFound() }
            var request = request
            guard let fields = FormURLEncoding.decode(String(buffer: try await request.collectBody(upTo: 64 * 1024))) else { throw HTTPError(.badRequest) }
            let payment: SimulatedPayment
            do { payment = try bank.acceptForm(fields) } catch {
                return Pages.problem(title: "Banque simulée", message: "Formulaire de paiement refusé : \(error).", base: context.basePath, status: .badRequest)
            }
            return templates.page("simulator-bank", BankModel(page: PageChrome(context), amount: Money(cents: payment.amountCents).description,
                                                              reference: payment.reference, fields: fields.map { .init(name: $0.name, value: $0.value) }))
        }
        router.post("/simulateur/choix") { request, context in
            let record = try context.requireCenter
            guard let bank = paymentProvider(record.center) as? any SimulatedBank else { return Pages.notFound() }
            var request = request
            guard let fields = FormURLEncoding.decode(String(buffer: try await request.collectBody(upTo: 64 * 1024))) else { throw HTTPError(.badRequest) }
            let form = fields.filter { !["choix", "apres_retour", "deux_fois"].contains($0.name) }
            let payment: SimulatedPayment
            do { payment = try bank.acceptForm(form) } catch {
                return Pages.problem(title: "Banque simulée", message: "Formulaire de paiement refusé : \(error).", base: context.basePath, status: .badRequest)
            }
            let choice = fields.first { $0.name == "choix" }?.value
            let outcome: PaymentStatus = choice == "payer" ? .paid : choice == "refuser" ? .refused : .cancelled
            let body = bank.notification(for: payment, outcome: outcome)
            let times = fields.contains { $0.name == "deux_fois" } ? 2 : 1
            let logger = context.logger
            let send: @Sendable () async -> Void = {
                for _ in 0..<times {
                    do {
                        _ = try await paymentHTTP.send(.init(method: "POST", url: payment.notificationURL,
                                                             headers: [("Content-Type", "application/x-www-form-urlencoded")], body: body))
                    } catch {
                        logger.error("simulated bank: notification to \(payment.notificationURL) failed: \(error)")
                    }
                }
            }
            if fields.contains(where: { $0.name == "apres_retour" }) {
                // Like a slow bank: the browser is back before the notification.
                Task { try? await Task.sleep(for: .seconds(2)); await send() }
            } else {
                await send()
            }
            return Pages.redirect(payment.returnURL)
        }
    }
}
