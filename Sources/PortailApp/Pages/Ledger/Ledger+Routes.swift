import Foundation
import Hummingbird
import PortailDocuments
import PortailDomain
import PortailStore

extension PortailRoutes {
    /// "OPI00001" or "OPI00001.pdf": the document's number, and whether its PDF is asked for.
    static func documentNumber(_ context: AppRequestContext) -> (number: String, pdf: Bool) {
        let raw = context.parameters.get("numero") ?? ""
        return raw.hasSuffix(".pdf") ? (String(raw.dropLast(4)), true) : (raw, false)
    }

    /// GET /factures — invoices and payments; /factures/{n}[.pdf] — an invoice; /paiements/{n}[.pdf] — a receipt.
    func addLedgerRoutes(to router: Router<AppRequestContext>) {
        router.get("/factures") { request, context in
            let record = try context.requireCenter
            let family = try context.requireInvoices
            let query = request.uri.queryParameters
            let size = [5, 10, 25, 50].first { String($0) == query["taille"].map(String.init) } ?? 5
            let requested = try InputLimits.page(query["page"])
            let logger = context.logger
            // One statement, which sets its center itself: the page of entries, their count and the totals.
            let (read, pageNumber) = try await database.withoutTransaction(record.id) { c in
                try await InputLimits.page(requested, size: size) { offset in
                    let read = try await LedgerQueries.entriesAndTotals(c, center: record.id, family: family, offset: offset, limit: size, logger: logger)
                    return (rows: read, total: read.total)
                }
            }
            let (totals, list) = (read.rows.totals, (rows: read.rows.rows, total: read.total))
            // The notice names a document of this family read from the database, never the query's text.
            let mentioned = try await (query["avoir"] ?? query["annulation"]).asyncFlatMap { number -> InvoiceDetail? in
                guard number.count <= 40 else { return nil }
                return try await database.withCenterReading(record.id) { c in
                    try await LedgerQueries.invoice(c, center: record.id, family: family, number: String(number), logger: logger)
                }
            }
            let base = context.basePath
            let payable = paymentProvider(record.center) != nil
            let first = list.total == 0 ? 0 : (pageNumber - 1) * size + 1
            let last = min(list.total, pageNumber * size)
            let credit = totals.paid.cents - totals.allocated.cents
            let plural = { (n: Int, word: String) in "\(n) \(word)\(n > 1 ? "s" : "")" }
            let model = LedgerModel(
                page: PageChrome(context),
                certificates: { let year = LocalDate(Date(), in: record.center.zone).year; return [year, year - 1].map { .init(year: $0, link: "\(base)/attestations/\($0).pdf") } }(),
                notice: mentioned.map { document in
                    document.kind == "credit_note"
                        ? "La réservation est annulée : l'avoir n° \(document.number) qui la rembourse figure ci-dessous et reste à votre crédit."
                        : "Votre panier est réglé avec votre avoir : vos réservations sont confirmées (facture n° \(document.number))."
                },
                title: "Mes Factures & Paiements - \(record.center.name.uppercased())",
                invoiced: "\(totals.invoiced) (\(plural(totals.invoiceCount, "facture")))",
                paid: "\(totals.paid) (\(plural(totals.paymentCount, "paiement")))",
                due: "\(totals.due) (\(plural(totals.unsettledCount, "facture")) non soldée\(totals.unsettledCount > 1 ? "s" : ""))",
                credit: credit > 0 ? Money(cents: credit).description : nil,
                rows: list.rows.map { LedgerModel.row($0, zone: record.center.zone, base: base, payable: payable) },
                hasRows: !list.rows.isEmpty,
                sizes: [5, 10, 25, 50].map { .init(value: $0, selected: $0 == size) },
                summary: "( de \(first) à \(last) sur \(list.total) éléments )",
                previous: pageNumber > 1 ? "\(base)/factures?taille=\(size)&page=\(pageNumber - 1)" : nil,
                next: last < list.total ? "\(base)/factures?taille=\(size)&page=\(pageNumber + 1)" : nil
            )
            return templates.page("ledger", model)
        }

        router.get("/factures/:numero") { request, context in
            let (number, wantsPDF) = Self.documentNumber(context)
            guard wantsPDF else {
                // The notice is chosen by a fixed word of the query, never its text.
                let settledByCredit = request.uri.queryParameters["reglee"] == "avoir"
                return try await invoicePage(context, number: number, notice: settledByCredit ? "Votre avoir a réglé cette facture." : nil, success: settledByCredit)
            }
            let record = try context.requireCenter
            let family = try context.requireInvoices
            let invoice = try await database.withCenter(record.id) { c in
                try await LedgerQueries.invoice(c, center: record.id, family: family, number: number, logger: context.logger)
            }
            // Another family's invoice, or another center's: the same 404 as an unknown number.
            guard let invoice else { return Pages.notFound() }
            let center = record.center
            let document = InvoiceDocument(
                issuer: Issuer(center: center), title: invoice.documentKind.document.uppercased(), number: invoice.number,
                date: LocalDate(invoice.issuedAt, in: center.zone), recipient: [invoice.familyName] + invoice.familyAddress,
                lines: invoice.lines.map { .init(designation: $0.designation, quantity: $0.quantity, unitPrice: $0.unitPrice, amount: $0.amount) },
                total: invoice.total, paid: invoice.paid, remaining: invoice.remaining, status: invoice.status
            )
            return Pages.pdf(PDFDocuments.invoice(document), filename: "\(invoice.number).pdf")
        }

        // The yearly childcare certificate: what was paid for children under 6 on 1 January.
        router.get("/attestations/:annee") { _, context in
            let record = try context.requireCenter
            let family = try context.requireInvoices
            let raw = context.parameters.get("annee") ?? ""
            guard raw.hasSuffix(".pdf"), let year = Int(raw.dropLast(4)), (2000...2100).contains(year) else { return Pages.notFound() }
            let logger = context.logger
            let (amounts, account) = try await database.withCenter(record.id) { c in
                (try await LedgerQueries.childcare(c, center: record.id, family: family, year: year, logger: logger),
                 try await AccountRepository.family(c, center: record.id, id: family, logger: logger))
            }
            let firstOfYear = LocalDate(year: year, month: 1, day: 1)!
            let children = amounts.filter { $0.birthDate.age(on: firstOfYear) < 6 }
            let center = record.center
            let document = ChildcareCertificate(
                issuer: Issuer(center: center), city: center.coordinates.city, year: year, family: [account?.name ?? ""],
                children: children.map { .init(name: "\($0.firstName) \($0.lastName)", birthDate: $0.birthDate, paid: $0.paid) },
                date: LocalDate(Date(), in: center.zone)
            )
            return Pages.pdf(PDFDocuments.certificate(document), filename: "attestation-frais-de-garde-\(year).pdf")
        }

        router.get("/paiements/:numero") { _, context in
            let record = try context.requireCenter
            let family = try context.requireInvoices
            let (number, wantsPDF) = Self.documentNumber(context)
            let payment = try await database.withCenter(record.id) { c in
                try await LedgerQueries.payment(c, center: record.id, family: family, number: number, logger: context.logger)
            }
            guard let payment else { return Pages.notFound() }
            let center = record.center
            let allocations = payment.allocations.map { "Facture n° \($0.invoice) : \($0.amount)" }
            if wantsPDF {
                let document = ReceiptDocument(
                    issuer: Issuer(center: center), number: payment.number, date: LocalDate(payment.receivedAt, in: center.zone),
                    recipient: [payment.familyName] + payment.familyAddress, label: payment.label, amount: payment.amount,
                    allocations: allocations, unallocated: payment.unallocated
                )
                return Pages.pdf(PDFDocuments.receipt(document), filename: "recu-\(payment.number).pdf")
            }
            return templates.page("receipt", ReceiptModel(
                page: PageChrome(context), number: payment.number, date: LocalDate(payment.receivedAt, in: center.zone).french,
                label: payment.label, amount: payment.amount.description, allocations: allocations,
                unallocated: payment.unallocated.cents > 0 ? payment.unallocated.description : nil,
                pdf: "\(context.basePath)/paiements/\(payment.number).pdf"
            ))
        }
    }

    /// An invoice's page, with "Payer en ligne" while it lacks something and the center takes payments online;
    /// `notice` says what a payment did or why it could not start.
    func invoicePage(_ context: AppRequestContext, number: String, notice: String?, success: Bool = false) async throws -> Response {
        let record = try context.requireCenter
        let family = try context.requireInvoices
        let logger = context.logger
        let found = try await database.withCenter(record.id) { c -> (InvoiceDetail, Money)? in
            guard let invoice = try await LedgerQueries.invoice(c, center: record.id, family: family, number: number, logger: logger) else { return nil }
            let totals = try await LedgerQueries.totals(c, center: record.id, family: family, logger: logger)
            return (invoice, totals.paid - totals.allocated)
        }
        // Another family's invoice, or another center's: the same 404 as an unknown number.
        guard let (invoice, credit) = found else { return Pages.notFound() }
        let center = record.center
        let payable = invoice.documentKind == .invoice && invoice.remaining.cents > 0 && paymentProvider(center) != nil
        return templates.page("invoice", InvoiceModel(
            page: PageChrome(context), title: invoice.documentKind.document, number: invoice.number,
            date: LocalDate(invoice.issuedAt, in: center.zone).french,
            lines: invoice.lines.map { .init(designation: $0.designation, quantity: $0.quantity, unitPrice: $0.unitPrice.description, amount: $0.amount.description) },
            total: invoice.total.description, paid: invoice.paid.description, remaining: invoice.remaining.description, status: invoice.status,
            pdf: "\(context.basePath)/factures/\(invoice.number).pdf",
            // "Votre avoir a réglé cette facture" only when it is settled (the address can be typed on any invoice).
            notice: success ? nil : notice, success: success && invoice.remaining.cents == 0 ? notice : nil,
            pay: payable ? .init(
                action: "\(context.basePath)/factures/\(invoice.number)/paiement",
                label: credit.cents >= invoice.remaining.cents ? "Régler \(invoice.remaining) avec mon avoir" : "Payer \(invoice.remaining - min(credit, invoice.remaining)) en ligne",
                credit: credit.cents > 0 ? "Votre avoir disponible (\(credit)) est déduit en premier." : nil
            ) : nil
        ))
    }
}
