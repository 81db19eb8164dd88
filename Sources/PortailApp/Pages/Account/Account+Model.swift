import Foundation
import PortailDomain
import PortailStore

/// A row of "Les réservations", as the seed's table shows it.
struct ReservationRow: Encodable {
    let number: String
    let child: String
    let establishment: String
    let createdAt: String
    let from: String
    let to: String
    let stateIcon: String
    let stateWords: String
    let stateClass: String
    let link: String

    init(_ r: ReservationSummary, center: Center, base: String) {
        number = French.number(r.number)
        child = r.childFirstName
        establishment = "\(center.name.uppercased()) / \(r.periodLabel)"
        createdAt = French.dateTime(r.createdAt, in: center.zone)
        from = r.firstDay.french
        to = r.lastDay.french
        let state = French.state(r.state)
        stateIcon = state.icon
        stateWords = state.words
        stateClass = state.css
        link = "\(base)/reservations/\(number)"
    }
}

/// A line of "Listes d'attente": a child waiting for a day, or a place offered to it.
struct WaitingRow: Encodable {
    let id: Int64
    let child: String
    let day: String
    let unit: String
    let situation: String
    let canWithdraw: Bool
    let offered: Bool

    init(_ e: WaitingEntry, center: Center) {
        id = e.id
        child = e.childName
        day = e.day.french
        unit = center.unit(e.unit)?.label ?? e.unit
        switch e.state {
        case .offered:
            situation = "place proposée : à payer avant le " + (e.offerExpiresAt.map { French.dateTime($0, in: center.zone) } ?? "")
        default:
            situation = "en liste d'attente, " + French.rank(e.rank ?? 1)
        }
        canWithdraw = e.state == .waiting
        offered = e.state == .offered
    }
}

/// The home page of a family account.
struct AccountModel: TemplateModel {
    struct Pager: Encodable {
        let summary: String
        let previous: String?
        let next: String?
    }

    let page: PageChrome
    let coordinates: CoordinatesBlock
    let familyName: String
    let reservations: [ReservationRow]
    let hasReservations: Bool
    let pager: Pager
    let waiting: [WaitingRow]
    let hasWaiting: Bool
    let notice: String?
    let cart: CartBanner?
    /// The money totals are shown (not when the family keeps its invoices to a billing contact who is someone else).
    let seesInvoices: Bool
    let invoiced: String
    let invoiceCount: String
    let paid: String
    let paymentCount: String
    let due: String
    let unsettled: String
}

/// "Votre panier : 2 réservations, 26,00 €, à payer avant 21:30 (encore 24 minutes)".
struct CartBanner: Encodable {
    let count: Int
    let total: String
    let deadline: String
    let minutesLeft: Int
    /// The hold's end as seconds since 1970, for the page's live countdown.
    let expiresAt: Int

    init?(_ cart: [ReservationSummary], zone: TimeZone, now: Date = Date()) {
        guard let expires = cart.compactMap(\.cartExpiresAt).min() else { return nil }
        expiresAt = Int(expires.timeIntervalSince1970)
        count = cart.count
        total = cart.reduce(Money.zero) { $0 + $1.total }.description
        deadline = French.time(expires, in: zone)
        minutesLeft = max(0, Int((expires.timeIntervalSince(now) / 60).rounded(.down)))
    }
}
