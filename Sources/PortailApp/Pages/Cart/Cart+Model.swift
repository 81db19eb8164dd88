import Foundation
import PortailDomain
import PortailStore

/// "Accéder à mon panier": one line per reservation and price, as the seed's cart.
struct CartModel: TemplateModel {
    struct Line: Encodable {
        let child: String
        let period: String
        let designation: String
        let quantity: Int
        let unitPrice: String
        let amount: String
    }
    struct Removable: Encodable {
        let number: String
        let label: String
    }
    let page: PageChrome
    let lines: [Line]
    let removable: [Removable]
    let isEmpty: Bool
    let total: String
    let deadline: String
    let minutesLeft: Int
    let secondsLeft: Int
    let added: String?
    let notice: String?

    init(page: PageChrome, center: Center, cart: [(ReservationSummary, [ReservationLine])], added: String?, notice: String?, now: Date = Date()) {
        self.page = page
        var lines: [Line] = []
        for (reservation, reservationLines) in cart {
            // Lines of the same designation and price are grouped: "Journées du : 28/09, 29/09".
            var groups: [(key: String, price: Money, days: [LocalDate])] = []
            for line in reservationLines {
                if let index = groups.firstIndex(where: { $0.key == line.priceKey && $0.price == line.price }) {
                    groups[index].days.append(line.day)
                } else {
                    groups.append((line.priceKey, line.price, [line.day]))
                }
            }
            for group in groups {
                lines.append(Line(
                    child: reservation.childFirstName, period: reservation.periodLabel,
                    designation: "\(center.designation(forKey: group.key)) du : " + group.days.sorted().map(\.frenchDayMonth).joined(separator: ", "),
                    quantity: group.days.count, unitPrice: group.price.description, amount: (group.price * group.days.count).description
                ))
            }
        }
        self.lines = lines
        removable = cart.map { .init(number: French.number($0.0.number), label: "\($0.0.childFirstName) – \($0.0.periodLabel)") }
        isEmpty = cart.isEmpty
        // The sentence under the cart says what the account page's banner says.
        let banner = CartBanner(cart.map(\.0), zone: center.zone, now: now)
        total = cart.reduce(Money.zero) { $0 + $1.0.total }.description
        deadline = banner?.deadline ?? ""
        minutesLeft = banner?.minutesLeft ?? 0
        secondsLeft = banner.map { max(0, $0.expiresAt - Int(now.timeIntervalSince1970)) } ?? 0
        self.added = added
        self.notice = notice
    }
}

/// "Voir": one reservation, each day and unit with its price.
struct ReservationDetailModel: TemplateModel {
    struct Line: Encodable {
        let day: String
        let designation: String
        let price: String
    }
    let page: PageChrome
    /// Until when the parent may cancel it, when they may.
    let cancelUntil: String?
    /// The page asks the parent to confirm the cancellation.
    let cancelling: Bool
    let notice: String?
    let row: ReservationRow
    let lines: [Line]
    let total: String
    let payment: String
    /// The days a parent may still cancel one by one (their deadline not past), when there are several.
    let cancellableDays: [DayChoice]
    let canCancelDays: Bool
    /// The days chosen to cancel (the confirmation of a partial cancellation), and the credit they give.
    let chosenDays: [String]
    let chosenISO: [String]
    let chosenTotal: String
    let partial: Bool

    struct DayChoice: Encodable {
        let iso: String
        let label: String
        let price: String
    }
}
