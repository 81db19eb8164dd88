import Foundation
import Hummingbird
import PortailDomain
import PortailStore

extension PortailRoutes {
    /// GET /compte — the family account: reservations, payments and invoices, the cart.
    func addAccountRoutes(to router: Router<AppRequestContext>) {
        router.get("/compte") { request, context in
            let record = try context.requireCenter
            let family = try context.requireFamily
            let pageSize = 10
            let requested = try InputLimits.page(request.uri.queryParameters["page"])
            let logger = context.logger
            // One statement, which sets its center itself: the page of reservations, the cart, the waiting
            // lines and the totals, in one round trip.
            let (list, pageNumber) = try await database.withoutTransaction(record.id) { c in
                try await InputLimits.page(requested, size: pageSize) { offset in
                    let reads = try await ReservationQueries.account(c, center: record.id, family: family, offset: offset, limit: pageSize, logger: logger)
                    return (rows: reads, total: reads.total)
                }
            }
            let (reads, ledger, waiting) = (list.rows, list.rows.totals, list.rows.waiting)
            let center = record.center
            let first = list.total == 0 ? 0 : (pageNumber - 1) * pageSize + 1
            let last = min(list.total, pageNumber * pageSize)
            let base = context.basePath
            let model = AccountModel(
                page: PageChrome(context),
                coordinates: CoordinatesBlock(center.coordinates),
                familyName: context.session?.familyName ?? "",
                reservations: reads.reservations.map { ReservationRow($0, center: center, base: base) },
                hasReservations: !reads.reservations.isEmpty,
                pager: .init(
                    summary: "( de \(first) à \(last) sur \(list.total) éléments )",
                    previous: pageNumber > 1 ? "\(base)/compte?page=\(pageNumber - 1)" : nil,
                    next: last < list.total ? "\(base)/compte?page=\(pageNumber + 1)" : nil
                ),
                waiting: waiting.map { WaitingRow($0, center: center) },
                hasWaiting: !waiting.isEmpty,
                notice: request.uri.queryParameters["retrait"] == "1" ? "Votre enfant a quitté la liste d'attente." : nil,
                cart: CartBanner(reads.cart, zone: center.zone),
                seesInvoices: context.session?.seesInvoices ?? true,
                invoiced: ledger.invoiced.description,
                invoiceCount: "\(ledger.invoiceCount) facture\(ledger.invoiceCount > 1 ? "s" : "")",
                paid: ledger.paid.description,
                paymentCount: "\(ledger.paymentCount) paiement\(ledger.paymentCount > 1 ? "s" : "")",
                due: ledger.due.description,
                unsettled: "\(ledger.unsettledCount) facture\(ledger.unsettledCount > 1 ? "s" : "") non soldée\(ledger.unsettledCount > 1 ? "s" : "")"
            )
            return templates.page("account", model)
        }

        // "Se retirer" of a waiting line; another family's entry is the same 404 as an unknown one.
        router.post("/liste-attente/retirer") { _, context in
            let record = try context.requireCenter
            let family = try context.requireFamily
            guard let id = context.form["entree"].flatMap({ Int64($0) }) else { throw HTTPError(.badRequest) }
            let withdrawn = try await database.withCenter(record.id) { c in
                try await WaitingList.withdraw(c, center: record.id, family: family, id: id, logger: context.logger)
            }
            guard withdrawn else { return Pages.notFound() }
            return Pages.redirect("\(context.basePath)/compte?retrait=1#attente")
        }
    }
}
