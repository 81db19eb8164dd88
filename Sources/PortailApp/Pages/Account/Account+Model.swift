import Foundation
import PortailDomain
import PortailStore

/// A row of "Les réservations", as the seed's table shows it.
struct ReservationRow {
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

/// The home page of a family account.
struct AccountModel {
    struct Pager {
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
    let cart: CartBanner?
    let invoiced: String
    let invoiceCount: String
    let paid: String
    let paymentCount: String
    let due: String
    let unsettled: String
}

/// "Votre panier : 2 réservations, 26.00 €, à payer avant 21:30 (encore 24 minutes)".
struct CartBanner {
    let count: Int
    let total: String
    let deadline: String
    let minutesLeft: Int

    init?(_ cart: [(ReservationSummary, [ReservationLine])], zone: TimeZone, now: Date = Date()) {
        guard let expires = cart.compactMap(\.0.cartExpiresAt).min() else { return nil }
        count = cart.count
        total = cart.reduce(Money.zero) { $0 + $1.0.total }.description
        deadline = French.time(expires, in: zone)
        minutesLeft = max(0, Int((expires.timeIntervalSince(now) / 60).rounded(.down)))
    }
}
