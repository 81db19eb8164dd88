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
            let (account, list, cart, ledger, pageNumber) = try await database.withCenter(record.id) { c in
                let account = try await AccountRepository.family(c, center: record.id, id: family, logger: logger)
                let (list, pageNumber) = try await InputLimits.page(requested, size: pageSize) { offset in
                    try await ReservationQueries.page(c, center: record.id, family: family, offset: offset, limit: pageSize, logger: logger)
                }
                let cart = try await ReservationQueries.cart(c, center: record.id, family: family, logger: logger)
                let ledger = try await LedgerQueries.totals(c, center: record.id, family: family, logger: logger)
                return (account, list, cart, ledger, pageNumber)
            }
            let center = record.center
            let first = list.total == 0 ? 0 : (pageNumber - 1) * pageSize + 1
            let last = min(list.total, pageNumber * pageSize)
            let base = context.basePath
            let model = AccountModel(
                page: PageChrome(context),
                coordinates: CoordinatesBlock(center.coordinates),
                familyName: account?.name ?? "",
                reservations: list.rows.map { ReservationRow($0, center: center, base: base) },
                hasReservations: !list.rows.isEmpty,
                pager: .init(
                    summary: "( de \(first) à \(last) sur \(list.total) éléments )",
                    previous: pageNumber > 1 ? "\(base)/compte?page=\(pageNumber - 1)" : nil,
                    next: last < list.total ? "\(base)/compte?page=\(pageNumber + 1)" : nil
                ),
                cart: CartBanner(cart, zone: center.zone),
                invoiced: ledger.invoiced.description,
                invoiceCount: "\(ledger.invoiceCount) facture\(ledger.invoiceCount > 1 ? "s" : "")",
                paid: ledger.paid.description,
                paymentCount: "\(ledger.paymentCount) paiement\(ledger.paymentCount > 1 ? "s" : "")",
                due: ledger.due.description,
                unsettled: "\(ledger.unsettledCount) facture\(ledger.unsettledCount > 1 ? "s" : "") non soldée\(ledger.unsettledCount > 1 ? "s" : "")"
            )
            return templates.page("account", model)
        }
    }
}
